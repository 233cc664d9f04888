/* test_stream.c - streaming decode equals the full forward at every position:
 * causal fixtures, prefill/step boundaries, window wrap-around, a truncated
 * EMA, several streams on one model, reset, errors (test case "large": the
 * whole model on every fixture). The one-token kernels against their plain-C
 * twin (test case "kernels"): the EMA step of cl/stream_step.cl (with and
 * without the fused LayerNorm, with and without truncation), plus its
 * refusals; the rest of a layer's token is test_gau_step.c's. */
#include <stdlib.h>
#include <string.h>
#include "../runtime/model.h"
#include "../runtime/model_file.h"
#include "../runtime/ops/attn.h"
#include "../runtime/ops/stream_step.h"
#include "../runtime/safetensors.h"
#include "ref/ref_stream_step.h"
#include "testutil.h"

#define DATA SB_TEST_DATA_DIR "/"

typedef struct {
    sb_input in;
    float *ref;        /* [B][L][dout] */
    int dout;
} io_case;

static void load_io(const char *name, sb_model *m, io_case *io) {
    char p[1024];
    sb_model_info info;
    sb_model_get_info(m, &info);
    snprintf(p, sizeof p, DATA "%s.io.safetensors", name);
    sb_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.task = info.task == SB_LM ? SB_TASK_LM : SB_TASK_SEQUENCE;
    cfg.d_input = info.d_input;
    cfg.vocab_size = info.vocab_size;
    TU_OK(sb_input_load(p, &cfg, &io->in, &tu_err));
    io->dout = info.d_output;
    size_t n = (size_t)io->in.B * io->in.L * io->dout;
    io->ref = malloc(n * sizeof(float));
    /* the reference is our own full forward (itself checked against the fixtures) */
    TU_OK(sb_model_forward(m, io->in.B, io->in.L, io->in.x, io->in.ids, io->in.lengths, io->ref) == SB_OK
              ? SB_OK
              : SB_ERR_INTERNAL);
}

/* Stream sequence b: prefill `pre` tokens, then step the rest; compare rows. */
static void stream_vs_full(sb_model *m, sb_stream *s, io_case *io, int b, int pre, const char *what) {
    int len = io->in.lengths[b], L = io->in.L, F = io->in.F, dout = io->dout;
    float *o = malloc(sizeof(float) * (size_t)len * dout);
    const int32_t *ids = io->in.ids ? io->in.ids + (size_t)b * L : NULL;
    const float *x = io->in.x ? io->in.x + (size_t)b * L * F : NULL;
    ck_assert_int_eq(sb_stream_reset(s), SB_OK);
    if (pre > len) pre = len;
    if (pre > 0) {
        sb_status st = ids ? sb_stream_feed_ids(s, ids, pre, o, NULL) : sb_stream_feed(s, x, pre, o, NULL);
        ck_assert_msg(st == SB_OK, "%s: prefill: %s", what, sb_stream_last_error(s));
    }
    for (int t = pre; t < len; t++) {
        sb_status st = ids ? sb_stream_step_id(s, ids[t], o + (size_t)t * dout)
                           : sb_stream_step(s, x + (size_t)t * F, o + (size_t)t * dout);
        ck_assert_msg(st == SB_OK, "%s: step %d: %s", what, t, sb_stream_last_error(s));
    }
    ck_assert_int_eq(sb_stream_position(s), len);
    const float *want = io->ref + (size_t)b * L * dout;
    double scale = 0;
    for (size_t i = 0; i < (size_t)len * dout; i++) scale = fmax(scale, fabs(want[i]));
    char buf[256];
    snprintf(buf, sizeof buf, "%s b=%d prefill=%d", what, b, pre);
    tu_check_close(o, want, (size_t)len * dout, 1e-4f, (float)(2e-5 * (scale > 1 ? scale : 1)), buf);
    (void)m;
    free(o);
}

