/* linear_tune.c - measure, store and load the own GEMM's parameters (linear_tune.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "linear_tune.h"
#include "ops/linear.h"
#include "program_cache.h"

#define TUNE_MAGIC "seqboat-linear-tune 1"

void sb_linear_tune_path(sb_rt *rt, char *buf, size_t size) {
    const char *dir = rt->progs ? sb_progcache_dir(rt->progs) : NULL;
    if (!dir) {
        if (size) buf[0] = '\0';
        return;
    }
    char hex[65];
    sb_progcache_key(&rt->dev, "linear-tune", "", hex);
    snprintf(buf, size, "%s/linear-%s.tune", dir, hex);
}

int sb_linear_tune_load(sb_rt *rt) {
    char path[1200], line[256], spec[128];
    sb_linear_tune_path(rt, path, sizeof path);
    if (!path[0]) return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok || strncmp(line, TUNE_MAGIC " ", strlen(TUNE_MAGIC) + 1) != 0) return 0;
    if (sscanf(line + strlen(TUNE_MAGIC) + 1, "%127s", spec) != 1) return 0;
    sb_linear_params p = rt->lin;
    sb_err e;
    sb_err_clear(&e);
    if (sb_linear_params_parse(spec, &rt->dev, &p, &e) != SB_OK) return 0;
    rt->lin = p;
    return 1;
}

sb_status sb_linear_tune_save(sb_rt *rt, const sb_linear_params *p, sb_err *e) {
    char path[1200], tmp[1300], spec[128];
    sb_linear_tune_path(rt, path, sizeof path);
    if (!path[0]) return sb_fail(e, SB_ERR_ARG, "tune: the cache folder is off (SEQBOAT_CACHE_DIR)");
    sb_linear_params_string(p, spec, sizeof spec);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return sb_fail(e, SB_ERR_IO, "tune: cannot write %s", tmp);
    int bad = fprintf(f, "%s %s\n", TUNE_MAGIC, spec) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return sb_fail(e, SB_ERR_IO, "tune: cannot write %s", path);
    }
    return SB_OK;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Candidate specs by device class (each checked against the device's limits). */
static int candidates(const sb_rt *rt, char out[][48], int cap) {
    int n = 0;
    if (rt->dev.type & CL_DEVICE_TYPE_CPU) {
        const int vw = rt->lin.vw > 0 ? rt->lin.vw : 8;
        static const int mn[][2] = {{6, 2}, {4, 2}, {8, 1}, {4, 3}, {3, 4}, {12, 1}, {2, 4}};
        for (size_t i = 0; i < sizeof mn / sizeof mn[0] && n < cap; i++)
            snprintf(out[n++], 48, "reg:%d,%d,%d", mn[i][0], vw, mn[i][1]);
        if (vw >= 8 && n < cap) snprintf(out[n++], 48, "reg:6,%d,4", vw / 2);
        if (vw < 16 && n < cap) snprintf(out[n++], 48, "reg:6,%d,1", vw * 2);
    } else {
        static const char *g[] = {"lds:64,64,16,4,4", "lds:64,64,8,4,4", "lds:128,64,16,8,4",
                                  "lds:32,32,16,2,2", "lds:64,64,16,8,8", "lds:32,32,8,4,4",
                                  "reg:6,4,2",
#if SEQBOAT_HAVE_CLBLAST
                                  "clblast"
#endif
        };
        for (size_t i = 0; i < sizeof g / sizeof g[0] && n < cap; i++) snprintf(out[n++], 48, "%s", g[i]);
    }
    return n;
}

/* Sum over the shapes of the median time of rt->lin (ms), < 0 on failure. */
static double measure(sb_rt *rt, const sb_tune_shape *shapes, int n_shapes, int repeats,
                      cl_mem a, cl_mem w, cl_mem c) {
    double total = 0.0, t[16];
    if (repeats > 16) repeats = 16;
    for (int s = 0; s < n_shapes; s++) {
        sb_linear_w lw;
        sb_err e;
        sb_err_clear(&e);
        if (sb_linear_prepare(rt, w, NULL, shapes[s].n, shapes[s].k, &lw, &e) != SB_OK) return -1.0;
        const sb_buf ab = sb_view_all(a), cb = sb_view_all(c);
        for (int r = -1; r < repeats; r++) {
            double t0 = now_ms();
            if (sb_op_linear(rt, (size_t)shapes[s].m, ab, (size_t)shapes[s].k, &lw, 0, cb,
                             (size_t)shapes[s].n, &e) != SB_OK ||
                sb_rt_finish(rt, &e) != SB_OK) {
                sb_linear_release(&lw);
                return -1.0;
            }
            if (r >= 0) t[r] = now_ms() - t0;
        }
        sb_linear_release(&lw);
        qsort(t, (size_t)repeats, sizeof t[0], cmp_d);
        total += t[repeats / 2];
    }
    return total;
}

sb_status sb_linear_tune_run(sb_rt *rt, const sb_tune_shape *shapes, int n_shapes, int repeats,
                             sb_tune_progress cb, void *user, sb_linear_params *best,
                             double *best_ms, double *default_ms, sb_err *e) {
    sb_status st = SB_OK;
    const sb_linear_params saved = rt->lin;
    cl_mem a = NULL, w = NULL, c = NULL;
    char cand[16][48];
    size_t na = 0, nw = 0, nc = 0;
    if (n_shapes < 1 || repeats < 1) SB_FAIL(SB_ERR_ARG, "tune: no shapes or repeats");
    for (int s = 0; s < n_shapes; s++) {
        const size_t m = (size_t)shapes[s].m, n = (size_t)shapes[s].n, k = (size_t)shapes[s].k;
        if (m * k > na) na = m * k;
        if (n * k > nw) nw = n * k;
        if (m * n > nc) nc = m * n;
    }
    SB_TRY(sb_rt_alloc(rt, na * 4, &a, "tune a", e));
    SB_TRY(sb_rt_alloc(rt, nw * 4, &w, "tune w", e));
    SB_TRY(sb_rt_alloc(rt, nc * 4, &c, "tune c", e));
    SB_TRY(sb_rt_fill_zero(rt, a, 0, na * 4, e));
    SB_TRY(sb_rt_fill_zero(rt, w, 0, nw * 4, e));
    sb_linear_params def;
    sb_linear_params_default(&rt->dev, &def);
    rt->lin = def;
    *default_ms = measure(rt, shapes, n_shapes, repeats, a, w, c);
    *best = def;
    *best_ms = *default_ms;
    const int n = candidates(rt, cand, 16);
    for (int i = 0; i < n; i++) {
        sb_linear_params p = def;
        sb_err pe;
        sb_err_clear(&pe);
        double ms = -1.0;
        if (sb_linear_params_parse(cand[i], &rt->dev, &p, &pe) == SB_OK) {
            rt->lin = p;
            ms = measure(rt, shapes, n_shapes, repeats, a, w, c);
        }
        if (cb) cb(user, i + 1, n, cand[i], ms);
        if (ms >= 0 && (*best_ms < 0 || ms < *best_ms)) {
            *best = p;
            *best_ms = ms;
        }
    }
    if (*best_ms < 0) SB_FAIL(SB_ERR_UNSUPPORTED, "tune: no candidate ran on this device");
done:
    rt->lin = saved;
    if (a) clReleaseMemObject(a);
    if (w) clReleaseMemObject(w);
    if (c) clReleaseMemObject(c);
    return st;
}
