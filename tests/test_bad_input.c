/* test_bad_input.c - the bad-input matrix: malformed model files, malformed
 * input files and bad forward arguments, each refused with an exact status and
 * a message naming the problem, through the public API (sb_model_load,
 * sb_inspect, sb_model_run_file, sb_model_forward) and through the CLI (which
 * must exit with status 1 - never a signal, never LeakSanitizer's 23 - with the
 * message on stderr and no output file). Every malformed file is built here from
 * a valid fixture by raw byte edits, header (JSON) edits or a rewrite through
 * sb_st_write. NaN/Inf inputs must run. A last test mutates fixtures at random
 * (fixed seeds): files nobody wrote by hand must be refused cleanly too. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <sys/resource.h>
#include "testutil.h"
#include "hardening_util.h"
#include "../runtime/safetensors.h"
#include "../runtime/model.h"
#include "seqboat.h"

#define DATA SB_TEST_DATA_DIR "/"
#define SEQ_MODEL DATA "causal_relu2_layernorm.model.safetensors"
#define SEQ_IO DATA "causal_relu2_layernorm.io.safetensors"
#define LM_MODEL DATA "lm_tokens.model.safetensors"
#define LM_IO DATA "lm_tokens.io.safetensors"

/* ---- the CLI ---------------------------------------------------------------- */

/* `seqboat run` must fail cleanly: exit status 1, the needle on stderr, no output. */
static void cli_run_fails(const char *model, const char *input, const char *needle) {
    const char *out = hu_path("cli_out.safetensors");
    const char *args[] = {"run", "--model", model, "--input", input, "--output", out, NULL};
    char *err = NULL;
    int st = hu_cli(args, &err);
    ck_assert_msg(WIFEXITED(st), "CLI ended by signal %d; stderr: %s", WTERMSIG(st), err);
    ck_assert_msg(WEXITSTATUS(st) == 1, "CLI exit status %d (want 1; 23 = leak); stderr: %s",
                  WEXITSTATUS(st), err);
    ck_assert_msg(strlen(err) > 0, "CLI: nothing on stderr");
    if (needle) hu_expect_has(err, needle, "CLI stderr");
    ck_assert_msg(!hu_exists(out), "CLI wrote an output file on failure");
    free(err);
}

/* A soft address-space limit of (what the process maps now + 64 MiB) while a
 * loader call runs: a loader that allocates what a small file merely claims
 * fails with SB_ERR_HOST_MEMORY instead of the expected status. Off under
 * sanitizers (their shadow memory needs terabytes of address space). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SB_NO_AS_LIMIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define SB_NO_AS_LIMIT 1
#endif
#endif
#ifndef SB_NO_AS_LIMIT
static struct rlimit saved_as;
#endif

static void as_limit_on(void) {
#ifndef SB_NO_AS_LIMIT
    unsigned long pages = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(fscanf(fp, "%lu", &pages), 1);
    fclose(fp);
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &saved_as), 0);
    struct rlimit r = saved_as;
    r.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)64 << 20);
    if (saved_as.rlim_max != RLIM_INFINITY && r.rlim_cur > saved_as.rlim_max) r.rlim_cur = saved_as.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &r), 0);
#endif
}

static void as_limit_off(void) {
#ifndef SB_NO_AS_LIMIT
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &saved_as), 0);
#endif
}

/* ---- building malformed files ------------------------------------------------ */

