/* ref_norm.h - plain-C references for runtime/ops/norm.h (same meaning, host
 * arrays, double accumulation). Used by tests and the whole-model reference. */
#ifndef SB_REF_NORM_H
#define SB_REF_NORM_H
#include <stdint.h>

/* y = (x - mean) / sqrt(var + 1e-5) * w + b per row of D (biased variance). y may alias x. */
void sb_ref_layernorm(int T, int D, const float *x, const float *w, const float *b, float *y);
/* y = (x - rmean[c]) / sqrt(rvar[c] + 1e-5) * w[c] + b[c]. y may alias x. */
void sb_ref_batchnorm(int T, int D, const float *x, const float *rmean, const float *rvar,
                      const float *w, const float *b, float *y);
/* x[t*ld + c] = act(x[t*ld + c] + bias[c]) for c < F; bias may be NULL; act 0 none, 1 silu. */
void sb_ref_bias_act(int T, int F, int ld, float *x, const float *bias, int act);
/* y[t, :] = table[ids[t], :]. */
void sb_ref_embed(int T, int D, const int32_t *ids, const float *table, float *y);
/* padded [B][L][F] -> packed rows start[b] .. start[b]+len[b]. */
void sb_ref_pack(int B, const int *start, const int *len, int L, int F, const float *padded,
                 float *packed);
/* packed -> padded [B][L][F], zeros where t >= len[b]. */
void sb_ref_unpack(int B, const int *start, const int *len, int L, int F, const float *packed,
                   float *padded);
/* y[b, c] = mean of x[start[b] + t, c] over t < len[b]; y is [B][D]. */
void sb_ref_mean_pool(int B, const int *start, const int *len, int D, const float *x, float *y);

#endif
