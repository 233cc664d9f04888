/* model.c - weights on the device, the activation plan, the forward schedule.
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
#include "gemm.h"
#include "model.h"
#include "ops/gate.h"
#include "ops/norm.h"
#include "ops/stream_step.h"

#define DEFAULT_CHUNK_BUDGET ((size_t)192 << 20)

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static sb_status upload(sb_rt *rt, const float *src, size_t n, cl_mem *out, const char *what,
                        sb_err *e) {
    sb_status st = sb_rt_alloc(rt, sb_f32(n), out, what, e);
    if (st == SB_OK) st = sb_rt_write(rt, *out, 0, sb_f32(n), src, e);
    return st;
}

static void rel(cl_mem *m) {
    if (*m) clReleaseMemObject(*m);
    *m = NULL;
}

static sb_status upload_norm(sb_rt *rt, const sb_norm_w *n, int D, sb_dev_norm *o, sb_err *e) {
    sb_status st = SB_OK;
    SB_TRY(upload(rt, n->weight, D, &o->w, "norm.weight", e));
    SB_TRY(upload(rt, n->bias, D, &o->b, "norm.bias", e));
    if (n->mean) SB_TRY(upload(rt, n->mean, D, &o->mean, "norm.running_mean", e));
    if (n->var) SB_TRY(upload(rt, n->var, D, &o->var, "norm.running_var", e));
done:
    return st;
}

static void free_norm(sb_dev_norm *n) {
    rel(&n->w);
    rel(&n->b);
    rel(&n->mean);
    rel(&n->var);
}

static sb_status upload_layer(sb_model_impl *m, int li, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    const sb_layer_w *w = &m->mf->layers[li];
    sb_dev_layer *d = &m->layers[li];
    sb_rt *rt = m->rt;
    int D = c->d_model, N = c->d_ema, Z = c->d_qk, H = c->d_hidden, P = c->max_positions;
    int K = c->bidirectional ? 2 * D : D;
    float *coef = malloc(sizeof(float) * 3 * (size_t)K * N);
    if (!coef) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    sb_ema_coef_host(w->delta, w->alpha, w->beta, w->gamma, K, N, coef);
    SB_TRY(upload(rt, coef, 3 * (size_t)K * N, &d->ema_coef, "ssm coefficients", e));
    SB_TRY(upload_norm(rt, &w->norm, D, &d->norm, e));
    SB_TRY(upload(rt, w->omega, D, &d->omega, "ssm.omega", e));
    if (!c->rotary) SB_TRY(upload(rt, w->rel_pos, 2 * (size_t)P - 1, &d->rel, "rel_pos_bias", e));
    SB_TRY(upload(rt, w->mx_w, (size_t)(Z + 2 * H) * D, &d->mx_w, "mx_proj.weight", e));
    SB_TRY(upload(rt, w->mx_b, (size_t)(Z + 2 * H), &d->mx_b, "mx_proj.bias", e));
    SB_TRY(upload(rt, w->hx_w, (size_t)(D + 2) * D, &d->hx_w, "hx_proj.weight", e));
    SB_TRY(upload(rt, w->hx_b, (size_t)(D + 2), &d->hx_b, "hx_proj.bias", e));
    SB_TRY(upload(rt, w->h_w, (size_t)D * H, &d->h_w, "h_proj.weight", e));
    SB_TRY(upload(rt, w->h_b, (size_t)D, &d->h_b, "h_proj.bias", e));
    SB_TRY(sb_linear_prepare(rt, d->hx_w, d->hx_b, D + 2, D, &d->hx, e));
    SB_TRY(sb_linear_prepare(rt, d->mx_w, d->mx_b, Z + 2 * H, D, &d->mx, e));
    SB_TRY(sb_linear_prepare(rt, d->h_w, d->h_b, D, H, &d->h, e));
    SB_TRY(upload(rt, w->qk_gamma, 2 * (size_t)Z, &d->qk_g, "gamma", e));
    SB_TRY(upload(rt, w->qk_beta, 2 * (size_t)Z, &d->qk_b, "beta", e));
    d->temp = w->temp;
done:
    free(coef);
    return st;
}

static void free_plan(sb_fwd_plan *fp) {
    sb_arena_release(&fp->arena);
    sb_plan_free(fp->plan);
    memset(fp, 0, sizeof *fp);
}

void sb_model_impl_free(sb_model_impl *m) {
    if (!m) return;
    if (m->rt) clFinish(m->rt->queue);
    free_plan(&m->fp);
    if (m->layers) {
        for (int i = 0; i < m->cfg.n_layers; i++) {
            sb_dev_layer *d = &m->layers[i];
            free_norm(&d->norm);
            sb_linear_release(&d->hx);
            sb_linear_release(&d->mx);
            sb_linear_release(&d->h);
            cl_mem *all[] = {&d->ema_coef, &d->omega, &d->rel, &d->mx_w, &d->mx_b, &d->hx_w,
                             &d->hx_b, &d->h_w, &d->h_b, &d->qk_g, &d->qk_b};
            for (size_t j = 0; j < sizeof all / sizeof all[0]; j++) rel(all[j]);
        }
        free(m->layers);
    }
    sb_linear_release(&m->enc);
    sb_linear_release(&m->dec);
    rel(&m->enc_w);
    rel(&m->enc_b);
    rel(&m->embed);
    rel(&m->dec_w);
    rel(&m->dec_b);
    free_norm(&m->final_norm);
    free(m->stats);
    sb_model_file_free(m->mf);
    sb_rt_free(m->rt);
    free(m);
}

static sb_attn_cfg attn_cfg(const sb_config *c);
static sb_ema_coef ema_coef(const sb_model_impl *m, int li);

/* Every kernel this model can launch, resolved now: programs built, kernels
 * created, so a kernel that fails to build fails the load (with the program
 * file, the kernel and the build log in the message), never a forward. */
