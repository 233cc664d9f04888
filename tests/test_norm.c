/* test_norm.c - cl/norm_eltwise.cl ops vs tests/ref/ref_norm.c on odd shapes,
 * ragged sequences, aliasing, buffer offsets and canaries. */
#include <string.h>
#include "testutil.h"
#include "../runtime/ops/norm.h"
#include "ref/ref_norm.h"

#define PAD 5          /* floats before each device region (nonzero offsets) */
#define CAN TU_CAN    /* canary floats after it */
#define CANARY TU_CANARY

static const int DS[] = {1, 3, 17, 128, 1000};
#define NDS ((int)(sizeof DS / sizeof DS[0]))

static float *xmalloc(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Guarded device copy of data[n] (testutil); *b = the data. */
static cl_mem up(sb_rt *rt, const float *data, size_t n, sb_buf *b) { return tu_up_guarded(rt, data, n, PAD, b); }

/* The n floats of a region made by up(), the canaries checked. */
static void down(sb_rt *rt, cl_mem m, float *out, size_t n, const char *what) {
    tu_down_guarded(rt, m, out, n, PAD, what);
}

static cl_mem up_int(sb_rt *rt, const int *data, int n, sb_buf *b) {
    int *h = malloc((size_t)(n + 3) * sizeof(int));
    ck_assert_ptr_nonnull(h);
    h[0] = h[1] = h[2] = -99;
    memcpy(h + 3, data, (size_t)n * sizeof(int));
    cl_mem m = tu_upload(rt, h, (size_t)(n + 3) * sizeof(int));
    free(h);
    *b = sb_view(m, 3 * sizeof(int), (size_t)n * sizeof(int));
    return m;
}

static void rel(cl_mem m) {
    if (m) clReleaseMemObject(m);
}

/* ---------------------------------------------------------------- layernorm */

/* Both kernels: the row kernel (layernorm_vec, CPU class) and the
 * work-group kernel, whatever the device (rt->tune.rows). */
static void run_layernorm_1(sb_rt *rt, int T, int D, uint32_t seed, int alias);
static void run_layernorm(sb_rt *rt, int T, int D, uint32_t seed, int alias) {
    static const int variants[] = {SB_TUNE_VEC, SB_TUNE_WG};
    const int keep = rt->tune.rows;
    for (int v = 0; v < 2; v++) {
        rt->tune.rows = variants[v];
        run_layernorm_1(rt, T, D, seed, alias);
    }
    rt->tune.rows = keep;
}

static void run_layernorm_1(sb_rt *rt, int T, int D, uint32_t seed, int alias) {
    const size_t n = (size_t)T * D;
    float *x = xmalloc(n), *w = xmalloc(D), *b = xmalloc(D), *want = xmalloc(n), *got = xmalloc(n);
    char what[96];
    tu_fill(x, n, seed, 1.0f, 5.0f); /* offset mean: two-pass matters */
    tu_fill(w, D, seed + 1, 0.5f, 1.5f);
    tu_fill(b, D, seed + 2, -1.0f, 1.0f);
    sb_ref_layernorm(T, D, x, w, b, want);
    sb_buf dx, dw, db, dy;
    cl_mem mx = up(rt, x, n, &dx), mw = up(rt, w, D, &dw), mb = up(rt, b, D, &db), my = NULL;
    if (alias) dy = dx;
    else my = up(rt, NULL, n, &dy);
    TU_OK(sb_op_layernorm(rt, T, D, dx, dw, db, dy, &tu_err));
    snprintf(what, sizeof what, "layernorm(%s) T=%d D=%d alias=%d", getenv("SEQBOAT_ROWS"), T, D, alias);
    down(rt, alias ? mx : my, got, n, what);
    tu_check_close(got, want, n, 1e-5f, 1e-5f, what);
    if (!alias) { /* input untouched */
        float *x2 = xmalloc(n);
        down(rt, mx, x2, n, "layernorm input");
        ck_assert_int_eq(memcmp(x, x2, n * sizeof(float)), 0);
        free(x2);
    }
    rel(mx); rel(mw); rel(mb); rel(my);
    free(x); free(w); free(b); free(want); free(got);
}

START_TEST(test_layernorm_shapes) {
    sb_rt *rt = tu_rt();
    for (int i = 0; i < NDS; i++) {
        run_layernorm(rt, 37, DS[i], 10u + (uint32_t)i, 0);
        run_layernorm(rt, 5, DS[i], 20u + (uint32_t)i, 1);
    }
    run_layernorm(rt, 3, 2500, 30u, 0); /* D well above any work-group size */
    run_layernorm(rt, 1, 257, 31u, 1);
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_layernorm_many_rows) {
    sb_rt *rt = tu_rt();
    run_layernorm(rt, 70001, 3, 40u, 0);
    run_layernorm(rt, 4099, 33, 41u, 1);
    sb_rt_free(rt);
}
END_TEST

/* Constant rows: variance 0, y = b exactly (up to rounding of 0 * inv). */
START_TEST(test_layernorm_constant_rows) {
    sb_rt *rt = tu_rt();
    const int T = 4, D = 19;
    float x[4 * 19], w[19], b[19], want[4 * 19], got[4 * 19];
    for (int i = 0; i < T * D; i++) x[i] = 2.5f * (float)(i / D);
    tu_fill(w, D, 50u, 0.5f, 1.5f);
    tu_fill(b, D, 51u, -1.0f, 1.0f);
    sb_ref_layernorm(T, D, x, w, b, want);
    sb_buf dx, dw, db;
    cl_mem mx = up(rt, x, T * D, &dx), mw = up(rt, w, D, &dw), mb = up(rt, b, D, &db);
    for (int v = 0; v < 2; v++) { /* row kernel, work-group kernel */
        rt->tune.rows = v ? SB_TUNE_WG : SB_TUNE_VEC;
        TU_OK(sb_rt_write(rt, mx, dx.off, sizeof x, x, &tu_err));
        TU_OK(sb_op_layernorm(rt, T, D, dx, dw, db, dx, &tu_err));
        down(rt, mx, got, T * D, "layernorm constant");
        tu_check_close(got, want, T * D, 0.0f, 1e-3f, v ? "layernorm constant (wg)" : "layernorm constant (vec)"); /* 1 ulp of mean * 316 */
    }
    rel(mx); rel(mw); rel(mb);
    sb_rt_free(rt);
}
END_TEST

/* ---------------------------------------------------------------- batchnorm */

static void run_batchnorm(sb_rt *rt, int T, int D, uint32_t seed, int alias) {
    const size_t n = (size_t)T * D;
    float *x = xmalloc(n), *rm = xmalloc(D), *rv = xmalloc(D), *w = xmalloc(D), *b = xmalloc(D);
    float *want = xmalloc(n), *got = xmalloc(n);
    char what[96];
    tu_fill(x, n, seed, -3.0f, 3.0f);
    tu_fill(rm, D, seed + 1, -1.0f, 1.0f);
    tu_fill(rv, D, seed + 2, 0.05f, 2.0f);
    tu_fill(w, D, seed + 3, -1.5f, 1.5f);
    tu_fill(b, D, seed + 4, -1.0f, 1.0f);
    sb_ref_batchnorm(T, D, x, rm, rv, w, b, want);
    sb_buf dx, dm, dv, dw, db, dy;
    cl_mem mx = up(rt, x, n, &dx), mm = up(rt, rm, D, &dm), mv = up(rt, rv, D, &dv);
    cl_mem mw = up(rt, w, D, &dw), mb = up(rt, b, D, &db), my = NULL;
    if (alias) dy = dx;
    else my = up(rt, NULL, n, &dy);
    TU_OK(sb_op_batchnorm(rt, T, D, dx, dm, dv, dw, db, dy, &tu_err));
    snprintf(what, sizeof what, "batchnorm T=%d D=%d alias=%d", T, D, alias);
    down(rt, alias ? mx : my, got, n, what);
    tu_check_close(got, want, n, 1e-5f, 1e-5f, what);
    rel(mx); rel(mm); rel(mv); rel(mw); rel(mb); rel(my);
    free(x); free(rm); free(rv); free(w); free(b); free(want); free(got);
}

START_TEST(test_batchnorm_shapes) {
    sb_rt *rt = tu_rt();
    for (int i = 0; i < NDS; i++) {
        run_batchnorm(rt, 23, DS[i], 60u + (uint32_t)i, 0);
        run_batchnorm(rt, 4, DS[i], 70u + (uint32_t)i, 1);
    }
    run_batchnorm(rt, 20011, 5, 80u, 1);
    sb_rt_free(rt);
}
END_TEST

/* ----------------------------------------------------------------- bias_act */

static void run_bias_act(sb_rt *rt, int T, int F, int ld, int with_bias, int act, uint32_t seed) {
    const size_t n = (size_t)T * ld;
    float *x = xmalloc(n), *bias = xmalloc(F), *got = xmalloc(n);
    char what[96];
    tu_fill(x, n, seed, -12.0f, 12.0f);
    if (n > 2) {
        x[0] = -200.0f; /* exp overflow side of silu */
        x[1] = 150.0f;
    }
    tu_fill(bias, F, seed + 1, -2.0f, 2.0f);
    sb_buf dx, dbias = sb_view_none();
    cl_mem mx = up(rt, x, n, &dx), mb = with_bias ? up(rt, bias, F, &dbias) : NULL;
    TU_OK(sb_op_bias_act(rt, T, F, ld, dx, dbias, act, &tu_err));
    sb_ref_bias_act(T, F, ld, x, with_bias ? bias : NULL, act); /* x becomes the expectation */
    snprintf(what, sizeof what, "bias_act T=%d F=%d ld=%d bias=%d act=%d", T, F, ld, with_bias, act);
    down(rt, mx, got, n, what);
    tu_check_close(got, x, n, 2e-6f, 1e-6f, what); /* columns F..ld-1 must be untouched too */
    rel(mx); rel(mb);
    free(x); free(bias); free(got);
}

START_TEST(test_bias_act) {
    sb_rt *rt = tu_rt();
    for (int i = 0; i < NDS; i++)
        for (int v = 0; v < 4; v++) {
            const int F = DS[i];
            run_bias_act(rt, 13, F, F + (v & 1) * 3, v & 1, v >> 1, 90u + (uint32_t)(4 * i + v));
        }
    run_bias_act(rt, 9001, 7, 9, 1, 1, 120u);
    sb_rt_free(rt);
}
END_TEST

/* -------------------------------------------------------------------- embed */

START_TEST(test_embed) {
    sb_rt *rt = tu_rt();
    const int V = 53, T = 41;
    for (int i = 0; i < NDS; i++) {
        const int D = DS[i];
        float *table = xmalloc((size_t)V * D), *want = xmalloc((size_t)T * D), *got = xmalloc((size_t)T * D);
        int ids[41];
        for (int t = 0; t < T; t++) ids[t] = (t * 31 + i * 7) % V;
        ids[0] = 0;
        ids[T - 1] = V - 1;
        tu_fill(table, (size_t)V * D, 130u + (uint32_t)i, -1.0f, 1.0f);
        sb_ref_embed(T, D, ids, table, want);
        sb_buf di, dt, dy;
        cl_mem mi = up_int(rt, ids, T, &di), mt = up(rt, table, (size_t)V * D, &dt);
        cl_mem my = up(rt, NULL, (size_t)T * D, &dy);
        TU_OK(sb_op_embed(rt, T, D, di, dt, dy, &tu_err));
        down(rt, my, got, (size_t)T * D, "embed");
        tu_check_close(got, want, (size_t)T * D, 0.0f, 0.0f, "embed");
        rel(mi); rel(mt); rel(my);
        free(table); free(want); free(got);
    }
    sb_rt_free(rt);
}
END_TEST

/* ------------------------------------------------------- pack / unpack / pool */

typedef struct tseqs {
    sb_seqs s;
    int start[16], len[16];
    cl_mem ms, ml;
} tseqs;

static void make_seqs(sb_rt *rt, tseqs *q, const int *len, int B) {
    memset(q, 0, sizeof *q);
    int tot = 0, mx = 0;
    for (int b = 0; b < B; b++) {
        q->start[b] = tot;
        q->len[b] = len[b];
        tot += len[b];
        if (len[b] > mx) mx = len[b];
    }
    q->s.n = B;
    q->s.start = q->start;
    q->s.len = q->len;
    q->s.total = tot;
    q->s.max_len = mx;
    q->ms = up_int(rt, q->start, B, &q->s.d_start);
    q->ml = up_int(rt, q->len, B, &q->s.d_len);
}

static void free_seqs(tseqs *q) {
    rel(q->ms);
    rel(q->ml);
}

static const int LENS_A[] = {1, 7, 3, 9, 1, 5}; /* L = 9 */
static const int LENS_B[] = {1};                /* single token */
static const int LENS_C[] = {3000, 1, 257, 64}; /* long rows for the pooling lanes */

static void run_pack(sb_rt *rt, const int *lens, int B, int L, int F, uint32_t seed) {
    tseqs q;
    make_seqs(rt, &q, lens, B);
    const size_t np = (size_t)B * L * F, nq = (size_t)q.s.total * F;
    float *pad = xmalloc(np), *want_q = xmalloc(nq), *got_q = xmalloc(nq);
    float *want_p = xmalloc(np), *got_p = xmalloc(np);
    char what[96];
    tu_fill(pad, np, seed, -1.0f, 1.0f);
    sb_ref_pack(B, q.start, q.len, L, F, pad, want_q);
    sb_ref_unpack(B, q.start, q.len, L, F, want_q, want_p);
    sb_buf dp, dq, dp2;
    cl_mem mp = up(rt, pad, np, &dp), mq = up(rt, NULL, nq, &dq);
    /* Unpack target starts as garbage so that written zeros are checked. */
    float *junk = xmalloc(np);
    for (size_t i = 0; i < np; i++) junk[i] = 42.0f;
    cl_mem mp2 = up(rt, junk, np, &dp2);
    TU_OK(sb_op_pack(rt, &q.s, L, F, dp, dq, &tu_err));
    TU_OK(sb_op_unpack(rt, &q.s, L, F, dq, dp2, &tu_err));
    snprintf(what, sizeof what, "pack B=%d L=%d F=%d", B, L, F);
    down(rt, mq, got_q, nq, what);
    tu_check_close(got_q, want_q, nq, 0.0f, 0.0f, what);
    snprintf(what, sizeof what, "unpack B=%d L=%d F=%d", B, L, F);
    down(rt, mp2, got_p, np, what);
    tu_check_close(got_p, want_p, np, 0.0f, 0.0f, what);
    rel(mp); rel(mq); rel(mp2);
    free_seqs(&q);
    free(pad); free(want_q); free(got_q); free(want_p); free(got_p); free(junk);
}

START_TEST(test_pack_unpack) {
    sb_rt *rt = tu_rt();
    for (int i = 0; i < NDS; i++) {
        run_pack(rt, LENS_A, 6, 9, DS[i], 150u + (uint32_t)i);
        run_pack(rt, LENS_A, 6, 12, DS[i], 160u + (uint32_t)i); /* L beyond the longest */
        run_pack(rt, LENS_B, 1, 1, DS[i], 170u + (uint32_t)i);
    }
    run_pack(rt, LENS_C, 4, 3000, 3, 180u);
    sb_rt_free(rt);
}
END_TEST

static void run_pool(sb_rt *rt, const int *lens, int B, int D, uint32_t seed) {
    tseqs q;
    make_seqs(rt, &q, lens, B);
    const size_t n = (size_t)q.s.total * D, ny = (size_t)B * D;
    float *x = xmalloc(n), *want = xmalloc(ny), *got = xmalloc(ny);
    char what[96];
    tu_fill(x, n, seed, 0.5f, 2.5f);
    sb_ref_mean_pool(B, q.start, q.len, D, x, want);
    sb_buf dx, dy;
    cl_mem mx = up(rt, x, n, &dx), my = up(rt, NULL, ny, &dy);
    TU_OK(sb_op_mean_pool(rt, &q.s, D, dx, dy, &tu_err));
    snprintf(what, sizeof what, "mean_pool B=%d D=%d", B, D);
    down(rt, my, got, ny, what);
    tu_check_close(got, want, ny, 1e-5f, 1e-6f, what);
    rel(mx); rel(my);
    free_seqs(&q);
    free(x); free(want); free(got);
}

START_TEST(test_mean_pool) {
    sb_rt *rt = tu_rt();
    for (int i = 0; i < NDS; i++) {
        run_pool(rt, LENS_A, 6, DS[i], 200u + (uint32_t)i);
        run_pool(rt, LENS_B, 1, DS[i], 210u + (uint32_t)i);
        run_pool(rt, LENS_C, 4, DS[i], 220u + (uint32_t)i);
    }
    const int one_long[] = {100000};
    run_pool(rt, one_long, 1, 5, 230u);
    sb_rt_free(rt);
}
END_TEST

/* -------------------------------------------------------------- bad inputs */

START_TEST(test_bad_args) {
    sb_rt *rt = tu_rt();
    float v[8] = {0};
    sb_buf a;
    cl_mem m = up(rt, v, 8, &a);
    sb_buf none = sb_view_none(), odd = sb_skip(sb_view_all(m), 6);
    ck_assert_int_eq(sb_op_layernorm(rt, 2, 4, none, a, a, a, &tu_err), SB_ERR_ARG);
    ck_assert_int_eq(sb_op_layernorm(rt, 2, 4, odd, a, a, a, &tu_err), SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "layernorm"));
    ck_assert_int_eq(sb_op_layernorm(rt, 2, 0, a, a, a, a, &tu_err), SB_ERR_ARG);
    ck_assert_int_eq(sb_op_batchnorm(rt, -1, 4, a, a, a, a, a, a, &tu_err), SB_ERR_ARG);
    ck_assert_int_eq(sb_op_bias_act(rt, 2, 4, 3, a, none, 0, &tu_err), SB_ERR_ARG);
    ck_assert_int_eq(sb_op_bias_act(rt, 2, 4, 4, a, none, 7, &tu_err), SB_ERR_ARG);
    ck_assert_int_eq(sb_op_embed(rt, 2, 4, none, a, a, &tu_err), SB_ERR_ARG);
    /* T == 0 is a no-op. */
    TU_OK(sb_op_layernorm(rt, 0, 4, a, a, a, a, &tu_err));
    TU_OK(sb_op_bias_act(rt, 0, 4, 4, a, none, 1, &tu_err));
    tseqs q;
    const int lens[] = {3, 5};
    make_seqs(rt, &q, lens, 2);
    ck_assert_int_eq(sb_op_pack(rt, &q.s, 4, 1, a, a, &tu_err), SB_ERR_ARG); /* L < max_len */
    ck_assert_int_eq(sb_op_unpack(rt, NULL, 4, 1, a, a, &tu_err), SB_ERR_ARG);
    ck_assert_int_eq(sb_op_mean_pool(rt, &q.s, 0, a, a, &tu_err), SB_ERR_ARG);
    free_seqs(&q);
    rel(m);
    sb_rt_free(rt);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("norm");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_layernorm_shapes);
    tcase_add_test(tc, test_layernorm_many_rows);
    tcase_add_test(tc, test_layernorm_constant_rows);
    tcase_add_test(tc, test_batchnorm_shapes);
    tcase_add_test(tc, test_bias_act);
    tcase_add_test(tc, test_embed);
    tcase_add_test(tc, test_pack_unpack);
    tcase_add_test(tc, test_mean_pool);
    tcase_add_test(tc, test_bad_args);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
