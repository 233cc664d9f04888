/* attn.c - host launchers for cl/window_attn.cl: windowed attention over the
 * compressed rows of a batch, the streaming single-query step and the ring
 * loader. Tile sizes come from the device limits (see attn_plan). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attn.h"
#include "../wtype.h"

#define ATTN_STEM "window_attn"
#define ATTN_MAX_NT 256     /* largest work-group tried */
#define ATTN_MIN_NT 32      /* smallest work-group chosen for small H (if the device allows) */
#define ATTN_ACC 64         /* private accumulators per work-item (TQ * NHS) */
#define ATTN_MAX_TQ 32
#define ATTN_MIN_TK 16
#define ATTN_MAX_TK 128
#define ATTN_MAX_ZS 128

/* Compile-time shape of the kernels for one (cfg, device). */
typedef struct attn_plan {
    int nt, tq, tk, zs;
    int rq, rvw, rnv;       /* attn_reg: rows per item, vector width, vectors per chunk */
    int gau;                /* the program of gau_step alone (ATTN_GAU) */
    int wt;                 /* gau: the projections' weight type (sb_wtype) */
    char *defines;          /* malloc'd */
} attn_plan;

static int pow2_floor_i(size_t n) {
    int p = 1;
    while ((size_t)p * 2 <= n && p < (1 << 30)) p *= 2;
    return p;
}

static int pow2_ceil_i(int n) {
    int p = 1;
    while (p < n && p < (1 << 30)) p *= 2;
    return p;
}

static size_t window_local_bytes(int tq, int tk, int zs) {
    return sizeof(float) * ((size_t)tq * zs + (size_t)tk * (zs + 1) + (size_t)tq * tk + 7u * tq + tk);
}

sb_status sb_attn_check_cfg(const char *op, const sb_attn_cfg *c, sb_err *e) {
    if (!c) return sb_fail(e, SB_ERR_ARG, "%s: cfg is NULL", op);
    if (c->Z < 1 || c->H < 1 || c->W < 1)
        return sb_fail(e, SB_ERR_ARG, "%s: bad shape Z=%d H=%d W=%d (each must be >= 1)", op, c->Z,
                       c->H, c->W);
    if (!c->rotary && c->P < 1)
        return sb_fail(e, SB_ERR_ARG, "%s: max_positions P=%d must be >= 1 for the simple bias", op,
                       c->P);
    if ((size_t)c->Z + 2 * (size_t)c->H > (size_t)(1 << 30))
        return sb_fail(e, SB_ERR_ARG, "%s: row of Z+2H=%zu floats is too long", op,
                       (size_t)c->Z + 2 * (size_t)c->H);
    return SB_OK;
}


float sb_attn_qdiv(const sb_attn_cfg *c) {
    if (c->softmax) return sqrtf((float)c->Z);
    return c->causal ? (float)c->W : 2.0f * (float)c->W;
}

