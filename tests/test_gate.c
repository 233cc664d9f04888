/* test_gate.c - router gate + compaction, gather and combine (runtime/ops/gate.h)
 * against the plain-C reference (tests/ref/ref_gate.c) on ragged packed
 * batches, with canaries before and after every output region. */
#include <string.h>
#include "../runtime/ops/gate.h"
#include "ref/ref_gate.h"
#include "testutil.h"

#define PRE 8           /* words before each output region (buffer offset) */
#define POST 16         /* canary words after it */
#define CANARY 0xA5A5A5A5u

enum { MODE_RANDOM, MODE_NONE, MODE_ALL, MODE_ONE, MODE_TIES };

static uint32_t rng_next(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static float rng_unit(uint32_t *s) { return (float)((rng_next(s) >> 8) * (1.0 / 16777216.0)); }

/* A device buffer of PRE + n + POST words, all CANARY; the region starts at
 * byte offset PRE*4. */
static cl_mem canary_buf(sb_rt *rt, size_t n) {
    const size_t words = PRE + n + POST;
    uint32_t *h = malloc(words * 4);
    ck_assert_ptr_nonnull(h);
    for (size_t i = 0; i < words; i++) h[i] = CANARY;
    cl_mem m = tu_upload(rt, h, words * 4);
    free(h);
    return m;
}

/* Download the region [0, n) of a canary_buf into dst; fail if a word outside
 * [0, used) changed (used <= n: words of the region the op may not write). */
static void fetch_checked(sb_rt *rt, cl_mem m, size_t n, size_t used, void *dst, const char *what) {
    const size_t words = PRE + n + POST;
    uint32_t *h = malloc(words * 4);
    ck_assert_ptr_nonnull(h);
    tu_download(rt, m, h, words * 4);
    size_t bad = words;
    for (size_t i = 0; i < words && bad == words; i++)
        if ((i < PRE || i >= PRE + used) && h[i] != CANARY) bad = i;
    ck_assert_msg(bad == words, "%s: canary word %zd (relative to the region) overwritten: 0x%08x",
                  what, (ptrdiff_t)bad - PRE, bad < words ? h[bad] : 0u);
    memcpy(dst, h + PRE, n * 4);
    free(h);
}

static sb_buf at_pre(cl_mem m) {
    sb_buf b = sb_skip(sb_view_all(m), PRE * 4);
    return b;
}

static void check_ints(const int *got, const int *want, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) ck_abort_msg("%s[%zu]: got %d want %d", what, i, got[i], want[i]);
}

static void check_close(const float *got, const float *want, size_t n, float rtol, float atol,
                        const char *what) {
    for (size_t i = 0; i < n; i++) {
        const float g = got[i], w = want[i];
        if (isnan(g) || isnan(w) || fabsf(g - w) > atol + rtol * fabsf(w))
            ck_abort_msg("%s[%zu]: got %.9g want %.9g", what, i, g, w);
    }
}

/* B lengths summing to T: the first n_fixed are given, the rest >= 1 and random. */
static int *make_lens(int B, int T, const int *fixed, int n_fixed, uint32_t seed) {
    int *len = malloc((size_t)B * sizeof *len);
    double *wt = malloc((size_t)B * sizeof *wt);
    ck_assert(len && wt);
    uint32_t s = seed | 1u;
    long long rest = T;
    for (int b = 0; b < B; b++) {
        len[b] = b < n_fixed ? fixed[b] : 1;
        rest -= len[b];
        wt[b] = b < n_fixed ? 0.0 : 0.05 + rng_unit(&s);
    }
    ck_assert_msg(rest >= 0, "lengths exceed T");
    double tot = 0;
    for (int b = n_fixed; b < B; b++) tot += wt[b];
    long long given = 0;
    int last = B - 1;
    for (int b = n_fixed; b < B; b++) {
        const int add = (int)((double)rest * wt[b] / tot);
        len[b] += add;
        given += add;
    }
    ck_assert(last >= n_fixed);
    len[last] += (int)(rest - given);
    free(wt);
    return len;
}

