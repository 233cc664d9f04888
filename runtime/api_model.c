/* api_model.c - the public model API over model.c (one device) and multi.c
 * (a device list: the batch is split across per-device models). */
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include "api_struct.h"
#include "model.h"
#include "multi.h"
#include "program_cache.h"

/* What sb_model_load allocates: the public struct first (sb_model * points at
 * it), then the device list. impl is the only device, or the first of the list
 * (streams run there). */
typedef struct model_handle {
    sb_model pub;
    sb_multi *multi; /* NULL on one device */
} model_handle;

static sb_multi *multi_of(const sb_model *m) { return ((const model_handle *)m)->multi; }

/* The forward every entry point uses. */
static sb_status forward_any(sb_model *m, int B, int L, const float *x, const int32_t *ids,
                             const int32_t *lengths, float *out, sb_err *e) {
    sb_multi *mm = multi_of(m);
    if (mm) return sb_multi_forward(mm, B, L, x, ids, lengths, out, e);
    return sb_model_impl_forward(m->impl, B, L, x, ids, lengths, out, e);
}

/* A pair model's forward (two inputs per example): one device only. */
static sb_status forward_pair_any(sb_model *m, int B, int L, const float *x, const int32_t *ids,
                                  const int32_t *lengths, int L2, const float *x2,
                                  const int32_t *ids2, const int32_t *lengths2, float *out,
                                  sb_err *e) {
    if (multi_of(m))
        return sb_fail(e, SB_ERR_ARG, "a pair model (two inputs per example) runs on one device; "
                       "this model was loaded on several");
    return sb_model_impl_forward_pair(m->impl, B, L, x, ids, lengths, L2, x2, ids2, lengths2, out, e);
}


sb_options sb_options_default(void) {
    sb_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof(sb_options);
    return o;
}

/* The first sb_options: struct_size, device, cache_dir, profiling. */
#define SB_OPTIONS_SIZE_V1 (offsetof(sb_options, profiling) + sizeof(int))

/* A copy of the caller's options with the fields it lacks at their defaults
 * (see sb_options.struct_size in seqboat.h). */
static sb_status read_options(const sb_options *opt, sb_options *o, sb_err *e) {
    *o = sb_options_default();
    if (!opt) return SB_OK;
    if (opt->struct_size < SB_OPTIONS_SIZE_V1)
        return sb_fail(e, SB_ERR_ARG,
                       "sb_model_load: sb_options.struct_size is %zu, less than the smallest "
                       "sb_options (%zu bytes): start from sb_options_default()",
                       opt->struct_size, (size_t)SB_OPTIONS_SIZE_V1);
    if (opt->struct_size > sizeof(sb_options)) {
        const unsigned char *extra = (const unsigned char *)opt + sizeof(sb_options);
        for (size_t i = 0; i < opt->struct_size - sizeof(sb_options); i++)
            if (extra[i])
                return sb_fail(e, SB_ERR_ARG,
                               "sb_model_load: sb_options.struct_size is %zu but this library "
                               "(%s) knows %zu bytes of options and the caller set a newer one",
                               opt->struct_size, SB_VERSION_STRING, sizeof(sb_options));
    }
    memcpy(o, opt, opt->struct_size < sizeof *o ? opt->struct_size : sizeof *o);
    o->struct_size = sizeof *o;
    if (o->precision < SB_PREC_F32 || o->precision > SB_PREC_BF16)
        return sb_fail(e, SB_ERR_ARG, "sb_model_load: sb_options.precision %d is not SB_PREC_F32, "
                                      "SB_PREC_F16 or SB_PREC_BF16", o->precision);
    if (o->weights != SB_WEIGHTS_PRECISION && o->weights != SB_WEIGHTS_INT8)
        return sb_fail(e, SB_ERR_ARG, "sb_model_load: sb_options.weights %d is not "
                                      "SB_WEIGHTS_PRECISION or SB_WEIGHTS_INT8", o->weights);
    return SB_OK;
}

static sb_status keep(sb_model *m, sb_status st) {
    if (st == SB_OK) sb_err_clear(&m->err);
    return st;
}

