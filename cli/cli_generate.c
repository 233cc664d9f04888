/* cli_generate.c - `seqboat generate`: stream bytes from a byte-level lm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "safetensors.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct { float p; int id; } cand;

static int cmp_cand(const void *a, const void *b) {
    float x = ((const cand *)a)->p, y = ((const cand *)b)->p;
    return x < y ? 1 : x > y ? -1 : ((const cand *)a)->id - ((const cand *)b)->id;
}

/* Greedy when temperature <= 0, else softmax(logits / T) with nucleus top_p. */
static int sample(const float *logits, int V, double temperature, double top_p, uint64_t *rng,
                  cand *buf) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0) return best;
    double sum = 0;
    for (int i = 0; i < V; i++) {
        buf[i].p = (float)exp((logits[i] - logits[best]) / temperature);
        buf[i].id = i;
        sum += buf[i].p;
    }
    qsort(buf, (size_t)V, sizeof *buf, cmp_cand);
    double acc = 0;
    int n = 0;
    while (n < V) {
        acc += buf[n].p / sum;
        n++;
        if (acc >= top_p) break;
    }
    double r = (double)(rng_next(rng) >> 11) * (1.0 / 9007199254740992.0) * acc, c = 0;
    for (int i = 0; i < n; i++) {
        c += buf[i].p / sum;
        if (r < c) return buf[i].id;
    }
    return buf[n - 1].id;
}

/* The bytes of the token ids: the identity for vocab_size 256, else the model
 * file's metadata `token_bytes` (docs/FAIRSEQ.md: one integer per id, the byte
 * it stands for or -1), as written by the converter of a fairseq byte-level
 * LM. byte_of[id] (-1 = not a byte), id_of[byte] (-1 = no id). 0 = ok, else
 * the message is printed. */
static int token_map(const char *model, int V, int *byte_of, int *id_of) {
    for (int b = 0; b < 256; b++) id_of[b] = -1;
    sb_st_file *f = NULL;
    sb_err e;
    const char *tb = NULL;
    if (sb_st_open(model, &f, &e) == SB_OK) tb = sb_st_meta(f, "token_bytes");
    if (!tb) {
        sb_st_free(f);
        if (V != 256) {
            fprintf(stderr, "seqboat generate: %s is not a byte-level lm (task lm with vocab_size 256, "
                    "or metadata 'token_bytes')\n", model);
            return 1;
        }
        for (int i = 0; i < 256; i++) byte_of[i] = id_of[i] = i;
        return 0;
    }
    const char *p = tb;
    for (int i = 0; i < V; i++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < -1 || v > 255 || (i + 1 < V ? *end != ',' : *end != '\0')) {
            fprintf(stderr, "seqboat generate: %s: metadata 'token_bytes' must be %d integers in "
                    "-1..255 separated by commas (entry %d)\n", model, V, i);
            sb_st_free(f);
            return 1;
        }
        byte_of[i] = (int)v;
        if (v >= 0 && id_of[v] < 0) id_of[v] = i;
        p = *end ? end + 1 : end;
    }
    sb_st_free(f);
    return 0;
}

static const char *default_model(void) {
    const char *env = getenv("SEQBOAT_MODEL");
    if (env && *env) return env;
    if (access(SB_DEFAULT_MODEL, R_OK) == 0) return SB_DEFAULT_MODEL;
    /* installed: <prefix>/bin/seqboat -> <prefix>/share/seqboat/... */
    static char rel[4096];
    ssize_t n = readlink("/proc/self/exe", rel, sizeof rel - 64);
    if (n > 0) {
        rel[n] = '\0';
        char *slash = strrchr(rel, '/');
        if (slash) {
            snprintf(slash, sizeof rel - (size_t)(slash - rel), "/../share/seqboat/tiny-pystdlib.safetensors");
            if (access(rel, R_OK) == 0) return rel;
        }
    }
    return SB_INSTALLED_MODEL;
}

