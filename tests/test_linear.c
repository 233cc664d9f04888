/* test_linear.c - the own GEMM (cl/linear.cl, ops/linear.h) against the plain-C
 * reference: both variants with several tile settings, odd shapes (1x1x1,
 * sizes that are no multiple of any tile), bias / silu epilogue, leading
 * dimensions and offsets, canaries around C; the CLBlast fallback; bad
 * arguments and SEQBOAT_LINEAR parsing. Device-agnostic. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../runtime/linear_tune.h"
#include "../runtime/ops/linear.h"
#include "ref/ref_linear.h"
#include "testutil.h"

static const size_t shapes[][3] = {{1, 1, 1},   {1, 576, 128}, {37, 129, 65}, {7, 18, 16},
                                   {130, 514, 33}, {5, 3, 300}, {64, 64, 64}, {13, 1, 7},
                                   {2, 40, 17}};

static void check_one(sb_rt *rt, size_t m, size_t n, size_t k, int with_bias, int act, uint32_t seed) {
    size_t lda = k + 3, ldc = n + 2, aoff = 5, coff = 11, canary = 16;
    size_t asz = aoff + m * lda, csz = coff + m * ldc + canary;
    float *a = malloc(asz * 4), *w = malloc(n * k * 4), *bias = malloc(n * 4), *c = malloc(csz * 4),
          *want = malloc(csz * 4);
    tu_fill(a, asz, seed, -1, 1);
    tu_fill(w, n * k, seed + 1, -1, 1);
    tu_fill(bias, n, seed + 2, -1, 1);
    tu_fill(c, csz, seed + 3, -1, 1);
    for (size_t i = 0; i < m; i++) /* C is only written */
        for (size_t j = 0; j < n; j++) c[coff + i * ldc + j] = NAN;
    memcpy(want, c, csz * 4);
    cl_mem da = tu_upload(rt, a, asz * 4), dw = tu_upload(rt, w, n * k * 4),
           db = tu_upload(rt, bias, n * 4), dc = tu_upload(rt, c, csz * 4);
    sb_linear_w lw;
    TU_OK(sb_linear_prepare(rt, dw, with_bias ? db : NULL, (int)n, (int)k, &lw, &tu_err));
    sb_buf ab = sb_skip(sb_view_all(da), aoff * 4), cb = sb_skip(sb_view_all(dc), coff * 4);
    TU_OK(sb_op_linear(rt, m, ab, lda, &lw, act, cb, ldc, &tu_err));
    tu_download(rt, dc, c, csz * 4);
    sb_ref_linear(m, n, k, a + aoff, lda, w, with_bias ? bias : NULL, act, want + coff, ldc);
    char what[160], ps[64];
    sb_linear_params_string(&rt->lin, ps, sizeof ps);
    snprintf(what, sizeof what, "linear %s %zux%zux%zu bias=%d act=%d", ps, m, n, k, with_bias, act);
    tu_check_close(c, want, csz, 1e-4f, 1e-5f * (float)k + 1e-5f, what);
    sb_linear_release(&lw);
    clReleaseMemObject(da);
    clReleaseMemObject(dw);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    free(a);
    free(w);
    free(bias);
    free(c);
    free(want);
}

static void check_variant(const char *spec) {
    sb_rt *rt = tu_rt();
    TU_OK(sb_linear_params_parse(spec, &rt->dev, &rt->lin, &tu_err));
    uint32_t seed = 7;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int v = 0; v < 3; v++)
            check_one(rt, shapes[s][0], shapes[s][1], shapes[s][2], v != 0, v == 2, seed += 4);
    sb_rt_free(rt);
}

START_TEST(test_linear_default) { check_variant(NULL); }
END_TEST

/* The row count on the device (sb_op_linear_rows): launched for m_cap rows
 * with count mc on the device, rows below mc are the bits of a plain call for
 * mc rows and the rows from mc on stay untouched; mc >= m_cap computes m_cap
 * rows. CLBlast refuses a device count. */
