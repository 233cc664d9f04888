/* model.c - the activation plan and the forward schedule (weights on the device:
 * model_load.c).
 *
 * Activations are packed rows (ops/ops.h): only valid tokens occupy rows, so no
 * projection, norm or scan ever runs on padding. Per layer:
 *   1 norm(x) -> xn (prenorm)          6 gemm mx_c -> s, bias + silu
 *   2 ema(xn) -> mx                     7 windowed attention s -> ao (= o * r)
 *   3 gemm mx -> hxu, bias              8 gemm ao -> g, bias
 *   4 gate + compaction (M rows)        9 combine: x = silu(hx + w*g + x), postnorm
 *   5 gather mx rows -> mx_c
 * Steps 5-8 run over the M compressed rows in chunks (with a W-row halo of keys
 * on each side) so the widest buffers are bounded by the chunk, not by M.
 * Steps 5-8 repeat per chunk, so every buffer they touch is planned live over
 * the whole of steps 5-8. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "model.h"
#include "ops/gate.h"
#include "ops/norm.h"
#include "ops/ops_rt.h"
#include "ops/pos_head.h"
#include "ops/stream_step.h"
#include "ops/embed_wt.h"
#include "wtype.h"

#define DEFAULT_CHUNK_BUDGET ((size_t)192 << 20)

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void sb_model_impl_plan_release(sb_fwd_plan *fp) {
    sb_arena_release(&fp->arena);
    sb_plan_free(fp->plan);
    memset(fp, 0, sizeof *fp);
}

/* ---- activation plan ------------------------------------------------------ */

sb_attn_cfg sb_model_attn_cfg(const sb_config *c) {
    /* local: the bias of compressed-index differences -W..W is a simple bias
     * with P = W + 1 over indices (model_load.c uploads that slice) */
    sb_attn_cfg a = {c->d_qk, c->d_hidden, c->mem_size, !c->bidirectional, c->softmax, c->rotary,
                     c->rel_local ? c->mem_size + 1 : c->max_positions};
    return a;
}

sb_ema_coef sb_model_ema_coef(const sb_model_impl *m, int li) {
    sb_ema_coef p;
    memset(&p, 0, sizeof p);
    p.coef = sb_view_all(m->layers ? m->layers[li].ema_coef : NULL);
    p.omega = sb_view_all(m->layers ? m->layers[li].omega : NULL);
    p.D = m->cfg.d_model;
    p.N = m->cfg.d_ema;
    p.bidir = m->cfg.bidirectional;
    p.truncation = m->cfg.truncation;
    return p;
}

#define S(step) (1u << SB_STEP_##step)
#define CHUNK_STEPS (S(MX_PROJ) | S(ATTN) | S(H_PROJ))

/* A buffer's lifetime [first, last] from the steps that touch it: from the
 * first to the last of them; the GAU chunk steps repeat per chunk, so a buffer
 * one of them touches lives over all of them. */
static void plan_steps(unsigned steps, int *first, int *last) {
    if (steps & CHUNK_STEPS) steps |= CHUNK_STEPS;
    *first = *last = -1;
    for (int s = 0; s < SB_STEP_COUNT; s++)
        if (steps & (1u << s)) {
            if (*first < 0) *first = s;
            *last = s;
        }
}

static const char *step_name(int s) {
    static const char *names[SB_STEP_COUNT] = {
        "input", "prenorm", "ema", "hx_proj", "gate", "mx_proj", "attn", "h_proj", "chunk_end",
        "combine", "final", "decoder", "output"};
    return s >= 0 && s < SB_STEP_COUNT ? names[s] : "?";
}

