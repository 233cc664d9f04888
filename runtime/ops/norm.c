/* norm.c - host launchers for cl/norm_eltwise.cl: LayerNorm, BatchNorm (eval),
 * bias + activation, embedding gather, pack / unpack and mean pooling. */
#include <stdio.h>
#include "norm.h"

#define NORM_STEM "norm_eltwise"
#define NORM_WANT_WG 256  /* preferred work-group size (capped by device and kernel) */
#define POOL_MAX_CX 16    /* columns per mean_pool work-group */
#define ROWS_WANT_WG 8    /* rows per work-group of the row kernels (layernorm_vec) */



static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* The program's kernels, in this order (one set per rt: no defines). */
enum { K_LAYERNORM, K_BATCHNORM, K_BIAS_ACT, K_EMBED, K_PACK, K_UNPACK, K_MEAN_POOL,
       K_LAYERNORM_VEC, K_COUNT };
static const char *const k_names[K_COUNT] = {"layernorm", "batchnorm", "bias_act", "embed",
                                             "pack", "unpack", "mean_pool", "layernorm_vec"};

/* One set per rt, keyed by layernorm_vec's vector width (sb_ops_row_vec). */
static sb_status kernels(sb_rt *rt, sb_kset **out, sb_err *e) {
    int key[SB_KSET_KEY] = {0};
    sb_ops_row_vec(rt, &key[0]);
    *out = sb_rt_kset_find(rt, SB_KSET_NORM, key);
    if (*out) return SB_OK;
    char defs[32];
    snprintf(defs, sizeof defs, "#define VW %d\n", key[0]);
    return sb_rt_kset_make(rt, SB_KSET_NORM, key, NORM_STEM, NULL, defs, k_names, K_COUNT, NULL, out, e);
}

sb_status sb_norm_kernels(sb_rt *rt, sb_err *e) {
    sb_kset *ks;
    return kernels(rt, &ks, e);
}

/* A work-group size for kernel i that also fits `per_item` bytes of local
 * memory per work-item (0 = none). */
static size_t pick_wg(sb_rt *rt, const sb_kset *ks, int i, size_t per_item) {
    size_t wg = sb_ops_wg(rt, ks, i, NORM_WANT_WG);
    if (wg < 1) wg = 1;
    if (per_item)
        while (wg > 1 && wg * per_item > rt->dev.local_mem) wg >>= 1;
    return wg;
}

sb_status sb_op_layernorm(sb_rt *rt, int T, int D, sb_buf x, sb_buf w, sb_buf b, sb_buf y, sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel k;
    sb_kset *ks;
    cl_ulong xo, wo, bo, yo;
    if (T < 0 || D < 1) SB_FAIL(SB_ERR_ARG, "layernorm: bad shape T=%d D=%d", T, D);
    SB_TRY(sb_ops_check_buf("layernorm", "x", x, sb_f32((size_t)T * D), &xo, e));
    SB_TRY(sb_ops_check_buf("layernorm", "weight", w, sb_f32(D), &wo, e));
    SB_TRY(sb_ops_check_buf("layernorm", "bias", b, sb_f32(D), &bo, e));
    SB_TRY(sb_ops_check_buf("layernorm", "y", y, sb_f32((size_t)T * D), &yo, e));
    SB_TRY(sb_ops_apart_or_same("layernorm", "x", x, "y", y, e));
    if (T == 0) return SB_OK;
    SB_TRY(kernels(rt, &ks, e));
    int vw = 1;
    if (sb_ops_row_vec(rt, &vw)) { /* CPU class: one item per row */
        k = ks->k[K_LAYERNORM_VEC];
        const cl_int cT = T, cD = D;
        SB_ARG(k, 0, cT);
        SB_ARG(k, 1, cD);
        SB_ARG(k, 2, x.mem);
        SB_ARG(k, 3, xo);
        SB_ARG(k, 4, w.mem);
        SB_ARG(k, 5, wo);
        SB_ARG(k, 6, b.mem);
        SB_ARG(k, 7, bo);
        SB_ARG(k, 8, y.mem);
        SB_ARG(k, 9, yo);
        SB_TRY(sb_ops_launch_1d(rt, k, sb_ops_wg(rt, ks, K_LAYERNORM_VEC, ROWS_WANT_WG), (size_t)T,
                                "layernorm_vec", e));
        return SB_OK;
    }
    k = ks->k[K_LAYERNORM];
    {
        const size_t wg = pick_wg(rt, ks, K_LAYERNORM, sizeof(float));
        const cl_int S = (cl_int)min_sz(sb_pow2_ceil((size_t)D), wg);
        const size_t rows_per_group = wg / (size_t)S;
        const size_t groups = ((size_t)T + rows_per_group - 1) / rows_per_group;
        const size_t gws = groups * wg;
        const cl_int cT = T, cD = D;
        SB_ARG(k, 0, cT);
        SB_ARG(k, 1, cD);
        SB_ARG(k, 2, S);
        SB_ARG(k, 3, x.mem);
        SB_ARG(k, 4, xo);
        SB_ARG(k, 5, w.mem);
        SB_ARG(k, 6, wo);
        SB_ARG(k, 7, b.mem);
        SB_ARG(k, 8, bo);
        SB_ARG(k, 9, y.mem);
        SB_ARG(k, 10, yo);
        SB_ARG_LOCAL(k, 11, wg * sizeof(float));
        SB_TRY(sb_rt_launch(rt, k, 1, &gws, &wg, "layernorm", e));
    }
done:
    return st;
}

