/* ref_linear.c - plain-C reference of the model's products (ref_linear.h). */
#include <math.h>
#include "ref_linear.h"
#include "../../runtime/wtype.h"

void sb_ref_linear(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *w,
                   const float *bias, int act, float *c, size_t ldc) {
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = bias ? bias[j] : 0.0;
            for (size_t q = 0; q < k; q++) s += (double)a[i * lda + q] * (double)w[j * k + q];
            if (act == 1) s = s / (1.0 + exp(-s));
            c[i * ldc + j] = (float)s;
        }
}

void sb_ref_linear_wt(int wt, size_t m, size_t n, size_t k, const float *a, size_t lda,
                      const void *w, const float *bias, int act, float *c, size_t ldc) {
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t q = 0; q < k; q++)
                s += (double)a[i * lda + q] * (double)sb_wt_code((sb_wtype)wt, w, j * k + q);
            s *= (double)sb_wt_scale((sb_wtype)wt, w, n, k, j);
            if (bias) s += bias[j];
            if (act == 1) s = s / (1.0 + exp(-s));
            c[i * ldc + j] = (float)s;
        }
}
