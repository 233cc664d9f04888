/* test_gemm_tune.c - the library's tuned CLBlast parameters (runtime/gemm_tune.h):
 * GEMMs after applying them still match a plain-C GEMM on shapes large
 * enough for CLBlast's indirect (tuned) kernel and on odd ones; bad
 * SEQBOAT_GEMM_XGEMM values are refused with a message. */
#include <stdlib.h>
#include <string.h>
#include "../runtime/gemm.h"
#include "../runtime/ops/ops_rt.h"
#include "../runtime/gemm_tune.h"
#include "testutil.h"

#if SEQBOAT_HAVE_CLBLAST
START_TEST(test_tuned_gemm_correct) {
    unsetenv("SEQBOAT_GEMM_TUNE");
    unsetenv("SEQBOAT_GEMM_XGEMM");
    sb_rt *rt = tu_rt(); /* sb_rt_create applies the table's entry, if any */
    const char *entry = sb_gemm_tune_entry(rt->dev.name);
    const char *active = sb_gemm_tune_active(&rt->dev);
    if (entry) ck_assert_str_eq(active, entry);
    else ck_assert_ptr_null(active);
    int again = -1;
    TU_OK(sb_gemm_tune_apply(&rt->dev, &again, &tu_err));
    ck_assert_int_eq(again, 0); /* once per process and device */
    tu_check_gemm(rt, 0, 1, 300, 514, 256, 1.0f, 0.0f, 1);
    /* m n k above 384^3: CLBlast's indirect Xgemm, the kernel the table tunes */
    tu_check_gemm(rt, 0, 1, 521, 530, 263, 1.0f, 0.0f, 6);
    tu_check_gemm(rt, 0, 0, 600, 257, 513, 1.0f, 0.0f, 7);
    tu_check_gemm(rt, 1, 0, 530, 520, 270, 0.5f, -1.0f, 8);
    tu_check_gemm(rt, 0, 0, 257, 130, 129, 1.0f, 0.0f, 2);
    tu_check_gemm(rt, 0, 1, 37, 129, 65, 1.0f, 0.0f, 3);
    /* skinny products (encoder k = 16, decoder n = 16), both kernels */
    tu_check_gemm(rt, 0, 1, 1000, 512, 16, 1.0f, 0.0f, 9);
    tu_check_gemm(rt, 0, 1, 999, 16, 512, 1.0f, 0.5f, 10);
    tu_check_gemm(rt, 0, 1, 9000, 512, 16, 1.0f, 0.0f, 11);
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_env_values) {
    unsetenv("SEQBOAT_GEMM_TUNE");
    setenv("SEQBOAT_GEMM_XGEMM", "0,64,64,32", 1);
    sb_rt *rt = NULL;
    sb_rt_options o = {0};
    ck_assert_int_eq(sb_ops_rt_create(&o, &rt, &tu_err), SB_ERR_ARG);
    ck_assert_ptr_null(rt);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "SEQBOAT_GEMM_XGEMM"));
    setenv("SEQBOAT_GEMM_XGEMM", "0,64,64,32,8,8,8,8,2,1,1,0,0,1,1,x", 1);
    ck_assert_int_eq(sb_ops_rt_create(&o, &rt, &tu_err), SB_ERR_ARG);
    /* a valid custom set (CLBlast's generic defaults) applies on any device */
    setenv("SEQBOAT_GEMM_XGEMM", "0,64,64,32,8,8,8,8,2,1,1,0,0,1,1,1", 1);
    rt = tu_rt();
    ck_assert_str_eq(sb_gemm_tune_active(&rt->dev), "user (SEQBOAT_GEMM_XGEMM*)");
    tu_check_gemm(rt, 0, 1, 200, 160, 96, 1.0f, 0.0f, 4);
    unsetenv("SEQBOAT_GEMM_XGEMM");
    sb_rt_free(rt);
}
END_TEST

