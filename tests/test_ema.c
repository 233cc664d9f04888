/* test_ema.c - the EMA chunked scan (cl/ema_scan.cl) against the convolution
 * reference (tests/ref/ref_ema.c). */
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "ops/ema.h"
#include "ref/ref_ema.h"

#define CANARY 12345.0f
#define N_CANARY 37

/* Normal(mean, sd) samples from tu_fill's uniforms (Box-Muller). */
static void fill_normal(float *v, size_t n, uint32_t seed, float mean, float sd) {
    float *u = malloc(sizeof(float) * 2 * n);
    ck_assert_ptr_nonnull(u);
    tu_fill(u, 2 * n, seed, 0.0f, 1.0f);
    for (size_t i = 0; i < n; i++) {
        const double u1 = u[2 * i] + 1e-7, u2 = u[2 * i + 1];
        v[i] = mean + sd * (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
    free(u);
}

typedef struct ema_case {
    int D, N, bidir, trunc;
    int n_seq;
    const int *lens;
    int slow;       /* q close to 1 (slow decay) and x with a nonzero mean */
    int state;      /* also check state_out (causal only) */
    uint32_t seed;
} ema_case;

/* Scale-aware comparison: |got - want| <= 1e-4 * (|want| + max(1, rms(want))). */
static void check_scaled(const float *got, const float *want, size_t n, const char *what) {
    double ss = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)want[i] * want[i];
    const double rms = n ? sqrt(ss / (double)n) : 0.0;
    const float atol = 1e-4f * (float)(rms > 1.0 ? rms : 1.0);
    for (size_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - want[i]) / (atol + 1e-4 * fabs(want[i]));
        if (err > worst) worst = err;
    }
    fprintf(stderr, "  %-28s n=%-8zu rms=%-10.4g worst err/tol=%.3f\n", what, n, rms, worst);
    tu_check_close(got, want, n, 1e-4f, atol, what);
}

/* The kernel named as in SEQBOAT_EMA ("scan", "seq", "seq:VW"), set in the rt. */
static void set_variant(sb_rt *rt, const char *v) {
    rt->tune.ema = strncmp(v, "seq", 3) == 0 ? SB_TUNE_SEQ : SB_TUNE_SCAN;
    rt->tune.ema_vw = strncmp(v, "seq:", 4) == 0 ? atoi(v + 4) : 0;
}

static void run_case_1(const ema_case *tc, const char *name, const char *variant);
/* Both kernels whatever the device: the three-pass scan and the one-pass CPU
 * kernel (ema_seq) at the device's vector width and at one channel per item
 * (SEQBOAT_EMA). */
static void run_case(const ema_case *tc, const char *name) {
    static const char *const variants[] = {"scan", "seq", "seq:1"};
    for (int v = 0; v < 3; v++) {
        char what[96];
        snprintf(what, sizeof what, "%s [%s]", name, variants[v]);
        run_case_1(tc, what, variants[v]);
    }
}

