/* test_v2_model.c - whole models in model-file format version 2
 * (docs/FAIRSEQ.md) against models the runtime already runs exactly
 * (version 1, checked against the reference fixtures) plus host arithmetic
 * from tests/ref/ref_pos_head.c:
 *   - token ids for classify  = a one-hot encoder over the same table;
 *   - sinusoidal positions    = the positions fed as extra input features;
 *   - gelu head, no bias      = the pooled rows (identity decoder) through the head on the host;
 *   - pair (nli, concat)      = both pooled rows, the feature and the head on the host;
 *   - rel_pos_bias local      = the simple bias over the table's slice when every token is
 *                               activated (then compressed index = position);
 *   - scalenorm               = rmsnorm with every weight equal to the scalar;
 *   - a version-2 lm (positions, scalenorm, no decoder bias) streams what its full
 *     forward computes;
 * and the version-2 metadata and input errors, each naming the key or tensor. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "../runtime/model_file.h"
#include "../runtime/safetensors.h"
#include "ref/ref_pos_head.h"

/* ---- model files built here ------------------------------------------------ */

typedef struct spec {
    const char *task;     /* classify, sequence, lm */
    int version;          /* 1 or 2 */
    int d_input, vocab, d_output, D, nl, Z, H, N, W, P, trunc, bidir, prenorm;
    const char *norm, *rel, *act;
    /* version 2 */
    int abs_pos, head_layers, d_head, dec_bias, pair; /* pair: 0 none, 1 nli, 2 concat */
    int all_active;       /* router bias +-20: every token activated */
    int identity_dec;     /* decoder = identity [D, D] (d_output = D), bias 0 */
    const float *enc_w;   /* encoder.weight override [D][d_input] (NULL = random) */
    const float *enc_b;   /* encoder.bias override [D] */
    const float *rel_tab; /* rel_pos_bias override (2P-1 or 6W-1), every layer */
    float norm_w;         /* nonzero: every norm weight (rmsnorm) / scalar (scalenorm) = this */
} spec;

/* Deterministic values per tensor name: the same name, the same values, in
 * every model built here (so two specs share their common weights). */
