/* test_model_file.c - model files (SPEC.md section 4) and input files (section
 * 5): every fixture, the demo model, and a matrix of broken files built in
 * memory from a valid one. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "../runtime/model_file.h"

#define DATA SB_TEST_DATA_DIR "/"

typedef struct {
    const char *name;
    sb_task task;
    int d_input, vocab, d_output, D, nl, Z, H, N, W, P, trunc, bidir, prenorm;
    sb_norm_kind norm;
    int rotary, softmax;
    size_t n_params; /* sum of the F32 tensors in the file, computed independently */
} fixture;

static const fixture FIX[] = {
    {"bidir_softmax_batchnorm_classify", SB_TASK_CLASSIFY, 3, 0, 5, 16, 2, 8, 32, 4, 16, 64, 0, 1, 0,
     SB_NORM_BATCH, 0, 1, 5769},
    {"causal_relu2_layernorm", SB_TASK_SEQUENCE, 3, 0, 5, 16, 2, 8, 32, 4, 8, 64, 0, 0, 1, SB_NORM_LAYER,
     0, 0, 5225},
    {"causal_rotary", SB_TASK_SEQUENCE, 3, 0, 5, 16, 2, 8, 32, 4, 8, 64, 0, 0, 1, SB_NORM_LAYER, 1, 0,
     4971},
    {"lm_tokens", SB_TASK_LM, 0, 50, 50, 16, 2, 8, 32, 4, 16, 64, 0, 0, 1, SB_NORM_LAYER, 0, 0, 6726},
    {"long_beyond_max_positions", SB_TASK_SEQUENCE, 3, 0, 5, 24, 2, 16, 48, 4, 32, 128, 0, 0, 1,
     SB_NORM_LAYER, 0, 0, 11073},
    {"ragged_batch", SB_TASK_SEQUENCE, 3, 0, 5, 16, 2, 8, 32, 4, 8, 64, 0, 1, 1, SB_NORM_LAYER, 0, 0,
     5737},
    {"sparse_router", SB_TASK_SEQUENCE, 3, 0, 5, 16, 2, 8, 32, 4, 8, 64, 0, 0, 1, SB_NORM_LAYER, 0, 0,
     5225},
    {"truncated_ema", SB_TASK_SEQUENCE, 3, 0, 5, 16, 2, 8, 32, 4, 8, 64, 10, 1, 1, SB_NORM_LAYER, 0, 0,
     5737},
};
#define NFIX ((int)(sizeof FIX / sizeof FIX[0]))

/* ---- helpers ---------------------------------------------------------------- */

typedef struct {
    unsigned char *b;
    size_t n;
} blob;

static blob read_all(const char *path) {
    blob r = {0, 0};
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    r.n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    r.b = malloc(r.n + 1);
    ck_assert_ptr_nonnull(r.b);
    ck_assert_uint_eq(fread(r.b, 1, r.n, fp), r.n);
    fclose(fp);
    return r;
}

static size_t hlen_of(const blob *f) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | f->b[i];
    return (size_t)v;
}

static cJSON *header_of(const blob *f) {
    cJSON *h = cJSON_ParseWithLength((const char *)f->b + 8, hlen_of(f));
    ck_assert_ptr_nonnull(h);
    return h;
}

/* src's data region under header h; consumes h. */
static blob rebuild(const blob *src, cJSON *h) {
    char *json = cJSON_PrintUnformatted(h);
    ck_assert_ptr_nonnull(json);
    size_t jl = strlen(json), hl = hlen_of(src), dn = src->n - 8 - hl;
    blob r;
    r.n = 8 + jl + dn;
    r.b = malloc(r.n);
    ck_assert_ptr_nonnull(r.b);
    for (int i = 0; i < 8; i++) r.b[i] = (unsigned char)((uint64_t)jl >> (8 * i));
    memcpy(r.b + 8, json, jl);
    memcpy(r.b + 8 + jl, src->b + 8 + hl, dn);
    free(json);
    cJSON_Delete(h);
    return r;
}

static sb_status load_mem(const blob *f, sb_model_file **m, sb_err *e) {
    sb_st_file *st = NULL;
    sb_status s = sb_st_from_memory(f->b, f->n, &st, e);
    ck_assert_msg((s == SB_OK) == (st != NULL), "sb_st_from_memory: out vs status");
    if (s != SB_OK) {
        *m = NULL;
        return s;
    }
    return sb_model_file_from_st(st, m, e);
}

static void expect_fail(const blob *f, sb_status want, const char *sub, const char *what) {
    sb_model_file *m = (sb_model_file *)&m;
    sb_err e;
    sb_err_clear(&e);
    sb_status s = load_mem(f, &m, &e);
    ck_assert_msg(s == want, "%s: status %d (%s), want %d; msg: %s", what, s, sb_status_string(s), want,
                  e.msg);
    ck_assert_msg(m == NULL, "%s: out not NULL on failure", what);
    ck_assert_msg(strstr(e.msg, sub) != NULL, "%s: message '%s' lacks '%s'", what, e.msg, sub);
}

