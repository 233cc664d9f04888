/* ops.h - host launchers, one per kernel family (same stem as cl/<stem>.cl and
 * runtime/ref/ref_<stem>.c). Ops never allocate device memory: the caller passes
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

#endif