/* Router values for a packed batch: per-sequence modes; near ties (|u1-u0| <
 * 1e-3) become exact ties so the decision cannot depend on rounding. */
static float *make_u(int B, const int *start, const int *len, int ld, const int *modes, uint32_t seed) {
    const size_t T = (size_t)start[B - 1] + (size_t)len[B - 1];
    float *u = malloc(T * (size_t)ld * sizeof *u);
    ck_assert_ptr_nonnull(u);
    uint32_t s = seed | 1u;
    for (int b = 0; b < B; b++) {
        const int mode = modes ? modes[b] : MODE_RANDOM;
        const int one = (int)(rng_next(&s) % (uint32_t)len[b]);
        for (int i = 0; i < len[b]; i++) {
            float *r = u + ((size_t)start[b] + (size_t)i) * (size_t)ld;
            for (int c = 0; c < ld; c++) r[c] = -4.0f + 8.0f * rng_unit(&s);
            const float gap = 0.01f + 3.0f * rng_unit(&s);
            if (mode == MODE_NONE) r[1] = r[0] - gap;
            else if (mode == MODE_ALL) r[1] = r[0] + gap;
            else if (mode == MODE_ONE) r[1] = i == one ? r[0] + gap : r[0] - gap;
            else if (mode == MODE_TIES) r[1] = r[0];
            else if ((rng_next(&s) & 15u) == 0) r[1] = r[0]; /* some exact ties */
            if (fabsf(r[1] - r[0]) < 1e-3f) r[1] = r[0];
        }
    }
    return u;
}

