/* test_safetensors.c - the safetensors reader on every fixture and on a matrix
 * of broken headers built in memory; the writer's round trip. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "../runtime/safetensors.h"

#define DATA SB_TEST_DATA_DIR "/"

static const char *const FIXTURES[] = {
    "bidir_softmax_batchnorm_classify", "causal_relu2_layernorm", "causal_rotary", "lm_tokens",
    "long_beyond_max_positions",        "ragged_batch",           "sparse_router", "truncated_ema"};
#define NFIX ((int)(sizeof FIXTURES / sizeof FIXTURES[0]))

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

/* A file with header text `json` (used as is) over `data`. */
static blob make_raw(const char *json, const unsigned char *data, size_t dn) {
    size_t jl = strlen(json);
    blob r;
    r.n = 8 + jl + dn;
    r.b = malloc(r.n + 1);
    ck_assert_ptr_nonnull(r.b);
    for (int i = 0; i < 8; i++) r.b[i] = (unsigned char)((uint64_t)jl >> (8 * i));
    memcpy(r.b + 8, json, jl);
    if (dn) memcpy(r.b + 8 + jl, data, dn);
    return r;
}

/* src's data region under header h (printed), consumes h. */
static blob rebuild(const blob *src, cJSON *h) {
    char *json = cJSON_PrintUnformatted(h);
    ck_assert_ptr_nonnull(json);
    size_t hl = hlen_of(src);
    blob r = make_raw(json, src->b + 8 + hl, src->n - 8 - hl);
    free(json);
    cJSON_Delete(h);
    return r;
}

/* Expect sb_st_from_memory to fail with status and a message containing sub. */
static void expect_fail(const blob *f, sb_status want, const char *sub, const char *what) {
    sb_st_file *st = (sb_st_file *)&st; /* must be reset to NULL */
    sb_err e;
    sb_err_clear(&e);
    sb_status s = sb_st_from_memory(f->b, f->n, &st, &e);
    ck_assert_msg(s == want, "%s: status %d (%s), want %d; msg: %s", what, s, sb_status_string(s), want,
                  e.msg);
    ck_assert_msg(st == NULL, "%s: out not NULL on failure", what);
    ck_assert_msg(strstr(e.msg, sub) != NULL, "%s: message '%s' lacks '%s'", what, e.msg, sub);
}

static sb_st_file *expect_ok(const blob *f, const char *what) {
    sb_st_file *st = NULL;
    sb_err_clear(&tu_err);
    sb_status s = sb_st_from_memory(f->b, f->n, &st, &tu_err);
    ck_assert_msg(s == SB_OK, "%s: %s: %s", what, sb_status_string(s), tu_err.msg);
    return st;
}

/* Every tensor: 8-aligned data, bytes equal to the file's bytes at its offsets. */
static void check_against_raw(const sb_st_file *st, const blob *f) {
    cJSON *h = header_of(f);
    size_t base = 8 + hlen_of(f);
    int n = 0;
    const cJSON *ent;
    cJSON_ArrayForEach(ent, h) {
        if (strcmp(ent->string, "__metadata__") == 0) continue;
        n++;
        const sb_tensor *t = sb_st_find(st, ent->string);
        ck_assert_msg(t != NULL, "tensor %s not found", ent->string);
        ck_assert_str_eq(t->name, ent->string);
        ck_assert_str_eq(t->dtype_name, cJSON_GetObjectItem(ent, "dtype")->valuestring);
        const cJSON *sh = cJSON_GetObjectItem(ent, "shape");
        ck_assert_int_eq(t->ndim, cJSON_GetArraySize(sh));
        for (int i = 0; i < t->ndim; i++)
            ck_assert_int_eq(t->shape[i], (int64_t)cJSON_GetArrayItem(sh, i)->valuedouble);
        const cJSON *of = cJSON_GetObjectItem(ent, "data_offsets");
        size_t b = (size_t)cJSON_GetArrayItem(of, 0)->valuedouble;
        size_t en = (size_t)cJSON_GetArrayItem(of, 1)->valuedouble;
        ck_assert_uint_eq(t->nbytes, en - b);
        ck_assert_ptr_nonnull(t->data);
        ck_assert_msg(((uintptr_t)t->data & 7) == 0, "tensor %s data not 8-aligned", t->name);
        ck_assert_msg(memcmp(t->data, f->b + base + b, t->nbytes) == 0, "tensor %s bytes differ", t->name);
    }
    ck_assert_int_eq(sb_st_count(st), n);
    cJSON_Delete(h);
}