sb_status sb_model_impl_plan(sb_model_impl *m, int T, int B, size_t BL, size_t *peak, sb_err *e) {
    sb_status st = SB_OK;
    sb_fwd_plan *fp = &m->fp;
    const sb_config *c = &m->cfg;
    if (fp->plan && T <= fp->T_cap && B <= fp->B_cap && BL <= fp->BL_cap) {
        if (peak) *peak = sb_plan_peak(fp->plan);
        return SB_OK;
    }
    if (fp->plan) {
        if (T < fp->T_cap) T = fp->T_cap;
        if (B < fp->B_cap) B = fp->B_cap;
        if (BL < fp->BL_cap) BL = fp->BL_cap;
    }
    sb_model_impl_plan_release(fp);
    size_t D = (size_t)c->d_model, Z = (size_t)c->d_qk, H = (size_t)c->d_hidden;
    size_t W = (size_t)c->mem_size, F = (size_t)(sb_config_token_input(c) ? 0 : c->d_input);
    size_t Dout = (size_t)c->d_output, Tz = (size_t)T, Bz = (size_t)B;
    size_t budget = m->chunk_budget ? m->chunk_budget : DEFAULT_CHUNK_BUDGET;
    size_t per_row = sizeof(float) * (D + (Z + 2 * H) + H) + 2 * Z * sizeof(float) + 8;
    size_t halo = c->bidirectional ? 2 * W : W;
    size_t rows = budget / per_row;
    if (rows < halo + W) rows = halo + W;
    if (rows > Tz + W) rows = Tz + W; /* + a carried halo (model_block.c) */
    fp->chunk_cap = (int)rows;
    sb_attn_cfg ac = sb_model_attn_cfg(c);
    sb_ema_coef ec = sb_model_ema_coef(m, 0);
    size_t fl = sizeof(float), in = sizeof(int32_t);
    /* Every buffer with the steps that touch it (read or write, by any path
     * that runs on the plan: forward, blocked forward, streaming prefill).
     * Its lifetime is derived from them (plan_steps); PB refuses an access at
     * a step not named here, so the table cannot drift from the code. */
    struct { int id; size_t bytes; unsigned steps; const char *name; } req[] = {
        {B_INPAD, F ? BL * F * fl : 0, S(INPUT), "input (padded)"},
        {B_XE, F ? Tz * F * fl : 0, S(INPUT), "input (packed)"},
        {B_IDS, F ? 0 : Tz * in, S(INPUT), "token ids"},
        /* read through the sequence table by the ops of every step */
        {B_START, Bz * in, S(INPUT) | S(OUTPUT), "sequence starts"},
        {B_LEN, Bz * in, S(INPUT) | S(OUTPUT), "sequence lengths"},
        {B_X, Tz * D * fl, S(INPUT) | S(PRENORM) | S(EMA) | S(COMBINE) | S(FINAL) | S(DECODER), "x"},
        {B_XN, c->prenorm ? Tz * D * fl : 0, S(PRENORM) | S(EMA), "x normed"},
        {B_MX, (Tz + W) * D * fl, S(EMA) | S(HX_PROJ) | S(GATE) | S(MX_PROJ) | S(CHUNK_END), "mx"},
        {B_EMA_SCR, sb_op_ema_scratch_bytes(&ec, B, T), S(EMA), "ema scratch"},
        {B_HXU, Tz * (D + 2) * fl, S(HX_PROJ) | S(GATE) | S(COMBINE), "hx_proj out"},
        {B_W, Tz * fl, S(GATE) | S(COMBINE), "gate weights"},
        {B_CIDX, Tz * in, S(GATE) | S(COMBINE), "compressed index"},
        {B_CTOK, (Tz + W) * in, S(GATE) | S(MX_PROJ) | S(CHUNK_END), "compressed tokens"},
        {B_CPOS, (Tz + W) * in, S(GATE) | S(ATTN) | S(CHUNK_END), "compressed positions"},
        {B_CSTART, (Bz + 1) * in, S(GATE) | S(MX_PROJ) | S(ATTN) | S(H_PROJ), "compressed starts"},
        {B_CSTART_CH, (Bz + 1) * in, S(MX_PROJ) | S(ATTN), "chunk starts"},
        {B_CMP_SCR, sb_op_compact_scratch_bytes(m->rt, T), S(GATE), "compaction scratch"},
        {B_MXC, rows * D * fl, S(MX_PROJ), "mx compressed"},
        {B_S, rows * (Z + 2 * H) * fl, S(MX_PROJ) | S(ATTN) | S(CHUNK_END), "mx_proj out"},
        {B_AO, rows * H * fl, S(ATTN) | S(H_PROJ), "attention out"},
        {B_ATT_SCR, sb_op_attn_scratch_bytes(m->rt, &ac, B, (int)rows), S(ATTN), "attention scratch"},
        {B_G, (Tz + W) * D * fl, S(H_PROJ) | S(COMBINE), "h_proj out"},
        {B_XF, c->prenorm ? Tz * D * fl : 0, S(FINAL) | S(DECODER), "final norm"},
        {B_Y, c->task == SB_TASK_CLASSIFY ? Bz * Dout * fl : Tz * Dout * fl, S(DECODER) | S(OUTPUT),
         "decoder out"},
        {B_POOL, c->task == SB_TASK_CLASSIFY ? Bz * D * fl : 0, S(FINAL) | S(DECODER), "pooled"},
        {B_OUTPAD, c->task == SB_TASK_CLASSIFY ? 0 : BL * Dout * fl, S(OUTPUT), "output (padded)"},
    };
    SB_TRY(sb_plan_create(m->rt->dev.mem_align_bytes < 4 ? 4 : m->rt->dev.mem_align_bytes,
                          (size_t)m->rt->dev.max_alloc, &fp->plan, e));
    for (int i = 0; i < B_COUNT; i++) fp->id[i] = -1;
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        if (req[i].bytes == 0) continue;
        int first, last;
        plan_steps(req[i].steps, &first, &last);
        fp->steps[req[i].id] = req[i].steps;
        fp->name[req[i].id] = req[i].name;
        int id = sb_plan_add(fp->plan, req[i].name, req[i].bytes, first, last, e);
        if (id < 0) {
            st = e ? e->status : SB_ERR_INTERNAL;
            goto done;
        }
        fp->id[req[i].id] = id;
    }
    SB_TRY(sb_plan_solve(fp->plan, e));
    if (sb_plan_peak(fp->plan) > m->rt->dev.global_mem)
        SB_FAIL(SB_ERR_DEVICE_MEMORY,
                "activations for %d tokens need %zu bytes, more than the %llu bytes of global "
                "memory on '%s'",
                T, sb_plan_peak(fp->plan), (unsigned long long)m->rt->dev.global_mem, m->rt->dev.name);
    SB_TRY(sb_arena_alloc(m->rt, fp->plan, &fp->arena, e));
    fp->T_cap = T;
    fp->B_cap = B;
    fp->BL_cap = BL;
    if (peak) *peak = sb_plan_peak(fp->plan);
    return SB_OK;
done:
    sb_model_impl_plan_release(fp);
    return st;
}

/* The plan's buffer `which` (a view of its planned bytes), touched at the
 * current step fp.step: a step its table entry does not name gets no view
 * and marks the pass as broken (plan_check). */