/* Tile sizes for a work-group of nt items (power of two). */
static void plan_tiles(sb_rt *rt, const sb_attn_cfg *c, int nt, attn_plan *p) {
    const int nhs = (c->H + nt - 1) / nt;
    int tq = ATTN_ACC / nhs;
    if (tq > ATTN_MAX_TQ) tq = ATTN_MAX_TQ;
    if (tq < 1) tq = 1;
    /* a short window gains nothing from many rows per group (causal waste) */
    const int wcap = c->W >= 64 ? 64 : pow2_ceil_i(c->W + 1 > 4 ? c->W + 1 : 4);
    if (tq > wcap) tq = wcap;
    int tk = pow2_floor_i((size_t)(nt / tq));
    if (tk < ATTN_MIN_TK) tk = ATTN_MIN_TK;
    if (tk > ATTN_MAX_TK) tk = ATTN_MAX_TK;
    if (tk > nt) tk = nt; /* the score mapping needs NT % TK == 0 (both powers of two) */
    int zs = c->Z < ATTN_MAX_ZS ? c->Z : ATTN_MAX_ZS;
    size_t budget = rt->dev.local_mem ? (size_t)rt->dev.local_mem : 16384;
    budget = budget > 1024 ? budget - 1024 : budget; /* room for the implementation */
    while (zs > 8 && window_local_bytes(tq, tk, zs) > budget) zs = (zs + 1) / 2;
    while (tk > 4 && window_local_bytes(tq, tk, zs) > budget) tk /= 2;
    while (tq > 1 && window_local_bytes(tq, tk, zs) > budget) tq /= 2;
    p->nt = nt;
    p->tq = tq;
    p->tk = tk;
    p->zs = zs;
    const unsigned vw = rt->dev.native_vec_float;
    p->rvw = vw >= 16 ? 16 : vw >= 8 ? 8 : vw >= 4 ? 4 : vw >= 2 ? 2 : 1;
    p->rnv = 2;
    p->rq = p->rvw >= 16 ? 12 : 6;
    /* rt->tune.attn_tiles (SEQBOAT_ATTN=reg:RQ,RVW,RNV) set attn_reg's tiles
     * (tuning, tests; checked when the rt was made) */
    const int *t = rt->tune.attn_tiles;
    if (t[0] > 0) p->rq = t[0], p->rvw = t[1], p->rnv = t[2];
}

#define ATTN_REG_PRIVATE_MAX (64 * 1024) /* bytes of private scores per work-item */

/* attn_reg (CPU class) or attn_window: rt->tune.attn (SEQBOAT_ATTN=reg|lds) forces one; by
 * default CPU devices take attn_reg while its private score rows stay small
 * (a window of thousands of keys goes to attn_window).
 * Known driver problem: on Mesa rusticl (llvmpipe, Mesa 22.3 as in Debian 12)
 * attn_reg gives wrong values for some shapes and tiles, bidirectional and
 * causal alike: with the demo LM's shape (Z 64, H 256, W 64, causal softmax)
 * and the default tiles RQ 6, RVW 8, RNV 2, every row whose window reaches
 * the 41st key of its item's span is off (keys from the 41st on get wrong
 * scores); RQ 12 / RVW 8 and RQ 6 / RVW 4 fail too, RQ 6 with RVW 16 or
 * RNV 4 and RQ 1-5, 7 pass. The same build is right on PoCL and silent under
 * Oclgrind, and no layout of the private scores changes it, so it is taken
 * for a driver fault: attention on rusticl always takes attn_window, even
 * when SEQBOAT_ATTN=reg asks for attn_reg (test_attn case "demo_shape"). */
static int use_reg(const sb_rt *rt, const sb_attn_cfg *c, const attn_plan *p) {
    const int forced = rt->tune.attn;
    const size_t span = (size_t)c->W * (c->causal ? 1u : 2u) + (size_t)p->rq;
    const int fits = span * (size_t)p->rq * sizeof(float) <= ATTN_REG_PRIVATE_MAX;
    if (strstr(rt->dev.platform_name, "rusticl")) return 0;
    if (forced == SB_TUNE_LDS) return 0;
    if (forced == SB_TUNE_REG) return fits;
    return fits && (rt->dev.type & CL_DEVICE_TYPE_CPU) != 0;
}

