/* bench_report.c - the bench report: header, devices, results; JSON (cJSON)
 * and CSV writers. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

/* gemm_params when no tuned CLBlast parameters were applied */
#if SEQBOAT_HAVE_CLBLAST
#define GEMM_PARAMS_NONE "clblast-default"
#else
#define GEMM_PARAMS_NONE "no-clblast"
#endif

#ifndef SB_BUILD_TYPE
#define SB_BUILD_TYPE "unknown"
#endif

static const char *const phase_names[SB_PHASE_COUNT] = {"other", "ema", "gate", "proj", "attn"};

static void copy_str(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

void sb_bench_report_init(sb_bench_report *r) {
    memset(r, 0, sizeof *r);
    copy_str(r->library_version, sizeof r->library_version, SB_VERSION_STRING);
    copy_str(r->build_type, sizeof r->build_type, SB_BUILD_TYPE);
    copy_str(r->build_options, sizeof r->build_options, sb_bench_build_options());
    copy_str(r->kernel_dir, sizeof r->kernel_dir, getenv("SEQBOAT_KERNEL_DIR"));
    copy_str(r->cache_dir, sizeof r->cache_dir, getenv("SEQBOAT_CACHE_DIR"));
    copy_str(r->driver_cache, sizeof r->driver_cache, "default");
    time_t now = time(NULL);
    struct tm tmv;
    if (gmtime_r(&now, &tmv)) strftime(r->timestamp, sizeof r->timestamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(r->host, sizeof r->host, "%.60s %.60s %.60s", u.sysname, u.release, u.machine);
    copy_str(r->model, sizeof r->model, "random");
    if (gethostname(r->node, sizeof r->node) != 0) copy_str(r->node, sizeof r->node, "?");
    r->node[sizeof r->node - 1] = '\0';
    r->ranks = 1;
}

void sb_bench_report_free(sb_bench_report *r) {
    if (!r) return;
    free(r->dev);
    free(r->rows);
    r->dev = NULL;
    r->rows = NULL;
    r->n_dev = r->cap_dev = r->n_rows = r->cap_rows = 0;
}

sb_bench_row *sb_bench_report_add_row(sb_bench_report *r, const sb_bench_row *row) {
    if (r->n_rows == r->cap_rows) {
        int cap = r->cap_rows ? 2 * r->cap_rows : 16;
        sb_bench_row *n = realloc(r->rows, (size_t)cap * sizeof *n);
        if (!n) return NULL;
        r->rows = n;
        r->cap_rows = cap;
    }
    r->rows[r->n_rows] = *row;
    copy_str(r->rows[r->n_rows].node, sizeof r->rows[r->n_rows].node, r->node);
    r->rows[r->n_rows].rank = r->rank;
    return &r->rows[r->n_rows++];
}

sb_bench_device *sb_bench_report_add_device(sb_bench_report *r, const sb_bench_device *d) {
    if (r->n_dev == r->cap_dev) {
        int cap = r->cap_dev ? 2 * r->cap_dev : 4;
        sb_bench_device *n = realloc(r->dev, (size_t)cap * sizeof *n);
        if (!n) return NULL;
        r->dev = n;
        r->cap_dev = cap;
    }
    r->dev[r->n_dev] = *d;
    copy_str(r->dev[r->n_dev].node, sizeof r->dev[r->n_dev].node, r->node);
    r->dev[r->n_dev].rank = r->rank;
    return &r->dev[r->n_dev++];
}

void sb_bench_device_from_info(const sb_device_info *i, sb_bench_device *d) {
    memset(d, 0, sizeof *d);
    d->index = i->index;
    copy_str(d->name, sizeof d->name, i->name);
    copy_str(d->vendor, sizeof d->vendor, i->vendor);
    copy_str(d->type, sizeof d->type, sb_device_type_string(i->type));
    copy_str(d->platform, sizeof d->platform, i->platform_name);
    copy_str(d->platform_version, sizeof d->platform_version, i->platform_version);
    copy_str(d->driver, sizeof d->driver, i->driver_version);
    copy_str(d->device_version, sizeof d->device_version, i->device_version);
    copy_str(d->c_version, sizeof d->c_version, i->c_version);
    d->compute_units = i->compute_units;
    d->global_mem = (double)i->global_mem;
    d->local_mem = (double)i->local_mem;
    d->max_alloc = (double)i->max_alloc;
    copy_str(d->status, sizeof d->status, "ok");
}

/* ---- JSON ------------------------------------------------------------------------ */

/* cJSON adders return NULL on out of memory; count failures instead of checking each. */
typedef struct jctx {
    int bad;
} jctx;

static void jnum(jctx *j, cJSON *o, const char *k, double v) {
    if (!cJSON_AddNumberToObject(o, k, v)) j->bad++;
}
/* A number, or null when unavailable (NaN / infinite). */
static void jnumn(jctx *j, cJSON *o, const char *k, double v) {
    if (!(isfinite(v) ? cJSON_AddNumberToObject(o, k, v) : cJSON_AddNullToObject(o, k))) j->bad++;
}
static void jstr(jctx *j, cJSON *o, const char *k, const char *v) {
    if (!cJSON_AddStringToObject(o, k, v ? v : "")) j->bad++;
}

static cJSON *json_config(jctx *j, const sb_config *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        j->bad++;
        return NULL;
    }
    jstr(j, o, "task", sb_task_name(c->task));
    jnum(j, o, "d_input", c->d_input);
    jnum(j, o, "vocab_size", c->vocab_size);
    jnum(j, o, "d_output", c->d_output);
    jnum(j, o, "d_model", c->d_model);
    jnum(j, o, "n_layers", c->n_layers);
    jnum(j, o, "d_qk", c->d_qk);
    jnum(j, o, "d_hidden", c->d_hidden);
    jnum(j, o, "d_ema", c->d_ema);
    jnum(j, o, "mem_size", c->mem_size);
    jnum(j, o, "max_positions", c->max_positions);
    jnum(j, o, "truncation", c->truncation);
    jstr(j, o, "bidirectional", c->bidirectional ? "true" : "false");
    jstr(j, o, "prenorm", c->prenorm ? "true" : "false");
    jstr(j, o, "norm_type", sb_norm_name(c->norm));
    jstr(j, o, "rel_pos_bias", sb_rel_name(c));
    jstr(j, o, "attention_activation", c->softmax ? "softmax" : "relu2");
    return o;
}

static cJSON *json_device(jctx *j, const sb_bench_device *d) {
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        j->bad++;
        return NULL;
    }
    jnum(j, o, "index", d->index);
    jstr(j, o, "name", d->name);
    jstr(j, o, "vendor", d->vendor);
    jstr(j, o, "type", d->type);
    jstr(j, o, "platform", d->platform);
    jstr(j, o, "platform_version", d->platform_version);
    jstr(j, o, "driver", d->driver);
    jstr(j, o, "device_version", d->device_version);
    jstr(j, o, "opencl_c_version", d->c_version);
    jnum(j, o, "compute_units", d->compute_units);
    jnum(j, o, "global_mem_bytes", d->global_mem);
    jnum(j, o, "local_mem_bytes", d->local_mem);
    jnum(j, o, "max_alloc_bytes", d->max_alloc);
    jnum(j, o, "build_cold_ms", d->build_cold_ms);
    jnum(j, o, "build_warm_ms", d->build_warm_ms);
    jnum(j, o, "programs_built", d->programs_built);
    jnum(j, o, "programs_disk_hits", d->programs_disk_hits);
    jnum(j, o, "load_ms", d->load_ms);
    jstr(j, o, "gemm_params", d->gemm_params[0] ? d->gemm_params : GEMM_PARAMS_NONE);
    if (d->has_peak) {
        cJSON *pk = sb_peak_to_json(&d->peak);
        if (!pk || !cJSON_AddItemToObject(o, "peak", pk)) {
            cJSON_Delete(pk);
            j->bad++;
        }
    } else if (!cJSON_AddNullToObject(o, "peak")) {
        j->bad++;
    }
    jstr(j, o, "status", d->status);
    jstr(j, o, "host", d->node);
    jnum(j, o, "rank", d->rank);
    return o;
}