static void check_rows_dev(const char *spec) {
    sb_rt *rt = tu_rt();
    TU_OK(sb_linear_params_parse(spec, &rt->dev, &rt->lin, &tu_err));
    const size_t m_cap = 70, n = 37, k = 29, mcs[] = {0, 1, 13, 64, 69, 70, 90};
    float *a = malloc(m_cap * k * 4), *w = malloc(n * k * 4), *bias = malloc(n * 4);
    float *got = malloc(m_cap * n * 4), *want = malloc(m_cap * n * 4);
    tu_fill(a, m_cap * k, 5, -1, 1);
    tu_fill(w, n * k, 6, -1, 1);
    tu_fill(bias, n, 7, -1, 1);
    cl_mem da = tu_upload(rt, a, m_cap * k * 4), dw = tu_upload(rt, w, n * k * 4);
    cl_mem db = tu_upload(rt, bias, n * 4), dc = tu_alloc(rt, m_cap * n * 4), dm = tu_alloc(rt, 8);
    sb_linear_w lw;
    TU_OK(sb_linear_prepare(rt, dw, db, (int)n, (int)k, &lw, &tu_err));
    ck_assert(sb_linear_rows_on_device(rt, &lw));
    const sb_buf cnt = sb_view(dm, 4, 4); /* at an offset */
    for (size_t t = 0; t < sizeof mcs / sizeof mcs[0]; t++) {
        const size_t mc = mcs[t], rows = mc < m_cap ? mc : m_cap;
        for (size_t i = 0; i < m_cap * n; i++) want[i] = NAN;
        TU_OK(sb_rt_write(rt, dc, 0, m_cap * n * 4, want, &tu_err));
        if (rows > 0)
            TU_OK(sb_op_linear(rt, rows, sb_view_all(da), k, &lw, 1, sb_view_all(dc), n, &tu_err));
        tu_download(rt, dc, want, m_cap * n * 4);
        for (size_t i = 0; i < m_cap * n; i++) got[i] = NAN;
        TU_OK(sb_rt_write(rt, dc, 0, m_cap * n * 4, got, &tu_err));
        const cl_int ci = (cl_int)mc;
        TU_OK(sb_rt_write(rt, dm, 4, 4, &ci, &tu_err));
        TU_OK(sb_op_linear_rows(rt, m_cap, cnt, sb_view_all(da), k, &lw, 1, sb_view_all(dc), n, &tu_err));
        tu_download(rt, dc, got, m_cap * n * 4);
        ck_assert_msg(memcmp(got, want, m_cap * n * 4) == 0, "linear %s rows from the device: count %zu of %zu",
                      spec, mc, m_cap);
    }
    sb_linear_release(&lw);
    cl_mem mine[] = {da, dw, db, dc, dm};
    for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++) clReleaseMemObject(mine[i]);
    sb_rt_free(rt);
#if SEQBOAT_HAVE_CLBLAST /* CLBlast's GEMM cannot take its row count from the device */
    sb_rt *rc = tu_rt();
    TU_OK(sb_linear_params_parse("clblast", &rc->dev, &rc->lin, &tu_err));
    sb_linear_w lc;
    cl_mem cw = tu_upload(rc, w, n * k * 4), ca = tu_upload(rc, a, m_cap * k * 4);
    cl_mem cc = tu_alloc(rc, m_cap * n * 4), cm = tu_alloc(rc, 4);
    TU_OK(sb_linear_prepare(rc, cw, NULL, (int)n, (int)k, &lc, &tu_err));
    ck_assert(!sb_linear_rows_on_device(rc, &lc));
    ck_assert_int_eq(sb_op_linear_rows(rc, m_cap, sb_view_all(cm), sb_view_all(ca), k, &lc, 0, sb_view_all(cc),
                                       n, &tu_err),
                     SB_ERR_STATE);
    sb_linear_release(&lc);
    cl_mem all[] = {cw, ca, cc, cm};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clReleaseMemObject(all[i]);
    sb_rt_free(rc);
#endif
    free(a), free(w), free(bias), free(got), free(want);
}

