/* peak.c - device micro-benchmarks of `seqboat peak` and the roofline
 * arithmetic (see peak.h). */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench_clock.h"
#include "peak.h"
#include "ops/ops_rt.h"
#include "program_cache.h"

/* the bench kernels (bench/bench_*.cl), embedded by cmake/embed_cl.cmake */
typedef struct { const char *stem; const char *src; size_t size; } sb_embedded_kernel;
extern const sb_embedded_kernel sb_bench_kernels[];

#define PEAK_STEM "bench_peak"
#define SWEEP_RUNS 3        /* best of, per variant of the sweep */
#define ROUND_RUNS 3        /* best of, per figure in each round */
#define LAUNCHES 200        /* launch-latency samples */
#define MIB 1048576.0
#define HOST_TOL 1.05       /* device figure allowed above its host twin (noise) */
#define RECHECK_TOL 1.10    /* a re-check beating the cache by more: measure again */

static const int widths[SB_PEAK_WIDTHS] = {1, 2, 4, 8, 16};

void sb_peak_cfg_default(sb_peak_cfg *c) {
    c->rounds = 5;
    c->target_ms = 50.0;
    c->gap_ms = 150.0;
    c->max_buffer_mib = 0;
}

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

static void note_add(sb_peak *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_add(sb_peak *p, const char *fmt, ...) {
    size_t n = strlen(p->note);
    if (n + 3 >= sizeof p->note) return;
    if (n) n += (size_t)snprintf(p->note + n, sizeof p->note - n, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->note + n, sizeof p->note - n, fmt, ap);
    va_end(ap);
}

/* Event / wall ratios of the timed launches (profiled queue only). */
typedef struct ratio_log {
    double v[512];
    int n;
} ratio_log;

/* Wall time of one launch, enqueue to finish; the driver's event time of the
 * same launch goes to the log (when the queue profiles). */
static sb_status timed_launch(sb_rt *rt, cl_kernel k, size_t gws, size_t lws, double *ms, ratio_log *rl,
                              sb_err *e) {
    cl_event ev = NULL;
    double t0 = sb_bench_now_ms();
    cl_int err = clEnqueueNDRangeKernel(rt->queue, k, 1, NULL, &gws, &lws, 0, NULL,
                                        rt->profiling && rl ? &ev : NULL);
    if (err == CL_SUCCESS) err = clFinish(rt->queue);
    *ms = sb_bench_now_ms() - t0;
    if (ev) {
        cl_ulong a = 0, b = 0;
        if (err == CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof a, &a, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) == CL_SUCCESS &&
            *ms > 0 && rl->n < (int)(sizeof rl->v / sizeof rl->v[0]))
            rl->v[rl->n++] = (b >= a ? (double)(b - a) * 1e-6 : 0) / *ms;
        clReleaseEvent(ev);
    }
    return cl_check(e, err, "a peak kernel launch");
}

