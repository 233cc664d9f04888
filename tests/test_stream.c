/* test_stream.c - streaming decode equals the full forward at every position:
 * causal fixtures, prefill/step boundaries, window wrap-around, a truncated
 * EMA, several streams on one model, reset, errors. */
#include <stdlib.h>
#include <string.h>
#include "../runtime/model_file.h"
#include "../runtime/safetensors.h"
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

int main(void) {
    Suite *s = suite_create("stream");
    TCase *t = tcase_create("stream");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_causal_relu2_layernorm);
    tcase_add_test(t, test_causal_rotary);
    tcase_add_test(t, test_lm_tokens);
    tcase_add_test(t, test_extra_causal_cases);
    tcase_add_test(t, test_long_beyond_max_positions);
    tcase_add_test(t, test_sparse_router);
    tcase_add_test(t, test_truncated_causal);
    tcase_add_test(t, test_two_streams_interleaved);
    tcase_add_test(t, test_stream_errors);
    suite_add_tcase(s, t);
    return tu_run(s);
}
