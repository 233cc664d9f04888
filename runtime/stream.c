/* stream.c - streaming decode: constant work per token.
 *
 * Per causal layer the stream keeps the EMA state h [D][N], for a truncated
 * kernel a ring of the last `truncation` EMA inputs, and an attention ring of
 * the last W activated tokens (keys after gamma/beta/rotary, values,
 * positions). A step runs the layer on one row: norm, EMA step, hx_proj, the
 * router decision (read back: two floats), and only when the token is
 * activated mx_proj, attention against the ring and h_proj. A prefill at
 * position 0 runs the parallel forward and captures exactly that state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "model.h"
#include "ops/gate.h"
#include "ops/norm.h"
#include "ops/stream_step.h"

typedef struct stream_layer {
    cl_mem h;          /* [D][N] */
    cl_mem xring;      /* [trunc][D] or NULL */
    cl_mem rk, rv, rpos;
    sb_attn_ring ring;
    long steps, activated;
} stream_layer;

struct sb_stream {
    sb_model *model;
    sb_model_impl *m;
    sb_err err;
    long pos;
    stream_layer *layers;
    cl_mem x, xn, mx, hxu, s, ao, g, ids, out, in;
    float *tmp_out;    /* prefill outputs [n][d_output] */
    size_t tmp_cap;
};

/* The whole of a stream or weight buffer as a view. */
static sb_buf BUF(cl_mem m) { return sb_view_all(m); }

static void rel(cl_mem *m) {
    if (*m) clReleaseMemObject(*m);
    *m = NULL;
}

void sb_stream_free(sb_stream *s) {
    if (!s) return;
    if (s->m) clFinish(s->m->rt->queue);
    if (s->layers) {
        for (int i = 0; i < s->m->cfg.n_layers; i++) {
            stream_layer *l = &s->layers[i];
            rel(&l->h);
            rel(&l->xring);
            rel(&l->rk);
            rel(&l->rv);
            rel(&l->rpos);
        }
        free(s->layers);
    }
    cl_mem *all[] = {&s->x, &s->xn, &s->mx, &s->hxu, &s->s, &s->ao, &s->g, &s->ids, &s->out, &s->in};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rel(all[i]);
    free(s->tmp_out);
    free(s);
}

static sb_status clear_state(sb_stream *s, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &s->m->cfg;
    sb_rt *rt = s->m->rt;
    size_t D = (size_t)c->d_model, N = (size_t)c->d_ema;
    for (int i = 0; i < c->n_layers; i++) {
        stream_layer *l = &s->layers[i];
        SB_TRY(sb_rt_fill_zero(rt, l->h, 0, sb_f32(D * N), e));
        if (l->xring) SB_TRY(sb_rt_fill_zero(rt, l->xring, 0, sb_f32((size_t)c->truncation * D), e));
        l->ring.head = 0;
        l->ring.n = 0;
        l->steps = l->activated = 0;
    }
    s->pos = 0;
done:
    return st;
}

sb_status sb_stream_open(sb_model *model, sb_stream **out) {
    sb_err eb, *e = &eb;
    sb_status st = SB_OK;
    sb_stream *s = NULL;
    sb_err_clear(e);
    if (!model || !out) SB_FAIL(SB_ERR_ARG, "sb_stream_open: model and out must not be NULL");
    *out = NULL;
    const sb_config *c = &model->impl->cfg;
    if (c->bidirectional)
        SB_FAIL(SB_ERR_STATE, "cannot stream a bidirectional model: each output depends on later tokens");
    if (c->task == SB_TASK_CLASSIFY)
        SB_FAIL(SB_ERR_STATE, "cannot stream a classify model: its output pools the whole sequence");
    s = calloc(1, sizeof *s);
    if (!s) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    s->model = model;
    s->m = model->impl;
    sb_rt *rt = s->m->rt;
    size_t D = (size_t)c->d_model, N = (size_t)c->d_ema, Z = (size_t)c->d_qk, H = (size_t)c->d_hidden;
    size_t W = (size_t)c->mem_size, F = (size_t)(c->task == SB_TASK_LM ? 1 : c->d_input);
    s->layers = calloc((size_t)c->n_layers, sizeof *s->layers);
    if (!s->layers) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < c->n_layers; i++) {
        stream_layer *l = &s->layers[i];
        SB_TRY(sb_rt_alloc(rt, sb_f32(D * N), &l->h, "stream EMA state", e));
        if (c->truncation > 0)
            SB_TRY(sb_rt_alloc(rt, sb_f32((size_t)c->truncation * D), &l->xring, "stream EMA inputs", e));
        SB_TRY(sb_rt_alloc(rt, sb_f32((W + 1) * Z), &l->rk, "stream keys", e));
        SB_TRY(sb_rt_alloc(rt, sb_f32((W + 1) * H), &l->rv, "stream values", e));
        SB_TRY(sb_rt_alloc(rt, sb_i32(W + 1), &l->rpos, "stream positions", e));
        l->ring.k = BUF(l->rk);
        l->ring.v = BUF(l->rv);
        l->ring.pos = BUF(l->rpos);
        l->ring.cap = (int)(W + 1);
    }
    SB_TRY(sb_rt_alloc(rt, sb_f32(D), &s->x, "stream x", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(D), &s->xn, "stream xn", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(D), &s->mx, "stream mx", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(D + 2), &s->hxu, "stream hxu", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(Z + 2 * H), &s->s, "stream s", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(H), &s->ao, "stream attention out", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(D), &s->g, "stream g", e));
    SB_TRY(sb_rt_alloc(rt, sb_i32(1), &s->ids, "stream id", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(F), &s->in, "stream input", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32((size_t)c->d_output), &s->out, "stream output", e));
    SB_TRY(clear_state(s, e));
    *out = s;
    return SB_OK;
