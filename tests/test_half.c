/* test_half.c - F16 and BF16 tensors: the exact widening (runtime/sb_half.h)
 * of every 16-bit pattern against an independent reference, the safetensors
 * reader and writer on F16/BF16 (special values, bad sizes, misaligned
 * offsets, a mix of dtypes in one file), and fixture models rewritten with
 * F16, BF16 and F32 tensors mixed: the loader's f32 weights equal those of
 * the same model stored as the widened values in F32. Host only (no OpenCL). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "../runtime/model_file.h"
#include "../runtime/safetensors.h"
#include "../runtime/sb_half.h"

#define DATA SB_TEST_DATA_DIR "/"

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The value of a finite binary16 pattern, from its definition. */
static double ref_half(uint16_t h) {
    const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    const double v = e == 0 ? ldexp((double)m, -24) : ldexp(1024.0 + m, e - 25);
    return s ? -v : v;
}

/* f32 -> binary16, round to nearest even (the test's own, to make files). */
static uint16_t to_half(float f) {
    const uint32_t x = bits_of(f), sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520: inf */
    if (ax < 0x38800000u) /* below 2^-14: a multiple of 2^-24 (v * 2^24 is exact) */
        return (uint16_t)(sign | (uint32_t)nearbyintf(float_of(ax) * 16777216.0f));
    const uint32_t r = ax + 0x0fffu + ((ax >> 13) & 1u) - (112u << 23);
    return (uint16_t)(sign | (r >> 13));
}

/* f32 -> bfloat16, round to nearest even on the bits (finite inputs). */
static uint16_t to_bf16(float f) {
    const uint32_t u = bits_of(f);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

START_TEST(test_half_every_pattern) {
    int subnormals = 0, nans = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float got = sb_half_to_float((uint16_t)h);
        const int e = (h >> 10) & 31, m = h & 1023;
        ck_assert_msg(!!signbit(got) == !!(h & 0x8000u), "0x%04x: sign", h);
        if (e == 31) {
            if (m == 0) {
                ck_assert_msg(isinf(got), "0x%04x: not inf", h);
            } else {
                ck_assert_msg(isnan(got), "0x%04x: not NaN", h);
                /* payload kept: quiet bit and the rest, in the f32's top mantissa bits */
                ck_assert_uint_eq(bits_of(got) & 0x7fffffu, (uint32_t)m << 13);
                nans++;
            }
            continue;
        }
        const double want = ref_half((uint16_t)h);
        ck_assert_msg((double)got == want, "0x%04x: %.9g, want %.9g", h, (double)got, want);
        if (e == 0 && m != 0) subnormals++;
        /* and back: every f16 value round-trips through the test's rounding */
        ck_assert_uint_eq(to_half(got), h);
    }
    ck_assert_int_eq(subnormals, 2 * 1023);
    ck_assert_int_eq(nans, 2 * 1023);
    ck_assert(sb_half_to_float(0x3c00) == 1.0f);
    ck_assert(sb_half_to_float(0xc000) == -2.0f);
    ck_assert(sb_half_to_float(0x7bff) == 65504.0f);
    ck_assert(sb_half_to_float(0x0001) == ldexpf(1.0f, -24));
    ck_assert(sb_half_to_float(0x03ff) == ldexpf(1023.0f, -24));
    ck_assert(sb_half_to_float(0x0400) == ldexpf(1.0f, -14));
    ck_assert(sb_half_to_float(0x3555) == 0.333251953125f);
    ck_assert(isinf(sb_half_to_float(0xfc00)) && sb_half_to_float(0xfc00) < 0);
    /* the test's rounding: ties to even, overflow to inf, underflow to zero */
    ck_assert_uint_eq(to_half(1.0f + ldexpf(1.0f, -11)), 0x3c00);               /* tie, even below */
    ck_assert_uint_eq(to_half(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);           /* tie, even above */
    ck_assert_uint_eq(to_half(65519.0f), 0x7bff);
    ck_assert_uint_eq(to_half(65520.0f), 0x7c00);
    ck_assert_uint_eq(to_half(ldexpf(1.0f, -26)), 0x0000);
    ck_assert_uint_eq(to_half(ldexpf(3.0f, -26)), 0x0001);
}
END_TEST

START_TEST(test_bf16_every_pattern) {
    for (uint32_t b = 0; b < 65536; b++) {
        const float got = sb_bf16_to_float((uint16_t)b);
        ck_assert_uint_eq(bits_of(got), b << 16);
        if (((b >> 7) & 0xffu) != 0xffu) ck_assert_uint_eq(to_bf16(got), b); /* finite: round trip */
    }
    ck_assert(sb_bf16_to_float(0x3f80) == 1.0f);
    ck_assert(sb_bf16_to_float(0xc040) == -3.0f);
    ck_assert(sb_bf16_to_float(0x0001) == ldexpf(1.0f, -133)); /* smallest subnormal */
    ck_assert(isinf(sb_bf16_to_float(0x7f80)) && isnan(sb_bf16_to_float(0x7fc0)));
    ck_assert(signbit(sb_bf16_to_float(0x8000)) && sb_bf16_to_float(0x8000) == 0.0f);
    ck_assert_uint_eq(to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3f80); /* tie, even below */
    ck_assert_uint_eq(to_bf16(1.0f + 3 * ldexpf(1.0f, -8)), 0x3f82);
}
END_TEST

/* ---- safetensors ------------------------------------------------------------ */

static sb_st_file *from_raw(const char *json, const void *data, size_t dn, sb_status want,
                            const char *sub) {
    const size_t jl = strlen(json), n = 8 + jl + dn;
    unsigned char *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)jl >> (8 * i));
    memcpy(b + 8, json, jl);
    if (dn) memcpy(b + 8 + jl, data, dn);
    sb_st_file *st = NULL;
    sb_err e;
    sb_err_clear(&e);
    sb_status s = sb_st_from_memory(b, n, &st, &e);
    free(b);
    ck_assert_msg(s == want, "status %s, want %s: %s", sb_status_string(s), sb_status_string(want),
                  e.msg);
    if (sub) ck_assert_msg(strstr(e.msg, sub) != NULL, "message '%s' lacks '%s'", e.msg, sub);
    return st;
}

