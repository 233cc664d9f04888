/* model_file.c - SeqBoat model and input files: metadata, tensor checks. */
#include "model_file.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sb_task_name(sb_task t) {
    switch (t) {
    case SB_TASK_CLASSIFY: return "classify";
    case SB_TASK_SEQUENCE: return "sequence";
    case SB_TASK_LM: return "lm";
    }
    return "?";
}

const char *sb_norm_name(sb_norm_kind k) {
    switch (k) {
    case SB_NORM_LAYER: return "layernorm";
    case SB_NORM_BATCH: return "batchnorm";
    case SB_NORM_SCALE: return "scalenorm";
    case SB_NORM_RMS: return "rmsnorm";
    }
    return "?";
}

const char *sb_rel_name(const sb_config *c) {
    return c->rotary ? "rotary" : c->rel_local ? "local" : "simple";
}

/* ---- metadata ---------------------------------------------------------------- */

static sb_status meta_get(const sb_st_file *st, const char *key, const char **v, sb_err *e) {
    *v = sb_st_meta(st, key);
    if (!*v) return sb_fail(e, SB_ERR_META, "missing metadata key '%s'", key);
    return SB_OK;
}

/* A decimal integer, the whole string, in [lo, hi]. */
static sb_status meta_int(const sb_st_file *st, const char *key, int64_t lo, int64_t hi, int *out,
                          sb_err *e) {
    const char *s;
    sb_status r = meta_get(st, key, &s, e);
    if (r != SB_OK) return r;
    const char *p = s;
    int neg = 0;
    if (*p == '-') neg = 1, p++;
    if (*p < '0' || *p > '9')
        return sb_fail(e, SB_ERR_META, "metadata '%s' = '%.64s' is not an integer", key, s);
    uint64_t v = 0;
    int big = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (uint64_t)100000000000000000ULL) big = 1; /* 1e17 */
        else v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p != '\0')
        return sb_fail(e, SB_ERR_META, "metadata '%s' = '%.64s' is not an integer (trailing "
                       "characters)", key, s);
    if (neg && v != 0) {
        if (lo >= 0)
            return sb_fail(e, SB_ERR_META, "metadata '%s' = '%.64s' must be at least %lld", key, s,
                           (long long)lo);
        return sb_fail(e, SB_ERR_META, "metadata '%s' = '%.64s' is out of range", key, s);
    }
    if (big || v > (uint64_t)hi)
        return sb_fail(e, SB_ERR_META, "metadata '%s' = '%.64s' is too large (at most %lld)", key, s,
                       (long long)hi);
    if ((int64_t)v < lo)
        return sb_fail(e, SB_ERR_META, "metadata '%s' = '%.64s' must be at least %lld", key, s,
                       (long long)lo);
    *out = (int)v;
    return SB_OK;
}

/* One of `names` (NULL-terminated); *out = its index. */
static sb_status meta_enum(const sb_st_file *st, const char *key, const char *const *names, int *out,
                           sb_err *e) {
    const char *s;
    sb_status r = meta_get(st, key, &s, e);
    if (r != SB_OK) return r;
    char allowed[128] = "";
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return SB_OK;
        }
        size_t l = strlen(allowed);
        snprintf(allowed + l, sizeof allowed - l, "%s'%s'", i ? ", " : "", names[i]);
    }
    return sb_fail(e, SB_ERR_META, "metadata '%s' = '%.64s' is not one of %s", key, s, allowed);
}

