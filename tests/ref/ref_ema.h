/* ref_ema.h - plain-C reference of the EMA / SSM (SPEC.md section 3 step 2),
 * written as the convolution with the explicit kernel k_r[l] (O(L^2) per
 * channel; double accumulation). Shares no code with the scan of
 * cl/ema_scan.cl so tests can catch its mistakes.
 *
 * Shapes: delta, alpha, beta, gamma [K][N] (K = D, or 2D when bidir), omega
 * [D]; x, mx packed rows [total][D], sequence b at rows start[b]..+len[b].
 * truncation 0 = full kernel, else Lk = min(truncation, len[b]).
 */
#ifndef SB_REF_EMA_H
#define SB_REF_EMA_H

/* mx = silu(y + omega * x) at the rows of the sequences (other rows untouched). */
void sb_ref_ema(const float *delta, const float *alpha, const float *beta, const float *gamma,
             const float *omega, int D, int N, int bidir, int truncation, int n_seq,
             const int *start, const int *len, const float *x, float *mx);

/* Final causal states, state[b][d][n]: the recurrence h_t = q h_{t-1} + c x_t
 * run to t = len[b]-1; with truncation T > 0 the sum over the last T inputs,
 * sum_{l < min(T, len)} q^l c x_{len-1-l}. Rows d < D of the coefficients. */
void sb_ref_ema_state(const float *delta, const float *alpha, const float *beta, int D, int N,
                   int truncation, int n_seq, const int *start, const int *len, const float *x,
                   float *state);

#endif