static void run_case_1(const ema_case *tc, const char *name, const char *variant) {
    sb_rt *rt = tu_rt();
    set_variant(rt, variant);
    const int D = tc->D, N = tc->N, K = tc->bidir ? 2 * D : D, B = tc->n_seq;
    int *start = malloc(sizeof(int) * B);
    int total = 0, max_len = 0;
    for (int b = 0; b < B; b++) {
        start[b] = total;
        total += tc->lens[b];
        if (tc->lens[b] > max_len) max_len = tc->lens[b];
    }
    const size_t kn = (size_t)K * N, xn = (size_t)total * D;
    float *delta = malloc(sizeof(float) * kn), *alpha = malloc(sizeof(float) * kn);
    float *beta = malloc(sizeof(float) * kn), *gamma = malloc(sizeof(float) * kn);
    float *omega = malloc(sizeof(float) * D), *coef = malloc(sizeof(float) * 3 * kn);
    float *x = malloc(sizeof(float) * xn), *want = malloc(sizeof(float) * xn);
    float *got = malloc(sizeof(float) * (xn + N_CANARY));
    if (tc->slow) {
        /* p ~ 0.02, q ~ 1 - 4e-4: the memory spans thousands of steps */
        fill_normal(delta, kn, tc->seed + 1, -4.0f, 0.3f);
        fill_normal(alpha, kn, tc->seed + 2, -4.0f, 0.3f);
        fill_normal(x, xn, tc->seed + 7, 0.5f, 1.0f);
    } else {
        fill_normal(delta, kn, tc->seed + 1, 0.0f, 1.0f);
        fill_normal(alpha, kn, tc->seed + 2, 0.0f, 1.0f);
        fill_normal(x, xn, tc->seed + 7, 0.0f, 1.0f);
    }
    fill_normal(beta, kn, tc->seed + 3, 0.0f, 1.0f);
    fill_normal(gamma, kn, tc->seed + 4, 0.0f, 1.0f);
    fill_normal(omega, D, tc->seed + 5, 0.0f, 1.0f);
    sb_ema_coef_host(delta, alpha, beta, gamma, K, N, coef);

    /* device buffers at nonzero offsets; mx pre-filled with canaries */
    const size_t pad = 8;
    float *tmp = calloc(pad + xn + N_CANARY, sizeof(float));
    memcpy(tmp + pad, x, sizeof(float) * xn);
    cl_mem d_x = tu_upload(rt, tmp, sizeof(float) * (pad + xn));
    for (size_t i = 0; i < pad + xn + N_CANARY; i++) tmp[i] = CANARY;
    cl_mem d_mx = tu_upload(rt, tmp, sizeof(float) * (pad + xn + N_CANARY));
    free(tmp);
    float *ctmp = calloc(pad + 3 * kn + D, sizeof(float));
    memcpy(ctmp + pad, coef, sizeof(float) * 3 * kn);
    memcpy(ctmp + pad + 3 * kn, omega, sizeof(float) * D);
    cl_mem d_coef = tu_upload(rt, ctmp, sizeof(float) * (pad + 3 * kn + D));
    free(ctmp);

    sb_ema_coef p = {sb_skip(sb_view_all(d_coef), pad * sizeof(float)), sb_skip(sb_view_all(d_coef), (pad + 3 * kn) * sizeof(float)),
                     D, N, tc->bidir, tc->trunc};
    const size_t sbytes = sb_op_ema_scratch_bytes(&p, B, total);
    ck_assert_uint_gt(sbytes, 0);
    cl_mem d_scr = tu_alloc(rt, sbytes + 64);
    const size_t sn = (size_t)B * D * N;
    cl_mem d_state = NULL;
    if (tc->state) {
        float *s0 = malloc(sizeof(float) * (sn + N_CANARY));
        for (size_t i = 0; i < sn + N_CANARY; i++) s0[i] = CANARY;
        d_state = tu_upload(rt, s0, sizeof(float) * (sn + N_CANARY));
        free(s0);
    }
    sb_seqs seqs = {B, start, tc->lens, total, max_len, sb_view_none(), sb_view_none()};
    sb_buf none = sb_view_none();
    TU_OK(sb_op_ema(rt, &seqs, &p, sb_skip(sb_view_all(d_x), pad * sizeof(float)),
                    sb_skip(sb_view_all(d_mx), pad * sizeof(float)), sb_skip(sb_view_all(d_scr), 64),
                    tc->state ? sb_view_all(d_state) : none, &tu_err));
    {
        float *all = malloc(sizeof(float) * (pad + xn + N_CANARY));
        tu_download(rt, d_mx, all, sizeof(float) * (pad + xn + N_CANARY));
        for (size_t i = 0; i < pad; i++) ck_assert_msg(all[i] == CANARY, "%s: mx before region written", name);
        memcpy(got, all + pad, sizeof(float) * (xn + N_CANARY));
        free(all);
    }
    for (size_t i = 0; i < N_CANARY; i++)
        ck_assert_msg(got[xn + i] == CANARY, "%s: mx canary %zu overwritten (%g)", name, i, got[xn + i]);

    sb_ref_ema(delta, alpha, beta, gamma, omega, D, N, tc->bidir, tc->trunc, B, start, tc->lens, x, want);
    char what[192];
    snprintf(what, sizeof what, "%s mx", name);
    check_scaled(got, want, xn, what);

    if (tc->state) {
        float *sg = malloc(sizeof(float) * (sn + N_CANARY)), *sw = malloc(sizeof(float) * sn);
        tu_download(rt, d_state, sg, sizeof(float) * (sn + N_CANARY));
        sb_ref_ema_state(delta, alpha, beta, D, N, tc->trunc, B, start, tc->lens, x, sw);
        for (size_t i = 0; i < N_CANARY; i++)
            ck_assert_msg(sg[sn + i] == CANARY, "%s: state canary %zu overwritten", name, i);
        snprintf(what, sizeof what, "%s state", name);
        check_scaled(sg, sw, sn, what);
        free(sg);
        free(sw);
        clReleaseMemObject(d_state);
    }
    clReleaseMemObject(d_x);
    clReleaseMemObject(d_mx);
    clReleaseMemObject(d_coef);
    clReleaseMemObject(d_scr);
    free(start);
    free(delta);
    free(alpha);
    free(beta);
    free(gamma);
    free(omega);
    free(coef);
    free(x);
    free(want);
    free(got);
    sb_rt_free(rt);
}

