/* cli_bench.c - `seqboat bench`: timed forwards on one device or all, over
 * lengths, forced activation shares and methods (SMA, dense local attention,
 * full quadratic attention), with a table on stdout and JSON / CSV reports.
 * The work is done by runtime/bench.c; this file parses options, sweeps and
 * prints. See bench/README.md. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "gemm_tune.h"
#include "cli.h"

#define MAX_LIST 64

typedef struct bench_opts {
    const char *device, *model, *input, *json, *csv, *save_model;
    int lengths[MAX_LIST], n_len;
    double shares[MAX_LIST];
    int n_share;
    int sma, dense, quad, decode, decode_steps;
    int B, warmup, repeats, build_time, profile, quiet;
    double max_seconds, quad_budget_s;
    int quad_max_len;
    uint64_t seed;
    sb_config cfg;
} bench_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: seqboat bench [options]\n"
            "  --device D|all          device selection (index or name) or every device\n"
            "  --lengths L1,L2,...     sequence lengths (default 1024,4096)\n"
            "  --batch B               sequences per forward (default 1)\n"
            "  --shares S1,...|router  forced activation shares for SMA, or the model's own\n"
            "                          router (default 0.5)\n"
            "  --methods m1,...        sma, dense, quadratic, decode (default: the first three)\n"
            "  --decode-steps N        decode: timed single-token steps per length (64)\n"
            "  --d-model 512 --d-qk 128 --d-hidden 1024 --d-ema 16 --window 256 --layers 1\n"
            "  --d-input 16 --d-output 16 --max-positions 8192 --truncation 0\n"
            "  --bidirectional --softmax --rotary --postnorm --batchnorm\n"
            "  --model M [--input IN]  bench a model file (and its input file) instead\n"
            "  --warmup 1 --repeats 5  untimed, timed forwards per point\n"
            "  --max-seconds 60        cap on the timed repeats of one point\n"
            "  --quad-max-len 16384    longest length for full quadratic attention\n"
            "  --quad-budget-s 60      skip quadratic points estimated to take longer\n"
            "  --json FILE --csv FILE  reports (header: device, driver, build, options)\n"
            "  --save-model FILE       keep the random model (for bench/reference_pytorch.py)\n"
            "  --seed S                weights seed (default 1)\n"
            "  --no-build-time         skip the cold/warm program build measurement\n"
            "  --no-profile            no OpenCL event profiling (no phase split)\n"
            "  --driver-cache off      also turn PoCL's own kernel cache off (POCL_KERNEL_CACHE=0)\n"
            "  --no-gemm-tune          CLBlast's own parameters, not the library's tuned ones\n"
            "                          (runtime/gemm_tune.c; same as SEQBOAT_GEMM_TUNE=off)\n"
            "  --quiet                 no progress lines on stderr\n");
}

static int parse_int_list(const char *s, int *out, int cap) {
    int n = 0;
    while (s && *s && n < cap) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > INT_MAX) return -1;
        if (*end == 'k' || *end == 'K') v *= 1024, end++;
        else if (*end == 'm' || *end == 'M') v *= 1048576, end++;
        out[n++] = (int)v;
        if (*end == ',') end++;
        else if (*end) return -1;
        s = end;
    }
    return n;
}

static int parse_share_list(const char *s, double *out, int cap) {
    int n = 0;
    while (s && *s && n < cap) {
        char *end;
        if (!strncmp(s, "router", 6)) {
            out[n++] = -1;
            end = (char *)s + 6;
        } else {
            double v = strtod(s, &end);
            if (end == s || v < 0 || v > 1) return -1;
            out[n++] = v;
        }
        if (*end == ',') end++;
        else if (*end) return -1;
        s = end;
    }
    return n;
}

static int opt_int(int argc, char **argv, const char *name, int def, int lo, int *bad) {
    const char *v = cli_opt(argc, argv, name);
    if (!v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > INT_MAX) {
        fprintf(stderr, "seqboat bench: %s %s: expected an integer >= %d\n", name, v, lo);
        *bad = 1;
    }
    return (int)x;
}

static double opt_num(int argc, char **argv, const char *name, double def, int *bad) {
    const char *v = cli_opt(argc, argv, name);
    if (!v) return def;
    char *end;
    double x = strtod(v, &end);
    if (*end || x < 0) {
        fprintf(stderr, "seqboat bench: %s %s: expected a number >= 0\n", name, v);
        *bad = 1;
    }
    return x;
}

static int parse(int argc, char **argv, bench_opts *o) {
    int bad = 0;
    memset(o, 0, sizeof *o);
    sb_bench_config_default(&o->cfg);
    sb_config *c = &o->cfg;
    o->device = cli_opt(argc, argv, "--device");
    o->model = cli_opt(argc, argv, "--model");
    o->input = cli_opt(argc, argv, "--input");
    o->json = cli_opt(argc, argv, "--json");
    o->csv = cli_opt(argc, argv, "--csv");
    o->save_model = cli_opt(argc, argv, "--save-model");
    const char *lens = cli_opt(argc, argv, "--lengths");
    o->n_len = parse_int_list(lens ? lens : "1024,4096", o->lengths, MAX_LIST);
    if (o->n_len < 1) fprintf(stderr, "seqboat bench: bad --lengths '%s'\n", lens), bad = 1;
    const char *sh = cli_opt(argc, argv, "--shares");
    o->n_share = parse_share_list(sh ? sh : "0.5", o->shares, MAX_LIST);
    if (o->n_share < 1) fprintf(stderr, "seqboat bench: bad --shares '%s'\n", sh), bad = 1;
    const char *me = cli_opt(argc, argv, "--methods");
    if (!me) me = "sma,dense,quadratic";
    o->sma = strstr(me, "sma") != NULL;
    o->dense = strstr(me, "dense") != NULL;
    o->quad = strstr(me, "quad") != NULL;
    o->decode = strstr(me, "decode") != NULL;
    if (!o->sma && !o->dense && !o->quad && !o->decode)
        fprintf(stderr, "seqboat bench: --methods '%s' names none of sma, dense, quadratic, decode\n",
                me), bad = 1;
    o->decode_steps = opt_int(argc, argv, "--decode-steps", 64, 1, &bad);
    o->B = opt_int(argc, argv, "--batch", 1, 1, &bad);
    o->warmup = opt_int(argc, argv, "--warmup", 1, 0, &bad);
    o->repeats = opt_int(argc, argv, "--repeats", 5, 1, &bad);
    o->max_seconds = opt_num(argc, argv, "--max-seconds", 60, &bad);
    o->quad_budget_s = opt_num(argc, argv, "--quad-budget-s", 60, &bad);
    o->quad_max_len = opt_int(argc, argv, "--quad-max-len", 16384, 1, &bad);
    o->seed = (uint64_t)opt_int(argc, argv, "--seed", 1, 0, &bad);
    c->d_model = opt_int(argc, argv, "--d-model", c->d_model, 1, &bad);
    c->d_qk = opt_int(argc, argv, "--d-qk", c->d_qk, 1, &bad);
    c->d_hidden = opt_int(argc, argv, "--d-hidden", c->d_hidden, 1, &bad);
    c->d_ema = opt_int(argc, argv, "--d-ema", c->d_ema, 1, &bad);
    c->mem_size = opt_int(argc, argv, "--window", c->mem_size, 1, &bad);
    c->n_layers = opt_int(argc, argv, "--layers", c->n_layers, 1, &bad);
    c->d_input = opt_int(argc, argv, "--d-input", c->d_input, 1, &bad);
    c->d_output = opt_int(argc, argv, "--d-output", c->d_output, 1, &bad);
    c->max_positions = opt_int(argc, argv, "--max-positions", c->max_positions, 1, &bad);
    c->truncation = opt_int(argc, argv, "--truncation", c->truncation, 0, &bad);
    c->bidirectional = cli_flag(argc, argv, "--bidirectional");
    c->softmax = cli_flag(argc, argv, "--softmax");
    c->rotary = cli_flag(argc, argv, "--rotary");
    c->prenorm = !cli_flag(argc, argv, "--postnorm");
    c->norm = cli_flag(argc, argv, "--batchnorm") ? SB_NORM_BATCH : SB_NORM_LAYER;
    if (c->rotary && c->d_qk % 2) fprintf(stderr, "seqboat bench: --rotary needs an even --d-qk\n"), bad = 1;
    o->build_time = !cli_flag(argc, argv, "--no-build-time");
    o->profile = !cli_flag(argc, argv, "--no-profile");
    o->quiet = cli_flag(argc, argv, "--quiet");
    if (cli_flag(argc, argv, "--no-gemm-tune")) setenv("SEQBOAT_GEMM_TUNE", "off", 1); /* before any runtime is made */
    const char *dc = cli_opt(argc, argv, "--driver-cache");
    if (dc && !strcmp(dc, "off")) setenv("POCL_KERNEL_CACHE", "0", 1); /* before any OpenCL call */
    if (o->input && !o->model) fprintf(stderr, "seqboat bench: --input needs --model\n"), bad = 1;
    return bad ? -1 : 0;
}