START_TEST(test_st_special_values) {
    /* h: F16 [2,4] at 0 (16 bytes); b: BF16 [4] at 16 (8 bytes); f: F32 [2] at
     * 24; i: I64 [1] at 32; z: F16 0-d at 40; e: F16 [0] empty; m: F16 [3] at
     * the misaligned offset 42 */
    const uint16_t h[8] = {0x3c00, 0x8000, 0x0001, 0x83ff, 0x7bff, 0x7c00, 0xfc00, 0x7e01};
    const uint16_t bf[4] = {0x3f80, 0x0001, 0xff80, 0x7fc1};
    unsigned char d[48] = {0};
    memcpy(d, h, 16);
    memcpy(d + 16, bf, 8);
    const float f[2] = {0.5f, -7.25f};
    memcpy(d + 24, f, 8);
    const int64_t i64 = -5;
    memcpy(d + 32, &i64, 8);
    const uint16_t z = 0xc500, m3[3] = {0x0400, 0x3555, 0xb800};
    memcpy(d + 40, &z, 2);
    memcpy(d + 42, m3, 6);
    sb_st_file *st = from_raw(
        "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[0,16]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[16,24]},"
        "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
        "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[32,40]},"
        "\"z\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[40,42]},"
        "\"e\":{\"dtype\":\"F16\",\"shape\":[0,3],\"data_offsets\":[42,42]},"
        "\"m\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[42,48]}}",
        d, sizeof d, SB_OK, NULL);
    const sb_tensor *t = sb_st_find(st, "h");
    ck_assert_int_eq(t->dtype, SB_DT_F16);
    ck_assert_str_eq(sb_dtype_name(t->dtype), "F16");
    ck_assert_uint_eq(sb_st_numel(t), 8);
    float w[8];
    memset(w, 0xff, sizeof w);
    ck_assert(sb_st_to_f32(t, w));
    ck_assert(w[0] == 1.0f && w[1] == 0.0f && signbit(w[1]));
    ck_assert(w[2] == ldexpf(1.0f, -24) && w[3] == -ldexpf(1023.0f, -24));
    ck_assert(w[4] == 65504.0f && isinf(w[5]) && w[5] > 0 && isinf(w[6]) && w[6] < 0);
    ck_assert(isnan(w[7]) && bits_of(w[7]) == 0x7fc02000u);
    t = sb_st_find(st, "b");
    ck_assert_int_eq(t->dtype, SB_DT_BF16);
    ck_assert_str_eq(sb_dtype_name(t->dtype), "BF16");
    ck_assert(sb_st_to_f32(t, w));
    ck_assert(w[0] == 1.0f && w[1] == ldexpf(1.0f, -133) && isinf(w[2]) && w[2] < 0);
    ck_assert_uint_eq(bits_of(w[3]), 0x7fc10000u);
    t = sb_st_find(st, "f");
    ck_assert(sb_st_to_f32(t, w) && w[0] == 0.5f && w[1] == -7.25f);
    t = sb_st_find(st, "i");
    ck_assert_int_eq(t->dtype, SB_DT_I64);
    ck_assert_int_eq(*(const int64_t *)t->data, -5);
    ck_assert_int_eq(sb_st_to_f32(t, w), 0); /* an integer tensor is not widened */
    t = sb_st_find(st, "z");
    ck_assert(t->ndim == 0 && sb_st_numel(t) == 1 && sb_st_to_f32(t, w) && w[0] == -5.0f);
    t = sb_st_find(st, "e");
    ck_assert(sb_st_numel(t) == 0 && sb_st_to_f32(t, NULL));
    t = sb_st_find(st, "m");
    ck_assert_msg(((uintptr_t)t->data & 7u) == 0, "misaligned F16 not copied to aligned storage");
    ck_assert(sb_st_to_f32(t, w));
    ck_assert(w[0] == ldexpf(1.0f, -14) && w[1] == 0.333251953125f && w[2] == -0.5f);
    sb_st_free(st);
}
END_TEST

