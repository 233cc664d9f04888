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

/* CLBlast keeps process-wide caches: every program it builds, keyed by
 * context (each holding a reference on its context), and the compiled
 * binaries. Each sb_rt counts as one user from sb_ops_rt_create to sb_rt_free;
 * when the last user goes, CLBlastClearCache releases those programs (and so
 * the freed contexts they kept alive), under a lock that also covers the count,
 * so no CLBlast call of this library is in flight meanwhile. CLBlast's
 * parameter overrides (gemm_tune.h) are not part of that cache and stay. */
void sb_gemm_user_add(void);
void sb_gemm_user_drop(void);
/* Times CLBlast's cache was cleared in this process (tests). */
unsigned long sb_gemm_cache_clears(void);
#endif
