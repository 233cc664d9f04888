/* test_demo.c - the shipped demo model (models/tiny-pystdlib.safetensors):
 * held-out bits/byte against the reference, streaming equals the full forward
 * across the window wrap-around, greedy generation equals full-forward greedy. */
#include <stdlib.h>
#include <string.h>
#include "../runtime/safetensors.h"
#include "testutil.h"

#define MODEL SB_SOURCE_DIR "/models/tiny-pystdlib.safetensors"
#define EVAL SB_SOURCE_DIR "/models/tiny-pystdlib.eval.safetensors"

static int32_t *eval_tokens(int *B, int *L, double *ref_bpb, sb_st_file **keep) {
    sb_st_file *f = NULL;
    TU_OK(sb_st_open(EVAL, &f, &tu_err));
    const sb_tensor *t = sb_st_find(f, "tokens");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->ndim, 2);
    *B = (int)t->shape[0];
    *L = (int)t->shape[1];
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)*B * *L);
    const int64_t *src = t->data;
    for (size_t i = 0; i < (size_t)*B * *L; i++) ids[i] = (int32_t)src[i];
    const char *m = sb_st_meta(f, "heldout_bits_per_byte");
    ck_assert_ptr_nonnull(m);
    *ref_bpb = strtod(m, NULL);
    *keep = f;
    return ids;
}

START_TEST(test_heldout_bits_per_byte) {
    int B, L;
    double ref;
    sb_st_file *f;
    int32_t *ids = eval_tokens(&B, &L, &ref, &f);
    sb_model *m = NULL;
    ck_assert_msg(sb_model_load(MODEL, NULL, &m) == SB_OK, "%s", sb_last_error());
    const int V = 256;
    const float *ref_nll = sb_st_find(f, "nll")->data;
    float *logits = malloc(sizeof(float) * (size_t)L * V);
    double total = 0, max_tok_diff = 0;
    for (int b = 0; b < B; b++) { /* one row at a time keeps host memory small */
        ck_assert_msg(sb_model_forward(m, 1, L, NULL, ids + (size_t)b * L, NULL, logits) == SB_OK, "%s",
                      sb_model_last_error(m));
        for (int t = 0; t + 1 < L; t++) {
            const float *z = logits + (size_t)t * V;
            double mx = z[0], s = 0;
            for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
            for (int v = 0; v < V; v++) s += exp(z[v] - mx);
            double nll = -(z[ids[(size_t)b * L + t + 1]] - mx - log(s));
            total += nll;
            double d = fabs(nll - ref_nll[(size_t)b * (L - 1) + t]);
            if (d > max_tok_diff) max_tok_diff = d;
        }
    }
    double bpb = total / ((double)B * (L - 1)) / log(2.0);
    printf("held-out bits/byte: %.6f (reference %.6f, |diff| %.2e); max per-token nll diff %.2e nats\n",
           bpb, ref, fabs(bpb - ref), max_tok_diff);
    ck_assert_msg(fabs(bpb - ref) < 1e-3, "bits/byte %.6f vs reference %.6f", bpb, ref);
    ck_assert_msg(max_tok_diff < 2e-3, "per-token nll differs by up to %g nats", max_tok_diff);
    free(logits);
    free(ids);
    sb_st_free(f);
    sb_model_free(m);
}
END_TEST

/* Stream 600 held-out bytes (prefill 150, then steps: the window of 64
 * activated tokens wraps several times) and compare every position's logits
 * with one full forward of the same 600 bytes. */
START_TEST(test_stream_equals_forward) {
    int B, L;
    double ref;
    sb_st_file *f;
    int32_t *ids = eval_tokens(&B, &L, &ref, &f);
    const int n = 600, V = 256;
    sb_model *m = NULL;
    ck_assert_int_eq(sb_model_load(MODEL, NULL, &m), SB_OK);
    float *full = malloc(sizeof(float) * n * V), *st = malloc(sizeof(float) * n * V);
    const int32_t *row = ids + (size_t)3 * L;
    ck_assert_int_eq(sb_model_forward(m, 1, n, NULL, row, NULL, full), SB_OK);
    sb_stream *s = NULL;
    ck_assert_int_eq(sb_stream_open(m, &s), SB_OK);
    int pres[] = {150, 1, 599};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(sb_stream_reset(s), SB_OK);
        ck_assert_int_eq(sb_stream_feed_ids(s, row, pres[k], st, NULL), SB_OK);
        for (int t = pres[k]; t < n; t++) ck_assert_int_eq(sb_stream_step_id(s, row[t], st + (size_t)t * V), SB_OK);
        long steps = 0, act = 0;
        sb_stream_layer_activity(s, 0, &steps, &act);
        ck_assert_int_eq(steps, n - pres[k]);
        if (pres[k] == 1) ck_assert_int_gt(act, 64); /* the ring wrapped */
        char what[64];
        snprintf(what, sizeof what, "demo stream prefill=%d", pres[k]);
        tu_check_close(st, full, (size_t)n * V, 1e-4f, 2e-4f, what);
    }
    sb_stream_free(s);
    free(full);
    free(st);
    free(ids);
    sb_st_free(f);
    sb_model_free(m);
}
END_TEST

static int argmax(const float *z, int V) {
    int b = 0;
    for (int i = 1; i < V; i++)
        if (z[i] > z[b]) b = i;
    return b;
}

/* Greedy decoding by streaming equals greedy decoding by repeated full
 * forwards, for 64 bytes after a prompt. */
START_TEST(test_greedy_stream_equals_full) {
    const char *prompt = "import os\nimport sys\n\n\ndef main(argv):\n    ";
    const int np = (int)strlen(prompt), gen = 64, V = 256;
    sb_model *m = NULL;
    ck_assert_int_eq(sb_model_load(MODEL, NULL, &m), SB_OK);
    int32_t seq_a[256], seq_b[256];
    for (int i = 0; i < np; i++) seq_a[i] = seq_b[i] = (unsigned char)prompt[i];
    float *z = malloc(sizeof(float) * 256 * V), last[256];
    sb_stream *s = NULL;
    ck_assert_int_eq(sb_stream_open(m, &s), SB_OK);
    ck_assert_int_eq(sb_stream_feed_ids(s, seq_a, np, NULL, last), SB_OK);
    for (int i = 0; i < gen; i++) {
        seq_a[np + i] = argmax(last, V);
        if (i + 1 < gen) ck_assert_int_eq(sb_stream_step_id(s, seq_a[np + i], last), SB_OK);
    }
    for (int i = 0; i < gen; i++) {
        int n = np + i;
        ck_assert_int_eq(sb_model_forward(m, 1, n, NULL, seq_b, NULL, z), SB_OK);
        seq_b[n] = argmax(z + (size_t)(n - 1) * V, V);
    }
    char a[300], b[300];
    for (int i = 0; i < np + gen; i++) a[i] = (char)seq_a[i], b[i] = (char)seq_b[i];
    a[np + gen] = b[np + gen] = '\0';
    ck_assert_msg(memcmp(seq_a, seq_b, sizeof(int32_t) * (np + gen)) == 0,
                  "stream greedy:\n%s\nfull greedy:\n%s", a, b);
    sb_stream_free(s);
    free(z);
    sb_model_free(m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("demo");
    TCase *t = tcase_create("demo");
    tcase_set_timeout(t, 900);
    tcase_add_test(t, test_heldout_bits_per_byte);
    tcase_add_test(t, test_stream_equals_forward);
    tcase_add_test(t, test_greedy_stream_equals_full);
    suite_add_tcase(s, t);
    return tu_run(s);
}
