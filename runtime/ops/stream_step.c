/* stream_step.c - host side of cl/stream_step.cl (see stream_step.h). */
#include "stream_step.h"

sb_status sb_stream_step_kernels(sb_rt *rt, sb_kset **out, sb_err *e) {
    static const char *const names[SB_STEP_K_COUNT] = {"ema_step", "norm_ema_step"};
    static const int key[SB_KSET_KEY] = {0};
    *out = sb_rt_kset_find(rt, SB_KSET_STREAM, key);
    if (*out) return SB_OK;
    return sb_rt_kset_make(rt, SB_KSET_STREAM, key, "stream_step", NULL, NULL, names, SB_STEP_K_COUNT,
                           NULL, out, e);
}

/* A buffer the kernel takes without an offset argument must start at 0. */
static sb_status whole(const char *op, const char *name, sb_buf b, size_t bytes, sb_err *e) {
    cl_ulong o;
    sb_status st = sb_ops_check_buf(op, name, b, bytes, &o, e);
    if (st == SB_OK && o != 0)
        return sb_fail(e, SB_ERR_ARG, "%s: %s must start at offset 0 (got %zu bytes)", op, name, b.off);
    return st;
}

size_t sb_op_norm_ema_step_wg(sb_rt *rt, int D, sb_err *e) {
    sb_kset *ks;
    if (!rt || D < 1) return 0;
    if (sb_stream_step_kernels(rt, &ks, e) != SB_OK) return 0;
    size_t want = sb_pow2_ceil((size_t)D);
    if (want > 256) want = 256;
    size_t nt = sb_ops_wg(rt, ks, SB_STEP_K_NORM_EMA, want);
    if (nt * sizeof(float) > rt->dev.local_mem) return 0;
    return nt;
}

sb_status sb_op_ema_step(sb_rt *rt, const sb_ema_coef *p, long pos, sb_buf state, sb_buf x,
                         sb_buf norm_w, sb_buf norm_b, sb_buf xn, sb_buf xring, sb_buf mx,
                         sb_err *e) {
    sb_status st = SB_OK;
    static const char *op = "ema step";
    sb_kset *ks;
    cl_kernel k;
    if (!rt || !p) SB_FAIL(SB_ERR_ARG, "%s: NULL runtime or coefficients", op);
    if (p->bidir) SB_FAIL(SB_ERR_STATE, "%s: a bidirectional EMA cannot run one token at a time", op);
    if (p->D < 1 || p->N < 1 || p->truncation < 0 || pos < 0)
        SB_FAIL(SB_ERR_ARG, "%s: bad shape D=%d N=%d truncation=%d pos=%ld", op, p->D, p->N,
                p->truncation, pos);
    const size_t D = (size_t)p->D, N = (size_t)p->N;
    const int fused = norm_w.mem != NULL;
    cl_ulong xo = 0, mo = 0;
    SB_TRY(whole(op, "coef", p->coef, sb_f32(3 * D * N), e));
    SB_TRY(whole(op, "omega", p->omega, sb_f32(D), e));
    SB_TRY(whole(op, "state", state, sb_f32(D * N), e));
    SB_TRY(sb_ops_check_buf(op, "x", x, sb_f32(D), &xo, e));
    SB_TRY(sb_ops_check_buf(op, "mx", mx, sb_f32(D), &mo, e));
    const int trunc = p->truncation, slot = trunc > 0 ? (int)(pos % trunc) : 0;
    const int have_old = trunc > 0 && pos >= trunc, Di = p->D, Ni = p->N;
    /* without truncation the kernel never touches xring: any valid buffer */
    const sb_buf xr = trunc > 0 ? xring : state;
    if (trunc > 0) SB_TRY(whole(op, "xring", xring, sb_f32((size_t)trunc * D), e));
    if (fused) {
        const size_t nt = sb_op_norm_ema_step_wg(rt, Di, e);
        if (nt == 0) SB_FAIL(SB_ERR_ARG, "%s: the fused LayerNorm does not fit this device", op);
        if (xo || mo) SB_FAIL(SB_ERR_ARG, "%s: x and mx must start at offset 0 with the norm", op);
        SB_TRY(whole(op, "norm weight", norm_w, sb_f32(D), e));
        SB_TRY(whole(op, "norm bias", norm_b, sb_f32(D), e));
        SB_TRY(whole(op, "xn", xn, sb_f32(D), e));
        SB_TRY(sb_stream_step_kernels(rt, &ks, e));
        k = ks->k[SB_STEP_K_NORM_EMA];
        SB_ARG(k, 0, p->coef.mem);
        SB_ARG(k, 1, p->omega.mem);
        SB_ARG(k, 2, state.mem);
        SB_ARG(k, 3, x.mem);
        SB_ARG(k, 4, norm_w.mem);
        SB_ARG(k, 5, norm_b.mem);
        SB_ARG(k, 6, xn.mem);
        SB_ARG(k, 7, mx.mem);
        SB_ARG(k, 8, xr.mem);
        SB_ARG(k, 9, trunc);
        SB_ARG(k, 10, slot);
        SB_ARG(k, 11, have_old);
        SB_ARG(k, 12, Di);
        SB_ARG(k, 13, Ni);
        SB_ARG_LOCAL(k, 14, nt * sizeof(float));
        SB_TRY(sb_rt_launch(rt, k, 1, &nt, &nt, "norm_ema_step", e));
    } else {
        SB_TRY(sb_stream_step_kernels(rt, &ks, e));
        k = ks->k[SB_STEP_K_EMA];
        SB_ARG(k, 0, p->coef.mem);
        SB_ARG(k, 1, p->omega.mem);
        SB_ARG(k, 2, state.mem);
        SB_ARG(k, 3, x.mem);
        SB_ARG(k, 4, xo);
        SB_ARG(k, 5, mx.mem);
        SB_ARG(k, 6, mo);
        SB_ARG(k, 7, xr.mem);
        SB_ARG(k, 8, trunc);
        SB_ARG(k, 9, slot);
        SB_ARG(k, 10, have_old);
        SB_ARG(k, 11, Di);
        SB_ARG(k, 12, Ni);
        SB_TRY(sb_ops_launch_1d(rt, k, sb_ops_wg(rt, ks, SB_STEP_K_EMA, 64), D, "ema_step", e));
    }
done:
    return st;
}
