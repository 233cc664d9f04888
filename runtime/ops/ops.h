/* ops.h - host launchers, one per kernel family (same stem as cl/<stem>.cl and
 * tests/ref/ref_<stem>.c). Ops never allocate device memory: the caller passes
 * cl_mem + offset (offsets in BYTES unless stated) and any scratch they need
 * (ask the *_scratch_bytes() function).
 *
 * Layout used everywhere: activations are PACKED rows. The valid tokens of all
 * sequences of a batch are stored one after another, sequence b at rows
 * [seqs->start[b], seqs->start[b] + seqs->len[b]), each row `ld` floats
 * (row-major, features contiguous). Padding never occupies a row.
 */
#ifndef SB_OPS_H
#define SB_OPS_H
#include "../rt.h"

/* A (device, host) buffer reference. */
typedef struct sb_buf {
    cl_mem mem;
    size_t off;               /* bytes */
} sb_buf;

/* Sequence table of a packed batch. */
typedef struct sb_seqs {
    int n;                    /* number of sequences B */
    const int *start;         /* host [B]: first packed row of each sequence */
    const int *len;           /* host [B]: valid length (>= 1) */
    int total;                /* T = sum len */
    int max_len;
    sb_buf d_start;           /* device int32 [B] copy of start */
    sb_buf d_len;             /* device int32 [B] copy of len */
} sb_seqs;

/* Shared by the launchers: a buffer must exist and be 4-byte aligned; with
 * bytes > 0 it must also hold that many bytes from its offset. Writes the
 * element (float/int) offset. `op` and `name` go into the message. */
sb_status sb_ops_check_buf(const char *op, const char *name, sb_buf b, size_t bytes,
                           cl_ulong *elem_off, sb_err *e);
/* Launch k over an n0 x n1 grid (dimension 0 fastest) in work-groups of at
 * most wg items, shaped from the device's per-dimension limits. */
sb_status sb_ops_launch_2d(sb_rt *rt, cl_kernel k, size_t wg, size_t n0, size_t n1, const char *what,
                           sb_err *e);
size_t sb_pow2_ceil(size_t n);  /* smallest power of two >= n */
size_t sb_pow2_floor(size_t n); /* largest power of two <= n (1 for n <= 1) */

#endif