static void print_header(void) {
    printf("%-3s %-9s %8s %5s %6s %27s %10s %7s %5s %5s %5s %5s %5s %5s %8s %7s %8s %5s\n", "dev",
           "method", "L", "share", "act", "ms min / median / max", "tokens/s", "GFLOP/s", "ema%",
           "gate%", "proj%", "attn%", "oth%", "gap%", "GEMM GF/s", "GB/s", "peak MiB", "load");
}

static void print_row(const sb_bench_row *r) {
    char sh[16];
    if (r->share_target < 0) snprintf(sh, sizeof sh, "router");
    else snprintf(sh, sizeof sh, "%.2f", r->share_target);
    if (strcmp(r->status, "ok") != 0) {
        printf("%-3d %-9s %8d %5s %6s  %s\n", r->device_index, r->method, r->L, sh, "", r->status);
        fflush(stdout);
        return;
    }
    if (!strcmp(r->method, "decode")) { /* ms per token, not per forward */
        char ms[64];
        snprintf(ms, sizeof ms, "%.2f / %.2f / %.2f", r->ms_min, r->ms_med, r->ms_max);
        printf("%-3d %-9s %8d %5s %6.3f %27s %10.1f   (ms per token at position L, mean %.2f; "
               "prefill of L tokens %.0f ms, %.0f tokens/s)\n",
               r->device_index, r->method, r->L, sh, r->share, ms, r->tokens_per_s,
               r->tokens_per_s > 0 ? 1e3 / r->tokens_per_s : 0, r->prefill_ms,
               r->prefill_ms > 0 ? r->L / (r->prefill_ms * 1e-3) : 0);
        fflush(stdout);
        return;
    }
    double tot = r->unattributed_ms;
    for (int p = 0; p < SB_PHASE_COUNT; p++) tot += r->phase_ms[p];
    double pc[SB_PHASE_COUNT], gap = tot > 0 ? 100 * r->unattributed_ms / tot : 0;
    for (int p = 0; p < SB_PHASE_COUNT; p++) pc[p] = tot > 0 ? 100 * r->phase_ms[p] / tot : 0;
    char ms[64];
    snprintf(ms, sizeof ms, "%.1f / %.1f / %.1f", r->ms_min, r->ms_med, r->ms_max);
    printf("%-3d %-9s %8d %5s %6.3f %27s %10.0f %7.1f %5.1f %5.1f %5.1f %5.1f %5.1f %5.1f %8.1f %7.1f "
           "%8.1f %5.1f\n",
           r->device_index, r->method, r->L, sh, r->share, ms, r->tokens_per_s, r->gflop_s,
           pc[SB_PHASE_EMA], pc[SB_PHASE_GATE], pc[SB_PHASE_PROJ], pc[SB_PHASE_ATTN],
           pc[SB_PHASE_OTHER], gap, r->gemm_gflop_s, r->gb_s, r->peak_bytes / 1048576.0, r->load_avg);
    fflush(stdout);
}

