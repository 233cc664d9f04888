/* ref_linear.h - plain-C reference for runtime/ops/linear.h (double accumulation). */
#ifndef SB_REF_LINEAR_H
#define SB_REF_LINEAR_H
#include <stddef.h>

/* c[i*ldc + j] = act(sum_k a[i*lda + k] * w[j*k + k'] + bias[j]) for i < m, j < n;
 * w is [n x k] row-major; bias may be NULL; act 0 none, 1 silu. */
void sb_ref_linear(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *w,
                   const float *bias, int act, float *c, size_t ldc);

/* The same with w stored as sb_wtype wt (runtime/wtype.h: a device buffer's
 * layout, sb_wt_encode): each element decoded to float; int8 sums the codes
 * and scales the sum by the row's scale before the bias, as the kernels do. */
void sb_ref_linear_wt(int wt, size_t m, size_t n, size_t k, const float *a, size_t lda,
                      const void *w, const float *bias, int act, float *c, size_t ldc);

#endif
