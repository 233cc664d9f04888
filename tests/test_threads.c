/* test_threads.c - the threading rule of seqboat.h: a handle is used by one
 * thread at a time, different handles may be used concurrently. 8 threads each
 * load their own model from the same fixture file (even threads a sequence
 * model, odd threads an lm) into one fresh disk cache folder that all of them
 * fill at the same time, then run 100 forwards each over a cycle of shapes
 * (batch, length and ragged lengths change, so plans grow while other threads
 * run). Every output must be bit-identical to a single-thread run of the same
 * input, every call must succeed, and no thread may see its disk cache switched
 * off (a clash between concurrent cache writers would do that). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <string.h>
#include "testutil.h"
#include "seqboat.h"

#define DATA SB_TEST_DATA_DIR "/"
#define N_THREADS 8
#define N_ITERS 100
#define N_SHAPES 4

typedef struct {
    int B, L;
    int32_t len[3];
} shape;

static const shape SHAPES[N_SHAPES] = {{1, 12, {12}}, {2, 9, {9, 4}}, {3, 16, {5, 16, 1}}, {1, 3, {3}}};

typedef struct {
    const char *model;
    int lm, d_output;
    float *x[N_SHAPES];
    int32_t *ids[N_SHAPES];
    float *want[N_SHAPES];
    size_t n_out[N_SHAPES];
} kind;

static kind KINDS[2] = {{DATA "causal_relu2_layernorm.model.safetensors", 0, 5, {0}, {0}, {0}, {0}},
                        {DATA "lm_tokens.model.safetensors", 1, 50, {0}, {0}, {0}, {0}}};
static char cache_dir[64];

typedef struct {
    int id;
    int failures, mismatches, forwards;
    char msg[512];
} worker;

static sb_status fwd(sb_model *m, const kind *k, int s, float *out) {
    const shape *sh = &SHAPES[s];
    return sb_model_forward(m, sh->B, sh->L, k->lm ? NULL : k->x[s], k->lm ? k->ids[s] : NULL, sh->len,
                            out);
}

static void *work(void *arg) {
    worker *w = arg;
    const kind *k = &KINDS[w->id % 2];
    sb_options o = sb_options_default();
    o.cache_dir = cache_dir;
    sb_model *m = NULL;
    if (sb_model_load(k->model, &o, &m) != SB_OK) {
        snprintf(w->msg, sizeof w->msg, "load: %s", sb_last_error());
        w->failures++;
        return NULL;
    }
    float *out = malloc(sizeof(float) * 3 * 16 * 50);
    for (int it = 0; out && it < N_ITERS; it++) {
        int s = (it + w->id) % N_SHAPES;
        sb_status st = fwd(m, k, s, out);
        w->forwards++;
        if (st != SB_OK) {
            if (!w->failures++) snprintf(w->msg, sizeof w->msg, "forward %d: %s", it, sb_model_last_error(m));
            continue;
        }
        if (memcmp(out, k->want[s], k->n_out[s] * sizeof(float)) != 0 && !w->mismatches++)
            snprintf(w->msg, sizeof w->msg, "forward %d (shape %d): output differs", it, s);
    }
    const char *note = sb_model_cache_note(m);
    if (note && !w->failures++) snprintf(w->msg, sizeof w->msg, "cache note: %s", note);
    free(out);
    sb_model_free(m);
    return NULL;
}

START_TEST(eight_threads_own_models) {
    snprintf(cache_dir, sizeof cache_dir, "/tmp/sb_threads_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(cache_dir));
    /* single-thread reference (disk cache off, so the threads start from an empty folder) */
    sb_options o = sb_options_default();
    o.cache_dir = "off";
    for (int ki = 0; ki < 2; ki++) {
        kind *k = &KINDS[ki];
        sb_model *m = NULL;
        ck_assert_msg(sb_model_load(k->model, &o, &m) == SB_OK, "%s", sb_last_error());
        for (int s = 0; s < N_SHAPES; s++) {
            const shape *sh = &SHAPES[s];
            size_t bl = (size_t)sh->B * sh->L;
            k->x[s] = malloc(sizeof(float) * bl * 3);
            k->ids[s] = malloc(sizeof(int32_t) * bl);
            k->n_out[s] = bl * (size_t)k->d_output;
            k->want[s] = malloc(sizeof(float) * k->n_out[s]);
            ck_assert(k->x[s] && k->ids[s] && k->want[s]);
            tu_fill(k->x[s], bl * 3, (uint32_t)(100 + s), -1, 1);
            for (size_t i = 0; i < bl; i++) k->ids[s][i] = (int32_t)((i * 13 + (size_t)s) % 50);
            sb_status st = fwd(m, k, s, k->want[s]);
            ck_assert_msg(st == SB_OK, "reference forward: %s", sb_model_last_error(m));
            /* the same model twice in a row gives the same bits (else the test means nothing) */
            float *again = malloc(sizeof(float) * k->n_out[s]);
            ck_assert_ptr_nonnull(again);
            ck_assert_int_eq(fwd(m, k, s, again), SB_OK);
            ck_assert(memcmp(again, k->want[s], k->n_out[s] * sizeof(float)) == 0);
            free(again);
        }
        sb_model_free(m);
    }
    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < N_THREADS; i++) {
        w[i].id = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < N_THREADS; i++) {
        ck_assert_msg(w[i].failures == 0 && w[i].mismatches == 0,
                      "thread %d: %d failures, %d mismatches of %d forwards; first: %s", i,
                      w[i].failures, w[i].mismatches, w[i].forwards, w[i].msg);
        ck_assert_int_eq(w[i].forwards, N_ITERS);
    }
    for (int ki = 0; ki < 2; ki++)
        for (int s = 0; s < N_SHAPES; s++) {
            free(KINDS[ki].x[s]);
            free(KINDS[ki].ids[s]);
            free(KINDS[ki].want[s]);
        }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, eight_threads_own_models);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
