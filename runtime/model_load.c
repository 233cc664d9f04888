/* model_load.c - a model's weights on the device: load from a file, upload,
 * the kernels it can launch resolved at load, the streaming copies, free. The
 * activation plan and the forward are in model.c. */
#include <stdlib.h>
#include <string.h>
#include "model.h"
#include "ops/block_carry.h"
#include "ops/gate.h"
#include "ops/norm.h"
#include "ops/ops_rt.h"
#include "ops/stream_step.h"
#include "wtype.h"
#include "ops/embed_wt.h"



static sb_status upload_norm(sb_rt *rt, const sb_norm_w *n, int D, sb_norm_kind kind,
                             sb_dev_norm *o, sb_err *e) {
    sb_status st = SB_OK;
    /* scalenorm: one scalar (norm.norm.scalar); rmsnorm and scalenorm: no bias */
    SB_TRY(sb_rt_upload_f32(rt, n->weight, kind == SB_NORM_SCALE ? 1 : (size_t)D, &o->w, "norm.weight", e));
    if (n->bias) SB_TRY(sb_rt_upload_f32(rt, n->bias, D, &o->b, "norm.bias", e));
    if (n->mean) SB_TRY(sb_rt_upload_f32(rt, n->mean, D, &o->mean, "norm.running_mean", e));
    if (n->var) SB_TRY(sb_rt_upload_f32(rt, n->var, D, &o->var, "norm.running_var", e));
done:
    return st;
}

static void free_norm(sb_dev_norm *n) {
    sb_mem_release(&n->w);
    sb_mem_release(&n->b);
    sb_mem_release(&n->mean);
    sb_mem_release(&n->var);
}

/* Upload the host table w [n][k] stored as wt (sb_wt_encode) into *out. */
static sb_status upload_wt(sb_rt *rt, int wt, const float *w, size_t n, size_t k, cl_mem *out,
                           const char *what, sb_err *e) {
    sb_status st = SB_OK;
    if (wt == SB_WT_F32) return sb_rt_upload_f32(rt, w, n * k, out, what, e);
    const size_t bytes = sb_wt_bytes((sb_wtype)wt, n * k, n);
    void *enc = malloc(bytes);
    if (!enc) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory");
    sb_wt_encode((sb_wtype)wt, w, n, k, enc);
    SB_TRY(sb_rt_alloc(rt, bytes, out, what, e));
    {
        const cl_int err = clEnqueueWriteBuffer(rt->queue, *out, CL_TRUE, 0, bytes, enc, 0, NULL, NULL);
        if (err != CL_SUCCESS) SB_FAIL(SB_ERR_OPENCL, "uploading %s: %s", what, sb_cl_error_string(err));
    }
done:
    free(enc);
    return st;
}

/* Upload a projection's host weight hw [n][k] as the model's storage type
 * into *w and prepare it; when it is packed (REG panels) the unpacked upload
 * is released: the panels are the only layout the products read. */
static sb_status prepare(sb_model_impl *m, const float *hw, cl_mem *w, cl_mem bias, int n, int k,
                         sb_linear_w *out, sb_err *e) {
    sb_rt *rt = m->rt;
    sb_status st = sb_linear_upload(rt, m->wt, hw, bias, n, k, w, out, e);
    if (st == SB_OK && out->packed) {
        st = sb_rt_finish(rt, e); /* the packing kernel has read w */
        sb_mem_release(w);
        out->w = NULL;
    }
    return st;
}

