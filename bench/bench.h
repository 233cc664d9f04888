/* bench.h - the library side of `seqboat bench` (runtime/cli/cli_bench*.c):
 * random bench models, the forced activation share, the work model (FLOPs and
 * bytes), timed forwards with per-phase device times, and the JSON / CSV
 * report. Internal: the bench tool includes it; it is not part of seqboat.h.
 *
 * FLOP model (SPEC section 3; multiply + add = 2 FLOPs; silu = 4, exp = 1).
 * T = valid tokens, M_b = activated tokens of sequence b, M = sum M_b,
 * K = D (causal) or 2D (bidirectional), F = d_input, O = d_output,
 * pairs = sum_b P(M_b), P(m) = attention (query, key) pairs of m compressed rows:
 *   causal:        P(m) = m(m+1)/2                  if m <= W+1,
 *                         (W+1)m - W(W+1)/2         otherwise;
 *   bidirectional: P(m) = 2 Pc(m) - m (the window both ways, the diagonal once).
 * Per layer, by the phase that runs it (rt.h SB_PHASE_*):
 *   OTHER  norm                  8 T D
 *   EMA    scan + omega + silu   5 T K N + 6 T D
 *   PROJ   hx_proj + bias        2 T D (D+2) + T (D+2)
 *          mx_proj + bias, silu  2 M D (Z+2H) + 5 M (Z+2H)
 *          h_proj + bias         2 M H D + M D
 *   GATE   router                10 T
 *          combine               7 T D
 *   ATTN   q, k (+ rotary)       4 M Z (+ 6 M Z)
 *          scores, bias, act     pairs (2Z + 3)    (softmax: pairs (2Z + 6))
 *          values, o * r         pairs 2H + M H
 * Outside the layers (OTHER): encoder 2 T F D + T D (lm: 0), final norm 8 T D
 * (prenorm), decoder 2 T D O + T O (classify: pool T D + 2 B D O + B O).
 * The halo rows that the chunked GAU recomputes are not counted: the figure is
 * the work of the computation, not of our schedule.
 *
 * Bytes model: compulsory device-memory traffic, every operand read once and
 * every result written once per op: activations are float32, a weight element
 * is read in the row's storage (sb_bench_weight_bytes: 4 f32, 2 f16 / bf16, 1
 * int8 plus a float scale per output channel), so a GEMM m x n x k moves
 * 4 (mk + mn) + wbytes(n, k) (f32: 4 (mk + kn + mn)), the embedding gather
 * wbytes(T, D); an element-wise op over r x c moves 8 r c, attention reads
 * M (Z+2H) and writes M H plus q, k scratch (16 M Z), EMA reads and writes T D.
 * Caches and window reuse are not modelled: GB/s from it is a lower bound.
 */
#ifndef SB_BENCH_H
#define SB_BENCH_H
#include <stdio.h>
#include "bench_clock.h"
#include "model.h"
#include "peak.h"

/* ---- bench models ---------------------------------------------------------- */

/* A bench configuration: task sequence, d_input = d_output = 16, one layer of
 * D=512 Z=128 H=1024 N=16 W=256, causal, prenorm layernorm, simple bias,
 * relu2, P = 8192, no truncation. */
void sb_bench_config_default(sb_config *c);

/* Write a valid model file (SPEC section 4) of config c with random weights
 * of sane scale (unit-variance activations; EMA and router initialised like
 * the reference's) drawn from `seed`. Through sb_st_write (temp + rename). */
sb_status sb_bench_write_model(const char *path, const sb_config *c, uint64_t seed, sb_err *e);

/* Deterministic uniform floats in [-1, 1) (inputs), token ids in [0, vocab). */
void sb_bench_fill(float *x, size_t n, uint64_t seed);
void sb_bench_fill_ids(int32_t *ids, size_t n, int vocab, uint64_t seed);

/* ---- options of a bench run (`seqboat bench`) -------------------------------- */

#define SB_BENCH_MAX_LIST 64

/* Bits of sb_bench_opts.methods, in the order of sb_bench_method_names. */
enum { SB_BENCH_SMA = 1u << 0, SB_BENCH_DENSE = 1u << 1, SB_BENCH_QUAD = 1u << 2,
       SB_BENCH_DECODE = 1u << 3 };
/* "sma", "dense", "quadratic", "decode", NULL. */
extern const char *const sb_bench_method_names[];

