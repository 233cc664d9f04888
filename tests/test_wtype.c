/* test_wtype.c - weight storage types (runtime/wtype.h): the plain-C
 * conversions (f16 and bf16 round to nearest even, subnormals, inf, NaN;
 * int8 per-channel scales), then the products of cl/linear.cl reading f16,
 * bf16 and int8 weights on every variant against the plain-C twin
 * (sb_ref_linear_wt), the stored weight read back as stored, and the
 * embedding from a stored table. The streaming layer step (gau_step) with
 * such weights: test_gau_step.c. */
#include <string.h>
#include "../runtime/ops/embed_wt.h"
#include "../runtime/ops/linear.h"
#include "../runtime/wtype.h"
#include "ref/ref_linear.h"
#include "testutil.h"

static float f_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int is_nan16(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff); }

START_TEST(test_f16_convert) {
    /* every half decodes and encodes back to itself (NaN: to a NaN) */
    for (uint32_t h = 0; h < 65536; h++) {
        const uint16_t r = sb_f32_to_f16(sb_f16_to_f32((uint16_t)h));
        if (is_nan16((uint16_t)h)) ck_assert_msg(is_nan16(r), "NaN %04x -> %04x", h, r);
        else ck_assert_msg(r == h, "half %04x -> %f -> %04x", h, sb_f16_to_f32((uint16_t)h), r);
    }
    ck_assert_uint_eq(sb_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(sb_f32_to_f16(-2.0f), 0xc000);
    ck_assert_uint_eq(sb_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(sb_f32_to_f16(65519.996f), 0x7bff);
    ck_assert_uint_eq(sb_f32_to_f16(65520.0f), 0x7c00); /* the tie goes to even: inf */
    ck_assert_uint_eq(sb_f32_to_f16(1e30f), 0x7c00);
    ck_assert_uint_eq(sb_f32_to_f16(-INFINITY), 0xfc00);
    ck_assert(is_nan16(sb_f32_to_f16(NAN)));
    ck_assert(is_nan16(sb_f32_to_f16(f_of(0x7f800001u)))); /* a low payload stays NaN */
    ck_assert_uint_eq(sb_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);      /* tie: even */
    ck_assert_uint_eq(sb_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);  /* tie: even */
    ck_assert_uint_eq(sb_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    ck_assert_uint_eq(sb_f32_to_f16(0x1p-14f), 0x0400);  /* smallest normal */
    ck_assert_uint_eq(sb_f32_to_f16(0x1p-24f), 0x0001);  /* smallest subnormal */
    ck_assert_uint_eq(sb_f32_to_f16(0x1p-25f), 0x0000);  /* tie: even (zero) */
    ck_assert_uint_eq(sb_f32_to_f16(0x1.8p-24f), 0x0002); /* tie: even */
    ck_assert_uint_eq(sb_f32_to_f16(0x1.04p-25f), 0x0001);
    ck_assert_uint_eq(sb_f32_to_f16(-0x1p-30f), 0x8000);
    ck_assert_uint_eq(sb_f32_to_f16(f_of(1)), 0x0000);    /* a float subnormal */
    ck_assert_uint_eq(sb_f32_to_f16(0x1.ffcp-15f), 0x0400); /* rounds up into the normals */
    /* random floats: the nearest half, neither neighbour nearer */
    uint32_t s = 12345;
    for (int i = 0; i < 200000; i++) {
        s = s * 1664525u + 1013904223u;
        const float f = f_of((s & 0x8fffffffu) | 0x30000000u); /* |f| about 2^-31 .. 2^32 */
        if (fabsf(f) >= 65520.0f) continue;
        const uint16_t h = sb_f32_to_f16(f);
        const double d = fabs((double)sb_f16_to_f32(h) - f);
        const uint16_t mag = h & 0x7fff;
        if (mag < 0x7bff) ck_assert(d <= fabs((double)sb_f16_to_f32((uint16_t)(h + 1)) - f));
        if (mag > 0) ck_assert(d <= fabs((double)sb_f16_to_f32((uint16_t)(h - 1)) - f));
    }
}
END_TEST

START_TEST(test_bf16_convert) {
    for (uint32_t b = 0; b < 65536; b++) {
        const uint16_t r = sb_f32_to_bf16(sb_bf16_to_f32((uint16_t)b));
        if ((b & 0x7f80) == 0x7f80 && (b & 0x7f)) ck_assert((r & 0x7f80) == 0x7f80 && (r & 0x7f));
        else ck_assert_msg(r == b, "bf16 %04x -> %04x", b, r);
    }
    ck_assert_uint_eq(sb_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(sb_f32_to_bf16(f_of(0x3f808000u)), 0x3f80); /* tie: even */
    ck_assert_uint_eq(sb_f32_to_bf16(f_of(0x3f818000u)), 0x3f82); /* tie: even */
    ck_assert_uint_eq(sb_f32_to_bf16(f_of(0x3f808001u)), 0x3f81);
    ck_assert_uint_eq(sb_f32_to_bf16(f_of(0x7f7fffffu)), 0x7f80); /* max float: inf */
    ck_assert_uint_eq(sb_f32_to_bf16(-INFINITY), 0xff80);
    ck_assert_uint_eq(sb_f32_to_bf16(f_of(0x00000001u)), 0x0000); /* subnormal */
    ck_assert_uint_eq(sb_f32_to_bf16(f_of(0x00018000u)), 0x0002); /* subnormal tie: even */
    const uint16_t n = sb_f32_to_bf16(f_of(0x7f800001u)); /* signalling NaN, low payload */
    ck_assert((n & 0x7f80) == 0x7f80 && (n & 0x7f));
}
END_TEST

START_TEST(test_int8_encode) {
    const size_t n = 3, k = 5;
    const float w[15] = {1, -2, 0.5f, 0.25f, 0, 0, 0, 0, 0, 0, -0.1f, 0.05f, 0.0999f, 0.02f, 0.1f};
    unsigned char buf[256];
    ck_assert_uint_eq(sb_wt_bytes(SB_WT_I8, n * k, n), 64 + 12);
    sb_wt_encode(SB_WT_I8, w, n, k, buf);
    ck_assert_float_eq(sb_wt_scale(SB_WT_I8, buf, n, k, 0), 2.0f / 127.0f);
    ck_assert_float_eq(sb_wt_scale(SB_WT_I8, buf, n, k, 1), 0.0f); /* a zero row */
    ck_assert_float_eq(sb_wt_code(SB_WT_I8, buf, 1), -127.0f);
    ck_assert_float_eq(sb_wt_code(SB_WT_I8, buf, 0), 64.0f); /* 63.5 away from zero */
    for (size_t i = 0; i < n * k; i++) {
        const float sc = sb_wt_scale(SB_WT_I8, buf, n, k, i / k);
        ck_assert(fabsf(sb_wt_decode(SB_WT_I8, buf, n, k, i) - w[i]) <= 0.5f * sc + 1e-7f);
        ck_assert(fabsf(sb_wt_code(SB_WT_I8, buf, i)) <= 127.0f);
    }
    for (size_t i = n * k; i < 64; i++) ck_assert_uint_eq(buf[i], 0); /* the padding */
}
END_TEST

static const size_t shapes[][3] = {{1, 1, 1}, {37, 129, 65}, {7, 18, 16}, {5, 3, 300}, {13, 1, 7}, {2, 40, 17}};

static void check_wt(sb_rt *rt, int wt, size_t m, size_t n, size_t k, int with_bias, int act, uint32_t seed) {
    const size_t lda = k + 3, ldc = n + 2, aoff = 5, coff = 11, canary = 16;
    const size_t asz = aoff + m * lda, csz = coff + m * ldc + canary;
    const size_t wb = sb_wt_bytes((sb_wtype)wt, n * k, n);
    float *a = malloc(asz * 4), *w = malloc(n * k * 4), *bias = malloc(n * 4), *c = malloc(csz * 4),
          *want = malloc(csz * 4);
    unsigned char *enc = malloc(wb), *back = malloc(wb);
    tu_fill(a, asz, seed, -1, 1);
    tu_fill(w, n * k, seed + 1, -1, 1);
    tu_fill(bias, n, seed + 2, -1, 1);
    tu_fill(c, csz, seed + 3, -1, 1);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) c[coff + i * ldc + j] = NAN;
    memcpy(want, c, csz * 4);
    sb_wt_encode((sb_wtype)wt, w, n, k, enc);
    cl_mem da = tu_upload(rt, a, asz * 4), db = tu_upload(rt, bias, n * 4), dc = tu_upload(rt, c, csz * 4);
    cl_mem dw = NULL;
    sb_linear_w lw;
    TU_OK(sb_linear_upload(rt, wt, w, with_bias ? db : NULL, (int)n, (int)k, &dw, &lw, &tu_err));
    ck_assert_int_eq(lw.wt, wt);
    sb_buf ab = sb_skip(sb_view_all(da), aoff * 4), cb = sb_skip(sb_view_all(dc), coff * 4);
    TU_OK(sb_op_linear(rt, m, ab, lda, &lw, act, cb, ldc, &tu_err));
    tu_download(rt, dc, c, csz * 4);
    sb_ref_linear_wt(wt, m, n, k, a + aoff, lda, enc, with_bias ? bias : NULL, act, want + coff, ldc);
    char what[160], ps[64];
    sb_linear_params_string(&rt->lin, ps, sizeof ps);
    snprintf(what, sizeof what, "linear %s %s %zux%zux%zu bias=%d act=%d", sb_wt_name((sb_wtype)wt), ps,
             m, n, k, with_bias, act);
    /* int8: sums of codes up to 127 */
    const float sc = wt == SB_WT_I8 ? 127.0f * 2.0f / 127.0f : 1.0f;
    tu_check_close(c, want, csz, 1e-4f, (1e-5f * (float)k + 1e-5f) * sc, what);
    /* as stored, also from the panels once w is gone */
    memset(back, 0xee, wb);
    TU_OK(sb_linear_read_raw(rt, &lw, back, &tu_err));
    ck_assert_msg(memcmp(back, enc, wb) == 0, "%s: read back as stored", what);
    if (lw.packed) {
        sb_linear_w only = lw;
        only.w = NULL;
        memset(back, 0xee, wb);
        TU_OK(sb_linear_read_raw(rt, &only, back, &tu_err));
        ck_assert_msg(memcmp(back, enc, wb) == 0, "%s: unpacked from the panels", what);
    }
    sb_linear_release(&lw);
    clReleaseMemObject(dw);
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    free(a), free(w), free(bias), free(c), free(want), free(enc), free(back);
}

static void check_variant(const char *spec) {
    sb_rt *rt = tu_rt();
    if (spec) TU_OK(sb_linear_params_parse(spec, &rt->dev, &rt->lin, &tu_err));
    uint32_t seed = 3;
    for (int wt = SB_WT_F16; wt <= SB_WT_I8; wt++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int v = 0; v < 3; v++)
                check_wt(rt, wt, shapes[s][0], shapes[s][1], shapes[s][2], v != 0, v == 2, seed += 4);
    sb_rt_free(rt);
}

START_TEST(test_wt_reg) { check_variant("reg"); }
END_TEST
START_TEST(test_wt_reg_scalar) { check_variant("reg:1,1,1"); }
END_TEST
START_TEST(test_wt_reg_odd) { check_variant("reg:5,4,3"); }
END_TEST
START_TEST(test_wt_lds) { check_variant("lds:8,12,5,2,3"); }
END_TEST
START_TEST(test_wt_clblast) { check_variant("clblast"); } /* half weights: the LDS kernel */
END_TEST

/* The product in f16 / bf16 / int8 against the f32 product of the unrounded
 * weights: within the error the storage type brings (a unit roundoff of
 * 2^-11, 2^-8; int8 half a step of max|w|/127 per weight). */
START_TEST(test_wt_vs_f32) {
    sb_rt *rt = tu_rt();
    const size_t m = 9, n = 70, k = 96;
    float *a = malloc(m * k * 4), *w = malloc(n * k * 4), *c = malloc(m * n * 4), *want = malloc(m * n * 4);
    tu_fill(a, m * k, 5, -1, 1);
    tu_fill(w, n * k, 6, -1, 1);
    sb_ref_linear(m, n, k, a, k, w, NULL, 0, want, n);
    cl_mem da = tu_upload(rt, a, m * k * 4), dc = tu_alloc(rt, m * n * 4);
    const float u[] = {0, 0x1p-11f, 0x1p-8f, 0.5f / 127.0f};
    for (int wt = SB_WT_F16; wt <= SB_WT_I8; wt++) {
        cl_mem dw = NULL;
        sb_linear_w lw;
        TU_OK(sb_linear_upload(rt, wt, w, NULL, (int)n, (int)k, &dw, &lw, &tu_err));
        TU_OK(sb_op_linear(rt, m, sb_view_all(da), k, &lw, 0, sb_view_all(dc), n, &tu_err));
        tu_download(rt, dc, c, m * n * 4);
        /* sum |a||w| u bounds the error; |a|,|w| < 1: k u */
        for (size_t i = 0; i < m * n; i++)
            ck_assert_msg(fabsf(c[i] - want[i]) <= (float)k * u[wt] + 1e-4f, "%s: %g vs %g",
                          sb_wt_name((sb_wtype)wt), c[i], want[i]);
        sb_linear_release(&lw);
        clReleaseMemObject(dw);
    }
    clReleaseMemObject(da);
    clReleaseMemObject(dc);
    free(a), free(w), free(c), free(want);
    sb_rt_free(rt);
}
END_TEST

/* The embedding from a stored table (embed_wt, embed_row_wt) against the
 * decoded table (sb_wt_decode, the plain-C twin); ids out of range refused. */
START_TEST(test_embed_wt) {
    sb_rt *rt = tu_rt();
    const int V = 23, D = 37, T = 9;
    float *tab = malloc(sizeof(float) * V * D), *want = malloc(sizeof(float) * T * D), *got = malloc(sizeof(float) * T * D);
    int32_t ids[9] = {0, 22, 5, 5, 17, 1, 22, 9, 3};
    tu_fill(tab, (size_t)V * D, 91, -2, 2);
    cl_mem dids = tu_upload(rt, ids, sizeof ids);
    sb_buf yb;
    cl_mem dy = tu_up_guarded(rt, NULL, (size_t)T * D, 5, &yb);
    for (int wt = SB_WT_F16; wt <= SB_WT_I8; wt++) {
        const size_t nb = sb_wt_bytes((sb_wtype)wt, (size_t)V * D, V);
        unsigned char *enc = malloc(nb);
        sb_wt_encode((sb_wtype)wt, tab, V, D, enc);
        cl_mem dt = tu_upload(rt, enc, nb);
        TU_OK(sb_op_embed_wt(rt, wt, T, D, V, sb_view(dids, 0, sizeof ids), dt, yb, &tu_err));
        tu_down_guarded(rt, dy, got, (size_t)T * D, 5, "embed_wt");
        for (int t = 0; t < T; t++)
            for (int c = 0; c < D; c++)
                want[t * D + c] = sb_wt_decode((sb_wtype)wt, enc, V, D, (size_t)ids[t] * D + c);
        tu_check_close(got, want, (size_t)T * D, 1e-6f, 0, sb_wt_name((sb_wtype)wt));
        TU_OK(sb_op_embed_row_wt(rt, wt, D, V, 22, dt, yb, &tu_err));
        tu_down_guarded(rt, dy, got, (size_t)T * D, 5, "embed_row_wt");
        tu_check_close(got, want + D, (size_t)D, 1e-6f, 0, "embed_row_wt");
        ck_assert_int_eq(sb_op_embed_row_wt(rt, wt, D, V, V, dt, yb, &tu_err), SB_ERR_ARG);
        ck_assert_int_eq(sb_op_embed_wt(rt, wt, T, D, V + 40, sb_view(dids, 0, sizeof ids), dt, yb, &tu_err),
                         SB_ERR_ARG); /* a table shorter than V rows */
        clReleaseMemObject(dt);
        free(enc);
    }
    clReleaseMemObject(dids);
    clReleaseMemObject(dy);
    free(tab), free(want), free(got);
    sb_rt_free(rt);
}
END_TEST

int main(void) {
    Suite *s = suite_create("wtype");
    TCase *t = tcase_create("wtype");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_f16_convert);
    tcase_add_test(t, test_bf16_convert);
    tcase_add_test(t, test_int8_encode);
    tcase_add_test(t, test_wt_reg);
    tcase_add_test(t, test_wt_lds);
    tcase_add_test(t, test_wt_vs_f32);
    tcase_add_test(t, test_embed_wt);
    suite_add_tcase(s, t);
    TCase *tl = tcase_create("large");
    tcase_set_tags(tl, "large");
    tcase_set_timeout(tl, 600);
    tcase_add_test(tl, test_wt_reg_scalar);
    tcase_add_test(tl, test_wt_reg_odd);
    tcase_add_test(tl, test_wt_clblast);
    suite_add_tcase(s, tl);
    return tu_run(s);
}