uint64_t sb_config_param_count(const sb_config *c) {
    uint64_t D = (uint64_t)c->d_model, Z = (uint64_t)c->d_qk, H = (uint64_t)c->d_hidden;
    uint64_t N = (uint64_t)c->d_ema, P = (uint64_t)c->max_positions, W = (uint64_t)c->mem_size;
    uint64_t K = c->bidirectional ? 2 * D : D;
    uint64_t norm = c->norm == SB_NORM_BATCH ? 4 * D : c->norm == SB_NORM_SCALE ? 1
                    : c->norm == SB_NORM_RMS ? D : 2 * D;
    uint64_t rel = c->rotary ? 0 : c->rel_local ? 6 * W - 1 : 2 * P - 1;
    uint64_t layer = norm + 4 * K * N + D + rel + 1 +
                     (Z + 2 * H) * (D + 1) + (2 + D) * (D + 1) + D * H + D + 4 * Z;
    uint64_t top = sb_config_token_input(c) ? (uint64_t)c->vocab_size * D
                                            : (uint64_t)c->d_input * D + D;
    if (c->prenorm) top += norm;
    if (c->abs_pos) top += 1 + D / 2;
    uint64_t fin = (uint64_t)sb_config_pair_width(c), Hd = (uint64_t)c->d_head;
    for (int k = 0; k < c->head_layers; k++) {
        top += Hd * (fin + 1);
        fin = Hd;
    }
    top += (uint64_t)c->d_output * (fin + (c->no_dec_bias ? 0 : 1));
    return top + (uint64_t)c->n_layers * layer; /* every factor <= 2^21: no overflow */
}

/* An optional key: absent = def. */
static sb_status meta_int_opt(const sb_st_file *st, const char *key, int64_t lo, int64_t hi, int def,
                              int *out, sb_err *e) {
    if (!sb_st_meta(st, key)) {
        *out = def;
        return SB_OK;
    }
    return meta_int(st, key, lo, hi, out, e);
}

static sb_status meta_enum_opt(const sb_st_file *st, const char *key, const char *const *names,
                               int def, int *out, sb_err *e) {
    if (!sb_st_meta(st, key)) {
        *out = def;
        return SB_OK;
    }
    return meta_enum(st, key, names, out, e);
}

/* The keys of format version 2 (docs/FAIRSEQ.md section 3); c->task, d_model,
 * mem_size, norm and rel_pos_bias are read already. */
static sb_status config_v2(const sb_st_file *stf, sb_config *c, sb_err *e) {
    static const char *const bools[] = {"false", "true", NULL};
    static const char *const abs[] = {"none", "sinusoidal", NULL};
    static const char *const acts[] = {"gelu", NULL};
    static const char *const pairs[] = {"none", "nli", "concat", NULL};
    const int64_t MX = SB_MODEL_MAX_DIM;
    sb_status st = SB_OK;
    int v;
    if (c->task != SB_TASK_LM) {
        SB_TRY(meta_int_opt(stf, "vocab_size", 0, MX, 0, &c->vocab_size, e));
        if (c->vocab_size > 0) {
            const char *di = sb_st_meta(stf, "d_input");
            if (di && strcmp(di, "0") != 0)
                SB_FAIL(SB_ERR_META, "metadata 'd_input' = '%.64s' must be '0' when 'vocab_size' is "
                        "set (token-id input)", di);
            c->d_input = 0;
        } else {
            SB_TRY(meta_int(stf, "d_input", 1, MX, &c->d_input, e));
        }
    }
    SB_TRY(meta_enum_opt(stf, "abs_pos", abs, 0, &c->abs_pos, e));
    if (c->abs_pos && c->d_model % 2 != 0)
        SB_FAIL(SB_ERR_META, "metadata 'd_model' = '%d' must be even when 'abs_pos' is 'sinusoidal'",
                c->d_model);
    SB_TRY(meta_int_opt(stf, "head_layers", 0, SB_MODEL_MAX_HEAD, 0, &c->head_layers, e));
    if (c->head_layers > 0) {
        if (c->task != SB_TASK_CLASSIFY)
            SB_FAIL(SB_ERR_META, "metadata 'head_layers' = '%d' needs 'task' = 'classify' (got '%s')",
                    c->head_layers, sb_task_name(c->task));
        SB_TRY(meta_int(stf, "d_head", 1, MX, &c->d_head, e));
    }
    SB_TRY(meta_enum_opt(stf, "head_activation", acts, 0, &v, e));
    SB_TRY(meta_enum_opt(stf, "decoder_bias", bools, 1, &v, e));
    c->no_dec_bias = !v;
    SB_TRY(meta_enum_opt(stf, "pair", pairs, 0, &v, e));
    c->pair = (sb_pair_kind)v;
    if (c->pair != SB_PAIR_NONE && c->task != SB_TASK_CLASSIFY)
        SB_FAIL(SB_ERR_META, "metadata 'pair' = '%s' needs 'task' = 'classify' (got '%s')",
                pairs[c->pair], sb_task_name(c->task));
done:
    return st;
}