sb_buf sb_model_pb(sb_model_impl *m, int which) {
    sb_fwd_plan *fp = &m->fp;
    if (fp->id[which] < 0) return sb_view_none();
    if (fp->step < 0 || fp->step >= SB_STEP_COUNT || !(fp->steps[which] & (1u << fp->step))) {
        if (!fp->bad_buf) fp->bad_buf = which + 1, fp->bad_step = fp->step;
        return sb_view_none();
    }
    fp->touched[fp->step] |= 1u << which;
    return sb_arena_buf(&fp->arena, fp->plan, fp->id[which]);
}

static sb_buf PB(sb_model_impl *m, int which) { return sb_model_pb(m, which); }

static void set_step(sb_model_impl *m, sb_step s) { m->fp.step = (int)s; }

/* SB_ERR_INTERNAL when a buffer was touched outside its planned steps (the
 * error replaces whatever the op said about the missing view). */
static sb_status plan_check(sb_model_impl *m, sb_status st, sb_err *e) {
    sb_fwd_plan *fp = &m->fp;
    if (!fp->bad_buf) return st;
    return sb_fail(e, SB_ERR_INTERNAL,
                   "activation plan: step %s touched buffer '%s', which the plan does not give "
                   "that step (runtime/model.c, the plan's table)",
                   step_name(fp->bad_step), fp->name[fp->bad_buf - 1] ? fp->name[fp->bad_buf - 1] : "?");
}


static sb_status norm_rows(sb_model_impl *m, const sb_dev_norm *n, int T, sb_buf x, sb_buf y,
                           sb_err *e) {
    int D = m->cfg.d_model;
    if (m->cfg.norm == SB_NORM_BATCH)
        return sb_op_batchnorm(m->rt, T, D, x, sb_view_all(n->mean), sb_view_all(n->var),
                               sb_view_all(n->w), sb_view_all(n->b), y, e);
    if (m->cfg.norm == SB_NORM_SCALE || m->cfg.norm == SB_NORM_RMS)
        return sb_op_rms_norm(m->rt, T, D, m->cfg.norm == SB_NORM_RMS, x, sb_view_all(n->w), y, e);
    return sb_op_layernorm(m->rt, T, D, x, sb_view_all(n->w), sb_view_all(n->b), y, e);
}

/* C[rows x n] = act(A[rows x k] @ W[n x k]^T + bias) (buffers + byte offsets). */
static sb_status linear(sb_model_impl *m, size_t rows, sb_buf a, size_t lda, const sb_linear_w *w,
                        int act, sb_buf c, size_t ldc, sb_err *e) {
    return sb_op_linear(m->rt, rows, a, lda, w, act, c, ldc, e);
}

/* ---- the layer: one table of steps, run by every path -------------------
 *
 * layer_steps[] lists the layer's steps in order, named by sb_step. Each
 * entry says what the step runs for packed rows (the full forward, the
 * streaming prefill, a block of a long sequence with its carry) and for one
 * token (the streaming decode). The GAU steps run once per chunk of
 * compressed rows (chunk_steps[]). For one token, hx_proj through combine
 * are one launch (sb_op_gau_step: the router decision stays on the device),
 * entered at SB_STEP_HX_PROJ; the steps it covers have no token entry.
 * A new model option changes the step it concerns, for all paths at once. */

typedef struct layer_ctx {
    sb_model_impl *m;
    sb_rt *rt;
    const sb_config *c;
    sb_dev_layer *L;
    int li;
    /* packed rows (seqs) or one token (tok) */
    const sb_seqs *seqs;
    const sb_layer_capture *cap;
    sb_layer_carry *carry;
    sb_token *tok;
    sb_layer_state *ls;      /* tok's state of this layer */
    /* handed from step to step */
    int T, Bn;
    size_t D, H, SW, W;
    size_t h;                /* carried halo rows in front of the block's rows */
    sb_buf x, xin, mx, mxb, hxu;
    int *hcs, upload_all, M;
    sb_buf mdev;             /* the compaction's count on the device (cstart[Bn]) when
                                the host never reads it; none: M is exact */
    int fused_norm;          /* token: the prenorm LayerNorm runs inside the EMA step */
    size_t last_h0;
    /* the current chunk: compressed rows [r0, r1) with keys from h0, n rows */
    size_t r0, r1, h0;
    int n;
    sb_buf cst;
} layer_ctx;

typedef sb_status (*layer_fn)(layer_ctx *x, sb_err *e);

/* Packed rows: the views handed from step to step, bound afresh for each step
 * (model->fp.step) and only where its table entry names the buffer (no view
 * otherwise: an op given it refuses it). */
static sb_buf PB_if(sb_model_impl *m, int which) {
    return m->fp.steps[which] & (1u << m->fp.step) ? PB(m, which) : sb_view_none();
}

static void bind_rows(layer_ctx *x) {
    sb_model_impl *m = x->m;
    x->x = PB_if(m, B_X);
    x->xin = x->c->prenorm ? PB_if(m, B_XN) : x->x;
    x->mx = PB_if(m, B_MX);
    /* with a carry the block's mx rows start after W halo rows */
    x->mxb = x->carry ? sb_at_row(x->mx, x->W, x->D) : x->mx;
    x->hxu = PB_if(m, B_HXU);
}

static sb_status step_prenorm(layer_ctx *x, sb_err *e) {
    if (!x->c->prenorm) return SB_OK;
    x->xin = PB(x->m, B_XN);
    return norm_rows(x->m, &x->L->norm, x->T, x->x, x->xin, e);
}

static sb_status token_prenorm(layer_ctx *x, sb_err *e) {
    if (!x->c->prenorm) return SB_OK;
    x->xin = x->tok->xn;
    if (x->fused_norm) return SB_OK; /* token_ema norms */
    return norm_rows(x->m, &x->L->norm, 1, x->x, x->xin, e);
}

