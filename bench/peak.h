/* peak.h - `seqboat peak`: what a device can do, measured (bench/peak.c,
 * kernels bench/bench_peak.cl), and the roofline arithmetic of `seqboat bench`.
 *
 *  - fp32: peak_fma with 4, 8, 12 or 16 independent accumulators of float ..
 *    float16 per work-item (at most 128 floats of state); the best rate over
 *    the variants is fp32_gflops.
 *  - global memory: a copy kernel (read + write bytes counted) and a read
 *    kernel, over vector widths, on buffers of min(256 MiB, max allocation,
 *    global memory / 8); bandwidth_gbs is the best of copy and read.
 *  - host <-> device: blocking clEnqueueWriteBuffer / ReadBuffer of the same
 *    size from ordinary host memory; transfer_gbs = total bytes / total time.
 *  - launch: enqueue + clFinish of an empty one-item kernel, median.
 * All times are host wall clock around clFinish (event profiling is not
 * trusted: some drivers return meaningless timestamps); every kernel is
 * calibrated to run long enough that the launch cost does not matter, and the
 * best of several runs is kept. Work sizes come from the device's limits.
 * Results are cached per device and driver in the program-cache folder
 * (peak-<hash>.json). */
#ifndef SB_PEAK_H
#define SB_PEAK_H
#include <cjson/cJSON.h>
#include "rt.h"

#define SB_PEAK_FORMAT 1
#define SB_PEAK_WIDTHS 5 /* float, float2, float4, float8, float16 */

typedef struct sb_peak {
    int index;
    char name[256], platform[256], platform_version[256], vendor[256], driver[256], type[16];
    unsigned compute_units;
    double fp32_gflops;            /* best over widths and accumulator counts */
    int fp32_width, fp32_accumulators;
    double fp32_by_width[SB_PEAK_WIDTHS]; /* best per width (1, 2, 4, 8, 16) */
    double bandwidth_gbs;          /* max(copy_gbs, read_gbs) */
    double copy_gbs, read_gbs;
    double buffer_mib;             /* per buffer of the bandwidth tests */
    double h2d_gbs, d2h_gbs, transfer_gbs;
    double launch_us;              /* enqueue + finish of an empty kernel, median */
    double measure_s;              /* how long the measurement took */
    char measured_at[32];          /* UTC, ISO 8601 */
    int cached;                    /* read from the cache file */
    char cache_file[600];          /* "" when the disk cache is off */
    char status[256];              /* "ok" or the error */
} sb_peak;

/* Cache use of sb_peak_get. */
enum { SB_PEAK_CACHE_USE = 0, SB_PEAK_CACHE_REFRESH = 1, SB_PEAK_CACHE_OFF = 2 };

/* Measure device `spec` (sb_device_select syntax). progress: print what runs
 * on stderr. */
sb_status sb_peak_measure(const char *spec, int progress, sb_peak *p, sb_err *e);
/* The cached figures of the device when present and valid (same format,
 * device name, platform and driver), else measure and write the cache. */
sb_status sb_peak_get(const char *spec, int cache, int progress, sb_peak *p, sb_err *e);

/* JSON object of one device (the fields of `seqboat peak --json`) and back. */
cJSON *sb_peak_to_json(const sb_peak *p);
int sb_peak_from_json(const cJSON *o, sb_peak *p);
/* {"tool": "seqboat peak", "format": 1, "devices": [...]} written to path. */
sb_status sb_peak_write_json(const sb_peak *p, int n, const char *path, sb_err *e);

/* ---- roofline ------------------------------------------------------------------ */

/* The roofline bound in GFLOP/s at arithmetic intensity ai (FLOP per byte):
 * min(gflops, ai * gbs). NaN when an input is missing (<= 0 or NaN). */
double sb_roofline_bound(double ai, double gflops, double gbs);
/* 100 * achieved / bound; NaN when either is unavailable. */
double sb_roofline_pct(double achieved_gflops, double ai, double gflops, double gbs);
#endif
