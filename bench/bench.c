/* bench.c - random bench models, the work model, timed forwards and build
 * times for `seqboat bench` (see bench.h for the formulas). The phase split of
 * a row, its checks and its rooflines: bench_phase.c. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../runtime/wtype.h"
#include "bench.h"
#include "bench_internal.h"
#include "bench_force.h"
#include "gemm_tune.h"
#include "program_cache.h"

const char *const sb_bench_method_names[] = {"sma", "dense", "quadratic", "decode", NULL};

const char *const sb_bench_precision_names[] = {"f32", "f16", "bf16", "int8", NULL};

void sb_bench_opts_default(sb_bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->lengths[0] = 1024, o->lengths[1] = 4096, o->n_len = 2;
    o->shares[0] = 0.5, o->n_share = 1;
    o->methods = SB_BENCH_SMA | SB_BENCH_DENSE | SB_BENCH_QUAD;
    o->precisions = 1u << SB_WT_F32;
    o->decode_steps = 64;
    o->B = 1, o->warmup = 1, o->repeats = 5;
    o->build_time = 1, o->profile = 1, o->roofline = 1;
    o->max_seconds = 60, o->quad_budget_s = 60, o->quad_max_len = 16384;
    o->seed = 1;
    o->gemm_tune = 1, o->driver_cache = 1;
    sb_bench_config_default(&o->cfg);
}

void sb_bench_apply_process_settings(const sb_bench_opts *o) {
    sb_gemm_tune_set_enabled(o->gemm_tune);
    if (!o->driver_cache) setenv("POCL_KERNEL_CACHE", "0", 1); /* PoCL reads only its environment */
}

void sb_bench_config_default(sb_config *c) {
    memset(c, 0, sizeof *c);
    c->task = SB_TASK_SEQUENCE;
    c->d_input = 16;
    c->d_output = 16;
    c->d_model = 512;
    c->n_layers = 1;
    c->d_qk = 128;
    c->d_hidden = 1024;
    c->d_ema = 16;
    c->mem_size = 256;
    c->max_positions = 8192;
    c->truncation = 0;
    c->bidirectional = 0;
    c->prenorm = 1;
    c->norm = SB_NORM_LAYER;
    c->rotary = 0;
    c->softmax = 0;
}

/* ---- random numbers ---------------------------------------------------------- */

typedef struct { uint64_t s; } rng64;

static uint64_t rng_next(rng64 *r) { /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(rng64 *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

static double rng_normal(rng64 *r) { /* Box-Muller */
    double u1 = rng_unit(r), u2 = rng_unit(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Normal(mean, std) truncated to +- 2 std, as the reference initialises the EMA. */
static double rng_trunc(rng64 *r, double mean, double std) {
    double v;
    do v = rng_normal(r);
    while (v < -2.0 || v > 2.0);
    return mean + std * v;
}

void sb_bench_fill(float *x, size_t n, uint64_t seed) {
    rng64 r = {seed * 0x2545f4914f6cdd1dull + 7};
    for (size_t i = 0; i < n; i++) x[i] = (float)(2.0 * rng_unit(&r) - 1.0);
}

void sb_bench_fill_ids(int32_t *ids, size_t n, int vocab, uint64_t seed) {
    rng64 r = {seed};
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)(rng_next(&r) % (uint64_t)vocab);
}

/* ---- random model file ---------------------------------------------------------- */

typedef struct tensor_list {
    sb_st_out *t;
    char **names;
    void **data;
    int64_t (*shapes)[3];
    int n, cap;
} tensor_list;

enum { INIT_LINEAR_W, INIT_BIAS, INIT_NORM_W, INIT_NORMAL, INIT_HALF, INIT_CONST };

static void tl_free(tensor_list *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->names[i]);
        free(l->data[i]);
    }
    free(l->t);
    free(l->names);
    free(l->data);
    free(l->shapes);
    memset(l, 0, sizeof *l);
}

/* Add a tensor of ndim dims (ndim 0 = scalar); returns its data or NULL. */
static void *tl_add(tensor_list *l, const char *name, sb_dtype dt, int ndim, int64_t d0, int64_t d1,
                    int64_t d2) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        sb_st_out *t = realloc(l->t, (size_t)cap * sizeof *t);
        if (t) l->t = t;
        char **nm = realloc(l->names, (size_t)cap * sizeof *nm);
        if (nm) l->names = nm;
        void **da = realloc(l->data, (size_t)cap * sizeof *da);
        if (da) l->data = da;
        int64_t(*sh)[3] = realloc(l->shapes, (size_t)cap * sizeof *sh);
        if (sh) l->shapes = sh;
        if (!t || !nm || !da || !sh) return NULL;
        l->cap = cap;
    }
    size_t count = 1;
    int64_t dims[3] = {d0, d1, d2};
    for (int i = 0; i < ndim; i++) count *= (size_t)dims[i];
    void *data = calloc(count ? count : 1, dt == SB_DT_I64 ? 8 : 4);
    char *nm = malloc(strlen(name) + 1);
    if (!data || !nm) {
        free(data);
        free(nm);
        return NULL;
    }
    strcpy(nm, name);
    int i = l->n++;
    memcpy(l->shapes[i], dims, sizeof dims);
    l->names[i] = nm;
    l->data[i] = data;
    l->t[i].name = nm;
    l->t[i].dtype = dt;
    l->t[i].ndim = ndim;
    l->t[i].shape = l->shapes[i];
    l->t[i].data = data;
    return data;
}