static sb_status plan_defines(const sb_attn_cfg *c, attn_plan *p, sb_err *e) {
    const int nf = (c->rotary && c->Z >= 2) ? c->Z / 2 : 0;
    const char *wdef = p->gau ? sb_wt_cl_defines((sb_wtype)p->wt) : "";
    const size_t cap = 512 + (size_t)nf * 32 + strlen(wdef);
    free(p->defines);
    p->defines = malloc(cap);
    if (!p->defines) return sb_fail(e, SB_ERR_HOST_MEMORY, "attention: out of host memory");
    size_t len = (size_t)snprintf(p->defines, cap, "%s", wdef);
    len += (size_t)snprintf(p->defines + len, cap - len,
                                  "#define Z %d\n#define H %d\n#define W %d\n#define CAUSAL %d\n"
                                  "#define SOFTMAX %d\n#define ROTARY %d\n#define P %d\n"
                                  "#define NT %d\n#define TQ %d\n#define TK %d\n#define ZS %d\n"
                                  "#define RQ %d\n#define RVW %d\n#define RNV %d\n"
                                  "#define ATTN_GAU %d\n",
                                  c->Z, c->H, c->W, c->causal ? 1 : 0, c->softmax ? 1 : 0,
                                  c->rotary ? 1 : 0, c->rotary ? 1 : c->P, p->nt, p->tq, p->tk, p->zs,
                                  p->rq, p->rvw, p->rnv, p->gau ? 1 : 0);
    if (nf > 0) {
        /* f_m = 1/10000^(2m/Z) in float32 steps (as the reference does), as
         * exact hex literals */
        len += (size_t)snprintf(p->defines + len, cap - len, "#define ROT_FREQ {");
        for (int m = 0; m < nf; m++) {
            const float f = 1.0f / powf(10000.0f, (float)(2 * m) / (float)c->Z);
            len += (size_t)snprintf(p->defines + len, cap - len, "%s%af", m ? "," : "", (double)f);
        }
        len += (size_t)snprintf(p->defines + len, cap - len, "}\n");
    }
    if (len >= cap) return sb_fail(e, SB_ERR_INTERNAL, "attention: define buffer too small");
    return SB_OK;
}

/* Largest work-group the kernel accepts, 0 on query failure. */
static size_t kernel_wg(sb_rt *rt, cl_kernel k) {
    size_t wg = 0;
    if (clGetKernelWorkGroupInfo(k, rt->dev.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) !=
        CL_SUCCESS)
        return 0;
    return wg;
}

/* The program's kernels, in this order, and the launch data kept with them.
 * gau_step is built in a program of its own (window_attn+gau_step, ATTN_GAU
 * 1, key[7] = 1; gau_step.c), which leaves these kernels out, and theirs
 * leave it out. */
enum { K_PREP, K_WINDOW, K_REG, K_STEP, K_RING, K_COUNT };
enum { A_NT, A_TQ, A_TK, A_ZS, A_RQ, A_RVW, A_RNV, A_USE_REG };
static const char *const k_names[K_COUNT] = {"attn_prep", "attn_window", "attn_reg", "attn_step",
                                             "attn_ring_append"};

/* The kernel set of a program of a cfg on this rt (attn.h): on first use,
 * choose the plan (tiles from the device's limits), build the program and
 * fetch every kernel; shrinks the work-group while a compiled kernel with a
 * required size (attn_window, attn_step; gau_step, gau_attn) refuses it, so
 * all kernels of a set share one program. Later calls find the set by the
 * cfg's integers. */
sb_status sb_attn_kset(sb_rt *rt, const sb_attn_cfg *c, const sb_attn_prog *pg, sb_kset **out,
                       sb_err *e) {
    const char *const *fixed = pg->fixed;
    const int gau = pg->gau;
    const int key[SB_KSET_KEY] = {c->Z, c->H, c->W, c->causal ? 1 : 0, c->softmax ? 1 : 0,
                                  c->rotary ? 1 : 0, c->rotary ? 1 : c->P, gau ? 1 : 0, gau ? pg->wt : 0};
    *out = sb_rt_kset_find(rt, SB_KSET_ATTN, key);
    if (*out) return SB_OK;
    sb_status st = SB_OK;
    attn_plan plan = {0};
    size_t lim = rt->dev.max_wg ? rt->dev.max_wg : 1;
    if (rt->dev.max_wi[0] && rt->dev.max_wi[0] < lim) lim = rt->dev.max_wi[0];
    if (lim > ATTN_MAX_NT) lim = ATTN_MAX_NT;
    int nt = pow2_floor_i(lim);
    const int want = pow2_ceil_i(c->H < ATTN_MIN_NT ? ATTN_MIN_NT : c->H);
    if (nt > want) nt = want;
    for (;;) {
        int ok = 1;
        plan_tiles(rt, c, nt, &plan);
        plan.gau = gau;
        plan.wt = gau ? pg->wt : 0;
        SB_TRY(plan_defines(c, &plan, e));
        for (int i = 0; fixed[i] && ok && nt > 1; i++) {
            cl_kernel kf;
            st = sb_rt_kernel(rt, pg->stem, plan.defines, fixed[i], &kf, e);
            if (st != SB_OK) {
                sb_err_prefix(e, "kernel %s of ", fixed[i]);
                goto done;
            }
            const size_t kw = kernel_wg(rt, kf);
            if (kw != 0 && kw < (size_t)nt) ok = 0;
        }
        if (ok) break;
        nt /= 2;
    }
    {
        const int aux[SB_KSET_AUX] = {plan.nt, plan.tq, plan.tk, plan.zs, plan.rq, plan.rvw, plan.rnv,
                                      use_reg(rt, c, &plan)};
        SB_TRY(sb_rt_kset_make(rt, SB_KSET_ATTN, key, pg->stem, NULL, plan.defines, pg->names,
                               pg->n, aux, out, e));
    }
done:
    free(plan.defines);
    return st;
}