static uint32_t name_seed(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

typedef struct tlist {
    sb_st_out t[256];
    int64_t shape[256][3];
    float *data[256];
    char names[256][80];
    int n;
} tlist;

static float *add(tlist *L, const char *name, int nd, int64_t a, int64_t b, int64_t c, float lo,
                  float hi) {
    ck_assert_int_lt(L->n, 256);
    int i = L->n++;
    snprintf(L->names[i], sizeof L->names[i], "%s", name);
    L->shape[i][0] = a, L->shape[i][1] = b, L->shape[i][2] = c;
    size_t n = (size_t)a * (size_t)(nd > 1 ? b : 1) * (size_t)(nd > 2 ? c : 1);
    L->data[i] = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(L->data[i]);
    tu_fill(L->data[i], n, name_seed(name), lo, hi);
    L->t[i].name = L->names[i];
    L->t[i].dtype = SB_DT_F32;
    L->t[i].ndim = nd;
    L->t[i].shape = L->shape[i];
    L->t[i].data = L->data[i];
    return L->data[i];
}

static void fill_const(float *x, size_t n, float v) {
    for (size_t i = 0; i < n; i++) x[i] = v;
}

static void add_norm(tlist *L, const spec *s, const char *prefix) {
    char nm[96];
    const int D = s->D;
    if (!strcmp(s->norm, "scalenorm")) {
        snprintf(nm, sizeof nm, "%snorm.norm.scalar", prefix);
        float *w = add(L, nm, 1, 1, 0, 0, 0.5f, 1.5f);
        if (s->norm_w != 0.0f) w[0] = s->norm_w;
        return;
    }
    snprintf(nm, sizeof nm, "%snorm.norm.weight", prefix);
    float *w = add(L, nm, 1, D, 0, 0, 0.7f, 1.3f);
    if (s->norm_w != 0.0f) fill_const(w, (size_t)D, s->norm_w);
    if (!strcmp(s->norm, "rmsnorm")) return;
    snprintf(nm, sizeof nm, "%snorm.norm.bias", prefix);
    add(L, nm, 1, D, 0, 0, -0.2f, 0.2f);
    if (!strcmp(s->norm, "batchnorm")) {
        snprintf(nm, sizeof nm, "%snorm.norm.running_mean", prefix);
        add(L, nm, 1, D, 0, 0, -0.3f, 0.3f);
        snprintf(nm, sizeof nm, "%snorm.norm.running_var", prefix);
        add(L, nm, 1, D, 0, 0, 0.5f, 1.5f);
    }
}

static void write_model(const char *path, const spec *s) {
    tlist *L = calloc(1, sizeof *L);
    ck_assert_ptr_nonnull(L);
    const int D = s->D, Z = s->Z, H = s->H, N = s->N, K = s->bidir ? 2 * D : D;
    const int tok = !strcmp(s->task, "lm") || s->vocab > 0;
    char nm[96];
    if (tok) {
        add(L, "embed_tokens.weight", 2, s->vocab, D, 0, -1.0f, 1.0f);
    } else {
        float *w = add(L, "encoder.weight", 2, D, s->d_input, 0, -0.8f, 0.8f);
        if (s->enc_w) memcpy(w, s->enc_w, sizeof(float) * (size_t)D * s->d_input);
        float *b = add(L, "encoder.bias", 1, D, 0, 0, -0.2f, 0.2f);
        if (s->enc_b) memcpy(b, s->enc_b, sizeof(float) * (size_t)D);
    }
    if (s->abs_pos) {
        float *sc = add(L, "pos_emb.scale", 1, 1, 0, 0, 0.0f, 1.0f);
        sc[0] = 0.6f;
        float *inv = add(L, "pos_emb.inv_freq", 1, D / 2, 0, 0, 0.0f, 1.0f);
        for (int m = 0; m < D / 2; m++) inv[m] = (float)(1.0 / pow(10000.0, (double)(2 * m) / D));
    }
    for (int i = 0; i < s->nl; i++) {
        char pre[32];
        snprintf(pre, sizeof pre, "seq_layers.%d.", i);
#define T(suf, nd, a, b, c, lo, hi) (snprintf(nm, sizeof nm, "%s%s", pre, suf), add(L, nm, nd, a, b, c, lo, hi))
        T("gamma", 2, 2, Z, 0, -0.5f, 0.5f);
        T("beta", 2, 2, Z, 0, -0.1f, 0.1f);
        add_norm(L, s, pre);
        T("ssm.delta", 3, K, N, 1, -0.4f, 0.4f);
        T("ssm.alpha", 3, K, N, 1, -0.4f, 0.4f);
        T("ssm.beta", 3, K, N, 1, 0.8f, 1.2f);
        T("ssm.gamma", 2, K, N, 0, -1.0f, 1.0f);
        T("ssm.omega", 1, D, 0, 0, -1.0f, 1.0f);
        if (strcmp(s->rel, "rotary") != 0) {
            const int n = !strcmp(s->rel, "local") ? 6 * s->W - 1 : 2 * s->P - 1;
            float *r = T("rel_pos_bias.rel_pos_bias", 1, n, 0, 0, -0.3f, 0.3f);
            if (s->rel_tab) memcpy(r, s->rel_tab, sizeof(float) * (size_t)n);
        }
        float *tp = T("q_router.temp", 1, 1, 0, 0, 0.0f, 1.0f);
        tp[0] = 0.5f;
        T("mx_proj.weight", 2, Z + 2 * H, D, 0, -0.4f, 0.4f);
        T("mx_proj.bias", 1, Z + 2 * H, 0, 0, -0.1f, 0.1f);
        T("hx_proj.weight", 2, 2 + D, D, 0, -0.4f, 0.4f);
        float *hb = T("hx_proj.bias", 1, 2 + D, 0, 0, -0.1f, 0.1f);
        if (s->all_active) hb[0] = -20.0f, hb[1] = 20.0f;
        T("h_proj.weight", 2, D, H, 0, -0.4f, 0.4f);
        T("h_proj.bias", 1, D, 0, 0, -0.1f, 0.1f);
#undef T
    }
    if (s->prenorm) add_norm(L, s, "final_");
    int fin = D * (s->pair == 1 ? 4 : s->pair == 2 ? 2 : 1);
    for (int k = 0; k < s->head_layers; k++) {
        snprintf(nm, sizeof nm, "head.%d.weight", k);
        add(L, nm, 2, s->d_head, fin, 0, -0.5f, 0.5f);
        snprintf(nm, sizeof nm, "head.%d.bias", k);
        add(L, nm, 1, s->d_head, 0, 0, -0.3f, 0.3f);
        fin = s->d_head;
    }
    float *dw = add(L, "decoder.weight", 2, s->d_output, fin, 0, -0.5f, 0.5f);
    if (s->identity_dec) {
        ck_assert_int_eq(s->d_output, fin);
        fill_const(dw, (size_t)fin * fin, 0.0f);
        for (int i = 0; i < fin; i++) dw[(size_t)i * fin + i] = 1.0f;
    }
    if (s->dec_bias || s->version == 1) {
        float *db = add(L, "decoder.bias", 1, s->d_output, 0, 0, -0.3f, 0.3f);
        if (s->identity_dec) fill_const(db, (size_t)s->d_output, 0.0f);
    }
    char v[20][16];
    snprintf(v[0], 16, "%d", s->version);
    snprintf(v[1], 16, "%d", s->d_input);
    snprintf(v[2], 16, "%d", s->vocab);
    snprintf(v[3], 16, "%d", s->d_output);
    snprintf(v[4], 16, "%d", s->D);
    snprintf(v[5], 16, "%d", s->nl);
    snprintf(v[6], 16, "%d", s->Z);
    snprintf(v[7], 16, "%d", s->H);
    snprintf(v[8], 16, "%d", s->N);
    snprintf(v[9], 16, "%d", s->W);
    snprintf(v[10], 16, "%d", s->P);
    snprintf(v[11], 16, "%d", s->trunc);
    snprintf(v[12], 16, "%d", s->head_layers);
    snprintf(v[13], 16, "%d", s->d_head);
    const char *kv[64] = {"seqboat.format_version", v[0], "task", s->task, "d_input", v[1],
                          "vocab_size", v[2], "d_output", v[3], "d_model", v[4], "n_layers", v[5],
                          "d_qk", v[6], "d_hidden", v[7], "d_ema", v[8], "mem_size", v[9],
                          "max_positions", v[10], "truncation", v[11],
                          "bidirectional", s->bidir ? "true" : "false",
                          "prenorm", s->prenorm ? "true" : "false", "norm_type", s->norm,
                          "rel_pos_bias", s->rel, "attention_activation", s->act};
    int k = 36;
    if (s->version == 2) {
        kv[k++] = "abs_pos", kv[k++] = s->abs_pos ? "sinusoidal" : "none";
        kv[k++] = "head_layers", kv[k++] = v[12];
        if (s->head_layers) kv[k++] = "d_head", kv[k++] = v[13];
        kv[k++] = "decoder_bias", kv[k++] = s->dec_bias ? "true" : "false";
        kv[k++] = "pair", kv[k++] = s->pair == 1 ? "nli" : s->pair == 2 ? "concat" : "none";
    }
    kv[k] = NULL;
    TU_OK(sb_st_write(path, L->t, L->n, kv, &tu_err));
    for (int i = 0; i < L->n; i++) free(L->data[i]);
    free(L);
}

static char g_dir[256];

static const char *tpath(const char *name) {
    static char p[8][600];
    static int next;
    char *r = p[next++ % 8];
    snprintf(r, 600, "%s/%s", g_dir, name);
    return r;
}

static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/sb_v2_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void teardown(void) {
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            unlink(tpath(de->d_name));
        }
        closedir(d);
    }
    rmdir(g_dir);
}