START_TEST(test_fixtures_open) {
    for (int i = 0; i < NFIX; i++)
        for (int k = 0; k < 2; k++) {
            char path[512];
            snprintf(path, sizeof path, DATA "%s.%s.safetensors", FIXTURES[i], k ? "io" : "model");
            sb_st_file *st = NULL;
            sb_err_clear(&tu_err);
            TU_OK(sb_st_open(path, &st, &tu_err));
            blob f = read_all(path);
            check_against_raw(st, &f);
            if (k == 0) {
                ck_assert_str_eq(sb_st_meta(st, "seqboat.format_version"), "1");
                ck_assert_ptr_null(sb_st_meta(st, "no_such_key"));
                ck_assert_int_eq(sb_st_meta_count(st), 18);
                const sb_tensor *t = sb_st_find(st, "decoder.weight");
                ck_assert_ptr_nonnull(t);
                ck_assert_int_eq(t->dtype, SB_DT_F32);
                ck_assert_int_eq(t->ndim, 2);
            } else {
                ck_assert_int_eq(sb_st_meta_count(st), 0);
                const sb_tensor *t = sb_st_find(st, "lengths");
                ck_assert_ptr_nonnull(t);
                ck_assert_int_eq(t->dtype, SB_DT_I64);
            }
            ck_assert_ptr_null(sb_st_find(st, "nope"));
            ck_assert_ptr_null(sb_st_at(st, -1));
            ck_assert_ptr_null(sb_st_at(st, sb_st_count(st)));
            /* same result from memory */
            sb_st_file *m = expect_ok(&f, path);
            check_against_raw(m, &f);
            sb_st_free(m);
            sb_st_free(st);
            free(f.b);
        }
}
END_TEST

START_TEST(test_batchnorm_i64) {
    sb_st_file *st = NULL;
    TU_OK(sb_st_open(DATA "bidir_softmax_batchnorm_classify.model.safetensors", &st, &tu_err));
    const sb_tensor *t = sb_st_find(st, "seq_layers.1.norm.norm.num_batches_tracked");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, SB_DT_I64);
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_uint_eq(t->nbytes, 8);
    sb_st_free(st);
}
END_TEST

START_TEST(test_open_errors) {
    sb_st_file *st = NULL;
    sb_err e;
    ck_assert_int_eq(sb_st_open(DATA "does_not_exist.safetensors", &st, &e), SB_ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, "does_not_exist.safetensors"));
    ck_assert_int_eq(sb_st_open(DATA, &st, &e), SB_ERR_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, "not a regular file"));
    ck_assert_ptr_null(st);
    ck_assert_int_eq(sb_st_open(NULL, &st, &e), SB_ERR_ARG);
    ck_assert_int_eq(sb_st_from_memory(NULL, 5, &st, &e), SB_ERR_ARG);

    /* a truncated copy on disk: the message names the file */
    char dir[] = "/tmp/sb_st_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/trunc.safetensors", dir);
    blob f = read_all(DATA "causal_rotary.model.safetensors");
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    fwrite(f.b, 1, 100, fp);
    fclose(fp);
    ck_assert_int_eq(sb_st_open(path, &st, &e), SB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "trunc.safetensors"));
    ck_assert_ptr_nonnull(strstr(e.msg, "beyond the end"));
    fp = fopen(path, "wb");
    fwrite(f.b, 1, 5, fp);
    fclose(fp);
    ck_assert_int_eq(sb_st_open(path, &st, &e), SB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "shorter than the 8-byte"));
    fp = fopen(path, "wb");
    fwrite(f.b, 1, f.n - 3, fp); /* data region cut: last tensor out of range */
    fclose(fp);
    ck_assert_int_eq(sb_st_open(path, &st, &e), SB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "'decoder.bias': data_offsets"));
    ck_assert_ptr_nonnull(strstr(e.msg, "beyond the data region"));
    remove(path);
    rmdir(dir);
    free(f.b);
}
END_TEST