sb_status sb_config_from_meta(const sb_st_file *stf, sb_config *cfg, sb_err *e) {
    static const char *const tasks[] = {"classify", "sequence", "lm", NULL};
    static const char *const bools[] = {"false", "true", NULL};
    static const char *const norms[] = {"layernorm", "batchnorm", NULL};
    static const char *const norms2[] = {"layernorm", "batchnorm", "scalenorm", "rmsnorm", NULL};
    static const char *const rels[] = {"simple", "rotary", NULL};
    static const char *const rels2[] = {"simple", "rotary", "local", NULL};
    static const char *const acts[] = {"relu2", "softmax", NULL};
    const int64_t MX = SB_MODEL_MAX_DIM;
    sb_status st = SB_OK;
    sb_config c;
    memset(&c, 0, sizeof c);
    if (!stf || !cfg) return sb_fail(e, SB_ERR_ARG, "sb_config_from_meta: NULL argument");
    const char *ver;
    SB_TRY(meta_get(stf, "seqboat.format_version", &ver, e));
    if (strcmp(ver, SB_MODEL_FORMAT_VERSION) == 0) c.version = 1;
    else if (strcmp(ver, SB_MODEL_FORMAT_VERSION_2) == 0) c.version = 2;
    else
        SB_FAIL(SB_ERR_META, "metadata 'seqboat.format_version' = '%.64s' is not supported "
                "(expected '" SB_MODEL_FORMAT_VERSION "' or '" SB_MODEL_FORMAT_VERSION_2 "')", ver);
    const int v2 = c.version == 2;
    int task, v;
    SB_TRY(meta_enum(stf, "task", tasks, &task, e));
    c.task = (sb_task)task;
    if (c.task == SB_TASK_LM) SB_TRY(meta_int(stf, "vocab_size", 1, MX, &c.vocab_size, e));
    else if (!v2) SB_TRY(meta_int(stf, "d_input", 1, MX, &c.d_input, e));
    SB_TRY(meta_int(stf, "d_output", 1, MX, &c.d_output, e));
    SB_TRY(meta_int(stf, "d_model", 1, MX, &c.d_model, e));
    SB_TRY(meta_int(stf, "n_layers", 1, MX, &c.n_layers, e));
    SB_TRY(meta_int(stf, "d_qk", 1, MX, &c.d_qk, e));
    SB_TRY(meta_int(stf, "d_hidden", 1, MX, &c.d_hidden, e));
    SB_TRY(meta_int(stf, "d_ema", 1, MX, &c.d_ema, e));
    SB_TRY(meta_int(stf, "mem_size", 1, MX, &c.mem_size, e));
    SB_TRY(meta_int(stf, "max_positions", 1, MX, &c.max_positions, e));
    SB_TRY(meta_int(stf, "truncation", 0, INT_MAX, &c.truncation, e));
    SB_TRY(meta_enum(stf, "bidirectional", bools, &c.bidirectional, e));
    SB_TRY(meta_enum(stf, "prenorm", bools, &c.prenorm, e));
    SB_TRY(meta_enum(stf, "norm_type", v2 ? norms2 : norms, &v, e));
    c.norm = (sb_norm_kind)v;
    SB_TRY(meta_enum(stf, "rel_pos_bias", v2 ? rels2 : rels, &v, e));
    c.rotary = v == 1;
    c.rel_local = v == 2;
    SB_TRY(meta_enum(stf, "attention_activation", acts, &c.softmax, e));
    if (c.rotary && c.d_qk % 2 != 0)
        SB_FAIL(SB_ERR_META, "metadata 'd_qk' = '%d' must be even when 'rel_pos_bias' is 'rotary'",
                c.d_qk);
    if (v2) SB_TRY(config_v2(stf, &c, e));
    uint64_t np = sb_config_param_count(&c);
    if (np > SB_MODEL_MAX_PARAMS)
        SB_FAIL(SB_ERR_META, "metadata describes a model of %llu parameters, more than the limit "
                "of %llu", (unsigned long long)np, (unsigned long long)SB_MODEL_MAX_PARAMS);
    *cfg = c;
done:
    return st;
}

