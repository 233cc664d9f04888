/* ops.h - host launchers, one per kernel family (same stem as cl/<stem>.cl and
 * tests/ref/ref_<stem>.c). Ops never allocate device memory: the caller passes
 * views (sb_buf: cl_mem, byte offset, byte length) and any scratch they need
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

/* A view of a device buffer: bytes [off, off + len) of mem. Every op checks
 * that each view it gets holds what its kernels will touch (sb_ops_check_buf)
 * and refuses a short one (SB_ERR_ARG, naming the op, the buffer and both
 * sizes). Build views with the constructors below, never by hand. */
typedef struct sb_buf {
    cl_mem mem;
    size_t off;               /* bytes from the start of mem */
    size_t len;               /* bytes the view covers from off */
} sb_buf;

/* Bytes of n floats / n int32 values: the one place element counts become
 * byte counts (and sb_elems the way back). */
static inline size_t sb_f32(size_t n) { return n * sizeof(cl_float); }
static inline size_t sb_i32(size_t n) { return n * sizeof(cl_int); }
static inline size_t sb_elems(size_t bytes) { return bytes / sizeof(cl_float); }
/* Bytes spanned by `rows` rows of `cols` floats with a row stride of `ld`
 * floats (the last row ends after cols); 0 for no rows. */
static inline size_t sb_rows_f32(size_t rows, size_t ld, size_t cols) {
    return rows ? sb_f32((rows - 1) * ld + cols) : 0;
}

/* The view [off, off + len) of mem; len counts from off. */
static inline sb_buf sb_view(cl_mem mem, size_t off, size_t len) {
    sb_buf b;
    b.mem = mem;
    b.off = off;
    b.len = len;
    return b;
}
/* No buffer (an optional argument left out). */
static inline sb_buf sb_view_none(void) { return sb_view(NULL, 0, 0); }
/* All of mem (its CL_MEM_SIZE); the empty view when mem is NULL or the size
 * cannot be read (an op then refuses it as too short). */
sb_buf sb_view_all(cl_mem mem);
/* Bytes [off, off + len) of b, clipped to b: a sub-view never reaches past
 * its parent, so a parent too short for it gives a short (or empty) view that
 * the op refuses. len SB_REST = up to the end of b. */
#define SB_REST ((size_t)-1)
static inline sb_buf sb_sub(sb_buf b, size_t off, size_t len) {
    const size_t rest = off <= b.len ? b.len - off : 0;
    b.off += off;
    b.len = len < rest ? len : rest;
    return b;
}
/* b from byte `off` on (sb_sub(b, off, SB_REST)). */
static inline sb_buf sb_skip(sb_buf b, size_t off) { return sb_sub(b, off, SB_REST); }

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

/* Shared by the launchers: a view must exist and be 4-byte aligned, and hold
 * at least `bytes` bytes (what the kernel touches; 0 = nothing to check, for
 * an empty launch). Writes the element (float/int) offset. `op` and `name`
 * go into the message, with the view's length and the bytes needed. */
sb_status sb_ops_check_buf(const char *op, const char *name, sb_buf b, size_t bytes,
                           cl_ulong *elem_off, sb_err *e);
/* Views one launch reads and writes must not share bytes: work-items would
 * read what others write, in an order the device chooses (PoCL's serial
 * order hides it, a GPU does not). sb_ops_apart fails (SB_ERR_INTERNAL,
 * naming the op, both views and their byte ranges) when views a and b of the
 * same buffer overlap; sb_ops_apart_or_same also accepts b exactly equal to a
 * (an element-wise op run in place). Views without a buffer pass. Every op
 * that takes activation views checks its outputs against its inputs and
 * against each other (always on: a few comparisons per launch). */
sb_status sb_ops_apart(const char *op, const char *an, sb_buf a, const char *bn, sb_buf b, sb_err *e);
sb_status sb_ops_apart_or_same(const char *op, const char *an, sb_buf a, const char *bn, sb_buf b,
                               sb_err *e);
/* Launch k over an n0 x n1 grid (dimension 0 fastest) in work-groups of at
 * most wg items, shaped from n0 and the device's per-dimension limits (not
 * from n1, so every launch of a kernel over rows of one width has one shape). */
sb_status sb_ops_launch_2d(sb_rt *rt, cl_kernel k, size_t wg, size_t n0, size_t n1, const char *what,
                           sb_err *e);
/* Launch k over n items in work-groups of wg (the global size rounded up). */
sb_status sb_ops_launch_1d(sb_rt *rt, cl_kernel k, size_t wg, size_t n, const char *what, sb_err *e);
/* A power-of-two work-group size <= want for kernel i of a set (its limit
 * read when the set was made: no driver query). */
static inline size_t sb_ops_wg(const sb_rt *rt, const sb_kset *ks, int i, size_t want) {
    return sb_rt_wg1_lim(rt, ks->kwg[i], want);
}
size_t sb_pow2_ceil(size_t n);  /* smallest power of two >= n */
size_t sb_pow2_floor(size_t n); /* largest power of two <= n (1 for n <= 1) */
/* Row kernels (layernorm_vec, combine_vec: one work-item per row in vectors
 * of *vw floats, the device's native float width capped at 16) or the
 * work-group kernels: 1 for the row kernels on CPU devices. rt->tune.rows
 * (SEQBOAT_ROWS=vec or wg) forces one on any device (tests). */
int sb_ops_row_vec(const sb_rt *rt, int *vw);
/* A streamed token's layer step split over many work-groups (GPU class: the
 * LayerNorm + EMA step as norm_step + ema_step, gau_step as gau_proj /
 * gau_attn / gau_combine) rather than one work-group per step (CPU class,
 * where one launch wins): 1 when split. rt->tune.decode (SEQBOAT_DECODE=wg
 * or split) forces one on any device. Both give the same bits. */
int sb_ops_decode_split(const sb_rt *rt);

#endif