/* Run the op and the reference on one batch and compare everything. */
static void run_gate(sb_rt *rt, int B, const int *len, int ld, float temp, const int *modes,
                     uint32_t seed, int max_wg) {
    int *start = malloc((size_t)B * sizeof *start);
    ck_assert_ptr_nonnull(start);
    int T = 0, max_len = 0;
    for (int b = 0; b < B; b++) {
        start[b] = T;
        T += len[b];
        if (len[b] > max_len) max_len = len[b];
    }
    float *u = make_u(B, start, len, ld, modes, seed);
    float *rw = malloc((size_t)T * sizeof *rw), *gw = malloc((size_t)T * sizeof *gw);
    int *rc = malloc((size_t)T * sizeof *rc), *gc = malloc((size_t)T * sizeof *gc);
    int *rtok = malloc((size_t)T * sizeof *rtok), *gtok = malloc((size_t)T * sizeof *gtok);
    int *rpos = malloc((size_t)T * sizeof *rpos), *gpos = malloc((size_t)T * sizeof *gpos);
    int *rcs = malloc((size_t)(B + 1) * sizeof *rcs), *gcs = malloc((size_t)(B + 1) * sizeof *gcs);
    int *hcs = malloc((size_t)(B + 1) * sizeof *hcs);
    ck_assert(rw && gw && rc && gc && rtok && gtok && rpos && gpos && rcs && gcs && hcs);
    const int M = sb_ref_gate_compact(B, start, len, u, ld, temp, rw, rc, rtok, rpos, rcs);

    /* u at an odd float offset; outputs between canaries */
    const size_t uoff = 3;
    float *up = calloc((size_t)T * (size_t)ld + uoff, sizeof *up);
    ck_assert_ptr_nonnull(up);
    memcpy(up + uoff, u, (size_t)T * (size_t)ld * sizeof *u);
    cl_mem d_u = tu_upload(rt, up, ((size_t)T * (size_t)ld + uoff) * sizeof *up);
    cl_mem d_start = tu_upload(rt, start, (size_t)B * sizeof *start);
    cl_mem d_len = tu_upload(rt, len, (size_t)B * sizeof *len);
    cl_mem d_w = canary_buf(rt, (size_t)T), d_c = canary_buf(rt, (size_t)T);
    cl_mem d_tok = canary_buf(rt, (size_t)T), d_pos = canary_buf(rt, (size_t)T);
    cl_mem d_cs = canary_buf(rt, (size_t)B + 1);
    const size_t sbytes = sb_op_compact_scratch_bytes_wg(rt, T, max_wg);
    ck_assert(sbytes > 0 && sbytes < 64u * 1024 * 1024);
    cl_mem d_s = tu_alloc(rt, sbytes + 64);

    sb_seqs seqs = {B, start, len, T, max_len, sb_view_all(d_start), sb_view_all(d_len)};
    const sb_buf bu = sb_skip(sb_view_all(d_u), uoff * sizeof(float)), bs = sb_skip(sb_view_all(d_s), 64);
    for (int b = 0; b <= B; b++) hcs[b] = -7;
    TU_OK(sb_op_gate_compact_wg(rt, &seqs, bu, ld, temp, at_pre(d_w), at_pre(d_c), at_pre(d_tok),
                                at_pre(d_pos), at_pre(d_cs), hcs, bs, max_wg, &tu_err));

    fetch_checked(rt, d_w, (size_t)T, (size_t)T, gw, "w");
    fetch_checked(rt, d_c, (size_t)T, (size_t)T, gc, "cidx");
    fetch_checked(rt, d_tok, (size_t)T, (size_t)M, gtok, "crow_tok");
    fetch_checked(rt, d_pos, (size_t)T, (size_t)M, gpos, "crow_pos");
    fetch_checked(rt, d_cs, (size_t)B + 1, (size_t)B + 1, gcs, "cstart");
    ck_assert_msg(hcs[B] == M, "M: got %d want %d (T=%d B=%d max_wg=%d)", hcs[B], M, T, B, max_wg);
    check_ints(hcs, rcs, (size_t)B + 1, "h_cstart");
    check_ints(gcs, rcs, (size_t)B + 1, "cstart");
    check_ints(gc, rc, (size_t)T, "cidx");
    check_ints(gtok, rtok, (size_t)M, "crow_tok");
    check_ints(gpos, rpos, (size_t)M, "crow_pos");
    check_close(gw, rw, (size_t)T, 0.0f, 1e-6f, "w");

    clReleaseMemObject(d_u);
    clReleaseMemObject(d_start);
    clReleaseMemObject(d_len);
    clReleaseMemObject(d_w);
    clReleaseMemObject(d_c);
    clReleaseMemObject(d_tok);
    clReleaseMemObject(d_pos);
    clReleaseMemObject(d_cs);
    clReleaseMemObject(d_s);
    free(up);
    free(u);
    free(rw);
    free(gw);
    free(rc);
    free(gc);
    free(rtok);
    free(gtok);
    free(rpos);
    free(gpos);
    free(rcs);
    free(gcs);
    free(hcs);
    free(start);
}

START_TEST(test_single_token) {
    sb_rt *rt = tu_rt();
    const int len1[1] = {1};
    const int modes[4] = {MODE_NONE, MODE_ALL, MODE_TIES, MODE_RANDOM};
    for (int m = 0; m < 4; m++) {
        run_gate(rt, 1, len1, 2, 0.0f, &modes[m], 11u + (uint32_t)m, 0);
        run_gate(rt, 1, len1, 5, -1.3f, &modes[m], 17u + (uint32_t)m, 2);
    }
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_ragged_small) {
    sb_rt *rt = tu_rt();
    const int len[9] = {1, 7, 33, 2, 100, 1, 64, 5, 1};
    const int modes[9] = {MODE_ALL, MODE_NONE, MODE_ONE, MODE_TIES, MODE_RANDOM,
                          MODE_NONE, MODE_ALL,  MODE_ONE, MODE_RANDOM};
    const int caps[4] = {0, 1, 2, 8};
    for (int c = 0; c < 4; c++) {
        run_gate(rt, 9, len, 5, 0.7f, modes, 101u + (uint32_t)c, caps[c]);
        run_gate(rt, 9, len, 3, -2.0f, NULL, 202u + (uint32_t)c, caps[c]);
    }
    /* all tokens of all sequences inactive, and all active */
    const int none[3] = {MODE_NONE, MODE_NONE, MODE_NONE}, all[3] = {MODE_ALL, MODE_ALL, MODE_ALL};
    const int len3[3] = {4, 1, 9};
    run_gate(rt, 3, len3, 2, 0.0f, none, 5u, 0);
    run_gate(rt, 3, len3, 2, 0.0f, all, 6u, 0);
    run_gate(rt, 3, len3, 2, 0.0f, all, 7u, 2);
    sb_rt_free(rt);
}
END_TEST