static uint64_t le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static void put_le64(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* src's data region under a new header text. */
static void with_header(const char *dst, const hu_blob *src, const char *hdr) {
    uint64_t hl = le64(src->b);
    size_t dl = src->n - 8 - (size_t)hl, nl = strlen(hdr);
    unsigned char *b = malloc(8 + nl + dl + 1);
    ck_assert_ptr_nonnull(b);
    put_le64(b, nl);
    memcpy(b + 8, hdr, nl);
    memcpy(b + 8 + nl, src->b + 8 + hl, dl);
    hu_spit(dst, b, 8 + nl + dl);
    free(b);
}

/* Parse src's header, set entry[tensor][field] to the JSON text `value`, write dst. */
static void edit_field(const char *dst, const char *src_path, const char *tensor, const char *field,
                       const char *value) {
    hu_blob s = hu_slurp(src_path);
    uint64_t hl = le64(s.b);
    char *text = strndup((const char *)s.b + 8, (size_t)hl);
    cJSON *root = cJSON_Parse(text);
    ck_assert_ptr_nonnull(root);
    cJSON *ent = cJSON_GetObjectItemCaseSensitive(root, tensor);
    ck_assert_msg(ent != NULL, "fixture has no tensor %s", tensor);
    cJSON *v = cJSON_Parse(value);
    ck_assert_ptr_nonnull(v);
    ck_assert(cJSON_ReplaceItemInObjectCaseSensitive(ent, field, v));
    char *out = cJSON_PrintUnformatted(root);
    with_header(dst, &s, out);
    free(out);
    cJSON_Delete(root);
    free(text);
    free(s.b);
}

/* Rewrite a model through sb_st_write: drop one tensor, write one as I32, cut
 * one dimension of one tensor by 1, and override (value) or remove (NULL)
 * metadata keys: meta = key, value, key, value, ..., NULL. no_meta drops all. */
typedef struct {
    const char *drop, *as_i32, *shrink;
    const char *meta[8];
    int no_meta;
} rewrite;

static void rewrite_model(const char *dst, const char *src, const rewrite *r) {
    sb_st_file *f = NULL;
    TU_OK(sb_st_open(src, &f, &tu_err));
    int n = sb_st_count(f), k = 0, nm = sb_st_meta_count(f), j = 0;
    sb_st_out *t = calloc((size_t)n, sizeof *t);
    int64_t(*shapes)[SB_ST_MAX_DIMS] = calloc((size_t)n, sizeof *shapes);
    const char **kv = calloc((size_t)(2 * nm + 16), sizeof *kv);
    ck_assert(t && shapes && kv);
    for (int i = 0; i < n; i++) {
        const sb_tensor *x = sb_st_at(f, i);
        if (r->drop && !strcmp(x->name, r->drop)) continue;
        memcpy(shapes[k], x->shape, sizeof shapes[k]);
        if (r->shrink && !strcmp(x->name, r->shrink)) shapes[k][x->ndim - 1]--;
        sb_st_out o = {x->name, x->dtype, x->ndim, shapes[k], x->data};
        if (r->as_i32 && !strcmp(x->name, r->as_i32)) o.dtype = SB_DT_I32;
        t[k++] = o;
    }
    for (int i = 0; i < nm && !r->no_meta; i++) {
        const char *key, *val;
        ck_assert(sb_st_meta_at(f, i, &key, &val));
        for (int m = 0; r->meta[m]; m += 2)
            if (!strcmp(r->meta[m], key)) val = r->meta[m + 1];
        if (val) kv[j++] = key, kv[j++] = val;
    }
    for (int m = 0; r->meta[m]; m += 2) /* keys the fixture lacks */
        if (r->meta[m + 1] && !sb_st_meta(f, r->meta[m])) kv[j++] = r->meta[m], kv[j++] = r->meta[m + 1];
    TU_OK(sb_st_write(dst, t, k, kv, &tu_err));
    free(kv);
    free(shapes);
    free(t);
    sb_st_free(f);
}

/* ---- the model-file matrix --------------------------------------------------- */

typedef struct {
    const char *name;
    int kind;             /* 0 raw edit, 1 header field edit, 2 rewrite, 3 whole header,
                             4 a folder, 5 no file at all */
    int raw;              /* raw: 0 empty, 1 five bytes, 2 cut in header, 3 cut in data,
                             4 header length = file size, 5 header length 2^64-16 */
    const char *tensor, *field, *value; /* kind 1; kind 3: value = header text */
    rewrite rw;           /* kind 2 */
    sb_status want;
    const char *needle;
} model_case;

static const model_case MC[] = {
    {"a folder", 4, 0, 0, 0, 0, {0}, SB_ERR_IO, "is not a regular file"},
    {"no such file", 5, 0, 0, 0, 0, {0}, SB_ERR_IO, "No such file or directory"},
    {"empty file", 0, 0, 0, 0, 0, {0}, SB_ERR_FORMAT, "shorter than the 8-byte"},
    {"five bytes", 0, 1, 0, 0, 0, {0}, SB_ERR_FORMAT, "shorter than the 8-byte"},
    {"truncated in the header", 0, 2, 0, 0, 0, {0}, SB_ERR_FORMAT, "goes beyond the end of the file"},
    {"truncated in the data", 0, 3, 0, 0, 0, {0}, SB_ERR_FORMAT, "beyond the data region"},
    {"header length = file size", 0, 4, 0, 0, 0, {0}, SB_ERR_FORMAT, "goes beyond the end of the file"},
    {"header length 2^64-16", 0, 5, 0, 0, 0, {0}, SB_ERR_FORMAT, "goes beyond the end of the file"},
    {"header not JSON", 3, 0, 0, 0, "this is not JSON", {0}, SB_ERR_FORMAT, "not valid JSON"},
    {"header a JSON array", 3, 0, 0, 0, "[1, 2, 3]", {0}, SB_ERR_FORMAT, "not a JSON object"},
    {"header a JSON string", 3, 0, 0, 0, "\"model\"", {0}, SB_ERR_FORMAT, "not a JSON object"},
    {"header JSON then junk", 3, 0, 0, 0, "{} xyz", {0}, SB_ERR_FORMAT, "trailing bytes"},
    {"offsets beyond the data", 1, 0, "decoder.bias", "data_offsets", "[0, 99999999]", {0},
     SB_ERR_FORMAT, "tensor 'decoder.bias': data_offsets [0, 99999999] lie beyond the data region"},
    {"offsets reversed", 1, 0, "decoder.bias", "data_offsets", "[20, 0]", {0}, SB_ERR_FORMAT,
     "tensor 'decoder.bias': data_offsets [20, 0] are reversed"},
    {"offsets too short", 1, 0, "decoder.bias", "data_offsets", "[0, 8]", {0}, SB_ERR_FORMAT,
     "hold 8 bytes, but 5 elements of F32 need 20"},
    {"offsets negative", 1, 0, "decoder.bias", "data_offsets", "[-20, 0]", {0}, SB_ERR_FORMAT,
     "'data_offsets' is not an array of two non-negative integers"},
    {"shape negative", 1, 0, "decoder.bias", "shape", "[-5]", {0}, SB_ERR_FORMAT,
     "tensor 'decoder.bias': shape dim 0 is not a non-negative integer"},
    {"shape absurd", 1, 0, "decoder.bias", "shape", "[1099511627776, 1099511627776]", {0},
     SB_ERR_FORMAT, "tensor 'decoder.bias': the element count of its shape overflows"},
    {"dtype unknown", 1, 0, "decoder.bias", "dtype", "\"Q4\"", {0}, SB_ERR_TENSOR,
     "tensor 'decoder.bias' has dtype Q4, expected F32"},
    {"dtype mismatch", 2, 0, 0, 0, 0, {.as_i32 = "decoder.bias"}, SB_ERR_TENSOR,
     "tensor 'decoder.bias' has dtype I32, expected F32"},
    {"shape mismatch", 2, 0, 0, 0, 0, {.shrink = "decoder.weight"}, SB_ERR_TENSOR,
     "tensor 'decoder.weight' has shape [5,15], expected [5,16]"},
    {"missing tensor", 2, 0, 0, 0, 0, {.drop = "seq_layers.1.h_proj.bias"}, SB_ERR_TENSOR,
     "missing tensor 'seq_layers.1.h_proj.bias'"},
    {"no metadata", 2, 0, 0, 0, 0, {.no_meta = 1}, SB_ERR_META,
     "missing metadata key 'seqboat.format_version'"},
    {"missing metadata key", 2, 0, 0, 0, 0, {.meta = {"d_model", NULL}}, SB_ERR_META,
     "missing metadata key 'd_model'"},
    {"unknown format version", 2, 0, 0, 0, 0, {.meta = {"seqboat.format_version", "3"}},
     SB_ERR_META, "'seqboat.format_version' = '3' is not supported"},
    {"unknown task", 2, 0, 0, 0, 0, {.meta = {"task", "regression"}}, SB_ERR_META,
     "'task' = 'regression' is not one of"},
    {"unknown norm_type", 2, 0, 0, 0, 0, {.meta = {"norm_type", "groupnorm"}}, SB_ERR_META,
     "'norm_type' = 'groupnorm' is not one of"},
    {"unknown boolean", 2, 0, 0, 0, 0, {.meta = {"bidirectional", "yes"}}, SB_ERR_META,
     "'bidirectional' = 'yes' is not one of"},
    {"non-integer size", 2, 0, 0, 0, 0, {.meta = {"d_qk", "8.0"}}, SB_ERR_META,
     "'d_qk' = '8.0' is not an integer"},
    {"zero size", 2, 0, 0, 0, 0, {.meta = {"d_model", "0"}}, SB_ERR_META,
     "'d_model' = '0' must be at least 1"},
    {"negative size", 2, 0, 0, 0, 0, {.meta = {"d_ema", "-4"}}, SB_ERR_META,
     "'d_ema' = '-4' must be at least 1"},
    {"negative truncation", 2, 0, 0, 0, 0, {.meta = {"truncation", "-1"}}, SB_ERR_META,
     "'truncation' = '-1' must be at least 0"},
    {"absurd size", 2, 0, 0, 0, 0, {.meta = {"d_model", "99999999999999999999"}}, SB_ERR_META,
     "'d_model' = '99999999999999999999' is too large"},
    {"size over the limit", 2, 0, 0, 0, 0, {.meta = {"d_hidden", "1048577"}}, SB_ERR_META,
     "'d_hidden' = '1048577' is too large (at most 1048576)"},
    {"absurd parameter count", 2, 0, 0, 0, 0, {.meta = {"d_model", "1048576", "d_hidden", "1048576"}},
     SB_ERR_META, "more than the limit"},
    {"absurd layer count", 2, 0, 0, 0, 0, {.meta = {"n_layers", "1048576"}}, SB_ERR_TENSOR,
     "missing tensor 'seq_layers.2.gamma'"},
};
#define N_MC ((int)(sizeof MC / sizeof MC[0]))

static void make_model_case(const model_case *c, const char *dst) {
    if (c->kind == 4) {
        ck_assert_int_eq(mkdir(dst, 0755), 0);
        return;
    }
    if (c->kind == 5) return;
    if (c->kind == 1) {
        edit_field(dst, SEQ_MODEL, c->tensor, c->field, c->value);
        return;
    }
    if (c->kind == 2) {
        rewrite_model(dst, SEQ_MODEL, &c->rw);
        return;
    }
    hu_blob s = hu_slurp(SEQ_MODEL);
    uint64_t hl = le64(s.b);
    if (c->kind == 3) {
        with_header(dst, &s, c->value);
    } else if (c->raw == 0) {
        hu_spit(dst, s.b, 0);
    } else if (c->raw == 1) {
        hu_spit(dst, s.b, 5);
    } else if (c->raw == 2) {
        hu_spit(dst, s.b, 8 + (size_t)hl / 2);
    } else if (c->raw == 3) {
        hu_spit(dst, s.b, s.n - (s.n - 8 - (size_t)hl) / 2);
    } else {
        put_le64(s.b, c->raw == 4 ? (uint64_t)s.n : UINT64_MAX - 15);
        hu_spit(dst, s.b, s.n);
    }
    free(s.b);
}

/* Same status and message through sb_model_load, sb_inspect and `seqboat run`;
 * the memory limit (when not under a sanitizer) proves "refused before
 * allocating": nothing the file claims is allocated. */
START_TEST(model_file_case) {
    const model_case *c = &MC[_i];
    hu_tmp_open("sb_bad_");
    const char *bad = hu_path("bad.model.safetensors");
    make_model_case(c, bad);
    sb_model *m = (sb_model *)1;
    as_limit_on();
    sb_status st = sb_model_load(bad, NULL, &m);
    as_limit_off();
    ck_assert_msg(st == c->want, "%s: sb_model_load -> %s (%d), want %s; %s", c->name,
                  sb_status_string(st), st, sb_status_string(c->want), sb_last_error());
    ck_assert_ptr_null(m);
    hu_expect_has(sb_last_error(), c->needle, c->name);
    hu_expect_has(sb_last_error(), bad, c->name); /* names the file */
    char *text = (char *)1;
    as_limit_on();
    st = sb_inspect(bad, &text);
    as_limit_off();
    ck_assert_msg(st == c->want, "%s: sb_inspect -> %s", c->name, sb_status_string(st));
    ck_assert_ptr_null(text);
    hu_expect_has(sb_last_error(), c->needle, c->name);
    cli_run_fails(bad, SEQ_IO, c->needle);
    const char *args[] = {"inspect", "--model", bad, NULL};
    char *err = NULL;
    int ws = hu_cli(args, &err);
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 1, "%s: seqboat inspect status %d; %s", c->name,
                  ws, err);
    hu_expect_has(err, c->needle, "seqboat inspect stderr");
    free(err);
    hu_tmp_close();
}
END_TEST