static sb_status step_ema(layer_ctx *x, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = x->c;
    sb_ema_coef ec = sb_model_ema_coef(x->m, x->li);
    sb_buf state_out = sb_view_none(), state_in = sb_view_none();
    if (x->cap) state_out = x->cap->ema_state;
    if (x->carry) state_in = state_out = x->carry->ema_state;
    SB_TRY(sb_op_ema_ex(x->rt, x->seqs, &ec, x->xin, x->mxb, PB(x->m, B_EMA_SCR), state_in,
                        state_out, e));
    if (x->cap && x->cap->xin_ring.mem && c->truncation > 0)
        SB_TRY(sb_model_capture_tail(x->rt, x->xin, x->T, (int)x->D, c->truncation, x->cap->xin_ring, e));
done:
    return st;
}

static sb_status token_ema(layer_ctx *x, sb_err *e) {
    sb_ema_coef ec = sb_model_ema_coef(x->m, x->li);
    sb_buf none = sb_view_none();
    sb_layer_state *ls = x->ls;
    if (x->fused_norm)
        return sb_op_ema_step(x->rt, &ec, x->tok->pos, ls->ema_state, x->x, sb_view_all(x->L->norm.w),
                              sb_view_all(x->L->norm.b), x->xin, ls->xin_ring, x->mx, e);
    return sb_op_ema_step(x->rt, &ec, x->tok->pos, ls->ema_state, x->xin, none, none, none,
                          ls->xin_ring, x->mx, e);
}

static sb_status step_hx_proj(layer_ctx *x, sb_err *e) {
    return linear(x->m, (size_t)x->T, x->mxb, x->D, &x->L->hx, 0, x->hxu, x->D + 2, e);
}

/* Whether this layer's GAU can run without the host reading the compacted
 * count: not the CPU class (unless m->count_on_host is -1: there the read is
 * cheap, while launches for every token pay for the empty work-groups past
 * the count: 1.40x the forward at L = 1024 and 1.04x at L = 4096, 25% share,
 * on PoCL, `seqboat bench --methods sma`), one
 * chunk for every token (so the launches can be sized for all T),
 * no block carry and no ring to seed (both copy exactly M rows), and products
 * that take their row count from the device (the own GEMM, not CLBlast). The
 * kernels then stop at the device's count: gather_rows, linear, attn_prep's
 * windows (cstart[Bn]); combine only reads activated rows. */
static int count_stays(const layer_ctx *x) {
    const sb_model_impl *m = x->m;
    if (m->count_on_host > 0 || (m->count_on_host == 0 && (x->rt->dev.type & CL_DEVICE_TYPE_CPU)))
        return 0;
    return !x->carry && !(x->cap && x->cap->ring) &&
           x->T <= m->fp.chunk_cap && sb_linear_rows_on_device(x->rt, &x->L->mx) &&
           sb_linear_rows_on_device(x->rt, &x->L->h);
}

static sb_status step_gate(layer_ctx *x, sb_err *e) {
    sb_status st = SB_OK;
    sb_model_impl *m = x->m;
    sb_rt *rt = x->rt;
    int Bn = x->Bn;
    const int stays = count_stays(x);
    x->hcs = malloc(sizeof(int) * (size_t)(Bn + 1));
    if (!x->hcs) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    if (m->router_hook)
        SB_TRY(m->router_hook(m->router_hook_user, rt, x->seqs, x->hxu, (int)(x->D + 2), e));
    SB_TRY(sb_op_gate_compact(rt, x->seqs, x->hxu, (int)(x->D + 2), x->L->temp, PB(m, B_W),
                              PB(m, B_CIDX), sb_at_int(PB(m, B_CTOK), x->h), sb_at_int(PB(m, B_CPOS), x->h),
                              PB(m, B_CSTART), stays ? NULL : x->hcs, PB(m, B_CMP_SCR), e));
    m->stats[x->li].tokens = x->T;
    m->counts_wait[x->li] = (unsigned char)stays;
    if (stays) {
        /* launches sized for every token; the count goes with the forward's
         * output to the host (sb_model_impl_pass) */
        x->mdev = sb_at_int(PB(m, B_CSTART), (size_t)Bn);
        x->M = x->T;
        cl_int err = clEnqueueCopyBuffer(rt->queue, x->mdev.mem, m->counts, x->mdev.off,
                                         sb_i32((size_t)x->li), sb_i32(1), 0, NULL, NULL);
        if (err != CL_SUCCESS)
            SB_FAIL(SB_ERR_OPENCL, "keeping the activated count: %s", sb_cl_error_string(err));
        if (x->c->rel_local) SB_TRY(sb_op_iota(rt, x->M, 0, sb_at_int(PB(m, B_CPOS), x->h), e));
        goto done;
    }
    m->stats[x->li].activated = x->hcs[Bn];
    if (x->c->rel_local) /* local: the bias reads compressed indices, not positions */
        SB_TRY(sb_op_iota(rt, x->hcs[Bn], 0, sb_at_int(PB(m, B_CPOS), x->h), e));
    if (x->carry) { /* one sequence: the halo rows join the block's compressed rows */
        SB_TRY(sb_model_carry_in(m, x->carry, x->hcs[1], e));
        x->hcs[1] += (int)x->h;
        x->upload_all = 1;
    }
    x->M = x->hcs[Bn];
done:
    return st;
}