START_TEST(test_st_bad_sizes) {
    unsigned char d[16] = {0};
    from_raw("{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,5]}}", d, 8,
             SB_ERR_FORMAT, "'h': data_offsets [0, 5] hold 5 bytes, but 3 elements of F16 need 6");
    from_raw("{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 16,
             SB_ERR_FORMAT, "4 elements of F16 need 8");
    from_raw("{\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", d, 4,
             SB_ERR_FORMAT, "'b': data_offsets [0, 4] hold 4 bytes, but 4 elements of BF16 need 8");
    /* truncated: the offsets run past the data region */
    from_raw("{\"b\":{\"dtype\":\"BF16\",\"shape\":[8],\"data_offsets\":[0,16]}}", d, 10,
             SB_ERR_FORMAT, "'b': data_offsets [0, 16] lie beyond the data region (10 bytes)");
    from_raw("{\"h\":{\"dtype\":\"F16\",\"shape\":[4503599627370496,4096],\"data_offsets\":[0,8]}}",
             d, 8, SB_ERR_FORMAT, "overflows");
    /* lower-case names are not the safetensors dtypes: OTHER, size unchecked */
    sb_st_file *st = from_raw("{\"h\":{\"dtype\":\"f16\",\"shape\":[4],\"data_offsets\":[0,5]}}", d,
                              8, SB_OK, NULL);
    ck_assert_int_eq(sb_st_find(st, "h")->dtype, SB_DT_OTHER);
    ck_assert_uint_eq(sb_st_numel(sb_st_find(st, "h")), 0);
    sb_st_free(st);
}
END_TEST

static void tmp_path(char *p, size_t cap, const char *tag) {
    snprintf(p, cap, "/tmp/test_half.%ld.%s.safetensors", (long)getpid(), tag);
}

