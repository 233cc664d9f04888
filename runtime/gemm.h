/* gemm.h - the one GEMM entry point (CLBlast), row-major.
 * C[m x n] = alpha * op(A) @ op(B) + beta * C, op = transpose when trans_* != 0.
 * A is m x k (k x m if trans_a) with leading dimension lda, likewise B.
 * With beta = 0, C is only written (as in BLAS). One-row products (m = 1)
 * run as CLBlast GEMV, the rest as CLBlast GEMM. When rt profiles, the whole
 * call (every kernel CLBlast launches) counts in rt->phase. */
#ifndef SB_GEMM_H
#define SB_GEMM_H
#include "rt.h"

sb_status sb_gemm(sb_rt *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                  cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                  cl_mem c, size_t c_off, size_t ldc, sb_err *e);
/* Offsets are in elements (floats), not bytes. */
#endif