/* GAU chunk steps (rows [r0, r1) of the compressed sequence, keys from h0). */
static sb_status chunk_mx_proj(layer_ctx *x, sb_err *e) {
    sb_status st = SB_OK;
    sb_model_impl *m = x->m;
    x->rt->phase = SB_PHASE_GATE;
    SB_TRY(sb_op_gather_rows_dev(x->rt, x->mx, (int)x->D, sb_at_int(PB(m, B_CTOK), x->h0), x->n, x->mdev,
                                 (int)x->D, PB(m, B_MXC), (int)x->D, e));
    x->rt->phase = SB_PHASE_PROJ;
    SB_TRY(sb_op_linear_rows(m->rt, (size_t)x->n, x->mdev, PB(m, B_MXC), x->D, &x->L->mx, 1, PB(m, B_S),
                             x->SW, e));
done:
    return st;
}

static sb_status chunk_attn(layer_ctx *x, sb_err *e) {
    sb_model_impl *m = x->m;
    sb_attn_cfg ac = sb_model_attn_cfg(x->c);
    sb_dev_layer *L = x->L;
    return sb_op_attn(x->rt, &ac, x->Bn, x->n, x->cst, sb_at_int(PB(m, B_CPOS), x->h0), PB(m, B_S),
                      sb_view_all(L->qk_g), sb_view_all(L->qk_b), sb_view_all(L->rel), PB(m, B_AO), PB(m, B_ATT_SCR), e);
}

static sb_status chunk_h_proj(layer_ctx *x, sb_err *e) {
    sb_model_impl *m = x->m;
    /* with the count on the device there is one chunk (r0 = h0 = 0) */
    return sb_op_linear_rows(m->rt, x->r1 - x->r0, x->mdev, sb_at_row(PB(m, B_AO), x->r0 - x->h0, x->H),
                             x->H, &x->L->h, 0, sb_at_row(PB(m, B_G), x->r0, x->D), x->D, e);
}

static const struct {
    sb_step step;
    int phase;
    layer_fn run;
} chunk_steps[] = {
    {SB_STEP_MX_PROJ, SB_PHASE_PROJ, chunk_mx_proj},
    {SB_STEP_ATTN, SB_PHASE_ATTN, chunk_attn},
    {SB_STEP_H_PROJ, SB_PHASE_PROJ, chunk_h_proj},
};

static sb_status run_chunk(layer_ctx *x, sb_err *e) {
    sb_status st = SB_OK;
    for (size_t i = 0; i < sizeof chunk_steps / sizeof chunk_steps[0]; i++) {
        x->rt->phase = chunk_steps[i].phase;
        set_step(x->m, chunk_steps[i].step);
        SB_TRY(chunk_steps[i].run(x, e));
    }
done:
    return st;
}

/* The GAU over the compressed rows, chunk by chunk (with a W-row halo of keys
 * in front, and behind when bidirectional). */
static sb_status step_gau(layer_ctx *x, sb_err *e) {
    sb_status st = SB_OK;
    size_t M = (size_t)x->M, W = x->W;
    size_t right = x->c->bidirectional ? W : 0;
    size_t chunk = (size_t)x->m->fp.chunk_cap;
    size_t step = chunk > W + right ? chunk - W - right : 1;
    if (M <= chunk) step = M;
    /* The chunks' sequence starts go to the device without waiting, each from
     * its own host slot. They are written only when the gate's blocking read
     * of the compacted count (step_gate) has drained the queue (a count kept
     * on the device means one chunk at h0 = 0 with the device's starts), so
     * no write of an earlier layer still reads the staging: it may grow and
     * be reused here. */
    const size_t slot = (size_t)x->Bn + 1, n_chunks = M ? (M + step - 1) / step : 0;
    sb_model_impl *m = x->m;
    if (n_chunks * slot > m->chunk_starts_cap) {
        int *p = realloc(m->chunk_starts, sizeof(int) * n_chunks * slot);
        if (!p) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
        m->chunk_starts = p;
        m->chunk_starts_cap = n_chunks * slot;
    }
    for (size_t r0 = 0, ci = 0; r0 < M; r0 += step, ci++) {
        size_t r1 = r0 + step < M ? r0 + step : M;
        size_t h0 = r0 > W ? r0 - W : 0;
        size_t h1 = r1 + right < M ? r1 + right : M;
        if (M <= chunk) h0 = 0, h1 = M;
        x->r0 = r0, x->r1 = r1, x->h0 = h0, x->n = (int)(h1 - h0);
        x->last_h0 = h0;
        set_step(x->m, SB_STEP_MX_PROJ); /* the chunk's first step */
        x->cst = PB(x->m, B_CSTART);
        if (x->upload_all || h0 != 0 || h1 != M) {
            int *hch = m->chunk_starts + ci * slot;
            for (int b = 0; b <= x->Bn; b++) {
                long v = (long)x->hcs[b] - (long)h0;
                hch[b] = v < 0 ? 0 : (v > x->n ? x->n : (int)v);
            }
            x->cst = PB(x->m, B_CSTART_CH);
            SB_TRY(sb_rt_write_async(x->rt, x->cst.mem, x->cst.off, sb_i32(slot), hch, e));
        }
        SB_TRY(run_chunk(x, e));
    }
done:
    return st;
}

