/* peak_internal.h - what peak.c (the measurements) and peak_cache.c (the
 * cache, its re-check verdict, the host bound, JSON) share; not for callers
 * outside bench/peak*.c (their API is peak.h). */
#ifndef SB_PEAK_INTERNAL_H
#define SB_PEAK_INTERNAL_H
#include "peak.h"

/* The vector widths of the sweep (float .. float16), slot by slot. */
extern const int sb_peak_widths[SB_PEAK_WIDTHS];
/* The slot of width w in sb_peak_widths (0 when w is not one). */
int sb_peak_width_slot(int w);
/* Append a printf-formatted check to p->note ("; " between checks). */
void sb_peak_note_add(sb_peak *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A full measurement on rt (sweep, rounds, bandwidth, host bound, transfer,
 * launch) into p. */
sb_status sb_peak_measure_rt(sb_rt *rt, const sb_peak_cfg *cfg, int progress, sb_peak *p, sb_err *e);
/* The short re-check of cached peak c: its fp32 variant (launches of
 * target_ms, best of 3) and its read kernel on buffers of its size (best of
 * 2); NaN for a figure c does not describe. */
sb_status sb_peak_probe(sb_rt *rt, const sb_peak *c, double target_ms, double *gflops, double *gbs,
                        sb_err *e);
#endif