START_TEST(test_st_write_16bit) {
    char path[128];
    tmp_path(path, sizeof path, "w");
    const uint16_t h[3] = {0x3c00, 0x7c00, 0x0001}, b[2] = {0x4049, 0xbf80};
    const float f[1] = {2.0f};
    const int64_t sh3[1] = {3}, sh2[2] = {1, 2};
    const sb_st_out t[3] = {{"h", SB_DT_F16, 1, sh3, h}, {"b", SB_DT_BF16, 2, sh2, b},
                            {"f", SB_DT_F32, 0, NULL, f}};
    const char *const meta[] = {"k", "v", NULL};
    TU_OK(sb_st_write(path, t, 3, meta, &tu_err));
    sb_st_file *st = NULL;
    TU_OK(sb_st_open(path, &st, &tu_err));
    size_t n = 0;
    char *raw = tu_slurp(path, &n);
    ck_assert_ptr_nonnull(strstr(raw + 8, "\"dtype\":\"F16\""));
    ck_assert_ptr_nonnull(strstr(raw + 8, "\"dtype\":\"BF16\""));
    free(raw);
    const sb_tensor *x = sb_st_find(st, "h");
    ck_assert(x->dtype == SB_DT_F16 && x->nbytes == 6 && memcmp(x->data, h, 6) == 0);
    x = sb_st_find(st, "b");
    ck_assert(x->dtype == SB_DT_BF16 && x->nbytes == 4 && x->ndim == 2);
    float w[2];
    ck_assert(sb_st_to_f32(x, w) && w[0] == 3.140625f && w[1] == -1.0f);
    ck_assert_str_eq(sb_st_meta(st, "k"), "v");
    sb_st_free(st);
    unlink(path);
    /* OTHER is still refused by the writer */
    const sb_st_out o = {"o", SB_DT_OTHER, 1, sh3, h};
    ck_assert_int_eq(sb_st_write(path, &o, 1, NULL, &tu_err), SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "F32, F16, BF16, I64 or I32"));
}
END_TEST

/* ---- model files -------------------------------------------------------------- */

/* Rewrite `src` with its float tensors stored F16, BF16, F32 by turns (kind 0),
 * or all F32 holding the values those 16-bit patterns stand for (kind 1: the
 * expectation), keeping integer tensors and the metadata as they are. */
static void rewrite(const char *src, const char *dst, int kind, int *n16) {
    sb_st_file *st = NULL;
    TU_OK(sb_st_open(src, &st, &tu_err));
    const int n = sb_st_count(st);
    sb_st_out *o = calloc((size_t)n, sizeof *o);
    void **bufs = calloc((size_t)n, sizeof *bufs);
    const char **meta = calloc(2 * (size_t)sb_st_meta_count(st) + 1, sizeof *meta);
    ck_assert(o && bufs && meta);
    for (int i = 0; i < sb_st_meta_count(st); i++) sb_st_meta_at(st, i, &meta[2 * i], &meta[2 * i + 1]);
    *n16 = 0;
    for (int i = 0, fi = 0; i < n; i++) {
        const sb_tensor *t = sb_st_at(st, i);
        o[i] = (sb_st_out){t->name, t->dtype, t->ndim, t->shape, t->data};
        if (t->dtype != SB_DT_F32) continue;
        const size_t ne = sb_st_numel(t);
        const float *x = t->data;
        const int as = fi++ % 3; /* 0: F16, 1: BF16, 2: F32 */
        if (as == 2) continue;
        (*n16)++;
        uint16_t *h = malloc(2 * ne + 2);
        float *wide = malloc(4 * ne + 4);
        ck_assert(h && wide);
        for (size_t k = 0; k < ne; k++) {
            h[k] = as == 0 ? to_half(x[k]) : to_bf16(x[k]);
            wide[k] = as == 0 ? (float)ref_half(h[k]) : float_of((uint32_t)h[k] << 16);
        }
        if (kind == 0) {
            o[i].dtype = as == 0 ? SB_DT_F16 : SB_DT_BF16;
            o[i].data = bufs[i] = h;
            free(wide);
        } else {
            o[i].data = bufs[i] = wide;
            free(h);
        }
    }
    TU_OK(sb_st_write(dst, o, n, meta, &tu_err));
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(o);
    free(meta);
    sb_st_free(st);
}

