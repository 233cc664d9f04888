/* test_fixtures.c - every reference case of SPEC.md section 6 through the public
 * API (sb_model_forward and sb_model_run_file), and the chunked GAU path (tiny
 * chunk budget, internal API) against the same reference outputs.
 *
 * Agreement (SPEC section 6): relative L2 error <= 1e-4 and max abs error <= 2e-3
 * over the whole `output` tensor (the reference has zeros at padded positions). */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "../runtime/model.h"
#include "../runtime/safetensors.h"
#include "../runtime/wtype.h"
#include "seqboat.h"

#define DATA SB_TEST_DATA_DIR "/"
#define REL_L2_MAX 1e-4
#define ABS_MAX 2e-3

/* One case's io file, copied out. */
typedef struct {
    int B, L, F;       /* F = 0 for token ids */
    float *x;          /* [B][L][F] or NULL */
    int32_t *ids;      /* [B][L] or NULL */
    int32_t *lengths;  /* [B] */
    float *want;       /* the reference output */
    size_t n_want;
    int want_ndim;
    int64_t want_shape[3];
} io_case;

static void path_of(char *buf, size_t cap, const char *name, const char *kind) {
    int k = snprintf(buf, cap, DATA "%s.%s.safetensors", name, kind);
    ck_assert(k > 0 && (size_t)k < cap);
}

static size_t numel(const sb_tensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

/* Integer tensor (I64 or I32) as int32. */
static int32_t *ints_of(const sb_tensor *t) {
    size_t n = numel(t);
    int32_t *r = malloc(sizeof(int32_t) * (n ? n : 1));
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(t->dtype == SB_DT_I64 || t->dtype == SB_DT_I32, "%s: dtype %s", t->name,
                  t->dtype_name);
    for (size_t i = 0; i < n; i++)
        r[i] = t->dtype == SB_DT_I64 ? (int32_t)((const int64_t *)t->data)[i]
                                     : ((const int32_t *)t->data)[i];
    return r;
}

static float *floats_of(const sb_tensor *t) {
    ck_assert_msg(t->dtype == SB_DT_F32, "%s: dtype %s", t->name, t->dtype_name);
    float *r = malloc(t->nbytes ? t->nbytes : 1);
    ck_assert_ptr_nonnull(r);
    memcpy(r, t->data, t->nbytes);
    return r;
}

static void io_load(const char *name, io_case *c) {
    char path[1024];
    sb_st_file *f = NULL;
    memset(c, 0, sizeof *c);
    path_of(path, sizeof path, name, "io");
    TU_OK(sb_st_open(path, &f, &tu_err));
    const sb_tensor *in = sb_st_find(f, "input"), *len = sb_st_find(f, "lengths");
    const sb_tensor *out = sb_st_find(f, "output");
    ck_assert_msg(in && out, "%s: input/output missing", path);
    c->B = (int)in->shape[0];
    c->L = (int)in->shape[1];
    if (in->dtype == SB_DT_F32) {
        ck_assert_int_eq(in->ndim, 3);
        c->F = (int)in->shape[2];
        c->x = floats_of(in);
    } else {
        ck_assert_int_eq(in->ndim, 2);
        c->ids = ints_of(in);
    }
    if (len) {
        c->lengths = ints_of(len);
    } else {
        c->lengths = malloc(sizeof(int32_t) * (size_t)c->B);
        ck_assert_ptr_nonnull(c->lengths);
        for (int b = 0; b < c->B; b++) c->lengths[b] = c->L;
    }
    c->want = floats_of(out);
    c->n_want = numel(out);
    c->want_ndim = out->ndim;
    for (int i = 0; i < out->ndim && i < 3; i++) c->want_shape[i] = out->shape[i];
    sb_st_free(f);
}

static void io_free(io_case *c) {
    free(c->x);
    free(c->ids);
    free(c->lengths);
    free(c->want);
    memset(c, 0, sizeof *c);
}

/* SPEC section 6 agreement; reports the figures on failure. */
static void check_agree(const float *got, const float *want, size_t n, const char *what) {
    double d2 = 0, w2 = 0, dmax = 0;
    size_t imax = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(got[i]), "%s: output[%zu] = %g is not finite", what, i, got[i]);
        double d = (double)got[i] - (double)want[i];
        d2 += d * d;
        w2 += (double)want[i] * want[i];
        if (fabs(d) > dmax) dmax = fabs(d), imax = i;
    }
    double rel = w2 > 0 ? sqrt(d2 / w2) : sqrt(d2);
    ck_assert_msg(rel <= REL_L2_MAX && dmax <= ABS_MAX,
                  "%s: relative L2 error %.3g (max %.0e), max abs error %.3g at [%zu] (max %.0e): "
                  "got %.7g want %.7g",
                  what, rel, REL_L2_MAX, dmax, imax, ABS_MAX, got[imax], want[imax]);
}

