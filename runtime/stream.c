/* stream.c - streaming decode: constant work per token.
 *
 * Per causal layer the stream keeps the EMA state h [D][N], for a truncated
 * kernel a ring of the last `truncation` EMA inputs, and an attention ring of
 * the last W activated tokens (keys after gamma/beta/rotary, values,
 * positions): the sb_layer_state of model.h. A step runs one token through
 * the model's layer (sb_model_impl_token: the same steps as the forward, for
 * one row). A prefill at position 0 runs the parallel forward and captures
 * exactly that state. This file owns the buffers and the API. */
#include <stdlib.h>
#include <string.h>
#include "model.h"

typedef struct stream_layer {
    cl_mem h;          /* [D][N] */
    cl_mem xring;      /* [trunc][D] or NULL */
    cl_mem rk, rv, rpos;
    cl_mem rs;         /* int [3]: ring head, n, activated tokens (on the device while stepping) */
} stream_layer;

struct sb_stream {
    sb_model *model;
    sb_model_impl *m;
    sb_err err;
    stream_layer *layers;
    sb_layer_state *state;   /* [n_layers], tk.layers */
    sb_token tk;             /* position, state, one-row buffers */
    cl_mem x, xn, mx, hxu, s, ao, g, out, in;
    float *tmp_out;    /* prefill outputs [n][d_output] */
    size_t tmp_cap;
};

/* The whole of a stream or weight buffer as a view. */
static sb_buf BUF(cl_mem m) { return sb_view_all(m); }


void sb_stream_free(sb_stream *s) {
    if (!s) return;
    if (s->m) clFinish(s->m->rt->queue);
    if (s->layers) {
        for (int i = 0; i < s->m->cfg.n_layers; i++) {
            stream_layer *l = &s->layers[i];
            sb_mem_release(&l->h);
            sb_mem_release(&l->xring);
            sb_mem_release(&l->rk);
            sb_mem_release(&l->rv);
            sb_mem_release(&l->rpos);
            sb_mem_release(&l->rs);
        }
        free(s->layers);
    }
    free(s->state);
    cl_mem *all[] = {&s->x, &s->xn, &s->mx, &s->hxu, &s->s, &s->ao, &s->g, &s->out, &s->in};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sb_mem_release(all[i]);
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
        sb_layer_state *ls = &s->state[i];
        SB_TRY(sb_rt_fill_zero(rt, l->h, 0, sb_f32(D * N), e));
        if (l->xring) SB_TRY(sb_rt_fill_zero(rt, l->xring, 0, sb_f32((size_t)c->truncation * D), e));
        SB_TRY(sb_rt_fill_zero(rt, l->rs, 0, sb_i32(3), e));
        ls->ring.head = 0;
        ls->ring.n = 0;
        ls->steps = 0;
    }
    s->tk.pos = 0;
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
    if (c->rel_local)
        SB_FAIL(SB_ERR_STATE, "cannot stream a model with 'rel_pos_bias' = 'local' (its bias reads "
                "compressed indices; run it with sb_model_forward)");
    s = calloc(1, sizeof *s);
    if (!s) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    s->model = model;
    s->m = model->impl;
    sb_rt *rt = s->m->rt;
    size_t D = (size_t)c->d_model, N = (size_t)c->d_ema, Z = (size_t)c->d_qk, H = (size_t)c->d_hidden;
    size_t W = (size_t)c->mem_size, F = (size_t)(sb_config_token_input(c) ? 1 : c->d_input);
    SB_TRY(sb_model_impl_stream_prepare(s->m, e));
    s->layers = calloc((size_t)c->n_layers, sizeof *s->layers);
    s->state = calloc((size_t)c->n_layers, sizeof *s->state);
    if (!s->layers || !s->state) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < c->n_layers; i++) {
        stream_layer *l = &s->layers[i];
        SB_TRY(sb_rt_alloc(rt, sb_f32(D * N), &l->h, "stream EMA state", e));
        if (c->truncation > 0)
            SB_TRY(sb_rt_alloc(rt, sb_f32((size_t)c->truncation * D), &l->xring, "stream EMA inputs", e));
        SB_TRY(sb_rt_alloc(rt, sb_f32((W + 1) * Z), &l->rk, "stream keys", e));
        SB_TRY(sb_rt_alloc(rt, sb_f32((W + 1) * H), &l->rv, "stream values", e));
        SB_TRY(sb_rt_alloc(rt, sb_i32(W + 1), &l->rpos, "stream positions", e));
        SB_TRY(sb_rt_alloc(rt, sb_i32(3), &l->rs, "stream ring state", e));
        sb_layer_state *ls = &s->state[i];
        ls->ema_state = BUF(l->h);
        ls->xin_ring = BUF(l->xring);
        ls->ring.k = BUF(l->rk);
        ls->ring.v = BUF(l->rv);
        ls->ring.pos = BUF(l->rpos);
        ls->ring.cap = (int)(W + 1);
        ls->ring_state = BUF(l->rs);
    }
    SB_TRY(sb_rt_alloc(rt, sb_f32(D), &s->x, "stream x", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(D), &s->xn, "stream xn", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(D), &s->mx, "stream mx", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(D + 2), &s->hxu, "stream hxu", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(Z + 2 * H), &s->s, "stream s", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(H), &s->ao, "stream attention out", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(D), &s->g, "stream g", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32(F), &s->in, "stream input", e));
    SB_TRY(sb_rt_alloc(rt, sb_f32((size_t)c->d_output), &s->out, "stream output", e));
    {
        sb_token *tk = &s->tk;
        tk->layers = s->state;
        tk->x = BUF(s->x), tk->xn = BUF(s->xn), tk->mx = BUF(s->mx), tk->hxu = BUF(s->hxu);
        tk->s = BUF(s->s), tk->ao = BUF(s->ao), tk->g = BUF(s->g);
        tk->in = BUF(s->in), tk->out = BUF(s->out);
    }
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
long sb_stream_position(const sb_stream *s) { return s ? s->tk.pos : -1; }