static void run_case(const char *name, const char *model_path) {
    char p[1024];
    sb_model *m = NULL;
    if (!model_path) {
        snprintf(p, sizeof p, DATA "%s.model.safetensors", name);
        model_path = p;
    }
    ck_assert_msg(sb_model_load(model_path, NULL, &m) == SB_OK, "%s", sb_last_error());
    io_case io;
    load_io(name, m, &io);
    sb_stream *s = NULL;
    ck_assert_msg(sb_stream_open(m, &s) == SB_OK, "%s", sb_last_error());
    for (int b = 0; b < io.in.B; b++) {
        int len = io.in.lengths[b];
        int pres[] = {0, 1, len / 3, len - 1, len};
        for (size_t k = 0; k < sizeof pres / sizeof pres[0]; k++) stream_vs_full(m, s, &io, b, pres[k], name);
    }
    sb_stream_free(s);
    sb_input_free(&io.in);
    free(io.ref);
    sb_model_free(m);
}

START_TEST(test_causal_relu2_layernorm) { run_case("causal_relu2_layernorm", NULL); }
END_TEST
START_TEST(test_causal_rotary) { run_case("causal_rotary", NULL); }
END_TEST
START_TEST(test_lm_tokens) { run_case("lm_tokens", NULL); }
END_TEST
START_TEST(test_long_beyond_max_positions) { run_case("long_beyond_max_positions", NULL); }
END_TEST
START_TEST(test_sparse_router) { run_case("sparse_router", NULL); }
END_TEST

/* The causal sequence/lm cases of tests/data/extra (post-norm, batchnorm,
 * rotary + softmax + truncated EMA lm, windows of 1 row and longer than the
 * sequence, three wider layers, a long sequence with a wide window). */
START_TEST(test_extra_causal_cases) {
    char names[64][96];
    int n = tu_extra_cases(names, 64, 1);
    ck_assert_int_ge(n, 8);
    for (int i = 0; i < n; i++) run_case(names[i], NULL);
}
END_TEST

/* A causal model with a truncated EMA: the same weights with truncation = 5. */
START_TEST(test_truncated_causal) {
    sb_st_file *f = NULL;
    TU_OK(sb_st_open(DATA "causal_relu2_layernorm.model.safetensors", &f, &tu_err));
    int n = sb_st_count(f);
    sb_st_out *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        const sb_tensor *x = sb_st_at(f, i);
        t[i].name = x->name;
        t[i].dtype = x->dtype;
        t[i].ndim = x->ndim;
        t[i].shape = x->shape;
        t[i].data = x->data;
    }
    int nm = sb_st_meta_count(f);
    const char **kv = calloc((size_t)(2 * nm + 1), sizeof *kv);
    for (int i = 0; i < nm; i++) {
        sb_st_meta_at(f, i, &kv[2 * i], &kv[2 * i + 1]);
        if (!strcmp(kv[2 * i], "truncation")) kv[2 * i + 1] = "5";
    }
    char path[] = "/tmp/sbtruncXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    TU_OK(sb_st_write(path, t, n, kv, &tu_err));
    run_case("causal_relu2_layernorm", path);
    remove(path);
    free(t);
    free(kv);
    sb_st_free(f);
}
END_TEST

/* Two independent streams interleaved on one model give the same as one at a time. */
START_TEST(test_two_streams_interleaved) {
    sb_model *m = NULL;
    ck_assert_int_eq(sb_model_load(DATA "lm_tokens.model.safetensors", NULL, &m), SB_OK);
    io_case io;
    load_io("lm_tokens", m, &io);
    sb_stream *a = NULL, *b = NULL;
    ck_assert_int_eq(sb_stream_open(m, &a), SB_OK);
    ck_assert_int_eq(sb_stream_open(m, &b), SB_OK);
    int L = io.in.L, dout = io.dout;
    const int32_t *ia = io.in.ids, *ib = io.in.ids + L;
    float *oa = malloc(sizeof(float) * L * dout), *ob = malloc(sizeof(float) * L * dout);
    ck_assert_int_eq(sb_stream_feed_ids(a, ia, 5, oa, NULL), SB_OK);
    ck_assert_int_eq(sb_stream_feed_ids(b, ib, 9, ob, NULL), SB_OK);
    for (int t = 5, u = 9; t < L || u < L;) {
        if (t < L) {
            ck_assert_int_eq(sb_stream_step_id(a, ia[t], oa + (size_t)t * dout), SB_OK);
            t++;
        }
        if (u < L) {
            ck_assert_int_eq(sb_stream_step_id(b, ib[u], ob + (size_t)u * dout), SB_OK);
            u++;
        }
    }
    tu_check_close(oa, io.ref, (size_t)L * dout, 1e-4f, 1e-4f, "stream a");
    tu_check_close(ob, io.ref + (size_t)L * dout, (size_t)L * dout, 1e-4f, 1e-4f, "stream b");
    free(oa);
    free(ob);
    sb_stream_free(a);
    sb_stream_free(b);
    sb_input_free(&io.in);
    free(io.ref);
    sb_model_free(m);
}
END_TEST

