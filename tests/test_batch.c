/* test_batch.c - batch semantics of the public API (SPEC section 5: a padded batch
 * gives, at valid positions, what each sequence gives alone), re-planning when
 * shapes grow and shrink, and argument checking with messages. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <string.h>
#include "testutil.h"
#include "../runtime/safetensors.h"
#include "seqboat.h"

#define DATA SB_TEST_DATA_DIR "/"

static sb_model *load_model(const char *name, sb_model_info *info) {
    char path[1024];
    sb_model *m = NULL;
    snprintf(path, sizeof path, DATA "%s.model.safetensors", name);
    sb_status st = sb_model_load(path, NULL, &m);
    ck_assert_msg(st == SB_OK, "sb_model_load(%s) -> %s: %s", path, sb_status_string(st),
                  sb_last_error());
    info->struct_size = sizeof *info;
    ck_assert_int_eq(sb_model_get_info(m, info), SB_OK);
    return m;
}

static void forward_ok(sb_model *m, int B, int L, const float *x, const int32_t *ids,
                       const int32_t *lengths, float *out, const char *what) {
    sb_status st = sb_model_forward(m, B, L, x, ids, lengths, out);
    ck_assert_msg(st == SB_OK, "%s: sb_model_forward(B=%d, L=%d) -> %s: %s", what, B, L,
                  sb_status_string(st), sb_model_last_error(m));
}

static uint32_t rng_next(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* |got - want| <= tol * max(1, max|want|) over n values. */
static void check_scaled(const float *got, const float *want, size_t n, double tol, const char *what) {
    double scale = 1;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(got[i]), "%s[%zu] = %g is not finite", what, i, got[i]);
        ck_assert_msg(fabs((double)got[i] - want[i]) <= tol * scale,
                      "%s[%zu]: got %.9g want %.9g (|d| = %.3g, allowed %.3g)", what, i, got[i],
                      want[i], fabs((double)got[i] - want[i]), tol * scale);
    }
}

/* ---- a padded batch equals each sequence alone ---------------------------------- */

enum { NB = 4, LB = 53 };
static const int32_t LENS[NB] = {53, 1, 20, 37};

static void batch_vs_alone(const char *name, uint32_t seed) {
    sb_model_info info;
    sb_model *m = load_model(name, &info);
    int lm = info.task == SB_LM, cls = info.task == SB_CLASSIFY;
    int F = lm ? 0 : info.d_input, Dout = info.d_output;
    size_t per = cls ? 1 : (size_t)LB; /* output rows per sequence */
    float *x = NULL;
    int32_t *ids = NULL;
    uint32_t s = seed * 2654435761u + 1u;
    if (lm) {
        /* padding holds valid but arbitrary ids: they must not matter */
        ids = malloc(sizeof(int32_t) * NB * LB);
        ck_assert_ptr_nonnull(ids);
        for (int i = 0; i < NB * LB; i++) ids[i] = (int32_t)(rng_next(&s) % (uint32_t)info.vocab_size);
    } else {
        /* padding holds NaN: it must never reach a valid position */
        x = malloc(sizeof(float) * NB * LB * F);
        ck_assert_ptr_nonnull(x);
        tu_fill(x, (size_t)NB * LB * F, seed, -1.5f, 1.5f);
        for (int b = 0; b < NB; b++)
            for (int t = LENS[b]; t < LB; t++)
                for (int f = 0; f < F; f++) x[((size_t)b * LB + t) * F + f] = NAN;
    }
    size_t n = (size_t)NB * per * Dout;
    float *out = malloc(sizeof(float) * (n + 8));
    float *alone = malloc(sizeof(float) * per * Dout);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(alone);
    for (size_t i = 0; i < n + 8; i++) out[i] = i < n ? 777.0f : -55.0f; /* sentinel, canary */
    forward_ok(m, NB, LB, x, ids, LENS, out, name);
    for (size_t i = n; i < n + 8; i++) ck_assert_float_eq(out[i], -55.0f);

    for (int b = 0; b < NB; b++) {
        int len = LENS[b];
        const float *xb = x ? x + (size_t)b * LB * F : NULL;
        const int32_t *ib = ids ? ids + (size_t)b * LB : NULL;
        forward_ok(m, 1, len, xb, ib, NULL, alone, "alone");
        char what[128];
        snprintf(what, sizeof what, "%s: sequence %d (length %d) in the batch vs alone", name, b, len);
        const float *ob = out + (size_t)b * per * Dout;
        check_scaled(ob, alone, (cls ? 1 : (size_t)len) * Dout, 1e-5, what);
        if (!cls)
            for (size_t i = (size_t)len * Dout; i < (size_t)LB * Dout; i++)
                ck_assert_msg(ob[i] == 0.0f, "%s: padded output [%d][%zu][%zu] = %g, expected 0",
                              name, b, i / Dout, i % Dout, ob[i]);
    }
    free(x);
    free(ids);
    free(out);
    free(alone);
    sb_model_free(m);
}