static sb_model_file *expect_ok(const blob *f, const char *what) {
    sb_model_file *m = NULL;
    sb_err_clear(&tu_err);
    sb_status s = load_mem(f, &m, &tu_err);
    ck_assert_msg(s == SB_OK, "%s: %s: %s", what, sb_status_string(s), tu_err.msg);
    return m;
}

/* Edits of a header. v is JSON text; NULL deletes. */
static void set_meta(cJSON *h, const char *key, const char *value) {
    cJSON *md = cJSON_GetObjectItem(h, "__metadata__");
    ck_assert_ptr_nonnull(md);
    cJSON_DeleteItemFromObjectCaseSensitive(md, key);
    if (value) cJSON_AddStringToObject(md, key, value);
}

static void set_field(cJSON *h, const char *name, const char *field, const char *v) {
    cJSON *ent = cJSON_GetObjectItemCaseSensitive(h, name);
    ck_assert_msg(ent != NULL, "no tensor %s", name);
    cJSON_DeleteItemFromObjectCaseSensitive(ent, field);
    if (v) {
        cJSON *nv = cJSON_Parse(v);
        ck_assert_ptr_nonnull(nv);
        cJSON_AddItemToObject(ent, field, nv);
    }
}

static blob with_meta(const blob *f, const char *key, const char *value) {
    cJSON *h = header_of(f);
    set_meta(h, key, value);
    return rebuild(f, h);
}

static blob without_tensor(const blob *f, const char *name) {
    cJSON *h = header_of(f);
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(h, name));
    cJSON_DeleteItemFromObjectCaseSensitive(h, name);
    return rebuild(f, h);
}

static blob with_field(const blob *f, const char *name, const char *field, const char *v) {
    cJSON *h = header_of(f);
    set_field(h, name, field, v);
    return rebuild(f, h);
}

static const char *demo_model_path(void) {
    static const char *const cands[] = {SB_SOURCE_DIR "/models/tiny-pystdlib.safetensors",
                                        "/work/shared/models/tiny-pystdlib.safetensors"};
    for (int i = 0; i < 2; i++)
        if (access(cands[i], R_OK) == 0) return cands[i];
    return NULL;
}

/* ---- models ------------------------------------------------------------------- */

START_TEST(test_fixture_models) {
    for (int i = 0; i < NFIX; i++) {
        const fixture *x = &FIX[i];
        char path[512];
        snprintf(path, sizeof path, DATA "%s.model.safetensors", x->name);
        sb_model_file *m = NULL;
        sb_err_clear(&tu_err);
        TU_OK(sb_model_file_load(path, &m, &tu_err));
        const sb_config *c = &m->cfg;
        ck_assert_msg(c->task == x->task, "%s task", x->name);
        ck_assert_int_eq(c->d_input, x->d_input);
        ck_assert_int_eq(c->vocab_size, x->vocab);
        ck_assert_int_eq(c->d_output, x->d_output);
        ck_assert_int_eq(c->d_model, x->D);
        ck_assert_int_eq(c->n_layers, x->nl);
        ck_assert_int_eq(c->d_qk, x->Z);
        ck_assert_int_eq(c->d_hidden, x->H);
        ck_assert_int_eq(c->d_ema, x->N);
        ck_assert_int_eq(c->mem_size, x->W);
        ck_assert_int_eq(c->max_positions, x->P);
        ck_assert_int_eq(c->truncation, x->trunc);
        ck_assert_int_eq(c->bidirectional, x->bidir);
        ck_assert_int_eq(c->prenorm, x->prenorm);
        ck_assert_int_eq(c->norm, x->norm);
        ck_assert_int_eq(c->rotary, x->rotary);
        ck_assert_int_eq(c->softmax, x->softmax);
        ck_assert_uint_eq(m->n_params, x->n_params);
        ck_assert_uint_eq(sb_config_param_count(c), x->n_params);

        /* pointers agree with the tensors they come from */
        const sb_st_file *st = m->st;
        ck_assert_ptr_eq(m->dec_w, sb_st_find(st, "decoder.weight")->data);
        ck_assert_ptr_eq(m->layers[1].mx_w, sb_st_find(st, "seq_layers.1.mx_proj.weight")->data);
        ck_assert_ptr_eq(m->layers[0].delta, sb_st_find(st, "seq_layers.0.ssm.delta")->data);
        ck_assert_ptr_eq(m->layers[1].qk_beta, sb_st_find(st, "seq_layers.1.beta")->data);
        ck_assert(m->layers[1].temp == *(const float *)sb_st_find(st, "seq_layers.1.q_router.temp")->data);
        if (x->task == SB_TASK_LM) {
            ck_assert_ptr_nonnull(m->embed);
            ck_assert_ptr_null(m->enc_w);
        } else {
            ck_assert_ptr_null(m->embed);
            ck_assert_ptr_eq(m->enc_w, sb_st_find(st, "encoder.weight")->data);
            ck_assert_ptr_nonnull(m->enc_b);
        }
        for (int l = 0; l < c->n_layers; l++) {
            const sb_layer_w *w = &m->layers[l];
            ck_assert(w->delta && w->alpha && w->beta && w->gamma && w->omega && w->mx_w && w->mx_b &&
                      w->hx_w && w->hx_b && w->h_w && w->h_b && w->qk_gamma && w->qk_beta &&
                      w->norm.weight && w->norm.bias);
            ck_assert_int_eq(w->rel_pos == NULL, x->rotary);
            ck_assert_int_eq(w->norm.mean != NULL, x->norm == SB_NORM_BATCH);
            ck_assert_int_eq(w->norm.var != NULL, x->norm == SB_NORM_BATCH);
        }
        ck_assert_int_eq(m->final_norm.weight != NULL, x->prenorm);
        ck_assert_int_eq(m->final_norm.bias != NULL, x->prenorm);
        ck_assert_ptr_null(m->final_norm.mean); /* no prenorm batchnorm fixture */
        sb_model_file_free(m);
    }
    sb_model_file_free(NULL);
    ck_assert_str_eq(sb_task_name(SB_TASK_CLASSIFY), "classify");
    ck_assert_str_eq(sb_task_name(SB_TASK_SEQUENCE), "sequence");
    ck_assert_str_eq(sb_task_name(SB_TASK_LM), "lm");
}
END_TEST