/* Totals around block boundaries for small forced work-groups (blk = 4*wg)
 * and for the device's own choice. */
START_TEST(test_block_edges) {
    sb_rt *rt = tu_rt();
    const int Ts[] = {15, 16, 17, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 4095, 4096, 4097};
    const int caps[] = {1, 4, 16, 0};
    const int fixed[4] = {1, 1, 1, 1};
    const int fmodes[4] = {MODE_ALL, MODE_NONE, MODE_ALL, MODE_TIES};
    int modes[8];
    for (int i = 0; i < 8; i++) modes[i] = i < 4 ? fmodes[i] : (i % 2 ? MODE_ALL : MODE_RANDOM);
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++)
        for (size_t i = 0; i < sizeof Ts / sizeof Ts[0]; i++) {
            const int B = Ts[i] >= 8 ? 8 : 1;
            int *len = make_lens(B, Ts[i], fixed, B > 4 ? 4 : 0, 31u + (uint32_t)i);
            run_gate(rt, B, len, 3, 0.25f, B == 8 ? modes : NULL, 41u + (uint32_t)(i * 7 + c),
                     caps[c]);
            free(len);
        }
    sb_rt_free(rt);
}
END_TEST

/* ~300k tokens: several scan levels with the device's work-group size, and
 * seven levels with work-groups of 2 (blocks of 8). */
START_TEST(test_large_multilevel) {
    sb_rt *rt = tu_rt();
    const int B = 37, T = 300007;
    const int fixed[5] = {1, 1000, 777, 5000, 1};
    int modes[37];
    const int fmodes[5] = {MODE_ALL, MODE_NONE, MODE_ONE, MODE_ALL, MODE_NONE};
    for (int b = 0; b < B; b++) modes[b] = b < 5 ? fmodes[b] : (b % 7 == 0 ? MODE_ONE : MODE_RANDOM);
    int *len = make_lens(B, T, fixed, 5, 99u);
    run_gate(rt, B, len, 4, 0.3f, modes, 1234u, 0);
    run_gate(rt, B, len, 3, -0.5f, modes, 4321u, 2);
    run_gate(rt, B, len, 2, 1.0f, NULL, 777u, 32);
    free(len);
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_million) {
    sb_rt *rt = tu_rt();
    const int len[3] = {524288, 1, 524287};
    const int modes[3] = {MODE_RANDOM, MODE_ALL, MODE_RANDOM};
    run_gate(rt, 3, len, 2, 0.1f, modes, 2024u, 0);
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_gate_errors) {
    sb_rt *rt = tu_rt();
    const int start[2] = {0, 5}, len[2] = {5, 3}, bad_start[2] = {0, 4};
    const int T = 8;
    cl_mem d_start = tu_upload(rt, start, sizeof start);
    cl_mem d_u = tu_alloc(rt, (size_t)T * 2 * sizeof(float));
    cl_mem d_o = tu_alloc(rt, (size_t)T * 4 * 4);
    cl_mem d_s = tu_alloc(rt, 4);
    int hcs[3];
    const sb_buf bu = sb_view_all(d_u), b0 = sb_view_all(d_o), b1 = sb_skip(sb_view_all(d_o), 32), b2 = sb_skip(sb_view_all(d_o), 64), b3 = sb_skip(sb_view_all(d_o), 96);
    const sb_buf bs = sb_view_all(d_s);
    sb_seqs seqs = {2, start, len, T, 5, sb_view_all(d_start), sb_view_none()};
    /* scratch of 4 bytes is too small (needs at least two levels) */
    sb_status s = sb_op_gate_compact(rt, &seqs, bu, 2, 0.0f, b0, b1, b2, b3, b0, hcs, bs, &tu_err);
    ck_assert_int_eq(s, SB_ERR_ARG);
    ck_assert_msg(strstr(tu_err.msg, "scratch") != NULL, "message: %s", tu_err.msg);
    seqs.start = bad_start;
    s = sb_op_gate_compact(rt, &seqs, bu, 2, 0.0f, b0, b1, b2, b3, b0, hcs, bs, &tu_err);
    ck_assert_int_eq(s, SB_ERR_ARG);
    seqs.start = start;
    s = sb_op_gate_compact(rt, &seqs, bu, 1, 0.0f, b0, b1, b2, b3, b0, hcs, bs, &tu_err);
    ck_assert_int_eq(s, SB_ERR_ARG);
    clReleaseMemObject(d_start);
    clReleaseMemObject(d_u);
    clReleaseMemObject(d_o);
    clReleaseMemObject(d_s);
    sb_rt_free(rt);
}
END_TEST