/* ---- the input-file matrix ---------------------------------------------------- */

typedef struct {
    const char *name;
    int lm;                 /* model: lm_tokens, else causal_relu2_layernorm (d_input 3) */
    int B, L, F;            /* input shape (F = 0: token ids [B,L]; -1: no input tensor) */
    sb_dtype dt;            /* dtype of `input` */
    int64_t len[3];         /* lengths (B <= 3); all 0 = no lengths tensor */
    int len_n;              /* lengths shape [len_n] (0 = B) */
    sb_dtype len_dt;
    int64_t bad_id;         /* lm: ids[0][min(4,L-1)] = bad_id when non-zero */
    int raw;                /* 1: empty file, 2: header not JSON */
    sb_status want;
    const char *needle;
} input_case;

#define F32 SB_DT_F32
#define I64 SB_DT_I64
#define I32 SB_DT_I32
static const input_case IC[] = {
    {"empty input file", 0, 2, 5, 3, F32, {0}, 0, I64, 0, 1, SB_ERR_FORMAT, "shorter than the 8-byte"},
    {"input header not JSON", 0, 2, 5, 3, F32, {0}, 0, I64, 0, 2, SB_ERR_FORMAT, "not valid JSON"},
    {"missing input tensor", 0, 2, 5, -1, F32, {5, 5}, 0, I64, 0, 0, SB_ERR_TENSOR,
     "missing tensor 'input'"},
    {"input dtype mismatch", 0, 2, 5, 3, I32, {0}, 0, I64, 0, 0, SB_ERR_TENSOR,
     "tensor 'input' has dtype I32, expected F32 [B,L,3]"},
    {"input shape mismatch", 0, 2, 5, 4, F32, {0}, 0, I64, 0, 0, SB_ERR_TENSOR,
     "tensor 'input' has shape [2,5,4], expected F32 [B,L,3]"},
    {"L = 0", 0, 2, 0, 3, F32, {0}, 0, I64, 0, 0, SB_ERR_TENSOR, "B and L must be at least 1"},
    {"B = 0", 0, 0, 5, 3, F32, {0}, 0, I64, 0, 0, SB_ERR_TENSOR, "B and L must be at least 1"},
    {"length 0", 0, 2, 5, 3, F32, {0, 5}, 0, I64, 0, 0, SB_ERR_ARG, "lengths[0] = 0 is outside 1..5"},
    {"negative length", 0, 2, 5, 3, F32, {5, -2}, 0, I32, 0, 0, SB_ERR_ARG,
     "lengths[1] = -2 is outside 1..5"},
    {"length beyond L", 0, 2, 5, 3, F32, {6, 5}, 0, I64, 0, 0, SB_ERR_ARG,
     "lengths[0] = 6 is outside 1..5"},
    {"length absurd", 0, 2, 5, 3, F32, {5, (int64_t)1 << 40}, 0, I64, 0, 0, SB_ERR_ARG,
     "lengths[1] = 1099511627776 is outside 1..5"},
    {"lengths shape mismatch", 0, 2, 5, 3, F32, {5, 5, 5}, 3, I64, 0, 0, SB_ERR_TENSOR,
     "tensor 'lengths' has shape [3], expected [2] (B)"},
    {"lengths dtype mismatch", 0, 2, 5, 3, F32, {5, 5}, 0, F32, 0, 0, SB_ERR_TENSOR,
     "tensor 'lengths' has dtype F32, expected I64 or I32"},
    {"float input to an lm", 1, 1, 8, 3, F32, {0}, 0, I64, 0, 0, SB_ERR_TENSOR,
     "tensor 'input' has dtype F32, expected I64 or I32"},
    {"token id = vocab", 1, 1, 8, 0, I64, {0}, 0, I64, 50, 0, SB_ERR_ARG,
     "token id 50 at (b=0, t=4) is outside [0, 50) (vocab_size)"},
    {"negative token id", 1, 1, 8, 0, I32, {0}, 0, I64, -1, 0, SB_ERR_ARG,
     "token id -1 at (b=0, t=4) is outside [0, 50)"},
    {"absurd token id", 1, 2, 8, 0, I64, {8, 8}, 0, I64, (int64_t)1 << 40, 0, SB_ERR_ARG,
     "token id 1099511627776 at (b=0, t=4)"},
};
#define N_IC ((int)(sizeof IC / sizeof IC[0]))

