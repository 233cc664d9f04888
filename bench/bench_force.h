/* bench_force.h - benchmark only: force a fixed activation share in every
 * SeqBoat layer by overwriting the router inputs before the gate (used by
 * `seqboat bench` through the model's router hook, sb_model_impl.router_hook;
 * never by a normal run). Kernel: bench/bench_force.cl (embedded into the bench
 * engine, not the library); reference: tests/ref/ref_bench_force.c;
 * test: tests/test_bench_force.c.
 *
 * Rule: token t (0-based position inside its own sequence) is activated iff
 *   (sb_force_hash32(t) >> 8) < sb_force_threshold(share),
 * so the chosen tokens are spread evenly and are the same in every layer, every
 * sequence and every run; the realised share of a sequence of n tokens is
 * share +- O(1/sqrt(n)). share <= 0 activates nothing, share >= 1 everything. */
#ifndef SB_OPS_BENCH_FORCE_H
#define SB_OPS_BENCH_FORCE_H
#include "ops/ops.h"

/* The integer mix of the rule above (host copy of the kernel's). */
uint32_t sb_force_hash32(uint32_t x);
/* round(share * 2^24) clamped to [0, 2^24]. */
uint32_t sb_force_threshold(double share);
/* 1 when token position t is activated at this threshold. */
int sb_force_active(long t, uint32_t thr);
/* Activated tokens among positions 0..n-1. */
long sb_force_count(long n, uint32_t thr);

/* For every valid token of the packed batch: u[row*ld + 0] = 0 and
 * u[row*ld + 1] = +1 (activated) or -1 (not). Other columns and rows untouched.
 * seqs->d_start / d_len must hold the table on the device. ld >= 2. */
sb_status sb_op_force_router(sb_rt *rt, const sb_seqs *seqs, sb_buf u, int ld, double share,
                             sb_err *e);
/* The same as an sb_router_hook: user points to the share (a double). */
sb_status sb_force_router_hook(void *user, sb_rt *rt, const sb_seqs *seqs, sb_buf u, int ld,
                               sb_err *e);
#endif