static const char generate_usage[] =
    "usage: seqboat generate [--model M] (--prompt TEXT | --prompt-file F) [--max-tokens N]\n"
    "                        [--temperature T] [--top-p P] [--seed S] [--device D] [--stats]\n"
    "                        [--precision f32|f16|bf16] [--weights int8]\n"
    "  stream bytes from a byte-level lm (task lm, vocab_size 256, or metadata\n"
    "  `token_bytes`: the byte of each id, as a converted fairseq LM has) to stdout\n"
    "  --model M         model file (default: SEQBOAT_MODEL, else the shipped\n"
    "                    models/tiny-pystdlib.safetensors)\n"
    "  --prompt TEXT     the prompt (a TEXT starting with '--': write --prompt=TEXT)\n"
    "  --prompt-file F   the prompt: the bytes of file F\n"
    "  --max-tokens N    bytes to generate, 0 to 100000000 (default 200)\n"
    "  --temperature T   >= 0; 0 is greedy (default 0.8)\n"
    "  --top-p P         nucleus sampling, 0 < P <= 1 (default 0.95)\n"
    "  --seed S          sampler seed, a whole number >= 0 (default 1)\n"
    "  --device D        device index or name (default: SEQBOAT_DEVICE, else the first GPU,\n"
    "                    else the first device)\n"
    "  --stats           prefill and decode speed, per-layer activation, the weights'\n"
    "                    device memory (on stderr)\n"
    "  --precision P     the weights' storage on the device: f32 (default), f16 or bf16\n"
    "                    (converted at load, computed in float; docs/PRECISION.md)\n"
    "  --weights int8    int8 weights with per-output-channel scales\n";

enum {
    GEN_MODEL = 256, GEN_PROMPT, GEN_PROMPT_FILE, GEN_MAX_TOKENS, GEN_TEMPERATURE, GEN_TOP_P,
    GEN_SEED, GEN_DEVICE, GEN_STATS, GEN_PREC, GEN_WEIGHTS
};
static const struct option generate_opts[] = {
    {"model", required_argument, NULL, GEN_MODEL},
    {"prompt", required_argument, NULL, GEN_PROMPT},
    {"prompt-file", required_argument, NULL, GEN_PROMPT_FILE},
    {"max-tokens", required_argument, NULL, GEN_MAX_TOKENS},
    {"temperature", required_argument, NULL, GEN_TEMPERATURE},
    {"top-p", required_argument, NULL, GEN_TOP_P},
    {"seed", required_argument, NULL, GEN_SEED},
    {"device", required_argument, NULL, GEN_DEVICE},
    {"stats", no_argument, NULL, GEN_STATS},
    {"precision", required_argument, NULL, GEN_PREC},
    {"weights", required_argument, NULL, GEN_WEIGHTS},
    {"help", no_argument, NULL, CLI_HELP},
    {NULL, 0, NULL, 0},
};

