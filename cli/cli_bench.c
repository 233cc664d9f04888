/* cli_bench.c - `seqboat bench`: timed forwards on one device or all, over
 * lengths, forced activation shares and methods (SMA, dense local attention,
 * full quadratic attention), with a table on stdout and JSON / CSV reports.
 * The work is done by bench/bench.c, the table by bench/bench_table.c; this
 * file parses options and sweeps. See bench/README.md. */
#include <limits.h>
#include <math.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "../runtime/wtype.h"
#include "bench_table.h"
#include "gemm_tune.h"
#include "cli.h"

typedef sb_bench_opts bench_opts;

static const char bench_usage[] =
    "usage: seqboat bench [options]\n"
    "  --device D|all          device selection (index or name) or every device\n"
    "  --lengths L1,L2,...     sequence lengths, suffix k = x1024, m = x1048576\n"
    "                          (default 1024,4096)\n"
    "  --batch B               sequences per forward (default 1)\n"
    "  --shares S1,...|router  forced activation shares for SMA (0 to 1), or the model's own\n"
    "                          router (default 0.5)\n"
    "  --methods m1,...        sma, dense, quadratic, decode (default: the first three)\n"
    "  --decode-steps N        decode: timed single-token steps per length (64)\n"
    "  --precision p1,...      the weights' storage on the device: f32, f16, bf16, int8\n"
    "                          (default f32); every point runs once for each, in that order\n"
    "  --d-model 512 --d-qk 128 --d-hidden 1024 --d-ema 16 --window 256 --layers 1\n"
    "  --d-input 16 --d-output 16 --max-positions 8192 --truncation 0\n"
    "  --bidirectional --softmax --rotary --postnorm --batchnorm\n"
    "  --model M [--input IN]  bench a model file (and its input file) instead\n"
    "  --warmup 1 --repeats 5  untimed, timed forwards per point\n"
    "  --max-seconds 60        cap on the timed repeats of one point\n"
    "  --quad-max-len 16384    longest length for full quadratic attention\n"
    "  --quad-budget-s 60      skip quadratic points estimated to take longer\n"
    "  --json FILE --csv FILE  reports (header: device, driver, build, options)\n"
    "  --report DIR            DIR/index.html (charts, devices side by side) and\n"
    "                          DIR/bench.json, drawn by bench/report (python3)\n"
    "  --no-roofline           no device peaks (seqboat peak) and no roofline shares\n"
    "  --save-model FILE       keep the random model (for bench/reference_pytorch.py)\n"
    "  --seed S                weights seed (default 1)\n"
    "  --no-build-time         skip the cold/warm program build measurement\n"
    "  --no-profile            no profiled forwards (no phase split; timed forwards\n"
    "                          never run with profiling)\n"
    "  --phase-timing auto|events|wall\n"
    "                          phase split from the driver's events, or from the host\n"
    "                          clock with the queue finished at every phase change\n"
    "                          (auto: events when they add up, else wall; default)\n"
    "  --driver-cache on|off   off: also turn PoCL's own kernel cache off (POCL_KERNEL_CACHE=0)\n"
    "  --no-gemm-tune          CLBlast's own parameters, not the library's tuned ones\n"
    "                          (runtime/gemm_tune.c; same as SEQBOAT_GEMM_TUNE=off)\n"
    "  --quiet                 no progress lines on stderr\n"
    "under mpirun (built with MPI): each rank benchmarks its node-local rank's device\n"
    "(--device all: the node's devices shared out by node-local rank) and rank 0 writes\n"
    "one --json / --csv with every rank's rows, each naming host and rank\n";

