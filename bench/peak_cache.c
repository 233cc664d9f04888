/* peak_cache.c - `seqboat peak` figures kept and checked: the host bound,
 * the verdict on a cached peak against its re-check, the per-device cache file
 * (sb_peak_get), JSON, and the roofline arithmetic (see peak.h). The
 * measurements themselves: peak.c. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "peak.h"
#include "peak_internal.h"
#include "ops/ops_rt.h"
#include "program_cache.h"

#define HOST_TOL 1.05       /* device figure allowed above its host twin (noise) */
#define RECHECK_TOL 1.10    /* a re-check beating the cache by more: measure again */

/* ---- checks --------------------------------------------------------------------------- */

int sb_peak_apply_host_bound(sb_peak *p) {
    int capped = 0;
    if (p->host_copy_gbs > 0 && p->copy_gbs > HOST_TOL * p->host_copy_gbs) {
        sb_peak_note_add(p, "device copy %.1f GB/s above the host's copy of the same bytes %.1f GB/s: capped "
                         "to it", p->copy_gbs, p->host_copy_gbs);
        p->copy_gbs = p->host_copy_gbs;
        capped++;
    }
    if (p->host_read_gbs > 0 && p->read_gbs > HOST_TOL * p->host_read_gbs) {
        sb_peak_note_add(p, "device read %.1f GB/s above the host's read of the same bytes %.1f GB/s: capped "
                         "to it", p->read_gbs, p->host_read_gbs);
        p->read_gbs = p->host_read_gbs;
        capped++;
    }
    if (capped) p->bw_capped = 1;
    p->bandwidth_gbs = p->copy_gbs > p->read_gbs ? p->copy_gbs : p->read_gbs;
    return capped;
}

