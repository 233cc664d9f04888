/* ops_rt.h - an rt made ready for the ops. rt.c is the lowest layer and knows
 * nothing of GEMMs; this is where a device's rt gets what the products need:
 * a CLBlast user reference (gemm.h, dropped by sb_rt_free through rt->release),
 * CLBlast's tuned parameters for the device (gemm_tune.h) and the own GEMM's
 * parameters rt->lin: the device class's defaults (ops/linear.h), then this
 * device's stored `seqboat tune` winner (linear_tune.h), then SEQBOAT_LINEAR.
 * Every rt that runs ops is made here (model load, selftest, tune, bench,
 * tests); bad SEQBOAT_LINEAR / SEQBOAT_GEMM_* values fail it. */
#ifndef SB_OPS_RT_H
#define SB_OPS_RT_H
#include "ops.h"

sb_status sb_ops_rt_create(const sb_rt_options *opt, sb_rt **out, sb_err *e);

#endif