START_TEST(batch_causal) { batch_vs_alone("causal_relu2_layernorm", 11); }
END_TEST
START_TEST(batch_bidirectional) { batch_vs_alone("ragged_batch", 12); }
END_TEST
START_TEST(batch_lm) { batch_vs_alone("lm_tokens", 13); }
END_TEST
START_TEST(batch_classify) { batch_vs_alone("bidir_softmax_batchnorm_classify", 14); }
END_TEST

/* ---- re-planning ------------------------------------------------------------------ */

typedef struct {
    int B, L, F;
    float *x, *want;
} fixture_io;

static void fixture_load(const char *name, fixture_io *f) {
    char path[1024];
    sb_st_file *st = NULL;
    snprintf(path, sizeof path, DATA "%s.io.safetensors", name);
    TU_OK(sb_st_open(path, &st, &tu_err));
    const sb_tensor *in = sb_st_find(st, "input"), *out = sb_st_find(st, "output");
    ck_assert(in && out && in->dtype == SB_DT_F32 && in->ndim == 3 && out->dtype == SB_DT_F32);
    f->B = (int)in->shape[0];
    f->L = (int)in->shape[1];
    f->F = (int)in->shape[2];
    f->x = malloc(in->nbytes);
    f->want = malloc(out->nbytes);
    ck_assert(f->x && f->want);
    memcpy(f->x, in->data, in->nbytes);
    memcpy(f->want, out->data, out->nbytes);
    sb_st_free(st);
}

/* SPEC section 6 agreement. */
static void check_ref(const float *got, const float *want, size_t n, const char *what) {
    double d2 = 0, w2 = 0, dmax = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(got[i]), "%s[%zu] = %g", what, i, got[i]);
        double d = (double)got[i] - want[i];
        d2 += d * d;
        w2 += (double)want[i] * want[i];
        if (fabs(d) > dmax) dmax = fabs(d);
    }
    double rel = sqrt(d2 / (w2 > 0 ? w2 : 1));
    ck_assert_msg(rel <= 1e-4 && dmax <= 2e-3, "%s: relative L2 %.3g, max abs %.3g", what, rel, dmax);
}

/* A prefix of fixture sequence b through a causal model equals the reference's
 * first len positions. */
static void prefix_check(sb_model *m, const fixture_io *f, int Dout, int b, int len, float *out,
                         const char *what) {
    forward_ok(m, 1, len, f->x + (size_t)b * f->L * f->F, NULL, NULL, out, what);
    check_ref(out, f->want + (size_t)b * f->L * Dout, (size_t)len * Dout, what);
}