static sb_status upload_layer(sb_model_impl *m, int li, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    const sb_layer_w *w = &m->mf->layers[li];
    sb_dev_layer *d = &m->layers[li];
    sb_rt *rt = m->rt;
    int D = c->d_model, N = c->d_ema, Z = c->d_qk, H = c->d_hidden, P = sb_model_attn_cfg(c).P;
    int K = c->bidirectional ? 2 * D : D;
    float *coef = malloc(sizeof(float) * 3 * (size_t)K * N);
    if (!coef) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    sb_ema_coef_host(w->delta, w->alpha, w->beta, w->gamma, K, N, coef);
    SB_TRY(sb_rt_upload_f32(rt, coef, 3 * (size_t)K * N, &d->ema_coef, "ssm coefficients", e));
    SB_TRY(upload_norm(rt, &w->norm, D, c->norm, &d->norm, e));
    SB_TRY(sb_rt_upload_f32(rt, w->omega, D, &d->omega, "ssm.omega", e));
    /* local: entries 3W-1 .. 5W-1 of the [6W-1] table are the ones read
     * (compressed-index differences -W..W), a simple bias of P = W + 1 */
    const float *relp = c->rel_local ? w->rel_pos + (3 * (size_t)c->mem_size - 1) : w->rel_pos;
    if (!c->rotary) SB_TRY(sb_rt_upload_f32(rt, relp, 2 * (size_t)P - 1, &d->rel, "rel_pos_bias", e));
    SB_TRY(sb_rt_upload_f32(rt, w->mx_b, (size_t)(Z + 2 * H), &d->mx_b, "mx_proj.bias", e));
    SB_TRY(sb_rt_upload_f32(rt, w->hx_b, (size_t)(D + 2), &d->hx_b, "hx_proj.bias", e));
    SB_TRY(sb_rt_upload_f32(rt, w->h_b, (size_t)D, &d->h_b, "h_proj.bias", e));
    SB_TRY(prepare(m, w->hx_w, &d->hx_w, d->hx_b, D + 2, D, &d->hx, e));
    SB_TRY(prepare(m, w->mx_w, &d->mx_w, d->mx_b, Z + 2 * H, D, &d->mx, e));
    SB_TRY(prepare(m, w->h_w, &d->h_w, d->h_b, D, H, &d->h, e));
    SB_TRY(sb_rt_upload_f32(rt, w->qk_gamma, 2 * (size_t)Z, &d->qk_g, "gamma", e));
    SB_TRY(sb_rt_upload_f32(rt, w->qk_beta, 2 * (size_t)Z, &d->qk_b, "beta", e));
    d->temp = w->temp;
done:
    free(coef);
    return st;
}

void sb_model_impl_free(sb_model_impl *m) {
    if (!m) return;
    if (m->rt) clFinish(m->rt->queue);
    sb_model_impl_plan_release(&m->fp);
    if (m->layers) {
        for (int i = 0; i < m->cfg.n_layers; i++) {
            sb_dev_layer *d = &m->layers[i];
            free_norm(&d->norm);
            sb_linear_release(&d->hx);
            sb_linear_release(&d->mx);
            sb_linear_release(&d->h);
            cl_mem *all[] = {&d->ema_coef, &d->omega, &d->rel, &d->mx_w, &d->mx_b, &d->hx_w,
                             &d->hx_b, &d->h_w, &d->h_b, &d->qk_g, &d->qk_b, &d->hx_t,
                             &d->mx_t, &d->h_t};
            for (size_t j = 0; j < sizeof all / sizeof all[0]; j++) sb_mem_release(all[j]);
        }
        free(m->layers);
    }
    sb_linear_release(&m->enc);
    sb_linear_release(&m->dec);
    sb_mem_release(&m->enc_w);
    sb_mem_release(&m->enc_b);
    sb_mem_release(&m->embed);
    sb_mem_release(&m->dec_w);
    sb_mem_release(&m->dec_b);
    free_norm(&m->final_norm);
    sb_model_v2_free(m);
    free(m->stats);
    sb_mem_release(&m->counts);
    free(m->counts_h);
    free(m->counts_wait);
    free(m->chunk_starts);
    sb_model_file_free(m->mf);
    sb_rt_free(m->rt);
    free(m);
}


/* Every kernel this model can launch, resolved now: programs built, kernels
 * created, so a kernel that fails to build fails the load (with the program
 * file, the kernel and the build log in the message), never a forward. */
