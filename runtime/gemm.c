/* gemm.c - GEMM through CLBlast (row-major); without CLBlast
 * (SEQBOAT_HAVE_CLBLAST 0) sb_gemm refuses with SB_ERR_UNSUPPORTED. */
#include <pthread.h>
#if SEQBOAT_HAVE_CLBLAST
#include <clblast_c.h>
#endif
#include "gemm.h"

static pthread_mutex_t users_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long users, clears;

void sb_gemm_user_add(void) {
    pthread_mutex_lock(&users_lock);
    users++;
    pthread_mutex_unlock(&users_lock);
}

void sb_gemm_user_drop(void) {
    pthread_mutex_lock(&users_lock);
    if (users > 0 && --users == 0) {
#if SEQBOAT_HAVE_CLBLAST
        /* Nothing this library can do about a failure here: the programs
         * stay cached until the next try. */
        if (CLBlastClearCache() == CLBlastSuccess) clears++;
#endif
    }
    pthread_mutex_unlock(&users_lock);
}

unsigned long sb_gemm_cache_clears(void) {
    pthread_mutex_lock(&users_lock);
    unsigned long n = clears;
    pthread_mutex_unlock(&users_lock);
    return n;
}

sb_status sb_gemm(sb_rt *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                  cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                  cl_mem c, size_t c_off, size_t ldc, sb_err *e) {
    if (m == 0 || n == 0) return SB_OK;
    if (k == 0)
        return sb_fail(e, SB_ERR_ARG, "gemm with k = 0 (m=%zu n=%zu)", m, n);
#if !SEQBOAT_HAVE_CLBLAST
    (void)rt, (void)trans_a, (void)trans_b, (void)alpha, (void)a, (void)a_off, (void)lda;
    (void)b, (void)b_off, (void)ldb, (void)beta, (void)c, (void)c_off, (void)ldc;
    return sb_fail(e, SB_ERR_UNSUPPORTED,
                   "CLBlast GEMM (m=%zu n=%zu k=%zu): this library was built without CLBlast "
                   "(SEQBOAT_CLBLAST=OFF)", m, n, k);
#else
    cl_event ev = NULL;
    /* CLBlast may run several kernels (pad, transpose, gemm) and returns the
     * event of the last one only: time the whole call from a marker. */
    cl_event from = sb_rt_marker(rt);
    CLBlastStatusCode s;
    if (m == 1) {
        /* One row (streaming decode): c = alpha op(B)^T a + beta c as a
         * matrix-vector product, which CLBlast runs far faster than a GEMM
         * with one row. a's k elements are lda apart when A is transposed.
         * CLBlast's GEMV computes beta * y even for beta = 0: zero y first
         * so that whatever it held (NaN) is not read. */
        if (beta == 0.0f) {
            sb_status z = sb_rt_fill_zero(rt, c, c_off * sizeof(float), n * sizeof(float), e);
            if (z != SB_OK) {
                if (from) clReleaseEvent(from);
                return z;
            }
        }
        s = CLBlastSgemv(CLBlastLayoutRowMajor, trans_b ? CLBlastTransposeNo : CLBlastTransposeYes,
                         trans_b ? n : k, trans_b ? k : n, alpha, b, b_off, ldb, a, a_off,
                         trans_a ? lda : 1, beta, c, c_off, 1, &rt->queue, rt->profiling ? &ev : NULL);
    } else {
        s = CLBlastSgemm(CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                         trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a, a_off,
                         lda, b, b_off, ldb, beta, c, c_off, ldc, &rt->queue,
                         rt->profiling ? &ev : NULL);
    }
    if (s != CLBlastSuccess) {
        if (ev) clReleaseEvent(ev);
        if (from) clReleaseEvent(from);
        sb_status st = (s == CLBlastOpenCLOutOfResources || s == CLBlastTempBufferAllocFailure)
                           ? SB_ERR_DEVICE_MEMORY
                           : SB_ERR_BLAS;
        return sb_fail(e, st,
                       "CLBlast%s(m=%zu n=%zu k=%zu ta=%d tb=%d lda=%zu ldb=%zu ldc=%zu) failed "
                       "with CLBlast status %d",
                       m == 1 ? "Sgemv" : "Sgemm", m, n, k, trans_a, trans_b, lda, ldb, ldc, (int)s);
    }
    return sb_rt_track_span(rt, from, ev, e);
#endif
}