static sb_model *load(const char *path) {
    sb_model *m = NULL;
    ck_assert_msg(sb_model_load(path, NULL, &m) == SB_OK, "%s", sb_last_error());
    return m;
}

/* The SPEC agreement: relative L2 error <= rtol, max abs <= atol. */
static void agree(const float *got, const float *want, size_t n, double rtol, double atol,
                  const char *what) {
    double num = 0, den = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        ck_assert_msg(isfinite(got[i]), "%s: [%zu] = %g", what, i, got[i]);
        num += d * d;
        den += (double)want[i] * want[i];
        if (fabs(d) > mx) mx = fabs(d);
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    ck_assert_msg(rel <= rtol && mx <= atol, "%s: relative L2 %.3g, max abs %.3g", what, rel, mx);
}

static const spec BASE = {"classify", 2, 3, 0, 4, 16, 2, 8, 16, 4, 4, 64, 0, 1, 0,
                          "layernorm", "simple", "softmax", 0, 0, 0, 1, 0, 0, 0, NULL, NULL, NULL, 0};

static void fill_ids(int32_t *ids, size_t n, int vocab, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        ids[i] = (int32_t)((seed >> 8) % (uint32_t)vocab);
    }
}

/* ---- token ids for classify = one-hot encoder --------------------------------- */

START_TEST(test_token_classify) {
    const int V = 11, B = 3, Lq = 23;
    const int32_t lens[3] = {23, 9, 1};
    spec a = BASE;
    a.vocab = V, a.d_input = 0;
    write_model(tpath("tok.safetensors"), &a);
    /* the same table as a one-hot encoder: encoder.weight[d][v] = E[v][d], bias 0 */
    float *E = malloc(sizeof(float) * (size_t)V * a.D), *Wt = malloc(sizeof(float) * (size_t)V * a.D);
    float zero[16] = {0};
    tu_fill(E, (size_t)V * a.D, name_seed("embed_tokens.weight"), -1.0f, 1.0f);
    for (int v = 0; v < V; v++)
        for (int d = 0; d < a.D; d++) Wt[(size_t)d * V + v] = E[(size_t)v * a.D + d];
    spec b = BASE;
    b.version = 1, b.d_input = V, b.enc_w = Wt, b.enc_b = zero;
    write_model(tpath("onehot.safetensors"), &b);
    int32_t ids[3 * 23];
    fill_ids(ids, (size_t)B * Lq, V, 5u);
    float *x = calloc((size_t)B * Lq * V, sizeof(float));
    for (int i = 0; i < B * Lq; i++) x[(size_t)i * V + ids[i]] = 1.0f;
    float ga[3 * 4], gb[3 * 4];
    sb_model *ma = load(tpath("tok.safetensors")), *mb = load(tpath("onehot.safetensors"));
    sb_model_info info = {.struct_size = sizeof(sb_model_info)};
    ck_assert_int_eq(sb_model_get_info(ma, &info), SB_OK);
    ck_assert_int_eq(info.vocab_size, V);
    ck_assert_int_eq(info.d_input, 0);
    ck_assert_msg(sb_model_forward(ma, B, Lq, NULL, ids, lens, ga) == SB_OK, "%s", sb_model_last_error(ma));
    ck_assert_msg(sb_model_forward(mb, B, Lq, x, NULL, lens, gb) == SB_OK, "%s", sb_model_last_error(mb));
    agree(ga, gb, (size_t)B * 4, 1e-5, 1e-5, "token-id classify vs one-hot encoder");
    /* floats to a token model, ids out of range: refused */
    ck_assert_int_eq(sb_model_forward(ma, B, Lq, x, NULL, lens, ga), SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(sb_model_last_error(ma), "token ids"));
    ids[0] = V;
    ck_assert_int_eq(sb_model_forward(ma, B, Lq, NULL, ids, lens, ga), SB_ERR_ARG);
    sb_model_free(ma);
    sb_model_free(mb);
    free(E); free(Wt); free(x);
}
END_TEST