START_TEST(test_stream_errors) {
    sb_model *m = NULL;
    sb_stream *s = NULL;
    ck_assert_int_eq(sb_model_load(DATA "ragged_batch.model.safetensors", NULL, &m), SB_OK);
    ck_assert_int_eq(sb_stream_open(m, &s), SB_ERR_STATE);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(sb_last_error(), "bidirectional"));
    sb_model_free(m);
    ck_assert_int_eq(sb_model_load(DATA "lm_tokens.model.safetensors", NULL, &m), SB_OK);
    ck_assert_int_eq(sb_stream_open(m, &s), SB_OK);
    float out[64];
    ck_assert_int_eq(sb_stream_step_id(s, 50, out), SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(sb_stream_last_error(s), "vocabulary"));
    ck_assert_int_eq(sb_stream_step_id(s, -1, out), SB_ERR_ARG);
    int32_t ids[3] = {1, 2, 3};
    ck_assert_int_eq(sb_stream_feed_ids(s, ids, 0, NULL, out), SB_ERR_ARG);
    ck_assert_int_eq(sb_stream_feed(s, (const float *)ids, 1, NULL, out), SB_ERR_ARG);
    /* still usable after errors */
    ck_assert_int_eq(sb_stream_feed_ids(s, ids, 3, NULL, out), SB_OK);
    ck_assert_int_eq(sb_stream_position(s), 3);
    ck_assert_int_eq(sb_stream_step_id(s, 49, out), SB_OK);
    sb_stream_free(s);
    sb_model_free(m);
}
END_TEST

/* ---- the one-token kernels against their twins ----------------------------- */

#define KPAD 5 /* floats in front of a view with an offset */