/* An F32 tensor filled by `init` (fan_in for linear weights, value for const). */
static sb_status add_f32(tensor_list *l, rng64 *r, const char *name, int ndim, int64_t d0,
                         int64_t d1, int64_t d2, int init, double arg, sb_err *e) {
    float *p = tl_add(l, name, SB_DT_F32, ndim, d0, d1, d2);
    if (!p) return sb_fail(e, SB_ERR_HOST_MEMORY, "bench model: out of host memory for '%s'", name);
    size_t n = 1;
    int64_t dims[3] = {d0, d1, d2};
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        switch (init) {
        case INIT_LINEAR_W: v = rng_normal(r) / sqrt(arg); break;
        case INIT_BIAS: v = 0.1 * rng_normal(r); break;
        case INIT_NORM_W: v = 1.0 + 0.2 * rng_normal(r); break;
        case INIT_NORMAL: v = arg * rng_normal(r); break;
        case INIT_HALF: v = 0.5 * rng_normal(r); break;
        case INIT_CONST: v = arg; break;
        }
        p[i] = (float)v;
    }
    return SB_OK;
}

static sb_status add_norm(tensor_list *l, rng64 *r, const char *prefix, const sb_config *c,
                          sb_err *e) {
    sb_status st = SB_OK;
    char nm[160];
    int64_t D = c->d_model;
    snprintf(nm, sizeof nm, "%snorm.norm.weight", prefix);
    SB_TRY(add_f32(l, r, nm, 1, D, 0, 0, INIT_NORM_W, 0, e));
    snprintf(nm, sizeof nm, "%snorm.norm.bias", prefix);
    SB_TRY(add_f32(l, r, nm, 1, D, 0, 0, INIT_BIAS, 0, e));
    if (c->norm == SB_NORM_BATCH) {
        snprintf(nm, sizeof nm, "%snorm.norm.running_mean", prefix);
        SB_TRY(add_f32(l, r, nm, 1, D, 0, 0, INIT_HALF, 0, e));
        snprintf(nm, sizeof nm, "%snorm.norm.running_var", prefix);
        float *v = tl_add(l, nm, SB_DT_F32, 1, D, 0, 0);
        if (!v) SB_FAIL(SB_ERR_HOST_MEMORY, "bench model: out of host memory");
        for (int64_t i = 0; i < D; i++) v[i] = (float)(0.5 + 1.5 * rng_unit(r));
        snprintf(nm, sizeof nm, "%snorm.norm.num_batches_tracked", prefix);
        if (!tl_add(l, nm, SB_DT_I64, 0, 0, 0, 0)) SB_FAIL(SB_ERR_HOST_MEMORY, "bench model: out of host memory");
    }
done:
    return st;
}