static sb_status resolve_kernels(sb_model_impl *m, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    sb_rt *rt = m->rt;
    sb_kset *ks;
    sb_attn_cfg ac = attn_cfg(c);
    sb_ema_coef ec = ema_coef(m, 0);
    SB_TRY(sb_norm_kernels(rt, e));
    SB_TRY(sb_ema_kernels(rt, &ec, e));
    SB_TRY(sb_linear_kernels(rt, e));
    SB_TRY(sb_gate_kernels(rt, e));
    SB_TRY(sb_attn_kernels(rt, &ac, e));
    if (!c->bidirectional) {
        SB_TRY(sb_block_carry_kernels(rt, &ks, e)); /* long causal sequences run block by block */
        if (c->task != SB_TASK_CLASSIFY) SB_TRY(sb_stream_step_kernels(rt, &ks, e)); /* streams */
    }
done:
    return st;
}

sb_status sb_model_impl_from_file(sb_model_file *mf, const sb_rt_options *opt, sb_model_impl **out,
                                  sb_err *e) {
    sb_status st = SB_OK;
    *out = NULL;
    sb_model_impl *m = calloc(1, sizeof *m);
    if (!m) {
        sb_model_file_free(mf);
        return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory");
    }
    m->mf = mf;
    m->cfg = mf->cfg;
    const sb_config *c = &m->cfg;
    int D = c->d_model;
    SB_TRY(sb_rt_create(opt, &m->rt, e));
    SB_TRY(resolve_kernels(m, e));
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    m->stats = calloc((size_t)c->n_layers, sizeof *m->stats);
    if (!m->layers || !m->stats) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < c->n_layers; i++) SB_TRY(upload_layer(m, i, e));
    if (c->task == SB_TASK_LM) {
        SB_TRY(upload(m->rt, mf->embed, (size_t)c->vocab_size * D, &m->embed, "embed_tokens.weight", e));
    } else {
        SB_TRY(upload(m->rt, mf->enc_w, (size_t)D * c->d_input, &m->enc_w, "encoder.weight", e));
        SB_TRY(upload(m->rt, mf->enc_b, (size_t)D, &m->enc_b, "encoder.bias", e));
        SB_TRY(sb_linear_prepare(m->rt, m->enc_w, m->enc_b, D, c->d_input, &m->enc, e));
    }
    if (c->prenorm) SB_TRY(upload_norm(m->rt, &mf->final_norm, D, &m->final_norm, e));
    SB_TRY(upload(m->rt, mf->dec_w, (size_t)c->d_output * D, &m->dec_w, "decoder.weight", e));
    SB_TRY(upload(m->rt, mf->dec_b, (size_t)c->d_output, &m->dec_b, "decoder.bias", e));
    SB_TRY(sb_linear_prepare(m->rt, m->dec_w, m->dec_b, c->d_output, D, &m->dec, e));
    *out = m;
    return SB_OK;
