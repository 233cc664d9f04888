/* test_gau_step.c - one token of a causal layer (cl/gau_step.cl through
 * runtime/ops/gau_step.c) against its plain-C twin (tests/ref/ref_gau_step.c):
 * gau_step in one work-group and split over gau_proj / gau_attn /
 * gau_combine, relu2 / softmax x simple / rotary, odd sizes, a ring that
 * wraps, activated and skipped tokens, projections stored as f32, f16, bf16
 * and int8, plus its refusals. Stream against the
 * full forward: test_stream.c. */
#include <stdlib.h>
#include <string.h>
#include "../runtime/ops/gau_step.h"
#include "../runtime/wtype.h"
#include "ref/ref_gau_step.h"
#include "testutil.h"

static float *fmalloc(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

/* W [n][k] stored as wt and transposed ([k][n], int8: the n scales after the
 * codes), as the streaming step reads it, into a new device buffer; dec gets
 * the weights as the kernels see them (decoded, for the plain-C twin; f32:
 * W itself). */
static cl_mem upload_t_wt(sb_rt *rt, int wt, const float *w, size_t n, size_t k, float *dec, size_t *bytes) {
    const sb_wtype t = (sb_wtype)wt;
    const size_t es = sb_wt_elem(t), nb = sb_wt_bytes(t, n * k, n);
    unsigned char *enc = malloc(nb), *tr = malloc(nb);
    ck_assert_ptr_nonnull(enc);
    ck_assert_ptr_nonnull(tr);
    sb_wt_encode(t, w, n, k, enc);
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < k; i++) memcpy(tr + (i * n + j) * es, enc + (j * k + i) * es, es);
    if (t == SB_WT_I8) memcpy(tr + n * k, enc + n * k, nb - n * k);
    for (size_t i = 0; i < n * k; i++) dec[i] = sb_wt_decode(t, enc, n, k, i);
    cl_mem m = tu_upload(rt, tr, nb);
    *bytes = nb;
    free(enc);
    free(tr);
    return m;
}

/* gau_step over `steps` tokens (activated when step % 3 != 1) on a ring that
 * starts part full at head 2 and wraps: x after every token, the ring and its
 * device state at the end, against sb_ref_gau_step on the weights as the
 * kernels read them. decode: rt->tune.decode, gau_step in one work-group
 * (SB_TUNE_WG) or split over gau_proj / gau_attn / gau_combine
 * (SB_TUNE_SPLIT); wt: the projections' storage (sb_wtype: f32, f16, bf16,
 * int8). */
static void run_gau_step_as(int decode, int wt, int softmax, int rotary, int Z, int steps, uint32_t seed) {
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
    float *hx_d = fmalloc((size_t)(D + 2) * D), *mx_d = fmalloc((size_t)ld * D), *h_d = fmalloc((size_t)D * H);
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
    /* the projections transposed for the kernel, in their storage type */
    size_t bhx, bmx, bh;
    cl_mem m_hx = upload_t_wt(rt, wt, hx_w, D + 2, D, hx_d, &bhx);
    cl_mem m_mx = upload_t_wt(rt, wt, mx_w, ld, D, mx_d, &bmx);
    cl_mem m_h = upload_t_wt(rt, wt, h_w, D, H, h_d, &bh);
    if (wt == SB_WT_F32) /* stored as they are: the twin reads W itself */
        ck_assert(memcmp(mx_d, mx_w, sizeof(float) * (size_t)ld * D) == 0);
    cl_mem m_hxb = tu_upload(rt, hx_b, sb_f32(D + 2)), m_mxb = tu_upload(rt, mx_b, sb_f32(ld));
    cl_mem m_hb = tu_upload(rt, h_b, sb_f32(D));
    cl_mem m_g = tu_upload(rt, gam, sb_f32(2 * (size_t)Z)), m_b = tu_upload(rt, bet, sb_f32(2 * (size_t)Z));
    cl_mem m_rel = tu_upload(rt, rel, sb_f32(2 * (size_t)P - 1));
    cl_mem m_kr = tu_upload(rt, kr, sb_f32((size_t)cap * Z)), m_vr = tu_upload(rt, vr, sb_f32((size_t)cap * H));
    cl_mem m_pr = tu_upload(rt, pr, sb_i32(cap)), m_rs = tu_upload(rt, rs, sb_i32(3));
    cl_mem m_in = tu_alloc(rt, sb_f32(D)), m_x = tu_upload(rt, x, sb_f32(D));
    cl_mem m_hxu = tu_alloc(rt, sb_f32(D + 2)), m_s = tu_alloc(rt, sb_f32(ld)), m_ao = tu_alloc(rt, sb_f32(H));
    cl_mem m_go = tu_alloc(rt, sb_f32(D));
    const sb_gau_w w = {sb_view(m_hx, 0, bhx), sb_view_all(m_hxb), sb_view(m_mx, 0, bmx), sb_view_all(m_mxb),
                        sb_view(m_h, 0, bh), sb_view_all(m_hb), sb_view_all(m_g), sb_view_all(m_b),
                        sb_view_all(m_rel), wt};
    const sb_gau_work work = {sb_view_all(m_hxu), sb_view_all(m_s), sb_view_all(m_ao), sb_view_all(m_go)};
    sb_attn_ring ring;
    memset(&ring, 0, sizeof ring);
    ring.k = sb_view_all(m_kr);
    ring.v = sb_view_all(m_vr);
    ring.pos = sb_view(m_pr, 0, sb_i32(cap));
    ring.cap = cap;
    const sb_buf vrs = sb_view(m_rs, 0, sb_i32(3)), vin = sb_view_all(m_in), vx = sb_view_all(m_x);
    char what[160];
    for (int t = 0; t < steps; t++) {
        const int act = t % 3 != 1, pos = 10 + 2 * t;
        hx_b[0] = act ? -0.75f : 0.75f; /* u1 - u0 = -hx_b[0] + hx_b[1] */
        hx_b[1] = 0.0f;
        TU_OK(sb_rt_write(rt, m_hxb, 0, sb_f32(2), hx_b, &tu_err));
        tu_fill(mx, D, seed + 100 + (uint32_t)t, -1.0f, 1.0f);
        TU_OK(sb_rt_write(rt, m_in, 0, sb_f32(D), mx, &tu_err));
        TU_OK(sb_op_gau_step(rt, &c, D, temp, &w, &ring, vrs, pos, vin, &work, vx, &tu_err));
        sb_ref_gau_step(&c, D, temp, hx_d, hx_b, mx_d, mx_b, h_d, h_b, gam, bet, rel, cap, rs, kr, vr,
                        pr, pos, mx, x);
        snprintf(what, sizeof what, "gau_step %s%s softmax=%d rotary=%d Z=%d t=%d act=%d",
                 sb_wt_name((sb_wtype)wt), decode == SB_TUNE_SPLIT ? " (split)" : "", softmax, rotary, Z,
                 t, act);
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
    /* refusals: bidirectional, a short x, a short ring state, a weight
     * shorter than its type needs */
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
    sb_gau_w shortw = w;
    shortw.mx_wt = sb_view(m_mx, 0, bmx - 4);
    ck_assert_int_eq(sb_op_gau_step(rt, &c, D, temp, &shortw, &ring, vrs, 0, vin, &work, vx, &tu_err),
                     SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "mx_wt"));
    cl_mem all[] = {m_hx, m_hxb, m_mx, m_mxb, m_h, m_hb, m_g, m_b, m_rel, m_kr, m_vr, m_pr, m_rs,
                    m_in, m_x, m_hxu, m_s, m_ao, m_go};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clReleaseMemObject(all[i]);
    free(hx_w), free(hx_b), free(mx_w), free(mx_b), free(h_w), free(h_b), free(gam), free(bet);
    free(rel), free(mx), free(x), free(got), free(kr), free(vr), free(hx_d), free(mx_d), free(h_d);
    sb_rt_free(rt);
}

