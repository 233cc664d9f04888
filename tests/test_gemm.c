/* test_gemm.c - sb_gemm (CLBlast) against a plain-C GEMM: odd sizes,
 * transposes, offsets, alpha/beta, canaries. */
#include <stdlib.h>
#include <string.h>
#include "../runtime/gemm.h"
#include "testutil.h"

static void ref_gemm(int ta, int tb, size_t m, size_t n, size_t k, float alpha, const float *a,
                     size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t p = 0; p < k; p++) {
                float av = ta ? a[p * lda + i] : a[i * lda + p];
                float bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += (double)av * bv;
            }
            c[i * ldc + j] = (float)(alpha * s + beta * c[i * ldc + j]);
        }
}

static void one(sb_rt *rt, int ta, int tb, size_t m, size_t n, size_t k, float alpha, float beta,
                uint32_t seed) {
    size_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
    size_t ar = ta ? k : m, br = tb ? n : k;
    size_t aoff = 5, boff = 7, coff = 11, canary = 16;
    size_t asz = aoff + ar * lda, bsz = boff + br * ldb, csz = coff + m * ldc + canary;
    float *a = malloc(asz * 4), *b = malloc(bsz * 4), *c = malloc(csz * 4), *want = malloc(csz * 4);
    tu_fill(a, asz, seed, -1, 1);
    tu_fill(b, bsz, seed + 1, -1, 1);
    tu_fill(c, csz, seed + 2, -1, 1);
    for (size_t i = 0; i < csz; i++) want[i] = c[i];
    cl_mem da = tu_upload(rt, a, asz * 4), db = tu_upload(rt, b, bsz * 4), dc = tu_upload(rt, c, csz * 4);
    TU_OK(sb_gemm(rt, ta, tb, m, n, k, alpha, da, aoff, lda, db, boff, ldb, beta, dc, coff, ldc, &tu_err));
    tu_download(rt, dc, c, csz * 4);
    ref_gemm(ta, tb, m, n, k, alpha, a + aoff, lda, b + boff, ldb, beta, want + coff, ldc);
    char what[128];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d %zux%zux%zu", ta, tb, m, n, k);
    tu_check_close(c, want, csz, 1e-4f, 1e-4f * (float)k, what);
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    free(a);
    free(b);
    free(c);
    free(want);
}

START_TEST(test_gemm_shapes) {
    sb_rt *rt = tu_rt();
    static const size_t shapes[][3] = {{1, 1, 1}, {37, 129, 65}, {2, 3, 4}, {64, 64, 64},
                                       {130, 18, 16}, {5, 72, 16}, {1, 576, 128}};
    uint32_t seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                one(rt, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f, seed++);
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_gemm_alpha_beta_random) {
    sb_rt *rt = tu_rt();
    uint32_t s = 99;
    for (int i = 0; i < 6; i++) {
        s = s * 1103515245u + 12345u;
        size_t m = 1 + (s >> 8) % 90, n = 1 + (s >> 16) % 70, k = 1 + (s >> 4) % 110;
        one(rt, i & 1, (i >> 1) & 1, m, n, k, 0.5f + i, i % 3 == 0 ? 0.0f : -0.75f, 1000 + i);
    }
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_gemm_bad_args) {
    sb_rt *rt = tu_rt();
    cl_mem d = tu_alloc(rt, 64);
    ck_assert_int_eq(sb_gemm(rt, 0, 0, 2, 2, 0, 1, d, 0, 1, d, 0, 2, 0, d, 0, 2, &tu_err), SB_ERR_ARG);
    /* leading dimension too small is refused by CLBlast, reported, no crash */
    ck_assert_int_eq(sb_gemm(rt, 0, 0, 4, 4, 4, 1, d, 0, 1, d, 0, 4, 0, d, 0, 4, &tu_err), SB_ERR_BLAS);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "CLBlastSgemm"));
    clReleaseMemObject(d);
    sb_rt_free(rt);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gemm");
    TCase *t = tcase_create("gemm");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_gemm_shapes);
    tcase_add_test(t, test_gemm_alpha_beta_random);
    tcase_add_test(t, test_gemm_bad_args);
    suite_add_tcase(s, t);
    return tu_run(s);
}