START_TEST(replan_grow_shrink) {
    sb_model_info info;
    sb_model *m = load_model("causal_relu2_layernorm", &info);
    fixture_io f;
    fixture_load("causal_relu2_layernorm", &f);
    int Dout = info.d_output;
    size_t n = (size_t)f.B * f.L * Dout;
    float *out = malloc(sizeof(float) * n), *first = malloc(sizeof(float) * n);
    ck_assert(out && first);

    prefix_check(m, &f, Dout, 0, 10, first, "small (1 x 10)");
    forward_ok(m, f.B, f.L, f.x, NULL, NULL, out, "large");
    check_ref(out, f.want, n, "large (fixture batch)");
    prefix_check(m, &f, Dout, 1, 5, out, "small again (1 x 5)");
    prefix_check(m, &f, Dout, 0, 10, out, "first shape again (1 x 10)");
    check_scaled(out, first, (size_t)10 * Dout, 1e-6, "1 x 10 before and after growing");

    /* plan far ahead, then run small and the fixture on the big plan */
    size_t peak_small = 0, peak_big = 0;
    sb_status st = sb_model_plan(m, 1, 4, &peak_small);
    ck_assert_msg(st == SB_OK, "sb_model_plan(1, 4): %s", sb_model_last_error(m));
    ck_assert_uint_gt(peak_small, 0);
    st = sb_model_plan(m, 8, 4096, &peak_big);
    ck_assert_msg(st == SB_OK, "sb_model_plan(8, 4096): %s", sb_model_last_error(m));
    ck_assert_uint_ge(peak_big, peak_small);
    prefix_check(m, &f, Dout, 1, 3, out, "small on a big plan");
    forward_ok(m, f.B, f.L, f.x, NULL, NULL, out, "fixture on a big plan");
    check_ref(out, f.want, n, "fixture on a big plan");
    /* a shape beyond the plan in one dimension only: many short sequences */
    {
        enum { BB = 40, LL = 6 };
        float *xx = malloc(sizeof(float) * BB * LL * f.F);
        float *oo = malloc(sizeof(float) * BB * LL * Dout);
        ck_assert(xx && oo);
        for (int b = 0; b < BB; b++)
            memcpy(xx + (size_t)b * LL * f.F, f.x + (size_t)(b % 2) * f.L * f.F,
                   sizeof(float) * LL * f.F);
        forward_ok(m, BB, LL, xx, NULL, NULL, oo, "40 x 6");
        for (int b = 0; b < BB; b++) {
            char what[64];
            snprintf(what, sizeof what, "40 x 6, sequence %d", b);
            check_ref(oo + (size_t)b * LL * Dout, f.want + (size_t)(b % 2) * f.L * Dout,
                      (size_t)LL * Dout, what);
        }
        free(xx);
        free(oo);
    }
    free(f.x);
    free(f.want);
    free(out);
    free(first);
    sb_model_free(m);
}
END_TEST

/* ---- bad arguments ------------------------------------------------------------------ */

/* Expect SB_ERR_ARG with a message containing `needle` (case-insensitive). */
static void expect_arg(sb_model *m, sb_status st, const char *needle, const char *what) {
    ck_assert_msg(st == SB_ERR_ARG, "%s: got %s, expected SB_ERR_ARG (%s)", what,
                  sb_status_string(st), sb_model_last_error(m));
    const char *msg = sb_model_last_error(m);
    ck_assert_ptr_nonnull(msg);
    int found = 0;
    size_t nl = strlen(needle);
    for (const char *p = msg; *p && !found; p++) {
        size_t i = 0;
        while (i < nl && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i])) i++;
        found = i == nl;
    }
    ck_assert_msg(found, "%s: message does not mention '%s': \"%s\"", what, needle, msg);
}

