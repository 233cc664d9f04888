/* block_carry.c - host side of cl/block_carry.cl (see block_carry.h). */
#include "block_carry.h"

sb_status sb_block_carry_kernels(sb_rt *rt, sb_kset **out, sb_err *e) {
    static const char *const names[1] = {"block_rows"};
    static const int key[SB_KSET_KEY] = {0};
    *out = sb_rt_kset_find(rt, SB_KSET_BLOCK, key);
    if (*out) return SB_OK;
    return sb_rt_kset_make(rt, SB_KSET_BLOCK, key, "block_carry", NULL, NULL, names, 1, NULL, out, e);
}

sb_status sb_op_block_rows(sb_rt *rt, sb_buf ctok, sb_buf cpos, cl_mem halo_pos, int h, int M, int W,
                           int pos0, sb_err *e) {
    sb_status st = SB_OK;
    sb_kset *ks;
    SB_TRY(sb_block_carry_kernels(rt, &ks, e));
    cl_kernel k = ks->k[0];
    cl_ulong to, po;
    SB_TRY(sb_ops_check_buf("block_rows", "crow_tok", ctok, sb_i32((size_t)h + (size_t)M), &to, e));
    SB_TRY(sb_ops_check_buf("block_rows", "crow_pos", cpos, sb_i32((size_t)h + (size_t)M), &po, e));
    SB_ARG(k, 0, ctok.mem);
    SB_ARG(k, 1, to);
    SB_ARG(k, 2, cpos.mem);
    SB_ARG(k, 3, po);
    SB_ARG(k, 4, halo_pos);
    SB_ARG(k, 5, h);
    SB_ARG(k, 6, M);
    SB_ARG(k, 7, W);
    SB_ARG(k, 8, pos0);
    SB_TRY(sb_ops_launch_1d(rt, k, sb_ops_wg(rt, ks, 0, 256), (size_t)(h + M), "block_rows", e));
done:
    return st;
}
