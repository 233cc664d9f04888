/* test_pos_head.c - cl/pos_head.cl ops (ScaleNorm / RMSNorm, sinusoidal
 * positions, gelu, pair feature, index fill) vs tests/ref/ref_pos_head.c on odd
 * shapes, ragged sequences, aliasing, buffer offsets and canaries. */
#include <math.h>
#include <string.h>
#include "testutil.h"
#include "../runtime/ops/pos_head.h"
#include "ref/ref_pos_head.h"

#define PAD 5          /* floats before each device region (nonzero offsets) */
#define CAN TU_CAN    /* canary floats after it */
#define CANARY TU_CANARY

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
    int *h = malloc((size_t)(n + 3 + CAN) * sizeof(int));
    ck_assert_ptr_nonnull(h);
    for (int i = 0; i < n + 3 + CAN; i++) h[i] = -99;
    if (data) memcpy(h + 3, data, (size_t)n * sizeof(int));
    cl_mem m = tu_upload(rt, h, (size_t)(n + 3 + CAN) * sizeof(int));
    free(h);
    *b = sb_view(m, 3 * sizeof(int), (size_t)n * sizeof(int));
    return m;
}

static void rel(cl_mem m) {
    if (m) clReleaseMemObject(m);
}

/* ------------------------------------------------------------ rms / scale norm */

static void run_rms(sb_rt *rt, int T, int D, int per_feature, int alias, uint32_t seed) {
    const size_t n = (size_t)T * D;
    float *x = xmalloc(n), *w = xmalloc(D), *want = xmalloc(n), *got = xmalloc(n);
    char what[96];
    tu_fill(x, n, seed, -3.0f, 2.0f);
    tu_fill(w, D, seed + 1, 0.3f, 1.7f);
    sb_ref_rms_norm(T, D, per_feature, x, w, want);
    sb_buf dx, dw, dy;
    cl_mem mx = up(rt, x, n, &dx), mw = up(rt, w, per_feature ? (size_t)D : 1, &dw), my = NULL;
    if (alias) dy = dx;
    else my = up(rt, NULL, n, &dy);
    TU_OK(sb_op_rms_norm(rt, T, D, per_feature, dx, dw, dy, &tu_err));
    snprintf(what, sizeof what, "%s T=%d D=%d alias=%d", per_feature ? "rmsnorm" : "scalenorm", T, D, alias);
    down(rt, alias ? mx : my, got, n, what);
    tu_check_close(got, want, n, 2e-6f, 1e-6f, what);
    rel(mx); rel(mw); rel(my);
    free(x); free(w); free(want); free(got);
}

START_TEST(test_rms_scale_norm) {
    sb_rt *rt = tu_rt();
    static const int DS[] = {1, 3, 60, 128, 617};
    for (int i = 0; i < 5; i++)
        for (int pf = 0; pf < 2; pf++) {
            run_rms(rt, 37, DS[i], pf, 0, 10u + (uint32_t)i);
            run_rms(rt, 5, DS[i], pf, 1, 20u + (uint32_t)i);
        }
    run_rms(rt, 4099, 16, 1, 0, 30u);
    sb_rt_free(rt);
}
END_TEST

/* A zero row gives zeros (0 / sqrt(eps)), not NaN. */
START_TEST(test_rms_zero_row) {
    sb_rt *rt = tu_rt();
    float x[8] = {0}, w[1] = {2.0f}, got[8];
    sb_buf dx, dw;
    cl_mem mx = up(rt, x, 8, &dx), mw = up(rt, w, 1, &dw);
    TU_OK(sb_op_rms_norm(rt, 1, 8, 0, dx, dw, dx, &tu_err));
    down(rt, mx, got, 8, "scalenorm zero row");
    for (int i = 0; i < 8; i++) ck_assert_msg(got[i] == 0.0f, "[%d] = %g", i, got[i]);
    rel(mx); rel(mw);
    sb_rt_free(rt);
}
END_TEST

/* ---------------------------------------------------------------- sinusoid */

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

/* inv_freq as fairseq's buffer: 1/10000^(2m/D) in float32. */
static void inv_freqs(int D, float *inv) {
    for (int m = 0; m < D / 2; m++) inv[m] = (float)(1.0 / pow(10000.0, (double)(2 * m) / D));
}

static void run_sinusoid(sb_rt *rt, const int *lens, int B, int D, int pos0, int with_seqs, uint32_t seed) {
    tseqs q;
    make_seqs(rt, &q, lens, B);
    const int T = q.s.total;
    const size_t n = (size_t)T * D;
    float *x = xmalloc(n), *want = xmalloc(n), *got = xmalloc(n), *inv = xmalloc((size_t)D / 2);
    int *pos = malloc(sizeof(int) * (size_t)T);
    ck_assert_ptr_nonnull(pos);
    float scale = 0.37f;
    tu_fill(x, n, seed, -1.0f, 1.0f);
    inv_freqs(D, inv);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < lens[b]; t++)
            pos[q.start[b] + t] = with_seqs ? t + pos0 : q.start[b] + t + pos0;
    memcpy(want, x, n * sizeof(float));
    sb_ref_add_sinusoid(T, D, pos, scale, inv, want);
    sb_buf dx, ds, di;
    cl_mem mx = up(rt, x, n, &dx), ms = up(rt, &scale, 1, &ds), mi = up(rt, inv, (size_t)D / 2, &di);
    TU_OK(sb_op_add_sinusoid(rt, T, D, with_seqs ? &q.s : NULL, pos0, ds, di, dx, &tu_err));
    char what[96];
    snprintf(what, sizeof what, "add_sinusoid B=%d T=%d D=%d pos0=%d seqs=%d", B, T, D, pos0, with_seqs);
    down(rt, mx, got, n, what);
    /* sin/cos of float32 arguments up to ~2e4: a few ulp of the result */
    tu_check_close(got, want, n, 1e-5f, 2e-6f, what);
    rel(mx); rel(ms); rel(mi); rel(q.ms); rel(q.ml);
    free(x); free(want); free(got); free(inv); free(pos);
}

