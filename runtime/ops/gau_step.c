/* gau_step.c - host launchers for cl/gau_step.cl (see gau_step.h): the
 * program is window_attn.cl (ATTN_GAU 1: shapes and the ring attention) then
 * gau_step.cl, planned as the attention's (attn.c, sb_attn_kset). */
#include <math.h>
#include "gau_step.h"
#include "../wtype.h"

#define GAU_STEM "window_attn+gau_step"

enum { KG_STEP, KG_PROJ, KG_ATTN, KG_COMBINE, KG_COUNT };
static const char *const k_gau_names[KG_COUNT] = {"gau_step", "gau_proj", "gau_attn", "gau_combine"};

static sb_status gau_kernels(sb_rt *rt, const sb_attn_cfg *c, int wt, sb_kset **out, sb_err *e) {
    static const char *const fixed[] = {"gau_step", "gau_attn", NULL};
    const sb_attn_prog pg = {GAU_STEM, k_gau_names, KG_COUNT, fixed, 1, wt};
    if (wt < SB_WT_F32 || wt > SB_WT_I8) return sb_fail(e, SB_ERR_ARG, "layer step: unknown weight type %d", wt);
    return sb_attn_kset(rt, c, &pg, out, e);
}

sb_status sb_attn_gau_kernels(sb_rt *rt, const sb_attn_cfg *c, sb_err *e) {
    return sb_attn_gau_kernels_wt(rt, c, SB_WT_F32, e);
}

sb_status sb_attn_gau_kernels_wt(sb_rt *rt, const sb_attn_cfg *c, int wt, sb_err *e) {
    sb_kset *ks;
    sb_status st = sb_attn_check_cfg("layer step", c, e);
    if (st == SB_OK && !c->causal)
        st = sb_fail(e, SB_ERR_STATE, "layer step: a bidirectional layer cannot be decoded one token at a time");
    if (st == SB_OK) st = gau_kernels(rt, c, wt, &ks, e);
    return st;
}

int sb_op_gau_step_split(const sb_rt *rt) { return sb_ops_decode_split(rt); }

/* One projection of the split step over enough work-groups for its slices. */
static sb_status gau_proj(sb_rt *rt, sb_kset *ks, int n, int k, int gate, int act, cl_mem wt,
                          cl_mem b, cl_mem a, cl_mem hxu, cl_mem c, sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel kp = ks->k[KG_PROJ];
    SB_ARG(kp, 0, n);
    SB_ARG(kp, 1, k);
    SB_ARG(kp, 2, gate);
    SB_ARG(kp, 3, act);
    SB_ARG(kp, 4, wt);
    SB_ARG(kp, 5, b);
    SB_ARG(kp, 6, a);
    SB_ARG(kp, 7, hxu);
    SB_ARG(kp, 8, c);
    SB_TRY(sb_ops_launch_1d(rt, kp, sb_ops_wg(rt, ks, KG_PROJ, 64), (size_t)(n + 7) / 8, "gau_proj", e));
done:
    return st;
}

/* gau_step split for GPU-class devices: hx_proj, mx_proj (gated), the
 * attention (one work-group, gated), h_proj (gated), combine. */
static sb_status gau_split(sb_rt *rt, const sb_attn_cfg *c, sb_kset *ks, int D, int pos, int cap,
                           float qdiv, float inv_tau, const sb_gau_w *w, const sb_attn_ring *ring,
                           sb_buf ring_state, sb_buf mx, const sb_gau_work *work, sb_buf x,
                           sb_err *e) {
    sb_status st = SB_OK;
    const int ld = c->Z + 2 * c->H, zero = 0, one = 1;
    const cl_mem hxu = work->hxu.mem, rel_mem = c->rotary ? work->s.mem : w->rel_bias.mem;
    /* ungated: hxu (its output) is not read, mx stands in */
    SB_TRY(gau_proj(rt, ks, D + 2, D, zero, zero, w->hx_wt.mem, w->hx_b.mem, mx.mem, mx.mem, hxu, e));
    SB_TRY(gau_proj(rt, ks, ld, D, one, one, w->mx_wt.mem, w->mx_b.mem, mx.mem, hxu, work->s.mem, e));
    {
        cl_kernel ka = ks->k[KG_ATTN];
        const cl_mem args[] = {hxu, work->s.mem, w->qk_gamma.mem, w->qk_beta.mem, rel_mem,
                               ring->k.mem, ring->v.mem, ring->pos.mem, ring_state.mem, work->ao.mem};
        SB_ARG(ka, 0, pos);
        SB_ARG(ka, 1, cap);
        SB_ARG(ka, 2, qdiv);
        for (cl_uint i = 0; i < sizeof args / sizeof args[0]; i++) SB_ARG(ka, 3 + i, args[i]);
        const size_t lws = (size_t)ks->aux[SB_ATTN_AUX_NT];
        SB_TRY(sb_rt_launch(rt, ka, 1, &lws, &lws, "gau_attn", e));
    }
    SB_TRY(gau_proj(rt, ks, D, c->H, one, zero, w->h_wt.mem, w->h_b.mem, work->ao.mem, hxu,
                    work->g.mem, e));
    {
        cl_kernel kc = ks->k[KG_COMBINE];
        SB_ARG(kc, 0, D);
        SB_ARG(kc, 1, cap);
        SB_ARG(kc, 2, inv_tau);
        SB_ARG(kc, 3, hxu);
        SB_ARG(kc, 4, work->g.mem);
        SB_ARG(kc, 5, x.mem);
        SB_ARG(kc, 6, ring_state.mem);
        SB_TRY(sb_ops_launch_1d(rt, kc, sb_ops_wg(rt, ks, KG_COMBINE, 256), (size_t)D, "gau_combine", e));
    }
done:
    return st;
}

