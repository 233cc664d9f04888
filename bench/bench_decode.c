/* bench_decode.c - streaming-decode points of `seqboat bench` (method
 * "decode"): the cost of one token at a given position. See bench.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

#define WARM_MAX 256

/* Activated / stepped tokens summed over the layers since the stream's open. */
static void activity(const sb_stream *s, int n_layers, long *act, long *tot) {
    *act = *tot = 0;
    for (int l = 0; l < n_layers; l++) {
        long st = 0, a = 0;
        sb_stream_layer_activity(s, l, &st, &a);
        *act += a, *tot += st;
    }
}

static int all_layers_active(const sb_stream *s, int n_layers) {
    for (int l = 0; l < n_layers; l++) {
        long a = 0;
        sb_stream_layer_activity(s, l, NULL, &a);
        if (a == 0) return 0;
    }
    return 1;
}

sb_status sb_bench_decode(sb_model *m, int L, int steps, uint64_t seed, sb_bench_row *row,
                          sb_err *e) {
    sb_status st = SB_OK;
    sb_stream *s = NULL;
    float *x = NULL, *out = NULL;
    int32_t *ids = NULL;
    double *times = NULL;
    sb_model_info info = {.struct_size = sizeof(sb_model_info)};
    if (!m || !row || L < 1 || steps < 1)
        return sb_fail(e, SB_ERR_ARG, "sb_bench_decode: need a model, a row, L >= 1, steps >= 1");
    SB_TRY(sb_model_get_info(m, &info) == SB_OK ? SB_OK
                                                 : sb_fail(e, SB_ERR_ARG, "%s", sb_model_last_error(m)));
    sb_status os = sb_stream_open(m, &s);
    if (os != SB_OK) SB_FAIL(os, "%s", sb_last_error());
    int lm = info.vocab_size > 0; /* token ids in (lm, or a token-id sequence model) */
    size_t F = lm ? 1 : (size_t)info.d_input;
    /* The prompt: L tokens, one parallel prefill (the stream's first feed). */
    if (lm) ids = malloc((size_t)L * sizeof *ids);
    else x = malloc(sb_mul_size((size_t)L, F) * sizeof *x);
    out = malloc((size_t)info.d_output * sizeof *out);
    times = malloc((size_t)steps * sizeof *times);
    if ((!ids && !x) || !out || !times)
        SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory for a prompt of %d tokens", L);
    if (lm) sb_bench_fill_ids(ids, (size_t)L, info.vocab_size, seed);
    else sb_bench_fill(x, (size_t)L * F, seed);
    double t0 = sb_bench_now_ms();
    sb_status fs = lm ? sb_stream_feed_ids(s, ids, L, NULL, out) : sb_stream_feed(s, x, L, NULL, out);
    if (fs != SB_OK) SB_FAIL(fs, "prefill of %d tokens: %s", L, sb_stream_last_error(s));
    row->prefill_ms = sb_bench_now_ms() - t0;
    /* Untimed warm-up steps until every layer has run its attention path once
     * (first use builds kernels; at least 2, at most WARM_MAX), then `steps`
     * timed ones, each on its own. */
    uint64_t tok_seed = seed + 0x51ED;
    long act0 = 0, tot0 = 0;
    for (int i = 0; i < WARM_MAX + steps; i++) {
        int warm = i < WARM_MAX;
        if (warm && i >= 2 && all_layers_active(s, info.n_layers)) i = WARM_MAX; /* warm enough */
        if (i == WARM_MAX) activity(s, info.n_layers, &act0, &tot0);
        if (lm) sb_bench_fill_ids(ids, 1, info.vocab_size, tok_seed + (uint64_t)i);
        else sb_bench_fill(x, F, tok_seed + (uint64_t)i);
        double t = sb_bench_now_ms();
        fs = lm ? sb_stream_step_id(s, ids[0], out) : sb_stream_step(s, x, out);
        if (fs != SB_OK) SB_FAIL(fs, "step at position %ld: %s", sb_stream_position(s),
                                 sb_stream_last_error(s));
        if (i >= WARM_MAX) times[i - WARM_MAX] = sb_bench_now_ms() - t;
    }
    long act = 0, tot = 0;
    activity(s, info.n_layers, &act, &tot);
    act -= act0, tot -= tot0;
    row->B = 1;
    row->L = L;
    row->tokens = steps;
    row->repeats = steps;
    row->layers = info.n_layers, row->D = info.d_model, row->Z = info.d_qk, row->H = info.d_hidden;
    row->N = info.d_ema, row->W = info.mem_size, row->causal = !info.bidirectional;
    row->softmax = info.attention_activation == SB_SOFTMAX;
    row->share = tot > 0 ? (double)act / (double)tot : 0;
    double total = 0;
    for (int i = 0; i < steps; i++) total += times[i];
    sb_bench_summary(times, steps, &row->ms_min, &row->ms_med, &row->ms_max);
    /* a step costs more when its token activates the attention unit: the
     * times are bimodal, so the rate is steps over their total time */
    row->tokens_per_s = total > 0 ? 1e3 * steps / total : 0;
    row->load_avg = sb_bench_load_avg();
    snprintf(row->status, sizeof row->status, "ok");
done:
    sb_stream_free(s);
    free(x);
    free(ids);
    free(out);
    free(times);
    return st;
}
