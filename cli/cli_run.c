/* cli_run.c - `seqboat run` and `seqboat inspect`. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "cli.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

int cli_inspect(int argc, char **argv) {
    const char *model = cli_opt(argc, argv, "--model");
    char *text = NULL;
    if (!model) {
        fprintf(stderr, "seqboat inspect: --model FILE is required\n");
        return 2;
    }
    if (sb_inspect(model, &text) != SB_OK) {
        fprintf(stderr, "seqboat inspect: %s\n", sb_last_error());
        return 1;
    }
    fputs(text, stdout);
    sb_free(text);
    return 0;
}

int cli_run(int argc, char **argv) {
    const char *model = cli_opt(argc, argv, "--model");
    const char *in = cli_opt(argc, argv, "--input");
    const char *out = cli_opt(argc, argv, "--output");
    int stats = cli_flag(argc, argv, "--stats");
    if (!model || !in || !out) {
        fprintf(stderr, "seqboat run: --model M --input IN --output OUT are required\n");
        return 2;
    }
    sb_options o = sb_options_default();
    o.device = cli_opt(argc, argv, "--device");
    double t0 = now_ms();
    sb_model *m = NULL;
    if (sb_model_load(model, &o, &m) != SB_OK) {
        fprintf(stderr, "seqboat run: %s\n", sb_last_error());
        return 1;
    }
    double t1 = now_ms();
    if (sb_model_run_file(m, in, out) != SB_OK) {
        fprintf(stderr, "seqboat run: %s\n", sb_model_last_error(m));
        sb_model_free(m);
        return 1;
    }
    double t2 = now_ms();
    if (stats) {
        sb_model_info info;
        sb_model_get_info(m, &info);
        fprintf(stderr, "device: %s\n", info.device);
        fprintf(stderr, "load %.1f ms, run %.1f ms (includes first-use kernel builds)\n", t1 - t0, t2 - t1);
        for (int l = 0; l < info.n_layers; l++) {
            int tok = 0, act = 0;
            double ms = 0;
            sb_model_layer_stats(m, l, &tok, &act, &ms);
            fprintf(stderr, "layer %d: activated %d of %d valid tokens (%.1f%%), %.2f ms\n", l, act,
                    tok, tok ? 100.0 * act / tok : 0.0, ms);
        }
        size_t peak = 0;
        if (sb_model_plan(m, 1, 1, &peak) == SB_OK)
            fprintf(stderr, "planned device peak (activations): %.1f MiB\n", peak / 1048576.0);
        const char *note = sb_model_cache_note(m);
        if (note) fprintf(stderr, "note: %s\n", note);
    }
    sb_model_free(m);
    return 0;
}