START_TEST(test_demo_model) {
    const char *path = demo_model_path();
    ck_assert_msg(path != NULL, "tiny-pystdlib.safetensors not found in models/ or /work/shared/models");
    sb_model_file *m = NULL;
    TU_OK(sb_model_file_load(path, &m, &tu_err));
    const sb_config *c = &m->cfg;
    ck_assert_int_eq(c->task, SB_TASK_LM);
    ck_assert_int_eq(c->vocab_size, 256);
    ck_assert_int_eq(c->d_output, 256);
    ck_assert_int_eq(c->d_model, 128);
    ck_assert_int_eq(c->n_layers, 4);
    ck_assert_int_eq(c->d_qk, 64);
    ck_assert_int_eq(c->d_hidden, 256);
    ck_assert_int_eq(c->d_ema, 16);
    ck_assert_int_eq(c->mem_size, 64);
    ck_assert_int_eq(c->max_positions, 1024);
    ck_assert_int_eq(c->truncation, 0);
    ck_assert_int_eq(c->bidirectional, 0);
    ck_assert_int_eq(c->prenorm, 1);
    ck_assert_int_eq(c->norm, SB_NORM_LAYER);
    ck_assert_int_eq(c->rotary, 0);
    ck_assert_int_eq(c->softmax, 1);
    ck_assert_uint_eq(m->n_params, 605448);
    ck_assert_ptr_nonnull(m->layers[3].rel_pos);
    ck_assert_ptr_nonnull(m->final_norm.weight);
    sb_model_file_free(m);
}
END_TEST

START_TEST(test_load_errors) {
    sb_model_file *m = NULL;
    sb_err e;
    ck_assert_int_eq(sb_model_file_load(DATA "nope.safetensors", &m, &e), SB_ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, "nope.safetensors"));
    ck_assert_ptr_null(m);
    /* an io file is no model: the message names the model file */
    ck_assert_int_eq(sb_model_file_load(DATA "lm_tokens.io.safetensors", &m, &e), SB_ERR_META);
    ck_assert_ptr_nonnull(strstr(e.msg, "lm_tokens.io.safetensors"));
    ck_assert_ptr_nonnull(strstr(e.msg, "missing metadata key 'seqboat.format_version'"));
    ck_assert_int_eq(sb_model_file_from_st(NULL, &m, &e), SB_ERR_ARG);
}
END_TEST

typedef struct {
    const char *key, *value; /* metadata edit (value NULL: delete) */
    sb_status want;
    const char *sub;
} meta_case;