done:
    sb_model_impl_free(m);
    return st;
}

sb_status sb_model_impl_create(const char *path, const sb_rt_options *opt, sb_model_impl **out,
                               sb_err *e) {
    sb_model_file *mf = NULL;
    *out = NULL;
    sb_status st = sb_model_file_load(path, &mf, e);
    if (st != SB_OK) return st;
    return sb_model_impl_from_file(mf, opt, out, e);
}

/* ---- activation plan ------------------------------------------------------ */

static sb_attn_cfg attn_cfg(const sb_config *c) {
    sb_attn_cfg a = {c->d_qk, c->d_hidden, c->mem_size, !c->bidirectional, c->softmax, c->rotary,
                     c->max_positions};
    return a;
}

static sb_ema_coef ema_coef(const sb_model_impl *m, int li) {
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
    free_plan(fp);
    size_t D = (size_t)c->d_model, Z = (size_t)c->d_qk, H = (size_t)c->d_hidden;
    size_t W = (size_t)c->mem_size, F = (size_t)(c->task == SB_TASK_LM ? 0 : c->d_input);
    size_t Dout = (size_t)c->d_output, Tz = (size_t)T, Bz = (size_t)B;
    size_t budget = m->chunk_budget ? m->chunk_budget : DEFAULT_CHUNK_BUDGET;
    size_t per_row = sizeof(float) * (D + (Z + 2 * H) + H) + 2 * Z * sizeof(float) + 8;
    size_t halo = c->bidirectional ? 2 * W : W;
    size_t rows = budget / per_row;
    if (rows < halo + W) rows = halo + W;
    if (rows > Tz + W) rows = Tz + W; /* + a carried halo (model_block.c) */
    fp->chunk_cap = (int)rows;
    sb_attn_cfg ac = attn_cfg(c);
    sb_ema_coef ec = ema_coef(m, 0);
    size_t fl = sizeof(float), in = sizeof(int32_t);
    struct { int id; size_t bytes; sb_step first, last; const char *name; } req[] = {
        {B_INPAD, F ? BL * F * fl : 0, SB_STEP_INPUT, SB_STEP_INPUT, "input (padded)"},
        {B_IDS, F ? 0 : Tz * in, SB_STEP_INPUT, SB_STEP_INPUT, "token ids"},
        {B_START, Bz * in, SB_STEP_INPUT, SB_STEP_OUTPUT, "sequence starts"},
        {B_LEN, Bz * in, SB_STEP_INPUT, SB_STEP_OUTPUT, "sequence lengths"},
        {B_X, Tz * D * fl, SB_STEP_INPUT, SB_STEP_OUTPUT, "x"},
        {B_XN, c->prenorm ? Tz * D * fl : 0, SB_STEP_PRENORM, SB_STEP_EMA, "x normed"},
        {B_MX, (Tz + W) * D * fl, SB_STEP_EMA, SB_STEP_CHUNK_END, "mx"},
        {B_EMA_SCR, sb_op_ema_scratch_bytes(&ec, B, T), SB_STEP_EMA, SB_STEP_EMA, "ema scratch"},
        {B_HXU, Tz * (D + 2) * fl, SB_STEP_HX_PROJ, SB_STEP_COMBINE, "hx_proj out"},
        {B_W, Tz * fl, SB_STEP_GATE, SB_STEP_COMBINE, "gate weights"},
        {B_CIDX, Tz * in, SB_STEP_GATE, SB_STEP_COMBINE, "compressed index"},
        {B_CTOK, (Tz + W) * in, SB_STEP_GATE, SB_STEP_CHUNK_END, "compressed tokens"},
        {B_CPOS, (Tz + W) * in, SB_STEP_GATE, SB_STEP_CHUNK_END, "compressed positions"},
        {B_CSTART, (Bz + 1) * in, SB_STEP_GATE, SB_STEP_CHUNK_END, "compressed starts"},
        {B_CSTART_CH, (Bz + 1) * in, SB_STEP_MX_PROJ, SB_STEP_CHUNK_END, "chunk starts"},
        {B_CMP_SCR, sb_op_compact_scratch_bytes(m->rt, T), SB_STEP_GATE, SB_STEP_GATE, "compaction scratch"},
        {B_MXC, rows * D * fl, SB_STEP_MX_PROJ, SB_STEP_CHUNK_END, "mx compressed"},
        {B_S, rows * (Z + 2 * H) * fl, SB_STEP_MX_PROJ, SB_STEP_CHUNK_END, "mx_proj out"},
        {B_AO, rows * H * fl, SB_STEP_MX_PROJ, SB_STEP_CHUNK_END, "attention out"},
        {B_ATT_SCR, sb_op_attn_scratch_bytes(m->rt, &ac, B, (int)rows), SB_STEP_MX_PROJ, SB_STEP_CHUNK_END, "attention scratch"},
        {B_G, (Tz + W) * D * fl, SB_STEP_MX_PROJ, SB_STEP_COMBINE, "h_proj out"},
        {B_XF, c->prenorm ? Tz * D * fl : 0, SB_STEP_FINAL, SB_STEP_DECODER, "final norm"},
        {B_Y, c->task == SB_TASK_CLASSIFY ? Bz * Dout * fl : Tz * Dout * fl, SB_STEP_DECODER, SB_STEP_OUTPUT, "decoder out"},
        {B_POOL, c->task == SB_TASK_CLASSIFY ? Bz * D * fl : 0, SB_STEP_FINAL, SB_STEP_DECODER, "pooled"},
        {B_OUTPAD, c->task == SB_TASK_CLASSIFY ? 0 : BL * Dout * fl, SB_STEP_OUTPUT, SB_STEP_OUTPUT, "output (padded)"},
    };
    SB_TRY(sb_plan_create(m->rt->dev.mem_align_bytes < 4 ? 4 : m->rt->dev.mem_align_bytes,
                          (size_t)m->rt->dev.max_alloc, &fp->plan, e));
    for (int i = 0; i < B_COUNT; i++) fp->id[i] = -1;
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        if (req[i].bytes == 0) continue;
        int id = sb_plan_add(fp->plan, req[i].name, req[i].bytes, req[i].first, req[i].last, e);
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
    free_plan(fp);
    return st;
}

