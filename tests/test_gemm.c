/* test_gemm.c - sb_gemm (CLBlast) against a plain-C GEMM: odd sizes,
 * transposes, offsets, alpha/beta, canaries; without CLBlast, its refusal. */
#include <stdlib.h>
#include <string.h>
#include "../runtime/gemm.h"
#include "testutil.h"

#if SEQBOAT_HAVE_CLBLAST
START_TEST(test_gemm_shapes) {
    sb_rt *rt = tu_rt();
    static const size_t shapes[][3] = {{1, 1, 1}, {37, 129, 65}, {2, 3, 4}, {64, 64, 64},
                                       {130, 18, 16}, {5, 72, 16}, {1, 576, 128}};
    uint32_t seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                tu_check_gemm(rt, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f, seed++);
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_gemm_alpha_beta_random) {
    sb_rt *rt = tu_rt();
    uint32_t s = 99;
    for (int i = 0; i < 6; i++) {
        s = s * 1103515245u + 12345u;
        size_t m = 1 + (s >> 8) % 90, n = 1 + (s >> 16) % 70, k = 1 + (s >> 4) % 110;
        tu_check_gemm(rt, i & 1, (i >> 1) & 1, m, n, k, 0.5f + i, i % 3 == 0 ? 0.0f : -0.75f, 1000 + i);
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

#else
/* A SEQBOAT_CLBLAST=OFF build: sb_gemm refuses every product, naming the build
 * option, and a model's product runs on the own kernels (test_linear). */
START_TEST(test_gemm_without_clblast) {
    sb_rt *rt = tu_rt();
    cl_mem d = tu_alloc(rt, 64);
    ck_assert_int_eq(sb_gemm(rt, 0, 1, 2, 2, 2, 1, d, 0, 2, d, 0, 2, 0, d, 0, 2, &tu_err),
                     SB_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(tu_err.msg, "SEQBOAT_CLBLAST=OFF"), "%s", tu_err.msg);
    /* the argument checks still come first */
    ck_assert_int_eq(sb_gemm(rt, 0, 0, 2, 2, 0, 1, d, 0, 1, d, 0, 2, 0, d, 0, 2, &tu_err), SB_ERR_ARG);
    clReleaseMemObject(d);
    sb_rt_free(rt);
}
END_TEST
#endif

int main(void) {
    Suite *s = suite_create("gemm");
    TCase *t = tcase_create("gemm");
    tcase_set_timeout(t, 600);
#if SEQBOAT_HAVE_CLBLAST
    tcase_add_test(t, test_gemm_shapes);
    tcase_add_test(t, test_gemm_alpha_beta_random);
    tcase_add_test(t, test_gemm_bad_args);
#else
    tcase_add_test(t, test_gemm_without_clblast);
#endif
    suite_add_tcase(s, t);
    return tu_run(s);
}