sb_status sb_model_load(const char *path, const sb_options *opt, sb_model **out) {
    sb_err e;
    sb_err_clear(&e);
    if (!out || !path) {
        sb_fail(&e, SB_ERR_ARG, "sb_model_load: path and out must not be NULL");
        return sb_api_fail_tls(&e);
    }
    *out = NULL;
    model_handle *h = calloc(1, sizeof *h);
    sb_model *m = h ? &h->pub : NULL;
    if (!m) {
        sb_fail(&e, SB_ERR_HOST_MEMORY, "out of host memory");
        return sb_api_fail_tls(&e);
    }
    sb_options o;
    if (read_options(opt, &o, &e) != SB_OK) {
        free(h);
        return sb_api_fail_tls(&e);
    }
    sb_rt_options ro = {0};
    ro.device = o.device;
    ro.cache_dir = o.cache_dir;
    ro.profiling = o.profiling;
    ro.tuning = &o.tuning;
    ro.weight_type = o.weights == SB_WEIGHTS_INT8 ? 3 : o.precision; /* sb_wtype */
    const char *sel = NULL;
    sb_status st;
    if (sb_multi_is_list(ro.device, &sel)) {
        int index[SB_MULTI_MAX_DEVICES], n = 0;
        st = sb_multi_resolve(sel, index, SB_MULTI_MAX_DEVICES, &n, &e);
        if (st == SB_OK && n == 1) {
            char one[32];
            snprintf(one, sizeof one, "%d", index[0]);
            ro.device = one;
            st = sb_model_impl_create(path, &ro, &m->impl, &e);
        } else if (st == SB_OK) {
            st = sb_multi_create(path, &ro, index, n, &h->multi, &e);
            if (st == SB_OK) m->impl = h->multi->dev[0];
        }
    } else {
        st = sb_model_impl_create(path, &ro, &m->impl, &e);
    }
    if (st != SB_OK) {
        free(h);
        /* prefix the file name for context */
        sb_err e2 = e;
        size_t pl = strlen(path);
        if (pl + 2 + strlen(e.msg) < sizeof e2.msg) {
            memcpy(e2.msg, path, pl);
            memcpy(e2.msg + pl, ": ", 2);
            memcpy(e2.msg + pl + 2, e.msg, strlen(e.msg) + 1);
        }
        return sb_api_fail_tls(&e2);
    }
    *out = m;
    return SB_OK;
}

void sb_model_free(sb_model *m) {
    if (!m) return;
    model_handle *h = (model_handle *)m;
    if (h->multi)
        sb_multi_free(h->multi); /* owns impl */
    else
        sb_model_impl_free(m->impl);
    free(h);
}

const char *sb_model_last_error(const sb_model *m) { return m ? m->err.msg : "model is NULL"; }

#define INFO_END(f) SB_FIELD_END(sb_model_info, f)
static const size_t info_ends[] = {
    INFO_END(task),          INFO_END(d_input),       INFO_END(vocab_size),
    INFO_END(d_output),      INFO_END(d_model),       INFO_END(n_layers),
    INFO_END(d_qk),          INFO_END(d_hidden),      INFO_END(d_ema),
    INFO_END(mem_size),      INFO_END(max_positions), INFO_END(truncation),
    INFO_END(bidirectional), INFO_END(prenorm),       INFO_END(norm_type),
    INFO_END(attention_activation), INFO_END(rel_pos_bias), INFO_END(n_params),
    INFO_END(device)};

sb_status sb_model_get_info(const sb_model *m, sb_model_info *out) {
    if (!m) return SB_ERR_ARG;
    sb_model *mw = (sb_model *)m; /* the handle's message slot; the model itself is not changed */
    if (!out) return sb_fail(&mw->err, SB_ERR_ARG, "sb_model_get_info: info is NULL");
    if (sb_struct_size_check("sb_model_info", out->struct_size, info_ends, sizeof(sb_model_info),
                             &mw->err) != SB_OK) {
        sb_err_prefix(&mw->err, "sb_model_get_info: ");
        return SB_ERR_ARG;
    }
    const sb_config *c = &m->impl->cfg;
    sb_model_info full, *info = &full;
    memset(info, 0, sizeof *info);
    info->task = c->task == SB_TASK_CLASSIFY ? SB_CLASSIFY : c->task == SB_TASK_LM ? SB_LM : SB_SEQUENCE;
    info->d_input = c->d_input;
    info->vocab_size = c->vocab_size;
    info->d_output = c->d_output;
    info->d_model = c->d_model;
    info->n_layers = c->n_layers;
    info->d_qk = c->d_qk;
    info->d_hidden = c->d_hidden;
    info->d_ema = c->d_ema;
    info->mem_size = c->mem_size;
    info->max_positions = c->max_positions;
    info->truncation = c->truncation;
    info->bidirectional = c->bidirectional;
    info->prenorm = c->prenorm;
    info->norm_type = c->norm == SB_NORM_BATCH ? SB_BATCHNORM : c->norm == SB_NORM_SCALE ? SB_SCALENORM
                      : c->norm == SB_NORM_RMS ? SB_RMSNORM : SB_LAYERNORM;
    info->attention_activation = c->softmax ? SB_SOFTMAX : SB_RELU2;
    info->rel_pos_bias = c->rotary ? SB_POS_ROTARY : c->rel_local ? SB_POS_LOCAL : SB_POS_SIMPLE;
    info->n_params = m->impl->n_params;
    if (multi_of(m))
        sb_multi_describe(multi_of(m), info->device, sizeof info->device);
    else
        snprintf(info->device, sizeof info->device, "%s", m->impl->rt->dev.name);
    sb_struct_copy_fit(out, out->struct_size, info, info_ends,
                       (int)(sizeof info_ends / sizeof info_ends[0]));
    return SB_OK;
}