/* A temp folder for the random model files. */
static int make_tmpdir(char *dir, size_t cap) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, cap, "%s/seqboat-bench-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

typedef struct sweep {
    bench_opts *o;
    sb_bench_report *rep;
    const char *path, *quad_path; /* model files */
    int quad_W;
    sb_input *in;                 /* --input, or NULL */
    int point, n_points;
} sweep;

static void progress(sweep *s, const sb_device_info *d, const char *method, int L, double share) {
    s->point++;
    if (s->o->quiet) return;
    if (share < 0) fprintf(stderr, "bench: [%d/%d] device %d %s L=%d share=router\n", s->point,
                           s->n_points, d->index, method, L);
    else fprintf(stderr, "bench: [%d/%d] device %d %s L=%d share=%.2f\n", s->point, s->n_points,
                 d->index, method, L, share);
}

/* One point: fills and records a row (status ok / error / skipped). */
static void run_point(sweep *s, sb_model_impl *m, const sb_device_info *d, const char *method,
                      int L, double share, const char *skip) {
    sb_bench_row row;
    memset(&row, 0, sizeof row);
    row.device_index = d->index;
    snprintf(row.device, sizeof row.device, "%s", d->name);
    snprintf(row.method, sizeof row.method, "%s", method);
    row.B = s->in ? s->in->B : s->o->B;
    row.L = L;
    row.share_target = share;
    if (skip) {
        snprintf(row.status, sizeof row.status, "skipped: %s", skip);
    } else {
        sb_err e;
        sb_err_clear(&e);
        sb_bench_run_opt ro = {row.B, L, s->in ? s->in->lengths : NULL, s->in ? s->in->x : NULL,
                               s->in ? s->in->ids : NULL, share, s->o->warmup, s->o->repeats,
                               s->o->max_seconds};
        if (sb_bench_run(m, &ro, &row, &e) != SB_OK)
            snprintf(row.status, sizeof row.status, "error: %.240s", e.msg);
    }
    print_row(&row);
    if (!sb_bench_report_add_row(s->rep, &row)) fprintf(stderr, "seqboat bench: out of memory\n");
}