/* After the chunks: seed the streaming ring (prefill), keep the block's halo. */
static sb_status step_chunk_end(layer_ctx *x, sb_err *e) {
    sb_status st = SB_OK;
    sb_model_impl *m = x->m;
    sb_attn_cfg ac = sb_model_attn_cfg(x->c);
    size_t M = (size_t)x->M;
    if (x->cap && x->cap->ring && M > 0) /* the last chunk's s still holds rows [last_h0, M) */
        SB_TRY(sb_op_attn_ring_append(x->rt, &ac, x->cap->ring, (int)(M - x->last_h0), PB(m, B_S),
                                      sb_at_int(PB(m, B_CPOS), x->last_h0), sb_view_all(x->L->qk_g),
                                      sb_view_all(x->L->qk_b), e));
    if (x->carry) SB_TRY(sb_model_carry_out(m, x->carry, x->M, e));
done:
    return st;
}

/* Scatter back and combine into x, then the post-norm. */
static sb_status step_combine(layer_ctx *x, sb_err *e) {
    sb_status st = SB_OK;
    sb_model_impl *m = x->m;
    SB_TRY(sb_op_combine(x->rt, x->T, (int)x->D, sb_skip(x->hxu, sb_f32(2)), (int)(x->D + 2),
                         sb_at_row(PB(m, B_G), x->h, x->D), PB(m, B_W), PB(m, B_CIDX), x->x, x->x, e));
    x->rt->phase = SB_PHASE_OTHER;
    if (!x->c->prenorm) SB_TRY(norm_rows(m, &x->L->norm, x->T, x->x, x->x, e));
done:
    return st;
}

/* One token, SB_STEP_HX_PROJ .. SB_STEP_COMBINE (without the post-norm) in
 * one launch; the decision, the ring's state and the activated count stay on
 * the device. */
static sb_status token_gau(layer_ctx *x, sb_err *e) {
    sb_dev_layer *L = x->L;
    sb_attn_cfg ac = sb_model_attn_cfg(x->c);
    const sb_gau_work work = {x->hxu, x->tok->s, x->tok->ao, x->tok->g};
    x->ls->steps++;
    return sb_op_gau_step(x->rt, &ac, (int)x->D, L->temp, &L->gau, &x->ls->ring, x->ls->ring_state,
                          (int)x->tok->pos, x->mx, &work, x->x, e);
}

static sb_status token_postnorm(layer_ctx *x, sb_err *e) {
    if (x->c->prenorm) return SB_OK;
    x->rt->phase = SB_PHASE_OTHER;
    return norm_rows(x->m, &x->L->norm, 1, x->x, x->x, e);
}

/* The layer (SPEC section 3), in order. */
static const struct {
    sb_step step;
    int phase;
    layer_fn rows;           /* packed rows */
    layer_fn token;          /* one token (NULL: done by an earlier step's launch) */
} layer_steps[] = {
    {SB_STEP_PRENORM, SB_PHASE_OTHER, step_prenorm, token_prenorm},
    {SB_STEP_EMA, SB_PHASE_EMA, step_ema, token_ema},
    {SB_STEP_HX_PROJ, SB_PHASE_PROJ, step_hx_proj, token_gau}, /* token: .. SB_STEP_COMBINE */
    {SB_STEP_GATE, SB_PHASE_GATE, step_gate, NULL},
    {SB_STEP_MX_PROJ, SB_PHASE_PROJ, step_gau, NULL}, /* chunk_steps: MX_PROJ, ATTN, H_PROJ */
    {SB_STEP_CHUNK_END, SB_PHASE_OTHER, step_chunk_end, NULL},
    {SB_STEP_COMBINE, SB_PHASE_GATE, step_combine, token_postnorm},
};

sb_status sb_model_impl_layer(sb_model_impl *m, int li, const sb_seqs *seqs,
                              const sb_layer_capture *cap, sb_layer_carry *carry, sb_token *tok,
                              sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    layer_ctx x;
    memset(&x, 0, sizeof x);
    if ((seqs == NULL) == (tok == NULL))
        return sb_fail(e, SB_ERR_INTERNAL, "layer %d: give either packed rows or one token", li);
    x.m = m, x.rt = m->rt, x.c = c, x.L = &m->layers[li], x.li = li;
    x.seqs = seqs, x.cap = cap, x.carry = carry, x.tok = tok;
    x.D = (size_t)c->d_model, x.H = (size_t)c->d_hidden;
    x.SW = (size_t)c->d_qk + 2 * x.H, x.W = (size_t)c->mem_size;
    double t0 = now_ms();
    if (tok) {
        x.ls = &tok->layers[li];
        x.T = 1, x.Bn = 1;
        x.x = x.xin = tok->x, x.mx = x.mxb = tok->mx, x.hxu = tok->hxu;
        x.fused_norm = m->stream_norm_fused;
    } else {
        x.T = seqs->total, x.Bn = seqs->n;
        x.h = carry ? (size_t)carry->halo_n : 0;
    }
    for (size_t i = 0; i < sizeof layer_steps / sizeof layer_steps[0]; i++) {
        layer_fn run = tok ? layer_steps[i].token : layer_steps[i].rows;
        m->rt->phase = layer_steps[i].phase;
        set_step(m, layer_steps[i].step);
        if (!tok) bind_rows(&x);
        if (run) SB_TRY(run(&x, e));
    }
    m->rt->phase = SB_PHASE_OTHER;
    if (!tok) { /* the queue runs on into the next layer unless timing is asked for */
        m->stats[li].ms = 0;
        if (m->layer_timing || m->rt->profiling) {
            SB_TRY(sb_rt_finish(m->rt, e));
            m->stats[li].ms = now_ms() - t0;
        }
    }
done:
    free(x.hcs);
    return tok ? st : plan_check(m, st, e);
}