START_TEST(test_linear_rows_on_device) {
    check_rows_dev("reg");
    check_rows_dev("reg:5,4,3");
    check_rows_dev("lds");
    check_rows_dev("lds:8,12,5,2,3");
}
END_TEST
START_TEST(test_linear_reg_default) { check_variant("reg"); }
END_TEST
START_TEST(test_linear_reg_scalar) { check_variant("reg:1,1,1"); }
END_TEST
START_TEST(test_linear_reg_odd) { check_variant("reg:5,4,3"); }
END_TEST
START_TEST(test_linear_reg_wide) { check_variant("reg:12,16,2"); }
END_TEST
START_TEST(test_linear_lds_default) { check_variant("lds"); }
END_TEST
START_TEST(test_linear_lds_small) { check_variant("lds:8,12,5,2,3"); }
END_TEST
#if SEQBOAT_HAVE_CLBLAST
START_TEST(test_linear_clblast) { check_variant("clblast"); }
END_TEST
#else
/* Without CLBlast (SEQBOAT_CLBLAST=OFF) asking for it fails with a message
 * naming the build option: the parser, a model load through SEQBOAT_LINEAR
 * and through sb_options.tuning; the default load runs the own kernels. */
START_TEST(test_linear_clblast) {
    sb_rt *rt = tu_rt();
    sb_linear_params p = rt->lin;
    ck_assert_int_eq(sb_linear_params_parse("clblast", &rt->dev, &p, &tu_err), SB_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(tu_err.msg, "SEQBOAT_CLBLAST=OFF"), "%s", tu_err.msg);
    ck_assert_int_eq(memcmp(&p, &rt->lin, sizeof p), 0); /* unchanged */
    ck_assert_int_ne(rt->lin.variant, SB_LINEAR_CLBLAST);
    sb_rt_free(rt);
    const char *model = SB_TEST_DATA_DIR "/causal_relu2_layernorm.model.safetensors";
    sb_model *m = NULL;
    setenv("SEQBOAT_LINEAR", "clblast", 1);
    ck_assert_int_eq(sb_model_load(model, NULL, &m), SB_ERR_UNSUPPORTED);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(sb_last_error(), "clblast") && strstr(sb_last_error(), "SEQBOAT_CLBLAST=OFF"),
                  "%s", sb_last_error());
    unsetenv("SEQBOAT_LINEAR");
    sb_options o = sb_options_default();
    o.tuning.linear = SB_TUNE_CLBLAST;
    ck_assert_int_eq(sb_model_load(model, &o, &m), SB_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(sb_last_error(), "SEQBOAT_CLBLAST=OFF"), "%s", sb_last_error());
    o.tuning.linear = SB_TUNE_AUTO;
    ck_assert_msg(sb_model_load(model, &o, &m) == SB_OK, "%s", sb_last_error());
    sb_model_free(m);
}
END_TEST
#endif

START_TEST(test_linear_bad_args) {
    sb_rt *rt = tu_rt();
    sb_linear_params p = rt->lin;
    const char *bad[] = {"x", "reg:", "reg:0,8,2", "reg:6,3,2", "reg:6,8", "lds:64,64,16,5,4",
                         "ldsx", "reg:6,32,2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(sb_linear_params_parse(bad[i], &rt->dev, &p, &tu_err), SB_ERR_ARG);
        ck_assert_ptr_nonnull(strstr(tu_err.msg, "SEQBOAT_LINEAR"));
    }
    /* a work-group beyond the device's limit is refused, not launched */
    ck_assert_int_eq(sb_linear_params_parse("lds:4096,4096,1,1,1", &rt->dev, &p, &tu_err),
                     SB_ERR_UNSUPPORTED);
    cl_mem d = tu_alloc(rt, 64);
    sb_linear_w lw;
    ck_assert_int_eq(sb_linear_prepare(rt, d, NULL, 0, 4, &lw, &tu_err), SB_ERR_ARG);
    TU_OK(sb_linear_prepare(rt, d, NULL, 2, 4, &lw, &tu_err));
    sb_buf b = sb_view_all(d);
    ck_assert_int_eq(sb_op_linear(rt, 2, b, 3, &lw, 0, b, 2, &tu_err), SB_ERR_ARG); /* lda < k */
    ck_assert_int_eq(sb_op_linear(rt, 2, b, 4, &lw, 2, b, 2, &tu_err), SB_ERR_ARG); /* act */
    sb_buf odd = sb_skip(sb_view_all(d), 2);
    ck_assert_int_eq(sb_op_linear(rt, 2, odd, 4, &lw, 0, b, 2, &tu_err), SB_ERR_ARG);
    sb_linear_release(&lw);
    sb_linear_release(&lw); /* twice is fine */
    clReleaseMemObject(d);
    sb_rt_free(rt);
}
END_TEST