/* Ragged lengths: 1, around the chunk size (64), and long (many chunks). */
static const int LENS[] = {1, 1000, 63, 64, 65, 130, 7, 2};
#define N_LENS ((int)(sizeof LENS / sizeof LENS[0]))
static const int LENS_SLOW[] = {2000, 129, 1, 300};

START_TEST(causal_full) {
    ema_case c = {5, 4, 0, 0, N_LENS, LENS, 0, 1, 11};
    run_case(&c, "causal D5 N4 T0");
}
END_TEST

START_TEST(causal_trunc3) {
    ema_case c = {17, 16, 0, 3, N_LENS, LENS, 0, 1, 21};
    run_case(&c, "causal D17 N16 T3");
}
END_TEST

START_TEST(causal_trunc100) {
    ema_case c = {5, 1, 0, 100, N_LENS, LENS, 0, 1, 31};
    run_case(&c, "causal D5 N1 T100");
}
END_TEST

START_TEST(causal_trunc_beyond) {
    ema_case c = {17, 4, 0, 5000, N_LENS, LENS, 0, 1, 41};
    run_case(&c, "causal D17 N4 T5000");
}
END_TEST

START_TEST(causal_wide) {
    static const int lens[] = {300, 77};
    ema_case c = {130, 2, 0, 0, 2, lens, 0, 1, 51};
    run_case(&c, "causal D130 N2 T0");
    ema_case c2 = {130, 2, 0, 64, 2, lens, 0, 1, 52};
    run_case(&c2, "causal D130 N2 T64");
}
END_TEST

START_TEST(bidir_full) {
    ema_case c = {17, 16, 1, 0, N_LENS, LENS, 0, 0, 61};
    run_case(&c, "bidir D17 N16 T0");
}
END_TEST

START_TEST(bidir_trunc3) {
    ema_case c = {5, 4, 1, 3, N_LENS, LENS, 0, 0, 71};
    run_case(&c, "bidir D5 N4 T3");
}
END_TEST

START_TEST(bidir_trunc70) {
    ema_case c = {17, 1, 1, 70, N_LENS, LENS, 0, 0, 81};
    run_case(&c, "bidir D17 N1 T70");
}
END_TEST