static void sleep_ms(double ms) {
    if (!(ms > 0)) return;
    struct timespec ts = {(time_t)(ms / 1e3), (long)(fmod(ms, 1e3) * 1e6)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* ---- fp32 ------------------------------------------------------------------------- */

typedef struct fma_run {
    cl_kernel k;
    cl_mem out;
    size_t gws, lws;
    cl_int iters;
    int vw, nacc;
} fma_run;

/* Build, size and calibrate (iters grows until one launch takes target_ms). */
static sb_status fma_setup(sb_rt *rt, int vw, int nacc, double target_ms, fma_run *f, sb_err *e) {
    sb_status st = SB_OK;
    memset(f, 0, sizeof *f);
    f->vw = vw;
    f->nacc = nacc;
    SB_TRY(get_kernel(rt, vw, nacc, "peak_fma", &f->k, e));
    {
        cl_kernel k = f->k;
        /* enough work-items to fill every compute unit several times over */
        f->lws = sb_rt_wg1(rt, k, 256);
        f->gws = (size_t)(rt->dev.compute_units ? rt->dev.compute_units : 1) * f->lws * 8;
        SB_TRY(sb_rt_alloc(rt, f->gws * (size_t)vw * 4, &f->out, "peak out", e));
        const cl_float a = 0.9999f, b = 0.0001f;
        f->iters = 8;
        SB_ARG(k, 0, f->out);
        SB_ARG(k, 2, a);
        SB_ARG(k, 3, b);
        double ms = 0;
        for (;;) {
            SB_ARG(k, 1, f->iters);
            SB_TRY(timed_launch(rt, k, f->gws, f->lws, &ms, NULL, e));
            if (ms >= 0.5 * target_ms || f->iters >= (1 << 24)) break;
            double g = ms > 0 ? target_ms / ms : 16;
            if (g > 16) g = 16;
            if (g < 2) g = 2;
            f->iters = (cl_int)(f->iters * g);
        }
    }
done:
    return st;
}

static sb_status fma_time(sb_rt *rt, fma_run *f, int runs, ratio_log *rl, double *gflops, sb_err *e) {
    double best = 1e300, ms;
    for (int r = 0; r < runs; r++) {
        sb_status st = timed_launch(rt, f->k, f->gws, f->lws, &ms, rl, e);
        if (st != SB_OK) return st;
        if (ms < best) best = ms;
    }
    double flops = (double)f->gws * f->iters * 4.0 * f->nacc * f->vw * 2.0;
    *gflops = flops / (best * 1e6);
    return SB_OK;
}

static void fma_free(fma_run *f) {
    if (f->out) clReleaseMemObject(f->out);
    f->out = NULL;
}

/* ---- global memory ------------------------------------------------------------------ */

static sb_status run_bw(sb_rt *rt, const char *name, int vw, cl_mem src, cl_mem dst, size_t bytes, int runs,
                        int warm, ratio_log *rl, double *gbs, sb_err *e) {
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
        double ms, best = 1e300;
        if (warm) SB_TRY(timed_launch(rt, k, gws, lws, &ms, NULL, e)); /* first touch, build */
        for (int r = 0; r < runs; r++) {
            SB_TRY(timed_launch(rt, k, gws, lws, &ms, rl, e));
            if (ms < best) best = ms;
        }
        *gbs = moved / (best * 1e6);
    }
done:
    return st;
}

/* ---- the host's own copy and read of the same bytes (CPU devices) -------------------- */

#if defined(__GNUC__) || defined(__clang__)
typedef uint64_t sb_v2u __attribute__((vector_size(16)));
#define HAVE_VEC 1
#else
#define HAVE_VEC 0
#endif

static uint64_t host_read_sum(const unsigned char *p, size_t n) {
    uint64_t s = 0;
    size_t i = 0;
#if HAVE_VEC
    sb_v2u a0 = {0, 0}, a1 = a0, a2 = a0, a3 = a0, t;
    for (; i + 64 <= n; i += 64) {
        memcpy(&t, p + i, 16), a0 += t;
        memcpy(&t, p + i + 16, 16), a1 += t;
        memcpy(&t, p + i + 32, 16), a2 += t;
        memcpy(&t, p + i + 48, 16), a3 += t;
    }
    a0 += a1 + a2 + a3;
    s = a0[0] + a0[1];
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        s += v;
    }
    return s;
}

/* A copy the compiler cannot turn into a memcpy call (the key is 0 at run
 * time): plain vector loads and stores, like the device's copy kernel. */
static volatile uint64_t copy_key;

static void host_copy_loop(unsigned char *d, const unsigned char *s, size_t n) {
    size_t i = 0;
#if HAVE_VEC
    const uint64_t k = copy_key;
    const sb_v2u kv = {k, k};
    sb_v2u t0, t1, t2, t3;
    for (; i + 64 <= n; i += 64) {
        memcpy(&t0, s + i, 16);
        memcpy(&t1, s + i + 16, 16);
        memcpy(&t2, s + i + 32, 16);
        memcpy(&t3, s + i + 48, 16);
        t0 ^= kv, t1 ^= kv, t2 ^= kv, t3 ^= kv;
        memcpy(d + i, &t0, 16);
        memcpy(d + i + 16, &t1, 16);
        memcpy(d + i + 32, &t2, 16);
        memcpy(d + i + 48, &t3, 16);
    }
#endif
    if (i < n) memcpy(d + i, s + i, n - i);
}

