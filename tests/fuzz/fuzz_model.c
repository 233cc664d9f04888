/* fuzz_model.c - libFuzzer target: bytes -> sb_st_from_memory ->
 * sb_model_file_from_st (the whole host-side model loader, no OpenCL).
 *
 * Besides "no crash, no leak, no sanitizer report", it checks what the loader
 * promises about a file it accepts: every tensor's bytes lie inside storage it
 * owns (all are read here, so ASan sees any overrun), data pointers are 8-byte
 * aligned, and an accepted model's parameter count is the one its config
 * implies. A broken promise traps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "model_file.h"
#include "safetensors.h"

#define CHECK(c_)                                                              \
    do {                                                                       \
        if (!(c_)) __builtin_trap();                                           \
    } while (0)

static volatile unsigned char sink;

static void touch(const void *p, size_t n) {
    const unsigned char *b = p;
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++) acc ^= b[i];
    sink ^= acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sb_err e;
    sb_st_file *st = NULL;
    sb_err_clear(&e);
    sb_status s = sb_st_from_memory(data, size, &st, &e);
    if (s != SB_OK) {
        CHECK(st == NULL);
        CHECK(e.status == s && e.msg[0] != '\0'); /* every failure names its problem */
        return 0;
    }
    CHECK(st != NULL);
    for (int i = 0; i < sb_st_count(st); i++) {
        const sb_tensor *t = sb_st_at(st, i);
        CHECK(t && t->name && t->data);
        CHECK(((uintptr_t)t->data & 7u) == 0);
        CHECK(t->ndim >= 0 && t->ndim <= SB_ST_MAX_DIMS);
        CHECK(sb_st_find(st, t->name) == t);
        touch(t->data, t->nbytes);
    }
    for (int i = 0; i < sb_st_meta_count(st); i++) {
        const char *k = NULL, *v = NULL;
        CHECK(sb_st_meta_at(st, i, &k, &v) && k && v);
        CHECK(sb_st_meta(st, k) == v);
    }

    sb_model_file *m = NULL;
    sb_err_clear(&e);
    s = sb_model_file_from_st(st, &m, &e); /* takes st */
    if (s != SB_OK) {
        CHECK(m == NULL);
        CHECK(e.status == s && e.msg[0] != '\0');
        return 0;
    }
    const sb_config *c = &m->cfg;
    CHECK(c->d_model >= 1 && c->n_layers >= 1 && c->d_output >= 1);
    CHECK((uint64_t)m->n_params == sb_config_param_count(c));
    const size_t D = (size_t)c->d_model;
    if (c->task == SB_TASK_LM) touch(m->embed, (size_t)c->vocab_size * D * 4);
    else touch(m->enc_w, D * (size_t)c->d_input * 4);
    touch(m->dec_w, (size_t)c->d_output * D * 4);
    touch(m->dec_b, (size_t)c->d_output * 4);
    for (int i = 0; i < c->n_layers; i++) {
        const sb_layer_w *w = &m->layers[i];
        size_t K = c->bidirectional ? 2 * D : D, N = (size_t)c->d_ema;
        size_t Z = (size_t)c->d_qk, H = (size_t)c->d_hidden;
        touch(w->delta, K * N * 4);
        touch(w->gamma, K * N * 4);
        touch(w->mx_w, (Z + 2 * H) * D * 4);
        touch(w->h_w, D * H * 4);
        touch(w->norm.weight, D * 4);
        if (c->norm == SB_NORM_BATCH) touch(w->norm.var, D * 4);
        if (!c->rotary) touch(w->rel_pos, (2 * (size_t)c->max_positions - 1) * 4);
    }
    sb_model_file_free(m);
    return 0;
}