static void make_input_case(const input_case *c, const char *dst) {
    if (c->raw == 1) {
        hu_spit(dst, "", 0);
        return;
    }
    size_t bl = (size_t)c->B * (size_t)c->L, n = bl * (size_t)(c->F > 0 ? c->F : 1);
    void *x = calloc(n + 1, 8);
    ck_assert_ptr_nonnull(x);
    if (c->dt == F32) tu_fill(x, n, 11, -1, 1);
    for (size_t i = 0; i < n && c->dt != F32; i++) { /* token ids 0..49 */
        if (c->dt == I64) ((int64_t *)x)[i] = (int64_t)(i * 7 % 50);
        else ((int32_t *)x)[i] = (int32_t)(i * 7 % 50);
    }
    if (c->bad_id) {
        size_t at = c->L > 4 ? 4 : (size_t)c->L - 1;
        if (c->dt == I64) ((int64_t *)x)[at] = c->bad_id;
        else ((int32_t *)x)[at] = (int32_t)c->bad_id;
    }
    int64_t xs[3] = {c->B, c->L, c->F}, ls[1] = {c->len_n ? c->len_n : c->B};
    int32_t len32[3];
    float lenf[3];
    for (int i = 0; i < 3; i++) len32[i] = (int32_t)c->len[i], lenf[i] = (float)c->len[i];
    sb_st_out t[2];
    int k = 0;
    if (c->F >= 0) {
        sb_st_out o = {"input", c->dt, c->F > 0 ? 3 : 2, xs, x};
        t[k++] = o;
    }
    if (c->len[0] || c->len[1] || c->len[2]) {
        const void *ld = c->len_dt == I64 ? (const void *)c->len
                         : c->len_dt == I32 ? (const void *)len32 : (const void *)lenf;
        sb_st_out o = {"lengths", c->len_dt, 1, ls, ld};
        t[k++] = o;
    }
    TU_OK(sb_st_write(dst, t, k, NULL, &tu_err));
    free(x);
    if (c->raw == 2) {
        hu_blob s = hu_slurp(dst);
        with_header(dst, &s, "{\"input\": {\"dtype\": \"F32\", ");
        free(s.b);
    }
}

