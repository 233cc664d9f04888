/* model_v2.c - what model-file version 2 adds to a model (docs/FAIRSEQ.md):
 * the scaled sinusoidal positions after the input embedding, the classify
 * head's gelu layers, and the forward of a pair model (two inputs per example
 * through the same encoder, then the pair feature). The norms and the `local`
 * bias are options of the existing steps (model.c's norm_rows and gate step). */
#include <stdlib.h>
#include <string.h>
#include "model.h"
#include "ops/pos_head.h"



sb_status sb_model_v2_upload(sb_model_impl *m, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    const sb_model_file *mf = m->mf;
    if (c->abs_pos || c->head_layers > 0 || c->pair != SB_PAIR_NONE)
        SB_TRY(sb_pos_head_kernels(m->rt, e));
    if (c->norm == SB_NORM_SCALE || c->norm == SB_NORM_RMS || c->rel_local)
        SB_TRY(sb_pos_head_kernels(m->rt, e));
    if (c->abs_pos) {
        SB_TRY(sb_rt_upload_f32(m->rt, mf->pos_scale, 1, &m->pos_scale, "pos_emb.scale", e));
        SB_TRY(sb_rt_upload_f32(m->rt, mf->pos_inv_freq, (size_t)c->d_model / 2, &m->pos_inv, "pos_emb.inv_freq", e));
    }
    int fin = sb_config_pair_width(c);
    for (int k = 0; k < c->head_layers; k++) {
        SB_TRY(sb_rt_upload_f32(m->rt, mf->head_b[k], (size_t)c->d_head, &m->head_b[k], "head bias", e));
        SB_TRY(sb_linear_upload(m->rt, m->wt, mf->head_w[k], m->head_b[k], c->d_head, fin, &m->head_w[k],
                                &m->head[k], e));
        fin = c->d_head;
    }
done:
    return st;
}

void sb_model_v2_free(sb_model_impl *m) {
    sb_mem_release(&m->pos_scale);
    sb_mem_release(&m->pos_inv);
    for (int k = 0; k < SB_MODEL_MAX_HEAD; k++) {
        sb_linear_release(&m->head[k]);
        sb_mem_release(&m->head_w[k]);
        sb_mem_release(&m->head_b[k]);
    }
    sb_mem_release(&m->head_buf);
    m->head_cap = 0;
}

sb_status sb_model_v2_positions(sb_model_impl *m, const sb_seqs *seqs, int T, int pos0, sb_buf x,
                                sb_err *e) {
    if (!m->cfg.abs_pos) return SB_OK;
    return sb_op_add_sinusoid(m->rt, T, m->cfg.d_model, seqs, pos0, sb_view_all(m->pos_scale),
                              sb_view_all(m->pos_inv), x, e);
}

/* head_buf regions, in floats per sequence: r0 [D], r1 [D], pair [F], two hidden [d_head]. */
static size_t head_row_floats(const sb_config *c) {
    return 2 * (size_t)c->d_model + (size_t)sb_config_pair_width(c) + 2 * (size_t)c->d_head;
}

static sb_status head_buf(sb_model_impl *m, int B, sb_err *e) {
    if ((size_t)B <= m->head_cap) return SB_OK;
    sb_mem_release(&m->head_buf);
    m->head_cap = 0;
    sb_status st = sb_rt_alloc(m->rt, sb_f32((size_t)B * head_row_floats(&m->cfg)), &m->head_buf,
                               "classify head features", e);
    if (st == SB_OK) m->head_cap = (size_t)B;
    return st;
}

/* Region `i` of head_buf for B sequences (0 r0, 1 r1, 2 pair, 3 / 4 hidden). */
static sb_buf region(sb_model_impl *m, int B, int i) {
    const sb_config *c = &m->cfg;
    const size_t D = (size_t)c->d_model, F = (size_t)sb_config_pair_width(c), Hd = (size_t)c->d_head;
    const size_t w[5] = {D, D, F, Hd, Hd};
    size_t off = 0;
    for (int j = 0; j < i; j++) off += w[j] * (size_t)m->head_cap;
    return sb_sub(sb_view_all(m->head_buf), sb_f32(off), sb_f32(w[i] * (size_t)B));
}

static sb_status copy_view(sb_rt *rt, sb_buf src, sb_buf dst, size_t bytes, sb_err *e) {
    if (src.len < bytes || dst.len < bytes)
        return sb_fail(e, SB_ERR_INTERNAL, "classify head: a view is too short to copy %zu bytes", bytes);
    cl_int err = clEnqueueCopyBuffer(rt->queue, src.mem, dst.mem, src.off, dst.off, bytes, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return sb_fail(e, SB_ERR_OPENCL, "classify head: copying the pooled rows: %s",
                       sb_cl_error_string(err));
    return SB_OK;
}

sb_status sb_model_v2_head(sb_model_impl *m, int B, sb_buf pool, sb_buf y, int *ready, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    sb_rt *rt = m->rt;
    const size_t D = (size_t)c->d_model;
    sb_buf feat = pool;
    size_t F = D;
    *ready = 0;
    if (c->head_layers > 0 || c->pair != SB_PAIR_NONE) SB_TRY(head_buf(m, B, e));
    if (c->pair != SB_PAIR_NONE) {
        if (m->pair_stage == 0)
            SB_FAIL(SB_ERR_ARG, "this model takes two inputs per example (metadata 'pair'): give "
                    "'input2' (sb_model_forward_pair)");
        const size_t bytes = sb_f32((size_t)B * D);
        if (m->pair_stage == 1) { /* the first input: keep r0 */
            SB_TRY(copy_view(rt, pool, region(m, B, 0), bytes, e));
            return SB_OK;
        }
        SB_TRY(copy_view(rt, pool, region(m, B, 1), bytes, e));
        feat = region(m, B, 2);
        F = (size_t)sb_config_pair_width(c);
        SB_TRY(sb_op_pair_feature(rt, B, (int)D, c->pair == SB_PAIR_NLI, region(m, B, 0),
                                  region(m, B, 1), feat, e));
    }
    for (int k = 0; k < c->head_layers; k++) {
        sb_buf h = region(m, B, 3 + (k & 1));
        SB_TRY(sb_op_linear(rt, (size_t)B, feat, F, &m->head[k], 0, h, (size_t)c->d_head, e));
        SB_TRY(sb_op_gelu(rt, B * c->d_head, h, e));
        feat = h;
        F = (size_t)c->d_head;
    }
    SB_TRY(sb_op_linear(rt, (size_t)B, feat, F, &m->dec, 0, y, (size_t)c->d_output, e));
    *ready = 1;
done:
    return st;
}

sb_status sb_model_impl_forward_pair(sb_model_impl *m, int B, int L, const float *x,
                                     const int32_t *ids, const int32_t *lengths, int L2,
                                     const float *x2, const int32_t *ids2,
                                     const int32_t *lengths2, float *out, sb_err *e) {
    sb_status st = SB_OK;
    if (m->cfg.pair == SB_PAIR_NONE)
        return sb_fail(e, SB_ERR_ARG, "this model takes one input per example (no metadata 'pair'): "
                       "a second input is not accepted");
    m->pair_stage = 1;
    st = sb_model_impl_forward(m, B, L, x, ids, lengths, out, e);
    if (st == SB_OK) {
        m->pair_stage = 2;
        st = sb_model_impl_forward(m, B, L2, x2, ids2, lengths2, out, e);
    }
    m->pair_stage = 0;
    return st;
}