enum {
    B_DEVICE = 256, B_LENGTHS, B_BATCH, B_SHARES, B_METHODS, B_DECODE_STEPS, B_D_MODEL, B_D_QK,
    B_D_HIDDEN, B_D_EMA, B_WINDOW, B_LAYERS, B_D_INPUT, B_D_OUTPUT, B_MAX_POSITIONS, B_TRUNCATION,
    B_BIDIRECTIONAL, B_SOFTMAX, B_ROTARY, B_POSTNORM, B_BATCHNORM, B_MODEL, B_INPUT, B_WARMUP,
    B_REPEATS, B_MAX_SECONDS, B_QUAD_MAX_LEN, B_QUAD_BUDGET_S, B_JSON, B_CSV, B_SAVE_MODEL, B_SEED,
    B_NO_BUILD_TIME, B_NO_PROFILE, B_DRIVER_CACHE, B_NO_GEMM_TUNE, B_QUIET, B_REPORT, B_NO_ROOFLINE, B_PHASE_TIMING,
    B_PRECISION
};

static const struct option bench_options[] = {
    {"device", required_argument, NULL, B_DEVICE},
    {"lengths", required_argument, NULL, B_LENGTHS},
    {"batch", required_argument, NULL, B_BATCH},
    {"shares", required_argument, NULL, B_SHARES},
    {"methods", required_argument, NULL, B_METHODS},
    {"decode-steps", required_argument, NULL, B_DECODE_STEPS},
    {"d-model", required_argument, NULL, B_D_MODEL},
    {"d-qk", required_argument, NULL, B_D_QK},
    {"d-hidden", required_argument, NULL, B_D_HIDDEN},
    {"d-ema", required_argument, NULL, B_D_EMA},
    {"window", required_argument, NULL, B_WINDOW},
    {"layers", required_argument, NULL, B_LAYERS},
    {"d-input", required_argument, NULL, B_D_INPUT},
    {"d-output", required_argument, NULL, B_D_OUTPUT},
    {"max-positions", required_argument, NULL, B_MAX_POSITIONS},
    {"truncation", required_argument, NULL, B_TRUNCATION},
    {"bidirectional", no_argument, NULL, B_BIDIRECTIONAL},
    {"softmax", no_argument, NULL, B_SOFTMAX},
    {"rotary", no_argument, NULL, B_ROTARY},
    {"postnorm", no_argument, NULL, B_POSTNORM},
    {"batchnorm", no_argument, NULL, B_BATCHNORM},
    {"model", required_argument, NULL, B_MODEL},
    {"input", required_argument, NULL, B_INPUT},
    {"warmup", required_argument, NULL, B_WARMUP},
    {"repeats", required_argument, NULL, B_REPEATS},
    {"max-seconds", required_argument, NULL, B_MAX_SECONDS},
    {"quad-max-len", required_argument, NULL, B_QUAD_MAX_LEN},
    {"quad-budget-s", required_argument, NULL, B_QUAD_BUDGET_S},
    {"json", required_argument, NULL, B_JSON},
    {"csv", required_argument, NULL, B_CSV},
    {"save-model", required_argument, NULL, B_SAVE_MODEL},
    {"seed", required_argument, NULL, B_SEED},
    {"no-build-time", no_argument, NULL, B_NO_BUILD_TIME},
    {"no-profile", no_argument, NULL, B_NO_PROFILE},
    {"driver-cache", required_argument, NULL, B_DRIVER_CACHE},
    {"no-gemm-tune", no_argument, NULL, B_NO_GEMM_TUNE},
    {"quiet", no_argument, NULL, B_QUIET},
    {"report", required_argument, NULL, B_REPORT},
    {"no-roofline", no_argument, NULL, B_NO_ROOFLINE},
    {"phase-timing", required_argument, NULL, B_PHASE_TIMING},
    {"precision", required_argument, NULL, B_PRECISION},
    {"help", no_argument, NULL, CLI_HELP},
    {NULL, 0, NULL, 0},
};