/* ---- sinusoidal positions = positions as input features -------------------------- */

START_TEST(test_sinusoid_positions) {
    const int F = 3, B = 3, Lq = 37, D = 16;
    const int32_t lens[3] = {37, 20, 4};
    spec a = BASE;
    a.task = "sequence", a.d_output = 5, a.abs_pos = 1, a.prenorm = 1, a.norm = "rmsnorm";
    write_model(tpath("pos.safetensors"), &a);
    /* the same model without positions and with an identity encoder, fed
     * x0 + P(t) computed on the host (x0 = encoder(x)) */
    float *W = malloc(sizeof(float) * (size_t)D * F), *bias = malloc(sizeof(float) * D);
    tu_fill(W, (size_t)D * F, name_seed("encoder.weight"), -0.8f, 0.8f);
    tu_fill(bias, (size_t)D, name_seed("encoder.bias"), -0.2f, 0.2f);
    const int F2 = D;
    float *I = calloc((size_t)D * D, sizeof(float)), zero[16] = {0};
    for (int d = 0; d < D; d++) I[(size_t)d * D + d] = 1.0f;
    spec b = a;
    b.abs_pos = 0, b.d_input = F2, b.enc_w = I, b.enc_b = zero;
    write_model(tpath("posfeat.safetensors"), &b);
    float *x = malloc(sizeof(float) * (size_t)B * Lq * F), *x2 = calloc((size_t)B * Lq * F2, sizeof(float));
    tu_fill(x, (size_t)B * Lq * F, 9u, -1.0f, 1.0f);
    float inv[8];
    for (int m = 0; m < D / 2; m++) inv[m] = (float)(1.0 / pow(10000.0, (double)(2 * m) / D));
    for (int bb = 0; bb < B; bb++)
        for (int t = 0; t < Lq; t++) {
            float *row = x2 + ((size_t)bb * Lq + t) * F2;
            sb_ref_dense(1, D, F, x + ((size_t)bb * Lq + t) * F, W, bias, row);
            sb_ref_add_sinusoid(1, D, &t, 0.6f, inv, row);
        }
    float *ga = malloc(sizeof(float) * (size_t)B * Lq * 5), *gb = malloc(sizeof(float) * (size_t)B * Lq * 5);
    sb_model *ma = load(tpath("pos.safetensors")), *mb = load(tpath("posfeat.safetensors"));
    ck_assert_msg(sb_model_forward(ma, B, Lq, x, NULL, lens, ga) == SB_OK, "%s", sb_model_last_error(ma));
    ck_assert_msg(sb_model_forward(mb, B, Lq, x2, NULL, lens, gb) == SB_OK, "%s", sb_model_last_error(mb));
    agree(ga, gb, (size_t)B * Lq * 5, 1e-4, 2e-3, "sinusoidal positions vs positions as features");
    /* and the positions matter: without them the outputs differ */
    spec c = a;
    c.abs_pos = 0;
    write_model(tpath("nopos.safetensors"), &c);
    sb_model *mc = load(tpath("nopos.safetensors"));
    ck_assert_int_eq(sb_model_forward(mc, B, Lq, x, NULL, lens, gb), SB_OK);
    double diff = 0;
    for (int i = 0; i < B * Lq * 5; i++) diff += fabs((double)ga[i] - gb[i]);
    ck_assert_msg(diff > 1e-2, "positions change nothing (%g)", diff);
    sb_model_free(ma); sb_model_free(mb); sb_model_free(mc);
    free(W); free(bias); free(I); free(x); free(x2); free(ga); free(gb);
}
END_TEST

/* ---- head and pairs = pooled rows through the head on the host ------------------- */

/* pooled rows of `m` (identity decoder) for one input */
static void pooled(sb_model *m, int B, int Lq, const float *x, const int32_t *lens, float *r) {
    ck_assert_msg(sb_model_forward(m, B, Lq, x, NULL, lens, r) == SB_OK, "%s", sb_model_last_error(m));
}

static void host_head(const spec *s, int B, const float *feat, int F, float *out) {
    float *h = malloc(sizeof(float) * (size_t)B * (F > s->d_head ? F : s->d_head) * 2);
    float *cur = malloc(sizeof(float) * (size_t)B * F);
    memcpy(cur, feat, sizeof(float) * (size_t)B * F);
    int fin = F;
    for (int k = 0; k < s->head_layers; k++) {
        char nm[32];
        float *w = malloc(sizeof(float) * (size_t)s->d_head * fin), *b = malloc(sizeof(float) * s->d_head);
        snprintf(nm, sizeof nm, "head.%d.weight", k);
        tu_fill(w, (size_t)s->d_head * fin, name_seed(nm), -0.5f, 0.5f);
        snprintf(nm, sizeof nm, "head.%d.bias", k);
        tu_fill(b, (size_t)s->d_head, name_seed(nm), -0.3f, 0.3f);
        sb_ref_dense(B, s->d_head, fin, cur, w, b, h);
        sb_ref_gelu(B * s->d_head, h);
        free(cur);
        cur = malloc(sizeof(float) * (size_t)B * s->d_head);
        memcpy(cur, h, sizeof(float) * (size_t)B * s->d_head);
        fin = s->d_head;
        free(w); free(b);
    }
    float *dw = malloc(sizeof(float) * (size_t)s->d_output * fin);
    tu_fill(dw, (size_t)s->d_output * fin, name_seed("decoder.weight"), -0.5f, 0.5f);
    sb_ref_dense(B, s->d_output, fin, cur, dw, NULL, out);
    free(dw); free(cur); free(h);
}