/* tune: a run over tiny shapes picks a candidate that runs, the file round
 * trips through sb_rt_create, a bad file is ignored. */
START_TEST(test_linear_tune_roundtrip) {
    char dir[] = "/tmp/sb-test-tune-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    setenv("SEQBOAT_CACHE_DIR", dir, 1);
    unsetenv("SEQBOAT_LINEAR");
    sb_rt *rt = tu_rt();
    const sb_linear_params def = rt->lin;
    const sb_tune_shape shapes[] = {{9, 20, 16, "a"}, {3, 7, 33, "b"}};
    sb_linear_params best;
    double best_ms = -1, def_ms = -1;
    TU_OK(sb_linear_tune_run(rt, shapes, 2, 1, NULL, NULL, &best, &best_ms, &def_ms, &tu_err));
    ck_assert(best_ms >= 0 && def_ms >= 0 && best_ms <= def_ms);
    ck_assert_int_eq(memcmp(&rt->lin, &def, sizeof def), 0); /* left as found */
    best.variant = SB_LINEAR_REG, best.mr = 5, best.vw = 4, best.nv = 3;
    TU_OK(sb_linear_tune_save(rt, &best, &tu_err));
    char path[1200];
    sb_linear_tune_path(rt, path, sizeof path);
    sb_rt_free(rt);
    rt = tu_rt(); /* loads the file */
    ck_assert_int_eq(rt->lin.variant, SB_LINEAR_REG);
    ck_assert_int_eq(rt->lin.mr, 5);
    ck_assert_int_eq(rt->lin.vw, 4);
    ck_assert_int_eq(rt->lin.nv, 3);
    check_one(rt, 11, 13, 9, 1, 1, 77);
    sb_rt_free(rt);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("seqboat-linear-tune 1 reg:0,3,2\n", f);
    fclose(f);
    rt = tu_rt(); /* a bad file: device-class defaults */
    ck_assert_int_eq(memcmp(&rt->lin, &def, sizeof def), 0);
    sb_rt_free(rt);
    remove(path);
    rmdir(dir);
}
END_TEST

/* Defaults before any tuning: the vendor's row of the GPU table, shrunk to the
 * device's limits; CPUs take the register-tiled variant. Host only. */
static sb_device_info fake_dev(const char *vendor, cl_device_type type, size_t max_wg, size_t wi,
                               cl_ulong local_mem) {
    sb_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.vendor, sizeof d.vendor, "%s", vendor);
    d.type = type;
    d.max_wg = max_wg;
    d.max_wi[0] = d.max_wi[1] = d.max_wi[2] = wi;
    d.local_mem = local_mem;
    d.native_vec_float = 1;
    return d;
}

static void check_fits(const sb_device_info *d, const sb_linear_params *p) {
    size_t lx = (size_t)(p->tn / p->wn), ly = (size_t)(p->tm / p->wm);
    ck_assert(p->tm % p->wm == 0 && p->tn % p->wn == 0);
    ck_assert_uint_le(lx * ly, d->max_wg);
    ck_assert_uint_le(lx, d->max_wi[0]);
    ck_assert_uint_le(ly, d->max_wi[1]);
}