static void run_gau_step(int softmax, int rotary, int Z, int steps, uint32_t seed) {
    run_gau_step_as(SB_TUNE_WG, SB_WT_F32, softmax, rotary, Z, steps, seed);
}
START_TEST(test_gau_split_relu2_simple) { run_gau_step_as(SB_TUNE_SPLIT, SB_WT_F32, 0, 0, 7, 11, 21); }
END_TEST
START_TEST(test_gau_split_softmax_rotary) { run_gau_step_as(SB_TUNE_SPLIT, SB_WT_F32, 1, 1, 6, 12, 24); }
END_TEST
START_TEST(test_gau_step_relu2_simple) { run_gau_step(0, 0, 7, 11, 21); }
END_TEST
START_TEST(test_gau_step_relu2_rotary) { run_gau_step(0, 1, 6, 11, 22); }
END_TEST
START_TEST(test_gau_step_softmax_simple) { run_gau_step(1, 0, 7, 11, 23); }
END_TEST
START_TEST(test_gau_step_softmax_rotary) { run_gau_step(1, 1, 6, 12, 24); }
END_TEST
/* projections stored as f16 / bf16 / int8 (runtime/wtype.h) */
START_TEST(test_gau_wt) {
    for (int wt = SB_WT_F16; wt <= SB_WT_I8; wt++)
        run_gau_step_as(SB_TUNE_WG, wt, wt != SB_WT_BF16, wt == SB_WT_F16, 7, 8, 31 + (uint32_t)wt);
}
END_TEST
START_TEST(test_gau_wt_split) {
    for (int wt = SB_WT_F16; wt <= SB_WT_I8; wt++)
        run_gau_step_as(SB_TUNE_SPLIT, wt, wt == SB_WT_BF16, wt == SB_WT_I8, 7, 8, 41 + (uint32_t)wt);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gau_step");
    TCase *k = tcase_create("kernels");
    tcase_set_timeout(k, 600); /* rusticl, Oclgrind: a program per storage type */
    tcase_add_test(k, test_gau_step_relu2_simple);
    tcase_add_test(k, test_gau_step_relu2_rotary);
    tcase_add_test(k, test_gau_step_softmax_simple);
    tcase_add_test(k, test_gau_step_softmax_rotary);
    tcase_add_test(k, test_gau_split_relu2_simple);
    tcase_add_test(k, test_gau_split_softmax_rotary);
    tcase_add_test(k, test_gau_wt);
    tcase_add_test(k, test_gau_wt_split);
    suite_add_tcase(s, k);
    return tu_run(s);
}