static sb_model *load_model(const char *name) {
    char path[1024];
    sb_model *m = NULL;
    path_of(path, sizeof path, name, "model");
    sb_status st = sb_model_load(path, NULL, &m);
    ck_assert_msg(st == SB_OK, "sb_model_load(%s) -> %s: %s", path, sb_status_string(st),
                  sb_last_error());
    ck_assert_ptr_nonnull(m);
    return m;
}

/* Load the output tensor of a written file; checks its shape against c. */
static float *read_output_file(const char *path, const io_case *c) {
    sb_st_file *f = NULL;
    TU_OK(sb_st_open(path, &f, &tu_err));
    const sb_tensor *t = sb_st_find(f, "output");
    ck_assert_msg(t != NULL, "%s has no tensor 'output'", path);
    ck_assert_int_eq(t->dtype, SB_DT_F32);
    ck_assert_int_eq(t->ndim, c->want_ndim);
    for (int i = 0; i < t->ndim; i++) ck_assert_int_eq(t->shape[i], c->want_shape[i]);
    float *r = floats_of(t);
    sb_st_free(f);
    return r;
}

/* The whole case: forward through the public API, then the file path. */
static void run_case(const char *name) {
    io_case c;
    io_load(name, &c);
    sb_model *m = load_model(name);
    sb_model_info info = {.struct_size = sizeof(sb_model_info)};
    ck_assert_int_eq(sb_model_get_info(m, &info), SB_OK);
    size_t per = info.task == SB_CLASSIFY ? 1 : (size_t)c.L;
    size_t n = (size_t)c.B * per * (size_t)info.d_output;
    ck_assert_uint_eq(n, c.n_want);

    /* forward; a canary after the output region must stay untouched */
    float *out = malloc(sizeof(float) * (n + 16));
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < n + 16; i++) out[i] = i < n ? NAN : 12345.0f;
    sb_status st = sb_model_forward(m, c.B, c.L, c.x, c.ids, c.lengths, out);
    ck_assert_msg(st == SB_OK, "%s: sb_model_forward -> %s: %s", name, sb_status_string(st),
                  sb_model_last_error(m));
    ck_assert_str_eq(sb_model_last_error(m), "");
    check_agree(out, c.want, n, name);
    for (size_t i = n; i < n + 16; i++) ck_assert_float_eq(out[i], 12345.0f);

    /* activation stats are filled for every layer */
    for (int l = 0; l < info.n_layers; l++) {
        int tok = -1, act = -1;
        double ms = -1;
        ck_assert_int_eq(sb_model_layer_stats(m, l, &tok, &act, &ms), SB_OK);
        long T = 0;
        for (int b = 0; b < c.B; b++) T += c.lengths[b];
        ck_assert_int_eq(tok, T);
        ck_assert(act >= 0 && act <= tok);
        ck_assert(ms >= 0);
    }

    /* the same through files */
    char dir[] = "/tmp/sb_fixtures_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char in_path[1024], out_path[1100];
    path_of(in_path, sizeof in_path, name, "io");
    snprintf(out_path, sizeof out_path, "%s/out.safetensors", dir);
    st = sb_model_run_file(m, in_path, out_path);
    ck_assert_msg(st == SB_OK, "%s: sb_model_run_file -> %s: %s", name, sb_status_string(st),
                  sb_model_last_error(m));
    float *file_out = read_output_file(out_path, &c);
    char what[256];
    snprintf(what, sizeof what, "%s (run_file)", name);
    check_agree(file_out, c.want, n, what);
    unlink(out_path);
    rmdir(dir);

    free(file_out);
    free(out);
    sb_model_free(m);
    io_free(&c);
}