sb_status sb_model_forward(sb_model *m, int batch, int length, const float *x, const int32_t *ids,
                           const int32_t *lengths, float *out) {
    if (!m) return SB_ERR_ARG;
    return keep(m, forward_any(m, batch, length, x, ids, lengths, out, &m->err));
}

sb_status sb_model_forward_pair(sb_model *m, int batch, int length, const float *x,
                                const int32_t *ids, const int32_t *lengths, int length2,
                                const float *x2, const int32_t *ids2, const int32_t *lengths2,
                                float *out) {
    if (!m) return SB_ERR_ARG;
    return keep(m, forward_pair_any(m, batch, length, x, ids, lengths, length2, x2, ids2, lengths2,
                                    out, &m->err));
}

sb_status sb_model_run_file(sb_model *m, const char *in_path, const char *out_path) {
    if (!m) return SB_ERR_ARG;
    sb_err *e = &m->err;
    sb_status st = SB_OK;
    sb_input in;
    float *out = NULL;
    memset(&in, 0, sizeof in);
    if (!in_path || !out_path) SB_FAIL(SB_ERR_ARG, "input and output paths are required");
    const sb_config *c = &m->impl->cfg;
    SB_TRY(sb_input_load(in_path, c, &in, e));
    size_t per = c->task == SB_TASK_CLASSIFY ? 1 : (size_t)in.L;
    size_t n = (size_t)in.B * per * (size_t)c->d_output;
    out = malloc(n * sizeof(float));
    if (!out) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory for %zu outputs", n);
    if (in.L2 > 0)
        SB_TRY(forward_pair_any(m, in.B, in.L, in.x, in.ids, in.lengths, in.L2, in.x2, in.ids2,
                                in.lengths2, out, e));
    else
        SB_TRY(forward_any(m, in.B, in.L, in.x, in.ids, in.lengths, out, e));
    int64_t shape[3] = {in.B, in.L, c->d_output};
    int64_t cshape[2] = {in.B, c->d_output};
    sb_st_out t = {"output", SB_DT_F32, c->task == SB_TASK_CLASSIFY ? 2 : 3,
                   c->task == SB_TASK_CLASSIFY ? cshape : shape, out};
    SB_TRY(sb_st_write(out_path, &t, 1, NULL, e));
done:
    sb_input_free(&in);
    free(out);
    return keep(m, st);
}

sb_status sb_model_layer_stats(const sb_model *m, int layer, int *tokens, int *activated, double *ms) {
    if (!m || layer < 0 || layer >= m->impl->cfg.n_layers) return SB_ERR_ARG;
    const sb_layer_stats *s = multi_of(m) ? &multi_of(m)->stats[layer] : &m->impl->stats[layer];
    if (tokens) *tokens = s->tokens;
    if (activated) *activated = s->activated;
    if (ms) *ms = s->ms;
    return SB_OK;
}

sb_status sb_model_plan(sb_model *m, int batch, int length, size_t *peak_bytes) {
    if (!m) return SB_ERR_ARG;
    if (batch < 1 || length < 1 || (size_t)batch * (size_t)length >= (size_t)1 << 31)
        return keep(m, sb_fail(&m->err, SB_ERR_ARG, "bad shape %d x %d", batch, length));
    if (multi_of(m)) return keep(m, sb_multi_plan(multi_of(m), batch, length, peak_bytes, &m->err));
    return keep(m, sb_model_impl_plan(m->impl, batch * length, batch, (size_t)batch * length,
                                      peak_bytes, &m->err));
}