START_TEST(input_file_case) {
    const input_case *c = &IC[_i];
    const char *model = c->lm ? LM_MODEL : SEQ_MODEL;
    hu_tmp_open("sb_bad_");
    const char *in = hu_path("bad.io.safetensors"), *out = hu_path("out.safetensors");
    make_input_case(c, in);
    sb_model *m = NULL;
    ck_assert_msg(sb_model_load(model, NULL, &m) == SB_OK, "%s", sb_last_error());
    sb_status st = sb_model_run_file(m, in, out);
    ck_assert_msg(st == c->want, "%s: sb_model_run_file -> %s (%d), want %s; %s", c->name,
                  sb_status_string(st), st, sb_status_string(c->want), sb_model_last_error(m));
    hu_expect_has(sb_model_last_error(m), c->needle, c->name);
    ck_assert_msg(!hu_exists(out), "%s: an output file was written", c->name);
    /* the model is still usable: the matching fixture runs */
    TU_OK(sb_model_run_file(m, c->lm ? LM_IO : SEQ_IO, out));
    ck_assert_str_eq(sb_model_last_error(m), "");
    sb_model_free(m);
    cli_run_fails(model, in, c->needle);
    hu_tmp_close();
}
END_TEST

/* ---- sb_model_forward arguments ------------------------------------------------ */

typedef struct {
    const char *name;
    int lm, B, L;
    int32_t len[2];  /* all 0 = NULL lengths */
    int32_t bad_id;  /* lm: ids[0][1] */
    int null_x;
    sb_status want;
    const char *needle;
} fwd_case;

static const fwd_case FC[] = {
    {"L = 0", 0, 1, 0, {0}, 0, 0, SB_ERR_ARG, "batch 1 x length 0: both must be >= 1"},
    {"L < 0", 0, 1, -7, {0}, 0, 0, SB_ERR_ARG, "batch 1 x length -7: both must be >= 1"},
    {"B = 0", 0, 0, 5, {0}, 0, 0, SB_ERR_ARG, "batch 0 x length 5: both must be >= 1"},
    {"B * L absurd", 0, 65536, 65536, {0}, 0, 0, SB_ERR_ARG, "is too large"},
    {"length 0", 0, 2, 5, {0, 3}, 0, 0, SB_ERR_ARG, "lengths[0] = 0 is outside 1..L (L = 5)"},
    {"negative length", 0, 2, 5, {3, -1}, 0, 0, SB_ERR_ARG, "lengths[1] = -1 is outside 1..L"},
    {"length beyond L", 0, 2, 5, {6, 5}, 0, 0, SB_ERR_ARG, "lengths[0] = 6 is outside 1..L"},
    {"no float input", 0, 2, 5, {0}, 0, 1, SB_ERR_ARG, "float input is required"},
    {"token id = vocab", 1, 2, 5, {0}, 50, 0, SB_ERR_ARG,
     "token id 50 at [0, 1] is outside the vocabulary 0..49"},
    {"negative token id", 1, 2, 5, {0}, -3, 0, SB_ERR_ARG, "token id -3 at [0, 1]"},
    {"no token ids", 1, 2, 5, {0}, 0, 1, SB_ERR_ARG, "token ids are required"},
};
#define N_FC ((int)(sizeof FC / sizeof FC[0]))