/* 0, 1 after --help, or -1 after a message (bad command line). */
static int parse(int argc, char **argv, bench_opts *o) {
    static const char *const on_off[] = {"off", "on", NULL};
    static const char *const timings[] = {"auto", "events", "wall", NULL}; /* SB_BENCH_TIMING_* */
    sb_bench_opts_default(o);
    sb_config *c = &o->cfg;
    cli_parser p;
    cli_parser_init(&p, "bench", bench_options, argc, argv);
    for (int k; (k = cli_next(&p)) != CLI_END;) {
        const char *cmd = p.cmd, *n = p.name, *v = p.arg;
        int bad = 0, choice = 0;
        switch (k) {
        case B_DEVICE: o->device = v; break;
        case B_LENGTHS:
            o->n_len = cli_parse_int_list(cmd, n, v, 1, INT_MAX, 1, o->lengths, SB_BENCH_MAX_LIST);
            bad = o->n_len < 1;
            break;
        case B_BATCH: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &o->B); break;
        case B_SHARES:
            o->n_share = cli_parse_double_list(cmd, n, v, 0, 1, "router", -1, o->shares,
                                               SB_BENCH_MAX_LIST);
            bad = o->n_share < 1;
            break;
        case B_METHODS: bad = cli_parse_names(cmd, n, v, sb_bench_method_names, &o->methods); break;
        case B_PRECISION: bad = cli_parse_names(cmd, n, v, sb_bench_precision_names, &o->precisions); break;
        case B_DECODE_STEPS: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &o->decode_steps); break;
        case B_D_MODEL: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &c->d_model); break;
        case B_D_QK: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &c->d_qk); break;
        case B_D_HIDDEN: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &c->d_hidden); break;
        case B_D_EMA: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &c->d_ema); break;
        case B_WINDOW: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &c->mem_size); break;
        case B_LAYERS: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &c->n_layers); break;
        case B_D_INPUT: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &c->d_input); break;
        case B_D_OUTPUT: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &c->d_output); break;
        case B_MAX_POSITIONS: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &c->max_positions); break;
        case B_TRUNCATION: bad = cli_parse_int(cmd, n, v, 0, INT_MAX, &c->truncation); break;
        case B_BIDIRECTIONAL: c->bidirectional = 1; break;
        case B_SOFTMAX: c->softmax = 1; break;
        case B_ROTARY: c->rotary = 1; break;
        case B_POSTNORM: c->prenorm = 0; break;
        case B_BATCHNORM: c->norm = SB_NORM_BATCH; break;
        case B_MODEL: o->model = v; break;
        case B_INPUT: o->input = v; break;
        case B_WARMUP: bad = cli_parse_int(cmd, n, v, 0, INT_MAX, &o->warmup); break;
        case B_REPEATS: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &o->repeats); break;
        case B_MAX_SECONDS: bad = cli_parse_double(cmd, n, v, 0, 0, HUGE_VAL, &o->max_seconds); break;
        case B_QUAD_MAX_LEN: bad = cli_parse_int(cmd, n, v, 1, INT_MAX, &o->quad_max_len); break;
        case B_QUAD_BUDGET_S: bad = cli_parse_double(cmd, n, v, 0, 0, HUGE_VAL, &o->quad_budget_s); break;
        case B_JSON: o->json = v; break;
        case B_CSV: o->csv = v; break;
        case B_SAVE_MODEL: o->save_model = v; break;
        case B_SEED: bad = cli_parse_u64(cmd, n, v, &o->seed); break;
        case B_NO_BUILD_TIME: o->build_time = 0; break;
        case B_NO_PROFILE: o->profile = 0; break;
        case B_DRIVER_CACHE:
            bad = cli_parse_choice(cmd, n, v, on_off, &choice);
            o->driver_cache = choice;
            break;
        case B_NO_GEMM_TUNE: o->gemm_tune = 0; break;
        case B_QUIET: o->quiet = 1; break;
        case B_REPORT: o->report = v; break;
        case B_NO_ROOFLINE: o->roofline = 0; break;
        case B_PHASE_TIMING:
            bad = cli_parse_choice(cmd, n, v, timings, &choice);
            o->phase_timing = choice;
            break;
        case CLI_HELP: return 1;
        default: bad = 1;
        }
        if (bad) return -1;
    }
    if (c->rotary && c->d_qk % 2) return cli_fail(p.cmd, "--rotary needs an even --d-qk"), -1;
    if (o->input && !o->model) return cli_fail(p.cmd, "--input needs --model"), -1;
    return 0;
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
    sb_bench_device *dev;         /* the device being benched (its peaks) */
    int dev_slot;                 /* its entry in rep->dev */
    const char *spec;             /* its selection */
    int peak_remeasured;          /* the peak was measured again during this device's sweep */
    sb_bench_row *raw;            /* this device's rows before their rooflines, */
    int *raw_at;                  /* at these indices of rep->rows */
    int n_raw, cap_raw;
    int wt;                       /* the weights' storage of the points being run (sb_wtype) */
} sweep;