START_TEST(test_head_no_bias) {
    const int B = 4, Lq = 19, D = 16;
    const int32_t lens[4] = {19, 3, 11, 1};
    spec a = BASE;
    a.head_layers = 2, a.d_head = 7, a.dec_bias = 0, a.d_output = 3, a.norm = "scalenorm";
    write_model(tpath("head.safetensors"), &a);
    spec b = a;
    b.head_layers = 0, b.d_head = 0, b.dec_bias = 1, b.identity_dec = 1, b.d_output = D;
    write_model(tpath("pool.safetensors"), &b);
    float *x = malloc(sizeof(float) * (size_t)B * Lq * 3);
    tu_fill(x, (size_t)B * Lq * 3, 21u, -1.0f, 1.0f);
    float r[4 * 16], want[4 * 3], got[4 * 3];
    sb_model *ma = load(tpath("head.safetensors")), *mb = load(tpath("pool.safetensors"));
    pooled(mb, B, Lq, x, lens, r);
    host_head(&a, B, r, D, want);
    ck_assert_msg(sb_model_forward(ma, B, Lq, x, NULL, lens, got) == SB_OK, "%s", sb_model_last_error(ma));
    agree(got, want, (size_t)B * 3, 1e-4, 1e-4, "gelu head, decoder without bias");
    sb_model_free(ma); sb_model_free(mb);
    free(x);
}
END_TEST

static void run_pair(int kind) {
    const int B = 3, L1 = 17, L2 = 29, D = 16, F = kind == 1 ? 4 * D : 2 * D;
    const int32_t lens1[3] = {17, 5, 12}, lens2[3] = {29, 29, 2};
    spec a = BASE;
    a.pair = kind, a.head_layers = 1, a.d_head = 9, a.dec_bias = 0, a.d_output = 2;
    write_model(tpath("pair.safetensors"), &a);
    spec b = a;
    b.pair = 0, b.head_layers = 0, b.d_head = 0, b.dec_bias = 1, b.identity_dec = 1, b.d_output = D;
    write_model(tpath("pairpool.safetensors"), &b);
    float *x1 = malloc(sizeof(float) * (size_t)B * L1 * 3), *x2 = malloc(sizeof(float) * (size_t)B * L2 * 3);
    tu_fill(x1, (size_t)B * L1 * 3, 31u, -1.0f, 1.0f);
    tu_fill(x2, (size_t)B * L2 * 3, 32u, -1.0f, 1.0f);
    float r0[3 * 16], r1[3 * 16], feat[3 * 64], want[3 * 2], got[3 * 2];
    sb_model *ma = load(tpath("pair.safetensors")), *mb = load(tpath("pairpool.safetensors"));
    pooled(mb, B, L1, x1, lens1, r0);
    pooled(mb, B, L2, x2, lens2, r1);
    sb_ref_pair_feature(B, D, kind == 1, r0, r1, feat);
    host_head(&a, B, feat, F, want);
    ck_assert_msg(sb_model_forward_pair(ma, B, L1, x1, NULL, lens1, L2, x2, NULL, lens2, got) == SB_OK,
                  "%s", sb_model_last_error(ma));
    agree(got, want, (size_t)B * 2, 1e-4, 1e-4, kind == 1 ? "pair nli" : "pair concat");
    /* the order matters: input and input2 swapped give another answer */
    float sw[3 * 2];
    ck_assert_int_eq(sb_model_forward_pair(ma, B, L2, x2, NULL, lens2, L1, x1, NULL, lens1, sw), SB_OK);
    double diff = 0;
    for (int i = 0; i < B * 2; i++) diff += fabs((double)sw[i] - got[i]);
    ck_assert_msg(diff > 1e-4, "swapped inputs give the same answer");
    /* the input file path: input2 + lengths2 */
    int64_t s1[3] = {B, L1, 3}, s2[3] = {B, L2, 3}, sl[1] = {B};
    int64_t l1[3] = {17, 5, 12}, l2[3] = {29, 29, 2};
    sb_st_out io[4] = {{"input", SB_DT_F32, 3, s1, x1}, {"lengths", SB_DT_I64, 1, sl, l1},
                       {"input2", SB_DT_F32, 3, s2, x2}, {"lengths2", SB_DT_I64, 1, sl, l2}};
    TU_OK(sb_st_write(tpath("pair.io.safetensors"), io, 4, NULL, &tu_err));
    ck_assert_msg(sb_model_run_file(ma, tpath("pair.io.safetensors"), tpath("pair.out.safetensors")) == SB_OK,
                  "%s", sb_model_last_error(ma));
    sb_st_file *of = NULL;
    TU_OK(sb_st_open(tpath("pair.out.safetensors"), &of, &tu_err));
    const sb_tensor *ot = sb_st_find(of, "output");
    ck_assert_ptr_nonnull(ot);
    ck_assert_int_eq(ot->ndim, 2);
    agree((const float *)ot->data, got, (size_t)B * 2, 0.0, 0.0, "pair via sb_model_run_file");
    sb_st_free(of);
    /* one input to a pair model; two to another: refused with a reason */
    ck_assert_int_eq(sb_model_forward(ma, B, L1, x1, NULL, lens1, got), SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(sb_model_last_error(ma), "two inputs"));
    ck_assert_int_eq(sb_model_run_file(ma, tpath("pair.io.safetensors") , tpath("x.safetensors")), SB_OK);
    TU_OK(sb_st_write(tpath("single.io.safetensors"), io, 2, NULL, &tu_err));
    ck_assert_int_eq(sb_model_run_file(ma, tpath("single.io.safetensors"), tpath("x.safetensors")), SB_ERR_TENSOR);
    ck_assert_ptr_nonnull(strstr(sb_model_last_error(ma), "'input2'"));
    ck_assert_int_eq(sb_model_run_file(mb, tpath("pair.io.safetensors"), tpath("x.safetensors")), SB_ERR_TENSOR);
    ck_assert_ptr_nonnull(strstr(sb_model_last_error(mb), "'input2'"));
    ck_assert_int_eq(sb_model_forward_pair(mb, B, L1, x1, NULL, lens1, L2, x2, NULL, lens2, got), SB_ERR_ARG);
    sb_model_free(ma); sb_model_free(mb);
    free(x1); free(x2);
}

