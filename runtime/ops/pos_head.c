/* pos_head.c - host launchers for cl/pos_head.cl (docs/FAIRSEQ.md section 2). */
#include "pos_head.h"

#define PH_STEM "pos_head"
#define PH_WANT_WG 64

enum { K_RMS_NORM, K_ADD_SINUSOID, K_GELU, K_PAIR_FEATURE, K_IOTA, K_COUNT };
static const char *const k_names[K_COUNT] = {"rms_norm", "add_sinusoid", "gelu", "pair_feature",
                                             "iota"};

static sb_status kernels(sb_rt *rt, sb_kset **out, sb_err *e) {
    int key[SB_KSET_KEY] = {0};
    *out = sb_rt_kset_find(rt, SB_KSET_POS_HEAD, key);
    if (*out) return SB_OK;
    return sb_rt_kset_make(rt, SB_KSET_POS_HEAD, key, PH_STEM, NULL, "", k_names, K_COUNT, NULL,
                           out, e);
}

sb_status sb_pos_head_kernels(sb_rt *rt, sb_err *e) {
    sb_kset *ks;
    return kernels(rt, &ks, e);
}

sb_status sb_op_rms_norm(sb_rt *rt, int T, int D, int per_feature, sb_buf x, sb_buf w, sb_buf y,
                         sb_err *e) {
    sb_status st = SB_OK;
    sb_kset *ks;
    cl_ulong xo, wo, yo;
    const char *op = per_feature ? "rmsnorm" : "scalenorm";
    const cl_int cT = T, cD = D, pf = per_feature ? 1 : 0;
    if (T < 0 || D < 1) SB_FAIL(SB_ERR_ARG, "%s: bad shape T=%d D=%d", op, T, D);
    SB_TRY(sb_ops_check_buf(op, "x", x, sb_f32((size_t)T * D), &xo, e));
    SB_TRY(sb_ops_check_buf(op, "weight", w, sb_f32(per_feature ? (size_t)D : 1), &wo, e));
    SB_TRY(sb_ops_check_buf(op, "y", y, sb_f32((size_t)T * D), &yo, e));
    if (T == 0) return SB_OK;
    SB_TRY(kernels(rt, &ks, e));
    cl_kernel k = ks->k[K_RMS_NORM];
    SB_ARG(k, 0, cT);
    SB_ARG(k, 1, cD);
    SB_ARG(k, 2, pf);
    SB_ARG(k, 3, x.mem);
    SB_ARG(k, 4, xo);
    SB_ARG(k, 5, w.mem);
    SB_ARG(k, 6, wo);
    SB_ARG(k, 7, y.mem);
    SB_ARG(k, 8, yo);
    SB_TRY(sb_ops_launch_1d(rt, k, sb_ops_wg(rt, ks, K_RMS_NORM, PH_WANT_WG), (size_t)T, op, e));
done:
    return st;
}

sb_status sb_op_add_sinusoid(sb_rt *rt, int T, int D, const sb_seqs *s, int pos0, sb_buf scale,
                             sb_buf inv_freq, sb_buf x, sb_err *e) {
    sb_status st = SB_OK;
    sb_kset *ks;
    cl_ulong so = 0, sco, io, xo;
    const cl_int cT = T, D2 = D / 2, n_seq = s ? s->n : 0, cp = pos0;
    if (T < 0 || D < 2 || D % 2 != 0 || pos0 < 0)
        SB_FAIL(SB_ERR_ARG, "add_sinusoid: bad shape T=%d D=%d pos0=%d (D even, >= 2)", T, D, pos0);
    if (s && s->n < 1) SB_FAIL(SB_ERR_ARG, "add_sinusoid: empty sequence table");
    if (s) SB_TRY(sb_ops_check_buf("add_sinusoid", "seqs->d_start", s->d_start, sb_i32(s->n), &so, e));
    SB_TRY(sb_ops_check_buf("add_sinusoid", "scale", scale, sb_f32(1), &sco, e));
    SB_TRY(sb_ops_check_buf("add_sinusoid", "inv_freq", inv_freq, sb_f32((size_t)D2), &io, e));
    SB_TRY(sb_ops_check_buf("add_sinusoid", "x", x, sb_f32((size_t)T * D), &xo, e));
    if (T == 0) return SB_OK;
    SB_TRY(kernels(rt, &ks, e));
    cl_kernel k = ks->k[K_ADD_SINUSOID];
    SB_ARG(k, 0, cT);
    SB_ARG(k, 1, D2);
    SB_ARG(k, 2, n_seq);
    /* without a table the argument still needs a valid buffer; it is not read */
    if (s) SB_ARG(k, 3, s->d_start.mem);
    else SB_ARG(k, 3, scale.mem);
    SB_ARG(k, 4, so);
    SB_ARG(k, 5, cp);
    SB_ARG(k, 6, scale.mem);
    SB_ARG(k, 7, sco);
    SB_ARG(k, 8, inv_freq.mem);
    SB_ARG(k, 9, io);
    SB_ARG(k, 10, x.mem);
    SB_ARG(k, 11, xo);
    SB_TRY(sb_ops_launch_2d(rt, k, sb_ops_wg(rt, ks, K_ADD_SINUSOID, PH_WANT_WG), (size_t)D2,
                            (size_t)T, "add_sinusoid", e));
done:
    return st;
}

