/* ema.c - host side of the EMA chunked scan (cl/ema_scan.cl). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ema.h"

static float sigmoidf_(float v) { return 1.0f / (1.0f + expf(-v)); }

void sb_ema_coef_host(const float *delta, const float *alpha, const float *beta,
                      const float *gamma, int K, int N, float *coef) {
    const size_t kn = (size_t)K * (size_t)N;
    const float scale = (float)sqrt(1.0 / (double)N);
    for (size_t i = 0; i < kn; i++) {
        const float p = sigmoidf_(delta[i]);
        coef[i] = 1.0f - p * sigmoidf_(alpha[i]);
        coef[kn + i] = p * beta[i];
        coef[2 * kn + i] = gamma[i] * scale;
    }
}

/* Scratch layout in floats: states [max_chunks][N][K], then the int tables
 * (chunk table [max_chunks][4], sequence table [n_seq][4]). */
typedef struct ema_layout {
    size_t max_chunks;
    size_t st_floats;   /* states */
    size_t tab_ints;    /* both tables */
    size_t bytes;
} ema_layout;

static int ema_layout_of(const sb_ema_coef *p, int n_seq, int total_rows, ema_layout *l) {
    if (!p || p->D <= 0 || p->N <= 0 || n_seq <= 0 || total_rows <= 0) return 0;
    const size_t K = (size_t)p->D * (p->bidir ? 2u : 1u);
    /* sum_b ceil(len_b / C) <= total / C + n_seq */
    l->max_chunks = (size_t)total_rows / SB_EMA_CHUNK + (size_t)n_seq;
    l->st_floats = sb_mul_size(sb_mul_size(l->max_chunks, K), (size_t)p->N);
    l->tab_ints = sb_mul_size(l->max_chunks + (size_t)n_seq, 4);
    if (!l->st_floats || !l->tab_ints) return 0;
    const size_t n = l->st_floats + l->tab_ints;
    if (n < l->st_floats) return 0;
    l->bytes = sb_mul_size(n, sizeof(float));
    return l->bytes != 0;
}

size_t sb_op_ema_scratch_bytes(const sb_ema_coef *p, int n_seq, int total_rows) {
    ema_layout l;
    return ema_layout_of(p, n_seq, total_rows, &l) ? l.bytes : 0;
}

/* Work-group size along dimension 0 for n items: a power of two <= 64, not
 * much larger than n, within kernel i's and the device's limits. */
static size_t ema_wg0(sb_rt *rt, const sb_kset *ks, int i, size_t n) {
    size_t want = 1;
    while (want < n && want < 64) want *= 2;
    return sb_ops_wg(rt, ks, i, want);
}

/* The one-pass CPU kernel (ema_seq) or the three-pass scan. SEQBOAT_EMA=scan
 * forces the scan, SEQBOAT_EMA=seq[:VW] the one pass (tests, tuning). By
 * default CPU devices take ema_seq when one sequence's channel groups give
 * every compute unit at least EMA_SEQ_ITEMS_PER_CU items: it does about half
 * the scan's work in one pass over x, but its parallelism is D / VW items per
 * sequence rather than D per chunk. The choice depends on D and the device
 * only, never on the batch, so a sequence gives the same bits in any batch
 * (a batch split over devices included). *vw: channels per vector, the
 * device's native float width (at most 16), halved until it divides D. */
#define EMA_SEQ_ITEMS_PER_CU 4
static int ema_use_seq(const sb_rt *rt, const sb_ema_coef *p, int *vw) {
    const sb_tuning *t = &rt->tune;
    unsigned w = rt->dev.native_vec_float;
    if (t->ema == SB_TUNE_SEQ && t->ema_vw > 0) w = (unsigned)t->ema_vw;
    w = w >= 16 ? 16 : w >= 8 ? 8 : w >= 4 ? 4 : w >= 2 ? 2 : 1;
    while (w > 1 && p->D % (int)w) w /= 2;
    *vw = (int)w;
    if (t->ema == SB_TUNE_SCAN) return 0;
    if (t->ema == SB_TUNE_SEQ) return 1;
    const size_t items = (size_t)(p->D / (int)w);
    const size_t cu = rt->dev.compute_units ? rt->dev.compute_units : 1;
    return (rt->dev.type & CL_DEVICE_TYPE_CPU) != 0 && items >= EMA_SEQ_ITEMS_PER_CU * cu;
}

