/* ref_gau_step.c - plain-C reference of one token of a layer (see
 * ref_gau_step.h). */
#include <math.h>
#include <stdlib.h>
#include "ref_gau_step.h"

/* y[j] = act(sum_i w[j][i] a[i] + b[j]) in double. */
static void ref_linear_row(int n, int k, const float *w, const float *b, const float *a, int act,
                           float *y) {
    for (int j = 0; j < n; j++) {
        double acc = b[j];
        for (int i = 0; i < k; i++) acc += (double)w[(size_t)j * (size_t)k + (size_t)i] * a[i];
        if (act) acc = acc / (1.0 + exp(-acc));
        y[j] = (float)acc;
    }
}

void sb_ref_gau_step(const sb_attn_cfg *c, int D, float temp, const float *hx_w, const float *hx_b,
                     const float *mx_w, const float *mx_b, const float *h_w, const float *h_b,
                     const float *gamma, const float *beta, const float *rel, int cap, int *rs,
                     float *kring, float *vring, int *pring, int pos, const float *mx, float *x) {
    const int ld = c->Z + 2 * c->H;
    float *u = malloc(sizeof(float) * (size_t)(D + 2));
    float *s = calloc((size_t)ld, sizeof(float));
    float *ao = malloc(sizeof(float) * (size_t)c->H);
    float *g = malloc(sizeof(float) * (size_t)D);
    if (u && s && ao && g) {
        ref_linear_row(D + 2, D, hx_w, hx_b, mx, 0, u);
        /* router: pr = softmax(u[0..1] / exp(temp)); activated iff pr[1] > pr[0] */
        const double tau = exp((double)temp);
        const double p0 = exp(u[0] / tau), p1 = exp(u[1] / tau);
        const int act = u[1] > u[0];
        const double w = p1 / (p0 + p1);
        for (int d = 0; d < D; d++) g[d] = 0.0f;
        if (act) {
            ref_linear_row(ld, D, mx_w, mx_b, mx, 1, s);
            sb_ref_attn_step(c, cap, &rs[0], &rs[1], kring, vring, pring, pos, s, gamma, beta, rel, ao);
            ref_linear_row(D, c->H, h_w, h_b, ao, 0, g);
            rs[2]++;
        }
        for (int d = 0; d < D; d++) {
            const double v = (double)u[2 + d] + (act ? w * g[d] : 0.0) + x[d];
            x[d] = (float)(v / (1.0 + exp(-v)));
        }
    }
    free(u);
    free(s);
    free(ao);
    free(g);
}