static cJSON *json_row(jctx *j, const sb_bench_row *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        j->bad++;
        return NULL;
    }
    jnum(j, o, "device_index", r->device_index);
    jstr(j, o, "device", r->device);
    jstr(j, o, "method", r->method);
    jstr(j, o, "precision", r->precision);
    jnum(j, o, "B", r->B);
    jnum(j, o, "L", r->L);
    jnum(j, o, "tokens", (double)r->tokens);
    jnum(j, o, "layers", r->layers);
    jnum(j, o, "D", r->D);
    jnum(j, o, "Z", r->Z);
    jnum(j, o, "H", r->H);
    jnum(j, o, "N", r->N);
    jnum(j, o, "W", r->W);
    jnum(j, o, "causal", r->causal);
    jnum(j, o, "softmax", r->softmax);
    jnum(j, o, "share_target", r->share_target);
    jnum(j, o, "share", r->share);
    jnum(j, o, "repeats", r->repeats);
    jnum(j, o, "ms_min", r->ms_min);
    jnum(j, o, "ms_median", r->ms_med);
    jnum(j, o, "ms_max", r->ms_max);
    jnum(j, o, "layer_ms", r->layer_ms);
    jnum(j, o, "tokens_per_s", r->tokens_per_s);
    jnum(j, o, "gflop", r->gflop);
    jnumn(j, o, "gflop_per_s", r->gflop_s);
    cJSON *ph = cJSON_AddObjectToObject(o, "phase_ms");
    if (!ph) j->bad++;
    else
        for (int p = 0; p < SB_PHASE_COUNT; p++) jnumn(j, ph, phase_names[p], r->phase_ms[p]);
    jnumn(j, o, "unattributed_ms", r->unattributed_ms);
    jstr(j, o, "phase_split", r->split_note);
    if (!cJSON_AddBoolToObject(o, "phase_split_ok", r->split_ok)) j->bad++;
    jstr(j, o, "phase_timing", r->split_ok ? r->split_source : "none");
    jstr(j, o, "phase_timing_events", r->events_note);
    {
        cJSON *ts = cJSON_AddObjectToObject(o, "timing_sources");
        if (!ts) j->bad++;
        else {
            int dec = !strcmp(r->method, "decode");
            jstr(j, ts, "ms", dec ? "host wall clock per decode step" : "host wall clock, unprofiled queue");
            jstr(j, ts, "phase_ms", !r->split_ok ? "none"
                                    : !strcmp(r->split_source, "events")
                                        ? "driver event profiling (checked against the wall clock)"
                                        : "host wall clock, queue finished at every phase change (serialised)");
            jstr(j, ts, "roofline", dec ? "seqboat peak: host wall clock around clFinish; the step's "
                                          "work at the mean step time"
                                        : "seqboat peak: host wall clock around clFinish");
        }
    }
    jnumn(j, o, "profiled_ms", r->profiled_ms);
    jnumn(j, o, "device_span_ms", r->device_span_ms);
    jnumn(j, o, "device_busy_ms", r->device_busy_ms);
    jnumn(j, o, "gemm_gflop_per_s", r->gemm_gflop_s);
    jnum(j, o, "gbytes", r->gbytes);
    jnumn(j, o, "gbytes_per_s", r->gb_s);
    jnumn(j, o, "arithmetic_intensity", r->ai);
    jnumn(j, o, "roofline_bound_gflop_per_s", r->roofline_bound);
    jnumn(j, o, "roofline_pct", r->roofline_pct);
    jstr(j, o, "roofline_note", r->roofline_note);
    cJSON *phs = cJSON_AddObjectToObject(o, "phases");
    if (!phs) j->bad++;
    for (int p = 0; phs && p < SB_PHASE_COUNT; p++) {
        cJSON *q = cJSON_AddObjectToObject(phs, phase_names[p]);
        if (!q) {
            j->bad++;
            continue;
        }
        jnum(j, q, "gflop", r->phase_gflop[p]);
        jnum(j, q, "gbytes", r->phase_gbytes[p]);
        jnumn(j, q, "arithmetic_intensity", r->phase_ai[p]);
        jnumn(j, q, "ms", r->phase_ms[p]);
        jnumn(j, q, "gflop_per_s", r->phase_gflop_s[p]);
        jnumn(j, q, "roofline_pct", r->phase_roofline_pct[p]);
    }
    jnum(j, o, "peak_bytes", r->peak_bytes);
    jnum(j, o, "weight_bytes", r->weight_bytes);
    if (r->ref_tokens_per_s > 0) {
        jnum(j, o, "ref_tokens_per_s", r->ref_tokens_per_s);
        jnum(j, o, "ref_ratio", r->ref_ratio);
    }
    jnum(j, o, "load_avg", r->load_avg);
    if (!strcmp(r->method, "decode")) jnum(j, o, "prefill_ms", r->prefill_ms);
    jstr(j, o, "status", r->status);
    jstr(j, o, "host", r->node);
    jnum(j, o, "rank", r->rank);
    return o;
}