sb_status sb_stream_layer_activity(const sb_stream *s, int layer, long *steps, long *activated) {
    if (!s || layer < 0 || layer >= s->m->cfg.n_layers) return SB_ERR_ARG;
    if (steps) *steps = s->state[layer].steps;
    if (activated) {
        cl_int n = 0; /* counted on the device by the layer step */
        sb_err e;
        if (sb_rt_read(s->m->rt, s->layers[layer].rs, 2 * sizeof(cl_int), sizeof n, &n, &e) != SB_OK)
            return e.status;
        *activated = n;
    }
    return SB_OK;
}

static sb_status step_one(sb_stream *s, const float *x, const int32_t *id, float *out, sb_err *e) {
    sb_status st = SB_OK;
    if (s->tk.pos >= 0x7fffffffL) SB_FAIL(SB_ERR_STATE, "stream position limit (2^31 - 1) reached");
    SB_TRY(sb_model_impl_token(s->m, &s->tk, x, id ? *id : 0, out, e));
    s->tk.pos++;
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
        caps[i].ema_state = s->state[i].ema_state;
        caps[i].xin_ring = s->state[i].xin_ring;
        caps[i].ring = &s->state[i].ring;
    }
    SB_TRY(sb_model_impl_forward_ex(m, 1, n, x, ids, NULL, all, caps, e));
    for (int i = 0; i < c->n_layers; i++) { /* the steps go on from the captured ring */
        const cl_int rs[3] = {s->state[i].ring.head, s->state[i].ring.n, 0};
        SB_TRY(sb_rt_write(m->rt, s->layers[i].rs, 0, sizeof rs, rs, e));
    }
    if (out_last) memcpy(out_last, all + (size_t)(n - 1) * dout, dout * sizeof(float));
    s->tk.pos = n;
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
    if (sb_config_token_input(c) != (ids != NULL))
        SB_FAIL(SB_ERR_ARG, "%s", sb_config_token_input(c) ? "this model takes token ids"
                                                           : "this model takes float inputs, not ids");
    if (!ids && !x) SB_FAIL(SB_ERR_ARG, "input is NULL");
    if (s->tk.pos == 0) {
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