/* gather: rows out of a wider source into a strided destination; the gaps
 * between destination rows and the words after must stay untouched. */
static void run_gather(sb_rt *rt, int R, int src_ld, int M, int ncols, int dst_ld, uint32_t seed) {
    float *src = malloc((size_t)R * (size_t)src_ld * sizeof *src);
    int *rows = malloc(((size_t)M + 1) * sizeof *rows);
    const size_t dn = M > 0 ? (size_t)M * (size_t)dst_ld : 1;
    float *want = malloc(dn * sizeof *want), *got = malloc(dn * sizeof *got);
    ck_assert(src && rows && want && got);
    tu_fill(src, (size_t)R * (size_t)src_ld, seed, -2.0f, 2.0f);
    uint32_t s = seed | 1u;
    for (int i = 0; i < M; i++) rows[i] = (int)(rng_next(&s) % (uint32_t)R);
    const uint32_t canary = CANARY;
    for (size_t i = 0; i < dn; i++) memcpy(&want[i], &canary, 4);
    sb_ref_gather_rows(src, src_ld, rows, M, ncols, want, dst_ld);

    cl_mem d_src = tu_upload(rt, src, (size_t)R * (size_t)src_ld * sizeof *src);
    cl_mem d_rows = tu_upload(rt, rows, ((size_t)M + 1) * sizeof *rows);
    cl_mem d_dst = canary_buf(rt, dn);
    const sb_buf bsrc = sb_view_all(d_src), brows = sb_view_all(d_rows);
    TU_OK(sb_op_gather_rows(rt, bsrc, src_ld, brows, M, ncols, at_pre(d_dst), dst_ld, &tu_err));
    /* the whole region is compared: untouched words must still be the canary */
    fetch_checked(rt, d_dst, dn, dn, got, "gather dst");
    ck_assert_msg(memcmp(got, want, dn * sizeof *got) == 0, "gather M=%d ncols=%d: mismatch", M, ncols);
    clReleaseMemObject(d_src);
    clReleaseMemObject(d_rows);
    clReleaseMemObject(d_dst);
    free(src);
    free(rows);
    free(want);
    free(got);
}

/* gather with the row count on the device: launched for M_cap rows whose
 * entries past the count are out of range (never read: Oclgrind would report
 * it), the rows below it as a plain gather, the rest untouched. */