done:
    sb_stream_free(s);
    return sb_api_fail_tls(e);
}

sb_status sb_stream_reset(sb_stream *s) {
    if (!s) return SB_ERR_ARG;
    sb_err_clear(&s->err);
    return clear_state(s, &s->err);
}

const char *sb_stream_last_error(const sb_stream *s) { return s ? s->err.msg : "stream is NULL"; }
long sb_stream_position(const sb_stream *s) { return s ? s->pos : -1; }

sb_status sb_stream_layer_activity(const sb_stream *s, int layer, long *steps, long *activated) {
    if (!s || layer < 0 || layer >= s->m->cfg.n_layers) return SB_ERR_ARG;
    if (steps) *steps = s->layers[layer].steps;
    if (activated) *activated = s->layers[layer].activated;
    return SB_OK;
}

/* One row: c = act(a @ W^T + bias). */
static sb_status linear1(sb_rt *rt, cl_mem a, const sb_linear_w *w, int act, cl_mem c, sb_err *e) {
    return sb_op_linear(rt, 1, BUF(a), (size_t)w->k, w, act, BUF(c), (size_t)w->n, e);
}

static sb_status norm1(sb_model_impl *m, const sb_dev_norm *n, cl_mem x, cl_mem y, sb_err *e) {
    int D = m->cfg.d_model;
    if (m->cfg.norm == SB_NORM_BATCH)
        return sb_op_batchnorm(m->rt, 1, D, BUF(x), BUF(n->mean), BUF(n->var), BUF(n->w), BUF(n->b), BUF(y), e);
    return sb_op_layernorm(m->rt, 1, D, BUF(x), BUF(n->w), BUF(n->b), BUF(y), e);
}