/* Everything a bench run is told; cli/cli_bench.c fills it from the command
 * line (bench/README.md documents each option). Strings are borrowed. */
typedef struct sb_bench_opts {
    const char *device;            /* selection, "all" = every device, NULL = default */
    const char *model, *input;     /* bench a model file (and its input) instead of a random one */
    const char *json, *csv;        /* report files, or NULL */
    const char *report;            /* --report folder (index.html, bench.json), or NULL */
    const char *save_model;        /* keep the random model file here, or NULL */
    int lengths[SB_BENCH_MAX_LIST], n_len;
    double shares[SB_BENCH_MAX_LIST]; /* forced shares; -1 = the model's own router */
    int n_share;
    unsigned methods;              /* SB_BENCH_* bits */
    unsigned precisions;           /* bit t: weights stored as sb_wtype t (wtype.h: f32, f16,
                                    * bf16, int8; --precision), every point run for each */
    int decode_steps;              /* timed single-token steps per length */
    int B, warmup, repeats;
    int build_time, profile, quiet;
    int roofline;                  /* device peaks (seqboat peak) and roofline shares */
    double max_seconds, quad_budget_s;
    int quad_max_len;
    uint64_t seed;                 /* weights seed */
    int gemm_tune;                 /* 1: the library's tuned CLBlast parameters; 0: CLBlast's own */
    int phase_timing;              /* SB_BENCH_TIMING_* (--phase-timing auto|events|wall) */
    int driver_cache;              /* 1: the OpenCL driver's own kernel cache as configured;
                                    * 0: off (PoCL: POCL_KERNEL_CACHE=0) */
    sb_config cfg;                 /* the random model's config */
} sb_bench_opts;

/* Names of the --precision bits (sb_wtype order), NULL-terminated. */
extern const char *const sb_bench_precision_names[];

/* Defaults: lengths 1024,4096; share 0.5; methods sma, dense, quadratic; precisions f32;
 * decode_steps 64; B 1; warmup 1; repeats 5; build_time, profile, roofline on;
 * max_seconds 60; quad_budget_s 60; quad_max_len 16384; seed 1; gemm_tune and
 * driver_cache on; cfg sb_bench_config_default. */
void sb_bench_opts_default(sb_bench_opts *o);

/* Apply o's process-wide settings; call before any OpenCL call or runtime is
 * made. gemm_tune goes to sb_gemm_tune_set_enabled. driver_cache 0 sets
 * POCL_KERNEL_CACHE=0: PoCL reads its own cache switch from the environment
 * only, so this one variable of the driver's (none of seqboat's) is written
 * there. */
void sb_bench_apply_process_settings(const sb_bench_opts *o);

/* ---- work model ------------------------------------------------------------ */

typedef struct sb_bench_work {
    double flops[SB_PHASE_COUNT]; /* by phase */
    double flops_total;
    double gemm_flops;            /* the layers' GEMMs (the PROJ phase, biases excluded) */
    double bytes;                 /* estimated compulsory traffic */
    double bytes_phase[SB_PHASE_COUNT]; /* the same by phase (sums to bytes) */
    double attn_pairs;
    int wt;                       /* in: the weights' storage (sb_wtype, 0 = f32), which sets
                                   * the bytes of each weight element read */
} sb_bench_work;

/* Bytes of a weight W [n][k] stored as wt (sb_wtype): 4 n k (f32), 2 n k
 * (f16, bf16), n k + 4 n (int8 codes and one float scale per output channel). */
double sb_bench_weight_bytes(int wt, double n, double k);

/* Attention pairs of m compressed rows with window W (formula above). */
double sb_bench_attn_pairs(double m, double W, int causal);
/* Add one layer's work: B sequences of len[b] valid tokens, act[b] activated
 * (weights stored as w->wt, here and in sb_bench_count_io). */
void sb_bench_count_layer(const sb_config *c, int B, const long *len, const long *act,
                          sb_bench_work *w);
/* Add the work outside the layers (encoder/embedding, final norm, decoder). */
void sb_bench_count_io(const sb_config *c, int B, const long *len, sb_bench_work *w);
/* Zero w, then the whole forward with the same act[] in every layer, f32
 * weights (_wt: stored as wt, the sb_wtype of the row's precision). */