START_TEST(forward_case) {
    const fwd_case *c = &FC[_i];
    sb_model *m = NULL;
    ck_assert_msg(sb_model_load(c->lm ? LM_MODEL : SEQ_MODEL, NULL, &m) == SB_OK, "%s",
                  sb_last_error());
    enum { BMAX = 2, LMAX = 5 };
    float x[BMAX * LMAX * 3], out[BMAX * LMAX * 50 + 1];
    int32_t ids[BMAX * LMAX];
    tu_fill(x, sizeof x / sizeof x[0], 5, -1, 1);
    for (int i = 0; i < BMAX * LMAX; i++) ids[i] = i % 50;
    if (c->bad_id) ids[1] = c->bad_id;
    const int32_t *len = (c->len[0] || c->len[1]) ? c->len : NULL;
    const float *xp = c->lm || c->null_x ? NULL : x;
    const int32_t *ip = c->lm && !c->null_x ? ids : NULL;
    out[BMAX * LMAX * 50] = 12345.0f;
    sb_status st = sb_model_forward(m, c->B, c->L, xp, ip, len, out);
    ck_assert_msg(st == c->want, "%s: sb_model_forward -> %s (%d); %s", c->name, sb_status_string(st),
                  st, sb_model_last_error(m));
    hu_expect_has(sb_model_last_error(m), c->needle, c->name);
    ck_assert(out[BMAX * LMAX * 50] == 12345.0f);
    /* still usable */
    int32_t good[BMAX] = {5, 2};
    ids[1] = 1;
    st = sb_model_forward(m, BMAX, LMAX, c->lm ? NULL : x, c->lm ? ids : NULL, good, out);
    ck_assert_msg(st == SB_OK, "%s: valid forward after the refused one: %s", c->name,
                  sb_model_last_error(m));
    ck_assert_str_eq(sb_model_last_error(m), "");
    sb_model_free(m);
}
END_TEST

/* A kernel source that fails to build (SEQBOAT_KERNEL_DIR at a copy of cl/
 * with one file broken) fails sb_model_load itself - with a message naming the
 * program file and the kernel and carrying the build log - never a later
 * forward. Both a file the forward uses (window_attn.cl) and one only the
 * streaming decoder uses (stream_step.cl): all are built at load. */
static const char *const broken_files[] = {"window_attn.cl", "stream_step.cl", "norm_eltwise.cl"};
START_TEST(broken_kernel_source) {
    const char *file = broken_files[_i];
    char dir[] = "/tmp/sb_broken_cl_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *names[] = {"block_carry.cl", "ema_scan.cl", "gate_compact.cl", "gau_step.cl",
                           "linear.cl", "norm_eltwise.cl", "stream_step.cl", "window_attn.cl"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char src[512], dst[512];
        snprintf(src, sizeof src, "%s/cl/%s", SB_SOURCE_DIR, names[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, names[i]);
        size_t n = 0;
        char *text = tu_slurp(src, &n);
        FILE *f = fopen(dst, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(text, 1, n, f), n);
        if (strcmp(names[i], file) == 0) fputs("\nthis_is_not_opencl_c(;\n", f);
        ck_assert_int_eq(fclose(f), 0);
        free(text);
    }
    ck_assert_int_eq(setenv("SEQBOAT_KERNEL_DIR", dir, 1), 0);
    ck_assert_int_eq(setenv("SEQBOAT_CACHE_DIR", "off", 1), 0);
    sb_model *m = NULL;
    sb_status st = sb_model_load(LM_MODEL, NULL, &m);
    ck_assert_msg(st == SB_ERR_BUILD, "%s broken: sb_model_load -> %s (%d): %s", file,
                  sb_status_string(st), st, sb_last_error());
    ck_assert_ptr_null(m);
    const char *msg = sb_last_error();
    hu_expect_has(msg, file, "load message");
    hu_expect_has(msg, "kernel ", "load message");
    hu_expect_has(msg, "build log", "load message");
    hu_expect_has(msg, "error", "load message (build log)");
    /* the intact sources load */
    unsetenv("SEQBOAT_KERNEL_DIR");
    ck_assert_msg(sb_model_load(LM_MODEL, NULL, &m) == SB_OK, "%s", sb_last_error());
    sb_model_free(m);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}
END_TEST

/* NaN and Inf in the input: the forward runs (no crash, SB_OK), the model is not
 * poisoned afterwards, and the CLI runs such a file with exit status 0. */
START_TEST(nan_inf_input) {
    enum { B = 2, L = 20, F = 3, DO = 5 };
    float x[B * L * F], out[B * L * DO], clean1[B * L * DO], clean2[B * L * DO];
    tu_fill(x, B * L * F, 9, -1, 1);
    sb_model *m = NULL;
    ck_assert_msg(sb_model_load(SEQ_MODEL, NULL, &m) == SB_OK, "%s", sb_last_error());
    TU_OK(sb_model_forward(m, B, L, x, NULL, NULL, clean1));
    float bad[B * L * F];
    memcpy(bad, x, sizeof bad);
    bad[3] = NAN;
    bad[10] = INFINITY;
    bad[B * L * F - 1] = -INFINITY;
    bad[F * L + 7] = NAN; /* second sequence */
    sb_status st = sb_model_forward(m, B, L, bad, NULL, NULL, out);
    ck_assert_msg(st == SB_OK, "NaN/Inf input: %s: %s", sb_status_string(st), sb_model_last_error(m));
    TU_OK(sb_model_forward(m, B, L, x, NULL, NULL, clean2));
    ck_assert_msg(memcmp(clean1, clean2, sizeof clean1) == 0, "a NaN/Inf forward changed later results");
    sb_model_free(m);

    hu_tmp_open("sb_bad_");
    const char *in = hu_path("nan.io.safetensors"), *o = hu_path("nan.out.safetensors");
    int64_t xs[3] = {B, L, F};
    sb_st_out t = {"input", SB_DT_F32, 3, xs, bad};
    TU_OK(sb_st_write(in, &t, 1, NULL, &tu_err));
    const char *args[] = {"run", "--model", SEQ_MODEL, "--input", in, "--output", o, NULL};
    char *err = NULL;
    int ws = hu_cli(args, &err);
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "CLI on NaN/Inf input: status %d; %s", ws, err);
    ck_assert(hu_exists(o));
    free(err);
    hu_tmp_close();
}
END_TEST

/* sb_options.struct_size: a caller that did not start from sb_options_default
 * is refused with a message saying so; a newer caller's larger struct loads when
 * its extra options are zero (defaults) and is refused when one is set. */
