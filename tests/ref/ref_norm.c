/* ref_norm.c - plain loops for the norm / element-wise / layout ops (SPEC.md
 * section 2 norms, section 3 step 11). */
#include "ref_norm.h"
#include <math.h>
#include <stddef.h>

#define REF_EPS 1e-5

void sb_ref_layernorm(int T, int D, const float *x, const float *w, const float *b, float *y) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * D;
        float *yr = y + (size_t)t * D;
        double mean = 0.0, var = 0.0;
        for (int c = 0; c < D; c++) mean += xr[c];
        mean /= D;
        for (int c = 0; c < D; c++) var += (xr[c] - mean) * (xr[c] - mean);
        var /= D;
        const double inv = 1.0 / sqrt(var + REF_EPS);
        for (int c = 0; c < D; c++) yr[c] = (float)((xr[c] - mean) * inv * w[c] + b[c]);
    }
}

void sb_ref_batchnorm(int T, int D, const float *x, const float *rmean, const float *rvar,
                      const float *w, const float *b, float *y) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < D; c++) {
            const size_t i = (size_t)t * D + c;
            y[i] = (float)(((double)x[i] - rmean[c]) / sqrt((double)rvar[c] + REF_EPS) * w[c] + b[c]);
        }
}

void sb_ref_bias_act(int T, int F, int ld, float *x, const float *bias, int act) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < F; c++) {
            const size_t i = (size_t)t * ld + c;
            double v = (double)x[i] + (bias ? bias[c] : 0.0f);
            if (act == 1) v = v / (1.0 + exp(-v));
            x[i] = (float)v;
        }
}

void sb_ref_embed(int T, int D, const int32_t *ids, const float *table, float *y) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < D; c++) y[(size_t)t * D + c] = table[(size_t)ids[t] * D + c];
}

void sb_ref_pack(int B, const int *start, const int *len, int L, int F, const float *padded,
                 float *packed) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < len[b]; t++)
            for (int c = 0; c < F; c++)
                packed[((size_t)start[b] + t) * F + c] = padded[((size_t)b * L + t) * F + c];
}

void sb_ref_unpack(int B, const int *start, const int *len, int L, int F, const float *packed,
                   float *padded) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int c = 0; c < F; c++)
                padded[((size_t)b * L + t) * F + c] =
                    t < len[b] ? packed[((size_t)start[b] + t) * F + c] : 0.0f;
}

void sb_ref_mean_pool(int B, const int *start, const int *len, int D, const float *x, float *y) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < D; c++) {
            double s = 0.0;
            for (int t = 0; t < len[b]; t++) s += x[((size_t)start[b] + t) * D + c];
            y[(size_t)b * D + c] = (float)(s / len[b]);
        }
}