/* Validate lengths/ids and build the host sequence table. */
static sb_status make_seqs(const sb_config *c, int B, int L, const int32_t *ids,
                           const int32_t *lengths, int *start, int *len, int *T, sb_err *e) {
    long total = 0;
    for (int b = 0; b < B; b++) {
        int n = lengths ? lengths[b] : L;
        if (n < 1 || n > L)
            return sb_fail(e, SB_ERR_ARG, "lengths[%d] = %d is outside 1..L (L = %d)", b, n, L);
        start[b] = (int)total;
        len[b] = n;
        total += n;
        if (ids)
            for (int t = 0; t < n; t++) {
                int32_t id = ids[(size_t)b * L + t];
                if (id < 0 || id >= c->vocab_size)
                    return sb_fail(e, SB_ERR_ARG,
                                   "token id %d at [%d, %d] is outside the vocabulary 0..%d", id, b,
                                   t, c->vocab_size - 1);
            }
    }
    if (total > (long)0x7fffffff / 4)
        return sb_fail(e, SB_ERR_ARG, "batch of %ld tokens is too large", total);
    *T = (int)total;
    return SB_OK;
}

/* The counts the layers kept on the device (step_gate), once per forward
 * after its output: one read for all layers, into stats[].activated. */
static sb_status read_counts(sb_model_impl *m, sb_err *e) {
    sb_status st = SB_OK;
    const int nl = m->cfg.n_layers;
    int any = 0;
    for (int li = 0; li < nl; li++) any += m->counts_wait[li];
    m->counts_kept = any;
    if (!any) return SB_OK;
    SB_TRY(sb_rt_read(m->rt, m->counts, 0, sb_i32((size_t)nl), m->counts_h, e));
    for (int li = 0; li < nl; li++)
        if (m->counts_wait[li]) {
            const int M = m->counts_h[li];
            if (M < 0 || M > m->stats[li].tokens)
                SB_FAIL(SB_ERR_INTERNAL, "layer %d: device returned M=%d for T=%d", li, M,
                        m->stats[li].tokens);
            m->stats[li].activated = M;
            m->counts_wait[li] = 0;
        }
done:
    return st;
}

sb_status sb_model_impl_pass(sb_model_impl *m, int B, int L, const float *x, const int32_t *ids,
                             const int32_t *lengths, float *out, const sb_layer_capture *caps,
                             sb_layer_carry *carries, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    sb_rt *rt = m->rt;
    int *start = NULL, *len = NULL;
    int32_t *pids = NULL;
    double t0 = now_ms();
    if (B < 1 || L < 1) return sb_fail(e, SB_ERR_ARG, "batch %d x length %d: both must be >= 1", B, L);
    if (!out) return sb_fail(e, SB_ERR_ARG, "output pointer is NULL");
    const int tok_in = sb_config_token_input(c);
    if (tok_in && !ids)
        return sb_fail(e, SB_ERR_ARG, "this %s model takes token ids: token ids are required",
                       sb_task_name(c->task));
    if (!tok_in && !x)
        return sb_fail(e, SB_ERR_ARG, "this is a %s model: float input is required",
                       sb_task_name(c->task));
    if ((size_t)B * (size_t)L > (size_t)1 << 31)
        return sb_fail(e, SB_ERR_ARG, "batch %d x length %d is too large", B, L);
    start = malloc(sizeof(int) * (size_t)B);
    len = malloc(sizeof(int) * (size_t)B);
    if (!start || !len) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    int T = 0;
    SB_TRY(make_seqs(c, B, L, tok_in ? ids : NULL, lengths, start, len, &T, e));
    SB_TRY(sb_model_impl_plan(m, T, B, (size_t)B * L, NULL, e));
    m->fp.bad_buf = 0;
    memset(m->fp.touched, 0, sizeof m->fp.touched);
    set_step(m, SB_STEP_INPUT);
    sb_seqs seqs = {B, start, len, T, 0, PB(m, B_START), PB(m, B_LEN)};
    for (int b = 0; b < B; b++)
        if (len[b] > seqs.max_len) seqs.max_len = len[b];
    /* Input writes do not wait: start, len, pids and the caller's x stay
     * alive until the output's blocking read below (or the drain on failure). */
    SB_TRY(sb_rt_write_async(rt, seqs.d_start.mem, seqs.d_start.off, sb_i32((size_t)B), start, e));
    SB_TRY(sb_rt_write_async(rt, seqs.d_len.mem, seqs.d_len.off, sb_i32((size_t)B), len, e));
    size_t D = (size_t)c->d_model, Dout = (size_t)c->d_output;
    sb_buf xb = PB(m, B_X);
    rt->phase = SB_PHASE_OTHER;
    if (tok_in) {
        pids = malloc(sizeof(int32_t) * (size_t)T);
        if (!pids) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
        for (int b = 0; b < B; b++) memcpy(pids + start[b], ids + (size_t)b * L, sizeof(int32_t) * len[b]);
        sb_buf ib = PB(m, B_IDS);
        SB_TRY(sb_rt_write_async(rt, ib.mem, ib.off, sb_i32((size_t)T), pids, e));
        if (m->wt != SB_WT_F32) /* a table of halves or int8: converted as it is read */
            SB_TRY(sb_op_embed_wt(rt, m->wt, T, (int)D, c->vocab_size, ib, m->embed, xb, e));
        else
            SB_TRY(sb_op_embed(rt, T, (int)D, ib, sb_view_all(m->embed), xb, e));
    } else {
        size_t F = (size_t)c->d_input;
        sb_buf ip = PB(m, B_INPAD), xe = PB(m, B_XE);
        SB_TRY(sb_rt_write_async(rt, ip.mem, ip.off, sb_f32((size_t)B * L * F), x, e));
        SB_TRY(sb_op_pack(rt, &seqs, L, (int)F, ip, xe, e));
        SB_TRY(linear(m, (size_t)T, xe, F, &m->enc, 0, xb, D, e));
    }
    SB_TRY(sb_model_v2_positions(m, &seqs, T, carries ? carries[0].pos0 : 0, xb, e));
    if ((caps || carries) && B != 1) SB_FAIL(SB_ERR_ARG, "state capture needs a single sequence");
    for (int li = 0; li < c->n_layers; li++)
        SB_TRY(sb_model_impl_layer(m, li, &seqs, caps ? &caps[li] : NULL,
                                   carries ? &carries[li] : NULL, NULL, e));
    rt->phase = SB_PHASE_OTHER;
    set_step(m, SB_STEP_FINAL);
    sb_buf xf = xb;
    if (c->prenorm) {
        xf = PB(m, B_XF);
        SB_TRY(norm_rows(m, &m->final_norm, T, xb, xf, e));
    }
    if (c->task == SB_TASK_CLASSIFY) {
        sb_buf pool = PB(m, B_POOL);
        int ready;
        SB_TRY(sb_op_mean_pool(rt, &seqs, (int)D, xf, pool, e));
        set_step(m, SB_STEP_DECODER);
        sb_buf y = PB(m, B_Y);
        SB_TRY(sb_model_v2_head(m, B, PB(m, B_POOL), y, &ready, e));
        if (ready) {
            set_step(m, SB_STEP_OUTPUT);
            y = PB(m, B_Y);
            SB_TRY(sb_rt_read(rt, y.mem, y.off, sb_f32((size_t)B * Dout), out, e));
        }
    } else {
        set_step(m, SB_STEP_DECODER);
        sb_buf y = PB(m, B_Y);
        if (c->prenorm) xf = PB(m, B_XF);
        SB_TRY(linear(m, (size_t)T, xf, D, &m->dec, 0, y, Dout, e));
        set_step(m, SB_STEP_OUTPUT);
        sb_buf op = PB(m, B_OUTPAD);
        SB_TRY(sb_op_unpack(rt, &seqs, L, (int)Dout, PB(m, B_Y), op, e));
        SB_TRY(sb_rt_read(rt, op.mem, op.off, sb_f32((size_t)B * L * Dout), out, e));
    }
    SB_TRY(sb_rt_finish(rt, e));
    SB_TRY(read_counts(m, e));
    m->last_ms = now_ms() - t0;
done:
    if (st != SB_OK) clFinish(rt->queue); /* no write may still read start, len, pids, x */
    free(start);
    free(len);
    free(pids);
    return plan_check(m, st, e);
}