static float *fmalloc(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static sb_buf whole_view(cl_mem m, size_t floats) { return sb_view(m, 0, sb_f32(floats)); }

/* The EMA step over `steps` tokens from a random state: mx, xn, the state and
 * the input ring after every token against sb_ref_ema_step. */
static void run_ema_step(int D, int N, int trunc, int fused, int steps, uint32_t seed) {
    sb_rt *rt = tu_rt();
    const size_t KN = (size_t)D * N;
    float *coef = fmalloc(3 * KN), *omega = fmalloc(D), *h = fmalloc(KN), *x = fmalloc(D);
    float *nw = fmalloc(D), *nb = fmalloc(D), *xn = fmalloc(D), *mx = fmalloc(D);
    float *ring = fmalloc(trunc > 0 ? (size_t)trunc * D : 1);
    float *got = fmalloc(KN > (size_t)trunc * D ? KN : (size_t)trunc * D);
    tu_fill(coef, KN, seed, 0.5f, 0.98f);          /* q */
    tu_fill(coef + KN, KN, seed + 1, -0.5f, 0.5f); /* c */
    tu_fill(coef + 2 * KN, KN, seed + 2, -0.4f, 0.4f);
    tu_fill(omega, D, seed + 3, -1.0f, 1.0f);
    tu_fill(h, KN, seed + 4, -0.5f, 0.5f);
    tu_fill(nw, D, seed + 5, 0.5f, 1.5f);
    tu_fill(nb, D, seed + 6, -0.2f, 0.2f);
    for (size_t i = 0; i < (size_t)trunc * D; i++) ring[i] = 0.0f;
    sb_ema_coef p;
    memset(&p, 0, sizeof p);
    cl_mem mc = tu_upload(rt, coef, sb_f32(3 * KN)), mo = tu_upload(rt, omega, sb_f32(D));
    cl_mem mh = tu_upload(rt, h, sb_f32(KN));
    cl_mem mr = trunc > 0 ? tu_upload(rt, ring, sb_f32((size_t)trunc * D)) : NULL;
    cl_mem mx_in = tu_alloc(rt, sb_f32(KPAD + (size_t)D)), mmx = tu_alloc(rt, sb_f32(KPAD + (size_t)D));
    cl_mem mxn = tu_alloc(rt, sb_f32(D));
    cl_mem mnw = tu_upload(rt, nw, sb_f32(D)), mnb = tu_upload(rt, nb, sb_f32(D));
    p.coef = whole_view(mc, 3 * KN);
    p.omega = whole_view(mo, D);
    p.D = D, p.N = N, p.truncation = trunc;
    /* the fused kernel takes x and mx at offset 0, the plain one anywhere */
    const size_t off = fused ? 0 : sb_f32(KPAD);
    sb_buf vx = sb_view(mx_in, off, sb_f32(D)), vmx = sb_view(mmx, off, sb_f32(D));
    sb_buf none = sb_view_none();
    if (fused) ck_assert_uint_gt(sb_op_norm_ema_step_wg(rt, D, &tu_err), 0);
    char what[160];
    for (int t = 0; t < steps; t++) {
        tu_fill(x, D, seed + 100 + (uint32_t)t, -2.0f, 2.0f);
        tu_download(rt, mh, got, sb_f32(KN)); /* keep the host state equal to the device's */
        TU_OK(sb_rt_write(rt, mx_in, off, sb_f32(D), x, &tu_err));
        TU_OK(sb_op_ema_step(rt, &p, t, whole_view(mh, KN), vx, fused ? whole_view(mnw, D) : none,
                             fused ? whole_view(mnb, D) : none, fused ? whole_view(mxn, D) : none,
                             trunc > 0 ? whole_view(mr, (size_t)trunc * D) : none, vmx, &tu_err));
        sb_ref_ema_step(D, N, trunc, t, coef, omega, got, x, fused ? nw : NULL, nb, xn,
                        trunc > 0 ? ring : NULL, mx);
        snprintf(what, sizeof what, "ema step D=%d N=%d trunc=%d fused=%d t=%d", D, N, trunc, fused, t);
        float *dm = fmalloc(D);
        TU_OK(sb_rt_read(rt, mmx, off, sb_f32(D), dm, &tu_err));
        tu_check_close(dm, mx, (size_t)D, 1e-4f, 1e-5f, what);
        if (fused) {
            TU_OK(sb_rt_read(rt, mxn, 0, sb_f32(D), dm, &tu_err));
            tu_check_close(dm, xn, (size_t)D, 1e-4f, 1e-5f, what);
        }
        free(dm);
        float *dh = fmalloc(KN);
        tu_download(rt, mh, dh, sb_f32(KN));
        tu_check_close(dh, got, KN, 1e-4f, 1e-5f, what);
        free(dh);
        if (trunc > 0) {
            float *dr = fmalloc((size_t)trunc * D);
            tu_download(rt, mr, dr, sb_f32((size_t)trunc * D));
            tu_check_close(dr, ring, (size_t)trunc * D, 1e-4f, 1e-5f, what);
            free(dr);
        }
    }
    /* refusals: a short state view, a bidirectional EMA, an offset x with the norm */
    ck_assert_int_eq(sb_op_ema_step(rt, &p, 0, sb_view(mh, 0, sb_f32(KN) - 4), vx, none, none, none,
                                    trunc > 0 ? whole_view(mr, (size_t)trunc * D) : none, vmx, &tu_err),
                     SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "state"));
    p.bidir = 1;
    ck_assert_int_eq(sb_op_ema_step(rt, &p, 0, whole_view(mh, KN), vx, none, none, none, none, vmx,
                                    &tu_err),
                     SB_ERR_STATE);
    p.bidir = 0;
    ck_assert_int_eq(sb_op_ema_step(rt, &p, 0, whole_view(mh, KN), sb_view(mx_in, sb_f32(KPAD), sb_f32(D)),
                                    whole_view(mnw, D), whole_view(mnb, D), whole_view(mxn, D),
                                    trunc > 0 ? whole_view(mr, (size_t)trunc * D) : none,
                                    whole_view(mmx, D), &tu_err),
                     SB_ERR_ARG);
    cl_mem all[] = {mc, mo, mh, mr, mx_in, mmx, mxn, mnw, mnb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) clReleaseMemObject(all[i]);
    free(coef), free(omega), free(h), free(x), free(nw), free(nb), free(xn), free(mx), free(ring), free(got);
    sb_rt_free(rt);
}