START_TEST(test_pair_nli) { run_pair(1); }
END_TEST

START_TEST(test_pair_concat) { run_pair(2); }
END_TEST

/* ---- local bias = the simple bias over the slice when all tokens are activated ---- */

static void run_local(int bidir, const char *act) {
    const int B = 2, Lq = 41, W = 4;
    const int32_t lens[2] = {41, 26};
    spec a = BASE;
    a.task = "sequence", a.d_output = 3, a.W = W, a.rel = "local", a.all_active = 1;
    a.bidir = bidir, a.act = act;
    float tab6[6 * 4 - 1];
    tu_fill(tab6, 23, 77u, -0.5f, 0.5f);
    a.rel_tab = tab6;
    write_model(tpath("local.safetensors"), &a);
    spec b = a;
    b.version = 1, b.rel = "simple", b.P = W + 1, b.rel_tab = tab6 + (3 * W - 1);
    write_model(tpath("localsimple.safetensors"), &b);
    float *x = malloc(sizeof(float) * (size_t)B * Lq * 3);
    tu_fill(x, (size_t)B * Lq * 3, 41u, -1.0f, 1.0f);
    float *ga = malloc(sizeof(float) * (size_t)B * Lq * 3), *gb = malloc(sizeof(float) * (size_t)B * Lq * 3);
    sb_model *ma = load(tpath("local.safetensors")), *mb = load(tpath("localsimple.safetensors"));
    ck_assert_msg(sb_model_forward(ma, B, Lq, x, NULL, lens, ga) == SB_OK, "%s", sb_model_last_error(ma));
    int tokens = 0, activated = 0;
    ck_assert_int_eq(sb_model_layer_stats(ma, 0, &tokens, &activated, NULL), SB_OK);
    ck_assert_int_eq(activated, tokens); /* the premise */
    ck_assert_msg(sb_model_forward(mb, B, Lq, x, NULL, lens, gb) == SB_OK, "%s", sb_model_last_error(mb));
    char what[64];
    snprintf(what, sizeof what, "local vs simple slice (%s, %s)", bidir ? "bidir" : "causal", act);
    agree(ga, gb, (size_t)B * Lq * 3, 1e-5, 1e-4, what);
    if (!bidir) { /* a local model does not stream */
        sb_stream *s = NULL;
        ck_assert_int_eq(sb_stream_open(ma, &s), SB_ERR_STATE);
        ck_assert_ptr_nonnull(strstr(sb_last_error(), "local"));
    }
    sb_model_free(ma); sb_model_free(mb);
    free(x); free(ga); free(gb);
}

START_TEST(test_local_bias) {
    run_local(1, "softmax");
    run_local(1, "relu2");
    run_local(0, "softmax");
}
END_TEST

/* ---- scalenorm = rmsnorm with every weight equal to the scalar ------------------ */