/* Method decode: a stream at each length L (prompt of L tokens), ms per step. */
static void bench_decode(sweep *s, const sb_device_info *d, const char *spec) {
    const bench_opts *o = s->o;
    sb_options mo = sb_options_default();
    mo.device = spec;
    sb_model *pm = NULL;
    char why[SB_BENCH_STR] = "";
    if (sb_model_load(s->path, &mo, &pm) != SB_OK)
        snprintf(why, sizeof why, "error: loading the model for decode: %.200s", sb_last_error());
    else if (o->cfg.bidirectional || o->cfg.task == SB_TASK_CLASSIFY)
        snprintf(why, sizeof why, "skipped: decode needs a causal sequence or lm model");
    for (int li = 0; li < o->n_len; li++) {
        int L = o->lengths[li];
        sb_bench_row row;
        memset(&row, 0, sizeof row);
        progress(s, d, "decode", L, -1);
        row.device_index = d->index;
        snprintf(row.device, sizeof row.device, "%s", d->name);
        snprintf(row.method, sizeof row.method, "decode");
        row.B = 1, row.L = L, row.share_target = -1;
        if (why[0]) {
            snprintf(row.status, sizeof row.status, "%s", why);
        } else {
            sb_err e;
            sb_err_clear(&e);
            if (sb_bench_decode(pm, L, o->decode_steps, o->seed + (uint64_t)L, &row, &e) != SB_OK)
                snprintf(row.status, sizeof row.status, "error: %.240s", e.msg);
        }
        print_row(&row);
        if (!sb_bench_report_add_row(s->rep, &row)) fprintf(stderr, "seqboat bench: out of memory\n");
    }
    sb_model_free(pm);
}

/* Estimated ms of a full-attention forward at L from the dense row at L. */
static double quad_estimate(const sb_bench_row *dense, const sb_config *c) {
    if (!dense || strcmp(dense->status, "ok") || dense->phase_ms[SB_PHASE_ATTN] <= 0) return -1;
    double Wq = dense->L, pd = sb_bench_attn_pairs(dense->tokens, c->mem_size, !c->bidirectional);
    double pq = sb_bench_attn_pairs(dense->tokens, Wq, !c->bidirectional);
    double per_pair = dense->phase_ms[SB_PHASE_ATTN] / (pd > 0 ? pd : 1);
    return dense->ms_med + (pq - pd) * per_pair;
}

