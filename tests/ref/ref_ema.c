/* ref_ema.c - the EMA as SPEC.md writes it: build k_r[l], convolve. */
#include <math.h>
#include <stdlib.h>
#include "ref_ema.h"

/* The coefficients in float32, as the model file's reference computes them. */
static void coef_of(const float *delta, const float *alpha, const float *beta, const float *gamma,
                    int N, size_t i, float *q, float *c, float *g) {
    const float p = 1.0f / (1.0f + expf(-delta[i]));
    const float a = 1.0f / (1.0f + expf(-alpha[i]));
    *q = 1.0f - p * a;
    *c = p * beta[i];
    if (g) *g = gamma[i] / sqrtf((float)N);
}

/* k[l] = sum_n c[r,n] q[r,n]^l g[r,n] for l < Lk. */
static void build_kernel(const float *delta, const float *alpha, const float *beta,
                         const float *gamma, int N, int r, int Lk, double *k) {
    for (int l = 0; l < Lk; l++) k[l] = 0.0;
    for (int n = 0; n < N; n++) {
        float q, c, g;
        coef_of(delta, alpha, beta, gamma, N, (size_t)r * N + n, &q, &c, &g);
        for (int l = 0; l < Lk; l++) k[l] += (double)c * pow((double)q, (double)l) * (double)g;
    }
}

void sb_ref_ema(const float *delta, const float *alpha, const float *beta, const float *gamma,
             const float *omega, int D, int N, int bidir, int truncation, int n_seq,
             const int *start, const int *len, const float *x, float *mx) {
    for (int b = 0; b < n_seq; b++) {
        const int L = len[b];
        const int Lk = truncation > 0 && truncation < L ? truncation : L;
        const float *xs = x + (size_t)start[b] * D;
        float *ms = mx + (size_t)start[b] * D;
        double *kf = malloc(sizeof(double) * (size_t)Lk);
        double *kb = malloc(sizeof(double) * (size_t)Lk);
        if (!kf || !kb) {
            free(kf);
            free(kb);
            return;
        }
        for (int d = 0; d < D; d++) {
            build_kernel(delta, alpha, beta, gamma, N, d, Lk, kf);
            if (bidir) build_kernel(delta, alpha, beta, gamma, N, D + d, Lk, kb);
            for (int t = 0; t < L; t++) {
                double y = 0.0;
                for (int l = 0; l <= t && l < Lk; l++) y += kf[l] * xs[(size_t)(t - l) * D + d];
                if (bidir)
                    for (int l = 0; l <= L - 1 - t && l < Lk; l++)
                        y += kb[l] * xs[(size_t)(t + l) * D + d];
                const double v = y + (double)omega[d] * xs[(size_t)t * D + d];
                ms[(size_t)t * D + d] = (float)(v / (1.0 + exp(-v)));
            }
        }
        free(kf);
        free(kb);
    }
}

void sb_ref_ema_state(const float *delta, const float *alpha, const float *beta, int D, int N,
                   int truncation, int n_seq, const int *start, const int *len, const float *x,
                   float *state) {
    for (int b = 0; b < n_seq; b++) {
        const int L = len[b];
        const float *xs = x + (size_t)start[b] * D;
        for (int d = 0; d < D; d++)
            for (int n = 0; n < N; n++) {
                float q, c;
                coef_of(delta, alpha, beta, NULL, N, (size_t)d * N + n, &q, &c, NULL);
                double h = 0.0;
                if (truncation <= 0) {
                    for (int t = 0; t < L; t++) h = (double)q * h + (double)c * xs[(size_t)t * D + d];
                } else {
                    for (int l = 0; l < truncation && l < L; l++)
                        h += pow((double)q, (double)l) * (double)c * xs[(size_t)(L - 1 - l) * D + d];
                }
                state[((size_t)b * D + d) * N + n] = (float)h;
            }
    }
}