sb_status sb_op_batchnorm(sb_rt *rt, int T, int D, sb_buf x, sb_buf mean, sb_buf var, sb_buf w,
                          sb_buf b, sb_buf y, sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel k;
    sb_kset *ks;
    cl_ulong xo, mo, vo, wo, bo, yo;
    const cl_int cT = T, cD = D;
    if (T < 0 || D < 1) SB_FAIL(SB_ERR_ARG, "batchnorm: bad shape T=%d D=%d", T, D);
    SB_TRY(sb_ops_check_buf("batchnorm", "x", x, sb_f32((size_t)T * D), &xo, e));
    SB_TRY(sb_ops_check_buf("batchnorm", "running_mean", mean, sb_f32(D), &mo, e));
    SB_TRY(sb_ops_check_buf("batchnorm", "running_var", var, sb_f32(D), &vo, e));
    SB_TRY(sb_ops_check_buf("batchnorm", "weight", w, sb_f32(D), &wo, e));
    SB_TRY(sb_ops_check_buf("batchnorm", "bias", b, sb_f32(D), &bo, e));
    SB_TRY(sb_ops_check_buf("batchnorm", "y", y, sb_f32((size_t)T * D), &yo, e));
    SB_TRY(sb_ops_apart_or_same("batchnorm", "x", x, "y", y, e));
    if (T == 0) return SB_OK;
    SB_TRY(kernels(rt, &ks, e));
    k = ks->k[K_BATCHNORM];
    SB_ARG(k, 0, cT);
    SB_ARG(k, 1, cD);
    SB_ARG(k, 2, x.mem);
    SB_ARG(k, 3, xo);
    SB_ARG(k, 4, mean.mem);
    SB_ARG(k, 5, mo);
    SB_ARG(k, 6, var.mem);
    SB_ARG(k, 7, vo);
    SB_ARG(k, 8, w.mem);
    SB_ARG(k, 9, wo);
    SB_ARG(k, 10, b.mem);
    SB_ARG(k, 11, bo);
    SB_ARG(k, 12, y.mem);
    SB_ARG(k, 13, yo);
    SB_TRY(sb_ops_launch_2d(rt, k, pick_wg(rt, ks, K_BATCHNORM, 0), (size_t)D, (size_t)T, "batchnorm", e));
done:
    return st;
}