START_TEST(test_bad_metadata) {
    blob f = read_all(DATA "causal_relu2_layernorm.model.safetensors");
    static const meta_case cases[] = {
        {"d_qk", NULL, SB_ERR_META, "missing metadata key 'd_qk'"},
        {"seqboat.format_version", NULL, SB_ERR_META, "missing metadata key 'seqboat.format_version'"},
        {"seqboat.format_version", "3", SB_ERR_META, "'seqboat.format_version' = '3' is not supported"},
        {"task", "regress", SB_ERR_META, "'task' = 'regress' is not one of 'classify', 'sequence', 'lm'"},
        {"norm_type", "groupnorm", SB_ERR_META, "is not one of 'layernorm', 'batchnorm'"},
        {"norm_type", "LayerNorm", SB_ERR_META, "'norm_type' = 'LayerNorm'"},
        {"rel_pos_bias", "alibi", SB_ERR_META, "is not one of 'simple', 'rotary'"},
        {"attention_activation", "gelu", SB_ERR_META, "is not one of 'relu2', 'softmax'"},
        {"bidirectional", "True", SB_ERR_META, "'bidirectional' = 'True' is not one of 'false', 'true'"},
        {"prenorm", "1", SB_ERR_META, "'prenorm' = '1' is not one of"},
        {"d_model", "0", SB_ERR_META, "'d_model' = '0' must be at least 1"},
        {"d_model", "-16", SB_ERR_META, "'d_model' = '-16' must be at least 1"},
        {"d_model", "1000000000000", SB_ERR_META, "'d_model' = '1000000000000' is too large"},
        {"d_model", "99999999999999999999999999", SB_ERR_META, "is too large"},
        {"d_model", "1048577", SB_ERR_META, "is too large (at most 1048576)"},
        {"d_model", "16x", SB_ERR_META, "'d_model' = '16x' is not an integer"},
        {"d_model", "1e3", SB_ERR_META, "'d_model' = '1e3' is not an integer"},
        {"d_model", "", SB_ERR_META, "'d_model' = '' is not an integer"},
        {"d_model", " 16", SB_ERR_META, "is not an integer"},
        {"d_model", "+16", SB_ERR_META, "is not an integer"},
        {"d_model", "16.0", SB_ERR_META, "is not an integer"},
        {"n_layers", "0", SB_ERR_META, "'n_layers' = '0' must be at least 1"},
        {"mem_size", "0", SB_ERR_META, "'mem_size' = '0' must be at least 1"},
        {"max_positions", "-1", SB_ERR_META, "'max_positions' = '-1' must be at least 1"},
        {"truncation", "-1", SB_ERR_META, "'truncation' = '-1' must be at least 0"},
        {"d_input", "0", SB_ERR_META, "'d_input' = '0' must be at least 1"},
        {"d_input", NULL, SB_ERR_META, "missing metadata key 'd_input'"},
        {"d_model", "1048576", SB_ERR_META, "parameters, more than the limit"},
        /* metadata that changes the expected shapes */
        {"d_model", "17", SB_ERR_TENSOR, "tensor 'encoder.weight' has shape [16,3], expected [17,3]"},
        {"d_input", "4", SB_ERR_TENSOR, "tensor 'encoder.weight' has shape [16,3], expected [16,4]"},
        {"n_layers", "3", SB_ERR_TENSOR, "missing tensor 'seq_layers.2.gamma'"},
        {"bidirectional", "true", SB_ERR_TENSOR, "tensor 'seq_layers.0.ssm.delta' has shape [16,4,1], "
                                                 "expected [32,4,1]"},
        {"norm_type", "batchnorm", SB_ERR_TENSOR, "missing tensor 'seq_layers.0.norm.norm.running_mean'"},
        {"max_positions", "65", SB_ERR_TENSOR, "'seq_layers.0.rel_pos_bias.rel_pos_bias' has shape [127], "
                                               "expected [129]"},
        {"task", "lm", SB_ERR_META, "'vocab_size' = '0' must be at least 1"},
        /* accepted */
        {"vocab_size", "banana", SB_OK, ""},
        {"something_else", "x", SB_OK, ""},
        {"truncation", "2147483647", SB_OK, ""},
        {"prenorm", "false", SB_OK, ""}, /* final_norm.* become unused extras */
        {"rel_pos_bias", "rotary", SB_OK, ""},
        {"attention_activation", "softmax", SB_OK, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blob b = with_meta(&f, cases[i].key, cases[i].value);
        char what[160];
        snprintf(what, sizeof what, "case %zu: %s = %s", i, cases[i].key,
                 cases[i].value ? cases[i].value : "(deleted)");
        if (cases[i].want == SB_OK) sb_model_file_free(expect_ok(&b, what));
        else expect_fail(&b, cases[i].want, cases[i].sub, what);
        free(b.b);
    }
    /* too many parameters in all: refused from the metadata alone */
    cJSON *h = header_of(&f);
    set_meta(h, "n_layers", "1000000");
    set_meta(h, "d_hidden", "4096");
    blob b = rebuild(&f, h);
    expect_fail(&b, SB_ERR_META, "parameters, more than the limit", "too many parameters");
    free(b.b);
    /* no __metadata__ at all */
    h = header_of(&f);
    cJSON_DeleteItemFromObject(h, "__metadata__");
    b = rebuild(&f, h);
    expect_fail(&b, SB_ERR_META, "missing metadata key 'seqboat.format_version'", "no metadata");
    free(b.b);
    free(f.b);

    /* rotary needs an even d_qk (shapes kept consistent: only the check fires) */
    f = read_all(DATA "causal_rotary.model.safetensors");
    b = with_meta(&f, "d_qk", "7");
    expect_fail(&b, SB_ERR_META, "'d_qk' = '7' must be even when 'rel_pos_bias' is 'rotary'", "odd d_qk");
    free(b.b);
    b = with_meta(&f, "rel_pos_bias", "simple");
    expect_fail(&b, SB_ERR_TENSOR, "missing tensor 'seq_layers.0.rel_pos_bias.rel_pos_bias'", "no rel_pos");
    free(b.b);
    free(f.b);

    /* lm: d_input ignored, vocab_size checked */
    f = read_all(DATA "lm_tokens.model.safetensors");
    b = with_meta(&f, "d_input", "banana");
    sb_model_file_free(expect_ok(&b, "lm d_input junk"));
    free(b.b);
    b = with_meta(&f, "d_input", NULL);
    sb_model_file_free(expect_ok(&b, "lm without d_input"));
    free(b.b);
    b = with_meta(&f, "vocab_size", "0");
    expect_fail(&b, SB_ERR_META, "'vocab_size' = '0' must be at least 1", "lm vocab 0");
    free(b.b);
    b = with_meta(&f, "vocab_size", "51");
    expect_fail(&b, SB_ERR_TENSOR, "tensor 'embed_tokens.weight' has shape [50,16], expected [51,16]",
                "lm vocab 51");
    free(b.b);
    free(f.b);
}
END_TEST

START_TEST(test_bad_tensors) {
    blob f = read_all(DATA "causal_relu2_layernorm.model.safetensors");
    const size_t hl = hlen_of(&f);
    blob b;

    /* structure (safetensors layer) */
    b = f;
    b.n = f.n - 100;
    expect_fail(&b, SB_ERR_FORMAT, "beyond the data region", "truncated data");
    b.n = 8 + hl / 2;
    expect_fail(&b, SB_ERR_FORMAT, "beyond the end", "truncated header");
    b.n = 4;
    expect_fail(&b, SB_ERR_FORMAT, "shorter than the 8-byte", "truncated to 4 bytes");
    b.b = malloc(f.n);
    b.n = f.n;
    memcpy(b.b, f.b, f.n);
    b.b[3] = 0x01; /* header length += 16 MiB */
    expect_fail(&b, SB_ERR_FORMAT, "beyond the end", "header length beyond file");
    memcpy(b.b, f.b, f.n);
    b.b[8] = 'x';
    expect_fail(&b, SB_ERR_FORMAT, "not valid JSON", "non-JSON header");
    free(b.b);
    cJSON *arr = cJSON_CreateArray();
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(1));
    b = rebuild(&f, arr);
    expect_fail(&b, SB_ERR_FORMAT, "not a JSON object", "JSON array header");
    free(b.b);
    b = with_field(&f, "seq_layers.0.h_proj.bias", "data_offsets", "[10344, 10280]");
    expect_fail(&b, SB_ERR_FORMAT, "'seq_layers.0.h_proj.bias': data_offsets [10344, 10280] are reversed",
                "offsets reversed");
    free(b.b);
    b = with_field(&f, "decoder.bias", "data_offsets", "[20880, 20904]");
    expect_fail(&b, SB_ERR_FORMAT, "'decoder.bias': data_offsets [20880, 20904]", "offsets past data");
    free(b.b);

    /* model contract */
    b = with_field(&f, "decoder.bias", "dtype", "\"I32\"");
    expect_fail(&b, SB_ERR_TENSOR, "tensor 'decoder.bias' has dtype I32, expected F32", "dtype I32");
    free(b.b);
    cJSON *h = header_of(&f);
    set_field(h, "decoder.bias", "dtype", "\"I8\"");
    set_field(h, "decoder.bias", "shape", "[20]");
    b = rebuild(&f, h);
    expect_fail(&b, SB_ERR_TENSOR, "tensor 'decoder.bias' has dtype I8, expected F32, F16 or BF16",
                "dtype I8");
    free(b.b);
    h = header_of(&f); /* an F64 weight: same bytes, half the elements; named, not read */
    set_field(h, "encoder.weight", "dtype", "\"F64\"");
    set_field(h, "encoder.weight", "shape", "[8, 3]");
    b = rebuild(&f, h);
    expect_fail(&b, SB_ERR_TENSOR, "tensor 'encoder.weight' has dtype F64, expected F32, F16 or BF16",
                "dtype F64");
    free(b.b);
    h = header_of(&f); /* F16 of the F32 size: twice the elements its shape says */
    set_field(h, "decoder.bias", "dtype", "\"F16\"");
    b = rebuild(&f, h);
    expect_fail(&b, SB_ERR_FORMAT, "hold 20 bytes, but 5 elements of F16 need 10", "F16 with F32 bytes");
    free(b.b);
    b = with_field(&f, "encoder.weight", "shape", "[12, 4]");
    expect_fail(&b, SB_ERR_TENSOR, "tensor 'encoder.weight' has shape [12,4], expected [16,3]", "shape");
    free(b.b);
    b = with_field(&f, "seq_layers.1.ssm.delta", "shape", "[16, 4]");
    expect_fail(&b, SB_ERR_TENSOR, "tensor 'seq_layers.1.ssm.delta' has shape [16,4], expected [16,4,1]",
                "rank");
    free(b.b);
    b = with_field(&f, "seq_layers.0.q_router.temp", "shape", "[1, 1]");
    expect_fail(&b, SB_ERR_TENSOR, "tensor 'seq_layers.0.q_router.temp' has shape [1,1], expected [1]",
                "temp rank");
    free(b.b);
    static const char *const must[] = {
        "seq_layers.1.ssm.omega", "encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias",
        "final_norm.norm.weight", "final_norm.norm.bias", "seq_layers.0.gamma", "seq_layers.1.beta",
        "seq_layers.0.norm.norm.bias", "seq_layers.1.ssm.gamma", "seq_layers.0.q_router.temp",
        "seq_layers.1.rel_pos_bias.rel_pos_bias", "seq_layers.1.mx_proj.bias",
        "seq_layers.0.hx_proj.weight", "seq_layers.1.h_proj.weight"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        char sub[160];
        snprintf(sub, sizeof sub, "missing tensor '%s'", must[i]);
        b = without_tensor(&f, must[i]);
        expect_fail(&b, SB_ERR_TENSOR, sub, must[i]);
        free(b.b);
    }

    /* accepted: 0-d temp, extra tensors */
    b = with_field(&f, "seq_layers.0.q_router.temp", "shape", "[]");
    sb_model_file *m = expect_ok(&b, "0-d temp");
    ck_assert(m->layers[0].temp == *(const float *)sb_st_find(m->st, "seq_layers.0.q_router.temp")->data);
    ck_assert_uint_eq(m->n_params, 5225);
    sb_model_file_free(m);
    free(b.b);
    h = header_of(&f);
    cJSON *ex = cJSON_Parse("{\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4]}");
    cJSON_AddItemToObject(h, "some.extra.tensor", ex);
    b = rebuild(&f, h);
    m = expect_ok(&b, "extra tensor");
    ck_assert_uint_eq(m->n_params, 5225);
    sb_model_file_free(m);
    free(b.b);
    free(f.b);

    /* batchnorm: running stats required, num_batches_tracked optional */
    f = read_all(DATA "bidir_softmax_batchnorm_classify.model.safetensors");
    b = without_tensor(&f, "seq_layers.1.norm.norm.running_var");
    expect_fail(&b, SB_ERR_TENSOR, "missing tensor 'seq_layers.1.norm.norm.running_var'", "running_var");
    free(b.b);
    b = without_tensor(&f, "seq_layers.0.norm.norm.num_batches_tracked");
    sb_model_file_free(expect_ok(&b, "no num_batches_tracked"));
    free(b.b);
    b = with_meta(&f, "prenorm", "true");
    expect_fail(&b, SB_ERR_TENSOR, "missing tensor 'final_norm.norm.weight'", "prenorm needs final_norm");
    free(b.b);
    free(f.b);
}
END_TEST