START_TEST(test_sinusoid) {
    sb_rt *rt = tu_rt();
    static const int LENS_A[] = {1, 7, 3, 9, 1, 5};
    static const int LENS_ONE[] = {333};
    run_sinusoid(rt, LENS_A, 6, 16, 0, 1, 1u);
    run_sinusoid(rt, LENS_A, 6, 2, 0, 1, 2u);
    run_sinusoid(rt, LENS_A, 6, 60, 5, 1, 3u);
    run_sinusoid(rt, LENS_ONE, 1, 128, 0, 0, 4u);     /* one sequence, no table */
    run_sinusoid(rt, LENS_ONE, 1, 160, 16000, 0, 5u); /* far positions (streaming) */
    sb_rt_free(rt);
}
END_TEST

/* ---------------------------------------------------------- gelu, pair, iota */

START_TEST(test_gelu) {
    sb_rt *rt = tu_rt();
    static const int NS[] = {1, 17, 1000};
    for (int i = 0; i < 3; i++) {
        const int n = NS[i];
        float *x = xmalloc((size_t)n), *want = xmalloc((size_t)n), *got = xmalloc((size_t)n);
        tu_fill(x, (size_t)n, 60u + (uint32_t)i, -6.0f, 6.0f);
        x[0] = 0.0f;
        memcpy(want, x, (size_t)n * sizeof(float));
        sb_ref_gelu(n, want);
        sb_buf dx;
        cl_mem mx = up(rt, x, (size_t)n, &dx);
        TU_OK(sb_op_gelu(rt, n, dx, &tu_err));
        down(rt, mx, got, (size_t)n, "gelu");
        tu_check_close(got, want, (size_t)n, 1e-6f, 1e-6f, "gelu");
        ck_assert(got[0] == 0.0f);
        rel(mx);
        free(x); free(want); free(got);
    }
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_pair_feature) {
    sb_rt *rt = tu_rt();
    for (int nli = 0; nli < 2; nli++) {
        const int B = 5, D = 13, F = nli ? 4 * D : 2 * D;
        float r0[5 * 13], r1[5 * 13], want[5 * 52], got[5 * 52];
        tu_fill(r0, (size_t)B * D, 70u, -2.0f, 2.0f);
        tu_fill(r1, (size_t)B * D, 71u, -2.0f, 2.0f);
        sb_ref_pair_feature(B, D, nli, r0, r1, want);
        sb_buf d0, d1, dy;
        cl_mem m0 = up(rt, r0, (size_t)B * D, &d0), m1 = up(rt, r1, (size_t)B * D, &d1);
        cl_mem my = up(rt, NULL, (size_t)B * F, &dy);
        TU_OK(sb_op_pair_feature(rt, B, D, nli, d0, d1, dy, &tu_err));
        down(rt, my, got, (size_t)B * F, nli ? "pair nli" : "pair concat");
        tu_check_close(got, want, (size_t)B * F, 0.0f, 0.0f, nli ? "pair nli" : "pair concat");
        rel(m0); rel(m1); rel(my);
    }
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_iota) {
    sb_rt *rt = tu_rt();
    static const int NS[] = {1, 9, 4097};
    for (int i = 0; i < 3; i++) {
        const int n = NS[i], base = 3 * i;
        sb_buf dy;
        cl_mem my = up_int(rt, NULL, n, &dy);
        TU_OK(sb_op_iota(rt, n, base, dy, &tu_err));
        int *h = malloc(sizeof(int) * (size_t)(n + 3 + CAN));
        ck_assert_ptr_nonnull(h);
        tu_download(rt, my, h, sizeof(int) * (size_t)(n + 3 + CAN));
        for (int j = 0; j < 3; j++) ck_assert_int_eq(h[j], -99);
        for (int j = 0; j < n; j++) ck_assert_int_eq(h[3 + j], base + j);
        for (int j = 0; j < CAN; j++) ck_assert_int_eq(h[3 + n + j], -99);
        free(h);
        rel(my);
    }
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_bad_args) {
    sb_rt *rt = tu_rt();
    float x[8] = {0};
    sb_buf dx;
    cl_mem mx = up(rt, x, 8, &dx);
    ck_assert_int_eq(sb_op_rms_norm(rt, 2, 8, 1, dx, dx, dx, &tu_err), SB_ERR_ARG); /* x too short */
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "rmsnorm"));
    ck_assert_int_eq(sb_op_add_sinusoid(rt, 1, 7, NULL, 0, dx, dx, dx, &tu_err), SB_ERR_ARG); /* odd D */
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "add_sinusoid"));
    ck_assert_int_eq(sb_op_pair_feature(rt, 1, 4, 1, dx, dx, dx, &tu_err), SB_ERR_ARG); /* y short */
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "pair_feature"));
    ck_assert_int_eq(sb_op_gelu(rt, 9, dx, &tu_err), SB_ERR_ARG);
    ck_assert_int_eq(sb_op_iota(rt, 9, 0, dx, &tu_err), SB_ERR_ARG);
    rel(mx);
    sb_rt_free(rt);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("pos_head");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rms_scale_norm);
    tcase_add_test(tc, test_rms_zero_row);
    tcase_add_test(tc, test_sinusoid);
    tcase_add_test(tc, test_gelu);
    tcase_add_test(tc, test_pair_feature);
    tcase_add_test(tc, test_iota);
    tcase_add_test(tc, test_bad_args);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