int cli_generate(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *prompt_file = NULL, *device = NULL;
    char *file_text = NULL;
    size_t plen = 0;
    long max_tokens = 200;
    double temperature = 0.8, top_p = 0.95;
    uint64_t seed = 1;
    int stats = 0, precision = SB_PREC_F32, weights = SB_WEIGHTS_PRECISION;
    cli_parser p;
    cli_parser_init(&p, "generate", generate_opts, argc, argv);
    for (int c; (c = cli_next(&p)) != CLI_END;) {
        int bad = 0;
        switch (c) {
        case GEN_MODEL: model = p.arg; break;
        case GEN_PROMPT: prompt = p.arg; break;
        case GEN_PROMPT_FILE: prompt_file = p.arg; break;
        case GEN_MAX_TOKENS: bad = cli_parse_long(p.cmd, p.name, p.arg, 0, 100000000, &max_tokens); break;
        case GEN_TEMPERATURE: bad = cli_parse_double(p.cmd, p.name, p.arg, 0, 0, HUGE_VAL, &temperature); break;
        case GEN_TOP_P: bad = cli_parse_double(p.cmd, p.name, p.arg, 0, 1, 1, &top_p); break;
        case GEN_SEED: bad = cli_parse_u64(p.cmd, p.name, p.arg, &seed); break;
        case GEN_DEVICE: device = p.arg; break;
        case GEN_STATS: stats = 1; break;
        case GEN_PREC: bad = cli_parse_precision(p.cmd, p.name, p.arg, &precision); break;
        case GEN_WEIGHTS: bad = cli_parse_weights(p.cmd, p.name, p.arg, &weights); break;
        case CLI_HELP: return cli_help(generate_usage);
        default: bad = 1;
        }
        if (bad) return cli_usage_error(p.cmd);
    }
    if (!prompt == !prompt_file) {
        cli_fail(p.cmd, "give one of --prompt TEXT or --prompt-file F");
        return cli_usage_error(p.cmd);
    }
    if (prompt_file) { /* bytes of the file, as they are (a byte-level model) */
        FILE *f = fopen(prompt_file, "rb");
        if (!f) return fprintf(stderr, "seqboat generate: cannot open --prompt-file '%s'\n", prompt_file), 2;
        size_t cap = 0;
        for (;;) {
            if (plen == cap) {
                char *nt = realloc(file_text, cap = cap ? cap * 2 : 65536);
                if (!nt) break;
                file_text = nt;
            }
            size_t got = fread(file_text + plen, 1, cap - plen, f);
            plen += got;
            if (got == 0) break;
        }
        int bad = ferror(f) || !file_text;
        fclose(f);
        if (bad || plen > 0x7fffffff) {
            free(file_text);
            return fprintf(stderr, "seqboat generate: cannot read --prompt-file '%s'\n", prompt_file), 2;
        }
        prompt = file_text;
    } else {
        plen = strlen(prompt);
    }
    if (!model) model = default_model();
    sb_options o = sb_options_default();
    o.device = device;
    o.precision = precision;
    o.weights = weights;
    sb_model *m = NULL;
    sb_stream *s = NULL;
    int rc = 1;
    float *logits = NULL;
    cand *buf = NULL;
    int32_t *ids = NULL;
    int *byte_of = NULL, id_of[256];
    if (sb_model_load(model, &o, &m) != SB_OK) {
        fprintf(stderr, "seqboat generate: %s\n", sb_last_error());
        free(file_text);
        return 1;
    }
    sb_model_info info = {.struct_size = sizeof(sb_model_info)};
    sb_model_get_info(m, &info);
    if (info.task != SB_LM) {
        fprintf(stderr, "seqboat generate: %s is not a byte-level lm (task lm, vocab_size 256)\n", model);
        goto out;
    }
    const int V = info.vocab_size;
    byte_of = malloc(sizeof(int) * (size_t)V);
    if (!byte_of || token_map(model, V, byte_of, id_of) != 0) goto out;
    if (sb_stream_open(m, &s) != SB_OK) {
        fprintf(stderr, "seqboat generate: %s\n", sb_last_error());
        goto out;
    }
    if (plen == 0) prompt = "\n", plen = 1;
    ids = malloc(plen * sizeof *ids);
    logits = malloc(sizeof(float) * (size_t)V);
    buf = malloc(sizeof(cand) * (size_t)V);
    if (!ids || !logits || !buf) goto out;
    for (size_t i = 0; i < plen; i++) {
        ids[i] = id_of[(unsigned char)prompt[i]];
        if (ids[i] < 0) {
            fprintf(stderr, "seqboat generate: byte %d of the prompt (at %zu) has no token in %s\n",
                    (unsigned char)prompt[i], i, model);
            goto out;
        }
    }
    fwrite(prompt, 1, plen, stdout);
    fflush(stdout);
    double t0 = now_s();
    if (sb_stream_feed_ids(s, ids, (int)plen, NULL, logits) != SB_OK) {
        fprintf(stderr, "\nseqboat generate: %s\n", sb_stream_last_error(s));
        goto out;
    }
    double t1 = now_s();
    uint64_t rng = seed;
    long produced = 0;
    for (long i = 0; i < max_tokens; i++) {
        for (int v = 0; v < V; v++) /* ids that are no byte are never produced */
            if (byte_of[v] < 0) logits[v] = -INFINITY;
        int id = sample(logits, V, temperature, top_p, &rng, buf);
        unsigned char ch = (unsigned char)byte_of[id];
        fwrite(&ch, 1, 1, stdout);
        fflush(stdout);
        produced++;
        if (i + 1 == max_tokens) break;
        if (sb_stream_step_id(s, id, logits) != SB_OK) {
            fprintf(stderr, "\nseqboat generate: %s\n", sb_stream_last_error(s));
            goto out;
        }
    }
    double t2 = now_s();
    printf("\n");
    fflush(stdout); /* before the stats on stderr */
    if (stats) {
        fprintf(stderr, "device: %s\n", info.device);
        fprintf(stderr, "weights on the device (%s, with the stream's copies): %.3f MiB\n",
                cli_weights_name(precision, weights), (double)sb_model_weight_bytes(m) / 1048576.0);
        fprintf(stderr, "prefill: %zu tokens in %.3f s (%.1f tokens/s, includes first-use kernel builds)\n",
                plen, t1 - t0, plen / (t1 - t0));
        long steps = produced > 0 ? produced - 1 : 0;
        if (steps > 0)
            fprintf(stderr, "decode: %ld tokens in %.3f s (%.1f tokens/s, %.2f ms/token)\n", steps,
                    t2 - t1, steps / (t2 - t1), 1e3 * (t2 - t1) / steps);
        for (int l = 0; l < info.n_layers; l++) {
            long st = 0, act = 0;
            sb_stream_layer_activity(s, l, &st, &act);
            fprintf(stderr, "layer %d: activated %ld of %ld generated tokens (%.1f%%)\n", l, act, st,
                    st ? 100.0 * act / st : 0.0);
        }
    }
    rc = 0;
out:
    free(file_text);
    free(ids);
    free(logits);
    free(buf);
    free(byte_of);
    sb_stream_free(s);
    sb_model_free(m);
    return rc;
}