/* ---- tensors ------------------------------------------------------------------ */

typedef struct {
    const sb_st_file *st;
    sb_model_file *m; /* owns the f32 widenings of F16/BF16 tensors */
    size_t n_params, stored_bytes, n_widened;
    sb_err *e;
} need_ctx;

/* t's weights as f32: in place for F32, else an exact widening owned by m. */
static sb_status weights_f32(need_ctx *c, const sb_tensor *t, const float **out) {
    if (t->dtype == SB_DT_F32) {
        *out = (const float *)t->data;
        return SB_OK;
    }
    sb_model_file *m = c->m;
    if (m->n_wide == m->cap_wide) {
        int cap = m->cap_wide ? 2 * m->cap_wide : 16;
        float **p = realloc(m->wide, (size_t)cap * sizeof *p);
        if (!p) return sb_fail(c->e, SB_ERR_HOST_MEMORY, "out of memory widening tensor '%s'", t->name);
        m->wide = p;
        m->cap_wide = cap;
    }
    const size_t n = sb_st_numel(t);
    float *w = malloc(n ? n * sizeof(float) : sizeof(float));
    if (!w)
        return sb_fail(c->e, SB_ERR_HOST_MEMORY, "out of memory widening tensor '%s' (%s, %zu "
                       "elements) to F32", t->name, t->dtype_name, n);
    sb_st_to_f32(t, w);
    m->wide[m->n_wide++] = w;
    c->n_widened++;
    *out = w;
    return SB_OK;
}

static void fmt_shape(char *buf, size_t cap, int nd, const int64_t *s) {
    size_t l = 0;
    l += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < nd && l < cap; i++)
        l += (size_t)snprintf(buf + l, cap - l, "%s%lld", i ? "," : "", (long long)s[i]);
    if (l < cap) snprintf(buf + l, cap - l, "]");
}

/* A float tensor `name` (F32, F16 or BF16) of exact shape, as f32; nd == -1
 * means "[1] or 0-d". */
static sb_status need(need_ctx *c, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2,
                      const float **out) {
    const sb_tensor *t = sb_st_find(c->st, name);
    if (!t) return sb_fail(c->e, SB_ERR_TENSOR, "missing tensor '%s'", name);
    if (!sb_dtype_is_float(t->dtype))
        return sb_fail(c->e, SB_ERR_TENSOR, "tensor '%s' has dtype %s, expected F32, F16 or BF16 "
                       "(a float weight)", name, t->dtype_name);
    int64_t want[3] = {d0, d1, d2};
    int ok;
    if (nd < 0) {
        ok = t->ndim == 0 || (t->ndim == 1 && t->shape[0] == 1);
        nd = 1;
    } else {
        ok = t->ndim == nd;
        for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == want[i];
    }
    if (!ok) {
        char got[200], exp[80];
        fmt_shape(got, sizeof got, t->ndim, t->shape);
        fmt_shape(exp, sizeof exp, nd, want);
        return sb_fail(c->e, SB_ERR_TENSOR, "tensor '%s' has shape %s, expected %s", name, got, exp);
    }
    sb_status st = weights_f32(c, t, out);
    if (st != SB_OK) return st;
    c->n_params += sb_st_numel(t);
    c->stored_bytes += t->nbytes;
    return SB_OK;
}