static void progress(sweep *s, const sb_device_info *d, const char *method, int L, double share) {
    s->point++;
    if (s->o->quiet) return;
    if (share < 0) fprintf(stderr, "bench: [%d/%d] device %d %s L=%d share=router\n", s->point,
                           s->n_points, d->index, method, L);
    else fprintf(stderr, "bench: [%d/%d] device %d %s L=%d share=%.2f\n", s->point, s->n_points,
                 d->index, method, L, share);
}

/* A row's copy before its rooflines (recomputed when the peak is measured again). */
static void keep_raw(sweep *s, const sb_bench_row *row) {
    if (s->n_raw == s->cap_raw) {
        int cap = s->cap_raw ? 2 * s->cap_raw : 16;
        sb_bench_row *r = realloc(s->raw, (size_t)cap * sizeof *r);
        if (r) s->raw = r;
        int *a = r ? realloc(s->raw_at, (size_t)cap * sizeof *a) : NULL;
        if (!r || !a) return; /* no recomputation for this row */
        s->raw_at = a;
        s->cap_raw = cap;
    }
    s->raw[s->n_raw] = *row;
    s->raw_at[s->n_raw++] = s->rep->n_rows; /* the index it is about to get */
}

/* A trusted rate above the device's peak (a phase of a usable split, the GEMM
 * rate, the whole forward): the peak is stale or was measured in a busy
 * moment; measure it again (once per device), redo the rooflines of the
 * device's earlier rows against it and print them again (sb_bench_table_repeak). */
static void check_peak(sweep *s, const sb_bench_row *row) {
    sb_bench_device *d = s->dev;
    if (!d || !d->has_peak || s->peak_remeasured) return;
    char why[256];
    double rate;
    if (sb_bench_over_peak(row, d->peak.fp32_gflops, &rate, why, sizeof why) < 0) return;
    s->peak_remeasured = 1;
    printf("    peak check: %s (phase split: %s): measuring the peak again\n", why, row->split_source);
    fflush(stdout);
    sb_peak np;
    sb_err e;
    sb_err_clear(&e);
    if (sb_peak_get(s->spec, SB_PEAK_CACHE_REFRESH, !s->o->quiet, &np, &e) != SB_OK) {
        fprintf(stderr, "seqboat bench: measuring the peak of device %d again: %s\n", d->index, e.msg);
        return;
    }
    snprintf(np.recheck, sizeof np.recheck, "measured again during the bench: %.250s", why);
    printf("device %d %s: peak fp32 %.1f GFLOP/s (was %.1f), memory %.1f GB/s (was %.1f): measured again\n",
           d->index, d->name, np.fp32_gflops, d->peak.fp32_gflops, np.bandwidth_gbs, d->peak.bandwidth_gbs);
    d->peak = np;
    if (s->dev_slot >= 0 && s->dev_slot < s->rep->n_dev) s->rep->dev[s->dev_slot].peak = np;
    sb_bench_table_repeak(stdout, s->rep, s->raw, s->raw_at, s->n_raw, np.fp32_gflops, np.bandwidth_gbs);
}