/* The plan's buffer `which` (a view of its planned bytes). */
static sb_buf PB(sb_model_impl *m, int which) {
    if (m->fp.id[which] < 0) return sb_view_none();
    return sb_arena_buf(&m->fp.arena, m->fp.plan, m->fp.id[which]);
}

/* Rows from `row` on of a view of rows `width` floats (resp. ints) wide. */
static sb_buf at_row(sb_buf b, size_t row, size_t width) { return sb_skip(b, sb_f32(row * width)); }
static sb_buf at_int(sb_buf b, size_t i) { return sb_skip(b, sb_i32(i)); }

static sb_status norm_rows(sb_model_impl *m, const sb_dev_norm *n, int T, sb_buf x, sb_buf y,
                           sb_err *e) {
    int D = m->cfg.d_model;
    if (m->cfg.norm == SB_NORM_BATCH)
        return sb_op_batchnorm(m->rt, T, D, x, sb_view_all(n->mean), sb_view_all(n->var),
                               sb_view_all(n->w), sb_view_all(n->b), y, e);
    return sb_op_layernorm(m->rt, T, D, x, sb_view_all(n->w), sb_view_all(n->b), y, e);
}

/* C[rows x n] = act(A[rows x k] @ W[n x k]^T + bias) (buffers + byte offsets). */
static sb_status linear(sb_model_impl *m, size_t rows, sb_buf a, size_t lda, const sb_linear_w *w,
                        int act, sb_buf c, size_t ldc, sb_err *e) {
    return sb_op_linear(m->rt, rows, a, lda, w, act, c, ldc, e);
}

