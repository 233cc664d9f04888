/* stream_step.c - kernel sets of cl/stream_step.cl and cl/block_carry.cl. */
#include "stream_step.h"

sb_status sb_stream_step_kernels(sb_rt *rt, sb_kset **out, sb_err *e) {
    static const char *const names[SB_STEP_K_COUNT] = {"ema_step", "norm_ema_step", "step_combine"};
    static const int key[SB_KSET_KEY] = {0};
    *out = sb_rt_kset_find(rt, SB_KSET_STREAM, key);
    if (*out) return SB_OK;
    return sb_rt_kset_make(rt, SB_KSET_STREAM, key, "stream_step", NULL, NULL, names, SB_STEP_K_COUNT,
                           NULL, out, e);
}

sb_status sb_block_carry_kernels(sb_rt *rt, sb_kset **out, sb_err *e) {
    static const char *const names[1] = {"block_rows"};
    static const int key[SB_KSET_KEY] = {0};
    *out = sb_rt_kset_find(rt, SB_KSET_BLOCK, key);
    if (*out) return SB_OK;
    return sb_rt_kset_make(rt, SB_KSET_BLOCK, key, "block_carry", NULL, NULL, names, 1, NULL, out, e);
}