static void run_gather_dev(sb_rt *rt, int R, int M_cap, int mc, int ncols, uint32_t seed) {
    float *src = malloc((size_t)R * (size_t)ncols * sizeof *src);
    int *rows = malloc((size_t)M_cap * sizeof *rows);
    const size_t dn = (size_t)M_cap * (size_t)ncols;
    float *want = malloc(dn * sizeof *want), *got = malloc(dn * sizeof *got);
    ck_assert(src && rows && want && got);
    tu_fill(src, (size_t)R * (size_t)ncols, seed, -2.0f, 2.0f);
    uint32_t s = seed | 1u;
    for (int i = 0; i < M_cap; i++) rows[i] = i < mc ? (int)(rng_next(&s) % (uint32_t)R) : R + 1000 * i;
    const uint32_t canary = CANARY;
    for (size_t i = 0; i < dn; i++) memcpy(&want[i], &canary, 4);
    sb_ref_gather_rows(src, ncols, rows, mc < M_cap ? mc : M_cap, ncols, want, ncols);
    cl_mem d_src = tu_upload(rt, src, (size_t)R * (size_t)ncols * sizeof *src);
    cl_mem d_rows = tu_upload(rt, rows, (size_t)M_cap * sizeof *rows);
    const cl_int cnt[2] = {-5, mc};
    cl_mem d_cnt = tu_upload(rt, cnt, sizeof cnt);
    cl_mem d_dst = canary_buf(rt, dn);
    TU_OK(sb_op_gather_rows_dev(rt, sb_view_all(d_src), ncols, sb_view_all(d_rows), M_cap,
                                sb_view(d_cnt, 4, 4), ncols, at_pre(d_dst), ncols, &tu_err));
    fetch_checked(rt, d_dst, dn, dn, got, "gather dst (device count)");
    ck_assert_msg(memcmp(got, want, dn * sizeof *got) == 0, "gather M_cap=%d count=%d: mismatch", M_cap, mc);
    clReleaseMemObject(d_src);
    clReleaseMemObject(d_rows);
    clReleaseMemObject(d_cnt);
    clReleaseMemObject(d_dst);
    free(src), free(rows), free(want), free(got);
}

START_TEST(test_gather_dev_count) {
    sb_rt *rt = tu_rt();
    run_gather_dev(rt, 9, 20, 7, 5, 3);
    run_gather_dev(rt, 9, 20, 0, 5, 4);
    run_gather_dev(rt, 9, 20, 20, 3, 5);
    run_gather_dev(rt, 9, 20, 31, 3, 6); /* a count past the launch: M_cap rows */
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_gather) {
    sb_rt *rt = tu_rt();
    run_gather(rt, 10, 7, 0, 5, 5, 1u);   /* M = 0: no-op */
    run_gather(rt, 1, 1, 1, 1, 1, 2u);
    run_gather(rt, 50, 7, 37, 5, 9, 3u);
    run_gather(rt, 300, 40, 123, 33, 33, 4u);
    run_gather(rt, 64, 130, 200, 130, 131, 5u);
    run_gather(rt, 999, 258, 513, 257, 260, 6u);
    sb_rt_free(rt);
}
END_TEST

/* combine with hx a column slice (offset of column 2 of rows of hx_ld floats),
 * cidx a mix of -1 and compressed rows; separate out and in place on res. */
static void run_combine_1(sb_rt *rt, int T, int D, int inplace, uint32_t seed);
/* Both kernels: the row kernel (combine_vec, CPU class) and the 2-D one,
 * whatever the device (rt->tune.rows). */
static void run_combine(sb_rt *rt, int T, int D, int inplace, uint32_t seed) {
    const int keep = rt->tune.rows;
    rt->tune.rows = SB_TUNE_VEC;
    run_combine_1(rt, T, D, inplace, seed);
    rt->tune.rows = SB_TUNE_WG;
    run_combine_1(rt, T, D, inplace, seed);
    rt->tune.rows = keep;
}