/* One point: fills and records a row (status ok / error / skipped). */
static void run_point(sweep *s, sb_model_impl *m, const sb_device_info *d, const char *method,
                      int L, double share, const char *skip) {
    sb_bench_row row;
    sb_bench_row_init(&row);
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
                               s->o->max_seconds, s->o->profile, s->o->phase_timing,
                               s->dev && s->dev->has_peak ? s->dev->peak.fp32_gflops : 0};
        if (sb_bench_run(m, &ro, &row, &e) != SB_OK) {
            snprintf(row.status, sizeof row.status, "error: %.240s", e.msg);
        } else {
            check_peak(s, &row);
            keep_raw(s, &row);
            if (s->dev && s->dev->has_peak)
                sb_bench_roofline(&row, s->dev->peak.fp32_gflops, s->dev->peak.bandwidth_gbs);
            else
                sb_bench_roofline(&row, 0, 0);
        }
    }
    sb_bench_table_row(stdout, &row);
    if (!sb_bench_report_add_row(s->rep, &row)) fprintf(stderr, "seqboat bench: out of memory\n");
}

/* Method decode: a stream at each length L (prompt of L tokens), ms per step. */
static void bench_decode(sweep *s, const sb_device_info *d, const char *spec) {
    const bench_opts *o = s->o;
    sb_options mo = sb_options_default();
    mo.device = spec;
    if (s->wt == SB_WT_I8) mo.weights = SB_WEIGHTS_INT8;
    else mo.precision = s->wt;
    sb_model *pm = NULL;
    char why[SB_BENCH_STR] = "";
    if (sb_model_load(s->path, &mo, &pm) != SB_OK)
        snprintf(why, sizeof why, "error: loading the model for decode: %.200s", sb_last_error());
    else if (o->cfg.bidirectional || o->cfg.task == SB_TASK_CLASSIFY)
        snprintf(why, sizeof why, "skipped: decode needs a causal sequence or lm model");
    for (int li = 0; li < o->n_len; li++) {
        int L = o->lengths[li];
        sb_bench_row row;
        sb_bench_row_init(&row);
        snprintf(row.split_note, sizeof row.split_note, "decode: no phase split");
        progress(s, d, "decode", L, -1);
        row.device_index = d->index;
        snprintf(row.device, sizeof row.device, "%s", d->name);
        snprintf(row.method, sizeof row.method, "decode");
        snprintf(row.precision, sizeof row.precision, "%s", sb_bench_precision_names[s->wt]);
        row.B = 1, row.L = L, row.share_target = -1;
        if (why[0]) {
            snprintf(row.status, sizeof row.status, "%s", why);
        } else {
            sb_err e;
            sb_err_clear(&e);
            sb_status ds = sb_bench_decode(pm, L, o->decode_steps, o->seed + (uint64_t)L, &row, &e);
            row.weight_bytes = (double)sb_model_weight_bytes(pm); /* with the stream's copies */
            if (ds != SB_OK) {
                snprintf(row.status, sizeof row.status, "error: %.240s", e.msg);
            } else {
                /* traffic and rooflines of the mean step, weights read in their storage */
                sb_bench_decode_work(&o->cfg, (int)s->wt, &row);
                keep_raw(s, &row);
                if (s->dev && s->dev->has_peak)
                    sb_bench_roofline(&row, s->dev->peak.fp32_gflops, s->dev->peak.bandwidth_gbs);
                else
                    sb_bench_roofline(&row, 0, 0);
            }
        }
        sb_bench_table_row(stdout, &row);
        if (!sb_bench_report_add_row(s->rep, &row)) fprintf(stderr, "seqboat bench: out of memory\n");
    }
    sb_model_free(pm);
}

