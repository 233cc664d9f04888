/* ref_stream_step.h - plain-C reference of the one-token EMA of
 * runtime/ops/stream_step.h (cl/stream_step.cl): the recurrence of SPEC
 * section 3 step 2 for one row, in double, following the SPEC literally
 * (p, q, c, g from the coefficients; the truncated kernel as h_t - q^T h_{t-T}
 * written as one step). Shares no code with the kernel. Host arrays. */
#ifndef SB_REF_STREAM_STEP_H
#define SB_REF_STREAM_STEP_H

/* One token at position pos: coef [3][D][N] (q, c, g), omega [D], state h
 * [D][N] (updated), x [D], xring [trunc][D] (updated; NULL when trunc is 0),
 * mx [D] out. With norm_w not NULL, x is first LayerNormed (eps 1e-5) with
 * norm_w / norm_b into xn [D], the EMA input. */
void sb_ref_ema_step(int D, int N, int trunc, long pos, const float *coef, const float *omega,
                     float *h, const float *x, const float *norm_w, const float *norm_b, float *xn,
                     float *xring, float *mx);

#endif