static sb_status need_norm(need_ctx *c, const char *prefix, const sb_config *cfg, sb_norm_w *n) {
    char name[128];
    int64_t D = cfg->d_model;
    sb_status st;
    if (cfg->norm == SB_NORM_SCALE) { /* one scalar, no bias */
        snprintf(name, sizeof name, "%snorm.norm.scalar", prefix);
        return need(c, name, -1, 1, 0, 0, &n->weight);
    }
    snprintf(name, sizeof name, "%snorm.norm.weight", prefix);
    if ((st = need(c, name, 1, D, 0, 0, &n->weight)) != SB_OK) return st;
    if (cfg->norm == SB_NORM_RMS) return SB_OK; /* no bias */
    snprintf(name, sizeof name, "%snorm.norm.bias", prefix);
    if ((st = need(c, name, 1, D, 0, 0, &n->bias)) != SB_OK) return st;
    if (cfg->norm == SB_NORM_BATCH) {
        snprintf(name, sizeof name, "%snorm.norm.running_mean", prefix);
        if ((st = need(c, name, 1, D, 0, 0, &n->mean)) != SB_OK) return st;
        snprintf(name, sizeof name, "%snorm.norm.running_var", prefix);
        if ((st = need(c, name, 1, D, 0, 0, &n->var)) != SB_OK) return st;
    }
    /* num_batches_tracked: unused, ignored whether present or not. */
    return SB_OK;
}

/* Tensors every layer has whatever its config (need_layer's unconditional ones). */
#define SB_LAYER_MIN_TENSORS 15

static sb_status need_layer(need_ctx *c, int i, const sb_config *cfg, sb_layer_w *w) {
    char pre[48], name[128];
    const int64_t D = cfg->d_model, Z = cfg->d_qk, H = cfg->d_hidden, N = cfg->d_ema;
    const int64_t K = cfg->bidirectional ? 2 * D : D, P = cfg->max_positions, W = cfg->mem_size;
    sb_status st;
    snprintf(pre, sizeof pre, "seq_layers.%d.", i);
#define NEED(suffix_, nd_, a_, b_, c_, out_)                                   \
    do {                                                                       \
        snprintf(name, sizeof name, "%s%s", pre, suffix_);                     \
        if ((st = need(c, name, nd_, a_, b_, c_, out_)) != SB_OK) return st;   \
    } while (0)
    NEED("gamma", 2, 2, Z, 0, &w->qk_gamma);
    NEED("beta", 2, 2, Z, 0, &w->qk_beta);
    if ((st = need_norm(c, pre, cfg, &w->norm)) != SB_OK) return st;
    NEED("ssm.delta", 3, K, N, 1, &w->delta);
    NEED("ssm.alpha", 3, K, N, 1, &w->alpha);
    NEED("ssm.beta", 3, K, N, 1, &w->beta);
    NEED("ssm.gamma", 2, K, N, 0, &w->gamma);
    NEED("ssm.omega", 1, D, 0, 0, &w->omega);
    if (!cfg->rotary)
        NEED("rel_pos_bias.rel_pos_bias", 1, cfg->rel_local ? 6 * W - 1 : 2 * P - 1, 0, 0, &w->rel_pos);
    const float *temp;
    NEED("q_router.temp", -1, 1, 0, 0, &temp);
    w->temp = temp[0];
    NEED("mx_proj.weight", 2, Z + 2 * H, D, 0, &w->mx_w);
    NEED("mx_proj.bias", 1, Z + 2 * H, 0, 0, &w->mx_b);
    NEED("hx_proj.weight", 2, 2 + D, D, 0, &w->hx_w);
    NEED("hx_proj.bias", 1, 2 + D, 0, 0, &w->hx_b);
    NEED("h_proj.weight", 2, D, H, 0, &w->h_w);
    NEED("h_proj.bias", 1, D, 0, 0, &w->h_b);
#undef NEED
    return SB_OK;
}

void sb_model_file_free(sb_model_file *m) {
    if (!m) return;
    free(m->layers);
    free(m->zero_bias);
    for (int i = 0; i < m->n_wide; i++) free(m->wide[i]);
    free(m->wide);
    sb_st_free(m->st);
    free(m);
}

