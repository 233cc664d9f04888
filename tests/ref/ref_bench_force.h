/* ref_bench_force.h - plain-C reference for runtime/ops/bench_force.h: the
 * forced router inputs of `seqboat bench`, by the rule written there, in
 * simple loops over host arrays (PACKED layout). Shares no code with
 * cl/bench_force.cl or runtime/ops/bench_force.c. */
#ifndef SB_REF_BENCH_FORCE_H
#define SB_REF_BENCH_FORCE_H

/* For t < len[b]: row = start[b] + t; u[row*ld] = 0, u[row*ld + 1] = +1 if
 * position t is activated at `share`, else -1. */
void sb_ref_force_router(int B, const int *start, const int *len, float *u, int ld, double share);
#endif