/* One token through every layer and the decoder; the input row is in s->x. */
static sb_status step_layers(sb_stream *s, float *out, sb_err *e) {
    sb_status st = SB_OK;
    sb_model_impl *m = s->m;
    const sb_config *c = &m->cfg;
    sb_rt *rt = m->rt;
    size_t D = (size_t)c->d_model;
    sb_attn_cfg ac = {c->d_qk, c->d_hidden, c->mem_size, 1, c->softmax, c->rotary, c->max_positions};
    sb_kset *ks;
    const cl_ulong two = 2;
    SB_TRY(sb_stream_step_kernels(rt, &ks, e));
    cl_kernel k = ks->k[SB_STEP_K_EMA], kc = ks->k[SB_STEP_K_COMBINE];
    /* the fused LayerNorm + EMA step: one work-group of a power of two <= D
     * items (as the layernorm kernel's row segment), within the limits */
    cl_kernel kne = NULL;
    size_t nt_ne = 0;
    if (c->prenorm && c->norm == SB_NORM_LAYER) {
        kne = ks->k[SB_STEP_K_NORM_EMA];
        size_t want = sb_pow2_ceil(D);
        if (want > 256) want = 256;
        nt_ne = sb_ops_wg(rt, ks, SB_STEP_K_NORM_EMA, want);
        if (nt_ne * sizeof(float) > rt->dev.local_mem) nt_ne = 0;
    }
    for (int li = 0; li < c->n_layers; li++) {
        sb_dev_layer *L = &m->layers[li];
        stream_layer *sl = &s->layers[li];
        cl_ulong zero = 0;
        int trunc = c->truncation, slot = trunc > 0 ? (int)(s->pos % trunc) : 0;
        int have_old = trunc > 0 && s->pos >= trunc, Di = (int)D, Ni = c->d_ema;
        cl_mem xr = sl->xring ? sl->xring : sl->h;
        if (c->prenorm && c->norm == SB_NORM_LAYER && nt_ne > 0) {
            /* LayerNorm + EMA step in one launch */
            SB_ARG(kne, 0, L->ema_coef);
            SB_ARG(kne, 1, L->omega);
            SB_ARG(kne, 2, sl->h);
            SB_ARG(kne, 3, s->x);
            SB_ARG(kne, 4, L->norm.w);
            SB_ARG(kne, 5, L->norm.b);
            SB_ARG(kne, 6, s->xn);
            SB_ARG(kne, 7, s->mx);
            SB_ARG(kne, 8, xr);
            SB_ARG(kne, 9, trunc);
            SB_ARG(kne, 10, slot);
            SB_ARG(kne, 11, have_old);
            SB_ARG(kne, 12, Di);
            SB_ARG(kne, 13, Ni);
            SB_ARG_LOCAL(kne, 14, nt_ne * sizeof(float));
            SB_TRY(sb_rt_launch(rt, kne, 1, &nt_ne, &nt_ne, "norm_ema_step", e));
        } else {
            cl_mem xin = s->x;
            if (c->prenorm) {
                SB_TRY(norm1(m, &L->norm, s->x, s->xn, e));
                xin = s->xn;
            }
            SB_ARG(k, 0, L->ema_coef);
            SB_ARG(k, 1, L->omega);
            SB_ARG(k, 2, sl->h);
            SB_ARG(k, 3, xin);
            SB_ARG(k, 4, zero);
            SB_ARG(k, 5, s->mx);
            SB_ARG(k, 6, zero);
            SB_ARG(k, 7, xr);
            SB_ARG(k, 8, trunc);
            SB_ARG(k, 9, slot);
            SB_ARG(k, 10, have_old);
            SB_ARG(k, 11, Di);
            SB_ARG(k, 12, Ni);
            SB_TRY(sb_ops_launch_1d(rt, k, sb_ops_wg(rt, ks, SB_STEP_K_EMA, 64), D, "ema_step", e));
        }
        SB_TRY(linear1(rt, s->mx, &L->hx, 0, s->hxu, e));
        float u[2];
        SB_TRY(sb_rt_read(rt, s->hxu, 0, sizeof u, u, e));
        cl_float w = 0.0f;
        cl_int act = sb_gate_rule(u[0], u[1], L->temp, &w);
        if (!act) w = 0.0f;
        sl->steps++;
        if (act) {
            sl->activated++;
            SB_TRY(linear1(rt, s->mx, &L->mx, 1, s->s, e));
            SB_TRY(sb_op_attn_step(rt, &ac, &sl->ring, (int)s->pos, BUF(s->s), BUF(L->qk_g),
                                   BUF(L->qk_b), BUF(L->rel), BUF(s->ao), e));
            SB_TRY(linear1(rt, s->ao, &L->h, 0, s->g, e));
        }
        /* combine with the gate's decision as arguments: no host writes */
        SB_ARG(kc, 0, Di);
        SB_ARG(kc, 1, s->hxu);
        SB_ARG(kc, 2, two);
        SB_ARG(kc, 3, s->g);
        SB_ARG(kc, 4, act);
        SB_ARG(kc, 5, w);
        SB_ARG(kc, 6, s->x);
        SB_TRY(sb_ops_launch_1d(rt, kc, sb_ops_wg(rt, ks, SB_STEP_K_COMBINE, 64), D, "step_combine", e));
        if (!c->prenorm) SB_TRY(norm1(m, &L->norm, s->x, s->x, e));
    }
    cl_mem xf = s->x;
    if (c->prenorm) {
        SB_TRY(norm1(m, &m->final_norm, s->x, s->xn, e));
        xf = s->xn;
    }
    SB_TRY(linear1(rt, xf, &m->dec, 0, s->out, e));
    if (out) SB_TRY(sb_rt_read(rt, s->out, 0, sb_f32((size_t)c->d_output), out, e));
    s->pos++;
done:
    return st;
}