START_TEST(slow_decay) {
    ema_case c = {5, 4, 0, 0, 4, LENS_SLOW, 1, 1, 91};
    run_case(&c, "slow causal D5 N4 T0");
    ema_case c2 = {5, 16, 0, 500, 4, LENS_SLOW, 1, 1, 92};
    run_case(&c2, "slow causal D5 N16 T500");
    ema_case c3 = {3, 4, 1, 0, 4, LENS_SLOW, 1, 0, 93};
    run_case(&c3, "slow bidir D3 N4 T0");
    ema_case c4 = {3, 4, 1, 3, 4, LENS_SLOW, 1, 0, 94};
    run_case(&c4, "slow bidir D3 N4 T3");
}
END_TEST

/* A sequence split in two calls: the second starts from the first one's
 * final state (sb_op_ema_ex state_in, the same buffer as its state_out) and
 * must give what one call over the whole sequence gives. Both kernels. */
static void run_continue(const char *variant, int D, int N, int L, int L1, uint32_t seed) {
    sb_rt *rt = tu_rt();
    set_variant(rt, variant);
    const size_t kn = (size_t)D * N, xn = (size_t)L * D;
    float *delta = malloc(sizeof(float) * kn), *alpha = malloc(sizeof(float) * kn);
    float *beta = malloc(sizeof(float) * kn), *gamma = malloc(sizeof(float) * kn);
    float *omega = malloc(sizeof(float) * D), *coef = malloc(sizeof(float) * (3 * kn + D));
    float *x = malloc(sizeof(float) * xn), *want = malloc(sizeof(float) * xn);
    float *got = malloc(sizeof(float) * xn), *sw = malloc(sizeof(float) * kn);
    float *sg = malloc(sizeof(float) * kn);
    fill_normal(delta, kn, seed + 1, -2.0f, 1.0f);
    fill_normal(alpha, kn, seed + 2, -2.0f, 1.0f);
    fill_normal(beta, kn, seed + 3, 0.0f, 1.0f);
    fill_normal(gamma, kn, seed + 4, 0.0f, 1.0f);
    fill_normal(omega, D, seed + 5, 0.0f, 1.0f);
    fill_normal(x, xn, seed + 7, 0.3f, 1.0f);
    sb_ema_coef_host(delta, alpha, beta, gamma, D, N, coef);
    memcpy(coef + 3 * kn, omega, sizeof(float) * D);
    cl_mem d_x = tu_upload(rt, x, sizeof(float) * xn);
    cl_mem d_mx = tu_alloc(rt, sizeof(float) * xn);
    cl_mem d_coef = tu_upload(rt, coef, sizeof(float) * (3 * kn + D));
    cl_mem d_state = tu_alloc(rt, sizeof(float) * kn);
    sb_ema_coef p = {sb_view(d_coef, 0, sb_f32(3 * kn)), sb_view(d_coef, sb_f32(3 * kn), sb_f32(D)),
                     D, N, 0, 0};
    const size_t sbytes = sb_op_ema_scratch_bytes(&p, 1, L);
    ck_assert_uint_gt(sbytes, 0);
    cl_mem d_scr = tu_alloc(rt, sbytes);
    const int starts[2] = {0, 0}, lens[2] = {L1, L - L1};
    sb_seqs s1 = {1, &starts[0], &lens[0], L1, L1, sb_view_none(), sb_view_none()};
    sb_seqs s2 = {1, &starts[1], &lens[1], L - L1, L - L1, sb_view_none(), sb_view_none()};
    const sb_buf none = sb_view_none(), st = sb_view_all(d_state), scr = sb_view_all(d_scr);
    const size_t h1 = sb_f32((size_t)L1 * D); /* bytes of the first part's rows */
    TU_OK(sb_op_ema_ex(rt, &s1, &p, sb_view(d_x, 0, h1), sb_view(d_mx, 0, h1), scr, none, st, &tu_err));
    TU_OK(sb_op_ema_ex(rt, &s2, &p, sb_skip(sb_view_all(d_x), h1), sb_skip(sb_view_all(d_mx), h1), scr,
                       st, st, &tu_err));
    tu_download(rt, d_mx, got, sizeof(float) * xn);
    tu_download(rt, d_state, sg, sizeof(float) * kn);
    const int start0 = 0;
    sb_ref_ema(delta, alpha, beta, gamma, omega, D, N, 0, 0, 1, &start0, &L, x, want);
    sb_ref_ema_state(delta, alpha, beta, D, N, 0, 1, &start0, &L, x, sw);
    char what[96];
    snprintf(what, sizeof what, "continued D%d N%d %d+%d mx [%s]", D, N, L1, L - L1, variant);
    check_scaled(got, want, xn, what);
    snprintf(what, sizeof what, "continued D%d N%d %d+%d state [%s]", D, N, L1, L - L1, variant);
    check_scaled(sg, sw, kn, what);
    clReleaseMemObject(d_x);
    clReleaseMemObject(d_mx);
    clReleaseMemObject(d_coef);
    clReleaseMemObject(d_state);
    clReleaseMemObject(d_scr);
    free(delta);
    free(alpha);
    free(beta);
    free(gamma);
    free(omega);
    free(coef);
    free(x);
    free(want);
    free(got);
    free(sw);
    free(sg);
    sb_rt_free(rt);
}