static sb_status add_layer(tensor_list *l, rng64 *r, int i, const sb_config *c, sb_err *e) {
    sb_status st = SB_OK;
    char pre[48], nm[160];
    const int64_t D = c->d_model, Z = c->d_qk, H = c->d_hidden, N = c->d_ema;
    const int64_t K = c->bidirectional ? 2 * D : D, P = c->max_positions;
    snprintf(pre, sizeof pre, "seq_layers.%d.", i);
#define NM(s_) (snprintf(nm, sizeof nm, "%s%s", pre, (s_)), nm)
    SB_TRY(add_f32(l, r, NM("gamma"), 2, 2, Z, 0, INIT_NORMAL, 1.0, e));
    SB_TRY(add_f32(l, r, NM("beta"), 2, 2, Z, 0, INIT_HALF, 0, e));
    SB_TRY(add_norm(l, r, pre, c, e));
    /* EMA as the reference initialises it: delta, alpha ~ N(0, 0.2); beta =
     * (1, -1, 1, ...) + N(0, 0.02); gamma, omega ~ N(0, 1) (all truncated). */
    float *p = tl_add(l, NM("ssm.delta"), SB_DT_F32, 3, K, N, 1);
    float *a = tl_add(l, NM("ssm.alpha"), SB_DT_F32, 3, K, N, 1);
    float *b = tl_add(l, NM("ssm.beta"), SB_DT_F32, 3, K, N, 1);
    float *g = tl_add(l, NM("ssm.gamma"), SB_DT_F32, 2, K, N, 0);
    float *o = tl_add(l, NM("ssm.omega"), SB_DT_F32, 1, D, 0, 0);
    if (!p || !a || !b || !g || !o) SB_FAIL(SB_ERR_HOST_MEMORY, "bench model: out of host memory");
    for (int64_t k = 0; k < K * N; k++) {
        p[k] = (float)rng_trunc(r, 0.0, 0.2);
        a[k] = (float)rng_trunc(r, 0.0, 0.2);
        b[k] = (float)rng_trunc(r, (k % N) % 2 ? -1.0 : 1.0, 0.02);
        g[k] = (float)rng_trunc(r, 0.0, 1.0);
    }
    for (int64_t d = 0; d < D; d++) o[d] = (float)rng_trunc(r, 0.0, 1.0);
    if (!c->rotary) SB_TRY(add_f32(l, r, NM("rel_pos_bias.rel_pos_bias"), 1, 2 * P - 1, 0, 0, INIT_HALF, 0, e));
    float *t = tl_add(l, NM("q_router.temp"), SB_DT_F32, 1, 1, 0, 0);
    if (!t) SB_FAIL(SB_ERR_HOST_MEMORY, "bench model: out of host memory");
    t[0] = (float)(log(sqrt((double)D)) + 0.3 * rng_normal(r));
    SB_TRY(add_f32(l, r, NM("mx_proj.weight"), 2, Z + 2 * H, D, 0, INIT_LINEAR_W, (double)D, e));
    SB_TRY(add_f32(l, r, NM("mx_proj.bias"), 1, Z + 2 * H, 0, 0, INIT_BIAS, 0, e));
    SB_TRY(add_f32(l, r, NM("hx_proj.weight"), 2, 2 + D, D, 0, INIT_LINEAR_W, (double)D, e));
    SB_TRY(add_f32(l, r, NM("hx_proj.bias"), 1, 2 + D, 0, 0, INIT_BIAS, 0, e));
    /* h_proj x3, as the reference cases do, so the attention branch weighs in */
    SB_TRY(add_f32(l, r, NM("h_proj.weight"), 2, D, H, 0, INIT_LINEAR_W, (double)H / 9.0, e));
    SB_TRY(add_f32(l, r, NM("h_proj.bias"), 1, D, 0, 0, INIT_BIAS, 0, e));
#undef NM
done:
    return st;
}