/* ---- inputs ----------------------------------------------------------------------- */

static sb_config fixture_cfg(const char *name) {
    char path[512];
    snprintf(path, sizeof path, DATA "%s.model.safetensors", name);
    sb_model_file *m = NULL;
    TU_OK(sb_model_file_load(path, &m, &tu_err));
    sb_config c = m->cfg;
    sb_model_file_free(m);
    return c;
}

START_TEST(test_fixture_inputs) {
    for (int i = 0; i < NFIX; i++) {
        sb_config c = fixture_cfg(FIX[i].name);
        char path[512];
        snprintf(path, sizeof path, DATA "%s.io.safetensors", FIX[i].name);
        sb_st_file *st = NULL;
        TU_OK(sb_st_open(path, &st, &tu_err));
        const sb_tensor *ti = sb_st_find(st, "input"), *tl = sb_st_find(st, "lengths");
        sb_input in;
        TU_OK(sb_input_load(path, &c, &in, &tu_err));
        ck_assert_int_eq(in.B, (int)ti->shape[0]);
        ck_assert_int_eq(in.L, (int)ti->shape[1]);
        for (int b = 0; b < in.B; b++) ck_assert_int_eq(in.lengths[b], ((const int64_t *)tl->data)[b]);
        if (c.task == SB_TASK_LM) {
            ck_assert_int_eq(in.F, 0);
            ck_assert_ptr_null(in.x);
            for (int k = 0; k < in.B * in.L; k++)
                ck_assert_int_eq(in.ids[k], ((const int64_t *)ti->data)[k]);
        } else {
            ck_assert_int_eq(in.F, c.d_input);
            ck_assert_ptr_null(in.ids);
            ck_assert_int_eq(memcmp(in.x, ti->data, ti->nbytes), 0);
        }
        sb_input_free(&in);
        ck_assert_ptr_null(in.lengths);
        sb_st_free(st);
    }
    /* ragged batch: lengths as in the file */
    sb_config c = fixture_cfg("ragged_batch");
    sb_input in;
    TU_OK(sb_input_load(DATA "ragged_batch.io.safetensors", &c, &in, &tu_err));
    ck_assert_int_eq(in.B, 4);
    ck_assert_int_eq(in.L, 40);
    ck_assert_int_eq(in.lengths[0], 40);
    ck_assert_int_eq(in.lengths[1], 17);
    ck_assert_int_eq(in.lengths[2], 1);
    ck_assert_int_eq(in.lengths[3], 33);
    sb_input_free(&in);
    sb_input_free(NULL);
}
END_TEST