/* Copy the EMA inputs of the last min(T, trunc) tokens of a single sequence into
 * the ring row t % trunc (at most two contiguous copies). */
static sb_status capture_tail(sb_rt *rt, sb_buf xin, int T, int D, int trunc, sb_buf ring,
                              sb_err *e) {
    int first = T > trunc ? T - trunc : 0;
    for (int t = first; t < T;) {
        int slot = t % trunc, n = trunc - slot;
        if (n > T - t) n = T - t;
        const sb_buf src = sb_sub(at_row(xin, (size_t)t, (size_t)D), 0, sb_f32((size_t)n * D));
        const sb_buf dst = sb_sub(at_row(ring, (size_t)slot, (size_t)D), 0, sb_f32((size_t)n * D));
        if (src.len < sb_f32((size_t)n * D) || dst.len < sb_f32((size_t)n * D))
            return sb_fail(e, SB_ERR_INTERNAL, "copying the EMA input tail: a view is too short");
        cl_int err = clEnqueueCopyBuffer(rt->queue, src.mem, dst.mem, src.off, dst.off, src.len, 0,
                                         NULL, NULL);
        if (err != CL_SUCCESS)
            return sb_fail(e, SB_ERR_OPENCL, "copying the EMA input tail: %s", sb_cl_error_string(err));
        t += n;
    }
    return SB_OK;
}

/* Blocked run: put the carried halo in front of the block's rows (mx rows
 * [W-h, W), table entries [0, h)) and make the block's tables absolute. */
