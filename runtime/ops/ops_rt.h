/* ops_rt.h - an rt made ready for the ops. rt.c is the lowest layer and knows
 * nothing of GEMMs; this is where a device's rt gets what the products need:
 * a CLBlast user reference (gemm.h, dropped by sb_rt_free through rt->release),
 * CLBlast's tuned parameters for the device (gemm_tune.h) and the own GEMM's
 * parameters rt->lin: the device class's defaults (ops/linear.h), then this
 * device's stored `seqboat tune` winner (linear_tune.h), then the options'
 * tuning (sb_rt_options.tuning), then SEQBOAT_LINEAR; and rt->tune, the other
 * kernel choices (attention, EMA, row kernels): the options' tuning, then
 * SEQBOAT_ATTN / SEQBOAT_EMA / SEQBOAT_ROWS. The environment is read here,
 * once per rt, never by a launch. Every rt that runs ops is made here (model
 * load, selftest, tune, bench, tests); bad values fail it (SB_ERR_ARG). */
#ifndef SB_OPS_RT_H
#define SB_OPS_RT_H
#include "ops.h"

sb_status sb_ops_rt_create(const sb_rt_options *opt, sb_rt **out, sb_err *e);
/* Set rt->lin's variant and rt->tune from `t` (NULL = all defaults) and the
 * environment, as sb_ops_rt_create does. */
sb_status sb_ops_rt_tuning(sb_rt *rt, const sb_tuning *t, sb_err *e);

#endif