static sb_status kernels(sb_rt *rt, const sb_attn_cfg *c, sb_kset **out, sb_err *e) {
    static const char *const fixed[] = {"attn_window", "attn_step", NULL};
    static const sb_attn_prog pg = {ATTN_STEM, k_names, K_COUNT, fixed, 0, 0};
    return sb_attn_kset(rt, c, &pg, out, e);
}

sb_status sb_attn_kernels(sb_rt *rt, const sb_attn_cfg *c, sb_err *e) {
    sb_kset *ks;
    sb_status st = sb_attn_check_cfg("attention", c, e);
    if (st == SB_OK) st = kernels(rt, c, &ks, e);
    return st;
}

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

size_t sb_op_attn_scratch_k_off(const sb_attn_cfg *c, int M) {
    if (!c || M <= 0 || c->Z < 1) return 0;
    return round16((size_t)M * (size_t)c->Z) * sizeof(float);
}

size_t sb_op_attn_scratch_bytes(sb_rt *rt, const sb_attn_cfg *c, int n_seq, int M) {
    (void)rt;
    (void)n_seq;
    if (!c || M <= 0 || c->Z < 1) return 0;
    return 2 * sb_op_attn_scratch_k_off(c, M) + round16(2 * (size_t)M) * sizeof(cl_int);
}