int sb_peak_recheck_verdict(const sb_peak *c, double probe_gflops, double probe_gbs, char *why, size_t cap) {
    double host = c->host_copy_gbs > c->host_read_gbs ? c->host_copy_gbs : c->host_read_gbs;
    if (c->rounds < 1) {
        snprintf(why, cap, "the cached peak has no rounds");
        return 1;
    }
    if (host > 0 && c->bandwidth_gbs > HOST_TOL * host) {
        snprintf(why, cap, "cached bandwidth %.1f GB/s above its own host bound %.1f GB/s", c->bandwidth_gbs,
                 host);
        return 1;
    }
    if (probe_gflops > 0 && isfinite(probe_gflops) && probe_gflops > RECHECK_TOL * c->fp32_gflops) {
        snprintf(why, cap, "a re-check ran fp32 at %.1f GFLOP/s, above the cached peak %.1f GFLOP/s",
                 probe_gflops, c->fp32_gflops);
        return 1;
    }
    if (probe_gbs > 0 && isfinite(probe_gbs) && probe_gbs > RECHECK_TOL * c->bandwidth_gbs) {
        snprintf(why, cap, "a re-check read memory at %.1f GB/s, above the cached bandwidth %.1f GB/s",
                 probe_gbs, c->bandwidth_gbs);
        return 1;
    }
    snprintf(why, cap, "ok");
    return 0;
}
/* ---- cache --------------------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ '\n') * 0x100000001b3ull;
}

static void cache_path(const sb_rt *rt, char *out, size_t cap) {
    const char *dir = sb_progcache_dir(rt->progs);
    out[0] = '\0';
    if (!dir) return;
    char fmt[16];
    snprintf(fmt, sizeof fmt, "%d", SB_PEAK_FORMAT);
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv1a(h, "seqboat peak");
    h = fnv1a(h, fmt);
    h = fnv1a(h, rt->dev.platform_name);
    h = fnv1a(h, rt->dev.platform_version);
    h = fnv1a(h, rt->dev.name);
    h = fnv1a(h, rt->dev.driver_version);
    snprintf(out, cap, "%s/peak-%016llx.json", dir, (unsigned long long)h);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 0 && n < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

static sb_status write_file(const char *path, const char *text, sb_err *e) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return sb_fail(e, SB_ERR_IO, "peak: cannot write '%s'", tmp);
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return sb_fail(e, SB_ERR_IO, "peak: cannot write '%s'", path);
    }
    return SB_OK;
}

sb_status sb_peak_get(const char *spec, int cache, int progress, sb_peak *p, sb_err *e) {
    return sb_peak_get_cfg(spec, cache, progress, NULL, p, e);
}

sb_status sb_peak_get_cfg(const char *spec, int cache, int progress, const sb_peak_cfg *cfg_in, sb_peak *p,
                          sb_err *e) {
    sb_status st = SB_OK;
    sb_rt *rt = NULL;
    char path[600], recheck_note[320] = "";
    double probe_g = NAN;
    int probe_w = 0, probe_acc = 0;
    sb_peak_cfg cfg;
    if (cfg_in) cfg = *cfg_in;
    else sb_peak_cfg_default(&cfg);
    memset(p, 0, sizeof *p);
    sb_rt_options ro = {spec, cache == SB_PEAK_CACHE_OFF ? "off" : NULL, 1, NULL, 0};
    SB_TRY(sb_ops_rt_create(&ro, &rt, e));
    cache_path(rt, path, sizeof path);
    if (path[0] && cache == SB_PEAK_CACHE_USE) {
        char *text = slurp(path);
        cJSON *o = text ? cJSON_Parse(text) : NULL;
        free(text);
        sb_peak c;
        int ok = o && sb_peak_from_json(o, &c) == 0 && !strcmp(c.name, rt->dev.name) &&
                 !strcmp(c.driver, rt->dev.driver_version) && !strcmp(c.platform, rt->dev.platform_name) &&
                 !strcmp(c.status, "ok") && c.fp32_gflops > 0 && c.bandwidth_gbs > 0;
        cJSON_Delete(o);
        if (ok) { /* a cache is re-checked before it is trusted */
            double g = NAN, b = NAN;
            char why[256];
            SB_TRY(sb_peak_probe(rt, &c, cfg.target_ms, &g, &b, e));
            if (!sb_peak_recheck_verdict(&c, g, b, why, sizeof why)) {
                *p = c;
                p->index = rt->dev.index; /* indices change with the platforms visible */
                p->cached = 1;
                snprintf(p->cache_file, sizeof p->cache_file, "%s", path);
                snprintf(p->recheck, sizeof p->recheck, "cache stands: re-check fp32 %.1f GFLOP/s, read %.1f GB/s",
                         g, b);
                goto done;
            }
            snprintf(recheck_note, sizeof recheck_note, "measured again: %.280s", why);
            probe_g = g;
            probe_w = c.fp32_width;
            probe_acc = c.fp32_accumulators;
            if (progress) fprintf(stderr, "peak: device %d: cached peak rejected (%s): measuring again\n",
                                  rt->dev.index, why);
        }
    }
    SB_TRY(sb_peak_measure_rt(rt, &cfg, progress, p, e));
    snprintf(p->recheck, sizeof p->recheck, "%s", recheck_note);
    if (probe_g > p->fp32_gflops) { /* the re-check is a measurement too: the best one stands */
        sb_peak_note_add(p, "fp32 %.1f GFLOP/s from the re-check kept (the rounds ran lower)", probe_g);
        p->fp32_gflops = probe_g;
        p->fp32_width = probe_w;
        p->fp32_accumulators = probe_acc;
        int slot = sb_peak_width_slot(probe_w);
        if (probe_g > p->fp32_by_width[slot]) p->fp32_by_width[slot] = probe_g;
    }
    if (path[0]) {
        snprintf(p->cache_file, sizeof p->cache_file, "%s", path);
        cJSON *o = sb_peak_to_json(p);
        char *text = o ? cJSON_Print(o) : NULL;
        cJSON_Delete(o);
        sb_err ignore;
        if (!text || write_file(path, text, &ignore) != SB_OK) p->cache_file[0] = '\0'; /* cache is optional */
        free(text);
    }
done:
    sb_rt_free(rt);
    return st;
}
/* ---- JSON ------------------------------------------------------------------------------ */