void sb_bench_count_forward(const sb_config *c, int B, const long *len, const long *act,
                            sb_bench_work *w);
void sb_bench_count_forward_wt(const sb_config *c, int wt, int B, const long *len, const long *act,
                               sb_bench_work *w);
/* One streamed decode step, weights stored as wt: the single-token forward
 * with the token activated (weight share) or not (1 - share), every weight it
 * uses read once, plus, when activated, attention over `window` cached keys and
 * values per layer (pairs window (2Z + 3|6 + 2H) FLOPs, 4 window (Z + H) bytes). */
void sb_bench_count_decode(const sb_config *c, int wt, double share, double window, sb_bench_work *w);

/* Sorts v[0..n) and returns min, median (mean of the middle two for even n),
 * max. n >= 1. */
void sb_bench_summary(double *v, int n, double *min, double *med, double *max);

/* ---- report ------------------------------------------------------------------ */

#define SB_BENCH_STR 256

typedef struct sb_bench_device {
    int index;
    char name[SB_BENCH_STR], vendor[SB_BENCH_STR], type[16];
    char platform[SB_BENCH_STR], platform_version[SB_BENCH_STR];
    char driver[SB_BENCH_STR], device_version[SB_BENCH_STR], c_version[SB_BENCH_STR];
    unsigned compute_units;
    double global_mem, local_mem, max_alloc; /* bytes */
    /* program builds: first forward minus a steady forward, on a fresh model */
    double build_cold_ms;  /* empty seqboat program cache */
    double build_warm_ms;  /* same cache folder again (disk hits) */
    unsigned programs_built, programs_disk_hits;
    double load_ms;        /* model load (weights upload) with a warm cache */
    char gemm_params[64];  /* tuned CLBlast parameters applied (gemm_tune.c), "" = CLBlast's */
    int has_peak;          /* peak holds the device's measured peaks (`seqboat peak`) */
    sb_peak peak;
    char status[SB_BENCH_STR]; /* "ok" or why the device was skipped */
    char node[SB_BENCH_STR];   /* host name and MPI rank of the process that ran it */
    int rank;                  /* (stamped by sb_bench_report_add_device) */
} sb_bench_device;

typedef struct sb_bench_row {
    int device_index;
    char device[SB_BENCH_STR];
    char method[16];       /* "sma", "dense", "quadratic", "model" */
    char precision[8];     /* the weights' storage: "f32", "f16", "bf16", "int8" */
    int B, L, layers, D, Z, H, N, W, causal, softmax;
    long tokens;           /* valid tokens T */
    double share_target;   /* forced share, or -1 (the model's own router) */
    double share;          /* activated / valid tokens, mean over layers */
    int repeats;
    double ms_min, ms_med, ms_max; /* whole forward (host to host) */
    double layer_ms;       /* sum of the layers' wall times, median run */
    double tokens_per_s;   /* T / ms_med */
    double gflop, gflop_s; /* work model / ms_med */
    /* Phase split, from separate profiled forwards (the timed ones run without
     * profiling). NaN (null in JSON, '-' in the table) unless split_ok: the
     * profiled device timeline must account for the wall time (sb_bench_split_check). */
    double phase_ms[SB_PHASE_COUNT]; /* device time per phase, mean per profiled forward */
    double unattributed_ms; /* mean profiled forward wall minus the sum of phase_ms: host
                             * copies, syncs, host launch gaps (device idle) */
    double gemm_gflop_s;   /* gemm_flops / phase_ms[PROJ] (projection phase: whole CLBlast
                            * calls timed from a marker before each, plus bias ops) */
    int split_ok;
    char split_note[SB_BENCH_STR]; /* "ok" or why the split is unavailable */
    /* where the split came from: "events" (driver event profiling), "wall-serialised"
     * (host clock, the queue finished at every phase change: sb_rt_set_serial) or
     * "none"; events_note: "ok", why the driver's events were not used, or "not tried" */
    char split_source[24];
    char events_note[SB_BENCH_STR];
    double profiled_ms, device_span_ms, device_busy_ms; /* means per profiled (or serialised)
                                                         * forward; span NaN when serialised */
    double gbytes, gb_s;   /* estimated traffic, / ms_med */
    /* Work model per phase and rooflines (sb_bench_roofline); rates and shares
     * NaN when unavailable (no peak, no split, above the measured peak). */
    double phase_gflop[SB_PHASE_COUNT], phase_gbytes[SB_PHASE_COUNT];
    double ai, phase_ai[SB_PHASE_COUNT];             /* FLOP per byte */
    double phase_gflop_s[SB_PHASE_COUNT];
    double roofline_bound;                           /* GFLOP/s: min(peak, ai * bandwidth) */
    double roofline_pct, phase_roofline_pct[SB_PHASE_COUNT];
    char roofline_note[SB_BENCH_STR];                /* "" or why a figure is withheld */
    double peak_bytes;     /* planned activation peak */
    double weight_bytes;   /* device memory of the parameters as stored (sb_model_weight_bytes;
                            * decode rows: with the stream's transposed copies) */
    double load_avg;       /* host 1-minute load average when the point started (-1 = unknown) */
    double ref_tokens_per_s, ref_ratio; /* filled by bench/reference_pytorch.py (0 = none) */
    double prefill_ms;     /* decode rows: the prompt's prefill (L tokens) */
    char status[SB_BENCH_STR]; /* "ok", "skipped: ...", "error: ..." */
    char node[SB_BENCH_STR];   /* host name and MPI rank of the process that ran it */
    int rank;                  /* (stamped by sb_bench_report_add_row) */
} sb_bench_row;