sb_status sb_op_attn(sb_rt *rt, const sb_attn_cfg *c, int n_seq, int M, sb_buf cstart,
                     sb_buf crow_pos, sb_buf s, sb_buf qk_gamma, sb_buf qk_beta, sb_buf rel_bias,
                     sb_buf out, sb_buf scratch, sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel kp, kw;
    cl_ulong cso, cpo, so, go, bo, ro = 0, oo, sco;
    SB_TRY(sb_attn_check_cfg("attention", c, e));
    if (n_seq < 1 || M < 0) SB_FAIL(SB_ERR_ARG, "attention: bad batch n_seq=%d M=%d", n_seq, M);
    if (M == 0) return SB_OK;
    {
        const size_t Mz = (size_t)M, row = (size_t)c->Z + 2 * (size_t)c->H;
        SB_TRY(sb_ops_check_buf("attention", "cstart", cstart, sb_i32((size_t)n_seq + 1), &cso, e));
        SB_TRY(sb_ops_check_buf("attention", "crow_pos", crow_pos, sb_i32(Mz), &cpo, e));
        SB_TRY(sb_ops_check_buf("attention", "s", s, sb_f32(Mz * row), &so, e));
        SB_TRY(sb_ops_check_buf("attention", "qk_gamma", qk_gamma, sb_f32(2 * (size_t)c->Z), &go, e));
        SB_TRY(sb_ops_check_buf("attention", "qk_beta", qk_beta, sb_f32(2 * (size_t)c->Z), &bo, e));
        SB_TRY(sb_ops_check_buf("attention", "out", out, sb_f32(Mz * (size_t)c->H), &oo, e));
        SB_TRY(sb_ops_check_buf("attention", "scratch", scratch, sb_op_attn_scratch_bytes(rt, c, n_seq, M),
                                &sco, e));
        if (!c->rotary)
            SB_TRY(sb_ops_check_buf("attention", "rel_bias", rel_bias, sb_f32(2 * (size_t)c->P - 1), &ro, e));
        const char *in[] = {"cstart", "crow_pos", "s", "out"};
        const sb_buf ib[] = {cstart, crow_pos, s, out};
        for (int i = 0; i < 4; i++) {
            if (i < 3) SB_TRY(sb_ops_apart("attention", in[i], ib[i], "out", out, e));
            SB_TRY(sb_ops_apart("attention", in[i], ib[i], "scratch", scratch, e));
        }
    }
    {
        const cl_mem rel_mem = c->rotary ? s.mem : rel_bias.mem; /* never read when rotary */
        const cl_ulong qo = sco, ko = sco + sb_op_attn_scratch_k_off(c, M) / 4,
                       wo = sco + 2 * (sb_op_attn_scratch_k_off(c, M) / 4);
        const cl_int cM = M, cn = n_seq;
        const cl_float qdiv = sb_attn_qdiv(c);

        sb_kset *ks;
        SB_TRY(kernels(rt, c, &ks, e));
        kp = ks->k[K_PREP];
        SB_ARG(kp, 0, cM);
        SB_ARG(kp, 1, cn);
        SB_ARG(kp, 2, qdiv);
        SB_ARG(kp, 3, cstart.mem);
        SB_ARG(kp, 4, cso);
        SB_ARG(kp, 5, crow_pos.mem);
        SB_ARG(kp, 6, cpo);
        SB_ARG(kp, 7, s.mem);
        SB_ARG(kp, 8, so);
        SB_ARG(kp, 9, qk_gamma.mem);
        SB_ARG(kp, 10, go);
        SB_ARG(kp, 11, qk_beta.mem);
        SB_ARG(kp, 12, bo);
        SB_ARG(kp, 13, scratch.mem);
        SB_ARG(kp, 14, qo);
        SB_ARG(kp, 15, scratch.mem);
        SB_ARG(kp, 16, ko);
        SB_ARG(kp, 17, scratch.mem);
        SB_ARG(kp, 18, wo);
        {
            const size_t n = (size_t)M * (size_t)((c->Z + 1) / 2);
            SB_TRY(sb_ops_launch_1d(rt, kp, sb_ops_wg(rt, ks, K_PREP, 256), n, "attn_prep", e));
        }

        const int reg = ks->aux[A_USE_REG];
        kw = ks->k[reg ? K_REG : K_WINDOW];
        SB_ARG(kw, 0, cM);
        SB_ARG(kw, 1, crow_pos.mem);
        SB_ARG(kw, 2, cpo);
        SB_ARG(kw, 3, s.mem);
        SB_ARG(kw, 4, so);
        SB_ARG(kw, 5, scratch.mem);
        SB_ARG(kw, 6, qo);
        SB_ARG(kw, 7, scratch.mem);
        SB_ARG(kw, 8, ko);
        SB_ARG(kw, 9, scratch.mem);
        SB_ARG(kw, 10, wo);
        SB_ARG(kw, 11, rel_mem);
        SB_ARG(kw, 12, ro);
        SB_ARG(kw, 13, out.mem);
        SB_ARG(kw, 14, oo);
        if (reg) {
            const size_t rq = (size_t)ks->aux[A_RQ], items = ((size_t)M + rq - 1) / rq;
            SB_TRY(sb_ops_launch_1d(rt, kw, 1, items, "attn_reg", e));
        } else {
            const size_t tq = (size_t)ks->aux[A_TQ], groups = ((size_t)M + tq - 1) / tq;
            const size_t nt = (size_t)ks->aux[A_NT];
            SB_TRY(sb_ops_launch_1d(rt, kw, nt, groups * nt, "attn_window", e));
        }
    }
done:
    return st;
}