sb_status sb_model_impl_token(sb_model_impl *m, sb_token *tok, const float *x, int32_t id,
                              float *out, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    sb_rt *rt = m->rt;
    size_t D = (size_t)c->d_model;
    rt->phase = SB_PHASE_OTHER; /* SB_STEP_INPUT */
    if (sb_config_token_input(c)) {
        if (id < 0 || id >= c->vocab_size)
            SB_FAIL(SB_ERR_ARG, "token id %d is outside the vocabulary 0..%d", id, c->vocab_size - 1);
        if (m->wt != SB_WT_F32) /* the row converted on the device */
            SB_TRY(sb_op_embed_row_wt(rt, m->wt, (int)D, c->vocab_size, id, m->embed, tok->x, e));
        else {
        /* the embedding row, copied on the device: no host write to wait for */
        const sb_buf row = sb_view(m->embed, sb_f32((size_t)id * D), sb_f32(D));
        if (tok->x.len < row.len) SB_FAIL(SB_ERR_INTERNAL, "embedding a token: the x view is too short");
        cl_int err = clEnqueueCopyBuffer(rt->queue, row.mem, tok->x.mem, row.off, tok->x.off, row.len, 0,
                                         NULL, NULL);
        if (err != CL_SUCCESS)
            SB_FAIL(SB_ERR_OPENCL, "copying the embedding of token %d: %s", id, sb_cl_error_string(err));
        }
    } else {
        size_t F = (size_t)c->d_input;
        if (!x) SB_FAIL(SB_ERR_ARG, "input is NULL");
        SB_TRY(sb_rt_write(rt, tok->in.mem, tok->in.off, sb_f32(F), x, e));
        SB_TRY(linear(m, 1, tok->in, F, &m->enc, 0, tok->x, D, e));
    }
    if (tok->pos > 0x7fffffffL) SB_FAIL(SB_ERR_STATE, "stream position limit reached");
    SB_TRY(sb_model_v2_positions(m, NULL, 1, (int)tok->pos, tok->x, e));
    for (int li = 0; li < c->n_layers; li++) SB_TRY(sb_model_impl_layer(m, li, NULL, NULL, NULL, tok, e));
    rt->phase = SB_PHASE_OTHER; /* SB_STEP_FINAL */
    sb_buf xf = tok->x;
    if (c->prenorm) {
        xf = tok->xn;
        SB_TRY(norm_rows(m, &m->final_norm, 1, tok->x, xf, e));
    }
    /* SB_STEP_DECODER, SB_STEP_OUTPUT */
    SB_TRY(linear(m, 1, xf, D, &m->dec, 0, tok->out, (size_t)c->d_output, e));
    if (out) SB_TRY(sb_rt_read(rt, tok->out.mem, tok->out.off, (size_t)c->d_output * 4, out, e));
done:
    return st;
}