sb_status sb_bench_write_model(const char *path, const sb_config *c, uint64_t seed, sb_err *e) {
    sb_status st = SB_OK;
    tensor_list l;
    memset(&l, 0, sizeof l);
    rng64 r = {seed ^ 0x5eb0a75eb0a7ull};
    const int64_t D = c->d_model;
    char v[14][24];
    if (c->d_model < 1 || c->n_layers < 1 || c->d_qk < 1 || c->d_hidden < 1 || c->d_ema < 1 ||
        c->mem_size < 1 || c->max_positions < 1 || c->d_output < 1 ||
        (c->task == SB_TASK_LM ? c->vocab_size < 1 : c->d_input < 1))
        return sb_fail(e, SB_ERR_ARG, "bench model: every size must be at least 1");
    if (c->task == SB_TASK_LM) {
        SB_TRY(add_f32(&l, &r, "embed_tokens.weight", 2, c->vocab_size, D, 0, INIT_NORMAL, 1.0, e));
    } else {
        SB_TRY(add_f32(&l, &r, "encoder.weight", 2, D, c->d_input, 0, INIT_LINEAR_W, (double)c->d_input, e));
        SB_TRY(add_f32(&l, &r, "encoder.bias", 1, D, 0, 0, INIT_BIAS, 0, e));
    }
    for (int i = 0; i < c->n_layers; i++) SB_TRY(add_layer(&l, &r, i, c, e));
    if (c->prenorm) SB_TRY(add_norm(&l, &r, "final_", c, e));
    SB_TRY(add_f32(&l, &r, "decoder.weight", 2, c->d_output, D, 0, INIT_LINEAR_W, (double)D, e));
    SB_TRY(add_f32(&l, &r, "decoder.bias", 1, c->d_output, 0, 0, INIT_BIAS, 0, e));
    {
        const int ints[] = {c->task == SB_TASK_LM ? 0 : c->d_input, c->task == SB_TASK_LM ? c->vocab_size : 0,
                            c->d_output, c->d_model, c->n_layers, c->d_qk, c->d_hidden, c->d_ema,
                            c->mem_size, c->max_positions, c->truncation};
        for (int i = 0; i < 11; i++) snprintf(v[i], sizeof v[i], "%d", ints[i]);
        const char *kv[] = {"seqboat.format_version", SB_MODEL_FORMAT_VERSION,
                            "task", sb_task_name(c->task),
                            "d_input", v[0], "vocab_size", v[1], "d_output", v[2],
                            "d_model", v[3], "n_layers", v[4], "d_qk", v[5], "d_hidden", v[6],
                            "d_ema", v[7], "mem_size", v[8], "max_positions", v[9],
                            "truncation", v[10],
                            "bidirectional", c->bidirectional ? "true" : "false",
                            "prenorm", c->prenorm ? "true" : "false",
                            "norm_type", c->norm == SB_NORM_BATCH ? "batchnorm" : "layernorm",
                            "rel_pos_bias", c->rotary ? "rotary" : "simple",
                            "attention_activation", c->softmax ? "softmax" : "relu2",
                            "seqboat.bench_seed", NULL, NULL};
        char seed_s[32];
        snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
        kv[sizeof kv / sizeof kv[0] - 2] = seed_s;
        SB_TRY(sb_st_write(path, l.t, l.n, kv, e));
    }
done:
    tl_free(&l);
    return st;
}

/* ---- work model ------------------------------------------------------------------ */

double sb_bench_attn_pairs(double m, double W, int causal) {
    if (m <= 0) return 0;
    double pc = m <= W + 1 ? m * (m + 1) / 2 : (W + 1) * m - W * (W + 1) / 2;
    return causal ? pc : 2 * pc - m;
}

/* Bytes of a weight W [n][k] stored as wt (sb_wtype): 4, 2 or 1 per element,
 * int8 with one float scale per output channel (row) besides. */
double sb_bench_weight_bytes(int wt, double n, double k) {
    return (double)sb_wt_elem((sb_wtype)wt) * n * k + (wt == SB_WT_I8 ? 4 * n : 0);
}

/* A product of m rows by the weight W [n][k]: float activations in and out,
 * the weight in its storage type; no rows, no product (nothing read). */
static double gemm_bytes(int wt, double m, double n, double k) {
    return m > 0 ? 4 * (m * k + m * n) + sb_bench_weight_bytes(wt, n, k) : 0;
}