START_TEST(test_ema_step_kernel) {
    run_ema_step(37, 5, 0, 0, 6, 11);
    run_ema_step(37, 5, 3, 0, 8, 12);
    run_ema_step(37, 5, 0, 1, 6, 13);
    run_ema_step(40, 3, 4, 1, 9, 14);
    run_ema_step(1, 1, 2, 0, 5, 15);
}
END_TEST

/* One device copy per layout in use: after load the host copy is gone, a
 * packed projection has no unpacked upload beside it, and the stream's
 * transposed copies, made from the device copy, hold the file's weights. */
static void check_one_copy(const char *name) {
    char path[512];
    snprintf(path, sizeof path, SB_TEST_DATA_DIR "/%s.model.safetensors", name);
    sb_model_impl *m = NULL;
    sb_rt_options o = {0};
    TU_OK(sb_model_impl_create(path, &o, &m, &tu_err));
    ck_assert_ptr_null(m->mf);
    ck_assert_uint_gt(m->n_params, 0);
    sb_model_file *mf = NULL;
    TU_OK(sb_model_file_load(path, &mf, &tu_err));
    TU_OK(sb_model_impl_stream_prepare(m, &tu_err));
    for (int li = 0; li < m->cfg.n_layers; li++) {
        const sb_dev_layer *d = &m->layers[li];
        const sb_linear_w *lw[] = {&d->hx, &d->mx, &d->h};
        const cl_mem w[] = {d->hx_w, d->mx_w, d->h_w}, t[] = {d->hx_t, d->mx_t, d->h_t};
        const float *host[] = {mf->layers[li].hx_w, mf->layers[li].mx_w, mf->layers[li].h_w};
        for (int j = 0; j < 3; j++) {
            ck_assert_msg((lw[j]->packed != NULL) != (w[j] != NULL),
                          "%s layer %d projection %d: packed %p and unpacked %p", name, li, j,
                          (void *)lw[j]->packed, (void *)w[j]);
            const size_t n = (size_t)lw[j]->n, k = (size_t)lw[j]->k;
            float *back = malloc(sizeof(float) * n * k), *tr = malloc(sizeof(float) * n * k);
            ck_assert(back && tr);
            TU_OK(sb_linear_read_weight(m->rt, lw[j], back, &tu_err));
            tu_download(m->rt, t[j], tr, sizeof(float) * n * k);
            for (size_t r = 0; r < n; r++)
                for (size_t c = 0; c < k; c++) {
                    ck_assert_float_eq(back[r * k + c], host[j][r * k + c]);
                    ck_assert_float_eq(tr[c * n + r], host[j][r * k + c]);
                }
            free(back), free(tr);
        }
    }
    sb_model_file_free(mf);
    sb_model_impl_free(m);
}

START_TEST(test_weights_one_copy) {
    check_one_copy("lm_tokens");
    check_one_copy("causal_rotary");
}
END_TEST

int main(void) {
    Suite *s = suite_create("stream");
    TCase *k = tcase_create("kernels");
    tcase_add_test(k, test_ema_step_kernel);
    suite_add_tcase(s, k);
    /* tag "large": the whole model per fixture, left out by the rusticl and
     * Oclgrind CI steps (scripts/ci_rusticl.sh, ci_oclgrind.sh). Test case
     * "small_models" (tagged "large" as well): two short fixtures, the one
     * with a sparse router among them, that scripts/ci_gpu_paths.sh runs
     * under Oclgrind with the GPU-class kernels (CK_RUN_CASE=small_models). */
    TCase *sm = tcase_create("small_models");
    tcase_set_tags(sm, "large");
    tcase_set_timeout(sm, 600);
    tcase_add_test(sm, test_causal_relu2_layernorm);
    tcase_add_test(sm, test_sparse_router);
    suite_add_tcase(s, sm);
    TCase *t = tcase_create("large");
    tcase_set_tags(t, "large");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_causal_rotary);
    tcase_add_test(t, test_lm_tokens);
    tcase_add_test(t, test_extra_causal_cases);
    tcase_add_test(t, test_long_beyond_max_positions);
    tcase_add_test(t, test_truncated_causal);
    tcase_add_test(t, test_two_streams_interleaved);
    tcase_add_test(t, test_stream_errors);
    tcase_add_test(t, test_weights_one_copy);
    suite_add_tcase(s, t);
    return tu_run(s);
}