START_TEST(options_struct_size) {
    sb_model *m = NULL;
    sb_options o = sb_options_default();
    ck_assert_uint_eq(o.struct_size, sizeof(sb_options));
    o.struct_size = 0;
    ck_assert_int_eq(sb_model_load(SEQ_MODEL, &o, &m), SB_ERR_ARG);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(sb_last_error(), "sb_options_default"), "%s", sb_last_error());
    struct {
        sb_options o;
        int newer_option;
    } big;
    memset(&big, 0, sizeof big);
    big.o = sb_options_default();
    big.o.struct_size = sizeof big;
    ck_assert_msg(sb_model_load(SEQ_MODEL, &big.o, &m) == SB_OK, "%s", sb_last_error());
    sb_model_free(m);
    m = NULL;
    big.newer_option = 1;
    ck_assert_int_eq(sb_model_load(SEQ_MODEL, &big.o, &m), SB_ERR_ARG);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(sb_last_error(), "struct_size"), "%s", sb_last_error());
}
END_TEST

/* sb_options.tuning: the kernel choices reach the model's runtime, the
 * GPU-class kernels they pick give the default run's answer, the environment
 * overrides a field (read once, at load), bad values fail the load, and a
 * caller of the first, shorter sb_options gets the defaults. */
START_TEST(options_tuning) {
    const int B = 2, L = 9;
    sb_model *m = NULL;
    sb_options o = sb_options_default();
    unsetenv("SEQBOAT_ROWS");
    unsetenv("SEQBOAT_ATTN");
    unsetenv("SEQBOAT_EMA");
    unsetenv("SEQBOAT_LINEAR");
    ck_assert_msg(sb_model_load(SEQ_MODEL, &o, &m) == SB_OK, "%s", sb_last_error());
    int F = m->impl->cfg.d_input, Do = m->impl->cfg.d_output;
    float *x = malloc(sizeof(float) * B * L * F), *want = malloc(sizeof(float) * B * L * Do),
          *got = malloc(sizeof(float) * B * L * Do);
    ck_assert(x && want && got);
    tu_fill(x, (size_t)B * L * F, 11u, -1, 1);
    ck_assert_int_eq(sb_model_forward(m, B, L, x, NULL, NULL, want), SB_OK);
    double ms = -1;
    ck_assert_int_eq(sb_model_layer_stats(m, 0, NULL, NULL, &ms), SB_OK);
    ck_assert_msg(ms == 0, "layer ms %g without profiling: the queue was drained", ms);
    sb_model_free(m);

    o.tuning.rows = SB_TUNE_WG;
    o.tuning.attn = SB_TUNE_LDS;
    o.tuning.ema = SB_TUNE_SCAN;
    o.tuning.linear = SB_TUNE_LDS;
    o.tuning.linear_tiles[0] = 16, o.tuning.linear_tiles[1] = 16, o.tuning.linear_tiles[2] = 8;
    o.tuning.linear_tiles[3] = 2, o.tuning.linear_tiles[4] = 2;
    o.profiling = 1;
    ck_assert_msg(sb_model_load(SEQ_MODEL, &o, &m) == SB_OK, "%s", sb_last_error());
    const sb_rt *rt = m->impl->rt;
    ck_assert_int_eq(rt->tune.rows, SB_TUNE_WG);
    ck_assert_int_eq(rt->tune.attn, SB_TUNE_LDS);
    ck_assert_int_eq(rt->tune.ema, SB_TUNE_SCAN);
    ck_assert_int_eq(rt->lin.variant, SB_LINEAR_LDS);
    ck_assert_int_eq(rt->lin.tm, 16);
    ck_assert_int_eq(sb_model_forward(m, B, L, x, NULL, NULL, got), SB_OK);
    tu_check_close(got, want, (size_t)B * L * Do, 1e-4f, 1e-4f, "GPU-class kernels by sb_options.tuning");
    ck_assert_int_eq(sb_model_layer_stats(m, 0, NULL, NULL, &ms), SB_OK);
    ck_assert_msg(ms > 0, "layer ms %g with profiling", ms);
    o.profiling = 0;
    sb_model_free(m);

    /* the environment wins over the struct */
    ck_assert_int_eq(setenv("SEQBOAT_ROWS", "vec", 1), 0);
    ck_assert_int_eq(setenv("SEQBOAT_EMA", "seq:1", 1), 0);
    ck_assert_msg(sb_model_load(SEQ_MODEL, &o, &m) == SB_OK, "%s", sb_last_error());
    ck_assert_int_eq(m->impl->rt->tune.rows, SB_TUNE_VEC);
    ck_assert_int_eq(m->impl->rt->tune.ema, SB_TUNE_SEQ);
    ck_assert_int_eq(m->impl->rt->tune.ema_vw, 1);
    ck_assert_int_eq(m->impl->rt->tune.attn, SB_TUNE_LDS);
    sb_model_free(m);
    m = NULL;
    ck_assert_int_eq(setenv("SEQBOAT_EMA", "seq:3", 1), 0);
    ck_assert_int_eq(sb_model_load(SEQ_MODEL, &o, &m), SB_ERR_ARG);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(sb_last_error(), "SEQBOAT_EMA=seq:3"), "%s", sb_last_error());
    unsetenv("SEQBOAT_ROWS");
    unsetenv("SEQBOAT_EMA");

    /* bad struct values */
    sb_options bad = sb_options_default();
    bad.tuning.rows = 99;
    ck_assert_int_eq(sb_model_load(SEQ_MODEL, &bad, &m), SB_ERR_ARG);
    ck_assert_msg(strstr(sb_last_error(), "tuning.rows"), "%s", sb_last_error());
    bad = sb_options_default();
    bad.tuning.attn_tiles[0] = 40, bad.tuning.attn_tiles[1] = 3, bad.tuning.attn_tiles[2] = 1;
    ck_assert_int_eq(sb_model_load(SEQ_MODEL, &bad, &m), SB_ERR_ARG);

    /* the first sb_options (up to profiling): tuning bytes are not read */
    o.struct_size = offsetof(sb_options, profiling) + sizeof(int);
    ck_assert_msg(sb_model_load(SEQ_MODEL, &o, &m) == SB_OK, "%s", sb_last_error());
    ck_assert_int_eq(m->impl->rt->tune.rows, SB_TUNE_AUTO);
    ck_assert_int_eq(m->impl->rt->tune.attn, SB_TUNE_AUTO);
    sb_model_free(m);
    free(x), free(want), free(got);
}
END_TEST