START_TEST(continue_state) {
    run_continue("scan", 13, 5, 300, 129, 101);
    run_continue("seq", 13, 5, 300, 129, 101);
    run_continue("seq", 24, 16, 200, 37, 102);
    run_continue("seq:1", 24, 16, 200, 37, 102);
}
END_TEST

/* Argument errors: state_out with bidir, x/mx overlap, small scratch. */
START_TEST(bad_args) {
    sb_rt *rt = tu_rt();
    const int D = 3, N = 2, lens[] = {5}, start[] = {0};
    cl_mem buf = tu_alloc(rt, 4096);
    cl_mem big = tu_alloc(rt, 1 << 16);
    sb_ema_coef p = {sb_view_all(buf), sb_view_all(buf), D, N, 1, 0};
    sb_seqs seqs = {1, start, lens, 5, 5, sb_view_none(), sb_view_none()};
    sb_err e;
    sb_status s = sb_op_ema(rt, &seqs, &p, sb_view_all(buf), sb_skip(sb_view_all(buf), 1024), sb_view_all(big),
                            sb_skip(sb_view_all(buf), 2048), &e);
    ck_assert_int_eq(s, SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "causal"));
    p.bidir = 0;
    s = sb_op_ema(rt, &seqs, &p, sb_view_all(buf), sb_skip(sb_view_all(buf), 20), sb_view_all(big),
                  sb_view_none(), &e);
    ck_assert_int_eq(s, SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "overlap"));
    s = sb_op_ema(rt, &seqs, &p, sb_view_all(buf), sb_skip(sb_view_all(buf), 1024), sb_skip(sb_view_all(buf), 4076),
                  sb_view_none(), &e);
    ck_assert_int_eq(s, SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "scratch"));
    clReleaseMemObject(buf);
    clReleaseMemObject(big);
    sb_rt_free(rt);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ema");
    TCase *t = tcase_create("ema");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, causal_full);
    tcase_add_test(t, causal_trunc3);
    tcase_add_test(t, causal_trunc100);
    tcase_add_test(t, causal_trunc_beyond);
    tcase_add_test(t, causal_wide);
    tcase_add_test(t, bidir_full);
    tcase_add_test(t, bidir_trunc3);
    tcase_add_test(t, bidir_trunc70);
    tcase_add_test(t, slow_decay);
    tcase_add_test(t, continue_state);
    tcase_add_test(t, bad_args);
    suite_add_tcase(s, t);
    return tu_run(s);
}
