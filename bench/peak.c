/* peak.c - device micro-benchmarks of `seqboat peak` and the roofline
 * arithmetic (see peak.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_clock.h"
#include "peak.h"
#include "ops/ops_rt.h"
#include "program_cache.h"

/* the bench kernels (bench/bench_*.cl), embedded by cmake/embed_cl.cmake */
typedef struct { const char *stem; const char *src; size_t size; } sb_embedded_kernel;
extern const sb_embedded_kernel sb_bench_kernels[];

#define PEAK_STEM "bench_peak"
#define FMA_TARGET_MS 50.0  /* one calibrated fp32 launch */
#define RUNS 5              /* best of (the machine may be shared) */
#define CONFIRM_RUNS 20     /* the fp32 winner measured again */
#define LAUNCHES 200        /* launch-latency samples */
#define MIB 1048576.0

static const int widths[SB_PEAK_WIDTHS] = {1, 2, 4, 8, 16};

static int width_slot(int w) {
    for (int i = 0; i < SB_PEAK_WIDTHS; i++)
        if (widths[i] == w) return i;
    return 0;
}

static const char *peak_source(void) {
    for (int i = 0; sb_bench_kernels[i].stem; i++)
        if (!strcmp(sb_bench_kernels[i].stem, PEAK_STEM)) return sb_bench_kernels[i].src;
    return NULL;
}

static sb_status get_kernel(sb_rt *rt, int vw, int nacc, const char *name, cl_kernel *k, sb_err *e) {
    const char *src = peak_source();
    if (!src) return sb_fail(e, SB_ERR_ARG, "peak: the embedded %s.cl is missing", PEAK_STEM);
    char defs[96];
    if (vw == 1) snprintf(defs, sizeof defs, "#define VT float\n#define NACC %d\n", nacc);
    else snprintf(defs, sizeof defs, "#define VT float%d\n#define NACC %d\n", vw, nacc);
    return sb_rt_kernel_src(rt, PEAK_STEM, src, defs, name, k, e);
}

static sb_status cl_check(sb_err *e, cl_int err, const char *what) {
    if (err == CL_SUCCESS) return SB_OK;
    return sb_fail(e, SB_ERR_OPENCL, "peak: %s failed: %s (%d)", what, sb_cl_error_string(err), err);
}