static sb_status check_ring(const char *op, const sb_attn_cfg *c, const sb_attn_ring *r, cl_ulong *ko,
                            cl_ulong *vo, cl_ulong *po, sb_err *e) {
    sb_status st = SB_OK;
    if (!r) return sb_fail(e, SB_ERR_ARG, "%s: ring is NULL", op);
    if ((long)r->cap < (long)c->W + 1)
        return sb_fail(e, SB_ERR_ARG, "%s: ring capacity %d is below W+1 = %ld", op, r->cap,
                       (long)c->W + 1);
    if (r->head < 0 || r->head >= r->cap || r->n < 0 || r->n > c->W)
        return sb_fail(e, SB_ERR_ARG, "%s: ring state head=%d n=%d out of range (cap %d, W %d)", op,
                       r->head, r->n, r->cap, c->W);
    SB_TRY(sb_ops_check_buf(op, "ring.k", r->k, sb_f32((size_t)r->cap * (size_t)c->Z), ko, e));
    SB_TRY(sb_ops_check_buf(op, "ring.v", r->v, sb_f32((size_t)r->cap * (size_t)c->H), vo, e));
    SB_TRY(sb_ops_check_buf(op, "ring.pos", r->pos, sb_i32((size_t)r->cap), po, e));
done:
    return st;
}

sb_status sb_op_attn_step(sb_rt *rt, const sb_attn_cfg *c, sb_attn_ring *ring, int pos, sb_buf s,
                          sb_buf qk_gamma, sb_buf qk_beta, sb_buf rel_bias, sb_buf out, sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel k;
    cl_ulong so, go, bo, ro = 0, oo, kro, vro, pro;
    SB_TRY(sb_attn_check_cfg("attention step", c, e));
    if (!c->causal)
        SB_FAIL(SB_ERR_STATE, "attention step: a bidirectional layer cannot be decoded one token at a time");
    if (pos < 0) SB_FAIL(SB_ERR_ARG, "attention step: negative position %d", pos);
    SB_TRY(check_ring("attention step", c, ring, &kro, &vro, &pro, e));
    SB_TRY(sb_ops_check_buf("attention step", "s", s, sb_f32((size_t)c->Z + 2 * (size_t)c->H), &so, e));
    SB_TRY(sb_ops_check_buf("attention step", "qk_gamma", qk_gamma, sb_f32(2 * (size_t)c->Z), &go, e));
    SB_TRY(sb_ops_check_buf("attention step", "qk_beta", qk_beta, sb_f32(2 * (size_t)c->Z), &bo, e));
    SB_TRY(sb_ops_check_buf("attention step", "out", out, sb_f32((size_t)c->H), &oo, e));
    if (!c->rotary)
        SB_TRY(sb_ops_check_buf("attention step", "rel_bias", rel_bias, sb_f32(2 * (size_t)c->P - 1), &ro, e));
    {
        const cl_mem rel_mem = c->rotary ? s.mem : rel_bias.mem;
        const cl_int cpos = pos, chead = ring->head, cn = ring->n, ccap = ring->cap;
        const cl_float qdiv = sb_attn_qdiv(c);
        sb_kset *ks;
        SB_TRY(kernels(rt, c, &ks, e));
        k = ks->k[K_STEP];
        SB_ARG(k, 0, cpos);
        SB_ARG(k, 1, chead);
        SB_ARG(k, 2, cn);
        SB_ARG(k, 3, ccap);
        SB_ARG(k, 4, qdiv);
        SB_ARG(k, 5, s.mem);
        SB_ARG(k, 6, so);
        SB_ARG(k, 7, qk_gamma.mem);
        SB_ARG(k, 8, go);
        SB_ARG(k, 9, qk_beta.mem);
        SB_ARG(k, 10, bo);
        SB_ARG(k, 11, rel_mem);
        SB_ARG(k, 12, ro);
        SB_ARG(k, 13, ring->k.mem);
        SB_ARG(k, 14, kro);
        SB_ARG(k, 15, ring->v.mem);
        SB_ARG(k, 16, vro);
        SB_ARG(k, 17, ring->pos.mem);
        SB_ARG(k, 18, pro);
        SB_ARG(k, 19, out.mem);
        SB_ARG(k, 20, oo);
        const size_t nt = (size_t)ks->aux[A_NT];
        SB_TRY(sb_ops_launch_1d(rt, k, nt, nt, "attn_step", e));
        if (ring->n < c->W) ring->n++;
        else ring->head = (ring->head + 1) % ring->cap;
    }
done:
    return st;
}