static void run_combine_1(sb_rt *rt, int T, int D, int inplace, uint32_t seed) {
    const int hx_ld = D + 2, M = T / 2 + 1;
    float *hx = malloc((size_t)T * (size_t)hx_ld * sizeof *hx);
    float *g = malloc((size_t)M * (size_t)D * sizeof *g);
    float *w = malloc((size_t)T * sizeof *w);
    float *res = malloc((size_t)T * (size_t)D * sizeof *res);
    float *want = malloc((size_t)T * (size_t)D * sizeof *want);
    float *got = malloc((size_t)T * (size_t)D * sizeof *got);
    int *cidx = malloc((size_t)T * sizeof *cidx);
    ck_assert(hx && g && w && res && want && got && cidx);
    tu_fill(hx, (size_t)T * (size_t)hx_ld, seed, -3.0f, 3.0f);
    tu_fill(g, (size_t)M * (size_t)D, seed + 1, -3.0f, 3.0f);
    tu_fill(w, (size_t)T, seed + 2, 0.5f, 1.0f);
    tu_fill(res, (size_t)T * (size_t)D, seed + 3, -3.0f, 3.0f);
    uint32_t s = seed | 1u;
    for (int t = 0, m = 0; t < T; t++) cidx[t] = (m < M && (rng_next(&s) & 1u)) ? m++ : -1;
    sb_ref_combine(T, D, hx + 2, hx_ld, g, w, cidx, res, want);

    cl_mem d_hx = tu_upload(rt, hx, (size_t)T * (size_t)hx_ld * sizeof *hx);
    cl_mem d_g = tu_upload(rt, g, (size_t)M * (size_t)D * sizeof *g);
    cl_mem d_w = tu_upload(rt, w, (size_t)T * sizeof *w);
    cl_mem d_c = tu_upload(rt, cidx, (size_t)T * sizeof *cidx);
    cl_mem d_res = canary_buf(rt, (size_t)T * (size_t)D);
    TU_OK(sb_rt_write(rt, d_res, PRE * 4, (size_t)T * (size_t)D * sizeof *res, res, &tu_err));
    cl_mem d_out = inplace ? d_res : canary_buf(rt, (size_t)T * (size_t)D);
    const sb_buf bhx = sb_skip(sb_view_all(d_hx), 2 * sizeof(float)), bg = sb_view_all(d_g), bw = sb_view_all(d_w), bc = sb_view_all(d_c);
    TU_OK(sb_op_combine(rt, T, D, bhx, hx_ld, bg, bw, bc, at_pre(d_res), at_pre(d_out), &tu_err));
    fetch_checked(rt, d_out, (size_t)T * (size_t)D, (size_t)T * (size_t)D, got, "combine out");
    check_close(got, want, (size_t)T * (size_t)D, 1e-5f, 1e-5f, "combine");
    if (!inplace) {
        fetch_checked(rt, d_res, (size_t)T * (size_t)D, (size_t)T * (size_t)D, got, "combine res");
        ck_assert_msg(memcmp(got, res, (size_t)T * (size_t)D * sizeof *got) == 0, "res was modified");
        clReleaseMemObject(d_out);
    }
    clReleaseMemObject(d_hx);
    clReleaseMemObject(d_g);
    clReleaseMemObject(d_w);
    clReleaseMemObject(d_c);
    clReleaseMemObject(d_res);
    free(hx);
    free(g);
    free(w);
    free(res);
    free(want);
    free(got);
    free(cidx);
}

START_TEST(test_combine) {
    sb_rt *rt = tu_rt();
    for (int inplace = 0; inplace < 2; inplace++) {
        run_combine(rt, 1, 1, inplace, 10u);
        run_combine(rt, 37, 33, inplace, 20u);
        run_combine(rt, 300, 130, inplace, 30u);
        run_combine(rt, 1000, 7, inplace, 40u);
    }
    sb_rt_free(rt);
}
END_TEST

/* The pieces chained as in a layer: gate -> gather mx rows -> (identity GAU)
 * -> combine; checks the scatter through cidx end to end. */
