/* stream_step.h - the kernels of the streaming step (cl/stream_step.cl) and
 * of the block-wise forward's carry (cl/block_carry.cl): their kernel sets,
 * resolved once per rt (the model does it at load). The launches are in
 * stream.c and model.c, which own the per-token and per-block state. */
#ifndef SB_OPS_STREAM_STEP_H
#define SB_OPS_STREAM_STEP_H
#include "ops.h"

/* Kernels of the stream_step set, in this order. */
enum { SB_STEP_K_EMA, SB_STEP_K_NORM_EMA, SB_STEP_K_COMBINE, SB_STEP_K_COUNT };
/* The set of cl/stream_step.cl (ema_step, norm_ema_step, step_combine). */
sb_status sb_stream_step_kernels(sb_rt *rt, sb_kset **out, sb_err *e);
/* The set of cl/block_carry.cl (block_rows). */
sb_status sb_block_carry_kernels(sb_rt *rt, sb_kset **out, sb_err *e);

#endif