typedef struct {
    char dir[64];
    char path[128];
} tmpf;

static void tmp_open(tmpf *t) {
    snprintf(t->dir, sizeof t->dir, "/tmp/sb_mf_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/in.safetensors", t->dir);
}

static void tmp_close(tmpf *t) {
    remove(t->path);
    rmdir(t->dir);
}

/* Write tensors, load as input for cfg, expect status + message substring. */
static void input_case(const tmpf *tf, const sb_config *cfg, const sb_st_out *t, int n, sb_status want,
                       const char *sub, const char *what) {
    sb_err e;
    TU_OK(sb_st_write(tf->path, t, n, NULL, &tu_err));
    sb_input in;
    memset(&in, 0x5a, sizeof in);
    sb_status s = sb_input_load(tf->path, cfg, &in, &e);
    ck_assert_msg(s == want, "%s: status %d (%s), want %d; msg: %s", what, s, sb_status_string(s), want,
                  s == SB_OK ? "" : e.msg);
    if (s != SB_OK) {
        ck_assert_msg(strstr(e.msg, sub) != NULL, "%s: message '%s' lacks '%s'", what, e.msg, sub);
        ck_assert_ptr_null(in.x);
        ck_assert_ptr_null(in.ids);
        ck_assert_ptr_null(in.lengths);
    }
    sb_input_free(&in);
}