sb_status sb_model_file_from_st(sb_st_file *stf, sb_model_file **out, sb_err *e) {
    sb_status st = SB_OK;
    sb_model_file *m = NULL;
    if (!out) {
        sb_st_free(stf);
        return sb_fail(e, SB_ERR_ARG, "sb_model_file_from_st: out is NULL");
    }
    *out = NULL;
    if (!stf) return sb_fail(e, SB_ERR_ARG, "sb_model_file_from_st: st is NULL");
    m = calloc(1, sizeof *m);
    if (!m) {
        sb_st_free(stf);
        return sb_fail(e, SB_ERR_HOST_MEMORY, "out of memory");
    }
    m->st = stf;
    SB_TRY(sb_config_from_meta(stf, &m->cfg, e));
    const sb_config *cfg = &m->cfg;
    const int64_t D = cfg->d_model;
    need_ctx c = {stf, m, 0, 0, 0, e};
    if (sb_config_token_input(cfg)) {
        SB_TRY(need(&c, "embed_tokens.weight", 2, cfg->vocab_size, D, 0, &m->embed));
    } else {
        SB_TRY(need(&c, "encoder.weight", 2, D, cfg->d_input, 0, &m->enc_w));
        SB_TRY(need(&c, "encoder.bias", 1, D, 0, 0, &m->enc_b));
    }
    if (cfg->abs_pos) {
        SB_TRY(need(&c, "pos_emb.scale", -1, 1, 0, 0, &m->pos_scale));
        SB_TRY(need(&c, "pos_emb.inv_freq", 1, D / 2, 0, 0, &m->pos_inv_freq));
    }
    /* Every layer has at least SB_LAYER_MIN_TENSORS tensors of its own. A file with
     * fewer cannot hold n_layers layers: name the first missing tensor without
     * allocating per-layer records for an n_layers that only the metadata claims. */
    if ((uint64_t)cfg->n_layers * SB_LAYER_MIN_TENSORS > (uint64_t)sb_st_count(stf)) {
        sb_layer_w probe;
        need_ctx keep = c;
        for (int i = 0; i < cfg->n_layers; i++) SB_TRY(need_layer(&c, i, cfg, &probe));
        c = keep;
    }
    m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
    if (!m->layers) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory for %d layers", cfg->n_layers);
    for (int i = 0; i < cfg->n_layers; i++) SB_TRY(need_layer(&c, i, cfg, &m->layers[i]));
    if (cfg->prenorm) SB_TRY(need_norm(&c, "final_", cfg, &m->final_norm));
    int64_t fin = sb_config_pair_width(cfg);
    for (int k = 0; k < cfg->head_layers; k++) {
        char name[64];
        snprintf(name, sizeof name, "head.%d.weight", k);
        SB_TRY(need(&c, name, 2, cfg->d_head, fin, 0, &m->head_w[k]));
        snprintf(name, sizeof name, "head.%d.bias", k);
        SB_TRY(need(&c, name, 1, cfg->d_head, 0, 0, &m->head_b[k]));
        fin = cfg->d_head;
    }
    SB_TRY(need(&c, "decoder.weight", 2, cfg->d_output, fin, 0, &m->dec_w));
    if (cfg->no_dec_bias) { /* decoder_bias false: a zero bias (x + 0 = x) */
        m->zero_bias = calloc((size_t)cfg->d_output, sizeof(float));
        if (!m->zero_bias) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory");
        m->dec_b = m->zero_bias;
    } else {
        SB_TRY(need(&c, "decoder.bias", 1, cfg->d_output, 0, 0, &m->dec_b));
    }
    m->n_params = c.n_params;
    m->stored_bytes = c.stored_bytes;
    m->n_widened = c.n_widened;
    *out = m;
    m = NULL;
done:
    sb_model_file_free(m);
    return st;
}