START_TEST(test_scalenorm_rmsnorm) {
    const int B = 2, Lq = 15;
    const int32_t lens[2] = {15, 8};
    for (int pre = 0; pre < 2; pre++) {
        spec a = BASE;
        a.norm = "scalenorm", a.norm_w = 0.8f, a.prenorm = pre;
        write_model(tpath("scale.safetensors"), &a);
        spec b = a;
        b.norm = "rmsnorm";
        write_model(tpath("rms.safetensors"), &b);
        spec c = a;
        c.norm_w = 1.3f;
        write_model(tpath("scale2.safetensors"), &c);
        float x[2 * 15 * 3], ga[8], gb[8], gc[8];
        tu_fill(x, sizeof x / sizeof x[0], 51u, -1.0f, 1.0f);
        sb_model *ma = load(tpath("scale.safetensors")), *mb = load(tpath("rms.safetensors"));
        sb_model *mc = load(tpath("scale2.safetensors"));
        ck_assert_int_eq(sb_model_forward(ma, B, Lq, x, NULL, lens, ga), SB_OK);
        ck_assert_int_eq(sb_model_forward(mb, B, Lq, x, NULL, lens, gb), SB_OK);
        ck_assert_int_eq(sb_model_forward(mc, B, Lq, x, NULL, lens, gc), SB_OK);
        agree(ga, gb, 8, 1e-6, 1e-6, pre ? "scalenorm vs rmsnorm (prenorm)" : "scalenorm vs rmsnorm (postnorm)");
        double diff = 0;
        for (int i = 0; i < 8; i++) diff += fabs((double)ga[i] - gc[i]);
        ck_assert_msg(diff > 1e-4, "the scalar changes nothing");
        sb_model_info info = {.struct_size = sizeof(sb_model_info)};
        ck_assert_int_eq(sb_model_get_info(ma, &info), SB_OK);
        ck_assert_int_eq(info.norm_type, SB_SCALENORM);
        sb_model_free(ma); sb_model_free(mb); sb_model_free(mc);
    }
}
END_TEST

/* ---- a version-2 lm streams what its full forward computes ------------------------ */

START_TEST(test_v2_lm_stream) {
    const int V = 13, Lq = 40;
    spec a = BASE;
    a.task = "lm", a.vocab = V, a.d_input = 0, a.d_output = V, a.bidir = 0, a.prenorm = 1;
    a.norm = "scalenorm", a.abs_pos = 1, a.dec_bias = 0, a.rel = "rotary", a.trunc = 9;
    write_model(tpath("lm.safetensors"), &a);
    int32_t ids[40];
    fill_ids(ids, Lq, V, 3u);
    float *full = malloc(sizeof(float) * (size_t)Lq * V), *st = malloc(sizeof(float) * (size_t)Lq * V);
    sb_model *m = load(tpath("lm.safetensors"));
    ck_assert_msg(sb_model_forward(m, 1, Lq, NULL, ids, NULL, full) == SB_OK, "%s", sb_model_last_error(m));
    sb_stream *s = NULL;
    ck_assert_msg(sb_stream_open(m, &s) == SB_OK, "%s", sb_last_error());
    const int pre = 11;
    ck_assert_msg(sb_stream_feed_ids(s, ids, pre, st, NULL) == SB_OK, "%s", sb_stream_last_error(s));
    for (int t = pre; t < Lq; t++)
        ck_assert_msg(sb_stream_step_id(s, ids[t], st + (size_t)t * V) == SB_OK, "%s", sb_stream_last_error(s));
    agree(st, full, (size_t)Lq * V, 1e-4, 2e-3, "v2 lm: stream vs full forward");
    sb_stream_free(s);
    sb_model_free(m);
    free(full); free(st);
}
END_TEST

/* ---- metadata and tensor errors ---------------------------------------------- */

static void expect_load_fail(const char *path, const char *sub, const char *what) {
    sb_model_file *mf = NULL;
    sb_err e;
    sb_err_clear(&e);
    sb_status st = sb_model_file_load(path, &mf, &e);
    ck_assert_msg(st != SB_OK, "%s: loaded", what);
    ck_assert_msg(strstr(e.msg, sub) != NULL, "%s: message '%s' lacks '%s'", what, e.msg, sub);
}