/* Estimated ms of a full-attention forward at L from the dense row at L. */
static double quad_estimate(const sb_bench_row *dense, const sb_config *c) {
    if (!dense || strcmp(dense->status, "ok") || !(dense->phase_ms[SB_PHASE_ATTN] > 0)) return -1;
    double Wq = dense->L, pd = sb_bench_attn_pairs(dense->tokens, c->mem_size, !c->bidirectional);
    double pq = sb_bench_attn_pairs(dense->tokens, Wq, !c->bidirectional);
    double per_pair = dense->phase_ms[SB_PHASE_ATTN] / (pd > 0 ? pd : 1);
    return dense->ms_med + (pq - pd) * per_pair;
}

/* The points of one device with weights stored as s->wt (--precision); the
 * device enters the report with the first precision that loads (*added). */
static int bench_precision(sweep *s, const sb_device_info *d, sb_bench_device *bd, const char *spec,
                           int *added) {
    bench_opts *o = s->o;
    sb_err e;
    sb_err_clear(&e);
    sb_model_impl *m = NULL, *mq = NULL;
    sb_rt_options ro = {spec, NULL, 0, NULL, s->wt}; /* profiling is switched on for the phase split only */
    if (sb_model_impl_create(s->path, &ro, &m, &e) != SB_OK) {
        fprintf(stderr, "seqboat bench: device %d (%s weights): %s\n", d->index,
                sb_bench_precision_names[s->wt], e.msg);
        if (*added) return 1;
        snprintf(bd->status, sizeof bd->status, "error: %.240s", e.msg);
        sb_bench_report_add_device(s->rep, bd);
        return 1;
    }
    if (!*added) {
        const char *tuned = sb_gemm_tune_active(d);
        snprintf(bd->gemm_params, sizeof bd->gemm_params, "%s", tuned ? tuned : "");
        sb_bench_report_add_device(s->rep, bd);
        *added = 1;
        s->dev = bd;
        s->dev_slot = s->rep->n_dev - 1;
        s->spec = spec;
        s->peak_remeasured = 0;
        s->n_raw = 0;
    }
    if (!o->quiet && o->precisions != 1u) fprintf(stderr, "bench: device %d: weights %s\n", d->index,
                                                  sb_bench_precision_names[s->wt]);
    sb_bench_table_header(stdout);
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
        if (o->methods & SB_BENCH_DENSE) {
            progress(s, d, "dense", L, 1.0);
            run_point(s, m, d, "dense", L, 1.0, NULL);
            dense_row = s->rep->rows[s->rep->n_rows - 1]; /* a copy: rows may move */
            dense = &dense_row;
        }
        if (o->methods & SB_BENCH_SMA)
            for (int k = 0; k < o->n_share; k++) {
                progress(s, d, "sma", L, o->shares[k]);
                run_point(s, m, d, "sma", L, o->shares[k], NULL);
            }
        if (o->methods & SB_BENCH_QUAD) {
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
                sb_rt_options rq = {spec, NULL, 0, NULL, s->wt};
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
    if (o->methods & SB_BENCH_DECODE) bench_decode(s, d, spec);
    return 0;
}

static int bench_device(sweep *s, const sb_device_info *d) {
    bench_opts *o = s->o;
    sb_bench_device bd;
    sb_bench_device_from_info(d, &bd);
    char spec[16];
    snprintf(spec, sizeof spec, "%d", d->index);
    sb_err e;
    sb_err_clear(&e);
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
    if (o->roofline) {
        int cached;
        if (!o->quiet) fprintf(stderr, "bench: device %d: peaks (seqboat peak; cached per device and driver)\n",
                               d->index);
        if (sb_peak_get(spec, SB_PEAK_CACHE_USE, !o->quiet, &bd.peak, &e) != SB_OK) {
            fprintf(stderr, "seqboat bench: peaks of device %d: %s (no rooflines)\n", d->index, e.msg);
        } else {
            bd.has_peak = 1;
            cached = bd.peak.cached;
            printf("device %d %s: peak fp32 %.1f GFLOP/s, memory %.1f GB/s, transfer %.2f GB/s, launch %.1f us (%s)\n",
                   d->index, d->name, bd.peak.fp32_gflops, bd.peak.bandwidth_gbs, bd.peak.transfer_gbs,
                   bd.peak.launch_us, cached ? "cached" : "measured");
            printf("    peak over %d rounds (min / median / max): fp32 %.1f / %.1f / %.1f GFLOP/s, read %.1f / %.1f / "
                   "%.1f GB/s; host bound %.1f GB/s%s; %s\n",
                   bd.peak.rounds, bd.peak.fp32_spread[0], bd.peak.fp32_spread[1], bd.peak.fp32_spread[2],
                   bd.peak.read_spread[0], bd.peak.read_spread[1], bd.peak.read_spread[2],
                   bd.peak.host_copy_gbs > bd.peak.host_read_gbs ? bd.peak.host_copy_gbs : bd.peak.host_read_gbs,
                   bd.peak.bw_capped ? " (bandwidth capped to it)" : "", bd.peak.timing);
            if (bd.peak.recheck[0]) printf("    %s\n", bd.peak.recheck);
        }
    }
    int added = 0;
    for (int wt = 0; sb_bench_precision_names[wt]; wt++) {
        if (!(o->precisions & (1u << wt))) continue;
        s->wt = wt;
        if (bench_precision(s, d, &bd, spec, &added) != 0 && !added) return 1;
    }
    return 0;
}

#ifndef SB_BENCH_REPORT_SCRIPT
#define SB_BENCH_REPORT_SCRIPT "bench/report"
#endif

/* --report DIR: DIR/bench.json, then bench/report draws DIR/index.html
 * (env SEQBOAT_BENCH_REPORT names another copy of the script). */
static int write_report(const sb_bench_report *rep, const char *dir) {
    char json[1100];
    sb_err e;
    sb_err_clear(&e);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "seqboat bench: cannot create the report folder '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    snprintf(json, sizeof json, "%s/bench.json", dir);
    if (sb_bench_write_json(rep, json, &e) != SB_OK) {
        fprintf(stderr, "seqboat bench: %s\n", e.msg);
        return -1;
    }
    const char *script = getenv("SEQBOAT_BENCH_REPORT");
    if (!script || !*script) script = SB_BENCH_REPORT_SCRIPT;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("python3", "python3", script, json, "--out", dir, (char *)NULL);
        fprintf(stderr, "seqboat bench: cannot run python3 %s: %s\n", script, strerror(errno));
        _exit(127);
    }
    int ws = 0;
    if (pid < 0 || waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "seqboat bench: the report script failed (%s); the results are in %s\n", script, json);
        return -1;
    }
    printf("report: %s/index.html\n", dir);
    return 0;
}