static sb_status resolve_kernels(sb_model_impl *m, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    sb_rt *rt = m->rt;
    sb_kset *ks;
    sb_attn_cfg ac = sb_model_attn_cfg(c);
    sb_ema_coef ec = sb_model_ema_coef(m, 0);
    SB_TRY(sb_norm_kernels(rt, e));
    SB_TRY(sb_ema_kernels(rt, &ec, e));
    SB_TRY(sb_linear_kernels_wt(rt, m->wt, e));
    if (sb_config_token_input(c) && m->wt != SB_WT_F32) SB_TRY(sb_embed_wt_kernels(rt, m->wt, e));
    SB_TRY(sb_gate_kernels(rt, e));
    SB_TRY(sb_attn_kernels(rt, &ac, e));
    if (!c->bidirectional) {
        SB_TRY(sb_block_carry_kernels(rt, &ks, e)); /* long causal sequences run block by block */
        if (c->task != SB_TASK_CLASSIFY) { /* streams */
            SB_TRY(sb_stream_step_kernels(rt, &ks, e));
            SB_TRY(sb_attn_gau_kernels_wt(rt, &ac, m->wt, e));
        }
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
    m->wt = opt ? opt->weight_type : SB_WT_F32;
    if (m->wt < SB_WT_F32 || m->wt > SB_WT_I8) SB_FAIL(SB_ERR_ARG, "unknown weight storage type %d", m->wt);
    SB_TRY(sb_ops_rt_create(opt, &m->rt, e));
    SB_TRY(resolve_kernels(m, e));
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    m->stats = calloc((size_t)c->n_layers, sizeof *m->stats);
    m->counts_h = calloc((size_t)c->n_layers, sizeof *m->counts_h);
    m->counts_wait = calloc((size_t)c->n_layers, 1);
    if (!m->layers || !m->stats || !m->counts_h || !m->counts_wait)
        SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    SB_TRY(sb_rt_alloc(m->rt, sb_i32((size_t)c->n_layers), &m->counts, "activated counts", e));
    for (int i = 0; i < c->n_layers; i++) SB_TRY(upload_layer(m, i, e));
    if (sb_config_token_input(c)) {
        SB_TRY(upload_wt(m->rt, m->wt, mf->embed, (size_t)c->vocab_size, (size_t)D, &m->embed,
                         "embed_tokens.weight", e));
    } else {
        SB_TRY(sb_rt_upload_f32(m->rt, mf->enc_b, (size_t)D, &m->enc_b, "encoder.bias", e));
        SB_TRY(prepare(m, mf->enc_w, &m->enc_w, m->enc_b, D, c->d_input, &m->enc, e));
    }
    if (c->prenorm) SB_TRY(upload_norm(m->rt, &mf->final_norm, D, c->norm, &m->final_norm, e));
    SB_TRY(sb_model_v2_upload(m, e));
    /* the decoder's input: D, or the head's width, or the pair feature's */
    const int fin = c->head_layers > 0 ? c->d_head : sb_config_pair_width(c);
    SB_TRY(sb_rt_upload_f32(m->rt, mf->dec_b, (size_t)c->d_output, &m->dec_b, "decoder.bias", e));
    SB_TRY(prepare(m, mf->dec_w, &m->dec_w, m->dec_b, c->d_output, fin, &m->dec, e));
    SB_TRY(sb_rt_finish(m->rt, e));
    /* every weight is on the device: the host copy goes */
    m->n_params = mf->n_params;
    sb_model_file_free(mf);
    m->mf = NULL;
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

/* Upload projection lw's weight [n][k] transposed, as [k][n], in its storage
 * type (int8: the same n scales after the codes), read back from its device
 * copy (the host copy is gone after load): no second rounding. */
static sb_status upload_t(sb_rt *rt, const sb_linear_w *lw, cl_mem *out, const char *what,
                          sb_err *e) {
    sb_status st = SB_OK;
    const sb_wtype wt = (sb_wtype)lw->wt;
    const size_t n = (size_t)lw->n, k = (size_t)lw->k, es = sb_wt_elem(wt);
    const size_t bytes = sb_wt_bytes(wt, n * k, n);
    unsigned char *w = malloc(bytes), *t = malloc(bytes);
    if (!w || !t) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    SB_TRY(sb_linear_read_raw(rt, lw, w, e));
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < k; i++) memcpy(t + (i * n + j) * es, w + (j * k + i) * es, es);
    if (wt == SB_WT_I8) memcpy(t + n * k, w + n * k, bytes - n * k); /* padding and scales */
    SB_TRY(sb_rt_alloc(rt, bytes, out, what, e));
    {
        const cl_int err = clEnqueueWriteBuffer(rt->queue, *out, CL_TRUE, 0, bytes, t, 0, NULL, NULL);
        if (err != CL_SUCCESS) SB_FAIL(SB_ERR_OPENCL, "uploading %s: %s", what, sb_cl_error_string(err));
    }
done:
    free(w);
    free(t);
    return st;
}

sb_status sb_model_impl_stream_prepare(sb_model_impl *m, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    int D = c->d_model;
    for (int li = 0; li < c->n_layers; li++) {
        sb_dev_layer *d = &m->layers[li];
        if (!d->hx_t) SB_TRY(upload_t(m->rt, &d->hx, &d->hx_t, "hx_proj.weight (transposed)", e));
        if (!d->mx_t) SB_TRY(upload_t(m->rt, &d->mx, &d->mx_t, "mx_proj.weight (transposed)", e));
        if (!d->h_t) SB_TRY(upload_t(m->rt, &d->h, &d->h_t, "h_proj.weight (transposed)", e));
        const sb_gau_w g = {sb_view_all(d->hx_t), sb_view_all(d->hx_b), sb_view_all(d->mx_t),
                            sb_view_all(d->mx_b), sb_view_all(d->h_t), sb_view_all(d->h_b),
                            sb_view_all(d->qk_g), sb_view_all(d->qk_b), sb_view_all(d->rel),
                            m->wt};
        d->gau = g;
    }
    m->stream_norm_fused = c->prenorm && c->norm == SB_NORM_LAYER &&
                           sb_op_norm_ema_step_wg(m->rt, D, NULL) > 0;
done:
    return st;
}

static uint64_t mem_bytes(cl_mem m) {
    size_t n = 0;
    if (m && clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof n, &n, NULL) != CL_SUCCESS) n = 0;
    return m ? (uint64_t)n : 0;
}

