/* test_gau_step.c - one token of a causal layer (cl/gau_step.cl through
 * runtime/ops/gau_step.c) against its plain-C twin (tests/ref/ref_gau_step.c):
 * gau_step in one work-group and split over gau_proj / gau_attn /
 * gau_combine, relu2 / softmax x simple / rotary, odd sizes, a ring that
 * wraps, activated and skipped tokens, plus its refusals. Stream against the
 * full forward: test_stream.c. */
#include <stdlib.h>
#include <string.h>
#include "../runtime/ops/gau_step.h"
#include "ref/ref_gau_step.h"
#include "testutil.h"

static float *fmalloc(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static sb_buf whole_view(cl_mem m, size_t floats) { return sb_view(m, 0, sb_f32(floats)); }

/* gau_step over `steps` tokens (activated when step % 3 != 1) on a ring that
 * starts part full at head 2 and wraps: x after every token, the ring and its
 * device state at the end, against sb_ref_gau_step. */
/* decode: rt->tune.decode, gau_step in one work-group (SB_TUNE_WG) or split
 * over gau_proj / gau_attn / gau_combine (SB_TUNE_SPLIT). */
static void run_gau_step_as(int decode, int softmax, int rotary, int Z, int steps, uint32_t seed) {
    sb_rt *rt = tu_rt();
    rt->tune.decode = decode;
    ck_assert_int_eq(sb_op_gau_step_split(rt), decode == SB_TUNE_SPLIT);
    const int D = 37, H = 19, W = 3, P = 16, cap = W + 1, ld = Z + 2 * H;
    const float temp = 0.3f;
    sb_attn_cfg c = {Z, H, W, 1, softmax, rotary, P};
    float *hx_w = fmalloc((size_t)(D + 2) * D), *hx_b = fmalloc(D + 2);
    float *mx_w = fmalloc((size_t)ld * D), *mx_b = fmalloc(ld), *h_w = fmalloc((size_t)D * H);
    float *h_b = fmalloc(D), *gam = fmalloc(2 * (size_t)Z), *bet = fmalloc(2 * (size_t)Z);
    float *rel = fmalloc(2 * (size_t)P - 1), *mx = fmalloc(D), *x = fmalloc(D), *got = fmalloc(D);
    float *kr = fmalloc((size_t)cap * Z), *vr = fmalloc((size_t)cap * H);
    int pr[8], rs[3] = {2, 2, 5};
    tu_fill(hx_w, (size_t)(D + 2) * D, seed, -0.3f, 0.3f);
    for (int i = 0; i < 2 * D; i++) hx_w[i] = 0.0f; /* u = the bias: the test decides the gate */
    tu_fill(hx_b, D + 2, seed + 1, -0.5f, 0.5f);
    tu_fill(mx_w, (size_t)ld * D, seed + 2, -0.3f, 0.3f);
    tu_fill(mx_b, ld, seed + 3, -0.3f, 0.3f);
    tu_fill(h_w, (size_t)D * H, seed + 4, -0.3f, 0.3f);
    tu_fill(h_b, D, seed + 5, -0.3f, 0.3f);
    tu_fill(gam, 2 * (size_t)Z, seed + 6, 0.5f, 1.5f);
    tu_fill(bet, 2 * (size_t)Z, seed + 7, -0.2f, 0.2f);
    tu_fill(rel, 2 * (size_t)P - 1, seed + 8, -0.5f, 0.5f);
    tu_fill(x, D, seed + 9, -1.0f, 1.0f);
    tu_fill(kr, (size_t)cap * Z, seed + 10, -1.0f, 1.0f);
    tu_fill(vr, (size_t)cap * H, seed + 11, -1.0f, 1.0f);
    for (int i = 0; i < cap; i++) pr[i] = 3 + i;
    /* transposed projections for the kernel */
    float *hx_t = fmalloc((size_t)(D + 2) * D), *mx_t = fmalloc((size_t)ld * D), *h_t = fmalloc((size_t)D * H);
    for (int j = 0; j < D + 2; j++)
        for (int i = 0; i < D; i++) hx_t[(size_t)i * (D + 2) + j] = hx_w[(size_t)j * D + i];
    for (int j = 0; j < ld; j++)
        for (int i = 0; i < D; i++) mx_t[(size_t)i * ld + j] = mx_w[(size_t)j * D + i];
    for (int j = 0; j < D; j++)
        for (int i = 0; i < H; i++) h_t[(size_t)i * D + j] = h_w[(size_t)j * H + i];
    cl_mem m_hx = tu_upload(rt, hx_t, sb_f32((size_t)(D + 2) * D)), m_hxb = tu_upload(rt, hx_b, sb_f32(D + 2));
    cl_mem m_mx = tu_upload(rt, mx_t, sb_f32((size_t)ld * D)), m_mxb = tu_upload(rt, mx_b, sb_f32(ld));
    cl_mem m_h = tu_upload(rt, h_t, sb_f32((size_t)D * H)), m_hb = tu_upload(rt, h_b, sb_f32(D));
    cl_mem m_g = tu_upload(rt, gam, sb_f32(2 * (size_t)Z)), m_b = tu_upload(rt, bet, sb_f32(2 * (size_t)Z));
    cl_mem m_rel = tu_upload(rt, rel, sb_f32(2 * (size_t)P - 1));
    cl_mem m_kr = tu_upload(rt, kr, sb_f32((size_t)cap * Z)), m_vr = tu_upload(rt, vr, sb_f32((size_t)cap * H));
    cl_mem m_pr = tu_upload(rt, pr, sb_i32(cap)), m_rs = tu_upload(rt, rs, sb_i32(3));
    cl_mem m_in = tu_alloc(rt, sb_f32(D)), m_x = tu_upload(rt, x, sb_f32(D));
    cl_mem m_hxu = tu_alloc(rt, sb_f32(D + 2)), m_s = tu_alloc(rt, sb_f32(ld)), m_ao = tu_alloc(rt, sb_f32(H));
    cl_mem m_go = tu_alloc(rt, sb_f32(D));
    const sb_gau_w w = {whole_view(m_hx, (size_t)(D + 2) * D), whole_view(m_hxb, D + 2),
                        whole_view(m_mx, (size_t)ld * D),      whole_view(m_mxb, ld),
                        whole_view(m_h, (size_t)D * H),        whole_view(m_hb, D),
                        whole_view(m_g, 2 * (size_t)Z),        whole_view(m_b, 2 * (size_t)Z),
                        whole_view(m_rel, 2 * (size_t)P - 1), 0};
    const sb_gau_work work = {whole_view(m_hxu, D + 2), whole_view(m_s, ld), whole_view(m_ao, H),
                              whole_view(m_go, D)};
    sb_attn_ring ring;
    memset(&ring, 0, sizeof ring);
    ring.k = whole_view(m_kr, (size_t)cap * Z);
    ring.v = whole_view(m_vr, (size_t)cap * H);
    ring.pos = sb_view(m_pr, 0, sb_i32(cap));
    ring.cap = cap;
    const sb_buf vrs = sb_view(m_rs, 0, sb_i32(3)), vin = whole_view(m_in, D), vx = whole_view(m_x, D);
    char what[160];
    for (int t = 0; t < steps; t++) {
        const int act = t % 3 != 1, pos = 10 + 2 * t;
        hx_b[0] = act ? -0.75f : 0.75f; /* u1 - u0 = -hx_b[0] + hx_b[1] */
        hx_b[1] = 0.0f;
        TU_OK(sb_rt_write(rt, m_hxb, 0, sb_f32(2), hx_b, &tu_err));
        tu_fill(mx, D, seed + 100 + (uint32_t)t, -1.0f, 1.0f);
        TU_OK(sb_rt_write(rt, m_in, 0, sb_f32(D), mx, &tu_err));
        TU_OK(sb_op_gau_step(rt, &c, D, temp, &w, &ring, vrs, pos, vin, &work, vx, &tu_err));
        sb_ref_gau_step(&c, D, temp, hx_w, hx_b, mx_w, mx_b, h_w, h_b, gam, bet, rel, cap, rs, kr, vr,
                        pr, pos, mx, x);
        snprintf(what, sizeof what, "gau_step%s softmax=%d rotary=%d Z=%d t=%d act=%d",
                 decode == SB_TUNE_SPLIT ? " (split)" : "", softmax, rotary, Z, t, act);
        tu_download(rt, m_x, got, sb_f32(D));
        tu_check_close(got, x, (size_t)D, 1e-4f, 2e-5f, what);
    }
    int drs[3], dpr[8];
    tu_download(rt, m_rs, drs, sb_i32(3));
    tu_download(rt, m_pr, dpr, sb_i32(cap));
    for (int i = 0; i < 3; i++) ck_assert_int_eq(drs[i], rs[i]);
    int n_act = 0;
    for (int t = 0; t < steps; t++) n_act += t % 3 != 1;
    ck_assert_int_eq(rs[2], 5 + n_act); /* the twin counted what the test decided */
    for (int i = 0; i < cap; i++) ck_assert_int_eq(dpr[i], pr[i]);
    float *dk = fmalloc((size_t)cap * Z), *dv = fmalloc((size_t)cap * H);
    tu_download(rt, m_kr, dk, sb_f32((size_t)cap * Z));
    tu_download(rt, m_vr, dv, sb_f32((size_t)cap * H));
    tu_check_close(dk, kr, (size_t)cap * Z, 1e-4f, 1e-5f, "gau_step ring keys");
    tu_check_close(dv, vr, (size_t)cap * H, 1e-4f, 1e-5f, "gau_step ring values");
    free(dk), free(dv);
    /* refusals: bidirectional, a short x, a short ring state */
    sb_attn_cfg bi = c;
    bi.causal = 0;
    ck_assert_int_eq(sb_op_gau_step(rt, &bi, D, temp, &w, &ring, vrs, 0, vin, &work, vx, &tu_err),
                     SB_ERR_STATE);
    ck_assert_int_eq(sb_op_gau_step(rt, &c, D, temp, &w, &ring, vrs, 0, vin, &work,
                                    sb_view(m_x, 0, sb_f32(D) - 4), &tu_err),
                     SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "x"));
    ck_assert_int_eq(sb_op_gau_step(rt, &c, D, temp, &w, &ring, sb_view(m_rs, 0, sb_i32(2)), 0, vin,
                                    &work, vx, &tu_err),
                     SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "ring state"));
    cl_mem all[] = {m_hx, m_hxb, m_mx, m_mxb, m_h, m_hb, m_g, m_b, m_rel, m_kr, m_vr, m_pr, m_rs,
                    m_in, m_x, m_hxu, m_s, m_ao, m_go};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clReleaseMemObject(all[i]);
    free(hx_w), free(hx_b), free(mx_w), free(mx_b), free(h_w), free(h_b), free(gam), free(bet);
    free(rel), free(mx), free(x), free(got), free(kr), free(vr), free(hx_t), free(mx_t), free(h_t);
    sb_rt_free(rt);
}