static sb_status carry_in(sb_model_impl *m, sb_layer_carry *cr, int M, sb_err *e) {
    sb_status st = SB_OK;
    sb_rt *rt = m->rt;
    size_t D = (size_t)m->cfg.d_model;
    int W = m->cfg.mem_size, h = cr->halo_n;
    sb_buf mx = PB(m, B_MX), ctok = PB(m, B_CTOK), cpos = PB(m, B_CPOS);
    if (h > 0) {
        const sb_buf dst = sb_sub(at_row(mx, (size_t)(W - h), D), 0, sb_f32((size_t)h * D));
        if (dst.len < sb_f32((size_t)h * D))
            SB_FAIL(SB_ERR_INTERNAL, "copying the carried rows: the mx view is too short");
        cl_int err = clEnqueueCopyBuffer(rt->queue, cr->halo_mx, dst.mem, 0, dst.off, dst.len, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            SB_FAIL(SB_ERR_OPENCL, "copying the carried rows: %s", sb_cl_error_string(err));
    }
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
    SB_ARG(k, 4, cr->halo_pos);
    SB_ARG(k, 5, h);
    SB_ARG(k, 6, M);
    SB_ARG(k, 7, W);
    SB_ARG(k, 8, cr->pos0);
    SB_TRY(sb_ops_launch_1d(rt, k, sb_ops_wg(rt, ks, 0, 256), (size_t)(h + M), "block_rows", e));
done:
    return st;
}

/* Keep the last min(W, Mx) compressed rows (mx rows and positions) for the
 * next block. */
static sb_status carry_out(sb_model_impl *m, sb_layer_carry *cr, int Mx, sb_err *e) {
    sb_status st = SB_OK;
    sb_rt *rt = m->rt;
    int D = m->cfg.d_model, W = m->cfg.mem_size;
    int hn = Mx < W ? Mx : W;
    SB_TRY(sb_op_gather_rows(rt, PB(m, B_MX), D, at_int(PB(m, B_CTOK), (size_t)(Mx - hn)), hn, D,
                             sb_view_all(cr->halo_mx), D, e));
    if (hn > 0) {
        const sb_buf src = sb_sub(at_int(PB(m, B_CPOS), (size_t)(Mx - hn)), 0, sb_i32((size_t)hn));
        if (src.len < sb_i32((size_t)hn))
            SB_FAIL(SB_ERR_INTERNAL, "keeping the carried positions: the positions view is too short");
        cl_int err = clEnqueueCopyBuffer(rt->queue, src.mem, cr->halo_pos, src.off, 0, src.len, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            SB_FAIL(SB_ERR_OPENCL, "keeping the carried positions: %s", sb_cl_error_string(err));
    }
    cr->halo_n = hn;
done:
    return st;
}

sb_status sb_model_impl_layer(sb_model_impl *m, int li, const sb_seqs *seqs,
                              const sb_layer_capture *cap, sb_layer_carry *carry, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    sb_dev_layer *L = &m->layers[li];
    sb_rt *rt = m->rt;
    int T = seqs->total, Bn = seqs->n;
    size_t D = (size_t)c->d_model, Z = (size_t)c->d_qk, H = (size_t)c->d_hidden;
    size_t SW = Z + 2 * H, W = (size_t)c->mem_size;
    int *hcs = NULL, *hch = NULL;
    sb_buf x = PB(m, B_X), mx = PB(m, B_MX), hxu = PB(m, B_HXU);
    /* with a carry the block's mx rows start after W halo rows */
    size_t h = carry ? (size_t)carry->halo_n : 0;
    sb_buf mxb = carry ? at_row(mx, W, D) : mx;
    sb_buf xin = x;
    double t0 = now_ms();

    rt->phase = SB_PHASE_OTHER; /* SB_STEP_PRENORM */
    if (c->prenorm) {
        xin = PB(m, B_XN);
        SB_TRY(norm_rows(m, &L->norm, T, x, xin, e));
    }
    rt->phase = SB_PHASE_EMA; /* SB_STEP_EMA */
    sb_ema_coef ec = ema_coef(m, li);
    sb_buf state_out = sb_view_none(), state_in = sb_view_none();
    if (cap) state_out = cap->ema_state;
    if (carry) state_in = state_out = carry->ema_state;
    SB_TRY(sb_op_ema_ex(rt, seqs, &ec, xin, mxb, PB(m, B_EMA_SCR), state_in, state_out, e));
    if (cap && cap->xin_ring.mem && c->truncation > 0)
        SB_TRY(capture_tail(rt, xin, T, (int)D, c->truncation, cap->xin_ring, e));
    rt->phase = SB_PHASE_PROJ; /* SB_STEP_HX_PROJ */
    SB_TRY(linear(m, (size_t)T, mxb, D, &L->hx, 0, hxu, D + 2, e));
    rt->phase = SB_PHASE_GATE; /* SB_STEP_GATE */
    hcs = malloc(sizeof(int) * (size_t)(Bn + 1));
    hch = malloc(sizeof(int) * (size_t)(Bn + 1));
    if (!hcs || !hch) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    if (m->router_hook) SB_TRY(m->router_hook(m->router_hook_user, rt, seqs, hxu, (int)(D + 2), e));
    SB_TRY(sb_op_gate_compact(rt, seqs, hxu, (int)(D + 2), L->temp, PB(m, B_W), PB(m, B_CIDX),
                              at_int(PB(m, B_CTOK), h), at_int(PB(m, B_CPOS), h), PB(m, B_CSTART),
                              hcs, PB(m, B_CMP_SCR), e));
    m->stats[li].tokens = T;
    m->stats[li].activated = hcs[Bn];
    int upload_all = 0;
    if (carry) { /* one sequence: the halo rows join the block's compressed rows */
        SB_TRY(carry_in(m, carry, hcs[1], e));
        hcs[1] += (int)h;
        upload_all = 1;
    }
    int M = hcs[Bn];

    /* GAU over the compressed rows, chunk by chunk. */
    sb_attn_cfg ac = attn_cfg(c);
    size_t right = c->bidirectional ? W : 0;
    size_t chunk = (size_t)m->fp.chunk_cap;
    size_t step = chunk > W + right ? chunk - W - right : 1;
    if ((size_t)M <= chunk) step = (size_t)M;
    size_t last_h0 = 0;
    for (size_t r0 = 0; r0 < (size_t)M; r0 += step) {
        size_t r1 = r0 + step < (size_t)M ? r0 + step : (size_t)M;
        size_t h0 = r0 > W ? r0 - W : 0;
        size_t h1 = r1 + right < (size_t)M ? r1 + right : (size_t)M;
        if ((size_t)M <= chunk) h0 = 0, h1 = (size_t)M;
        int n = (int)(h1 - h0);
        last_h0 = h0;
        sb_buf cst = PB(m, B_CSTART);
        if (upload_all || h0 != 0 || h1 != (size_t)M) {
            for (int b = 0; b <= Bn; b++) {
                long v = (long)hcs[b] - (long)h0;
                hch[b] = v < 0 ? 0 : (v > n ? n : (int)v);
            }
            cst = PB(m, B_CSTART_CH);
            SB_TRY(sb_rt_write(rt, cst.mem, cst.off, sb_i32((size_t)Bn + 1), hch, e));
        }
        sb_buf mxc = PB(m, B_MXC), s = PB(m, B_S), ao = PB(m, B_AO);
        rt->phase = SB_PHASE_GATE; /* SB_STEP_MX_PROJ */
        SB_TRY(sb_op_gather_rows(rt, mx, (int)D, at_int(PB(m, B_CTOK), h0), n, (int)D, mxc, (int)D, e));
        rt->phase = SB_PHASE_PROJ;
        SB_TRY(linear(m, (size_t)n, mxc, D, &L->mx, 1, s, SW, e));
        rt->phase = SB_PHASE_ATTN; /* SB_STEP_ATTN */
        SB_TRY(sb_op_attn(rt, &ac, Bn, n, cst, at_int(PB(m, B_CPOS), h0), s, sb_view_all(L->qk_g),
                          sb_view_all(L->qk_b), sb_view_all(L->rel), ao, PB(m, B_ATT_SCR), e));
        rt->phase = SB_PHASE_PROJ; /* SB_STEP_H_PROJ */
        sb_buf g = at_row(PB(m, B_G), r0, D);
        SB_TRY(linear(m, r1 - r0, at_row(ao, r0 - h0, H), H, &L->h, 0, g, D, e));
    }
    /* SB_STEP_CHUNK_END */
    if (cap && cap->ring && M > 0) /* the last chunk's s still holds rows [last_h0, M) */
        SB_TRY(sb_op_attn_ring_append(rt, &ac, cap->ring, (int)((size_t)M - last_h0), PB(m, B_S),
                                      at_int(PB(m, B_CPOS), last_h0), sb_view_all(L->qk_g),
                                      sb_view_all(L->qk_b), e));
    if (carry) SB_TRY(carry_out(m, carry, M, e));
    rt->phase = SB_PHASE_GATE; /* SB_STEP_COMBINE */
    SB_TRY(sb_op_combine(rt, T, (int)D, sb_skip(hxu, sb_f32(2)), (int)(D + 2), at_row(PB(m, B_G), h, D),
                         PB(m, B_W), PB(m, B_CIDX), x, x, e));
    rt->phase = SB_PHASE_OTHER;
    if (!c->prenorm) SB_TRY(norm_rows(m, &L->norm, T, x, x, e));
    SB_TRY(sb_rt_finish(rt, e));
    m->stats[li].ms = now_ms() - t0;
done:
    free(hcs);
    free(hch);
    return st;
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
    if (c->task == SB_TASK_LM && !ids)
        return sb_fail(e, SB_ERR_ARG, "this is an lm model: token ids are required");
    if (c->task != SB_TASK_LM && !x)
        return sb_fail(e, SB_ERR_ARG, "this is a %s model: float input is required",
                       sb_task_name(c->task));
    if ((size_t)B * (size_t)L > (size_t)1 << 31)
        return sb_fail(e, SB_ERR_ARG, "batch %d x length %d is too large", B, L);
    start = malloc(sizeof(int) * (size_t)B);
    len = malloc(sizeof(int) * (size_t)B);
    if (!start || !len) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    int T = 0;
    SB_TRY(make_seqs(c, B, L, c->task == SB_TASK_LM ? ids : NULL, lengths, start, len, &T, e));
    SB_TRY(sb_model_impl_plan(m, T, B, (size_t)B * L, NULL, e));
    sb_seqs seqs = {B, start, len, T, 0, PB(m, B_START), PB(m, B_LEN)};
    for (int b = 0; b < B; b++)
        if (len[b] > seqs.max_len) seqs.max_len = len[b];
    SB_TRY(sb_rt_write(rt, seqs.d_start.mem, seqs.d_start.off, sb_i32((size_t)B), start, e));
    SB_TRY(sb_rt_write(rt, seqs.d_len.mem, seqs.d_len.off, sb_i32((size_t)B), len, e));
    size_t D = (size_t)c->d_model, Dout = (size_t)c->d_output;
    sb_buf xb = PB(m, B_X);
    rt->phase = SB_PHASE_OTHER;
    if (c->task == SB_TASK_LM) {
        pids = malloc(sizeof(int32_t) * (size_t)T);
        if (!pids) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
        for (int b = 0; b < B; b++) memcpy(pids + start[b], ids + (size_t)b * L, sizeof(int32_t) * len[b]);
        sb_buf ib = PB(m, B_IDS);
        SB_TRY(sb_rt_write(rt, ib.mem, ib.off, sb_i32((size_t)T), pids, e));
        SB_TRY(sb_op_embed(rt, T, (int)D, ib, sb_view_all(m->embed), xb, e));
    } else {
        size_t F = (size_t)c->d_input;
        sb_buf ip = PB(m, B_INPAD), xe = PB(m, B_MX); /* mx is free before layer 0 */
        SB_TRY(sb_rt_write(rt, ip.mem, ip.off, sb_f32((size_t)B * L * F), x, e));
        SB_TRY(sb_op_pack(rt, &seqs, L, (int)F, ip, xe, e));
        SB_TRY(linear(m, (size_t)T, xe, F, &m->enc, 0, xb, D, e));
    }
    if ((caps || carries) && B != 1) SB_FAIL(SB_ERR_ARG, "state capture needs a single sequence");
    for (int li = 0; li < c->n_layers; li++)
        SB_TRY(sb_model_impl_layer(m, li, &seqs, caps ? &caps[li] : NULL,
                                   carries ? &carries[li] : NULL, e));
    rt->phase = SB_PHASE_OTHER;
    sb_buf xf = xb;
    if (c->prenorm) {
        xf = PB(m, B_XF);
        SB_TRY(norm_rows(m, &m->final_norm, T, xb, xf, e));
    }
    sb_buf y = PB(m, B_Y);
    if (c->task == SB_TASK_CLASSIFY) {
        sb_buf pool = PB(m, B_POOL);
        SB_TRY(sb_op_mean_pool(rt, &seqs, (int)D, xf, pool, e));
        SB_TRY(linear(m, (size_t)B, pool, D, &m->dec, 0, y, Dout, e));
        SB_TRY(sb_rt_read(rt, y.mem, y.off, sb_f32((size_t)B * Dout), out, e));
    } else {
        sb_buf op = PB(m, B_OUTPAD);
        SB_TRY(linear(m, (size_t)T, xf, D, &m->dec, 0, y, Dout, e));
        SB_TRY(sb_op_unpack(rt, &seqs, L, (int)Dout, y, op, e));
        SB_TRY(sb_rt_read(rt, op.mem, op.off, sb_f32((size_t)B * L * Dout), out, e));
    }
    SB_TRY(sb_rt_finish(rt, e));
    m->last_ms = now_ms() - t0;
done:
    free(start);
    free(len);
    free(pids);
    return st;
}