static void join_args(int argc, char **argv, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "seqboat bench");
    for (int i = 1; i < argc && n < cap; i++) n += (size_t)snprintf(out + n, cap - n, " %s", argv[i]);
}

/* --device all as one of several ranks on a node: node-local rank r of n keeps
 * the devices i with i % n == r (with fewer devices than ranks, device r % count). */
static void rank_devices(const cli_bench_ranks *br, sb_device_info *devs, int *n) {
    int k = 0;
    if (*n <= 0 || br->local_size <= 1) return;
    if (*n < br->local_size) {
        devs[0] = devs[br->local_rank % *n];
        *n = 1;
        return;
    }
    for (int i = 0; i < *n; i++)
        if (i % br->local_size == br->local_rank) devs[k++] = devs[i];
    *n = k;
}

int cli_bench_ranked(int argc, char **argv, const cli_bench_ranks *br) {
    bench_opts o;
    sb_bench_report rep;
    sb_input in;
    sb_err e;
    char dir[512] = "", path[700] = "", qpath[700] = "";
    sb_device_info *devs = NULL;
    int n_dev = 0, rc = 1, ran = 0;
    memset(&in, 0, sizeof in);
    sb_err_clear(&e);
    int pr = parse(argc, argv, &o);
    if (pr > 0) return cli_help(bench_usage);
    if (pr < 0) return cli_usage_error("bench");
    sb_bench_apply_process_settings(&o); /* before any OpenCL call */
    sb_bench_report_init(&rep);
    if (br) { /* rows name host and rank */
        rep.rank = br->rank;
        rep.ranks = br->size;
        snprintf(rep.node, sizeof rep.node, "%s", br->host);
    }
    join_args(argc, argv, rep.command, sizeof rep.command);
    if (getenv("POCL_KERNEL_CACHE")) snprintf(rep.driver_cache, sizeof rep.driver_cache,
                                              "POCL_KERNEL_CACHE=%s", getenv("POCL_KERNEL_CACHE"));
    rep.seed = o.seed;
    rep.warmup = o.warmup;
    rep.repeats = o.repeats;
    sweep s;
    memset(&s, 0, sizeof s);
    s.o = &o;
    s.rep = &rep;
    if (o.model) {
        sb_model_file *mf = NULL;
        if (sb_model_file_load(o.model, &mf, &e) != SB_OK) goto fail;
        o.cfg = mf->cfg;
        sb_model_file_free(mf);
        snprintf(rep.model, sizeof rep.model, "%s", o.model);
        s.path = o.model;
        o.methods &= ~(unsigned)SB_BENCH_QUAD;
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
        if (o.methods & SB_BENCH_QUAD) { /* same weights, one window covering every quadratic length */
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
        if (br) rank_devices(br, devs, &n_dev);
    } else {
        devs = malloc(sizeof *devs);
        if (!devs) goto out;
        if (sb_device_select(o.device ? o.device : br ? br->default_device : NULL, devs, &e) != SB_OK)
            goto fail;
        n_dev = 1;
    }
    if (n_dev == 0) {
        fprintf(stderr, "seqboat bench: no OpenCL device\n");
        goto out;
    }
    {
        unsigned me = o.methods;
        int per = s.in ? 1 + o.n_share
                       : o.n_len * ((me & SB_BENCH_SMA ? o.n_share : 0) + !!(me & SB_BENCH_DENSE) +
                                    !!(me & SB_BENCH_QUAD));
        per += me & SB_BENCH_DECODE ? o.n_len : 0;
        int n_prec = 0;
        for (int t = 0; sb_bench_precision_names[t]; t++) n_prec += (o.precisions >> t) & 1u;
        s.n_points = per * n_dev * n_prec;
    }
    printf("seqboat bench %s (%s), D=%d Z=%d H=%d N=%d W=%d layers=%d %s %s, batch %d\n",
           rep.library_version, rep.build_type, o.cfg.d_model, o.cfg.d_qk, o.cfg.d_hidden,
           o.cfg.d_ema, o.cfg.mem_size, o.cfg.n_layers, o.cfg.bidirectional ? "bidirectional" : "causal",
           o.cfg.softmax ? "softmax" : "relu2", s.in ? s.in->B : o.B);
    int failed = 0;
    for (int i = 0; i < n_dev; i++) failed += bench_device(&s, &devs[i]);
    rc = failed == n_dev ? 1 : 0;
    ran = 1;
    goto out;
fail:
    fprintf(stderr, "seqboat bench: %s\n", e.msg);
    rc = 1;
out:
    if (br) rc = br->gather(br, &rep, rc); /* every rank: rank 0 receives all rows */
    if (ran && (!br || br->rank == 0)) {
        if ((o.json && sb_bench_write_json(&rep, o.json, &e) != SB_OK) ||
            (o.csv && sb_bench_write_csv(&rep, o.csv, &e) != SB_OK)) {
            fprintf(stderr, "seqboat bench: %s\n", e.msg);
            rc = 1;
        }
        if (o.report && write_report(&rep, o.report) != 0) rc = 1;
    }
    if (path[0]) remove(path);
    if (qpath[0]) remove(qpath);
    if (dir[0]) rmdir(dir);
    sb_input_free(&in);
    free(devs);
    free(s.raw);
    free(s.raw_at);
    sb_bench_report_free(&rep);
    return rc;
}