static void add_item(jctx *j, cJSON *arr, cJSON *item) {
    if (!item || !cJSON_AddItemToArray(arr, item)) {
        j->bad++;
        cJSON_Delete(item);
    }
}

static sb_status write_text(const char *path, const char *text, sb_err *e) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return sb_fail(e, SB_ERR_IO, "bench: cannot write '%s'", tmp);
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return sb_fail(e, SB_ERR_IO, "bench: cannot write '%s'", path);
    }
    return SB_OK;
}

sb_status sb_bench_write_json(const sb_bench_report *r, const char *path, sb_err *e) {
    sb_status st = SB_OK;
    jctx j = {0};
    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) return sb_fail(e, SB_ERR_HOST_MEMORY, "bench: out of host memory");
    cJSON *h = cJSON_AddObjectToObject(root, "header");
    if (!h) SB_FAIL(SB_ERR_HOST_MEMORY, "bench: out of host memory");
    jstr(&j, h, "tool", "seqboat bench");
    jstr(&j, h, "library_version", r->library_version);
    jstr(&j, h, "build_type", r->build_type);
    jstr(&j, h, "build_options", r->build_options);
    jstr(&j, h, "kernel_dir", r->kernel_dir);
    jstr(&j, h, "cache_dir", r->cache_dir);
    jstr(&j, h, "driver_cache", r->driver_cache);
    jstr(&j, h, "command", r->command);
    jstr(&j, h, "timestamp", r->timestamp);
    jstr(&j, h, "host", r->host);
    jstr(&j, h, "model", r->model);
    jnum(&j, h, "seed", (double)r->seed);
    jnum(&j, h, "warmup", r->warmup);
    jnum(&j, h, "repeats", r->repeats);
    jnum(&j, h, "ranks", r->ranks);
    jstr(&j, h, "flop_model", "see bench/README.md (runtime/bench.h)");
    jstr(&j, h, "timing", "ms_*, tokens_per_s, gflop_per_s: host wall clock on an unprofiled queue; phase_ms: "
                          "see each result's phase_timing; peaks: seqboat peak (host wall clock around clFinish)");
    cJSON *cfg = json_config(&j, &r->cfg);
    if (!cfg || !cJSON_AddItemToObject(root, "config", cfg)) {
        cJSON_Delete(cfg);
        SB_FAIL(SB_ERR_HOST_MEMORY, "bench: out of host memory");
    }
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    cJSON *res = cJSON_AddArrayToObject(root, "results");
    if (!devs || !res) SB_FAIL(SB_ERR_HOST_MEMORY, "bench: out of host memory");
    for (int i = 0; i < r->n_dev; i++) add_item(&j, devs, json_device(&j, &r->dev[i]));
    for (int i = 0; i < r->n_rows; i++) add_item(&j, res, json_row(&j, &r->rows[i]));
    if (j.bad) SB_FAIL(SB_ERR_HOST_MEMORY, "bench: out of host memory building the JSON");
    text = cJSON_Print(root);
    if (!text) SB_FAIL(SB_ERR_HOST_MEMORY, "bench: out of host memory printing the JSON");
    SB_TRY(write_text(path, text, e));