/* The program variant (N, bidirectional, truncated, ema_seq's vector width)
 * and its kernels: the scan's three, then ema_seq. */
enum { K_LOCAL, K_CARRY, K_OUT, K_SEQ, K_COUNT };
static sb_status kernels(sb_rt *rt, int N, int bidir, int trunc, int vw, sb_kset **out, sb_err *e) {
    static const char *const names[K_COUNT] = {"ema_local", "ema_carry", "ema_out", "ema_seq"};
    const int key[SB_KSET_KEY] = {N, bidir ? 1 : 0, trunc ? 1 : 0, vw};
    *out = sb_rt_kset_find(rt, SB_KSET_EMA, key);
    if (*out) return SB_OK;
    char defs[200];
    snprintf(defs, sizeof defs,
             "#define NS %d\n#define CHUNK %d\n#define BIDIR %d\n#define TRUNC %d\n#define VW %d\n", N,
             SB_EMA_CHUNK, key[1], key[2], vw);
    return sb_rt_kset_make(rt, SB_KSET_EMA, key, "ema_scan", NULL, defs, names, K_COUNT, NULL, out, e);
}

sb_status sb_ema_kernels(sb_rt *rt, const sb_ema_coef *p, sb_err *e) {
    sb_kset *ks;
    int vw = 1;
    ema_use_seq(rt, p, &vw);
    sb_status st = kernels(rt, p->N, p->bidir, 0, vw, &ks, e);
    /* a truncation shorter than a sequence selects the truncated variant */
    if (st == SB_OK && p->truncation > 0) st = kernels(rt, p->N, p->bidir, 1, vw, &ks, e);
    return st;
}

static sb_status ema_check(const sb_seqs *seqs, const sb_ema_coef *p, sb_buf x, sb_buf mx,
                           sb_buf state_out, sb_err *e) {
    if (!seqs || !p) return sb_fail(e, SB_ERR_ARG, "ema: NULL seqs or coefficients");
    if (p->D <= 0 || p->N <= 0 || p->N > 256)
        return sb_fail(e, SB_ERR_ARG, "ema: bad sizes D=%d N=%d (need D >= 1, 1 <= N <= 256)",
                       p->D, p->N);
    if (p->truncation < 0) return sb_fail(e, SB_ERR_ARG, "ema: truncation %d < 0", p->truncation);
    if (p->bidir && state_out.mem)
        return sb_fail(e, SB_ERR_ARG,
                       "ema: state_out is only defined for causal models (this layer is bidirectional)");
    if (seqs->n <= 0 || !seqs->start || !seqs->len)
        return sb_fail(e, SB_ERR_ARG, "ema: empty or NULL sequence table (n=%d)", seqs->n);
    long long sum = 0;
    for (int b = 0; b < seqs->n; b++) {
        if (seqs->len[b] < 1 || seqs->start[b] < 0 ||
            (long long)seqs->start[b] + seqs->len[b] > seqs->total)
            return sb_fail(e, SB_ERR_ARG, "ema: sequence %d (start %d, len %d) outside the %d packed rows",
                           b, seqs->start[b], seqs->len[b], seqs->total);
        sum += seqs->len[b];
    }
    if (sum > seqs->total)
        return sb_fail(e, SB_ERR_ARG, "ema: lengths sum to %lld > total %d", sum, seqs->total);
    const size_t bytes = sb_f32((size_t)seqs->total * (size_t)p->D);
    const size_t K = (size_t)p->D * (p->bidir ? 2u : 1u);
    cl_ulong o;
    sb_status st;
    if ((st = sb_ops_check_buf("ema", "x", x, bytes, &o, e)) != SB_OK ||
        (st = sb_ops_check_buf("ema", "mx", mx, bytes, &o, e)) != SB_OK ||
        (st = sb_ops_check_buf("ema", "coef", p->coef, sb_f32(3 * K * (size_t)p->N), &o, e)) != SB_OK ||
        (st = sb_ops_check_buf("ema", "omega", p->omega, sb_f32((size_t)p->D), &o, e)) != SB_OK)
        return st;
    if (state_out.mem &&
        (st = sb_ops_check_buf("ema", "state_out", state_out,
                               sb_f32((size_t)seqs->n * (size_t)p->D * (size_t)p->N), &o, e)) != SB_OK)
        return st;
    if (x.mem == mx.mem) {
        if (x.off < mx.off + bytes && mx.off < x.off + bytes)
            return sb_fail(e, SB_ERR_ARG, "ema: mx overlaps x (the op reads x at other rows)");
    }
    return SB_OK;
}