/* A buffer gau_step takes without an offset: present, at offset 0, `bytes` long. */
static sb_status gau_bytes(const char *name, sb_buf b, size_t bytes, sb_err *e) {
    cl_ulong o;
    sb_status st = sb_ops_check_buf("layer step", name, b, bytes, &o, e);
    if (st == SB_OK && o != 0)
        return sb_fail(e, SB_ERR_ARG, "layer step: %s must start at offset 0 (got %zu bytes)", name,
                       b.off);
    return st;
}

/* The same for n floats. */
static sb_status gau_whole(const char *name, sb_buf b, size_t n, sb_err *e) {
    return gau_bytes(name, b, n * sizeof(float), e);
}

sb_status sb_op_gau_step(sb_rt *rt, const sb_attn_cfg *c, int D, float temp, const sb_gau_w *w,
                         const sb_attn_ring *ring, sb_buf ring_state, int pos, sb_buf mx,
                         const sb_gau_work *work, sb_buf x, sb_err *e) {
    sb_status st = SB_OK;
    sb_kset *ks;
    cl_kernel k;
    SB_TRY(sb_attn_check_cfg("layer step", c, e));
    if (!c->causal)
        SB_FAIL(SB_ERR_STATE, "layer step: a bidirectional layer cannot be decoded one token at a time");
    if (!w || !work || !ring) SB_FAIL(SB_ERR_ARG, "layer step: NULL weights, work rows or ring");
    if (D < 1 || pos < 0) SB_FAIL(SB_ERR_ARG, "layer step: bad D=%d or position %d", D, pos);
    if ((long)ring->cap < (long)c->W + 1)
        SB_FAIL(SB_ERR_ARG, "layer step: ring capacity %d is below W+1 = %ld", ring->cap, (long)c->W + 1);
    {
        const size_t Dz = (size_t)D, Z = (size_t)c->Z, H = (size_t)c->H, ld = Z + 2 * H;
        const size_t cap = (size_t)ring->cap;
        if (w->wt < SB_WT_F32 || w->wt > SB_WT_I8) SB_FAIL(SB_ERR_ARG, "layer step: unknown weight type %d", w->wt);
        const sb_wtype t = (sb_wtype)w->wt;
        SB_TRY(gau_bytes("hx_wt", w->hx_wt, sb_wt_bytes(t, (Dz + 2) * Dz, Dz + 2), e));
        SB_TRY(gau_whole("hx_b", w->hx_b, Dz + 2, e));
        SB_TRY(gau_bytes("mx_wt", w->mx_wt, sb_wt_bytes(t, ld * Dz, ld), e));
        SB_TRY(gau_whole("mx_b", w->mx_b, ld, e));
        SB_TRY(gau_bytes("h_wt", w->h_wt, sb_wt_bytes(t, Dz * H, Dz), e));
        SB_TRY(gau_whole("h_b", w->h_b, Dz, e));
        SB_TRY(gau_whole("qk_gamma", w->qk_gamma, 2 * Z, e));
        SB_TRY(gau_whole("qk_beta", w->qk_beta, 2 * Z, e));
        if (!c->rotary) SB_TRY(gau_whole("rel_bias", w->rel_bias, 2 * (size_t)c->P - 1, e));
        SB_TRY(gau_whole("ring.k", ring->k, cap * Z, e));
        SB_TRY(gau_whole("ring.v", ring->v, cap * H, e));
        SB_TRY(gau_whole("ring.pos", ring->pos, cap, e));
        SB_TRY(gau_whole("ring state", ring_state, 3, e));
        SB_TRY(gau_whole("mx", mx, Dz, e));
        SB_TRY(gau_whole("hxu", work->hxu, Dz + 2, e));
        SB_TRY(gau_whole("s", work->s, ld, e));
        SB_TRY(gau_whole("ao", work->ao, H, e));
        SB_TRY(gau_whole("g", work->g, Dz, e));
        SB_TRY(gau_whole("x", x, Dz, e));
    }
    {
        const cl_mem rel_mem = c->rotary ? work->s.mem : w->rel_bias.mem;
        const cl_int cD = D, cpos = pos, ccap = ring->cap;
        const cl_float qdiv = sb_attn_qdiv(c), inv_tau = (cl_float)exp(-(double)temp);
        const cl_mem args[] = {mx.mem, w->hx_wt.mem, w->hx_b.mem, w->mx_wt.mem, w->mx_b.mem,
                               w->h_wt.mem, w->h_b.mem, w->qk_gamma.mem, w->qk_beta.mem, rel_mem,
                               ring->k.mem, ring->v.mem, ring->pos.mem, ring_state.mem,
                               work->hxu.mem, work->s.mem, work->ao.mem, work->g.mem, x.mem};
        SB_TRY(gau_kernels(rt, c, w->wt, &ks, e));
        if (sb_op_gau_step_split(rt)) {
            st = gau_split(rt, c, ks, D, pos, ring->cap, qdiv, inv_tau, w, ring, ring_state, mx, work, x, e);
            goto done;
        }
        k = ks->k[KG_STEP];
        SB_ARG(k, 0, cD);
        SB_ARG(k, 1, cpos);
        SB_ARG(k, 2, ccap);
        SB_ARG(k, 3, qdiv);
        SB_ARG(k, 4, inv_tau);
        for (cl_uint i = 0; i < sizeof args / sizeof args[0]; i++) SB_ARG(k, 5 + i, args[i]);
        const size_t lws = (size_t)ks->aux[SB_ATTN_AUX_NT];
        SB_TRY(sb_rt_launch(rt, k, 1, &lws, &lws, "gau_step", e));
    }
done:
    return st;
}