START_TEST(causal_relu2_layernorm) { run_case("causal_relu2_layernorm"); }
END_TEST
START_TEST(bidir_softmax_batchnorm_classify) { run_case("bidir_softmax_batchnorm_classify"); }
END_TEST
START_TEST(causal_rotary) { run_case("causal_rotary"); }
END_TEST
START_TEST(long_beyond_max_positions) { run_case("long_beyond_max_positions"); }
END_TEST
START_TEST(ragged_batch) { run_case("ragged_batch"); }
END_TEST
START_TEST(lm_tokens) { run_case("lm_tokens"); }
END_TEST
START_TEST(truncated_ema) { run_case("truncated_ema"); }
END_TEST
START_TEST(sparse_router) { run_case("sparse_router"); }
END_TEST

/* ---- chunked GAU path --------------------------------------------------------- */

/* Run a case through the internal model with a given chunk budget; returns the
 * number of layers whose compressed rows did not fit in one chunk. */
static int run_chunked(const char *name, size_t budget) {
    io_case c;
    io_load(name, &c);
    char path[1024];
    path_of(path, sizeof path, name, "model");
    sb_model_impl *m = NULL;
    sb_rt_options o = {0};
    TU_OK(sb_model_impl_create(path, &o, &m, &tu_err));
    m->chunk_budget = budget;
    float *out = malloc(sizeof(float) * (c.n_want + 8));
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < c.n_want + 8; i++) out[i] = i < c.n_want ? NAN : -777.0f;
    TU_OK(sb_model_impl_forward(m, c.B, c.L, c.x, c.ids, c.lengths, out, &tu_err));
    char what[256];
    snprintf(what, sizeof what, "%s (chunk budget %zu bytes, %d rows per chunk)", name, budget,
             m->fp.chunk_cap);
    check_agree(out, c.want, c.n_want, what);
    for (size_t i = c.n_want; i < c.n_want + 8; i++) ck_assert_float_eq(out[i], -777.0f);
    int chunked = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (m->stats[l].activated > m->fp.chunk_cap) chunked++;
    free(out);
    sb_model_impl_free(m);
    io_free(&c);
    return chunked;
}

START_TEST(chunked_causal_long) {
    /* 1 byte: the planner clamps to halo + W rows = 2W = 64 rows (L = 700, W = 32) */
    int k = run_chunked("long_beyond_max_positions", 1);
    ck_assert_msg(k > 0, "no layer needed more than one chunk: the halo path was not exercised");
    /* a budget between the clamp and the whole sequence */
    k = run_chunked("long_beyond_max_positions", 100000);
    ck_assert_msg(k > 0, "no layer needed more than one chunk at a 100 kB budget");
}
END_TEST

START_TEST(chunked_bidirectional) {
    /* bidirectional: halo W on both sides; truncated_ema (W = 8, 2 sequences, 120
     * tokens) and the softmax/batchnorm classifier (W = 16, 3 x 50 tokens) */
    int k = run_chunked("truncated_ema", 1);
    ck_assert_msg(k > 0, "truncated_ema: no layer needed more than one chunk");
    k = run_chunked("bidir_softmax_batchnorm_classify", 1);
    ck_assert_msg(k > 0, "bidir_softmax_batchnorm_classify: no layer needed more than one chunk");
}
END_TEST

START_TEST(chunked_ragged) {
    /* several sequences with lengths 40, 17, 1, 33: chunks cut across sequence
     * starts, including a one-token sequence */
    run_chunked("ragged_batch", 1);
}
END_TEST

/* ---- the compaction's count left on the device ------------------------------- */

/* A one-chunk forward launches the GAU for every token and leaves the
 * compacted count on the device (model.c step_gate); the same forward with
 * the count read back per layer (count_on_host) must give the same bits and
 * the same per-layer counts. Runs kept, read, kept again (the second kept run
 * on buffers the others left behind). */