cJSON *sb_peak_to_json(const sb_peak *p) {
    cJSON *o = cJSON_CreateObject(), *w = NULL;
    if (!o) return NULL;
    int bad = 0;
#define NUM(k, v) bad |= !cJSON_AddNumberToObject(o, k, v)
#define STR(k, v) bad |= !cJSON_AddStringToObject(o, k, v)
#define SPREAD(k, v)                                                                               \
    do {                                                                                           \
        double sv_[3] = {(v)[0], (v)[1], (v)[2]};                                                  \
        cJSON *a_ = cJSON_CreateDoubleArray(sv_, 3);                                               \
        if (!a_ || !cJSON_AddItemToObject(o, k, a_)) {                                             \
            cJSON_Delete(a_);                                                                      \
            bad = 1;                                                                               \
        }                                                                                          \
    } while (0)
    NUM("index", p->index);
    STR("name", p->name);
    STR("platform", p->platform);
    STR("platform_version", p->platform_version);
    STR("vendor", p->vendor);
    STR("type", p->type);
    STR("driver", p->driver);
    NUM("compute_units", p->compute_units);
    NUM("fp32_gflops", p->fp32_gflops);
    NUM("fp32_width", p->fp32_width);
    NUM("fp32_accumulators", p->fp32_accumulators);
    w = cJSON_AddObjectToObject(o, "fp32_gflops_by_width");
    bad |= !w;
    for (int i = 0; w && i < SB_PEAK_WIDTHS; i++) {
        char k[8];
        snprintf(k, sizeof k, "%d", sb_peak_widths[i]);
        bad |= !cJSON_AddNumberToObject(w, k, p->fp32_by_width[i]);
    }
    NUM("bandwidth_gbs", p->bandwidth_gbs);
    NUM("copy_gbs", p->copy_gbs);
    NUM("read_gbs", p->read_gbs);
    NUM("buffer_mib", p->buffer_mib);
    NUM("llc_mib", p->llc_mib);
    STR("llc_source", p->llc_source);
    NUM("copy_width", p->copy_width);
    NUM("read_width", p->read_width);
    NUM("rounds", p->rounds);
    SPREAD("fp32_gflops_spread", p->fp32_spread);
    SPREAD("copy_gbs_spread", p->copy_spread);
    SPREAD("read_gbs_spread", p->read_spread);
    SPREAD("host_copy_gbs_spread", p->host_copy_spread);
    SPREAD("host_read_gbs_spread", p->host_read_spread);
    NUM("host_copy_gbs", p->host_copy_gbs);
    NUM("host_read_gbs", p->host_read_gbs);
    NUM("host_threads", p->host_threads);
    bad |= !cJSON_AddBoolToObject(o, "bandwidth_capped", p->bw_capped);
    if (isfinite(p->event_wall_ratio)) NUM("event_wall_ratio", p->event_wall_ratio);
    else bad |= !cJSON_AddNullToObject(o, "event_wall_ratio");
    STR("timing", p->timing);
    STR("note", p->note);
    STR("recheck", p->recheck);
    NUM("transfer_gbs", p->transfer_gbs);
    NUM("h2d_gbs", p->h2d_gbs);
    NUM("d2h_gbs", p->d2h_gbs);
    NUM("launch_us", p->launch_us);
    NUM("measure_s", p->measure_s);
    STR("measured_at", p->measured_at);
    bad |= !cJSON_AddBoolToObject(o, "cached", p->cached);
    STR("cache_file", p->cache_file);
    NUM("format", SB_PEAK_FORMAT);
    STR("status", p->status);
#undef NUM
#undef STR
#undef SPREAD
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static double jn(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void js(const cJSON *o, const char *k, char *out, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static void jspread(const cJSON *o, const char *k, double out[3]) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, i) : NULL;
        out[i] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    }
}

