/* test_bench_force.c - the bench's forced router inputs (runtime/ops/bench_force.h)
 * against the plain-C reference (tests/ref/ref_bench_force.c) on ragged
 * packed batches; rows past the batch and the other columns must be untouched. */
#include <string.h>
#include "bench_force.h"
#include "ref/ref_bench_force.h"
#include "testutil.h"

#define EXTRA_ROWS 3 /* rows after the packed batch: must stay as they were */

static void run_case(int B, const int *len, int ld, double share, uint32_t seed) {
    sb_rt *rt = tu_rt();
    int *start = malloc(sizeof(int) * (size_t)B);
    int T = 0, max_len = 0;
    for (int b = 0; b < B; b++) {
        start[b] = T;
        T += len[b];
        if (len[b] > max_len) max_len = len[b];
    }
    const size_t n = (size_t)(T + EXTRA_ROWS) * (size_t)ld;
    float *u = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float)),
          *got = malloc(n * sizeof(float));
    tu_fill(u, n, seed, -3.0f, 3.0f);
    memcpy(want, u, n * sizeof(float));
    sb_ref_force_router(B, start, len, want, ld, share);
    /* the buffer starts 4 floats into a larger allocation (non-zero offset) */
    float *pad = calloc(n + 4, sizeof(float));
    memcpy(pad + 4, u, n * sizeof(float));
    cl_mem du = tu_upload(rt, pad, (n + 4) * sizeof(float));
    cl_mem ds = tu_upload(rt, start, sizeof(int) * (size_t)B);
    cl_mem dl = tu_upload(rt, len, sizeof(int) * (size_t)B);
    sb_seqs seqs = {B, start, len, T, max_len, sb_view_all(ds), sb_view_all(dl)};
    sb_buf ub = sb_skip(sb_view_all(du), 4 * sizeof(float));
    TU_OK(sb_op_force_router(rt, &seqs, ub, ld, share, &tu_err));
    tu_download(rt, du, pad, (n + 4) * sizeof(float));
    memcpy(got, pad + 4, n * sizeof(float));
    for (int i = 0; i < 4; i++) ck_assert_msg(pad[i] == 0.0f, "word %d before the buffer changed", i);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "B=%d ld=%d share=%g: u[%zu] = %g, want %g", B, ld, share,
                      i, (double)got[i], (double)want[i]);
    /* the host rule agrees with the reference */
    const uint32_t thr = sb_force_threshold(share);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < len[b]; t++) {
            float u1 = want[((size_t)start[b] + (size_t)t) * (size_t)ld + 1];
            ck_assert_int_eq(sb_force_active(t, thr), u1 > 0.0f);
        }
    clReleaseMemObject(du);
    clReleaseMemObject(ds);
    clReleaseMemObject(dl);
    free(u);
    free(want);
    free(got);
    free(pad);
    free(start);
    sb_rt_free(rt);
}

START_TEST(test_shapes) {
    static const int one[] = {1};
    static const int ragged[] = {37, 1, 300};
    static const int two[] = {1000, 513};
    static const double shares[] = {0.0, 0.1, 0.5, 1.0};
    for (int s = 0; s < 4; s++) {
        run_case(1, one, 2, shares[s], 11u + (uint32_t)s);
        run_case(3, ragged, 5, shares[s], 21u + (uint32_t)s);
        run_case(2, two, 514, shares[s], 31u + (uint32_t)s);
    }
}
END_TEST

START_TEST(test_rule) {
    ck_assert_uint_eq(sb_force_threshold(0.0), 0u);
    ck_assert_uint_eq(sb_force_threshold(-1.0), 0u);
    ck_assert_uint_eq(sb_force_threshold(1.0), 1u << 24);
    ck_assert_uint_eq(sb_force_threshold(2.0), 1u << 24);
    ck_assert_uint_eq(sb_force_threshold(0.5), 1u << 23);
    ck_assert_int_eq(sb_force_count(1000, sb_force_threshold(0.0)), 0);
    ck_assert_int_eq(sb_force_count(1000, sb_force_threshold(1.0)), 1000);
    /* the realised share of a long sequence is close to the asked one */
    static const double shares[] = {0.1, 0.25, 0.5, 0.9};
    for (int i = 0; i < 4; i++) {
        double got = (double)sb_force_count(1 << 17, sb_force_threshold(shares[i])) / (1 << 17);
        ck_assert_msg(fabs(got - shares[i]) < 0.005, "share %g realised as %g", shares[i], got);
    }
    /* fixed values (bench/reference_pytorch.py implements the same mix) */
    ck_assert_uint_eq(sb_force_hash32(0), 0u);
    ck_assert_uint_eq(sb_force_hash32(1), 0x688990c0u);
}
END_TEST

int main(void) {
    Suite *s = suite_create("bench_force");
    TCase *tc = tcase_create("bench_force");
    tcase_add_test(tc, test_shapes);
    tcase_add_test(tc, test_rule);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