START_TEST(test_v2_errors) {
    spec s = BASE;
    s.version = 1, s.norm = "scalenorm"; /* version 1 knows only layernorm and batchnorm */
    write_model(tpath("e1.safetensors"), &s);
    expect_load_fail(tpath("e1.safetensors"), "'norm_type' = 'scalenorm' is not one of 'layernorm', 'batchnorm'",
                     "scalenorm in version 1");
    s = BASE;
    s.version = 1, s.rel = "local";
    write_model(tpath("e2.safetensors"), &s);
    expect_load_fail(tpath("e2.safetensors"), "'rel_pos_bias' = 'local'", "local in version 1");
    s = BASE;
    s.head_layers = 1, s.d_head = 5;
    s.task = "sequence";
    write_model(tpath("e3.safetensors"), &s);
    expect_load_fail(tpath("e3.safetensors"), "'head_layers' = '1' needs 'task' = 'classify'", "head on sequence");
    s = BASE;
    s.pair = 1, s.task = "sequence";
    write_model(tpath("e4.safetensors"), &s);
    expect_load_fail(tpath("e4.safetensors"), "'pair' = 'nli' needs 'task' = 'classify'", "pair on sequence");
    s = BASE;
    s.vocab = 7; /* and d_input 3 */
    write_model(tpath("e5.safetensors"), &s);
    expect_load_fail(tpath("e5.safetensors"), "'d_input' = '3' must be '0' when 'vocab_size' is set",
                     "vocab and d_input");
    s = BASE;
    s.abs_pos = 1, s.D = 15;
    write_model(tpath("e6.safetensors"), &s);
    expect_load_fail(tpath("e6.safetensors"), "'d_model' = '15' must be even when 'abs_pos'", "odd D");
    /* a local table of the simple size: the shape is named */
    float tab[127];
    tu_fill(tab, 127, 3u, -0.1f, 0.1f);
    s = BASE;
    s.rel = "simple";
    write_model(tpath("e7a.safetensors"), &s);
    {   /* rewrite the metadata to 'local' (the table stays [2P-1] = [127]) */
        sb_st_file *f = NULL;
        TU_OK(sb_st_open(tpath("e7a.safetensors"), &f, &tu_err));
        sb_st_out outs[256];
        int n = sb_st_count(f);
        for (int i = 0; i < n; i++) {
            const sb_tensor *t = sb_st_at(f, i);
            outs[i].name = t->name, outs[i].dtype = t->dtype, outs[i].ndim = t->ndim;
            outs[i].shape = t->shape, outs[i].data = t->data;
        }
        const char *kv[] = {"seqboat.format_version", "2", "task", "classify", "d_input", "3",
                            "d_output", "4", "d_model", "16", "n_layers", "2", "d_qk", "8",
                            "d_hidden", "16", "d_ema", "4", "mem_size", "4", "max_positions", "64",
                            "truncation", "0", "bidirectional", "true", "prenorm", "false",
                            "norm_type", "layernorm", "rel_pos_bias", "local",
                            "attention_activation", "softmax", NULL};
        TU_OK(sb_st_write(tpath("e7.safetensors"), outs, n, kv, &tu_err));
        sb_st_free(f);
    }
    expect_load_fail(tpath("e7.safetensors"),
                     "tensor 'seq_layers.0.rel_pos_bias.rel_pos_bias' has shape [127], expected [23]",
                     "local table size");
    s = BASE;
    s.head_layers = 1, s.d_head = 6;
    write_model(tpath("e8.safetensors"), &s);
    {   /* head_layers without d_head */
        sb_st_file *f = NULL;
        TU_OK(sb_st_open(tpath("e8.safetensors"), &f, &tu_err));
        sb_st_out outs[256];
        int n = sb_st_count(f);
        for (int i = 0; i < n; i++) {
            const sb_tensor *t = sb_st_at(f, i);
            outs[i].name = t->name, outs[i].dtype = t->dtype, outs[i].ndim = t->ndim;
            outs[i].shape = t->shape, outs[i].data = t->data;
        }
        const char *kv[] = {"seqboat.format_version", "2", "task", "classify", "d_input", "3",
                            "d_output", "4", "d_model", "16", "n_layers", "2", "d_qk", "8",
                            "d_hidden", "16", "d_ema", "4", "mem_size", "4", "max_positions", "64",
                            "truncation", "0", "bidirectional", "true", "prenorm", "false",
                            "norm_type", "layernorm", "rel_pos_bias", "simple",
                            "attention_activation", "softmax", "head_layers", "1", NULL};
        TU_OK(sb_st_write(tpath("e9.safetensors"), outs, n, kv, &tu_err));
        sb_st_free(f);
    }
    expect_load_fail(tpath("e9.safetensors"), "missing metadata key 'd_head'", "head without d_head");
    /* a version-2 file without decoder.bias loads only with decoder_bias false */
    s = BASE;
    s.dec_bias = 0;
    write_model(tpath("e10.safetensors"), &s);
    sb_model_file *mf = NULL;
    TU_OK(sb_model_file_load(tpath("e10.safetensors"), &mf, &tu_err));
    ck_assert_int_eq(mf->cfg.no_dec_bias, 1);
    ck_assert_uint_eq(mf->n_params, sb_config_param_count(&mf->cfg));
    sb_model_file_free(mf);
    /* parameter count of a full version-2 config matches the file */
    s = BASE;
    s.norm = "scalenorm", s.rel = "local", s.abs_pos = 1, s.head_layers = 2, s.d_head = 5,
    s.dec_bias = 0, s.pair = 1, s.vocab = 9, s.d_input = 0, s.prenorm = 1;
    write_model(tpath("e11.safetensors"), &s);
    TU_OK(sb_model_file_load(tpath("e11.safetensors"), &mf, &tu_err));
    ck_assert_uint_eq(mf->n_params, sb_config_param_count(&mf->cfg));
    ck_assert_int_eq(mf->cfg.rel_local, 1);
    ck_assert_int_eq(mf->cfg.pair, SB_PAIR_NLI);
    sb_model_file_free(mf);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("v2_model");
    TCase *tc = tcase_create("models");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_token_classify);
    tcase_add_test(tc, test_sinusoid_positions);
    tcase_add_test(tc, test_head_no_bias);
    tcase_add_test(tc, test_pair_nli);
    tcase_add_test(tc, test_pair_concat);
    tcase_add_test(tc, test_local_bias);
    tcase_add_test(tc, test_scalenorm_rmsnorm);
    tcase_add_test(tc, test_v2_lm_stream);
    tcase_add_test(tc, test_v2_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