uint64_t sb_model_weight_bytes(const sb_model *m) {
    return m ? sb_model_impl_weight_bytes(m->impl) : 0;
}

const char *sb_model_cache_note(const sb_model *m) {
    return m ? sb_progcache_note(m->impl->rt->progs) : NULL;
}

void sb_free(void *p) { free(p); }

/* ---- inspect --------------------------------------------------------------- */
typedef struct { char *s; size_t n, cap; int oom; } strbuf;

static void sbp(strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
#include <stdarg.h>
static void sbp(strbuf *b, const char *fmt, ...) {
    va_list ap;
    if (b->oom) return;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

sb_status sb_inspect(const char *path, char **text) {
    sb_err eb, *e = &eb;
    sb_status st = SB_OK;
    sb_model_file *mf = NULL;
    strbuf b = {0};
    sb_err_clear(e);
    if (!path || !text) SB_FAIL(SB_ERR_ARG, "sb_inspect: path and text must not be NULL");
    *text = NULL;
    SB_TRY(sb_model_file_load(path, &mf, e));
    const sb_config *c = &mf->cfg;
    sbp(&b, "model %s\n", path);
    sbp(&b, "  task %s, d_input %d, vocab_size %d, d_output %d\n", sb_task_name(c->task), c->d_input,
        c->vocab_size, c->d_output);
    sbp(&b, "  d_model %d, n_layers %d, d_qk %d, d_hidden %d, d_ema %d\n", c->d_model, c->n_layers,
        c->d_qk, c->d_hidden, c->d_ema);
    sbp(&b, "  mem_size (window) %d, max_positions %d, truncation %d\n", c->mem_size,
        c->max_positions, c->truncation);
    sbp(&b, "  %s, %s, %s, rel_pos_bias %s, attention %s\n",
        c->bidirectional ? "bidirectional" : "causal", c->prenorm ? "prenorm" : "postnorm",
        sb_norm_name(c->norm), sb_rel_name(c),
        c->softmax ? "softmax" : "relu2");
    if (c->version >= 2)
        sbp(&b, "  format 2: abs_pos %s, head_layers %d (d_head %d), decoder_bias %s, pair %s\n",
            c->abs_pos ? "sinusoidal" : "none", c->head_layers, c->d_head,
            c->no_dec_bias ? "false" : "true",
            c->pair == SB_PAIR_NLI ? "nli" : c->pair == SB_PAIR_CONCAT ? "concat" : "none");
    sbp(&b, "  parameters: %zu\n", mf->n_params);
    sbp(&b, "  weights stored in %zu bytes (%zu of the tensors F16/BF16, read as F32)\n",
        mf->stored_bytes, mf->n_widened);
    {   /* every tensor of the file, bytes per stored dtype */
        static const char *const dts[] = {"F32", "F16", "BF16", "I64", "I32"};
        size_t by[6] = {0};
        for (int i = 0; i < sb_st_count(mf->st); i++) {
            const sb_tensor *t = sb_st_at(mf->st, i);
            int k = 0;
            while (k < 5 && strcmp(t->dtype_name, dts[k]) != 0) k++;
            by[k] += t->nbytes;
        }
        sbp(&b, "  tensor bytes by dtype:");
        for (int k = 0; k < 6; k++)
            if (by[k]) sbp(&b, " %s %zu", k < 5 ? dts[k] : "other", by[k]);
        sbp(&b, "\n");
    }
    sbp(&b, "tensors (%d):\n", sb_st_count(mf->st));
    for (int i = 0; i < sb_st_count(mf->st); i++) {
        const sb_tensor *t = sb_st_at(mf->st, i);
        sbp(&b, "  %-48s %-4s [", t->name, t->dtype_name);
        for (int d = 0; d < t->ndim; d++) sbp(&b, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        sbp(&b, "] %zu bytes\n", t->nbytes);
    }
    if (b.oom) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    *text = b.s;
    b.s = NULL;
done:
    free(b.s);
    sb_model_file_free(mf);
    if (st != SB_OK) sb_api_fail_tls(e);
    return st;
}
