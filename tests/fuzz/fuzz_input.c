/* fuzz_input.c - libFuzzer target: bytes -> sb_st_from_memory ->
 * sb_input_from_st, for the configurations the fixtures use (lm with a
 * vocabulary of 50, sequence and classify models with 3 input features) and
 * two edge configurations (vocabulary 1, one feature).
 *
 * An accepted input must keep the reader's promises: B, L >= 1, every length in
 * 1..L, every valid token id in [0, vocab), arrays of exactly the right size
 * (all read here, so ASan sees an overrun). A broken promise traps. */
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

static void one_config(const sb_st_file *st, const sb_config *cfg) {
    sb_input in;
    sb_err e;
    sb_err_clear(&e);
    sb_status s = sb_input_from_st(st, cfg, &in, &e);
    if (s != SB_OK) {
        CHECK(e.status == s && e.msg[0] != '\0');
        CHECK(in.x == NULL && in.ids == NULL && in.lengths == NULL);
        return;
    }
    const int lm = cfg->task == SB_TASK_LM;
    CHECK(in.B >= 1 && in.L >= 1 && in.lengths);
    CHECK(in.F == (lm ? 0 : cfg->d_input));
    CHECK(lm ? (in.ids && !in.x) : (in.x && !in.ids));
    for (int b = 0; b < in.B; b++) {
        CHECK(in.lengths[b] >= 1 && in.lengths[b] <= in.L);
        if (lm)
            for (int t = 0; t < in.lengths[b]; t++) {
                int32_t id = in.ids[(size_t)b * in.L + t];
                CHECK(id >= 0 && id < cfg->vocab_size);
            }
    }
    size_t BL = (size_t)in.B * (size_t)in.L;
    if (lm) touch(in.ids, BL * sizeof(int32_t));
    else touch(in.x, BL * (size_t)in.F * sizeof(float));
    sb_input_free(&in);
    CHECK(in.x == NULL && in.ids == NULL && in.lengths == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sb_err e;
    sb_st_file *st = NULL;
    sb_err_clear(&e);
    if (sb_st_from_memory(data, size, &st, &e) != SB_OK) {
        CHECK(st == NULL && e.msg[0] != '\0');
        return 0;
    }
    sb_config c;
    memset(&c, 0, sizeof c);
    c.d_output = 5;
    c.d_model = 16;
    c.task = SB_TASK_LM;
    c.vocab_size = 50;
    one_config(st, &c);
    c.vocab_size = 1;
    one_config(st, &c);
    c.vocab_size = 0;
    c.task = SB_TASK_SEQUENCE;
    c.d_input = 3;
    one_config(st, &c);
    c.d_input = 1;
    one_config(st, &c);
    c.task = SB_TASK_CLASSIFY;
    c.d_input = 3;
    one_config(st, &c);
    sb_st_free(st);
    return 0;
}