sb_status sb_op_gelu(sb_rt *rt, int n, sb_buf x, sb_err *e) {
    sb_status st = SB_OK;
    sb_kset *ks;
    cl_ulong xo;
    const cl_int cn = n;
    if (n < 0) SB_FAIL(SB_ERR_ARG, "gelu: bad count n=%d", n);
    SB_TRY(sb_ops_check_buf("gelu", "x", x, sb_f32((size_t)n), &xo, e));
    if (n == 0) return SB_OK;
    SB_TRY(kernels(rt, &ks, e));
    cl_kernel k = ks->k[K_GELU];
    SB_ARG(k, 0, cn);
    SB_ARG(k, 1, x.mem);
    SB_ARG(k, 2, xo);
    SB_TRY(sb_ops_launch_1d(rt, k, sb_ops_wg(rt, ks, K_GELU, PH_WANT_WG), (size_t)n, "gelu", e));
done:
    return st;
}

sb_status sb_op_pair_feature(sb_rt *rt, int B, int D, int nli, sb_buf r0, sb_buf r1, sb_buf y,
                             sb_err *e) {
    sb_status st = SB_OK;
    sb_kset *ks;
    cl_ulong ao, po, yo;
    const cl_int cB = B, cD = D, cn = nli ? 1 : 0;
    const size_t F = (size_t)D * (nli ? 4 : 2);
    if (B < 0 || D < 1) SB_FAIL(SB_ERR_ARG, "pair_feature: bad shape B=%d D=%d", B, D);
    SB_TRY(sb_ops_check_buf("pair_feature", "r0", r0, sb_f32((size_t)B * D), &ao, e));
    SB_TRY(sb_ops_check_buf("pair_feature", "r1", r1, sb_f32((size_t)B * D), &po, e));
    SB_TRY(sb_ops_check_buf("pair_feature", "y", y, sb_f32((size_t)B * F), &yo, e));
    if (B == 0) return SB_OK;
    SB_TRY(kernels(rt, &ks, e));
    cl_kernel k = ks->k[K_PAIR_FEATURE];
    SB_ARG(k, 0, cB);
    SB_ARG(k, 1, cD);
    SB_ARG(k, 2, cn);
    SB_ARG(k, 3, r0.mem);
    SB_ARG(k, 4, ao);
    SB_ARG(k, 5, r1.mem);
    SB_ARG(k, 6, po);
    SB_ARG(k, 7, y.mem);
    SB_ARG(k, 8, yo);
    SB_TRY(sb_ops_launch_2d(rt, k, sb_ops_wg(rt, ks, K_PAIR_FEATURE, PH_WANT_WG), (size_t)D,
                            (size_t)B, "pair_feature", e));
done:
    return st;
}

sb_status sb_op_iota(sb_rt *rt, int n, int base, sb_buf y, sb_err *e) {
    sb_status st = SB_OK;
    sb_kset *ks;
    cl_ulong yo;
    const cl_int cn = n, cb = base;
    if (n < 0 || base < 0) SB_FAIL(SB_ERR_ARG, "iota: bad n=%d base=%d", n, base);
    SB_TRY(sb_ops_check_buf("iota", "y", y, sb_i32((size_t)n), &yo, e));
    if (n == 0) return SB_OK;
    SB_TRY(kernels(rt, &ks, e));
    cl_kernel k = ks->k[K_IOTA];
    SB_ARG(k, 0, cn);
    SB_ARG(k, 1, cb);
    SB_ARG(k, 2, y.mem);
    SB_ARG(k, 3, yo);
    SB_TRY(sb_ops_launch_1d(rt, k, sb_ops_wg(rt, ks, K_IOTA, PH_WANT_WG), (size_t)n, "iota", e));
done:
    return st;
}
