/* stream_step.h - the one-token EMA of a streaming decode (cl/stream_step.cl):
 * the EMA recurrence for one row, optionally fused with the prenorm LayerNorm
 * (the rest of a layer's token is sb_op_gau_step, gau_step.h). Reference:
 * tests/ref/ref_stream_step.c; test: tests/test_stream.c (case "kernels").
 *
 * EMA step per channel d and n < N (coef [3][D][N] = q, c, g as ema.h):
 *   h = q h + c x_t                       (no truncation)
 *   h = q h + c x_t - c q^T x_{t-T}       (truncation T: x_{t-T} from a ring of
 *                                          the last T inputs, 0 before t = T)
 *   y = sum_n g h,  mx = silu(y + omega x_t)
 * Ops only enqueue work.
 */
#ifndef SB_OPS_STREAM_STEP_H
#define SB_OPS_STREAM_STEP_H
#include "ema.h"

/* Kernels of the stream_step set, in this order. */
enum { SB_STEP_K_EMA, SB_STEP_K_NORM_EMA, SB_STEP_K_COUNT };
/* The set of cl/stream_step.cl (ema_step, norm_ema_step). */
sb_status sb_stream_step_kernels(sb_rt *rt, sb_kset **out, sb_err *e);

/* Work-group size of the fused LayerNorm + EMA step on this device for D
 * channels (a power of two <= D, within the kernel's and local memory's
 * limits); 0 when it cannot run (the caller then norms first). */
size_t sb_op_norm_ema_step_wg(sb_rt *rt, int D, sb_err *e);

/* One token at position pos (>= 0) of a causal layer (p->bidir 0):
 * state [D][N] is read and written; mx [D] receives the output. With a
 * truncation, xring [trunc][D] holds the EMA inputs (row pos % trunc is
 * replaced by this token's). When norm_w.mem is not NULL the row x is first
 * LayerNormed (eps 1e-5) with norm_w / norm_b into xn (D floats), which is the
 * EMA input; this needs sb_op_norm_ema_step_wg() > 0. coef, omega, state,
 * xring (and with the norm x, mx, norm_w, norm_b, xn) start at offset 0. */
sb_status sb_op_ema_step(sb_rt *rt, const sb_ema_coef *p, long pos, sb_buf state, sb_buf x,
                         sb_buf norm_w, sb_buf norm_b, sb_buf xn, sb_buf xring, sb_buf mx,
                         sb_err *e);

#endif