done:
    free(text);
    cJSON_Delete(root);
    return st;
}

/* ---- CSV -------------------------------------------------------------------------- */

const char *const sb_bench_csv_columns[] = {
    "device_index", "device", "method", "B", "L", "tokens", "layers", "D", "Z", "H", "N", "W",
    "causal", "softmax", "share_target", "share", "repeats", "ms_min", "ms_median", "ms_max",
    "layer_ms", "tokens_per_s", "gflop", "gflop_per_s", "other_ms", "ema_ms", "gate_ms", "proj_ms",
    "attn_ms", "unattributed_ms", "gemm_gflop_per_s", "gbytes", "gbytes_per_s", "peak_bytes", "weight_bytes",
    "build_cold_ms", "build_warm_ms", "load_avg", "prefill_ms", "arithmetic_intensity",
    "roofline_bound_gflop_per_s", "roofline_pct", "other_roofline_pct", "ema_roofline_pct",
    "gate_roofline_pct", "proj_roofline_pct", "attn_roofline_pct", "other_ai", "ema_ai", "gate_ai",
    "proj_ai", "attn_ai", "peak_fp32_gflops", "peak_bandwidth_gbs", "phase_split", "phase_timing", "roofline_note",
    "status", "host", "rank", "precision", NULL};

/* ",value" or "," when unavailable. */
static void csv_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, ",%.6g", v);
    else fputc(',', f);
}

