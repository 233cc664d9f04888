/* embed_wt.c - host side of cl/embed_wt.cl (embed_wt.h). */
#include "embed_wt.h"
#include "../wtype.h"

enum { K_ROWS, K_ROW, K_COUNT };

static sb_status kernels(sb_rt *rt, int wt, sb_kset **out, sb_err *e) {
    static const char *const names[K_COUNT] = {"embed_wt", "embed_row_wt"};
    if (wt < SB_WT_F32 || wt > SB_WT_I8) return sb_fail(e, SB_ERR_ARG, "embed: unknown weight type %d", wt);
    const int key[SB_KSET_KEY] = {wt};
    *out = sb_rt_kset_find(rt, SB_KSET_EMBED_WT, key);
    if (*out) return SB_OK;
    return sb_rt_kset_make(rt, SB_KSET_EMBED_WT, key, "embed_wt", NULL, sb_wt_cl_defines((sb_wtype)wt), names,
                           K_COUNT, NULL, out, e);
}

sb_status sb_embed_wt_kernels(sb_rt *rt, int wt, sb_err *e) {
    sb_kset *ks;
    return kernels(rt, wt, &ks, e);
}

static sb_status check_table(int wt, int D, int V, cl_mem table, sb_err *e) {
    cl_ulong o;
    if (D < 1 || V < 1) return sb_fail(e, SB_ERR_ARG, "embed: bad shape D=%d V=%d", D, V);
    return sb_ops_check_buf("embed", "table", sb_view_all(table),
                            sb_wt_bytes((sb_wtype)wt, (size_t)V * (size_t)D, (size_t)V), &o, e);
}

sb_status sb_op_embed_wt(sb_rt *rt, int wt, int T, int D, int V, sb_buf ids, cl_mem table, sb_buf y,
                         sb_err *e) {
    sb_status st = SB_OK;
    sb_kset *ks;
    cl_ulong io, yo;
    if (T < 0) SB_FAIL(SB_ERR_ARG, "embed: bad T=%d", T);
    SB_TRY(check_table(wt, D, V, table, e));
    SB_TRY(sb_ops_check_buf("embed", "ids", ids, sb_i32((size_t)T), &io, e));
    SB_TRY(sb_ops_check_buf("embed", "y", y, sb_f32((size_t)T * (size_t)D), &yo, e));
    SB_TRY(sb_ops_apart("embed", "ids", ids, "y", y, e));
    if (T == 0) return SB_OK;
    SB_TRY(kernels(rt, wt, &ks, e));
    cl_kernel k = ks->k[K_ROWS];
    SB_ARG(k, 0, T);
    SB_ARG(k, 1, D);
    SB_ARG(k, 2, V);
    SB_ARG(k, 3, ids.mem);
    SB_ARG(k, 4, io);
    SB_ARG(k, 5, table);
    SB_ARG(k, 6, y.mem);
    SB_ARG(k, 7, yo);
    SB_TRY(sb_ops_launch_2d(rt, k, sb_ops_wg(rt, ks, K_ROWS, 64), (size_t)D, (size_t)T, "embed_wt", e));
done:
    return st;
}

sb_status sb_op_embed_row_wt(sb_rt *rt, int wt, int D, int V, int id, cl_mem table, sb_buf y, sb_err *e) {
    sb_status st = SB_OK;
    sb_kset *ks;
    cl_ulong yo;
    SB_TRY(check_table(wt, D, V, table, e));
    if (id < 0 || id >= V) SB_FAIL(SB_ERR_ARG, "embed: token id %d is outside 0..%d", id, V - 1);
    SB_TRY(sb_ops_check_buf("embed", "y", y, sb_f32((size_t)D), &yo, e));
    SB_TRY(kernels(rt, wt, &ks, e));
    cl_kernel k = ks->k[K_ROW];
    SB_ARG(k, 0, D);
    SB_ARG(k, 1, V);
    SB_ARG(k, 2, id);
    SB_ARG(k, 3, table);
    SB_ARG(k, 4, y.mem);
    SB_ARG(k, 5, yo);
    SB_TRY(sb_ops_launch_1d(rt, k, sb_ops_wg(rt, ks, K_ROW, 64), (size_t)D, "embed_row_wt", e));
done:
    return st;
}
