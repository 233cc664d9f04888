/* linear_tune.h - `seqboat tune`: the own GEMM's parameters (rt->lin) measured
 * on one device for given product shapes, stored in the cache folder and
 * loaded by sb_ops_rt_create (ops/ops_rt.h) on later runs.
 *
 * File: <cache folder>/linear-<64 hex>.tune, the hex being the program cache's
 * key (program_cache.h: device name, driver version, platform version, format)
 * of the name "linear-tune"; one line "seqboat-linear-tune 1 <params>", params
 * as sb_linear_params_string writes them. A missing, unreadable or bad file is
 * ignored (device-class defaults). SEQBOAT_LINEAR still overrides either. */
#ifndef SB_LINEAR_TUNE_H
#define SB_LINEAR_TUNE_H
#include "rt.h"

/* Path of this device's file, or "" when the disk cache is off. */
void sb_linear_tune_path(sb_rt *rt, char *buf, size_t size);
/* Load this device's file into rt->lin; 1 when loaded, 0 otherwise. */
int sb_linear_tune_load(sb_rt *rt);

typedef struct sb_tune_shape {
    int m, n, k;
    const char *name;
} sb_tune_shape;

/* Called after each candidate: its index, the count, its parameters, the
 * total of the shapes' median times (ms; < 0 when it failed). */
typedef void (*sb_tune_progress)(void *user, int i, int n, const char *params, double ms);

/* Measure the candidates for rt's device class on the shapes (median of
 * `repeats` after one warm-up each); *best gets the fastest, *best_ms its time
 * and *default_ms the device-class default's. Leaves rt->lin as it found it. */
sb_status sb_linear_tune_run(sb_rt *rt, const sb_tune_shape *shapes, int n_shapes, int repeats,
                             sb_tune_progress cb, void *user, sb_linear_params *best,
                             double *best_ms, double *default_ms, sb_err *e);
/* Write *p to this device's file (temporary file + rename). */
sb_status sb_linear_tune_save(sb_rt *rt, const sb_linear_params *p, sb_err *e);

#endif