int sb_peak_from_json(const cJSON *o, sb_peak *p) {
    memset(p, 0, sizeof *p);
    if (!cJSON_IsObject(o) || jn(o, "format") != SB_PEAK_FORMAT) return -1;
    p->index = (int)jn(o, "index");
    js(o, "name", p->name, sizeof p->name);
    js(o, "platform", p->platform, sizeof p->platform);
    js(o, "platform_version", p->platform_version, sizeof p->platform_version);
    js(o, "vendor", p->vendor, sizeof p->vendor);
    js(o, "type", p->type, sizeof p->type);
    js(o, "driver", p->driver, sizeof p->driver);
    js(o, "measured_at", p->measured_at, sizeof p->measured_at);
    js(o, "status", p->status, sizeof p->status);
    p->compute_units = (unsigned)jn(o, "compute_units");
    p->fp32_gflops = jn(o, "fp32_gflops");
    p->fp32_width = (int)jn(o, "fp32_width");
    p->fp32_accumulators = (int)jn(o, "fp32_accumulators");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "fp32_gflops_by_width");
    for (int i = 0; i < SB_PEAK_WIDTHS; i++) {
        char k[8];
        snprintf(k, sizeof k, "%d", sb_peak_widths[i]);
        p->fp32_by_width[i] = w ? jn(w, k) : NAN;
    }
    p->bandwidth_gbs = jn(o, "bandwidth_gbs");
    p->copy_gbs = jn(o, "copy_gbs");
    p->read_gbs = jn(o, "read_gbs");
    p->buffer_mib = jn(o, "buffer_mib");
    p->llc_mib = jn(o, "llc_mib");
    js(o, "llc_source", p->llc_source, sizeof p->llc_source);
    p->copy_width = jn(o, "copy_width") >= 1 ? (int)jn(o, "copy_width") : 0;
    p->read_width = jn(o, "read_width") >= 1 ? (int)jn(o, "read_width") : 0;
    p->rounds = jn(o, "rounds") >= 0 ? (int)jn(o, "rounds") : 0;
    jspread(o, "fp32_gflops_spread", p->fp32_spread);
    jspread(o, "copy_gbs_spread", p->copy_spread);
    jspread(o, "read_gbs_spread", p->read_spread);
    jspread(o, "host_copy_gbs_spread", p->host_copy_spread);
    jspread(o, "host_read_gbs_spread", p->host_read_spread);
    p->host_copy_gbs = jn(o, "host_copy_gbs");
    p->host_read_gbs = jn(o, "host_read_gbs");
    p->host_threads = jn(o, "host_threads") >= 0 ? (int)jn(o, "host_threads") : 0;
    p->bw_capped = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "bandwidth_capped"));
    p->event_wall_ratio = jn(o, "event_wall_ratio");
    js(o, "timing", p->timing, sizeof p->timing);
    js(o, "note", p->note, sizeof p->note);
    js(o, "recheck", p->recheck, sizeof p->recheck);
    if (!(p->host_copy_gbs >= 0)) p->host_copy_gbs = 0;
    if (!(p->host_read_gbs >= 0)) p->host_read_gbs = 0;
    if (!(p->llc_mib >= 0)) p->llc_mib = 0;
    p->transfer_gbs = jn(o, "transfer_gbs");
    p->h2d_gbs = jn(o, "h2d_gbs");
    p->d2h_gbs = jn(o, "d2h_gbs");
    p->launch_us = jn(o, "launch_us");
    p->measure_s = jn(o, "measure_s");
    if (!isfinite(p->fp32_gflops) || !isfinite(p->bandwidth_gbs) || !isfinite(p->transfer_gbs) ||
        !isfinite(p->launch_us))
        return -1;
    return 0;
}

sb_status sb_peak_write_json(const sb_peak *p, int n, const char *path, sb_err *e) {
    sb_status st = SB_OK;
    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "devices") : NULL;
    if (!arr || !cJSON_AddStringToObject(root, "tool", "seqboat peak") ||
        !cJSON_AddNumberToObject(root, "format", SB_PEAK_FORMAT))
        SB_FAIL(SB_ERR_HOST_MEMORY, "peak: out of host memory");
    for (int i = 0; i < n; i++) {
        cJSON *o = sb_peak_to_json(&p[i]);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            SB_FAIL(SB_ERR_HOST_MEMORY, "peak: out of host memory");
        }
    }
    text = cJSON_Print(root);
    if (!text) SB_FAIL(SB_ERR_HOST_MEMORY, "peak: out of host memory");
    SB_TRY(write_file(path, text, e));
done:
    free(text);
    cJSON_Delete(root);
    return st;
}
/* ---- roofline ----------------------------------------------------------------------------- */

double sb_roofline_bound(double ai, double gflops, double gbs) {
    if (!(ai > 0) || !(gflops > 0) || !(gbs > 0) || !isfinite(ai)) return NAN;
    double mem = ai * gbs;
    return mem < gflops ? mem : gflops;
}

double sb_roofline_pct(double achieved_gflops, double ai, double gflops, double gbs) {
    double b = sb_roofline_bound(ai, gflops, gbs);
    if (!(achieved_gflops >= 0) || !isfinite(b)) return NAN;
    return 100.0 * achieved_gflops / b;
}