sb_status sb_model_file_load(const char *path, sb_model_file **out, sb_err *e) {
    if (!out) return sb_fail(e, SB_ERR_ARG, "sb_model_file_load: out is NULL");
    *out = NULL;
    sb_st_file *stf = NULL;
    sb_status st = sb_st_open(path, &stf, e);
    if (st != SB_OK) return st;
    st = sb_model_file_from_st(stf, out, e);
    if (st != SB_OK && e) { /* name the file */
        char tmp[SB_ERR_MSG_MAX];
        snprintf(tmp, sizeof tmp, "%s", e->msg);
        sb_fail(e, st, "model '%s': %s", path, tmp);
    }
    return st;
}

/* ---- input files ---------------------------------------------------------------- */

void sb_input_free(sb_input *in) {
    if (!in) return;
    free(in->x);
    free(in->ids);
    free(in->lengths);
    free(in->x2);
    free(in->ids2);
    free(in->lengths2);
    memset(in, 0, sizeof *in);
}

static int64_t int_at(const sb_tensor *t, size_t i) {
    if (t->dtype == SB_DT_I64) {
        int64_t v;
        memcpy(&v, (const unsigned char *)t->data + i * 8, 8);
        return v;
    }
    int32_t v;
    memcpy(&v, (const unsigned char *)t->data + i * 4, 4);
    return v;
}

/* One input (`iname`, optional `lname`): B is fixed by the first input (*B > 0)
 * or set here (*B == 0). */
static sb_status read_one(const sb_st_file *stf, const sb_config *cfg, const char *iname,
                          const char *lname, int *B, int *L, float **x, int32_t **ids,
                          int32_t **lengths, sb_err *e) {
    sb_status st = SB_OK;
    const int tok = sb_config_token_input(cfg);
    char got[200], want[64];
    if (tok) snprintf(want, sizeof want, "I64 or I32 [B,L] token ids");
    else snprintf(want, sizeof want, "F32 [B,L,%d]", cfg->d_input);
    const sb_tensor *t = sb_st_find(stf, iname);
    if (!t) SB_FAIL(SB_ERR_TENSOR, "missing tensor '%s' (expected %s)", iname, want);
    fmt_shape(got, sizeof got, t->ndim, t->shape);
    if (tok ? (t->dtype != SB_DT_I64 && t->dtype != SB_DT_I32) : !sb_dtype_is_float(t->dtype))
        SB_FAIL(SB_ERR_TENSOR, "tensor '%s' has dtype %s, expected %s%s for task '%s'", iname,
                t->dtype_name, want, tok ? "" : " (or F16, BF16)", sb_task_name(cfg->task));
    if (t->ndim != (tok ? 2 : 3) || (!tok && t->shape[2] != cfg->d_input))
        SB_FAIL(SB_ERR_TENSOR, "tensor '%s' has shape %s, expected %s", iname, got, want);
    if (t->shape[0] < 1 || t->shape[1] < 1)
        SB_FAIL(SB_ERR_TENSOR, "tensor '%s' has shape %s: B and L must be at least 1", iname, got);
    if (t->shape[0] > INT_MAX || t->shape[1] > INT_MAX)
        SB_FAIL(SB_ERR_TENSOR, "tensor '%s' has shape %s: too large", iname, got);
    if (*B > 0 && t->shape[0] != *B)
        SB_FAIL(SB_ERR_TENSOR, "tensor '%s' has shape %s: B must be %d, as in 'input'", iname, got, *B);
    const int nB = (int)t->shape[0], nL = (int)t->shape[1];
    const size_t BL = (size_t)nB * (size_t)nL; /* <= the file's element count */

    *lengths = malloc((size_t)nB * sizeof **lengths);
    if (!*lengths) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory for %d lengths", nB);
    const sb_tensor *lt = sb_st_find(stf, lname);
    if (!lt) {
        for (int b = 0; b < nB; b++) (*lengths)[b] = nL;
    } else {
        if (lt->dtype != SB_DT_I64 && lt->dtype != SB_DT_I32)
            SB_FAIL(SB_ERR_TENSOR, "tensor '%s' has dtype %s, expected I64 or I32", lname, lt->dtype_name);
        if (lt->ndim != 1 || lt->shape[0] != nB) {
            fmt_shape(got, sizeof got, lt->ndim, lt->shape);
            SB_FAIL(SB_ERR_TENSOR, "tensor '%s' has shape %s, expected [%d] (B)", lname, got, nB);
        }
        for (int b = 0; b < nB; b++) {
            int64_t v = int_at(lt, (size_t)b);
            if (v < 1 || v > nL)
                SB_FAIL(SB_ERR_ARG, "%s[%d] = %lld is outside 1..%d (L)", lname, b, (long long)v, nL);
            (*lengths)[b] = (int32_t)v;
        }
    }

    if (tok) {
        *ids = malloc(BL * sizeof **ids);
        if (!*ids) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory for %zu token ids", BL);
        for (size_t i = 0; i < BL; i++) {
            int64_t v = int_at(t, i);
            if ((int64_t)(i % (size_t)nL) >= (*lengths)[i / (size_t)nL]) {
                (*ids)[i] = 0; /* padding: any value, never read */
                continue;
            }
            if (v < 0 || v >= cfg->vocab_size)
                SB_FAIL(SB_ERR_ARG, "%s%stoken id %lld at (b=%d, t=%d) is outside [0, %d) (vocab_size)",
                        strcmp(iname, "input") ? iname : "", strcmp(iname, "input") ? ": " : "",
                        (long long)v, (int)(i / (size_t)nL), (int)(i % (size_t)nL), cfg->vocab_size);
            (*ids)[i] = (int32_t)v;
        }
    } else {
        const size_t n = sb_st_numel(t); /* F16/BF16: widened exactly */
        *x = malloc(n ? n * sizeof(float) : 1);
        if (!*x) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory for %zu values of input", n);
        sb_st_to_f32(t, *x);
    }
    *B = nB;
    *L = nL;
done:
    return st;
}