static void run_gau_step(int softmax, int rotary, int Z, int steps, uint32_t seed) {
    run_gau_step_as(SB_TUNE_WG, softmax, rotary, Z, steps, seed);
}
START_TEST(test_gau_split_relu2_simple) { run_gau_step_as(SB_TUNE_SPLIT, 0, 0, 7, 11, 21); }
END_TEST
START_TEST(test_gau_split_softmax_rotary) { run_gau_step_as(SB_TUNE_SPLIT, 1, 1, 6, 12, 24); }
END_TEST
START_TEST(test_gau_step_relu2_simple) { run_gau_step(0, 0, 7, 11, 21); }
END_TEST
START_TEST(test_gau_step_relu2_rotary) { run_gau_step(0, 1, 6, 11, 22); }
END_TEST
START_TEST(test_gau_step_softmax_simple) { run_gau_step(1, 0, 7, 11, 23); }
END_TEST
START_TEST(test_gau_step_softmax_rotary) { run_gau_step(1, 1, 6, 12, 24); }
END_TEST

int main(void) {
    Suite *s = suite_create("gau_step");
    TCase *k = tcase_create("kernels");
    tcase_add_test(k, test_gau_step_relu2_simple);
    tcase_add_test(k, test_gau_step_relu2_rotary);
    tcase_add_test(k, test_gau_step_softmax_simple);
    tcase_add_test(k, test_gau_step_softmax_rotary);
    tcase_add_test(k, test_gau_split_relu2_simple);
    tcase_add_test(k, test_gau_split_softmax_rotary);
    suite_add_tcase(s, k);
    return tu_run(s);
}