/* Arguments 0-7 of ema_seq and ema_out: x, mx, coef and omega, each as
 * (buffer, offset in floats). */
static sb_status ema_io_args(cl_kernel k, const sb_ema_coef *p, sb_buf x, sb_buf mx, sb_err *e) {
    sb_status st = SB_OK;
    const sb_buf v[4] = {x, mx, p->coef, p->omega};
    for (cl_uint i = 0; i < 4; i++) {
        const cl_ulong off = v[i].off / sizeof(float);
        SB_ARG(k, 2 * i, v[i].mem);
        SB_ARG(k, 2 * i + 1, off);
    }
done:
    return st;
}

/* An optional state buffer as three arguments from index i: the buffer (or
 * `fallback` when absent, so the argument is always valid), its offset in
 * floats, and whether it is there. */
static sb_status opt_state_args(cl_kernel k, cl_uint i, sb_buf opt, cl_mem fallback, sb_err *e) {
    sb_status st = SB_OK;
    const cl_mem mem = opt.mem ? opt.mem : fallback;
    const cl_ulong off = opt.off / sizeof(float);
    const int have = opt.mem != NULL;
    SB_ARG(k, i, mem);
    SB_ARG(k, i + 1, off);
    SB_ARG(k, i + 2, have);
done:
    return st;
}

/* The one-pass CPU kernel: a table of int4 {first row, len, 0, 0} per
 * sequence where the scan keeps its chunk table, then one launch. */
static sb_status ema_seq_launch(sb_rt *rt, const sb_seqs *seqs, const sb_ema_coef *p, int vw,
                                sb_buf x, sb_buf mx, sb_buf scratch, size_t tab_at, sb_buf state_in,
                                sb_buf state_out, sb_err *e) {
    sb_status st = SB_OK;
    const int B = seqs->n, D = p->D, K = p->bidir ? 2 * D : D;
    int max_len = 0;
    int *tab = malloc((size_t)B * 4 * sizeof(int));
    if (!tab) SB_FAIL(SB_ERR_HOST_MEMORY, "ema: out of host memory for the sequence table");
    for (int b = 0; b < B; b++) {
        tab[4 * b] = seqs->start[b];
        tab[4 * b + 1] = seqs->len[b];
        tab[4 * b + 2] = tab[4 * b + 3] = 0;
        max_len = seqs->len[b] > max_len ? seqs->len[b] : max_len;
    }
    const size_t tab_bytes = scratch.off + tab_at * sizeof(float);
    SB_TRY(sb_rt_write(rt, scratch.mem, tab_bytes, (size_t)B * 4 * sizeof(int), tab, e));
    const int trunc = p->truncation > 0 && p->truncation < max_len ? p->truncation : 0;
    sb_kset *ks;
    SB_TRY(kernels(rt, p->N, p->bidir, trunc > 0, vw, &ks, e));
    cl_kernel k = ks->k[K_SEQ];
    {
        const cl_ulong seq_off = tab_bytes / sizeof(float);
        SB_TRY(ema_io_args(k, p, x, mx, e));
        SB_ARG(k, 8, scratch.mem);
        SB_ARG(k, 9, seq_off);
        SB_TRY(opt_state_args(k, 10, state_out, scratch.mem, e));
        SB_TRY(opt_state_args(k, 13, state_in, scratch.mem, e));
        SB_ARG(k, 16, D);
        SB_ARG(k, 17, K);
        SB_ARG(k, 18, trunc);
        /* One item per work-group: each is a long serial scan, and PoCL runs
         * a work-group's items one after another anyway. */
        size_t lws[2] = {1, 1};
        size_t gws[2] = {(size_t)(D / vw), (size_t)B};
        SB_TRY(sb_rt_launch(rt, k, 2, gws, lws, "ema_seq", e));
    }
done:
    free(tab);
    return st;
}