typedef struct sb_bench_report {
    char library_version[32];
    char build_type[32];
    char build_options[SB_BENCH_STR]; /* OpenCL program build options */
    char kernel_dir[SB_BENCH_STR];    /* SEQBOAT_KERNEL_DIR or "" (embedded kernels) */
    char cache_dir[SB_BENCH_STR];     /* SEQBOAT_CACHE_DIR or "" */
    char driver_cache[64];            /* e.g. "POCL_KERNEL_CACHE=0" or "default" */
    char command[1024];
    char timestamp[64];               /* UTC, ISO 8601 */
    char host[SB_BENCH_STR];
    char model[SB_BENCH_STR];         /* "random" or the --model path */
    uint64_t seed;
    int warmup, repeats;
    sb_config cfg;
    char node[SB_BENCH_STR];          /* this process's host name (gethostname) */
    int rank, ranks;                  /* MPI rank and job size (0 and 1 in one process) */
    sb_bench_device *dev;
    int n_dev, cap_dev;
    sb_bench_row *rows;
    int n_rows, cap_rows;
} sb_bench_report;

/* Fill library_version, build_type, build_options, kernel_dir, cache_dir,
 * timestamp and host. */
void sb_bench_report_init(sb_bench_report *r);
void sb_bench_report_free(sb_bench_report *r);
/* Append (copies); NULL on out of memory. */
sb_bench_row *sb_bench_report_add_row(sb_bench_report *r, const sb_bench_row *row);
sb_bench_device *sb_bench_report_add_device(sb_bench_report *r, const sb_bench_device *d);
void sb_bench_device_from_info(const sb_device_info *i, sb_bench_device *d);

/* JSON: {"header": {...}, "config": {...}, "devices": [...], "results": [...]}. */
sb_status sb_bench_write_json(const sb_bench_report *r, const char *path, sb_err *e);
/* CSV: "# key,value" header lines, then one column-name line, then one line
 * per result (fields quoted when they contain a comma or a quote). */
sb_status sb_bench_write_csv(const sb_bench_report *r, const char *path, sb_err *e);
/* The column names of the CSV, in order (NULL-terminated). */
extern const char *const sb_bench_csv_columns[];

/* ---- timed forwards ------------------------------------------------------------ */

typedef struct sb_bench_run_opt {
    int B, L;
    const int32_t *lengths;   /* [B] or NULL (all L) */
    const float *x;           /* [B][L][d_input] or NULL: random */
    const int32_t *ids;       /* lm: [B][L] or NULL: random */
    double share;             /* forced share, < 0: the model's router */
    int warmup, repeats;      /* >= 0, >= 1 */
    double max_seconds;       /* cap on the timed repeats of one point (0 = none) */
    int profile;              /* after the timed forwards, up to 3 profiled ones for the
                               * phase split (the timed ones never run with profiling) */
    int phase_timing;         /* SB_BENCH_TIMING_*: where the split comes from */
    double peak_gflops;       /* the device's fp32 peak (<= 0: unknown): an event split with a
                               * phase above it is not used */
} sb_bench_run_opt;