static int bench_device(sweep *s, const sb_device_info *d) {
    bench_opts *o = s->o;
    sb_bench_device bd;
    sb_bench_device_from_info(d, &bd);
    char spec[16];
    snprintf(spec, sizeof spec, "%d", d->index);
    sb_err e;
    sb_err_clear(&e);
    sb_model_impl *m = NULL, *mq = NULL;
    if (o->build_time) {
        int L0 = s->in ? s->in->L : (o->lengths[0] < 1024 ? o->lengths[0] : 1024);
        if (!o->quiet) fprintf(stderr, "bench: device %d: program build time (cold, warm)\n", d->index);
        if (sb_bench_build_times(s->path, spec, L0, &bd, &e) != SB_OK)
            fprintf(stderr, "seqboat bench: build time on device %d: %s\n", d->index, e.msg);
        else
            printf("device %d %s: programs built cold %.0f ms (%u programs), warm %.0f ms (%u disk "
                   "hits), load %.0f ms\n",
                   d->index, d->name, bd.build_cold_ms, bd.programs_built, bd.build_warm_ms,
                   bd.programs_disk_hits, bd.load_ms);
    }
    sb_rt_options ro = {spec, NULL, o->profile};
    if (sb_model_impl_create(s->path, &ro, &m, &e) != SB_OK) {
        snprintf(bd.status, sizeof bd.status, "error: %.240s", e.msg);
        fprintf(stderr, "seqboat bench: device %d: %s\n", d->index, e.msg);
        sb_bench_report_add_device(s->rep, &bd);
        return 1;
    }
    const char *tuned = sb_gemm_tune_active(d);
    snprintf(bd.gemm_params, sizeof bd.gemm_params, "%s", tuned ? tuned : "");
    sb_bench_report_add_device(s->rep, &bd);
    print_header();
    if (s->in) {
        progress(s, d, "model", s->in->L, -1);
        run_point(s, m, d, "model", s->in->L, -1, NULL);
        for (int k = 0; k < o->n_share; k++)
            if (o->shares[k] >= 0) {
                progress(s, d, "sma", s->in->L, o->shares[k]);
                run_point(s, m, d, "sma", s->in->L, o->shares[k], NULL);
            }
        sb_model_impl_free(m);
        return 0;
    }
    for (int li = 0; li < o->n_len; li++) {
        int L = o->lengths[li];
        sb_bench_row dense_row, *dense = NULL;
        if (o->dense) {
            progress(s, d, "dense", L, 1.0);
            run_point(s, m, d, "dense", L, 1.0, NULL);
            dense_row = s->rep->rows[s->rep->n_rows - 1]; /* a copy: rows may move */
            dense = &dense_row;
        }
        if (o->sma)
            for (int k = 0; k < o->n_share; k++) {
                progress(s, d, "sma", L, o->shares[k]);
                run_point(s, m, d, "sma", L, o->shares[k], NULL);
            }
        if (o->quad) {
            char why[160];
            const char *skip = NULL;
            double est = quad_estimate(dense, &o->cfg);
            if (L > s->quad_W) {
                snprintf(why, sizeof why, "L > --quad-max-len %d", o->quad_max_len);
                skip = why;
            } else if (est > 1e3 * o->quad_budget_s) {
                snprintf(why, sizeof why, "estimated %.0f s per forward > --quad-budget-s %.0f",
                         est * 1e-3, o->quad_budget_s);
                skip = why;
            }
            if (!skip && !mq) {
                sb_rt_options rq = {spec, NULL, o->profile};
                if (sb_model_impl_create(s->quad_path, &rq, &mq, &e) != SB_OK) {
                    snprintf(why, sizeof why, "loading the quadratic model failed: %.100s", e.msg);
                    skip = why;
                }
            }
            progress(s, d, "quadratic", L, 1.0);
            run_point(s, mq, d, "quadratic", L, 1.0, skip);
            /* a full-window model keeps its largest plan: drop it after the last fitting length */
        }
    }
    sb_model_impl_free(mq);
    sb_model_impl_free(m);
    if (o->decode) bench_decode(s, d, spec);
    return 0;
}

static void join_args(int argc, char **argv, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "seqboat bench");
    for (int i = 1; i < argc && n < cap; i++) n += (size_t)snprintf(out + n, cap - n, " %s", argv[i]);
}