/* Wall time of one launch, enqueue to finish. */
static sb_status timed_launch(sb_rt *rt, cl_kernel k, size_t gws, size_t lws, double *ms, sb_err *e) {
    double t0 = sb_bench_now_ms();
    cl_int err = clEnqueueNDRangeKernel(rt->queue, k, 1, NULL, &gws, &lws, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clFinish(rt->queue);
    *ms = sb_bench_now_ms() - t0;
    return cl_check(e, err, "a peak kernel launch");
}

/* ---- fp32 ------------------------------------------------------------------------- */

static sb_status run_fma(sb_rt *rt, int vw, int nacc, int runs, double *gflops, sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel k;
    cl_mem out = NULL;
    SB_TRY(get_kernel(rt, vw, nacc, "peak_fma", &k, e));
    {
        /* enough work-items to fill every compute unit several times over */
        const size_t lws = sb_rt_wg1(rt, k, 256);
        const size_t gws = (size_t)(rt->dev.compute_units ? rt->dev.compute_units : 1) * lws * 8;
        SB_TRY(sb_rt_alloc(rt, gws * (size_t)vw * 4, &out, "peak out", e));
        const cl_float a = 0.9999f, b = 0.0001f;
        cl_int iters = 8;
        SB_ARG(k, 0, out);
        SB_ARG(k, 2, a);
        SB_ARG(k, 3, b);
        double ms = 0, best = 0;
        for (;;) { /* calibrate: grow iters until one launch takes FMA_TARGET_MS */
            SB_ARG(k, 1, iters);
            SB_TRY(timed_launch(rt, k, gws, lws, &ms, e));
            if (ms >= 0.5 * FMA_TARGET_MS || iters >= (1 << 24)) break;
            double f = ms > 0 ? FMA_TARGET_MS / ms : 16;
            if (f > 16) f = 16;
            if (f < 2) f = 2;
            iters = (cl_int)(iters * f);
        }
        best = ms;
        for (int r = 0; r < runs; r++) {
            SB_TRY(timed_launch(rt, k, gws, lws, &ms, e));
            if (ms < best) best = ms;
        }
        double flops = (double)gws * iters * 4.0 * nacc * vw * 2.0;
        *gflops = flops / (best * 1e6);
    }
done:
    if (out) clReleaseMemObject(out);
    return st;
}

/* ---- global memory ------------------------------------------------------------------ */

static sb_status run_bw(sb_rt *rt, const char *name, int vw, cl_mem src, cl_mem dst, size_t bytes,
                        double *gbs, sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel k;
    SB_TRY(get_kernel(rt, vw, 4, name, &k, e));
    {
        const int is_read = !strcmp(name, "peak_read");
        const size_t nvec = bytes / (4 * (size_t)vw);
        const size_t gws = is_read ? nvec / 16 : nvec;
        const size_t lws = sb_rt_wg1(rt, k, 256);
        const double moved = is_read ? (double)bytes + (double)gws * 4 * vw : 2.0 * (double)bytes;
        SB_ARG(k, 0, src);
        SB_ARG(k, 1, dst);
        double ms, best;
        SB_TRY(timed_launch(rt, k, gws, lws, &best, e)); /* warm-up (first touch, build) */
        best = 1e300;
        for (int r = 0; r < RUNS; r++) {
            SB_TRY(timed_launch(rt, k, gws, lws, &ms, e));
            if (ms < best) best = ms;
        }
        *gbs = moved / (best * 1e6);
    }
done:
    return st;
}

/* ---- measurement -------------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void fill_ids(const sb_device_info *d, sb_peak *p) {
    p->index = d->index;
    snprintf(p->name, sizeof p->name, "%s", d->name);
    snprintf(p->platform, sizeof p->platform, "%s", d->platform_name);
    snprintf(p->platform_version, sizeof p->platform_version, "%s", d->platform_version);
    snprintf(p->vendor, sizeof p->vendor, "%s", d->vendor);
    snprintf(p->driver, sizeof p->driver, "%s", d->driver_version);
    snprintf(p->type, sizeof p->type, "%s", sb_device_type_string(d->type));
    p->compute_units = d->compute_units;
}

static sb_status measure_rt(sb_rt *rt, int progress, sb_peak *p, sb_err *e) {
    sb_status st = SB_OK;
    cl_mem a = NULL, b = NULL;
    void *host = NULL;
    double t_start = sb_bench_now_ms(), *lat = NULL;
    fill_ids(&rt->dev, p);
    /* fp32 */
    for (int w = 0; w < SB_PEAK_WIDTHS; w++) {
        p->fp32_by_width[w] = 0;
        for (int nacc = 4; nacc <= 16; nacc += 4) {
            if (widths[w] * nacc > 128) continue; /* registers: at most 128 floats of state */
            double g = 0;
            SB_TRY(run_fma(rt, widths[w], nacc, RUNS, &g, e));
            if (progress)
                fprintf(stderr, "peak: device %d fp32 width %2d, %2d accumulators: %8.1f GFLOP/s\n",
                        p->index, widths[w], nacc, g);
            if (g > p->fp32_by_width[w]) p->fp32_by_width[w] = g;
            if (g > p->fp32_gflops) {
                p->fp32_gflops = g;
                p->fp32_width = widths[w];
                p->fp32_accumulators = nacc;
            }
        }
    }
    /* the winner again, longer: a sweep's best of RUNS can fall in a busy
     * moment of a shared machine and then sit in the cache below the rate the
     * model's own GEMM reaches */
    if (p->fp32_width > 0) {
        double g = 0;
        SB_TRY(run_fma(rt, p->fp32_width, p->fp32_accumulators, CONFIRM_RUNS, &g, e));
        if (progress)
            fprintf(stderr, "peak: device %d fp32 width %2d, %2d accumulators, best of %d: %8.1f GFLOP/s\n",
                    p->index, p->fp32_width, p->fp32_accumulators, CONFIRM_RUNS, g);
        if (g > p->fp32_gflops) p->fp32_gflops = g;
        if (g > p->fp32_by_width[width_slot(p->fp32_width)]) p->fp32_by_width[width_slot(p->fp32_width)] = g;
    }
    /* global memory: buffers of whole MiB (every width and work-group size divides them) */
    {
        double lim = 256 * MIB;
        if ((double)rt->dev.max_alloc < lim) lim = (double)rt->dev.max_alloc;
        if ((double)rt->dev.global_mem / 8 < lim) lim = (double)rt->dev.global_mem / 8;
        size_t bytes = (size_t)(lim / MIB) * (size_t)MIB;
        if (bytes < (size_t)MIB) bytes = (size_t)MIB;
        p->buffer_mib = (double)bytes / MIB;
        SB_TRY(sb_rt_alloc(rt, bytes, &a, "peak src", e));
        SB_TRY(sb_rt_alloc(rt, bytes, &b, "peak dst", e));
        SB_TRY(sb_rt_fill_zero(rt, a, 0, bytes, e));
        SB_TRY(sb_rt_fill_zero(rt, b, 0, bytes, e));
        SB_TRY(sb_rt_finish(rt, e));
        for (int w = 0; w < SB_PEAK_WIDTHS; w++) {
            double c = 0, r = 0;
            SB_TRY(run_bw(rt, "peak_copy", widths[w], a, b, bytes, &c, e));
            SB_TRY(run_bw(rt, "peak_read", widths[w], a, b, bytes, &r, e));
            if (progress)
                fprintf(stderr, "peak: device %d memory width %2d: copy %7.1f GB/s, read %7.1f GB/s\n",
                        p->index, widths[w], c, r);
            if (c > p->copy_gbs) p->copy_gbs = c;
            if (r > p->read_gbs) p->read_gbs = r;
        }
        p->bandwidth_gbs = p->copy_gbs > p->read_gbs ? p->copy_gbs : p->read_gbs;
        /* host <-> device: blocking copies from ordinary (pageable) host memory */
        host = malloc(bytes);
        if (!host) SB_FAIL(SB_ERR_HOST_MEMORY, "peak: out of host memory (%zu bytes)", bytes);
        memset(host, 1, bytes);
        double bw = 1e300, br = 1e300;
        for (int r = 0; r < RUNS + 1; r++) {
            double t0 = sb_bench_now_ms();
            SB_TRY(sb_rt_write(rt, a, 0, bytes, host, e));
            double t1 = sb_bench_now_ms();
            SB_TRY(sb_rt_read(rt, a, 0, bytes, host, e));
            double t2 = sb_bench_now_ms();
            if (r == 0) continue; /* warm-up */
            if (t1 - t0 < bw) bw = t1 - t0;
            if (t2 - t1 < br) br = t2 - t1;
        }
        p->h2d_gbs = (double)bytes / (bw * 1e6);
        p->d2h_gbs = (double)bytes / (br * 1e6);
        p->transfer_gbs = 2.0 * (double)bytes / ((bw + br) * 1e6);
        if (progress)
            fprintf(stderr, "peak: device %d host->device %.1f GB/s, device->host %.1f GB/s\n", p->index,
                    p->h2d_gbs, p->d2h_gbs);
    }
    /* launch latency */
    {
        cl_kernel k;
        SB_TRY(get_kernel(rt, 1, 4, "peak_empty", &k, e));
        SB_ARG(k, 0, b);
        lat = malloc(LAUNCHES * sizeof *lat);
        if (!lat) SB_FAIL(SB_ERR_HOST_MEMORY, "peak: out of host memory");
        for (int i = 0; i < 20; i++) SB_TRY(timed_launch(rt, k, 1, 1, &lat[0], e));
        for (int i = 0; i < LAUNCHES; i++) SB_TRY(timed_launch(rt, k, 1, 1, &lat[i], e));
        qsort(lat, LAUNCHES, sizeof *lat, cmp_d);
        p->launch_us = 1e3 * 0.5 * (lat[LAUNCHES / 2 - 1] + lat[LAUNCHES / 2]);
    }
    p->measure_s = (sb_bench_now_ms() - t_start) * 1e-3;
    {
        time_t now = time(NULL);
        struct tm tmv;
        if (gmtime_r(&now, &tmv)) strftime(p->measured_at, sizeof p->measured_at, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    }
    snprintf(p->status, sizeof p->status, "ok");
done:
    if (a) clReleaseMemObject(a);
    if (b) clReleaseMemObject(b);
    free(host);
    free(lat);
    return st;
}

sb_status sb_peak_measure(const char *spec, int progress, sb_peak *p, sb_err *e) {
    sb_status st = SB_OK;
    sb_rt *rt = NULL;
    memset(p, 0, sizeof *p);
    sb_rt_options ro = {spec, NULL, 0, NULL};
    SB_TRY(sb_ops_rt_create(&ro, &rt, e));
    SB_TRY(measure_rt(rt, progress, p, e));
done:
    sb_rt_free(rt);
    return st;
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
    sb_status st = SB_OK;
    sb_rt *rt = NULL;
    char path[600];
    memset(p, 0, sizeof *p);
    sb_rt_options ro = {spec, cache == SB_PEAK_CACHE_OFF ? "off" : NULL, 0, NULL};
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
        if (ok) {
            *p = c;
            p->index = rt->dev.index; /* indices change with the platforms visible */
            p->cached = 1;
            snprintf(p->cache_file, sizeof p->cache_file, "%s", path);
            goto done;
        }
    }
    SB_TRY(measure_rt(rt, progress, p, e));
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
        snprintf(k, sizeof k, "%d", widths[i]);
        bad |= !cJSON_AddNumberToObject(w, k, p->fp32_by_width[i]);
    }
    NUM("bandwidth_gbs", p->bandwidth_gbs);
    NUM("copy_gbs", p->copy_gbs);
    NUM("read_gbs", p->read_gbs);
    NUM("buffer_mib", p->buffer_mib);
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
        snprintf(k, sizeof k, "%d", widths[i]);
        p->fp32_by_width[i] = w ? jn(w, k) : NAN;
    }
    p->bandwidth_gbs = jn(o, "bandwidth_gbs");
    p->copy_gbs = jn(o, "copy_gbs");
    p->read_gbs = jn(o, "read_gbs");
    p->buffer_mib = jn(o, "buffer_mib");
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