START_TEST(test_chain) {
    sb_rt *rt = tu_rt();
    const int len[4] = {1, 50, 3, 200};
    const int B = 4, T = 254, D = 6, ld = 2 + D;
    int start[4], cs[5], rcs[5];
    for (int b = 0, acc = 0; b < B; b++) start[b] = acc, acc += len[b];
    float *u = make_u(B, start, len, ld, NULL, 55u);
    float *rw = malloc((size_t)T * 4), *rg = malloc((size_t)T * (size_t)D * 4);
    float *want = malloc((size_t)T * (size_t)D * 4), *got = malloc((size_t)T * (size_t)D * 4);
    float *res = malloc((size_t)T * (size_t)D * 4);
    int *rc = malloc((size_t)T * 4), *rtok = malloc((size_t)T * 4), *rpos = malloc((size_t)T * 4);
    ck_assert(rw && rg && want && got && res && rc && rtok && rpos);
    tu_fill(res, (size_t)T * (size_t)D, 56u, -1.0f, 1.0f);
    const int M = sb_ref_gate_compact(B, start, len, u, ld, 0.2f, rw, rc, rtok, rpos, rcs);
    sb_ref_gather_rows(u + 2, ld, rtok, M, D, rg, D);
    sb_ref_combine(T, D, u + 2, ld, rg, rw, rc, res, want);

    cl_mem d_u = tu_upload(rt, u, (size_t)T * (size_t)ld * 4), d_st = tu_upload(rt, start, sizeof start);
    cl_mem d_w = tu_alloc(rt, (size_t)T * 4), d_c = tu_alloc(rt, (size_t)T * 4);
    cl_mem d_tok = tu_alloc(rt, (size_t)T * 4), d_pos = tu_alloc(rt, (size_t)T * 4);
    cl_mem d_cs = tu_alloc(rt, sizeof cs), d_g = tu_alloc(rt, (size_t)T * (size_t)D * 4);
    cl_mem d_res = tu_upload(rt, res, (size_t)T * (size_t)D * 4);
    cl_mem d_s = tu_alloc(rt, sb_op_compact_scratch_bytes(rt, T));
    sb_seqs seqs = {B, start, len, T, 200, sb_view_all(d_st), sb_view_none()};
    const sb_buf bu = sb_view_all(d_u), bhx = sb_skip(sb_view_all(d_u), 8), bw = sb_view_all(d_w), bc = sb_view_all(d_c), bt = sb_view_all(d_tok);
    const sb_buf bp = sb_view_all(d_pos), bcs = sb_view_all(d_cs), bg = sb_view_all(d_g), br = sb_view_all(d_res), bs = sb_view_all(d_s);
    TU_OK(sb_op_gate_compact(rt, &seqs, bu, ld, 0.2f, bw, bc, bt, bp, bcs, cs, bs, &tu_err));
    check_ints(cs, rcs, 5, "cstart");
    TU_OK(sb_op_gather_rows(rt, bhx, ld, bt, cs[B], D, bg, D, &tu_err));
    TU_OK(sb_op_combine(rt, T, D, bhx, ld, bg, bw, bc, br, br, &tu_err));
    tu_download(rt, d_res, got, (size_t)T * (size_t)D * 4);
    check_close(got, want, (size_t)T * (size_t)D, 1e-5f, 1e-5f, "chain");
    cl_mem all[] = {d_u, d_st, d_w, d_c, d_tok, d_pos, d_cs, d_g, d_res, d_s};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clReleaseMemObject(all[i]);
    free(u);
    free(rw);
    free(rg);
    free(want);
    free(got);
    free(res);
    free(rc);
    free(rtok);
    free(rpos);
    sb_rt_free(rt);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gate");
    TCase *tc = tcase_create("gate");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_single_token);
    tcase_add_test(tc, test_ragged_small);
    tcase_add_test(tc, test_block_edges);
    tcase_add_test(tc, test_gate_errors);
    tcase_add_test(tc, test_gather);
    tcase_add_test(tc, test_gather_dev_count);
    tcase_add_test(tc, test_combine);
    tcase_add_test(tc, test_chain);
    suite_add_tcase(s, tc);
    /* tag "large": sizes the Oclgrind CI step leaves out (scripts/ci_oclgrind.sh) */
    TCase *tl = tcase_create("large");
    tcase_set_tags(tl, "large");
    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, test_large_multilevel);
    tcase_add_test(tl, test_million);
    suite_add_tcase(s, tl);
    return tu_run(s);
}