static uint64_t norm_bytes(const sb_dev_norm *n) {
    return mem_bytes(n->w) + mem_bytes(n->b) + mem_bytes(n->mean) + mem_bytes(n->var);
}

uint64_t sb_model_impl_weight_bytes(const sb_model_impl *m) {
    if (!m) return 0;
    uint64_t t = 0;
    for (int i = 0; m->layers && i < m->cfg.n_layers; i++) {
        const sb_dev_layer *d = &m->layers[i];
        const cl_mem all[] = {d->ema_coef, d->omega, d->rel, d->mx_w, d->mx_b, d->hx_w, d->hx_b,
                              d->h_w, d->h_b, d->qk_g, d->qk_b, d->hx_t, d->mx_t, d->h_t,
                              d->hx.packed, d->mx.packed, d->h.packed};
        for (size_t j = 0; j < sizeof all / sizeof all[0]; j++) t += mem_bytes(all[j]);
        t += norm_bytes(&d->norm);
    }
    const cl_mem top[] = {m->enc_w, m->enc_b, m->embed, m->dec_w, m->dec_b, m->enc.packed,
                          m->dec.packed, m->pos_scale, m->pos_inv};
    for (size_t j = 0; j < sizeof top / sizeof top[0]; j++) t += mem_bytes(top[j]);
    for (int k = 0; k < SB_MODEL_MAX_HEAD; k++)
        t += mem_bytes(m->head_w[k]) + mem_bytes(m->head_b[k]) + mem_bytes(m->head[k].packed);
    return t + norm_bytes(&m->final_norm);
}