static sb_status step_one(sb_stream *s, const float *x, const int32_t *id, float *out, sb_err *e) {
    sb_status st = SB_OK;
    sb_model_impl *m = s->m;
    const sb_config *c = &m->cfg;
    sb_rt *rt = m->rt;
    size_t D = (size_t)c->d_model;
    if (s->pos >= 0x7fffffffL) SB_FAIL(SB_ERR_STATE, "stream position limit (2^31 - 1) reached");
    if (c->task == SB_TASK_LM) {
        if (*id < 0 || *id >= c->vocab_size)
            SB_FAIL(SB_ERR_ARG, "token id %d is outside the vocabulary 0..%d", *id, c->vocab_size - 1);
        SB_TRY(sb_rt_write(rt, s->ids, 0, sb_i32(1), id, e));
        SB_TRY(sb_op_embed(rt, 1, (int)D, BUF(s->ids), BUF(m->embed), BUF(s->x), e));
    } else {
        size_t F = (size_t)c->d_input;
        SB_TRY(sb_rt_write(rt, s->in, 0, sb_f32(F), x, e));
        SB_TRY(linear1(rt, s->in, &m->enc, 0, s->x, e));
    }
    SB_TRY(step_layers(s, out, e));
done:
    return st;
}

static sb_status prefill(sb_stream *s, const float *x, const int32_t *ids, int n, float *out_all,
                         float *out_last, sb_err *e) {
    sb_status st = SB_OK;
    sb_model_impl *m = s->m;
    const sb_config *c = &m->cfg;
    sb_layer_capture *caps = calloc((size_t)c->n_layers, sizeof *caps);
    size_t dout = (size_t)c->d_output, need = (size_t)n * dout;
    float *all = out_all;
    if (!caps) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    if (!all) {
        if (s->tmp_cap < need) {
            free(s->tmp_out);
            s->tmp_out = malloc(need * sizeof(float));
            s->tmp_cap = s->tmp_out ? need : 0;
            if (!s->tmp_out) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
        }
        all = s->tmp_out;
    }
    for (int i = 0; i < c->n_layers; i++) {
        caps[i].ema_state = BUF(s->layers[i].h);
        caps[i].xin_ring = BUF(s->layers[i].xring);
        caps[i].ring = &s->layers[i].ring;
    }
    SB_TRY(sb_model_impl_forward_ex(m, 1, n, x, ids, NULL, all, caps, e));
    if (out_last) memcpy(out_last, all + (size_t)(n - 1) * dout, dout * sizeof(float));
    s->pos = n;
done:
    free(caps);
    return st;
}

static sb_status feed(sb_stream *s, const float *x, const int32_t *ids, int n, float *out_all,
                      float *out_last) {
    if (!s) return SB_ERR_ARG;
    sb_err *e = &s->err;
    sb_status st = SB_OK;
    const sb_config *c = &s->m->cfg;
    sb_err_clear(e);
    if (n < 1) SB_FAIL(SB_ERR_ARG, "feed needs n >= 1 tokens (got %d)", n);
    if ((c->task == SB_TASK_LM) != (ids != NULL))
        SB_FAIL(SB_ERR_ARG, "%s", c->task == SB_TASK_LM ? "this lm model takes token ids"
                                                         : "this model takes float inputs, not ids");
    if (!ids && !x) SB_FAIL(SB_ERR_ARG, "input is NULL");
    if (s->pos == 0) {
        st = prefill(s, x, ids, n, out_all, out_last, e);
        if (st != SB_OK) clear_state(s, NULL);
        return st;
    }
    size_t dout = (size_t)c->d_output, F = (size_t)c->d_input;
    for (int i = 0; i < n; i++) {
        float *o = out_all ? out_all + (size_t)i * dout : (i == n - 1 ? out_last : NULL);
        SB_TRY(step_one(s, x ? x + (size_t)i * F : NULL, ids ? ids + i : NULL, o, e));
        if (out_all && out_last && i == n - 1) memcpy(out_last, o, dout * sizeof(float));
    }
done:
    return st;
}

sb_status sb_stream_feed_ids(sb_stream *s, const int32_t *ids, int n, float *out_all, float *out_last) {
    if (!ids) {
        if (s) sb_fail(&s->err, SB_ERR_ARG, "ids is NULL");
        return SB_ERR_ARG;
    }
    return feed(s, NULL, ids, n, out_all, out_last);
}

sb_status sb_stream_feed(sb_stream *s, const float *x, int n, float *out_all, float *out_last) {
    return feed(s, x, NULL, n, out_all, out_last);
}

sb_status sb_stream_step_id(sb_stream *s, int32_t id, float *out) {
    return feed(s, NULL, &id, 1, NULL, out);
}

sb_status sb_stream_step(sb_stream *s, const float *x, float *out) {
    if (!x) {
        if (s) sb_fail(&s->err, SB_ERR_ARG, "x is NULL");
        return SB_ERR_ARG;
    }
    return feed(s, x, NULL, 1, NULL, out);
}
