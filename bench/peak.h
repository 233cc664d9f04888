/* peak.h - `seqboat peak`: what a device can do, measured (bench/peak.c,
 * kernels bench/bench_peak.cl; cache, checks, JSON and the roofline arithmetic
 * of `seqboat bench`: bench/peak_cache.c).
 *
 *  - fp32: peak_fma with 4, 8, 12 or 16 independent accumulators of float ..
 *    float16 per work-item (at most 128 floats of state); a sweep picks the
 *    best variant, then `rounds` rounds spread in time measure it again.
 *  - global memory: a copy kernel (read + write bytes counted) and a read
 *    kernel, over vector widths (the sweep picks the best of each), on buffers
 *    of at least 8 x the last-level cache (sysfs and the device's own figure)
 *    and 256 MiB, within the device's allocation limits.
 *  - host bound (CPU devices): in every round the host copies (memcpy) and
 *    reads the same number of bytes with one thread per compute unit; a device
 *    copy or read figure above its host twin is capped to it and flagged.
 *  - host <-> device: blocking clEnqueueWriteBuffer / ReadBuffer of the same
 *    size from ordinary host memory; transfer_gbs = total bytes / total time.
 *  - launch: enqueue + clFinish of an empty one-item kernel, median.
 * Every figure is host wall clock around clFinish; the driver's event times of
 * the same launches are read alongside and their ratio to the wall time is
 * reported (event_wall_ratio) but never used. The fp32 and bandwidth figures
 * are the best round; their min / median / max over the rounds are kept.
 * Results are cached per device and driver in the program-cache folder
 * (peak-<hash>.json); a cached result is re-checked by a short probe before it
 * is used (sb_peak_get) and measured again when the probe beats it. */
#ifndef SB_PEAK_H
#define SB_PEAK_H
#include <cjson/cJSON.h>
#include "rt.h"

#define SB_PEAK_FORMAT 2
#define SB_PEAK_WIDTHS 5 /* float, float2, float4, float8, float16 */

typedef struct sb_peak {
    int index;
    char name[256], platform[256], platform_version[256], vendor[256], driver[256], type[16];
    unsigned compute_units;
    double fp32_gflops;            /* best over the sweep and the rounds */
    int fp32_width, fp32_accumulators;
    double fp32_by_width[SB_PEAK_WIDTHS]; /* best per width (1, 2, 4, 8, 16) */
    double bandwidth_gbs;          /* max(copy_gbs, read_gbs) */
    double copy_gbs, read_gbs;
    double buffer_mib;             /* per buffer of the bandwidth tests */
    double llc_mib;                /* last-level cache the buffers must dwarf (0 = unknown) */
    char llc_source[32];           /* "sysfs", "device" or "unknown" */
    int copy_width, read_width;    /* the widths the rounds measured */
    int rounds;                    /* rounds spread in time */
    /* min / median / max over the rounds (wall clock, before any cap) */
    double fp32_spread[3], copy_spread[3], read_spread[3];
    double host_copy_spread[3], host_read_spread[3];
    /* CPU devices: the host's own copy / read of the same bytes (one thread per
     * compute unit), best round; 0 = not measured (not a CPU device) */
    double host_copy_gbs, host_read_gbs;
    int host_threads;
    int bw_capped;                 /* a device figure was above its host twin and was capped */
    double event_wall_ratio;       /* median driver event time / wall time of the timed
                                    * launches (NaN = no events); informational only */
    char timing[128];              /* the timing source, and whether the driver's events agree */
    char note[512];                /* "" or the checks that fired (caps, small buffers) */
    char recheck[320];             /* sb_peak_get: "" (measured now), or the cache's re-check and
                                    * its verdict ("cache stands: ..." / "measured again: ...") */
    double h2d_gbs, d2h_gbs, transfer_gbs;
    double launch_us;              /* enqueue + finish of an empty kernel, median */
    double measure_s;              /* how long the measurement took */
    char measured_at[32];          /* UTC, ISO 8601 */
    int cached;                    /* read from the cache file */
    char cache_file[600];          /* "" when the disk cache is off */
    char status[256];              /* "ok" or the error */
} sb_peak;

/* How long and how big a measurement is (sb_peak_cfg_default: 5 rounds,
 * ~50 ms per fp32 launch, 150 ms between rounds, buffers as above). Tests use
 * a short one. */
typedef struct sb_peak_cfg {
    int rounds;                    /* >= 1 */
    double target_ms;              /* one calibrated fp32 launch */
    double gap_ms;                 /* pause between rounds (spreads them in time) */
    double max_buffer_mib;         /* cap on the bandwidth buffers (0 = none) */
} sb_peak_cfg;
void sb_peak_cfg_default(sb_peak_cfg *c);

/* Cache use of sb_peak_get. */
enum { SB_PEAK_CACHE_USE = 0, SB_PEAK_CACHE_REFRESH = 1, SB_PEAK_CACHE_OFF = 2 };

/* Measure device `spec` (sb_device_select syntax). progress: print what runs
 * on stderr. */
sb_status sb_peak_measure(const char *spec, int progress, sb_peak *p, sb_err *e);
/* The cached figures of the device when present and valid (same format,
 * device name, platform and driver), else measure and write the cache. */
sb_status sb_peak_get(const char *spec, int cache, int progress, sb_peak *p, sb_err *e);
/* The same with a measurement config (NULL = sb_peak_cfg_default). */
sb_status sb_peak_get_cfg(const char *spec, int cache, int progress, const sb_peak_cfg *cfg, sb_peak *p,
                          sb_err *e);

/* ---- checks (pure; tested with made-up figures) -------------------------------- */

/* CPU devices: cap copy_gbs / read_gbs at host_copy_gbs / host_read_gbs (a
 * device kernel cannot move memory faster than the host shows possible; 5 %
 * tolerance for noise), set bw_capped and bandwidth_gbs, and say so in note.
 * Host figures <= 0 mean "not measured": nothing is capped. Returns the number
 * of figures capped. */
int sb_peak_apply_host_bound(sb_peak *p);
/* A cached peak against a short re-check on the same device now: 1 when the
 * cache must be measured again (a probe beats its figure by more than 10 %, or
 * the cached figures fail their own checks: bandwidth above the host bound,
 * no rounds), with the reason in why; 0 when it stands. probe figures <= 0 or
 * NaN are ignored. */
int sb_peak_recheck_verdict(const sb_peak *cached, double probe_gflops, double probe_gbs, char *why,
                            size_t cap);

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