typedef struct host_job {
    const unsigned char *src;
    unsigned char *dst;
    size_t n;
    int mode; /* 0 read, 1 memcpy, 2 vector copy loop */
    uint64_t sink;
} host_job;

static void *host_worker(void *arg) {
    host_job *j = arg;
    if (j->mode == 1) memcpy(j->dst, j->src, j->n);
    else if (j->mode == 2) host_copy_loop(j->dst, j->src, j->n);
    else j->sink = host_read_sum(j->src, j->n);
    return NULL;
}

/* Best of `passes` of `threads` threads copying (mode 1: memcpy, 2: a vector
 * loop) or reading (mode 0) their slice of bytes, timed from the first thread's start to the last one's end; GB/s
 * counted like the device kernels (copy: read + write). 0 when no thread
 * could be started. */
static double host_bw(const unsigned char *src, unsigned char *dst, size_t bytes, int threads, int mode,
                      int passes) {
    const int copy = mode != 0;
    pthread_t tid[256];
    host_job job[256];
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    size_t per = bytes / (size_t)threads / 64 * 64;
    double best = 1e300, moved = 0;
    static volatile uint64_t sink;
    for (int r = 0; r < passes; r++) {
        int started = 0;
        double t0 = sb_bench_now_ms();
        for (int t = 0; t < threads; t++) {
            job[t] = (host_job){src + (size_t)t * per, dst + (size_t)t * per, per, mode, 0};
            if (pthread_create(&tid[t], NULL, host_worker, &job[t]) != 0) break;
            started++;
        }
        for (int t = 0; t < started; t++) {
            pthread_join(tid[t], NULL);
            sink += job[t].sink;
        }
        double ms = sb_bench_now_ms() - t0;
        if (started < 1) return 0;
        double mv = (double)per * started * (copy ? 2.0 : 1.0);
        if (ms > 0 && (best >= 1e300 || mv / ms > moved / best)) {
            best = ms;
            moved = mv;
        }
    }
    return best < 1e300 ? moved / (best * 1e6) : 0;
}

/* ---- the last-level cache ------------------------------------------------------------ */

static double read_num_file(const char *path, char *suffix) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    double v = -1;
    char s[8] = "";
    if (fscanf(f, "%lf%7s", &v, s) < 1) v = -1;
    fclose(f);
    if (suffix) snprintf(suffix, 8, "%s", s);
    return v;
}

/* Sum of the distinct highest-level data / unified caches of the online CPUs
 * (sysfs), bytes; 0 when unknown. */
static double sysfs_llc_bytes(void) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1) return 0;
    if (ncpu > 1024) ncpu = 1024;
    int best_level = 0;
    double total = 0;
    long ids[1024];
    int n_ids = 0;
    for (long c = 0; c < ncpu; c++)
        for (int i = 0; i < 16; i++) {
            char base[128], path[192], type[32] = "", sfx[8];
            snprintf(base, sizeof base, "/sys/devices/system/cpu/cpu%ld/cache/index%d", c, i);
            snprintf(path, sizeof path, "%s/type", base);
            FILE *f = fopen(path, "r");
            if (!f) break;
            if (fscanf(f, "%31s", type) != 1) type[0] = '\0';
            fclose(f);
            if (!strcmp(type, "Instruction")) continue;
            snprintf(path, sizeof path, "%s/level", base);
            int level = (int)read_num_file(path, NULL);
            snprintf(path, sizeof path, "%s/size", base);
            double size = read_num_file(path, sfx);
            if (size <= 0 || level <= 0) continue;
            if (sfx[0] == 'K' || sfx[0] == 'k') size *= 1024;
            else if (sfx[0] == 'M' || sfx[0] == 'm') size *= MIB;
            else if (sfx[0] == 'G' || sfx[0] == 'g') size *= 1024 * MIB;
            snprintf(path, sizeof path, "%s/id", base);
            long id = (long)read_num_file(path, NULL);
            if (id < 0) id = c; /* no id file: count per CPU only when not shared */
            if (level > best_level) {
                best_level = level;
                total = 0;
                n_ids = 0;
            }
            if (level < best_level) continue;
            int seen = 0;
            for (int k = 0; k < n_ids; k++) seen |= ids[k] == id;
            if (!seen && n_ids < 1024) {
                ids[n_ids++] = id;
                total += size;
            }
        }
    return total;
}