/* Edit the header of a fixture: set entry[name][field] = JSON text v (or delete
 * the field when v is NULL). */
static blob edit_field(const blob *src, const char *name, const char *field, const char *v) {
    cJSON *h = header_of(src);
    cJSON *ent = cJSON_GetObjectItem(h, name);
    ck_assert_ptr_nonnull(ent);
    if (field) {
        cJSON_DeleteItemFromObject(ent, field);
        if (v) {
            cJSON *nv = cJSON_Parse(v);
            ck_assert_ptr_nonnull(nv);
            cJSON_AddItemToObject(ent, field, nv);
        }
    } else {
        cJSON *nv = cJSON_Parse(v);
        ck_assert_ptr_nonnull(nv);
        cJSON_ReplaceItemInObject(h, name, nv);
    }
    return rebuild(src, h);
}

START_TEST(test_bad_matrix) {
    blob f = read_all(DATA "causal_relu2_layernorm.model.safetensors");
    const size_t hl = hlen_of(&f);
    blob b;

    b = f;
    b.n = 7;
    expect_fail(&b, SB_ERR_FORMAT, "shorter than the 8-byte", "7 bytes");
    b.n = 0;
    expect_fail(&b, SB_ERR_FORMAT, "shorter than the 8-byte", "0 bytes");
    b.n = 8 + hl - 1;
    expect_fail(&b, SB_ERR_FORMAT, "beyond the end", "cut in header");

    b = make_raw("", NULL, 0);
    expect_fail(&b, SB_ERR_FORMAT, "header length is 0", "empty header");
    free(b.b);

    b = make_raw("{}", NULL, 0);
    b.b[0] = 200;
    expect_fail(&b, SB_ERR_FORMAT, "beyond the end", "header length > file");
    memset(b.b, 0xff, 8);
    expect_fail(&b, SB_ERR_FORMAT, "beyond the end", "header length 2^64-1");
    free(b.b);

    /* absurd but inside the buffer: a real 100 MB+ buffer, checked before copying */
    size_t big = (size_t)SB_ST_MAX_HEADER + 16;
    b.b = calloc(big + 8, 1);
    ck_assert_ptr_nonnull(b.b);
    b.n = big + 8;
    uint64_t claim = SB_ST_MAX_HEADER + 1;
    for (int i = 0; i < 8; i++) b.b[i] = (unsigned char)(claim >> (8 * i));
    expect_fail(&b, SB_ERR_FORMAT, "absurd", "absurd header");
    free(b.b);

    b = make_raw("this is not json", NULL, 0);
    expect_fail(&b, SB_ERR_FORMAT, "not valid JSON", "non-JSON");
    free(b.b);
    b = make_raw("{\"a\": {\"dtype\": \"F32\"", NULL, 0);
    expect_fail(&b, SB_ERR_FORMAT, "not valid JSON", "unterminated JSON");
    free(b.b);
    b = make_raw("[1, 2, 3]", NULL, 0);
    expect_fail(&b, SB_ERR_FORMAT, "not a JSON object", "array header");
    free(b.b);
    b = make_raw("\"str\"", NULL, 0);
    expect_fail(&b, SB_ERR_FORMAT, "not a JSON object", "string header");
    free(b.b);
    b = make_raw("{} xyz", NULL, 0);
    expect_fail(&b, SB_ERR_FORMAT, "trailing", "trailing junk");
    free(b.b);
    b = make_raw("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
                 "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                 (const unsigned char *)"abcd", 4);
    expect_fail(&b, SB_ERR_FORMAT, "'a' appears twice", "duplicate");
    free(b.b);
    b = make_raw("{\"__metadata__\": {}, \"__metadata__\": {\"k\": \"v\"}}", NULL, 0);
    expect_fail(&b, SB_ERR_FORMAT, "'__metadata__' twice", "duplicate metadata");
    free(b.b);
    b = make_raw("{\"__metadata__\": {\"k\": \"v\", \"k\": \"w\"}}", NULL, 0);
    expect_fail(&b, SB_ERR_FORMAT, "metadata key 'k' appears twice", "duplicate metadata key");
    free(b.b);

    static const struct {
        const char *name, *field, *val, *sub;
    } cases[] = {
        {"encoder.bias", NULL, "[1, 2]", "'encoder.bias': header entry is not a JSON object"},
        {"encoder.bias", NULL, "7", "'encoder.bias': header entry is not a JSON object"},
        {"encoder.bias", "dtype", NULL, "'encoder.bias': missing 'dtype'"},
        {"encoder.bias", "shape", NULL, "'encoder.bias': missing 'shape'"},
        {"encoder.bias", "data_offsets", NULL, "'encoder.bias': missing 'data_offsets'"},
        {"encoder.bias", "dtype", "32", "'dtype' is not a string"},
        {"encoder.bias", "dtype", "\"\"", "is not a dtype name"},
        {"encoder.bias", "dtype", "\"AVERYLONGDTYPENAME\"", "is not a dtype name"},
        {"encoder.bias", "shape", "16", "'shape' is not an array"},
        {"encoder.bias", "shape", "[-16]", "shape dim 0 is not a non-negative integer"},
        {"encoder.bias", "shape", "[4, 4.5]", "shape dim 1 is not a non-negative integer"},
        {"encoder.bias", "shape", "[\"16\"]", "shape dim 0 is not a non-negative integer"},
        {"encoder.bias", "shape", "[1,1,1,1,1,1,1,1,16]", "9 dims, at most 8"},
        {"encoder.bias", "shape", "[4294967296, 4294967296, 4294967296]", "overflows"},
        {"encoder.bias", "shape", "[1e300]", "shape dim 0 is not a non-negative integer"},
        {"encoder.bias", "shape", "[15]", "hold 64 bytes, but 15 elements of F32 need 60"},
        {"encoder.bias", "shape", "[4, 2]", "hold 64 bytes, but 8 elements of F32 need 32"},
        {"encoder.bias", "dtype", "\"I64\"", "16 elements of I64 need 128"},
        {"encoder.bias", "data_offsets", "[256, 192]", "data_offsets [256, 192] are reversed"},
        {"encoder.bias", "data_offsets", "[192, 1000000]", "beyond the data region"},
        {"encoder.bias", "data_offsets", "[192]", "'data_offsets' is not an array of two"},
        {"encoder.bias", "data_offsets", "[192, 256, 300]", "'data_offsets' is not an array of two"},
        {"encoder.bias", "data_offsets", "[-64, 0]", "'data_offsets' is not an array of two"},
        {"encoder.bias", "data_offsets", "{\"a\": 1}", "'data_offsets' is not an array of two"},
        {"__metadata__", NULL, "[\"a\"]", "'__metadata__' is not a JSON object"},
        {"__metadata__", "d_model", "16", "metadata key 'd_model' has a non-string value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b = edit_field(&f, cases[i].name, cases[i].field, cases[i].val);
        char what[160];
        snprintf(what, sizeof what, "case %zu (%s.%s)", i, cases[i].name,
                 cases[i].field ? cases[i].field : "");
        expect_fail(&b, SB_ERR_FORMAT, cases[i].sub, what);
        free(b.b);
    }
    free(f.b);
}
END_TEST

START_TEST(test_accepted_oddities) {
    blob f = read_all(DATA "causal_relu2_layernorm.model.safetensors");
    blob b;
    sb_st_file *st;
    /* BF16 parses as such, size checked; other dtypes parse as OTHER: known
     * size checked, unknown size free */
    b = edit_field(&f, "encoder.bias", "dtype", "\"BF16\"");
    expect_fail(&b, SB_ERR_FORMAT, "16 elements of BF16 need 32", "BF16 size");
    free(b.b);
    b = edit_field(&f, "encoder.bias", "shape", "[32]");
    const char *const other[] = {"BF16", "I16"};
    for (int k = 0; k < 2; k++) {
        cJSON *h = header_of(&b);
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(h, "encoder.bias"), "dtype",
                                  cJSON_CreateString(other[k]));
        blob b2 = rebuild(&b, h);
        st = expect_ok(&b2, other[k]);
        const sb_tensor *t = sb_st_find(st, "encoder.bias");
        ck_assert_int_eq(t->dtype, k ? SB_DT_OTHER : SB_DT_BF16);
        ck_assert_str_eq(t->dtype_name, other[k]);
        ck_assert_uint_eq(t->nbytes, 64);
        ck_assert_uint_eq(sb_st_numel(t), k ? 0 : 32);
        float w[32];
        ck_assert_int_eq(sb_st_to_f32(t, w), !k);
        sb_st_free(st);
        free(b2.b);
    }
    free(b.b);
    b = edit_field(&f, "encoder.bias", "dtype", "\"Q4_K\"");
    st = expect_ok(&b, "unknown dtype");
    ck_assert_int_eq(sb_st_find(st, "encoder.bias")->dtype, SB_DT_OTHER);
    sb_st_free(st);
    free(b.b);
    /* overlapping tensors; misaligned offsets get aligned copies; 0-d; empty */
    b = edit_field(&f, "encoder.bias", "data_offsets", "[4, 68]");
    st = expect_ok(&b, "overlap + misaligned");
    const sb_tensor *t = sb_st_find(st, "encoder.bias");
    ck_assert_msg(((uintptr_t)t->data & 7) == 0, "misaligned copy not aligned");
    ck_assert_int_eq(memcmp(t->data, f.b + 8 + hlen_of(&f) + 4, 64), 0);
    sb_st_free(st);
    free(b.b);
    cJSON *h = header_of(&f);
    cJSON *ent = cJSON_GetObjectItem(h, "encoder.bias");
    cJSON_ReplaceItemInObject(ent, "shape", cJSON_Parse("[0, 16]"));
    cJSON_ReplaceItemInObject(ent, "data_offsets", cJSON_Parse("[5, 5]"));
    ent = cJSON_GetObjectItem(h, "encoder.weight");
    cJSON_ReplaceItemInObject(ent, "shape", cJSON_Parse("[]"));
    cJSON_ReplaceItemInObject(ent, "data_offsets", cJSON_Parse("[4, 8]"));
    b = rebuild(&f, h);
    st = expect_ok(&b, "empty + 0-d");
    t = sb_st_find(st, "encoder.bias");
    ck_assert_uint_eq(t->nbytes, 0);
    ck_assert_ptr_nonnull(t->data);
    t = sb_st_find(st, "encoder.weight");
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_uint_eq(t->nbytes, 4);
    sb_st_free(st);
    free(b.b);
    /* header padded with spaces, no metadata, empty header object */
    b = make_raw("{\"x\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}     ",
                 (const unsigned char *)"\1\0\0\0\2\0\0\0", 8);
    st = expect_ok(&b, "padded");
    ck_assert_int_eq(((const int32_t *)sb_st_find(st, "x")->data)[1], 2);
    ck_assert_int_eq(sb_st_meta_count(st), 0);
    sb_st_free(st);
    free(b.b);
    b = make_raw("{}", NULL, 0);
    st = expect_ok(&b, "empty");
    ck_assert_int_eq(sb_st_count(st), 0);
    ck_assert_ptr_null(sb_st_find(st, "x"));
    sb_st_free(st);
    free(b.b);
    free(f.b);
}
END_TEST

START_TEST(test_write_roundtrip) {
    char dir[] = "/tmp/sb_st_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    float a[3 * 5];
    for (int i = 0; i < 15; i++) a[i] = (float)i * 0.25f - 1.0f;
    int64_t l[3] = {5, -1, 1LL << 40};
    int32_t ids[7] = {0, 1, 2, 3, -4, 5, 2147483647};
    float s = 3.5f;
    int64_t sa[2] = {3, 5}, sl[1] = {3}, si[2] = {1, 7}, se[2] = {0, 4};
    sb_st_out t[5] = {{"a", SB_DT_F32, 2, sa, a},
                      {"lengths", SB_DT_I64, 1, sl, l},
                      {"ids", SB_DT_I32, 2, si, ids},
                      {"scalar", SB_DT_F32, 0, NULL, &s},
                      {"empty", SB_DT_F32, 2, se, NULL}};
    const char *meta[] = {"task", "lm", "note", "a \"quoted\" value", NULL};
    TU_OK(sb_st_write(path, t, 5, meta, &tu_err));
    blob f = read_all(path);
    ck_assert_uint_eq((8 + hlen_of(&f)) % 8, 0);
    sb_st_file *st = NULL;
    TU_OK(sb_st_open(path, &st, &tu_err));
    check_against_raw(st, &f);
    ck_assert_int_eq(sb_st_count(st), 5);
    ck_assert_str_eq(sb_st_at(st, 0)->name, "a"); /* header order kept */
    ck_assert_str_eq(sb_st_at(st, 4)->name, "empty");
    ck_assert_str_eq(sb_st_meta(st, "task"), "lm");
    ck_assert_str_eq(sb_st_meta(st, "note"), "a \"quoted\" value");
    const sb_tensor *x = sb_st_find(st, "a");
    ck_assert_int_eq(x->ndim, 2);
    ck_assert_int_eq(x->shape[1], 5);
    ck_assert_int_eq(memcmp(x->data, a, sizeof a), 0);
    ck_assert_int_eq(memcmp(sb_st_find(st, "lengths")->data, l, sizeof l), 0);
    ck_assert_int_eq(memcmp(sb_st_find(st, "ids")->data, ids, sizeof ids), 0);
    ck_assert_int_eq(sb_st_find(st, "ids")->dtype, SB_DT_I32);
    ck_assert_int_eq(sb_st_find(st, "scalar")->ndim, 0);
    ck_assert(*(const float *)sb_st_find(st, "scalar")->data == 3.5f);
    ck_assert_uint_eq(sb_st_find(st, "empty")->nbytes, 0);
    sb_st_free(st);
    free(f.b);

    /* no metadata; overwrite in place */
    TU_OK(sb_st_write(path, t, 1, NULL, &tu_err));
    TU_OK(sb_st_open(path, &st, &tu_err));
    ck_assert_int_eq(sb_st_count(st), 1);
    ck_assert_int_eq(sb_st_meta_count(st), 0);
    sb_st_free(st);

    /* writer errors */
    sb_err e;
    sb_st_out bad = t[0];
    bad.dtype = SB_DT_OTHER;
    ck_assert_int_eq(sb_st_write(path, &bad, 1, NULL, &e), SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "'a'"));
    sb_st_out dup[2] = {t[0], t[0]};
    ck_assert_int_eq(sb_st_write(path, dup, 2, NULL, &e), SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "twice"));
    bad = t[0];
    bad.data = NULL;
    ck_assert_int_eq(sb_st_write(path, &bad, 1, NULL, &e), SB_ERR_ARG);
    int64_t neg[2] = {3, -5};
    bad = t[0];
    bad.shape = neg;
    ck_assert_int_eq(sb_st_write(path, &bad, 1, NULL, &e), SB_ERR_ARG);
    const char *odd[] = {"k", NULL};
    ck_assert_int_eq(sb_st_write(path, t, 1, odd, &e), SB_ERR_ARG);
    char nodir[300];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir.safetensors", dir);
    ck_assert_int_eq(sb_st_write(nodir, t, 1, NULL, &e), SB_ERR_IO);
    /* the earlier file is intact and no temp file is left behind */
    TU_OK(sb_st_open(path, &st, &tu_err));
    ck_assert_int_eq(sb_st_count(st), 1);
    sb_st_free(st);
    remove(path);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_fixtures_open);
    tcase_add_test(tc, test_batchnorm_i64);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_bad_matrix);
    tcase_add_test(tc, test_accepted_oddities);
    tcase_add_test(tc, test_write_roundtrip);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