sb_status sb_op_attn_ring_append(sb_rt *rt, const sb_attn_cfg *c, sb_attn_ring *ring, int n_rows,
                                 sb_buf s, sb_buf crow_pos, sb_buf qk_gamma, sb_buf qk_beta,
                                 sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel k;
    cl_ulong so, cpo, go, bo, kro, vro, pro;
    SB_TRY(sb_attn_check_cfg("attention ring append", c, e));
    SB_TRY(check_ring("attention ring append", c, ring, &kro, &vro, &pro, e));
    if (n_rows < 0) SB_FAIL(SB_ERR_ARG, "attention ring append: negative row count %d", n_rows);
    if (n_rows == 0) return SB_OK;
    SB_TRY(sb_ops_check_buf("attention ring append", "s", s,
                            sb_f32((size_t)n_rows * ((size_t)c->Z + 2 * (size_t)c->H)), &so, e));
    SB_TRY(sb_ops_check_buf("attention ring append", "crow_pos", crow_pos, sb_i32((size_t)n_rows), &cpo, e));
    SB_TRY(sb_ops_check_buf("attention ring append", "qk_gamma", qk_gamma, sb_f32(2 * (size_t)c->Z), &go, e));
    SB_TRY(sb_ops_check_buf("attention ring append", "qk_beta", qk_beta, sb_f32(2 * (size_t)c->Z), &bo, e));
    {
        const int first = n_rows > c->W ? n_rows - c->W : 0;
        const cl_int cnr = n_rows, cfirst = first, cbase = (ring->head + ring->n) % ring->cap,
                     ccap = ring->cap;
        const int zp = (c->Z + 1) / 2;
        const size_t per = (size_t)(zp > c->H ? zp : c->H);
        sb_kset *ks;
        SB_TRY(kernels(rt, c, &ks, e));
        k = ks->k[K_RING];
        SB_ARG(k, 0, cnr);
        SB_ARG(k, 1, cfirst);
        SB_ARG(k, 2, cbase);
        SB_ARG(k, 3, ccap);
        SB_ARG(k, 4, s.mem);
        SB_ARG(k, 5, so);
        SB_ARG(k, 6, crow_pos.mem);
        SB_ARG(k, 7, cpo);
        SB_ARG(k, 8, qk_gamma.mem);
        SB_ARG(k, 9, go);
        SB_ARG(k, 10, qk_beta.mem);
        SB_ARG(k, 11, bo);
        SB_ARG(k, 12, ring->k.mem);
        SB_ARG(k, 13, kro);
        SB_ARG(k, 14, ring->v.mem);
        SB_ARG(k, 15, vro);
        SB_ARG(k, 16, ring->pos.mem);
        SB_ARG(k, 17, pro);
        SB_TRY(sb_ops_launch_1d(rt, k, sb_ops_wg(rt, ks, K_RING, 256), (size_t)(n_rows - first) * per,
                                "attn_ring_append", e));
        const long total = (long)ring->n + n_rows;
        const long keep = total < c->W ? total : c->W;
        ring->head = (int)(((long)ring->head + (total - keep)) % ring->cap);
        ring->n = (int)keep;
    }
done:
    return st;
}