sb_status sb_op_bias_act(sb_rt *rt, int T, int F, int ld, sb_buf x, sb_buf bias, int act, sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel k;
    sb_kset *ks;
    cl_ulong xo, bo = 0;
    const cl_int cT = T, cF = F, cld = ld, cact = act, has_bias = bias.mem != NULL;
    if (T < 0 || F < 1 || ld < F)
        SB_FAIL(SB_ERR_ARG, "bias_act: bad shape T=%d F=%d ld=%d", T, F, ld);
    if (act != 0 && act != 1) SB_FAIL(SB_ERR_ARG, "bias_act: unknown activation %d", act);
    SB_TRY(sb_ops_check_buf("bias_act", "x", x, sb_rows_f32((size_t)T, (size_t)ld, (size_t)F), &xo, e));
    if (has_bias) SB_TRY(sb_ops_check_buf("bias_act", "bias", bias, sb_f32(F), &bo, e));
    if (T == 0) return SB_OK;
    SB_TRY(kernels(rt, &ks, e));
    k = ks->k[K_BIAS_ACT];
    SB_ARG(k, 0, cT);
    SB_ARG(k, 1, cF);
    SB_ARG(k, 2, cld);
    SB_ARG(k, 3, x.mem);
    SB_ARG(k, 4, xo);
    /* Without a bias the argument still needs a valid buffer; it is not read. */
    if (has_bias) SB_ARG(k, 5, bias.mem);
    else SB_ARG(k, 5, x.mem);
    SB_ARG(k, 6, bo);
    SB_ARG(k, 7, has_bias);
    SB_ARG(k, 8, cact);
    SB_TRY(sb_ops_launch_2d(rt, k, pick_wg(rt, ks, K_BIAS_ACT, 0), (size_t)F, (size_t)T, "bias_act", e));
done:
    return st;
}

sb_status sb_op_embed(sb_rt *rt, int T, int D, sb_buf ids, sb_buf table, sb_buf y, sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel k;
    sb_kset *ks;
    cl_ulong io, to, yo;
    const cl_int cT = T, cD = D;
    if (T < 0 || D < 1) SB_FAIL(SB_ERR_ARG, "embed: bad shape T=%d D=%d", T, D);
    /* the table's row count is the caller's (it validates the ids): one row at least */
    SB_TRY(sb_ops_check_buf("embed", "ids", ids, sb_i32(T), &io, e));
    SB_TRY(sb_ops_check_buf("embed", "table", table, T ? sb_f32(D) : 0, &to, e));
    SB_TRY(sb_ops_check_buf("embed", "y", y, sb_f32((size_t)T * D), &yo, e));
    SB_TRY(sb_ops_apart("embed", "ids", ids, "y", y, e));
    if (T == 0) return SB_OK;
    SB_TRY(kernels(rt, &ks, e));
    k = ks->k[K_EMBED];
    SB_ARG(k, 0, cT);
    SB_ARG(k, 1, cD);
    SB_ARG(k, 2, ids.mem);
    SB_ARG(k, 3, io);
    SB_ARG(k, 4, table.mem);
    SB_ARG(k, 5, to);
    SB_ARG(k, 6, y.mem);
    SB_ARG(k, 7, yo);
    SB_TRY(sb_ops_launch_2d(rt, k, pick_wg(rt, ks, K_EMBED, 0), (size_t)D, (size_t)T, "embed", e));
done:
    return st;
}

/* Shared checks of the sequence table for pack / unpack / mean_pool. */
static sb_status check_seqs(const char *op, const sb_seqs *s, cl_ulong *so, cl_ulong *lo, sb_err *e) {
    sb_status st;
    if (!s || s->n < 0) return sb_fail(e, SB_ERR_ARG, "%s: no sequence table", op);
    if (s->n == 0) return SB_OK;
    if ((st = sb_ops_check_buf(op, "seqs->d_start", s->d_start, sb_i32(s->n), so, e)) != SB_OK)
        return st;
    return sb_ops_check_buf(op, "seqs->d_len", s->d_len, sb_i32(s->n), lo, e);
}

/* pack and unpack take the same arguments: (src, dst) in that order; `to_packed`
 * says which of them is the packed side (for the sizes). */