sb_status sb_input_from_st(const sb_st_file *stf, const sb_config *cfg, sb_input *out, sb_err *e) {
    sb_status st = SB_OK;
    sb_input in;
    memset(&in, 0, sizeof in);
    if (!out) return sb_fail(e, SB_ERR_ARG, "sb_input_from_st: out is NULL");
    memset(out, 0, sizeof *out);
    if (!stf || !cfg) return sb_fail(e, SB_ERR_ARG, "sb_input_from_st: NULL argument");
    SB_TRY(read_one(stf, cfg, "input", "lengths", &in.B, &in.L, &in.x, &in.ids, &in.lengths, e));
    in.F = sb_config_token_input(cfg) ? 0 : cfg->d_input;
    if (cfg->pair != SB_PAIR_NONE) {
        if (!sb_st_find(stf, "input2"))
            SB_FAIL(SB_ERR_TENSOR, "missing tensor 'input2': the model takes two inputs per example "
                    "(metadata 'pair')");
        SB_TRY(read_one(stf, cfg, "input2", "lengths2", &in.B, &in.L2, &in.x2, &in.ids2,
                        &in.lengths2, e));
    } else if (sb_st_find(stf, "input2")) {
        SB_FAIL(SB_ERR_TENSOR, "tensor 'input2' given, but the model takes one input per example "
                "(no metadata 'pair')");
    }
    *out = in;
    memset(&in, 0, sizeof in);
done:
    sb_input_free(&in);
    return st;
}

sb_status sb_input_load(const char *path, const sb_config *cfg, sb_input *out, sb_err *e) {
    if (!out) return sb_fail(e, SB_ERR_ARG, "sb_input_load: out is NULL");
    memset(out, 0, sizeof *out);
    sb_st_file *stf = NULL;
    sb_status st = sb_st_open(path, &stf, e);
    if (st == SB_OK) st = sb_input_from_st(stf, cfg, out, e);
    if (st != SB_OK && stf && e) {
        char tmp[SB_ERR_MSG_MAX];
        snprintf(tmp, sizeof tmp, "%s", e->msg);
        sb_fail(e, st, "input '%s': %s", path, tmp);
    }
    sb_st_free(stf);
    return st;
}