static void count_same_bits_wt(const char *name, int wt) {
    io_case c;
    io_load(name, &c);
    char path[1024];
    path_of(path, sizeof path, name, "model");
    sb_model_impl *m = NULL;
    sb_rt_options o = {0};
    o.weight_type = wt;
    TU_OK(sb_model_impl_create(path, &o, &m, &tu_err));
    const int nl = m->cfg.n_layers;
    float *out[3];
    int act[3][16];
    ck_assert_int_le(nl, 16);
    for (int r = 0; r < 3; r++) {
        out[r] = malloc(sizeof(float) * c.n_want);
        ck_assert_ptr_nonnull(out[r]);
        m->count_on_host = r == 1 ? 1 : -1; /* -1: on the device on any device class */
        TU_OK(sb_model_impl_forward(m, c.B, c.L, c.x, c.ids, c.lengths, out[r], &tu_err));
        ck_assert_int_eq(m->counts_kept, r == 1 ? 0 : nl);
        for (int l = 0; l < nl; l++) act[r][l] = m->stats[l].activated;
    }
    for (int r = 1; r < 3; r++) {
        ck_assert_msg(memcmp(out[0], out[r], sizeof(float) * c.n_want) == 0,
                      "%s: run %d (count %s) differs from the first (count kept on the device)", name, r,
                      r == 1 ? "read per layer" : "kept");
        for (int l = 0; l < nl; l++) ck_assert_int_eq(act[r][l], act[0][l]);
    }
    if (wt == SB_WT_F32) check_agree(out[0], c.want, c.n_want, name);
    for (int r = 0; r < 3; r++) free(out[r]);
    sb_model_impl_free(m);
    io_free(&c);
}

static void count_same_bits(const char *name) { count_same_bits_wt(name, SB_WT_F32); }

START_TEST(count_on_device) {
    count_same_bits("causal_relu2_layernorm");
    count_same_bits("sparse_router");
    count_same_bits("ragged_batch");
    count_same_bits("bidir_softmax_batchnorm_classify");
    count_same_bits("causal_rotary");
    /* weights stored as f16 / int8: the products' variant then depends on
     * the weight type (linear.c params_for), the rows still from the device */
    count_same_bits_wt("causal_relu2_layernorm", SB_WT_F16);
    count_same_bits_wt("ragged_batch", SB_WT_I8);
}
END_TEST

/* Every case listed in tests/data/extra/cases.json (more reference cases made
 * the same way as the shared fixtures; see tests/data/extra/README.md). */
START_TEST(extra_cases) {
    char names[64][96];
    int n = tu_extra_cases(names, 64, 0);
    ck_assert_int_ge(n, 14);
    for (int i = 0; i < n; i++) run_case(names[i]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("fixtures");
    /* "small": the shared fixtures of at most a few hundred tokens, the set
     * the Oclgrind CI step simulates (scripts/ci_oclgrind.sh, CK_RUN_CASE);
     * "long": L = 700; "extra": tests/data/extra. */
    TCase *tc = tcase_create("small");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, causal_relu2_layernorm);
    tcase_add_test(tc, bidir_softmax_batchnorm_classify);
    tcase_add_test(tc, causal_rotary);
    tcase_add_test(tc, ragged_batch);
    tcase_add_test(tc, lm_tokens);
    tcase_add_test(tc, truncated_ema);
    tcase_add_test(tc, sparse_router);
    tcase_add_test(tc, count_on_device);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("long");
    tcase_set_timeout(tl, 300);
    tcase_add_test(tl, long_beyond_max_positions);
    suite_add_tcase(s, tl);
    TCase *tx = tcase_create("extra");
    tcase_set_timeout(tx, 600);
    tcase_add_test(tx, extra_cases);
    suite_add_tcase(s, tx);
    TCase *tk = tcase_create("chunked");
    tcase_set_timeout(tk, 300);
    tcase_add_test(tk, chunked_causal_long);
    tcase_add_test(tk, chunked_bidirectional);
    tcase_add_test(tk, chunked_ragged);
    suite_add_tcase(s, tk);
    return tu_run(s);
}