START_TEST(bad_args_sequence) {
    sb_model_info info;
    sb_model *m = load_model("causal_relu2_layernorm", &info);
    enum { B = 2, L = 12 };
    int F = info.d_input, Dout = info.d_output;
    float x[B * L * 3], ref[B * L * 5], out[B * L * 5];
    ck_assert(F == 3 && Dout == 5);
    tu_fill(x, sizeof x / sizeof x[0], 21, -1, 1);
    int32_t good[B] = {12, 7};
    forward_ok(m, B, L, x, NULL, good, ref, "first run");

    int32_t bad_len[][B] = {{0, 7}, {12, -1}, {13, 7}, {12, 2147483647}};
    for (size_t k = 0; k < sizeof bad_len / sizeof bad_len[0]; k++) {
        char what[64];
        snprintf(what, sizeof what, "lengths {%d, %d}", bad_len[k][0], bad_len[k][1]);
        expect_arg(m, sb_model_forward(m, B, L, x, NULL, bad_len[k], out), "length", what);
    }
    expect_arg(m, sb_model_forward(m, 0, L, x, NULL, NULL, out), "batch", "B = 0");
    expect_arg(m, sb_model_forward(m, -1, L, x, NULL, NULL, out), "batch", "B = -1");
    expect_arg(m, sb_model_forward(m, B, 0, x, NULL, NULL, out), "length", "L = 0");
    expect_arg(m, sb_model_forward(m, B, L, x, NULL, good, NULL), "output", "NULL output");
    expect_arg(m, sb_model_forward(m, B, L, NULL, NULL, good, out), "input", "NULL x");
    ck_assert_int_eq(sb_model_forward(NULL, B, L, x, NULL, good, out), SB_ERR_ARG);
    size_t peak = 0;
    expect_arg(m, sb_model_plan(m, 0, 10, &peak), "shape", "plan B = 0");

    /* the model still works and gives the same answer; the message is cleared */
    memset(out, 0, sizeof out);
    forward_ok(m, B, L, x, NULL, good, out, "after errors");
    ck_assert_str_eq(sb_model_last_error(m), "");
    check_scaled(out, ref, (size_t)B * L * Dout, 1e-6, "after errors vs before");
    sb_model_free(m);
}
END_TEST

START_TEST(bad_args_lm) {
    sb_model_info info;
    sb_model *m = load_model("lm_tokens", &info);
    enum { B = 2, L = 9 };
    int V = info.vocab_size, Dout = info.d_output;
    int32_t ids[B * L];
    for (int i = 0; i < B * L; i++) ids[i] = (i * 7 + 3) % V;
    int32_t lens[B] = {9, 4};
    float *ref = malloc(sizeof(float) * B * L * Dout), *out = malloc(sizeof(float) * B * L * Dout);
    ck_assert(ref && out);
    forward_ok(m, B, L, NULL, ids, lens, ref, "first run");

    int32_t keep = ids[3];
    ids[3] = V;
    expect_arg(m, sb_model_forward(m, B, L, NULL, ids, lens, out), "vocab", "id = vocab_size");
    ids[3] = -1;
    expect_arg(m, sb_model_forward(m, B, L, NULL, ids, lens, out), "vocab", "id = -1");
    ids[3] = keep;
    keep = ids[L + 2];
    ids[L + 2] = 1000000; /* sequence 1, valid position */
    expect_arg(m, sb_model_forward(m, B, L, NULL, ids, lens, out), "vocab", "id = 1e6");
    ids[L + 2] = keep;
    expect_arg(m, sb_model_forward(m, B, L, NULL, NULL, lens, out), "token", "NULL ids");

    forward_ok(m, B, L, NULL, ids, lens, out, "after errors");
    ck_assert_str_eq(sb_model_last_error(m), "");
    check_scaled(out, ref, (size_t)B * L * Dout, 1e-6, "after errors vs before");
    free(ref);
    free(out);
    sb_model_free(m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, batch_causal);
    tcase_add_test(tc, batch_bidirectional);
    tcase_add_test(tc, batch_lm);
    tcase_add_test(tc, batch_classify);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("plan");
    tcase_set_timeout(tp, 300);
    tcase_add_test(tp, replan_grow_shrink);
    suite_add_tcase(s, tp);
    TCase *ta = tcase_create("args");
    tcase_set_timeout(ta, 300);
    tcase_add_test(ta, bad_args_sequence);
    tcase_add_test(ta, bad_args_lm);
    suite_add_tcase(s, ta);
    return tu_run(s);
}