static void same(const float *a, const float *b, size_t n, const char *what, int layer) {
    ck_assert_msg((a == NULL) == (b == NULL), "%s (layer %d): present in one model only", what, layer);
    if (a) ck_assert_msg(memcmp(a, b, n * sizeof(float)) == 0, "%s (layer %d) differs", what, layer);
}

/* Every weight the loader hands out, compared between two models of one config. */
static void same_weights(const sb_model_file *a, const sb_model_file *b) {
    const sb_config *c = &a->cfg;
    const size_t D = (size_t)c->d_model, K = c->bidirectional ? 2 * D : D, N = (size_t)c->d_ema;
    const size_t Z = (size_t)c->d_qk, H = (size_t)c->d_hidden, P = (size_t)c->max_positions;
    const size_t fin = c->head_layers ? (size_t)c->d_head : (size_t)sb_config_pair_width(c);
    const size_t nn = c->norm == SB_NORM_SCALE ? 1 : D;
    same(a->embed, b->embed, (size_t)c->vocab_size * D, "embed", -1);
    same(a->enc_w, b->enc_w, D * (size_t)c->d_input, "encoder.weight", -1);
    same(a->enc_b, b->enc_b, D, "encoder.bias", -1);
    same(a->dec_w, b->dec_w, (size_t)c->d_output * fin, "decoder.weight", -1);
    same(a->dec_b, b->dec_b, (size_t)c->d_output, "decoder.bias", -1);
    same(a->final_norm.weight, b->final_norm.weight, nn, "final norm", -1);
    same(a->final_norm.bias, b->final_norm.bias, D, "final norm bias", -1);
    for (int i = 0; i < c->n_layers; i++) {
        const sb_layer_w *x = &a->layers[i], *y = &b->layers[i];
        same(x->norm.weight, y->norm.weight, nn, "norm.weight", i);
        same(x->norm.bias, y->norm.bias, D, "norm.bias", i);
        same(x->norm.mean, y->norm.mean, D, "running_mean", i);
        same(x->norm.var, y->norm.var, D, "running_var", i);
        same(x->delta, y->delta, K * N, "ssm.delta", i);
        same(x->alpha, y->alpha, K * N, "ssm.alpha", i);
        same(x->beta, y->beta, K * N, "ssm.beta", i);
        same(x->gamma, y->gamma, K * N, "ssm.gamma", i);
        same(x->omega, y->omega, D, "ssm.omega", i);
        if (!c->rotary) same(x->rel_pos, y->rel_pos, 2 * P - 1, "rel_pos_bias", i);
        ck_assert_msg(bits_of(x->temp) == bits_of(y->temp), "q_router.temp (layer %d)", i);
        same(x->mx_w, y->mx_w, (Z + 2 * H) * D, "mx_proj.weight", i);
        same(x->mx_b, y->mx_b, Z + 2 * H, "mx_proj.bias", i);
        same(x->hx_w, y->hx_w, (2 + D) * D, "hx_proj.weight", i);
        same(x->hx_b, y->hx_b, 2 + D, "hx_proj.bias", i);
        same(x->h_w, y->h_w, D * H, "h_proj.weight", i);
        same(x->h_b, y->h_b, D, "h_proj.bias", i);
        same(x->qk_gamma, y->qk_gamma, 2 * Z, "gamma", i);
        same(x->qk_beta, y->qk_beta, 2 * Z, "beta", i);
    }
}