void sb_bench_count_layer(const sb_config *c, int B, const long *len, const long *act,
                          sb_bench_work *w) {
    const double D = c->d_model, Z = c->d_qk, H = c->d_hidden, N = c->d_ema, W = c->mem_size;
    const double K = c->bidirectional ? 2 * D : D, S = Z + 2 * H;
    const int wt = w->wt;
    double T = 0, M = 0, pairs = 0;
    for (int b = 0; b < B; b++) {
        T += (double)len[b];
        M += (double)act[b];
        pairs += sb_bench_attn_pairs((double)act[b], W, !c->bidirectional);
    }
    double *f = w->flops;
    f[SB_PHASE_OTHER] += 8 * T * D;
    f[SB_PHASE_EMA] += 5 * T * K * N + 6 * T * D;
    const double gemm = 2 * T * D * (D + 2) + 2 * M * D * S + 2 * M * H * D;
    f[SB_PHASE_PROJ] += gemm + T * (D + 2) + 5 * M * S + M * D;
    f[SB_PHASE_GATE] += 10 * T + 7 * T * D;
    f[SB_PHASE_ATTN] += 4 * M * Z + (c->rotary ? 6 * M * Z : 0) +
                        pairs * (2 * Z + (c->softmax ? 6 : 3)) + pairs * 2 * H + M * H;
    w->gemm_flops += gemm;
    w->attn_pairs += pairs;
    double *b = w->bytes_phase;
    b[SB_PHASE_OTHER] += 8 * T * D;                                   /* norm */
    b[SB_PHASE_EMA] += 8 * T * D;                                     /* EMA */
    b[SB_PHASE_PROJ] += gemm_bytes(wt, T, D + 2, D) + 8 * T * (D + 2);    /* hx_proj + bias */
    b[SB_PHASE_GATE] += 4 * 2 * T + 4 * 2 * T + 4 * 2 * M;           /* gate, compaction */
    b[SB_PHASE_GATE] += 8 * M * D;                                    /* gather */
    b[SB_PHASE_PROJ] += gemm_bytes(wt, M, S, D) + 8 * M * S;              /* mx_proj + bias, silu */
    b[SB_PHASE_ATTN] += 4 * M * S + 4 * M * H + 16 * M * Z;           /* attention */
    b[SB_PHASE_PROJ] += gemm_bytes(wt, M, D, H) + 8 * M * D;              /* h_proj + bias */
    b[SB_PHASE_GATE] += 4 * (3 * T * D + M * D + 2 * T);              /* combine */
    w->bytes = 0;
    for (int p = 0; p < SB_PHASE_COUNT; p++) w->bytes += b[p];
    double tot = 0;
    for (int p = 0; p < SB_PHASE_COUNT; p++) tot += f[p];
    w->flops_total = tot;
}

void sb_bench_count_io(const sb_config *c, int B, const long *len, sb_bench_work *w) {
    const double D = c->d_model, F = sb_config_token_input(c) ? 0 : c->d_input, O = c->d_output;
    const int wt = w->wt;
    double T = 0;
    for (int b = 0; b < B; b++) T += (double)len[b];
    double f = 0, by = 0;
    if (sb_config_token_input(c)) {
        by += 4 * T + sb_bench_weight_bytes(wt, T, D); /* embedding gather (rows, their scales) */
    } else {
        f += 2 * T * F * D + T * D;
        by += gemm_bytes(wt, T, D, F) + 8 * T * D;
    }
    if (c->prenorm) {
        f += 8 * T * D;
        by += 8 * T * D;
    }
    if (c->task == SB_TASK_CLASSIFY) {
        f += T * D + 2 * B * D * O + B * O;
        by += 4 * T * D + gemm_bytes(wt, B, O, D);
    } else {
        f += 2 * T * D * O + T * O;
        by += gemm_bytes(wt, T, O, D) + 8 * T * O;
    }
    w->flops[SB_PHASE_OTHER] += f;
    w->bytes_phase[SB_PHASE_OTHER] += by;
    w->bytes += by;
    double tot = 0;
    for (int p = 0; p < SB_PHASE_COUNT; p++) tot += w->flops[p];
    w->flops_total = tot;
}

void sb_bench_count_forward_wt(const sb_config *c, int wt, int B, const long *len, const long *act,
                               sb_bench_work *w) {
    memset(w, 0, sizeof *w);
    w->wt = wt;
    for (int l = 0; l < c->n_layers; l++) sb_bench_count_layer(c, B, len, act, w);
    sb_bench_count_io(c, B, len, w);
}