/* Phase-split timing: AUTO = driver events when they account for the forward
 * (sb_bench_split_check, no phase above the peak), else serialised wall clock;
 * EVENTS = events only (no split when they fail); WALL = serialised wall clock. */
enum { SB_BENCH_TIMING_AUTO = 0, SB_BENCH_TIMING_EVENTS = 1, SB_BENCH_TIMING_WALL = 2 };

/* Warm up, then time `repeats` forwards of m with profiling off (fewer when
 * one forward takes longer than max_seconds / repeats; at least one); then,
 * when o->profile, up to 3 forwards with profiling on for the phase split and,
 * when their events do not account for the forward (o->phase_timing), up to 3
 * serialised wall-clock forwards instead (split_source says which).
 * Fills the timing, share, work, phase and memory fields of row (not the
 * device/method fields, not the rooflines). */
sb_status sb_bench_run(sb_model_impl *m, const sb_bench_run_opt *o, sb_bench_row *row, sb_err *e);

/* Method "decode": open a stream on m (causal), prefill a prompt of L random
 * tokens (one parallel feed; prefill_ms), then time `steps` single-token steps
 * one by one after untimed warm-up steps (until every layer has activated
 * once, so that first-use kernel builds are not timed; 2 to 256 steps).
 * Fills B=1, L, tokens = repeats = steps, ms_min/med/max per step, tokens_per_s = steps / their total time (so
 * 1000 / tokens_per_s is the mean ms per token), share = activated
 * share of the steps, the model sizes and status "ok". */
sb_status sb_bench_decode(sb_model *m, int L, int steps, uint64_t seed, sb_bench_row *row,
                          sb_err *e);
/* The work model of a decode row (after sb_bench_decode; c the model's
 * config, wt its weights' storage): gflop, gbytes and their phases per step
 * (sb_bench_count_decode with the row's share and a window of min(W, share L)
 * cached entries), gflop_s and gb_s at the mean step time (1000 /
 * tokens_per_s). sb_bench_roofline then uses that mean too. */
void sb_bench_decode_work(const sb_config *c, int wt, sb_bench_row *row);

/* Program build time on a fresh model of `path` on `device`: cold with an
 * empty cache folder, warm with the same folder again. L: length of the
 * forwards used. Fills the build_* and load_ms fields of d. */
sb_status sb_bench_build_times(const char *path, const char *device, int L, sb_bench_device *d,
                               sb_err *e);

/* Zero a row, with every derived figure unavailable (NaN) and split_note
 * "not measured". */
void sb_bench_row_init(sb_bench_row *r);
/* Does the profiled device timeline account for the wall time? Means per
 * profiled forward: wall_ms (host clock), span_ms (first kernel start to last
 * kernel end, the driver's clock), busy_ms (sum of the phase times). Returns 1
 * when span <= 1.05 wall, busy <= 1.02 span, span >= 0.5 wall and the phases
 * sum to at least 90 % of the wall time; else 0 with the reason in why. */
int sb_bench_split_check(double wall_ms, double span_ms, double busy_ms, char *why, size_t cap);
/* From the row's work model per phase (phase_gflop, phase_gbytes, gflop,
 * gbytes, set by sb_bench_run): arithmetic intensities, per-phase rates (when
 * the split is ok) and roofline shares against the peaks (gflops, gbs; <= 0 or
 * NaN = none). Any rate above the peak it is bound by is withheld (NaN) with
 * the reason in roofline_note; a per-phase or GEMM rate above the fp32 peak
 * marks the split unusable. */
void sb_bench_roofline(sb_bench_row *r, double gflops, double gbs);
/* The first rate of the row above the fp32 peak gflops: a phase (0 ..
 * SB_PHASE_COUNT-1, from phase_gflop / phase_ms), the GEMM rate
 * (SB_PHASE_COUNT) or the whole forward (SB_PHASE_COUNT + 1, wall clock);
 * -1 when none (or no peak). Phases and GEMM count only when split_ok. The
 * rate goes to *rate, a sentence to why. */
int sb_bench_over_peak(const sb_bench_row *r, double gflops, double *rate, char *why, size_t cap);

/* The host's 1-minute load average (/proc/loadavg), -1 when unknown. */
double sb_bench_load_avg(void);

/* OpenCL build options of the library's programs (as rt.c passes them). */
const char *sb_bench_build_options(void);

#endif