static sb_status pack_common(sb_rt *rt, const char *name, int to_packed, const sb_seqs *s, int L, int F,
                             sb_buf src, sb_buf dst, sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel k;
    sb_kset *ks;
    cl_ulong so = 0, lo = 0, ao, bo;
    const cl_int cB = s ? s->n : 0, cL = L, cF = F;
    SB_TRY(check_seqs(name, s, &so, &lo, e));
    if (L < 1 || F < 1) SB_FAIL(SB_ERR_ARG, "%s: bad shape L=%d F=%d", name, L, F);
    if (s->n > 0 && s->max_len > L)
        SB_FAIL(SB_ERR_ARG, "%s: longest sequence (%d) exceeds the padded length L=%d", name,
                s->max_len, L);
    {
        const size_t padded = sb_f32((size_t)s->n * L * F), packed = sb_f32((size_t)s->total * F);
        SB_TRY(sb_ops_check_buf(name, "src", src, to_packed ? padded : packed, &ao, e));
        SB_TRY(sb_ops_check_buf(name, "dst", dst, to_packed ? packed : padded, &bo, e));
        SB_TRY(sb_ops_apart(name, "src", src, "dst", dst, e));
    }
    if (s->n == 0) return SB_OK;
    SB_TRY(kernels(rt, &ks, e));
    const int ki = to_packed ? K_PACK : K_UNPACK;
    k = ks->k[ki];
    SB_ARG(k, 0, cB);
    SB_ARG(k, 1, cL);
    SB_ARG(k, 2, cF);
    SB_ARG(k, 3, s->d_start.mem);
    SB_ARG(k, 4, so);
    SB_ARG(k, 5, s->d_len.mem);
    SB_ARG(k, 6, lo);
    SB_ARG(k, 7, src.mem);
    SB_ARG(k, 8, ao);
    SB_ARG(k, 9, dst.mem);
    SB_ARG(k, 10, bo);
    SB_TRY(sb_ops_launch_2d(rt, k, pick_wg(rt, ks, ki, 0), (size_t)F, (size_t)s->n * (size_t)L, name, e));
done:
    return st;
}

sb_status sb_op_pack(sb_rt *rt, const sb_seqs *s, int L, int F, sb_buf padded, sb_buf packed, sb_err *e) {
    return pack_common(rt, "pack", 1, s, L, F, padded, packed, e);
}

sb_status sb_op_unpack(sb_rt *rt, const sb_seqs *s, int L, int F, sb_buf packed, sb_buf padded, sb_err *e) {
    return pack_common(rt, "unpack", 0, s, L, F, packed, padded, e);
}

sb_status sb_op_mean_pool(sb_rt *rt, const sb_seqs *s, int D, sb_buf x, sb_buf y, sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel k;
    sb_kset *ks;
    cl_ulong so = 0, lo = 0, xo, yo;
    const cl_int cD = D;
    SB_TRY(check_seqs("mean_pool", s, &so, &lo, e));
    if (D < 1) SB_FAIL(SB_ERR_ARG, "mean_pool: bad feature count D=%d", D);
    SB_TRY(sb_ops_check_buf("mean_pool", "x", x, sb_f32((size_t)s->total * D), &xo, e));
    SB_TRY(sb_ops_check_buf("mean_pool", "y", y, sb_f32((size_t)s->n * D), &yo, e));
    SB_TRY(sb_ops_apart("mean_pool", "x", x, "y", y, e));
    if (s->n == 0) return SB_OK;
    SB_TRY(kernels(rt, &ks, e));
    k = ks->k[K_MEAN_POOL];
    {
        const size_t wg = pick_wg(rt, ks, K_MEAN_POOL, sizeof(float));
        const size_t cx = min_sz(min_sz(min_sz(sb_pow2_ceil((size_t)D), POOL_MAX_CX), wg),
                                 sb_pow2_floor(rt->dev.max_wi[0] ? rt->dev.max_wi[0] : 1));
        size_t ry = min_sz(wg / cx, sb_pow2_floor(rt->dev.max_wi[1] ? rt->dev.max_wi[1] : 1));
        if (ry < 1) ry = 1;
        const size_t lws[2] = {cx, ry};
        const size_t gws[2] = {sb_round_up((size_t)D, cx), (size_t)s->n * ry};
        SB_ARG(k, 0, cD);
        SB_ARG(k, 1, s->d_start.mem);
        SB_ARG(k, 2, so);
        SB_ARG(k, 3, s->d_len.mem);
        SB_ARG(k, 4, lo);
        SB_ARG(k, 5, x.mem);
        SB_ARG(k, 6, xo);
        SB_ARG(k, 7, y.mem);
        SB_ARG(k, 8, yo);
        SB_ARG_LOCAL(k, 9, cx * ry * sizeof(float));
        SB_TRY(sb_rt_launch(rt, k, 2, gws, lws, "mean_pool", e));
    }
done:
    return st;
}