void sb_bench_count_forward(const sb_config *c, int B, const long *len, const long *act,
                            sb_bench_work *w) {
    sb_bench_count_forward_wt(c, SB_WT_F32, B, len, act, w);
}

void sb_bench_count_decode(const sb_config *c, int wt, double share, double window, sb_bench_work *w) {
    sb_bench_work on, off;
    const long one = 1, zero = 0;
    sb_bench_count_forward_wt(c, wt, 1, &one, &one, &on);
    sb_bench_count_forward_wt(c, wt, 1, &one, &zero, &off);
    const double Z = c->d_qk, H = c->d_hidden, Lc = c->n_layers;
    memset(w, 0, sizeof *w);
    w->wt = wt;
    for (int p = 0; p < SB_PHASE_COUNT; p++) {
        w->flops[p] = share * on.flops[p] + (1 - share) * off.flops[p];
        w->bytes_phase[p] = share * on.bytes_phase[p] + (1 - share) * off.bytes_phase[p];
    }
    /* an activated step attends to the window's cached keys and values */
    w->flops[SB_PHASE_ATTN] += share * Lc * window * (2 * Z + (c->softmax ? 6 : 3) + 2 * H);
    w->bytes_phase[SB_PHASE_ATTN] += share * Lc * window * 4 * (Z + H);
    w->gemm_flops = share * on.gemm_flops + (1 - share) * off.gemm_flops;
    w->attn_pairs = share * Lc * (window + 1);
    for (int p = 0; p < SB_PHASE_COUNT; p++) {
        w->flops_total += w->flops[p];
        w->bytes += w->bytes_phase[p];
    }
}