START_TEST(test_mixed_model_files) {
    /* batchnorm (I64 num_batches_tracked kept), token ids, rotary */
    static const char *const cases[] = {"bidir_softmax_batchnorm_classify", "lm_tokens",
                                        "causal_rotary"};
    char mixed[128], want[128], src[256];
    tmp_path(mixed, sizeof mixed, "mixed");
    tmp_path(want, sizeof want, "want");
    for (int k = 0; k < 3; k++) {
        snprintf(src, sizeof src, DATA "%s.model.safetensors", cases[k]);
        int n16 = 0, n16b = 0;
        rewrite(src, mixed, 0, &n16);
        rewrite(src, want, 1, &n16b);
        ck_assert_int_ge(n16, 10);
        sb_model_file *a = NULL, *b = NULL, *o = NULL;
        TU_OK(sb_model_file_load(mixed, &a, &tu_err));
        TU_OK(sb_model_file_load(want, &b, &tu_err));
        TU_OK(sb_model_file_load(src, &o, &tu_err));
        ck_assert_int_eq(memcmp(&a->cfg, &o->cfg, sizeof a->cfg), 0);
        ck_assert_uint_eq(a->n_params, o->n_params);
        ck_assert_uint_eq(a->n_params, sb_config_param_count(&a->cfg));
        ck_assert_uint_eq(o->n_widened, 0);
        ck_assert_uint_eq(o->stored_bytes, 4 * o->n_params);
        ck_assert_msg(a->n_widened >= (size_t)n16 - 2 && a->n_widened <= (size_t)n16,
                      "%s: %zu tensors widened, %d stored 16-bit", cases[k], a->n_widened, n16);
        ck_assert_uint_lt(a->stored_bytes, o->stored_bytes);
        ck_assert_uint_gt(a->stored_bytes, 2 * a->n_params);
        same_weights(a, b);
        if (k == 0) { /* the integer tensor stays I64 */
            const sb_tensor *t = sb_st_find(a->st, "seq_layers.0.norm.norm.num_batches_tracked");
            ck_assert_ptr_nonnull(t);
            ck_assert_int_eq(t->dtype, SB_DT_I64);
        }
        sb_model_file_free(a);
        sb_model_file_free(b);
        sb_model_file_free(o);
    }
    unlink(mixed);
    unlink(want);
}
END_TEST

START_TEST(test_half_inputs) {
    sb_model_file *m = NULL;
    TU_OK(sb_model_file_load(DATA "causal_relu2_layernorm.model.safetensors", &m, &tu_err));
    const uint16_t x[2 * 3 * 3] = {0x3c00, 0x0001, 0xbc00, 0x4000, 0x3555, 0x7bff, 0, 0x8000, 0x0400,
                                   0x3c00, 0x3c00, 0x3c00, 0xc000, 0xc000, 0xc000, 0x3800, 0x3800,
                                   0x3800};
    const int64_t sh[3] = {2, 3, 3};
    char path[128];
    tmp_path(path, sizeof path, "in");
    for (int bf = 0; bf < 2; bf++) {
        const sb_st_out t = {"input", bf ? SB_DT_BF16 : SB_DT_F16, 3, sh, x};
        TU_OK(sb_st_write(path, &t, 1, NULL, &tu_err));
        sb_input in;
        TU_OK(sb_input_load(path, &m->cfg, &in, &tu_err));
        ck_assert(in.B == 2 && in.L == 3 && in.F == 3 && in.x);
        for (int i = 0; i < 18; i++) {
            const float w = bf ? sb_bf16_to_float(x[i]) : (float)ref_half(x[i]);
            ck_assert_msg(bits_of(in.x[i]) == bits_of(w), "%s input[%d]", bf ? "BF16" : "F16", i);
        }
        sb_input_free(&in);
    }
    const sb_st_out t = {"input", SB_DT_I32, 2, sh, x};
    TU_OK(sb_st_write(path, &t, 1, NULL, &tu_err));
    sb_input in;
    ck_assert_int_eq(sb_input_load(path, &m->cfg, &in, &tu_err), SB_ERR_TENSOR);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "has dtype I32, expected F32 [B,L,3] (or F16, BF16)"));
    unlink(path);
    sb_model_file_free(m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("half");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_half_every_pattern);
    tcase_add_test(tc, test_bf16_every_pattern);
    tcase_add_test(tc, test_st_special_values);
    tcase_add_test(tc, test_st_bad_sizes);
    tcase_add_test(tc, test_st_write_16bit);
    tcase_add_test(tc, test_mixed_model_files);
    tcase_add_test(tc, test_half_inputs);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