sb_status sb_op_ema(sb_rt *rt, const sb_seqs *seqs, const sb_ema_coef *p, sb_buf x, sb_buf mx,
                    sb_buf scratch, sb_buf state_out, sb_err *e) {
    return sb_op_ema_ex(rt, seqs, p, x, mx, scratch, sb_view_none(), state_out, e);
}

sb_status sb_op_ema_ex(sb_rt *rt, const sb_seqs *seqs, const sb_ema_coef *p, sb_buf x, sb_buf mx,
                       sb_buf scratch, sb_buf state_in, sb_buf state_out, sb_err *e) {
    sb_status st = SB_OK;
    int *tab = NULL;
    ema_layout l;
    SB_TRY(ema_check(seqs, p, x, mx, state_out, e));
    if (state_in.mem && (p->bidir || p->truncation > 0))
        SB_FAIL(SB_ERR_ARG, "ema: state_in needs a causal layer without truncation");
    if (state_in.mem) {
        cl_ulong o;
        SB_TRY(sb_ops_check_buf("ema", "state_in", state_in,
                                sb_f32((size_t)seqs->n * (size_t)p->D * (size_t)p->N), &o, e));
    }
    if (!ema_layout_of(p, seqs->n, seqs->total, &l))
        SB_FAIL(SB_ERR_ARG, "ema: scratch size overflows (D=%d N=%d rows=%d)", p->D, p->N, seqs->total);
    {
        cl_ulong o;
        SB_TRY(sb_ops_check_buf("ema", "scratch", scratch, l.bytes, &o, e));
    }
    {   /* state_in may be state_out (the carried state, read then written) */
        const char *n[] = {"x", "state_in", "mx", "scratch", "state_out"};
        const sb_buf b[] = {x, state_in, mx, scratch, state_out};
        for (int i = 0; i < 5; i++)
            for (int j = i + 1; j < 5; j++)
                if (!(i == 1 && j == 4)) SB_TRY(sb_ops_apart("ema", n[i], b[i], n[j], b[j], e));
    }

    const int B = seqs->n, C = SB_EMA_CHUNK;
    int vw = 1;
    if (ema_use_seq(rt, p, &vw)) {
        st = ema_seq_launch(rt, seqs, p, vw, x, mx, scratch, l.st_floats, state_in, state_out, e);
        goto done;
    }

    /* chunk and sequence tables */
    size_t n_chunks = 0;
    for (int b = 0; b < B; b++) n_chunks += (size_t)((seqs->len[b] + C - 1) / C);
    tab = malloc((n_chunks + (size_t)B) * 4 * sizeof(int));
    if (!tab) SB_FAIL(SB_ERR_HOST_MEMORY, "ema: out of host memory for the chunk table");
    {
        size_t j = 0;
        int *sq = tab + n_chunks * 4;
        for (int b = 0; b < B; b++) {
            const int len = seqs->len[b], nc = (len + C - 1) / C;
            sq[4 * b] = (int)j;
            sq[4 * b + 1] = nc;
            sq[4 * b + 2] = len;
            sq[4 * b + 3] = 0;
            for (int k = 0; k < nc; k++, j++) {
                tab[4 * j] = seqs->start[b] + k * C;
                tab[4 * j + 1] = k * C;
                tab[4 * j + 2] = len - k * C < C ? len - k * C : C;
                tab[4 * j + 3] = len;
            }
        }
    }
    const size_t scr0 = scratch.off / sizeof(float);
    const cl_ulong st_off = scr0, tab_off = scr0 + l.st_floats,
                   seq_off = tab_off + (cl_ulong)n_chunks * 4;
    SB_TRY(sb_rt_write(rt, scratch.mem, scratch.off + l.st_floats * sizeof(float),
                       (n_chunks + (size_t)B) * 4 * sizeof(int), tab, e));

    const int D = p->D, K = p->bidir ? 2 * D : D;
    /* A truncation at least as long as every sequence changes nothing. */
    int max_len = 0;
    for (int b = 0; b < B; b++) max_len = seqs->len[b] > max_len ? seqs->len[b] : max_len;
    const int trunc = p->truncation > 0 && p->truncation < max_len ? p->truncation : 0;
    const cl_ulong x_off = x.off / sizeof(float), c_off = p->coef.off / sizeof(float);
    sb_kset *ks;
    SB_TRY(kernels(rt, p->N, p->bidir, trunc > 0, vw, &ks, e));
    cl_kernel k1 = ks->k[K_LOCAL], k2 = ks->k[K_CARRY], k3 = ks->k[K_OUT];

    /* pass 1: local chunk states */
    SB_ARG(k1, 0, x.mem);
    SB_ARG(k1, 1, x_off);
    SB_ARG(k1, 2, p->coef.mem);
    SB_ARG(k1, 3, c_off);
    SB_ARG(k1, 4, scratch.mem);
    SB_ARG(k1, 5, st_off);
    SB_ARG(k1, 6, tab_off);
    SB_ARG(k1, 7, D);
    SB_ARG(k1, 8, K);
    SB_ARG(k1, 9, trunc);
    {
        size_t lws[2] = {ema_wg0(rt, ks, K_LOCAL, (size_t)K), 1};
        size_t gws[2] = {sb_round_up((size_t)K, lws[0]), n_chunks};
        SB_TRY(sb_rt_launch(rt, k1, 2, gws, lws, "ema_local", e));
    }

    /* pass 2: carries across chunks (+ final states) */
    {
        SB_ARG(k2, 0, p->coef.mem);
        SB_ARG(k2, 1, c_off);
        SB_ARG(k2, 2, scratch.mem);
        SB_ARG(k2, 3, st_off);
        SB_ARG(k2, 4, seq_off);
        SB_TRY(opt_state_args(k2, 5, state_out, scratch.mem, e));
        SB_ARG(k2, 8, D);
        SB_ARG(k2, 9, K);
        SB_TRY(opt_state_args(k2, 10, state_in, scratch.mem, e));
        const size_t items = (size_t)K * (size_t)p->N;
        size_t lws[2] = {ema_wg0(rt, ks, K_CARRY, items), 1};
        size_t gws[2] = {sb_round_up(items, lws[0]), (size_t)B};
        SB_TRY(sb_rt_launch(rt, k2, 2, gws, lws, "ema_carry", e));
    }

    /* pass 3: re-scan from carries, omega + SiLU */
    SB_TRY(ema_io_args(k3, p, x, mx, e));
    SB_ARG(k3, 8, scratch.mem);
    SB_ARG(k3, 9, st_off);
    SB_ARG(k3, 10, tab_off);
    SB_ARG(k3, 11, D);
    SB_ARG(k3, 12, K);
    SB_ARG(k3, 13, trunc);
    {
        size_t lws[2] = {ema_wg0(rt, ks, K_OUT, (size_t)D), 1};
        size_t gws[2] = {sb_round_up((size_t)D, lws[0]), n_chunks};
        SB_TRY(sb_rt_launch(rt, k3, 2, gws, lws, "ema_out", e));
    }
done:
    free(tab);
    return st;
}