void sb_bench_decode_work(const sb_config *c, int wt, sb_bench_row *row) {
    /* the window a step attends to: min(W, the activated tokens before it) */
    double window = row->share * (double)row->L;
    if (window > c->mem_size) window = c->mem_size;
    sb_bench_work w;
    sb_bench_count_decode(c, wt, row->share, window, &w);
    const double ms = row->tokens_per_s > 0 ? 1e3 / row->tokens_per_s : NAN; /* mean per step */
    row->gflop = w.flops_total * 1e-9;
    row->gbytes = w.bytes * 1e-9;
    for (int p = 0; p < SB_PHASE_COUNT; p++) {
        row->phase_gflop[p] = w.flops[p] * 1e-9;
        row->phase_gbytes[p] = w.bytes_phase[p] * 1e-9;
    }
    row->gflop_s = ms > 0 ? w.flops_total / (ms * 1e6) : NAN;
    row->gb_s = ms > 0 ? w.bytes / (ms * 1e6) : NAN;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void sb_bench_summary(double *v, int n, double *min, double *med, double *max) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *min = v[0];
    *max = v[n - 1];
    *med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- timed forwards ------------------------------------------------------------------ */

double sb_bench_load_avg(void) {
    double v = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

const char *sb_bench_build_options(void) { return "-cl-std=CL1.2"; /* = rt.c SB_BUILD_OPTIONS */ }

/* Inputs for m: the given ones, or random floats / ids. */
static sb_status make_inputs(const sb_model_impl *m, const sb_bench_run_opt *o, float **x,
                             int32_t **ids, sb_err *e) {
    const sb_config *c = &m->cfg;
    size_t BL = (size_t)o->B * (size_t)o->L;
    *x = NULL;
    *ids = NULL;
    if (sb_config_token_input(c)) {
        if (o->ids) return SB_OK;
        *ids = malloc(BL * sizeof **ids);
        if (!*ids) return sb_fail(e, SB_ERR_HOST_MEMORY, "bench: out of host memory for %zu ids", BL);
        sb_bench_fill_ids(*ids, BL, c->vocab_size, 12345);
        return SB_OK;
    }
    if (o->x) return SB_OK;
    size_t n = BL * (size_t)c->d_input;
    *x = malloc(n * sizeof **x);
    if (!*x) return sb_fail(e, SB_ERR_HOST_MEMORY, "bench: out of host memory for %zu inputs", n);
    sb_bench_fill(*x, n, 1);
    return SB_OK;
}

sb_status sb_bench_run(sb_model_impl *m, const sb_bench_run_opt *o, sb_bench_row *row, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    float *x = NULL, *out = NULL;
    int32_t *ids = NULL;
    double *times = NULL, *layer_ms = NULL;
    long *len = NULL, *act = NULL;
    if (o->B < 1 || o->L < 1 || o->repeats < 1 || o->warmup < 0)
        return sb_fail(e, SB_ERR_ARG, "bench: B, L, repeats must be >= 1 and warmup >= 0");
    const int B = o->B;
    row->load_avg = sb_bench_load_avg();
    size_t per = c->task == SB_TASK_CLASSIFY ? 1 : (size_t)o->L;
    out = malloc((size_t)B * per * (size_t)c->d_output * sizeof *out);
    times = calloc((size_t)o->repeats, sizeof *times);
    layer_ms = calloc((size_t)o->repeats, sizeof *layer_ms);
    len = calloc((size_t)B, sizeof *len);
    act = calloc((size_t)B, sizeof *act);
    if (!out || !times || !layer_ms || !len || !act) SB_FAIL(SB_ERR_HOST_MEMORY, "bench: out of host memory");
    SB_TRY(make_inputs(m, o, &x, &ids, e));
    const float *xin = o->x ? o->x : x;
    const int32_t *idin = o->ids ? o->ids : ids;
    double share = o->share;
    m->router_hook = o->share >= 0 ? sb_force_router_hook : NULL;
    m->layer_timing = 1; /* layer_ms: each layer timed (the queue drained after it) */
    m->router_hook_user = &share;
    long T = 0;
    for (int b = 0; b < B; b++) {
        len[b] = o->lengths ? o->lengths[b] : o->L;
        T += len[b];
    }
    size_t peak = 0;
    if (sb_model_impl_blocked(m, B, o->L, o->lengths, NULL)) {
        /* long causal sequences run block by block (model_block.c): the plan
         * the forward makes covers one block, whatever the length */
        int Tb = sb_model_impl_block_tokens(m);
        SB_TRY(sb_model_impl_plan(m, Tb, 1, (size_t)Tb, &peak, e));
    } else {
        SB_TRY(sb_model_impl_plan(m, (int)T, B, (size_t)B * (size_t)o->L, &peak, e));
    }
    /* timed forwards: never with profiling (it slows enqueues on some drivers) */
    SB_TRY(sb_rt_set_profiling(m->rt, 0, e));
    for (int i = 0; i < o->warmup; i++)
        SB_TRY(sb_model_impl_forward(m, B, o->L, xin, idin, o->lengths, out, e));
    double act_sum = 0;
    int n = 0;
    double t_start = sb_bench_now_ms();
    for (int i = 0; i < o->repeats; i++) {
        double t0 = sb_bench_now_ms();
        SB_TRY(sb_model_impl_forward(m, B, o->L, xin, idin, o->lengths, out, e));
        times[n] = sb_bench_now_ms() - t0;
        double lm = 0;
        for (int l = 0; l < c->n_layers; l++) {
            lm += m->stats[l].ms;
            act_sum += m->stats[l].activated;
        }
        layer_ms[n] = lm;
        n++;
        if (o->max_seconds > 0 && sb_bench_now_ms() - t_start > 1e3 * o->max_seconds) break;
    }
    row->repeats = n;
    row->tokens = T;
    row->B = B;
    row->L = o->L;
    row->share_target = o->share >= 0 ? o->share : -1;
    row->share = act_sum / ((double)n * c->n_layers * (double)T);
    double lmin, lmax;
    sb_bench_summary(layer_ms, n, &lmin, &row->layer_ms, &lmax);
    sb_bench_summary(times, n, &row->ms_min, &row->ms_med, &row->ms_max);
    /* activated tokens per sequence: exact when forced, else proportional */
    for (int b = 0; b < B; b++) {
        if (o->share >= 0) act[b] = sb_force_count(len[b], sb_force_threshold(o->share));
        else act[b] = (long)floor(row->share * (double)len[b] + 0.5);
    }
    sb_bench_work w;
    sb_bench_count_forward_wt(c, m->wt, B, len, act, &w);
    row->tokens_per_s = (double)T / (row->ms_med * 1e-3);
    row->gflop = w.flops_total * 1e-9;
    row->gflop_s = w.flops_total / (row->ms_med * 1e6);
    for (int p = 0; p < SB_PHASE_COUNT; p++) {
        row->phase_gflop[p] = w.flops[p] * 1e-9;
        row->phase_gbytes[p] = w.bytes_phase[p] * 1e-9;
    }
    SB_TRY(sb_bench_phase_split(m, o, n, &w, xin, idin, out, row, e));
    row->gbytes = w.bytes * 1e-9;
    row->gb_s = w.bytes / (row->ms_med * 1e6);
    row->peak_bytes = (double)peak;
    row->weight_bytes = (double)sb_model_impl_weight_bytes(m);
    snprintf(row->precision, sizeof row->precision, "%s", sb_wt_name((sb_wtype)m->wt));
    row->layers = c->n_layers;
    row->D = c->d_model;
    row->Z = c->d_qk;
    row->H = c->d_hidden;
    row->N = c->d_ema;
    row->W = c->mem_size;
    row->causal = !c->bidirectional;
    row->softmax = c->softmax;
    snprintf(row->status, sizeof row->status, "ok");
done:
    m->router_hook = NULL;
    m->router_hook_user = NULL;
    free(x);
    free(ids);
    free(out);
    free(times);
    free(layer_ms);
    free(len);
    free(act);
    return st;
}

/* ---- build times ---------------------------------------------------------------------- */

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char p[1200];
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Load, first forward, second forward on a fresh model with cache folder dir. */
static sb_status first_vs_steady(const char *path, const char *device, const char *dir, int L,
                                 double *load_ms, double *extra_ms, sb_progcache_stats *ps,
                                 sb_err *e) {
    sb_status st = SB_OK;
    sb_model_impl *m = NULL;
    float *x = NULL, *out = NULL;
    int32_t *ids = NULL;
    sb_rt_options ro = {device, dir, 0, NULL, 0};
    double t0 = sb_bench_now_ms();
    SB_TRY(sb_model_impl_create(path, &ro, &m, e));
    *load_ms = sb_bench_now_ms() - t0;
    sb_bench_run_opt o = {1, L, NULL, NULL, NULL, -1, 0, 1, 0, 0, SB_BENCH_TIMING_AUTO, 0};
    SB_TRY(make_inputs(m, &o, &x, &ids, e));
    size_t per = m->cfg.task == SB_TASK_CLASSIFY ? 1 : (size_t)L;
    out = malloc(per * (size_t)m->cfg.d_output * sizeof *out);
    if (!out) SB_FAIL(SB_ERR_HOST_MEMORY, "bench: out of host memory");
    SB_TRY(sb_model_impl_plan(m, L, 1, (size_t)L, NULL, e));
    double t1 = sb_bench_now_ms();
    SB_TRY(sb_model_impl_forward(m, 1, L, x, ids, NULL, out, e));
    double first = sb_bench_now_ms() - t1;
    t1 = sb_bench_now_ms();
    SB_TRY(sb_model_impl_forward(m, 1, L, x, ids, NULL, out, e));
    double steady = sb_bench_now_ms() - t1;
    /* the model builds its programs at load (sb_model_load), the drivers
     * compile per work-group shape at first launch: both count */
    *extra_ms = *load_ms + first > steady ? *load_ms + first - steady : 0;
    *ps = sb_progcache_get_stats(m->rt->progs);
done:
    sb_model_impl_free(m);
    free(x);
    free(ids);
    free(out);
    return st;
}

sb_status sb_bench_build_times(const char *path, const char *device, int L, sb_bench_device *d,
                               sb_err *e) {
    sb_status st = SB_OK;
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/seqboat-bench-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return sb_fail(e, SB_ERR_IO, "bench: cannot create a temporary cache folder in %s",
                                      tmp && *tmp ? tmp : "/tmp");
    sb_progcache_stats ps;
    double load;
    SB_TRY(first_vs_steady(path, device, dir, L, &load, &d->build_cold_ms, &ps, e));
    d->programs_built = ps.builds;
    SB_TRY(first_vs_steady(path, device, dir, L, &d->load_ms, &d->build_warm_ms, &ps, e));
    d->programs_disk_hits = ps.disk_hits;
done:
    remove_dir(dir);
    return st;
}