int cli_bench(int argc, char **argv) {
    bench_opts o;
    sb_bench_report rep;
    sb_input in;
    sb_err e;
    char dir[512] = "", path[700] = "", qpath[700] = "";
    sb_device_info *devs = NULL;
    int n_dev = 0, rc = 1;
    memset(&in, 0, sizeof in);
    sb_err_clear(&e);
    if (cli_flag(argc, argv, "--help") || cli_flag(argc, argv, "-h")) {
        usage(stdout);
        return 0;
    }
    if (parse(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    sb_bench_report_init(&rep);
    join_args(argc, argv, rep.command, sizeof rep.command);
    if (getenv("POCL_KERNEL_CACHE")) snprintf(rep.driver_cache, sizeof rep.driver_cache,
                                              "POCL_KERNEL_CACHE=%s", getenv("POCL_KERNEL_CACHE"));
    rep.seed = o.seed;
    rep.warmup = o.warmup;
    rep.repeats = o.repeats;
    sweep s = {&o, &rep, NULL, NULL, 0, NULL, 0, 0};
    if (o.model) {
        sb_model_file *mf = NULL;
        if (sb_model_file_load(o.model, &mf, &e) != SB_OK) goto fail;
        o.cfg = mf->cfg;
        sb_model_file_free(mf);
        snprintf(rep.model, sizeof rep.model, "%s", o.model);
        s.path = o.model;
        o.quad = 0;
        if (o.input) {
            if (sb_input_load(o.input, &o.cfg, &in, &e) != SB_OK) goto fail;
            s.in = &in;
        }
    } else {
        if (make_tmpdir(dir, sizeof dir) != 0) {
            fprintf(stderr, "seqboat bench: cannot create a temporary folder\n");
            goto out;
        }
        snprintf(path, sizeof path, "%s/bench.model.safetensors", dir);
        if (sb_bench_write_model(o.save_model ? o.save_model : path, &o.cfg, o.seed, &e) != SB_OK) goto fail;
        s.path = o.save_model ? o.save_model : path;
        if (o.quad) { /* same weights, one window covering every quadratic length */
            for (int i = 0; i < o.n_len; i++)
                if (o.lengths[i] <= o.quad_max_len && o.lengths[i] > s.quad_W) s.quad_W = o.lengths[i];
            sb_config qc = o.cfg;
            qc.mem_size = s.quad_W > 0 ? s.quad_W : 1;
            snprintf(qpath, sizeof qpath, "%s/bench.quadratic.safetensors", dir);
            if (sb_bench_write_model(qpath, &qc, o.seed, &e) != SB_OK) goto fail;
            s.quad_path = qpath;
        }
    }
    rep.cfg = o.cfg;
    if (o.device && !strcmp(o.device, "all")) {
        if (sb_devices_list(&devs, &n_dev, &e) != SB_OK) goto fail;
    } else {
        devs = malloc(sizeof *devs);
        if (!devs) goto out;
        if (sb_device_select(o.device, devs, &e) != SB_OK) goto fail;
        n_dev = 1;
    }
    if (n_dev == 0) {
        fprintf(stderr, "seqboat bench: no OpenCL device\n");
        goto out;
    }
    {
        int per = s.in ? 1 + o.n_share : o.n_len * ((o.sma ? o.n_share : 0) + o.dense + o.quad);
        per += o.decode ? o.n_len : 0;
        s.n_points = per * n_dev;
    }
    printf("seqboat bench %s (%s), D=%d Z=%d H=%d N=%d W=%d layers=%d %s %s, batch %d\n",
           rep.library_version, rep.build_type, o.cfg.d_model, o.cfg.d_qk, o.cfg.d_hidden,
           o.cfg.d_ema, o.cfg.mem_size, o.cfg.n_layers, o.cfg.bidirectional ? "bidirectional" : "causal",
           o.cfg.softmax ? "softmax" : "relu2", s.in ? s.in->B : o.B);
    int failed = 0;
    for (int i = 0; i < n_dev; i++) failed += bench_device(&s, &devs[i]);
    rc = failed == n_dev ? 1 : 0;
    if (o.json && sb_bench_write_json(&rep, o.json, &e) != SB_OK) goto fail;
    if (o.csv && sb_bench_write_csv(&rep, o.csv, &e) != SB_OK) goto fail;
    goto out;
fail:
    fprintf(stderr, "seqboat bench: %s\n", e.msg);
    rc = 1;
out:
    if (path[0]) remove(path);
    if (qpath[0]) remove(qpath);
    if (dir[0]) rmdir(dir);
    sb_input_free(&in);
    free(devs);
    sb_bench_report_free(&rep);
    return rc;
}
