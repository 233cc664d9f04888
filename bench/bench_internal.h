/* bench_internal.h - what bench.c (the timed forwards) and bench_phase.c (the
 * phase split, its checks, the rooflines) share; not for callers outside
 * bench/ (their API is bench.h). */
#ifndef SB_BENCH_INTERNAL_H
#define SB_BENCH_INTERNAL_H
#include "bench.h"

/* The phase split of row (sb_bench_run, after its n timed forwards with the
 * work model w): profiled forwards checked by sb_bench_split_check, else
 * serialised wall-clock ones, as o->phase_timing says; fills phase_ms,
 * unattributed_ms, gemm_gflop_s, profiled_ms, device_span_ms, device_busy_ms,
 * split_ok, split_note, split_source and events_note. */
sb_status sb_bench_phase_split(sb_model_impl *m, const sb_bench_run_opt *o, int n, const sb_bench_work *w,
                               const float *xin, const int32_t *idin, float *out, sb_bench_row *row,
                               sb_err *e);
#endif