/* A field, quoted when it holds a comma, quote or newline. */
static void csv_str(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_meta(FILE *f, const char *k, const char *v) {
    fprintf(f, "# %s,", k);
    csv_str(f, v);
    fputc('\n', f);
}

sb_status sb_bench_write_csv(const sb_bench_report *r, const char *path, sb_err *e) {
    char tmp[1100], num[128];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return sb_fail(e, SB_ERR_IO, "bench: cannot write '%s'", tmp);
    csv_meta(f, "tool", "seqboat bench");
    csv_meta(f, "library_version", r->library_version);
    csv_meta(f, "build_type", r->build_type);
    csv_meta(f, "build_options", r->build_options);
    csv_meta(f, "kernel_dir", r->kernel_dir);
    csv_meta(f, "driver_cache", r->driver_cache);
    csv_meta(f, "command", r->command);
    csv_meta(f, "timestamp", r->timestamp);
    csv_meta(f, "host", r->host);
    csv_meta(f, "model", r->model);
    if (r->ranks > 1) {
        snprintf(num, sizeof num, "%d", r->ranks);
        csv_meta(f, "ranks", num);
    }
    for (int i = 0; i < r->n_dev; i++) {
        const sb_bench_device *d = &r->dev[i];
        char key[32], val[1400];
        if (r->ranks > 1) snprintf(key, sizeof key, "device.%d.%d", d->rank, d->index);
        else snprintf(key, sizeof key, "device.%d", d->index);
        snprintf(val, sizeof val, "%s | %s | %s | driver %s | gemm %s | %s", d->name, d->vendor,
                 d->platform, d->driver, d->gemm_params[0] ? d->gemm_params : GEMM_PARAMS_NONE,
                 d->status);
        csv_meta(f, key, val);
    }
    for (int c = 0; sb_bench_csv_columns[c]; c++)
        fprintf(f, "%s%s", c ? "," : "", sb_bench_csv_columns[c]);
    fputc('\n', f);
    for (int i = 0; i < r->n_rows; i++) {
        const sb_bench_row *w = &r->rows[i];
        const sb_bench_device *d = NULL;
        for (int k = 0; k < r->n_dev; k++)
            if (r->dev[k].index == w->device_index && r->dev[k].rank == w->rank) d = &r->dev[k];
        fprintf(f, "%d,", w->device_index);
        csv_str(f, w->device);
        fputc(',', f);
        csv_str(f, w->method);
        fprintf(f, ",%d,%d,%ld,%d,%d,%d,%d,%d,%d,%d,%d,%.4g,%.6g,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g",
                w->B, w->L, w->tokens, w->layers, w->D, w->Z, w->H, w->N, w->W, w->causal,
                w->softmax, w->share_target, w->share, w->repeats, w->ms_min, w->ms_med, w->ms_max,
                w->layer_ms, w->tokens_per_s, w->gflop);
        csv_num(f, w->gflop_s);
        for (int p = 0; p < SB_PHASE_COUNT; p++) csv_num(f, w->phase_ms[p]);
        csv_num(f, w->unattributed_ms);
        csv_num(f, w->gemm_gflop_s);
        fprintf(f, ",%.6g", w->gbytes);
        csv_num(f, w->gb_s);
        fprintf(f, ",%.0f,%.0f", w->peak_bytes, w->weight_bytes);
        snprintf(num, sizeof num, ",%.6g,%.6g,%.3g,%.6g", d ? d->build_cold_ms : 0.0,
                 d ? d->build_warm_ms : 0.0, w->load_avg, w->prefill_ms);
        fputs(num, f);
        csv_num(f, w->ai);
        csv_num(f, w->roofline_bound);
        csv_num(f, w->roofline_pct);
        for (int p = 0; p < SB_PHASE_COUNT; p++) csv_num(f, w->phase_roofline_pct[p]);
        for (int p = 0; p < SB_PHASE_COUNT; p++) csv_num(f, w->phase_ai[p]);
        csv_num(f, d && d->has_peak ? d->peak.fp32_gflops : NAN);
        csv_num(f, d && d->has_peak ? d->peak.bandwidth_gbs : NAN);
        fputc(',', f);
        csv_str(f, w->split_note);
        fputc(',', f);
        csv_str(f, w->split_ok ? w->split_source : "none");
        fputc(',', f);
        csv_str(f, w->roofline_note);
        fputc(',', f);
        csv_str(f, w->status);
        fputc(',', f);
        csv_str(f, w->node);
        fprintf(f, ",%d,", w->rank);
        csv_str(f, w->precision);
        fputc('\n', f);
    }
    int ok = !ferror(f);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return sb_fail(e, SB_ERR_IO, "bench: cannot write '%s'", path);
    }
    return SB_OK;
}
