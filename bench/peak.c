/* peak.c - the device micro-benchmarks of `seqboat peak`: the fp32 sweep and
 * rounds, the bandwidth kernels, the host copy / read twins, the last-level
 * cache, launch latency, and the short re-check probe of a cached peak (see
 * peak.h). The cache, its verdict, the host bound and JSON: peak_cache.c. */
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
#include "peak_internal.h"
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

const int sb_peak_widths[SB_PEAK_WIDTHS] = {1, 2, 4, 8, 16};

void sb_peak_cfg_default(sb_peak_cfg *c) {
    c->rounds = 5;
    c->target_ms = 50.0;
    c->gap_ms = 150.0;
    c->max_buffer_mib = 0;
}

int sb_peak_width_slot(int w) {
    for (int i = 0; i < SB_PEAK_WIDTHS; i++)
        if (sb_peak_widths[i] == w) return i;
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

void sb_peak_note_add(sb_peak *p, const char *fmt, ...) {
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

sb_status sb_peak_measure_rt(sb_rt *rt, const sb_peak_cfg *cfg, int progress, sb_peak *p, sb_err *e) {
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
            if (sb_peak_widths[w] * nacc > 128) continue; /* registers: at most 128 floats of state */
            fma_run f;
            double g = 0;
            st = fma_setup(rt, sb_peak_widths[w], nacc, cfg->target_ms, &f, e);
            if (st == SB_OK) st = fma_time(rt, &f, SWEEP_RUNS, rl, &g, e);
            fma_free(&f);
            if (st != SB_OK) goto done;
            if (progress)
                fprintf(stderr, "peak: device %d fp32 width %2d, %2d accumulators: %8.1f GFLOP/s\n",
                        p->index, sb_peak_widths[w], nacc, g);
            if (g > p->fp32_by_width[w]) p->fp32_by_width[w] = g;
            if (g > p->fp32_gflops) {
                p->fp32_gflops = g;
                p->fp32_width = sb_peak_widths[w];
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
        sb_peak_note_add(p, "bandwidth buffers of %.0f MiB are only %.1fx the last-level cache (%.0f MiB, "
                         "%s): the device's limits allow no more", p->buffer_mib, p->buffer_mib / p->llc_mib,
                         p->llc_mib, p->llc_source);
    SB_TRY(sb_rt_alloc(rt, bytes, &a, "peak src", e));
    SB_TRY(sb_rt_alloc(rt, bytes, &b, "peak dst", e));
    SB_TRY(sb_rt_fill_zero(rt, a, 0, bytes, e));
    SB_TRY(sb_rt_fill_zero(rt, b, 0, bytes, e));
    SB_TRY(sb_rt_finish(rt, e));
    {
        double bc = 0, br = 0;
        for (int w = 0; w < SB_PEAK_WIDTHS; w++) {
            double c = 0, r = 0;
            SB_TRY(run_bw(rt, "peak_copy", sb_peak_widths[w], a, b, bytes, SWEEP_RUNS, 1, rl, &c, e));
            SB_TRY(run_bw(rt, "peak_read", sb_peak_widths[w], a, b, bytes, SWEEP_RUNS, 1, rl, &r, e));
            if (progress)
                fprintf(stderr, "peak: device %d memory width %2d: copy %7.1f GB/s, read %7.1f GB/s\n",
                        p->index, sb_peak_widths[w], c, r);
            if (c > bc) bc = c, p->copy_width = sb_peak_widths[w];
            if (r > br) br = r, p->read_width = sb_peak_widths[w];
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
        int slot = sb_peak_width_slot(p->fp32_width);
        if (p->fp32_gflops > p->fp32_by_width[slot]) p->fp32_by_width[slot] = p->fp32_gflops;
    }
    spread(r_fp, p->rounds, p->fp32_spread);
    spread(r_copy, p->rounds, p->copy_spread);
    spread(r_read, p->rounds, p->read_spread);
    spread(r_hc, p->rounds, p->host_copy_spread);
    spread(r_hr, p->rounds, p->host_read_spread);
    if (p->fp32_spread[0] < 0.8 * p->fp32_spread[2] || p->read_spread[0] < 0.8 * p->read_spread[2])
        sb_peak_note_add(p, "rounds spread by more than 20 %% (a busy machine?): the best round is kept");
    sb_peak_apply_host_bound(p);
    if (!is_cpu) sb_peak_note_add(p, "no host bound (not a CPU device)");
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
sb_status sb_peak_probe(sb_rt *rt, const sb_peak *c, double target_ms, double *gflops, double *gbs,
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
    sb_rt_options ro = {spec, NULL, 1, NULL, 0}; /* events read alongside the wall clock */
    SB_TRY(sb_ops_rt_create(&ro, &rt, e));
    SB_TRY(sb_peak_measure_rt(rt, &cfg, progress, p, e));
done:
    sb_rt_free(rt);
    return st;
}