static void find_llc(const sb_rt *rt, sb_peak *p) {
    cl_ulong dev = 0;
    if (clGetDeviceInfo(rt->dev.device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof dev, &dev, NULL) != CL_SUCCESS)
        dev = 0;
    double sys = (rt->dev.type & CL_DEVICE_TYPE_CPU) ? sysfs_llc_bytes() : 0;
    double llc = sys > (double)dev ? sys : (double)dev;
    p->llc_mib = llc / MIB;
    snprintf(p->llc_source, sizeof p->llc_source, "%s",
             llc <= 0 ? "unknown" : sys >= (double)dev ? "sysfs" : "device");
}

/* ---- checks --------------------------------------------------------------------------- */

int sb_peak_apply_host_bound(sb_peak *p) {
    int capped = 0;
    if (p->host_copy_gbs > 0 && p->copy_gbs > HOST_TOL * p->host_copy_gbs) {
        note_add(p, "device copy %.1f GB/s above the host's copy of the same bytes %.1f GB/s: capped to it",
                 p->copy_gbs, p->host_copy_gbs);
        p->copy_gbs = p->host_copy_gbs;
        capped++;
    }
    if (p->host_read_gbs > 0 && p->read_gbs > HOST_TOL * p->host_read_gbs) {
        note_add(p, "device read %.1f GB/s above the host's read of the same bytes %.1f GB/s: capped to it",
                 p->read_gbs, p->host_read_gbs);
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

/* ---- measurement -------------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* min, median, max of v[0..n) (sorts v). */
static void spread(double *v, int n, double out[3]) {
    if (n < 1) {
        out[0] = out[1] = out[2] = 0;
        return;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    out[0] = v[0];
    out[1] = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    out[2] = v[n - 1];
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

/* Bytes of each bandwidth buffer: whole MiB, at least 8 x the last-level
 * cache and 256 MiB, within max allocation, global memory / 8 and the cfg cap. */
static size_t buffer_bytes(const sb_rt *rt, const sb_peak_cfg *cfg, const sb_peak *p) {
    double want = 256 * MIB;
    if (8 * p->llc_mib * MIB > want) want = 8 * p->llc_mib * MIB;
    if ((double)rt->dev.max_alloc < want) want = (double)rt->dev.max_alloc;
    if ((double)rt->dev.global_mem / 8 < want) want = (double)rt->dev.global_mem / 8;
    if (cfg->max_buffer_mib > 0 && cfg->max_buffer_mib * MIB < want) want = cfg->max_buffer_mib * MIB;
    size_t bytes = (size_t)(want / MIB) * (size_t)MIB;
    return bytes < (size_t)MIB ? (size_t)MIB : bytes;
}

static int host_threads_for(const sb_rt *rt) {
    long on = sysconf(_SC_NPROCESSORS_ONLN);
    long t = rt->dev.compute_units ? (long)rt->dev.compute_units : 1;
    if (on > 0 && on < t) t = on;
    return t > 256 ? 256 : (int)t;
}

static sb_status measure_rt(sb_rt *rt, const sb_peak_cfg *cfg, int progress, sb_peak *p, sb_err *e) {
    sb_status st = SB_OK;
    cl_mem a = NULL, b = NULL;
    unsigned char *host = NULL, *host2 = NULL;
    double t_start = sb_bench_now_ms(), *lat = NULL;
    fma_run best_f;
    ratio_log *rl = calloc(1, sizeof *rl);
    const int rounds = cfg->rounds > 0 ? cfg->rounds : 1;
    const int is_cpu = (rt->dev.type & CL_DEVICE_TYPE_CPU) != 0;
    double r_fp[64], r_copy[64], r_read[64], r_hc[64], r_hr[64];
    memset(&best_f, 0, sizeof best_f);
    fill_ids(&rt->dev, p);
    p->event_wall_ratio = NAN;
    if (!rl) SB_FAIL(SB_ERR_HOST_MEMORY, "peak: out of host memory");
    /* fp32 sweep: pick the variant */
    for (int w = 0; w < SB_PEAK_WIDTHS; w++) {
        p->fp32_by_width[w] = 0;
        for (int nacc = 4; nacc <= 16; nacc += 4) {
            if (widths[w] * nacc > 128) continue; /* registers: at most 128 floats of state */
            fma_run f;
            double g = 0;
            st = fma_setup(rt, widths[w], nacc, cfg->target_ms, &f, e);
            if (st == SB_OK) st = fma_time(rt, &f, SWEEP_RUNS, rl, &g, e);
            fma_free(&f);
            if (st != SB_OK) goto done;
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
    if (p->fp32_width < 1) SB_FAIL(SB_ERR_OPENCL, "peak: no fp32 variant ran on device %d", p->index);
    SB_TRY(fma_setup(rt, p->fp32_width, p->fp32_accumulators, cfg->target_ms, &best_f, e));
    /* memory: buffers far larger than the last-level cache */
    find_llc(rt, p);
    size_t bytes = buffer_bytes(rt, cfg, p);
    p->buffer_mib = (double)bytes / MIB;
    if (p->llc_mib > 0 && p->buffer_mib < 4 * p->llc_mib)
        note_add(p, "bandwidth buffers of %.0f MiB are only %.1fx the last-level cache (%.0f MiB, %s): the "
                 "device's limits allow no more", p->buffer_mib, p->buffer_mib / p->llc_mib, p->llc_mib,
                 p->llc_source);
    SB_TRY(sb_rt_alloc(rt, bytes, &a, "peak src", e));
    SB_TRY(sb_rt_alloc(rt, bytes, &b, "peak dst", e));
    SB_TRY(sb_rt_fill_zero(rt, a, 0, bytes, e));
    SB_TRY(sb_rt_fill_zero(rt, b, 0, bytes, e));
    SB_TRY(sb_rt_finish(rt, e));
    {
        double bc = 0, br = 0;
        for (int w = 0; w < SB_PEAK_WIDTHS; w++) {
            double c = 0, r = 0;
            SB_TRY(run_bw(rt, "peak_copy", widths[w], a, b, bytes, SWEEP_RUNS, 1, rl, &c, e));
            SB_TRY(run_bw(rt, "peak_read", widths[w], a, b, bytes, SWEEP_RUNS, 1, rl, &r, e));
            if (progress)
                fprintf(stderr, "peak: device %d memory width %2d: copy %7.1f GB/s, read %7.1f GB/s\n",
                        p->index, widths[w], c, r);
            if (c > bc) bc = c, p->copy_width = widths[w];
            if (r > br) br = r, p->read_width = widths[w];
        }
        /* the sweep picks the widths; the figures come from the rounds, measured
         * in the same moments as the host bound */
    }
    host = malloc(bytes);
    host2 = is_cpu ? malloc(bytes) : NULL;
    if (!host || (is_cpu && !host2)) SB_FAIL(SB_ERR_HOST_MEMORY, "peak: out of host memory (%zu bytes)", bytes);
    memset(host, 1, bytes);
    if (host2) memset(host2, 0, bytes);
    p->host_threads = is_cpu ? host_threads_for(rt) : 0;
    /* rounds spread in time: the fp32 winner, the memory winners and (CPU
     * devices) the host's own copy and read of the same bytes */
    p->rounds = rounds > 64 ? 64 : rounds;
    for (int r = 0; r < p->rounds; r++) {
        if (r) sleep_ms(cfg->gap_ms);
        SB_TRY(fma_time(rt, &best_f, ROUND_RUNS, rl, &r_fp[r], e));
        SB_TRY(run_bw(rt, "peak_copy", p->copy_width, a, b, bytes, ROUND_RUNS, 0, rl, &r_copy[r], e));
        SB_TRY(run_bw(rt, "peak_read", p->read_width, a, b, bytes, ROUND_RUNS, 0, rl, &r_read[r], e));
        r_hc[r] = r_hr[r] = 0;
        if (host2) { /* the better of memcpy and a plain vector loop */
            double m1 = host_bw(host, host2, bytes, p->host_threads, 1, ROUND_RUNS);
            double m2 = host_bw(host, host2, bytes, p->host_threads, 2, ROUND_RUNS);
            r_hc[r] = m1 > m2 ? m1 : m2;
            r_hr[r] = host_bw(host, host2, bytes, p->host_threads, 0, ROUND_RUNS);
        }
        if (progress) {
            fprintf(stderr, "peak: device %d round %d/%d: fp32 %.1f GFLOP/s, copy %.1f GB/s, read %.1f GB/s",
                    p->index, r + 1, p->rounds, r_fp[r], r_copy[r], r_read[r]);
            if (host2) fprintf(stderr, "; host (%d threads) copy %.1f GB/s, read %.1f GB/s", p->host_threads,
                               r_hc[r], r_hr[r]);
            fputc('\n', stderr);
        }
        if (r_fp[r] > p->fp32_gflops) p->fp32_gflops = r_fp[r];
        if (r_copy[r] > p->copy_gbs) p->copy_gbs = r_copy[r];
        if (r_read[r] > p->read_gbs) p->read_gbs = r_read[r];
        if (r_hc[r] > p->host_copy_gbs) p->host_copy_gbs = r_hc[r];
        if (r_hr[r] > p->host_read_gbs) p->host_read_gbs = r_hr[r];
    }
    {
        int slot = width_slot(p->fp32_width);
        if (p->fp32_gflops > p->fp32_by_width[slot]) p->fp32_by_width[slot] = p->fp32_gflops;
    }
    spread(r_fp, p->rounds, p->fp32_spread);
    spread(r_copy, p->rounds, p->copy_spread);
    spread(r_read, p->rounds, p->read_spread);
    spread(r_hc, p->rounds, p->host_copy_spread);
    spread(r_hr, p->rounds, p->host_read_spread);
    if (p->fp32_spread[0] < 0.8 * p->fp32_spread[2] || p->read_spread[0] < 0.8 * p->read_spread[2])
        note_add(p, "rounds spread by more than 20 %% (a busy machine?): the best round is kept");
    sb_peak_apply_host_bound(p);
    if (!is_cpu) note_add(p, "no host bound (not a CPU device)");
    /* host <-> device: blocking copies from ordinary (pageable) host memory */
    {
        double bw = 1e300, br = 1e300;
        for (int r = 0; r < ROUND_RUNS + 1; r++) {
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
    /* the driver's clock against the host's, on the same launches */
    if (rl->n > 0) {
        double v[3];
        spread(rl->v, rl->n, v);
        p->event_wall_ratio = v[1];
        snprintf(p->timing, sizeof p->timing, "host wall clock around clFinish; driver events %s (event / "
                 "wall %.2f)", v[1] >= 0.8 && v[1] <= 1.05 ? "agree" : "disagree, not used", v[1]);
    } else {
        snprintf(p->timing, sizeof p->timing, "host wall clock around clFinish; no driver events");
    }
    /* launch latency, on a queue without profiling */
    SB_TRY(sb_rt_set_profiling(rt, 0, e));
    {
        cl_kernel k;
        SB_TRY(get_kernel(rt, 1, 4, "peak_empty", &k, e));
        SB_ARG(k, 0, b);
        lat = malloc(LAUNCHES * sizeof *lat);
        if (!lat) SB_FAIL(SB_ERR_HOST_MEMORY, "peak: out of host memory");
        for (int i = 0; i < 20; i++) SB_TRY(timed_launch(rt, k, 1, 1, &lat[0], NULL, e));
        for (int i = 0; i < LAUNCHES; i++) SB_TRY(timed_launch(rt, k, 1, 1, &lat[i], NULL, e));
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
    fma_free(&best_f);
    if (a) clReleaseMemObject(a);
    if (b) clReleaseMemObject(b);
    free(host);
    free(host2);
    free(lat);
    free(rl);
    return st;
}

/* A short re-check of a cached peak: the cached fp32 variant (launches of
 * the measurement's target length, best of 3) and the read kernel at the cached width on buffers of
 * the cached size (best of 2). */
static sb_status recheck(sb_rt *rt, const sb_peak *c, double target_ms, double *gflops, double *gbs,
                         sb_err *e) {
    sb_status st = SB_OK;
    fma_run f;
    cl_mem a = NULL, b = NULL;
    memset(&f, 0, sizeof f);
    *gflops = *gbs = NAN;
    if (c->fp32_width >= 1 && c->fp32_accumulators >= 4) {
        SB_TRY(fma_setup(rt, c->fp32_width, c->fp32_accumulators, target_ms, &f, e));
        SB_TRY(fma_time(rt, &f, 3, NULL, gflops, e));
    }
    if (c->buffer_mib >= 1 && c->read_width >= 1) {
        size_t bytes = (size_t)c->buffer_mib * (size_t)MIB;
        if (bytes > rt->dev.max_alloc) bytes = (size_t)(rt->dev.max_alloc / (size_t)MIB) * (size_t)MIB;
        SB_TRY(sb_rt_alloc(rt, bytes, &a, "peak src", e));
        SB_TRY(sb_rt_alloc(rt, bytes, &b, "peak dst", e));
        SB_TRY(sb_rt_fill_zero(rt, a, 0, bytes, e));
        SB_TRY(sb_rt_finish(rt, e));
        SB_TRY(run_bw(rt, "peak_read", c->read_width, a, b, bytes, 2, 1, NULL, gbs, e));
    }
done:
    fma_free(&f);
    if (a) clReleaseMemObject(a);
    if (b) clReleaseMemObject(b);
    return st;
}

sb_status sb_peak_measure(const char *spec, int progress, sb_peak *p, sb_err *e) {
    sb_status st = SB_OK;
    sb_rt *rt = NULL;
    sb_peak_cfg cfg;
    sb_peak_cfg_default(&cfg);
    memset(p, 0, sizeof *p);
    sb_rt_options ro = {spec, NULL, 1, NULL}; /* events read alongside the wall clock */
    SB_TRY(sb_ops_rt_create(&ro, &rt, e));
    SB_TRY(measure_rt(rt, &cfg, progress, p, e));
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
    sb_rt_options ro = {spec, cache == SB_PEAK_CACHE_OFF ? "off" : NULL, 1, NULL};
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
            SB_TRY(recheck(rt, &c, cfg.target_ms, &g, &b, e));
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
    SB_TRY(measure_rt(rt, &cfg, progress, p, e));
    snprintf(p->recheck, sizeof p->recheck, "%s", recheck_note);
    if (probe_g > p->fp32_gflops) { /* the re-check is a measurement too: the best one stands */
        note_add(p, "fp32 %.1f GFLOP/s from the re-check kept (the rounds ran lower)", probe_g);
        p->fp32_gflops = probe_g;
        p->fp32_width = probe_w;
        p->fp32_accumulators = probe_acc;
        int slot = width_slot(probe_w);
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
        snprintf(k, sizeof k, "%d", widths[i]);
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
        snprintf(k, sizeof k, "%d", widths[i]);
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
