/* ema.h - the EMA / SSM of one SeqBoat layer (SPEC.md section 3 step 2) on the
 * packed row layout of ops.h, as a chunked parallel scan (cl/ema_scan.cl).
 *
 * Per row r of K (= D causal, 2D bidirectional) and n < N:
 *   p = sigmoid(delta), q = 1 - p*sigmoid(alpha), c = p*beta, g = gamma/sqrt(N)
 *   h_t = q h_{t-1} + c x_t (from h = 0 at each sequence's first token),
 *   y_t = sum_n g h_t, truncated to the last `truncation` terms when it is > 0.
 * Rows D..2D-1 (bidirectional) run backward from each sequence's last token.
 *   mx = silu(y + omega * x)
 *
 * Work O(T*D*N) for T packed rows, nothing L x L, no FFT. Chunks never cross
 * sequences, so a packed batch gives each sequence what it gives alone.
 */
#ifndef SB_OPS_EMA_H
#define SB_OPS_EMA_H
#include "ops.h"

/* Time steps per chunk of the scan (the kernel's CHUNK define). */
#define SB_EMA_CHUNK 64

/* Coefficients of one layer, on the device. The caller owns the buffers. */
typedef struct sb_ema_coef {
    sb_buf coef;              /* device float [3][K][N]: q, c, g (sb_ema_coef_host) */
    sb_buf omega;             /* device float [D] */
    int D, N;                 /* channels, EMA dimension (N >= 1) */
    int bidir;                /* 0: K = D causal; 1: K = 2D, rows D.. run backward */
    int truncation;           /* 0 = full kernel, else the kernel length cap */
} sb_ema_coef;

/* q, c, g from the file's tensors (delta, alpha, beta as [K][N] (the trailing
 * 1 of [K,N,1] dropped), gamma [K][N]); coef receives 3*K*N floats:
 * coef[0][r][n] = q, coef[1][r][n] = c, coef[2][r][n] = g. Host only. */
void sb_ema_coef_host(const float *delta, const float *alpha, const float *beta,
                      const float *gamma, int K, int N, float *coef);

/* Resolve the kernels p's layers use (both variants when p truncates) on rt
 * (ops resolve them on first use; a model does it at load so a build failure
 * is reported there). Only N, bidir and truncation of p are read. */
sb_status sb_ema_kernels(sb_rt *rt, const sb_ema_coef *p, sb_err *e);

/* Bytes of device scratch sb_op_ema needs for any packed batch of n_seq
 * sequences with total_rows rows in all (an upper bound over all length
 * splits). 0 on overflow or bad arguments. */
size_t sb_op_ema_scratch_bytes(const sb_ema_coef *p, int n_seq, int total_rows);

/* mx = silu(ema(x) + omega * x) for every valid row of the packed batch.
 * x, mx: device float [seqs->total][D] (row-major); mx must not overlap x.
 * scratch: at least sb_op_ema_scratch_bytes(p, seqs->n, seqs->total) bytes;
 * the op writes a chunk table into it (sb_rt_write, blocking) and the scan
 * states. Only seqs->n, start, len, total (host) are read.
 * state_out (causal only; state_out.mem NULL = not wanted): device float
 * [B][D][N], the state after each sequence's last token, h_{len-1}; with a
 * truncation T it is the truncated state sum_{l<T} q^l c x_{len-1-l}.
 * A bidirectional p with state_out.mem != NULL is SB_ERR_ARG.
 * Runs asynchronously on rt's queue apart from the table upload. */
sb_status sb_op_ema(sb_rt *rt, const sb_seqs *seqs, const sb_ema_coef *p, sb_buf x, sb_buf mx,
                    sb_buf scratch, sb_buf state_out, sb_err *e);
/* The same, continuing each sequence from state_in (device float [B][D][N],
 * mem NULL = from zero; causal layers without truncation only). state_in may
 * be the same buffer as state_out. */
sb_status sb_op_ema_ex(sb_rt *rt, const sb_seqs *seqs, const sb_ema_coef *p, sb_buf x, sb_buf mx,
                       sb_buf scratch, sb_buf state_in, sb_buf state_out, sb_err *e);

#endif
