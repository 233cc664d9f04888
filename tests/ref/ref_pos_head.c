/* ref_pos_head.c - plain-C twins of cl/pos_head.cl. */
#include "ref_pos_head.h"
#include <math.h>
#include <stddef.h>

void sb_ref_rms_norm(int T, int D, int per_feature, const float *x, const float *w, float *y) {
    for (int r = 0; r < T; r++) {
        const float *xr = x + (size_t)r * D;
        float *yr = y + (size_t)r * D;
        double ss = 0.0;
        for (int c = 0; c < D; c++) ss += (double)xr[c] * xr[c];
        const double inv = 1.0 / sqrt(ss / D + 1e-5);
        for (int c = 0; c < D; c++) {
            const float wc = per_feature ? w[c] : w[0];
            yr[c] = (float)((double)(xr[c] * wc) * inv);
        }
    }
}

void sb_ref_add_sinusoid(int T, int D, const int *pos, float scale, const float *inv_freq, float *x) {
    const int D2 = D / 2;
    for (int r = 0; r < T; r++)
        for (int m = 0; m < D2; m++) {
            const float a = (float)pos[r] * inv_freq[m];
            x[(size_t)r * D + m] += (float)(sin((double)a) * scale);
            x[(size_t)r * D + m + D2] += (float)(cos((double)a) * scale);
        }
}

void sb_ref_gelu(int n, float *x) {
    for (int i = 0; i < n; i++) {
        const double v = x[i];
        x[i] = (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0))));
    }
}

void sb_ref_pair_feature(int B, int D, int nli, const float *r0, const float *r1, float *y) {
    const int F = nli ? 4 * D : 2 * D;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < D; c++) {
            const float a = r0[(size_t)b * D + c], p = r1[(size_t)b * D + c];
            float *yr = y + (size_t)b * F;
            yr[c] = p;
            yr[D + c] = a;
            if (nli) {
                yr[2 * D + c] = a * p;
                yr[3 * D + c] = a - p;
            }
        }
}

void sb_ref_dense(int rows, int n, int k, const float *x, const float *w, const float *b, float *y) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            double s = b ? b[j] : 0.0;
            for (int i = 0; i < k; i++) s += (double)x[(size_t)r * k + i] * w[(size_t)j * k + i];
            y[(size_t)r * n + j] = (float)s;
        }
}