/* ---- random mutations: malformed files nobody wrote by hand ------------------- */

static uint32_t rnd(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* One mutant of src: byte flips, digit or quote overwrites in the header, a cut,
 * or a duplicated header slice. */
static hu_blob mutate(const hu_blob *src, uint32_t *s) {
    hu_blob r = {malloc(src->n * 2 + 16), src->n};
    ck_assert_ptr_nonnull(r.b);
    memcpy(r.b, src->b, src->n);
    size_t hl = (size_t)le64(src->b), hend = 8 + hl;
    int kind = (int)(rnd(s) % 5), reps = 1 + (int)(rnd(s) % 4);
    for (int k = 0; k < reps; k++) {
        size_t at = 8 + rnd(s) % hl; /* inside the header */
        switch (kind) {
        case 0: r.b[rnd(s) % r.n] ^= (unsigned char)(1u << (rnd(s) % 8)); break;
        case 1: r.b[at] = (unsigned char)"0123456789-.e"[rnd(s) % 13]; break;
        case 2: r.b[at] = (unsigned char)"\"{}[],:\\ \x00"[rnd(s) % 10]; break;
        case 3: r.n = rnd(s) % src->n; break;
        default: {
            size_t a = 8 + rnd(s) % hl, len = 1 + rnd(s) % 40;
            if (a + len > hend) len = hend - a;
            memmove(r.b + a + len, r.b + a, r.n - a); /* duplicate [a, a+len) */
            r.n += len;
            if (rnd(s) % 2) put_le64(r.b, hl + len);
        }
        }
    }
    return r;
}

START_TEST(random_mutants) {
    const char *srcs[] = {SEQ_MODEL, LM_MODEL, DATA "bidir_softmax_batchnorm_classify.model.safetensors"};
    hu_tmp_open("sb_bad_");
    const char *p = hu_path("mutant.safetensors");
    uint32_t s = 0x9e3779b9u;
    int refused = 0, accepted = 0, via_cli = 0;
    for (int i = 0; i < 600; i++) {
        hu_blob src = hu_slurp(srcs[i % 3]);
        hu_blob mu = mutate(&src, &s);
        hu_spit(p, mu.b, mu.n);
        char *text = NULL;
        sb_status st = sb_inspect(p, &text);
        if (st == SB_OK) {
            accepted++;
            sb_free(text);
            if (accepted <= 4) { /* e.g. flipped weight bits: runs, or fails cleanly */
                const char *o = hu_path("mutant.out.safetensors");
                const char *args[] = {"run", "--model", p, "--input", SEQ_IO, "--output", o, NULL};
                char *err = NULL;
                int ws = hu_cli(args, &err);
                ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) <= 1,
                              "mutant %d accepted by sb_inspect: CLI status %d; %s", i, ws, err);
                free(err);
                unlink(o);
            }
        } else {
            refused++;
            ck_assert_msg(st == SB_ERR_FORMAT || st == SB_ERR_TENSOR || st == SB_ERR_META,
                          "mutant %d: unexpected status %s: %s", i, sb_status_string(st),
                          sb_last_error());
            ck_assert_msg(strlen(sb_last_error()) > 0, "mutant %d: empty message", i);
            if (via_cli < 12 && i % 3 == 0) { /* a few through the CLI */
                cli_run_fails(p, SEQ_IO, NULL);
                via_cli++;
            }
        }
        free(mu.b);
        free(src.b);
    }
    ck_assert_msg(refused > 100, "only %d of 600 mutants refused (%d accepted)", refused, accepted);
    hu_tmp_close();
}
END_TEST

int main(void) {
    Suite *s = suite_create("bad_input");
    TCase *tm = tcase_create("model_files");
    tcase_set_timeout(tm, 120);
    tcase_add_loop_test(tm, model_file_case, 0, N_MC);
    suite_add_tcase(s, tm);
    TCase *ti = tcase_create("input_files");
    tcase_set_timeout(ti, 120);
    tcase_add_loop_test(ti, input_file_case, 0, N_IC);
    suite_add_tcase(s, ti);
    TCase *tf = tcase_create("forward");
    tcase_set_timeout(tf, 120);
    tcase_add_loop_test(tf, forward_case, 0, N_FC);
    tcase_add_test(tf, nan_inf_input);
    tcase_add_loop_test(tf, broken_kernel_source, 0, (int)(sizeof broken_files / sizeof broken_files[0]));
    tcase_add_test(tf, options_struct_size);
    tcase_add_test(tf, options_tuning);
    suite_add_tcase(s, tf);
    TCase *tr = tcase_create("mutants");
    tcase_set_timeout(tr, 300);
    tcase_add_test(tr, random_mutants);
    suite_add_tcase(s, tr);
    return tu_run(s);
}
