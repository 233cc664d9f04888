/* ref_stream_step.c - plain-C reference of the one-token EMA (see ref_stream_step.h). */
#include <math.h>
#include <stdlib.h>
#include "ref_stream_step.h"
#include "ref_norm.h"

void sb_ref_ema_step(int D, int N, int trunc, long pos, const float *coef, const float *omega,
                     float *h, const float *x, const float *norm_w, const float *norm_b, float *xn,
                     float *xring, float *mx) {
    const size_t KN = (size_t)D * (size_t)N;
    const float *in = x;
    if (norm_w) {
        sb_ref_layernorm(1, D, x, norm_w, norm_b, xn);
        in = xn;
    }
    for (int d = 0; d < D; d++) {
        const double xv = in[d];
        double old = 0.0; /* x_{pos - trunc}, 0 before pos = trunc */
        if (trunc > 0) {
            float *slot = xring + (size_t)(pos % trunc) * (size_t)D + (size_t)d;
            if (pos >= trunc) old = *slot;
            *slot = in[d];
        }
        double y = 0.0;
        for (int n = 0; n < N; n++) {
            const size_t i = (size_t)d * (size_t)N + (size_t)n;
            const double q = coef[i], c = coef[KN + i], g = coef[2 * KN + i];
            double hv = q * h[i] + c * xv;
            if (trunc > 0) hv -= c * pow(q, trunc) * old;
            h[i] = (float)hv;
            y += g * hv;
        }
        const double v = y + (double)omega[d] * xv;
        mx[d] = (float)(v / (1.0 + exp(-v)));
    }
}