START_TEST(test_linear_vendor_defaults) {
    sb_linear_params p;
    sb_device_info d = fake_dev("NVIDIA Corporation", CL_DEVICE_TYPE_GPU, 1024, 1024, 48 << 10);
    sb_linear_params_default(&d, &p);
    ck_assert_int_eq(p.variant, SB_LINEAR_LDS);
    ck_assert(p.tm == 64 && p.tn == 64 && p.tk == 16 && p.wm == 4 && p.wn == 4);
    check_fits(&d, &p);
    d = fake_dev("Advanced Micro Devices, Inc.", CL_DEVICE_TYPE_GPU, 256, 1024, 64 << 10);
    sb_linear_params_default(&d, &p);
    ck_assert(p.variant == SB_LINEAR_LDS && p.tm == 64 && p.tn == 64);
    check_fits(&d, &p);
    d = fake_dev("Intel(R) Corporation", CL_DEVICE_TYPE_GPU, 512, 512, 64 << 10);
    sb_linear_params_default(&d, &p);
    ck_assert(p.variant == SB_LINEAR_LDS && p.tm == 32 && p.tn == 64);
    check_fits(&d, &p);
    d = fake_dev("ARM", CL_DEVICE_TYPE_GPU, 384, 384, 32 << 10);
    sb_linear_params_default(&d, &p);
    ck_assert(p.variant == SB_LINEAR_LDS && p.tm == 32 && p.tn == 32 && p.tk == 8);
    check_fits(&d, &p);
    /* a small device: NVIDIA's row shrinks until the group fits 64 items, 8 per dimension */
    d = fake_dev("NVIDIA Corporation", CL_DEVICE_TYPE_GPU, 64, 8, 48 << 10);
    sb_linear_params_default(&d, &p);
    ck_assert_int_eq(p.variant, SB_LINEAR_LDS);
    ck_assert(p.tm < 64 || p.tn < 64);
    check_fits(&d, &p);
    /* one item only */
    d = fake_dev("Intel(R) Corporation", CL_DEVICE_TYPE_GPU, 1, 1, 64 << 10);
    sb_linear_params_default(&d, &p);
    check_fits(&d, &p);
    /* no room for the tiles in local memory: the register variant */
    d = fake_dev("NVIDIA Corporation", CL_DEVICE_TYPE_GPU, 1024, 1024, 1024);
    sb_linear_params_default(&d, &p);
    ck_assert_int_eq(p.variant, SB_LINEAR_REG);
    /* a CPU: register tiles whatever the vendor */
    d = fake_dev("Intel(R) Corporation", CL_DEVICE_TYPE_CPU, 4096, 4096, 256 << 10);
    d.native_vec_float = 8;
    sb_linear_params_default(&d, &p);
    ck_assert(p.variant == SB_LINEAR_REG && p.vw == 8 && p.mr == 6);
}
END_TEST

int main(void) {
    Suite *s = suite_create("linear");
    TCase *t = tcase_create("linear");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_linear_default);
    tcase_add_test(t, test_linear_rows_on_device);
    tcase_add_test(t, test_linear_vendor_defaults);
    tcase_add_test(t, test_linear_reg_default);
    tcase_add_test(t, test_linear_reg_odd);
    tcase_add_test(t, test_linear_lds_default);
    tcase_add_test(t, test_linear_lds_small);
    tcase_add_test(t, test_linear_bad_args);
    tcase_add_test(t, test_linear_tune_roundtrip);
    suite_add_tcase(s, t);
    /* tag "large": more parameter sets of the same kernels (and CLBlast's), left
     * out by the Oclgrind and rusticl CI steps (CK_EXCLUDE_TAGS=large), run on PoCL */
    TCase *tl = tcase_create("large");
    tcase_set_tags(tl, "large");
    tcase_set_timeout(tl, 600);
    tcase_add_test(tl, test_linear_reg_scalar);
    tcase_add_test(tl, test_linear_reg_wide);
    tcase_add_test(tl, test_linear_clblast);
    suite_add_tcase(s, tl);
    return tu_run(s);
}