/* SEQBOAT_GEMM_XGEMM_DIRECT: malformed values are refused; valid ones apply. */
START_TEST(test_env_direct) {
    unsetenv("SEQBOAT_GEMM_TUNE");
    unsetenv("SEQBOAT_GEMM_XGEMM");
    setenv("SEQBOAT_GEMM_XGEMM_DIRECT", "32,8,8,8,8,2,1,1,1", 1);
    sb_rt *rt = NULL;
    sb_rt_options o = {0};
    ck_assert_int_eq(sb_ops_rt_create(&o, &rt, &tu_err), SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "SEQBOAT_GEMM_XGEMM_DIRECT"));
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "WGD"));
    setenv("SEQBOAT_GEMM_XGEMM_DIRECT", "32,8,8,8,8,2,1,1,1,-1", 1);
    ck_assert_int_eq(sb_ops_rt_create(&o, &rt, &tu_err), SB_ERR_ARG);
    setenv("SEQBOAT_GEMM_XGEMM_DIRECT", "32,8,8,8,8,2,1,1,1,1", 1); /* CLBlast's generic set */
    rt = tu_rt();
    ck_assert_str_eq(sb_gemm_tune_active(&rt->dev), "user (SEQBOAT_GEMM_XGEMM*)");
    tu_check_gemm(rt, 0, 1, 130, 70, 33, 1.0f, 0.0f, 12);
    tu_check_gemm(rt, 1, 0, 100, 16, 300, 1.0f, 0.0f, 13);
    unsetenv("SEQBOAT_GEMM_XGEMM_DIRECT");
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_off) {
    setenv("SEQBOAT_GEMM_TUNE", "off", 1);
    sb_rt *rt = tu_rt();
    ck_assert_ptr_null(sb_gemm_tune_active(&rt->dev));
    int applied = -1;
    TU_OK(sb_gemm_tune_apply(&rt->dev, &applied, &tu_err));
    ck_assert_int_eq(applied, 0);
    tu_check_gemm(rt, 0, 0, 130, 70, 33, 1.0f, 0.0f, 5);
    unsetenv("SEQBOAT_GEMM_TUNE");
    ck_assert_ptr_null(sb_gemm_tune_entry("NVIDIA GeForce RTX 4090"));
    ck_assert_str_eq(sb_gemm_tune_entry("pthread-skylake-avx512-Intel(R) Xeon(R) Processor"),
                     "pocl-cpu-v3");
    sb_rt_free(rt);
}
END_TEST

/* The process-wide switch (seqboat bench --no-gemm-tune): like the variable,
 * without the environment. */
START_TEST(test_switch_off) {
    unsetenv("SEQBOAT_GEMM_TUNE");
    unsetenv("SEQBOAT_GEMM_XGEMM");
    unsetenv("SEQBOAT_GEMM_XGEMM_DIRECT");
    sb_gemm_tune_set_enabled(0);
    sb_rt *rt = tu_rt();
    ck_assert_ptr_null(sb_gemm_tune_active(&rt->dev));
    int applied = -1;
    TU_OK(sb_gemm_tune_apply(&rt->dev, &applied, &tu_err));
    ck_assert_int_eq(applied, 0);
    tu_check_gemm(rt, 0, 0, 130, 70, 33, 1.0f, 0.0f, 5);
    sb_gemm_tune_set_enabled(1);
    sb_rt_free(rt);
}
END_TEST

#else
/* A SEQBOAT_CLBLAST=OFF build: the table applies to nothing (no runtime
 * fails for it), malformed values are still SB_ERR_ARG and valid ones the
 * user gave are refused, naming the variable and the build option. */
START_TEST(test_without_clblast) {
    unsetenv("SEQBOAT_GEMM_TUNE");
    unsetenv("SEQBOAT_GEMM_XGEMM");
    unsetenv("SEQBOAT_GEMM_XGEMM_DIRECT");
    sb_rt *rt = tu_rt();
    ck_assert_ptr_null(sb_gemm_tune_active(&rt->dev));
    int applied = -1;
    TU_OK(sb_gemm_tune_apply(&rt->dev, &applied, &tu_err));
    ck_assert_int_eq(applied, 0);
    sb_rt_free(rt);
    rt = NULL;
    sb_rt_options o = {0};
    setenv("SEQBOAT_GEMM_XGEMM", "0,64,64,32", 1);
    ck_assert_int_eq(sb_ops_rt_create(&o, &rt, &tu_err), SB_ERR_ARG);
    setenv("SEQBOAT_GEMM_XGEMM", "0,64,64,32,8,8,8,8,2,1,1,0,0,1,1,1", 1);
    ck_assert_int_eq(sb_ops_rt_create(&o, &rt, &tu_err), SB_ERR_UNSUPPORTED);
    ck_assert_ptr_null(rt);
    ck_assert_msg(strstr(tu_err.msg, "SEQBOAT_GEMM_XGEMM") && strstr(tu_err.msg, "SEQBOAT_CLBLAST=OFF"),
                  "%s", tu_err.msg);
    unsetenv("SEQBOAT_GEMM_XGEMM");
}
END_TEST
#endif

int main(void) {
    Suite *s = suite_create("gemm_tune");
    TCase *tc = tcase_create("gemm_tune");
    tcase_set_timeout(tc, 300);
#if SEQBOAT_HAVE_CLBLAST
    tcase_add_test(tc, test_tuned_gemm_correct);
    tcase_add_test(tc, test_env_values);
    tcase_add_test(tc, test_env_direct);
    tcase_add_test(tc, test_off);
    tcase_add_test(tc, test_switch_off);
#else
    tcase_add_test(tc, test_without_clblast);
#endif
    suite_add_tcase(s, tc);
    return tu_run(s);
}
