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

static const char inspect_usage[] =
    "usage: seqboat inspect --model M\n"
    "  print a model file's config, tensors and parameter count\n"
    "  --model M    model file (safetensors)\n";

enum { INSPECT_MODEL = 256 };
static const struct option inspect_opts[] = {
    {"model", required_argument, NULL, INSPECT_MODEL},
    {"help", no_argument, NULL, CLI_HELP},
    {NULL, 0, NULL, 0},
};

int cli_inspect(int argc, char **argv) {
    const char *model = NULL;
    char *text = NULL;
    cli_parser p;
    cli_parser_init(&p, "inspect", inspect_opts, argc, argv);
    for (int c; (c = cli_next(&p)) != CLI_END;) {
        switch (c) {
        case INSPECT_MODEL: model = p.arg; break;
        case CLI_HELP: return cli_help(inspect_usage);
        default: return cli_usage_error(p.cmd);
        }
    }
    if (!model) return cli_fail(p.cmd, "--model FILE is required"), cli_usage_error(p.cmd);
    if (sb_inspect(model, &text) != SB_OK) {
        fprintf(stderr, "seqboat inspect: %s\n", sb_last_error());
        return 1;
    }
    fputs(text, stdout);
    sb_free(text);
    return 0;
}

static const char run_usage[] =
    "usage: seqboat run --model M --input IN --output OUT [--device D] [--stats]\n"
    "                   [--precision f32|f16|bf16] [--weights int8]\n"
    "  run a model on the inputs of a safetensors file and write its outputs\n"
    "  --model M     model file (safetensors)\n"
    "  --input IN    `input` (F32 [B,L,d_input] or token ids [B,L]), optional `lengths` [B];\n"
    "                a pair model (metadata `pair`) also `input2` [B,L2,..], `lengths2` [B]\n"
    "  --output OUT  file to write `output` to\n"
    "  --device D    device index or name (default: SEQBOAT_DEVICE, else the first GPU,\n"
    "                else the first device)\n"
    "  --stats       per-layer activated share and time, load and run time, the weights'\n"
    "                device memory (on stderr)\n"
    "  --precision P the weights' storage on the device: f32 (default), f16 or bf16\n"
    "                (converted at load, computed in float; docs/PRECISION.md)\n"
    "  --weights int8  int8 weights with per-output-channel scales\n"
    "under mpirun (built with MPI, README \"Past one host: MPI\"): the sequences are split\n"
    "over the ranks; each rank uses its node-local rank's GPU unless --device is given\n"
    "and loads the weights as --precision / --weights say;\n"
    "  --chunk-tokens N  padded tokens per forward and device on a rank (default 65536)\n"
    "  --stats       one line per rank: rank R of N on HOST (device NAME): sequences A..B\n"
    "                (A up to, not including, B), T valid tokens, and rank R of N: weights on\n"
    "                the device (f32|f16|bf16|int8): BYTES bytes; rank 0: the total\n";

enum { RUN_MODEL = 256, RUN_INPUT, RUN_OUTPUT, RUN_DEVICE, RUN_STATS, RUN_CHUNK, RUN_PREC, RUN_WEIGHTS };
static const struct option run_opts[] = {
    {"model", required_argument, NULL, RUN_MODEL},
    {"input", required_argument, NULL, RUN_INPUT},
    {"output", required_argument, NULL, RUN_OUTPUT},
    {"device", required_argument, NULL, RUN_DEVICE},
    {"stats", no_argument, NULL, RUN_STATS},
    {"chunk-tokens", required_argument, NULL, RUN_CHUNK},
    {"precision", required_argument, NULL, RUN_PREC},
    {"weights", required_argument, NULL, RUN_WEIGHTS},
    {"help", no_argument, NULL, CLI_HELP},
    {NULL, 0, NULL, 0},
};

int cli_run(int argc, char **argv) {
    const char *model = NULL, *in = NULL, *out = NULL, *device = NULL;
    int stats = 0, precision = SB_PREC_F32, weights = SB_WEIGHTS_PRECISION;
    long chunk_tokens = 0;
    cli_parser p;
    cli_parser_init(&p, "run", run_opts, argc, argv);
    for (int c; (c = cli_next(&p)) != CLI_END;) {
        switch (c) {
        case RUN_MODEL: model = p.arg; break;
        case RUN_INPUT: in = p.arg; break;
        case RUN_OUTPUT: out = p.arg; break;
        case RUN_DEVICE: device = p.arg; break;
        case RUN_STATS: stats = 1; break;
        case RUN_PREC:
            if (cli_parse_precision(p.cmd, p.name, p.arg, &precision) != 0) return cli_usage_error(p.cmd);
            break;
        case RUN_WEIGHTS:
            if (cli_parse_weights(p.cmd, p.name, p.arg, &weights) != 0) return cli_usage_error(p.cmd);
            break;
        case RUN_CHUNK:
            if (cli_parse_long(p.cmd, p.name, p.arg, 1, 1L << 30, &chunk_tokens) != 0)
                return cli_usage_error(p.cmd);
            break;
        case CLI_HELP: return cli_help(run_usage);
        default: return cli_usage_error(p.cmd);
        }
    }
    if (!model || !in || !out) {
        cli_fail(p.cmd, "missing %s (--model M --input IN --output OUT are required)",
                 !model ? "--model" : !in ? "--input" : "--output");
        return cli_usage_error(p.cmd);
    }
    if (CLI_USE_MPI())
        return cli_run_mpi(model, in, out, device, chunk_tokens, stats, precision, weights);
    sb_options o = sb_options_default();
    o.device = device;
    o.profiling = stats; /* per-layer times are measured with profiling only */
    o.precision = precision;
    o.weights = weights;
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
        sb_model_info info = {.struct_size = sizeof(sb_model_info)};
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
        fprintf(stderr, "weights on the device (%s): %.3f MiB (%llu bytes)\n",
                cli_weights_name(precision, weights), (double)sb_model_weight_bytes(m) / 1048576.0,
                (unsigned long long)sb_model_weight_bytes(m));
        size_t peak = 0;
        if (sb_model_plan(m, 1, 1, &peak) == SB_OK)
            fprintf(stderr, "planned device peak (activations): %.1f MiB\n", peak / 1048576.0);
        const char *note = sb_model_cache_note(m);
        if (note) fprintf(stderr, "note: %s\n", note);
    }
    sb_model_free(m);
    return 0;
}