START_TEST(test_bad_inputs) {
    tmpf tf;
    tmp_open(&tf);
    sb_config seq = fixture_cfg("causal_relu2_layernorm"), lm = fixture_cfg("lm_tokens");
    float x[2 * 5 * 3];
    tu_fill(x, 30, 7, -1.0f, 1.0f);
    x[4] = NAN;
    x[9] = INFINITY;
    int64_t sx[3] = {2, 5, 3}, sx4[3] = {2, 5, 4}, sx0[3] = {2, 0, 3}, sl[1] = {2}, sl3[1] = {3};
    int64_t len_ok[2] = {5, 2}, len_0[2] = {5, 0}, len_big[2] = {6, 5};
    int32_t len32[2] = {3, 5};
    float lenf[2] = {5, 5};

    /* valid: NaN/Inf allowed, lengths optional (absent = L), I32 lengths */
    sb_st_out a[2] = {{"input", SB_DT_F32, 3, sx, x}, {"lengths", SB_DT_I64, 1, sl, len_ok}};
    input_case(&tf, &seq, a, 2, SB_OK, "", "valid");
    sb_input in;
    TU_OK(sb_input_load(tf.path, &seq, &in, &tu_err));
    ck_assert(isnan(in.x[4]) && isinf(in.x[9]));
    ck_assert_int_eq(in.lengths[1], 2);
    sb_input_free(&in);
    input_case(&tf, &seq, a, 1, SB_OK, "", "no lengths");
    TU_OK(sb_input_load(tf.path, &seq, &in, &tu_err));
    ck_assert_int_eq(in.lengths[0], 5);
    ck_assert_int_eq(in.lengths[1], 5);
    sb_input_free(&in);
    a[1] = (sb_st_out){"lengths", SB_DT_I32, 1, sl, len32};
    input_case(&tf, &seq, a, 2, SB_OK, "", "I32 lengths");

    /* bad lengths */
    a[1] = (sb_st_out){"lengths", SB_DT_I64, 1, sl, len_0};
    input_case(&tf, &seq, a, 2, SB_ERR_ARG, "lengths[1] = 0 is outside 1..5", "length 0");
    a[1] = (sb_st_out){"lengths", SB_DT_I64, 1, sl, len_big};
    input_case(&tf, &seq, a, 2, SB_ERR_ARG, "lengths[0] = 6 is outside 1..5", "length > L");
    a[1] = (sb_st_out){"lengths", SB_DT_F32, 1, sl, lenf};
    input_case(&tf, &seq, a, 2, SB_ERR_TENSOR, "tensor 'lengths' has dtype F32, expected I64 or I32",
               "F32 lengths");
    int64_t len3[3] = {1, 1, 1};
    a[1] = (sb_st_out){"lengths", SB_DT_I64, 1, sl3, len3};
    input_case(&tf, &seq, a, 2, SB_ERR_TENSOR, "tensor 'lengths' has shape [3], expected [2]", "lengths B");

    /* bad input tensor */
    sb_st_out o = {"other", SB_DT_F32, 3, sx, x};
    input_case(&tf, &seq, &o, 1, SB_ERR_TENSOR, "missing tensor 'input'", "no input");
    float x4[40] = {0};
    o = (sb_st_out){"input", SB_DT_F32, 3, sx4, x4};
    input_case(&tf, &seq, &o, 1, SB_ERR_TENSOR, "tensor 'input' has shape [2,5,4], expected F32 [B,L,3]",
               "d_input");
    o = (sb_st_out){"input", SB_DT_F32, 3, sx0, NULL};
    input_case(&tf, &seq, &o, 1, SB_ERR_TENSOR, "B and L must be at least 1", "L = 0");
    o = (sb_st_out){"input", SB_DT_F32, 2, sx, x};
    input_case(&tf, &seq, &o, 1, SB_ERR_TENSOR, "tensor 'input' has shape [2,5]", "rank 2");
    int64_t ids[2 * 5] = {0, 1, 2, 3, 4, 49, 48, 0, 0, 0};
    o = (sb_st_out){"input", SB_DT_I64, 2, sx, ids};
    input_case(&tf, &seq, &o, 1, SB_ERR_TENSOR, "tensor 'input' has dtype I64, expected F32", "ids for seq");

    /* lm ids */
    input_case(&tf, &lm, &o, 1, SB_OK, "", "lm I64");
    TU_OK(sb_input_load(tf.path, &lm, &in, &tu_err));
    ck_assert_int_eq(in.F, 0);
    ck_assert_int_eq(in.ids[5], 49);
    ck_assert_int_eq(in.lengths[0], 5);
    sb_input_free(&in);
    int32_t ids32[10] = {0, 1, 2, 3, 4, 49, 48, 0, 0, 0};
    sb_st_out o32 = {"input", SB_DT_I32, 2, sx, ids32};
    input_case(&tf, &lm, &o32, 1, SB_OK, "", "lm I32");
    ids[8] = 50;
    input_case(&tf, &lm, &o, 1, SB_ERR_ARG, "token id 50 at (b=1, t=3) is outside [0, 50)", "id = vocab");
    ids[8] = 0;
    ids[2] = -1;
    input_case(&tf, &lm, &o, 1, SB_ERR_ARG, "token id -1 at (b=0, t=2)", "id < 0");
    ids[2] = (int64_t)1 << 40;
    input_case(&tf, &lm, &o, 1, SB_ERR_ARG, "token id 1099511627776 at (b=0, t=2)", "id huge");
    ids[2] = 2;
    o = (sb_st_out){"input", SB_DT_F32, 2, sx, x};
    input_case(&tf, &lm, &o, 1, SB_ERR_TENSOR, "tensor 'input' has dtype F32, expected I64 or I32",
               "float for lm");
    o = (sb_st_out){"input", SB_DT_I64, 3, sx, NULL};
    int64_t big3[30] = {0};
    o.data = big3;
    input_case(&tf, &lm, &o, 1, SB_ERR_TENSOR, "tensor 'input' has shape [2,5,3]", "lm rank 3");

    sb_err e;
    ck_assert_int_eq(sb_input_load(DATA "missing.io.safetensors", &seq, &in, &e), SB_ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, "missing.io.safetensors"));
    tmp_close(&tf);
}
END_TEST

int main(void) {
    Suite *s = suite_create("model_file");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_fixture_models);
    tcase_add_test(tc, test_demo_model);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_bad_metadata);
    tcase_add_test(tc, test_bad_tensors);
    tcase_add_test(tc, test_fixture_inputs);
    tcase_add_test(tc, test_bad_inputs);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
