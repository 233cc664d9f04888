/* ref_pos_head.h - plain-C twins of cl/pos_head.cl (runtime/ops/pos_head.h):
 * same meaning, host arrays, double accumulation where the kernel sums. */
#ifndef SB_REF_POS_HEAD_H
#define SB_REF_POS_HEAD_H
#include <stdint.h>

/* y = (x * w) / sqrt(mean(x^2) + 1e-5) per row of D; w [D] (per_feature) or w[0]. */
void sb_ref_rms_norm(int T, int D, int per_feature, const float *x, const float *w, float *y);
/* x[r, m] += scale*sin(a), x[r, m + D/2] += scale*cos(a), a = (float)pos[r] * inv_freq[m]. */
void sb_ref_add_sinusoid(int T, int D, const int *pos, float scale, const float *inv_freq, float *x);
/* x = x/2 * (1 + erf(x/sqrt(2))). */
void sb_ref_gelu(int n, float *x);
/* y[b] = [r1, r0, r0*r1, r0-r1] (nli) or [r1, r0]. */
void sb_ref_pair_feature(int B, int D, int nli, const float *r0, const float *r1, float *y);
/* y [rows][n] = x [rows][k] @ w[n][k]^T + b (b may be NULL); double accumulation. */
void sb_ref_dense(int rows, int n, int k, const float *x, const float *w, const float *b, float *y);

#endif
