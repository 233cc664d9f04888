/* gate.c - host launchers for cl/gate_compact.cl: router gate + compaction
 * (a multi-level parallel exclusive scan), row gather and the final combine. */
#include <math.h>
#include <stdio.h>
#include "gate.h"

#define GATE_STEM "gate_compact"
#define GATE_ITEMS 4          /* elements per work-item in a scan block (SCAN_ITEMS) */
#define GATE_STR_(x) #x
#define GATE_STR(x) GATE_STR_(x)
#define GATE_DEFINES "#define SCAN_ITEMS " GATE_STR(GATE_ITEMS) "\n"
#define GATE_WANT_WG 256      /* preferred work-group size (capped by device and kernel) */
#define GATE_ROWS_WG 8        /* rows per work-group of combine_vec */
#define GATE_MAX_LEVELS 40    /* block-sum levels; blk >= 4 and T < 2^30 need at most 16 */
#define GATE_MAX_T (1 << 30)  /* code[t] keeps (prefix << 1) | flag in an int */

/* Scan layout for T tokens: blocks of blk = wg * GATE_ITEMS tokens. Level k
 * (0-based) holds len[k] block sums at int offset off[k] of the scratch:
 * len[0] = ceil(T / blk), len[k+1] = ceil(len[k] / blk); the last level has
 * one value (the total M) and is at least level 1, so level 0 is always scanned. */
typedef struct gate_plan {
    size_t wg, blk;
    int nlev;
    size_t len[GATE_MAX_LEVELS], off[GATE_MAX_LEVELS];
    size_t ints;              /* scratch ints in all */
} gate_plan;



static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

static void plan_levels(size_t T, size_t wg, gate_plan *p) {
    p->wg = wg;
    p->blk = wg * GATE_ITEMS;
    p->nlev = 0;
    p->ints = 0;
    size_t n = (T + p->blk - 1) / p->blk;
    if (n < 1) n = 1;
    for (;;) {
        p->len[p->nlev] = n;
        p->off[p->nlev] = p->ints;
        p->ints += n;
        p->nlev++;
        if (p->nlev >= 2 && n == 1) break;
        n = (n + p->blk - 1) / p->blk;
    }
}

/* Local bytes of one scan work-group of size wg: the padded block + the tree. */
static size_t scan_local_bytes(size_t wg) {
    const size_t blk = wg * GATE_ITEMS;
    return (blk + blk / 32 + 1 + wg) * sizeof(cl_int);
}

/* The program's kernels, in this order (one set per rt). */
enum { K_GATE_SCAN, K_SCAN_BLOCKS, K_SCAN_ADD, K_SEQ_STARTS, K_COMPACT, K_GATHER, K_COMBINE,
       K_COMBINE_INPLACE, K_COMBINE_VEC, K_COUNT };
static const char *const k_names[K_COUNT] = {"gate_scan", "scan_blocks", "scan_add", "seq_starts",
                                             "compact", "gather_rows", "combine", "combine_inplace",
                                             "combine_vec"};

/* One set per rt, keyed by combine_vec's vector width (sb_ops_row_vec). */
static sb_status kernels(sb_rt *rt, sb_kset **out, sb_err *e) {
    int key[SB_KSET_KEY] = {0};
    sb_ops_row_vec(rt, &key[0]);
    *out = sb_rt_kset_find(rt, SB_KSET_GATE, key);
    if (*out) return SB_OK;
    char defs[64];
    snprintf(defs, sizeof defs, GATE_DEFINES "#define VW %d\n", key[0]);
    return sb_rt_kset_make(rt, SB_KSET_GATE, key, GATE_STEM, NULL, defs, k_names, K_COUNT, NULL,
                           out, e);
}

sb_status sb_gate_kernels(sb_rt *rt, sb_err *e) {
    sb_kset *ks;
    return kernels(rt, &ks, e);
}

/* The scan work-group size from the device and kernel limits (power of two). */
static sb_status plan_wg(sb_rt *rt, int max_wg, size_t *wg_out, sb_err *e) {
    sb_status st = SB_OK;
    sb_kset *ks;
    size_t want = GATE_WANT_WG;
    if (max_wg > 0 && (size_t)max_wg < want) want = (size_t)max_wg;
    SB_TRY(kernels(rt, &ks, e));
    size_t wg = min_sz(sb_ops_wg(rt, ks, K_GATE_SCAN, want), sb_ops_wg(rt, ks, K_SCAN_BLOCKS, want));
    while (wg > 1 && scan_local_bytes(wg) > rt->dev.local_mem) wg >>= 1;
    if (wg < 1) wg = 1;
    *wg_out = wg;
done:
    return st;
}

size_t sb_op_compact_scratch_bytes_wg(sb_rt *rt, int total_rows, int max_wg) {
    gate_plan p;
    size_t wg = 1; /* if the kernels cannot be had, the smallest block: an upper bound */
    if (rt && plan_wg(rt, max_wg, &wg, NULL) != SB_OK) wg = 1;
    plan_levels(total_rows > 0 ? (size_t)total_rows : 1, wg, &p);
    return p.ints * sizeof(cl_int);
}

size_t sb_op_compact_scratch_bytes(sb_rt *rt, int total_rows) {
    return sb_op_compact_scratch_bytes_wg(rt, total_rows, 0);
}

/* The sequence table must describe a contiguous packing of T rows. */
static sb_status check_seqs(const sb_seqs *s, sb_err *e) {
    if (!s || s->n < 1 || !s->start || !s->len)
        return sb_fail(e, SB_ERR_ARG, "gate_compact: empty or NULL sequence table");
    if (s->total < 1 || s->total >= GATE_MAX_T)
        return sb_fail(e, SB_ERR_ARG, "gate_compact: total rows %d outside 1..2^30-1", s->total);
    long long next = 0;
    for (int b = 0; b < s->n; b++) {
        if (s->len[b] < 1 || s->start[b] != next)
            return sb_fail(e, SB_ERR_ARG,
                           "gate_compact: sequence %d (start %d, len %d) does not follow the packed "
                           "rows before it (expected start %lld, len >= 1)",
                           b, s->start[b], s->len[b], next);
        next += s->len[b];
    }
    if (next != s->total)
        return sb_fail(e, SB_ERR_ARG, "gate_compact: lengths sum to %lld, total says %d", next,
                       s->total);
    return SB_OK;
}

sb_status sb_op_gate_compact_wg(sb_rt *rt, const sb_seqs *seqs, sb_buf u, int ld, float temp,
                                sb_buf w, sb_buf cidx, sb_buf crow_tok, sb_buf crow_pos,
                                sb_buf cstart, int *h_cstart, sb_buf scratch, int max_wg,
                                sb_err *e) {
    sb_status st = SB_OK;
    static const char *op = "gate_compact";
    cl_kernel kg, ks, ka, kst, kc;
    sb_kset *set;
    cl_ulong uo, wo, co, to, po, so, sco, sto;
    gate_plan p;
    size_t wg;
    if (!rt) SB_FAIL(SB_ERR_ARG, "%s: NULL runtime", op);
    SB_TRY(check_seqs(seqs, e));
    if (ld < 2) SB_FAIL(SB_ERR_ARG, "%s: row stride ld=%d < 2", op, ld);
    const size_t T = (size_t)seqs->total, B = (size_t)seqs->n;
    SB_TRY(plan_wg(rt, max_wg, &wg, e));
    plan_levels(T, wg, &p);
    SB_TRY(sb_ops_check_buf(op, "u", u, sb_rows_f32(T, (size_t)ld, 2), &uo, e));
    SB_TRY(sb_ops_check_buf(op, "w", w, sb_f32(T), &wo, e));
    SB_TRY(sb_ops_check_buf(op, "cidx", cidx, sb_i32(T), &co, e));
    SB_TRY(sb_ops_check_buf(op, "crow_tok", crow_tok, sb_i32(T), &to, e));
    SB_TRY(sb_ops_check_buf(op, "crow_pos", crow_pos, sb_i32(T), &po, e));
    SB_TRY(sb_ops_check_buf(op, "cstart", cstart, sb_i32(B + 1), &sco, e));
    SB_TRY(sb_ops_check_buf(op, "scratch", scratch, sb_i32(p.ints), &so, e));
    SB_TRY(sb_ops_check_buf(op, "seqs->d_start", seqs->d_start, sb_i32(B), &sto, e));
    {
        const char *on[] = {"w", "cidx", "crow_tok", "crow_pos", "cstart", "scratch"};
        const sb_buf ob[] = {w, cidx, crow_tok, crow_pos, cstart, scratch};
        for (int i = 0; i < 6; i++) {
            SB_TRY(sb_ops_apart(op, "u", u, on[i], ob[i], e));
            SB_TRY(sb_ops_apart(op, "seqs->d_start", seqs->d_start, on[i], ob[i], e));
            for (int j = i + 1; j < 6; j++) SB_TRY(sb_ops_apart(op, on[i], ob[i], on[j], ob[j], e));
        }
    }

    SB_TRY(kernels(rt, &set, e));
    kg = set->k[K_GATE_SCAN], ks = set->k[K_SCAN_BLOCKS], ka = set->k[K_SCAN_ADD];
    kst = set->k[K_SEQ_STARTS], kc = set->k[K_COMPACT];
    {
        const size_t lbuf = (p.blk + p.blk / 32 + 1) * sizeof(cl_int), ltree = p.wg * sizeof(cl_int);
        const cl_int cT = (cl_int)T, cB = (cl_int)B, cld = ld, cblk = (cl_int)p.blk;
        const cl_float inv_tau = (cl_float)exp(-(double)temp);
        /* 1. gate + block-local scan of the flags; block totals -> level 0 */
        {
            const size_t gws = p.len[0] * p.wg;
            const cl_ulong s0 = so + p.off[0];
            SB_ARG(kg, 0, cT);
            SB_ARG(kg, 1, u.mem);
            SB_ARG(kg, 2, uo);
            SB_ARG(kg, 3, cld);
            SB_ARG(kg, 4, inv_tau);
            SB_ARG(kg, 5, w.mem);
            SB_ARG(kg, 6, wo);
            SB_ARG(kg, 7, cidx.mem);
            SB_ARG(kg, 8, co);
            SB_ARG(kg, 9, scratch.mem);
            SB_ARG(kg, 10, s0);
            SB_ARG_LOCAL(kg, 11, lbuf);
            SB_ARG_LOCAL(kg, 12, ltree);
            SB_TRY(sb_rt_launch(rt, kg, 1, &gws, &p.wg, "gate_scan", e));
        }
        /* 2. scan each level in place, its block totals feeding the next */
        for (int l = 0; l + 1 < p.nlev; l++) {
            const size_t gws = p.len[l + 1] * p.wg;
            const cl_int n = (cl_int)p.len[l];
            const cl_ulong dl = so + p.off[l], sl = so + p.off[l + 1];
            SB_ARG(ks, 0, n);
            SB_ARG(ks, 1, scratch.mem);
            SB_ARG(ks, 2, dl);
            SB_ARG(ks, 3, scratch.mem);
            SB_ARG(ks, 4, sl);
            SB_ARG_LOCAL(ks, 5, lbuf);
            SB_ARG_LOCAL(ks, 6, ltree);
            SB_TRY(sb_rt_launch(rt, ks, 1, &gws, &p.wg, "scan_blocks", e));
        }
        /* 3. add block offsets back down; level nlev-2 was scanned in one block */
        for (int l = p.nlev - 3; l >= 0; l--) {
            const cl_int n = (cl_int)p.len[l];
            const cl_ulong dl = so + p.off[l], sl = so + p.off[l + 1];
            SB_ARG(ka, 0, n);
            SB_ARG(ka, 1, scratch.mem);
            SB_ARG(ka, 2, dl);
            SB_ARG(ka, 3, scratch.mem);
            SB_ARG(ka, 4, sl);
            SB_ARG(ka, 5, cblk);
            SB_TRY(sb_ops_launch_1d(rt, ka, sb_ops_wg(rt, set, K_SCAN_ADD, GATE_WANT_WG), p.len[l], "scan_add", e));
        }
        /* 4. per-sequence starts (before compact overwrites the codes) */
        {
            const cl_ulong s0 = so + p.off[0], top = so + p.off[p.nlev - 1];
            SB_ARG(kst, 0, cB);
            SB_ARG(kst, 1, seqs->d_start.mem);
            SB_ARG(kst, 2, sto);
            SB_ARG(kst, 3, cidx.mem);
            SB_ARG(kst, 4, co);
            SB_ARG(kst, 5, scratch.mem);
            SB_ARG(kst, 6, s0);
            SB_ARG(kst, 7, cblk);
            SB_ARG(kst, 8, scratch.mem);
            SB_ARG(kst, 9, top);
            SB_ARG(kst, 10, cstart.mem);
            SB_ARG(kst, 11, sco);
            SB_TRY(sb_ops_launch_1d(rt, kst, sb_ops_wg(rt, set, K_SEQ_STARTS, GATE_WANT_WG), B + 1, "seq_starts", e));
        }
        /* 5. compaction */
        {
            const cl_ulong s0 = so + p.off[0];
            SB_ARG(kc, 0, cT);
            SB_ARG(kc, 1, cidx.mem);
            SB_ARG(kc, 2, co);
            SB_ARG(kc, 3, scratch.mem);
            SB_ARG(kc, 4, s0);
            SB_ARG(kc, 5, cblk);
            SB_ARG(kc, 6, cB);
            SB_ARG(kc, 7, seqs->d_start.mem);
            SB_ARG(kc, 8, sto);
            SB_ARG(kc, 9, crow_tok.mem);
            SB_ARG(kc, 10, to);
            SB_ARG(kc, 11, crow_pos.mem);
            SB_ARG(kc, 12, po);
            SB_TRY(sb_ops_launch_1d(rt, kc, sb_ops_wg(rt, set, K_COMPACT, GATE_WANT_WG), T, "compact", e));
        }
        if (!h_cstart) goto done; /* the count stays on the device (cstart[B]) */
        SB_TRY(sb_rt_read(rt, cstart.mem, cstart.off, (B + 1) * sizeof(cl_int), h_cstart, e));
        if (h_cstart[0] != 0 || h_cstart[B] < 0 || (size_t)h_cstart[B] > T)
            SB_FAIL(SB_ERR_INTERNAL, "%s: device returned cstart[0]=%d, M=%d for T=%zu", op,
                    h_cstart[0], h_cstart[B], T);
    }
done:
    return st;
}

sb_status sb_op_gate_compact(sb_rt *rt, const sb_seqs *seqs, sb_buf u, int ld, float temp, sb_buf w,
                             sb_buf cidx, sb_buf crow_tok, sb_buf crow_pos, sb_buf cstart,
                             int *h_cstart, sb_buf scratch, sb_err *e) {
    return sb_op_gate_compact_wg(rt, seqs, u, ld, temp, w, cidx, crow_tok, crow_pos, cstart, h_cstart,
                                 scratch, 0, e);
}

sb_status sb_op_gather_rows(sb_rt *rt, sb_buf src, int src_ld, sb_buf rows, int M, int ncols,
                            sb_buf dst, int dst_ld, sb_err *e) {
    return sb_op_gather_rows_dev(rt, src, src_ld, rows, M, sb_view_none(), ncols, dst, dst_ld, e);
}

sb_status sb_op_gather_rows_dev(sb_rt *rt, sb_buf src, int src_ld, sb_buf rows, int M, sb_buf mdev,
                                int ncols, sb_buf dst, int dst_ld, sb_err *e) {
    sb_status st = SB_OK;
    static const char *op = "gather_rows";
    cl_kernel k;
    sb_kset *set;
    cl_ulong so, ro, dof, mo = 0;
    const cl_int use_mdev = mdev.mem != NULL;
    if (!rt) SB_FAIL(SB_ERR_ARG, "%s: NULL runtime", op);
    if (M < 0 || ncols < 1 || src_ld < ncols || dst_ld < ncols)
        SB_FAIL(SB_ERR_ARG, "%s: bad shape M=%d ncols=%d src_ld=%d dst_ld=%d", op, M, ncols, src_ld,
                dst_ld);
    if (M == 0) return SB_OK;
    /* src rows are named by `rows` (validated by the caller): one row at least */
    SB_TRY(sb_ops_check_buf(op, "src", src, sb_f32((size_t)ncols), &so, e));
    SB_TRY(sb_ops_check_buf(op, "rows", rows, sb_i32((size_t)M), &ro, e));
    SB_TRY(sb_ops_check_buf(op, "dst", dst, sb_rows_f32((size_t)M, (size_t)dst_ld, (size_t)ncols), &dof, e));
    SB_TRY(sb_ops_apart(op, "src", src, "dst", dst, e));
    SB_TRY(sb_ops_apart(op, "rows", rows, "dst", dst, e));
    if (use_mdev) SB_TRY(sb_ops_check_buf(op, "row count", mdev, sb_i32(1), &mo, e));
    SB_TRY(kernels(rt, &set, e));
    k = set->k[K_GATHER];
    {
        const cl_int cM = M, cn = ncols, csl = src_ld, cdl = dst_ld;
        SB_ARG(k, 0, cM);
        SB_ARG(k, 1, cn);
        SB_ARG(k, 2, src.mem);
        SB_ARG(k, 3, so);
        SB_ARG(k, 4, csl);
        SB_ARG(k, 5, rows.mem);
        SB_ARG(k, 6, ro);
        SB_ARG(k, 7, dst.mem);
        SB_ARG(k, 8, dof);
        SB_ARG(k, 9, cdl);
        const cl_mem cm = use_mdev ? mdev.mem : dst.mem; /* not read without a count */
        SB_ARG(k, 10, cm);
        SB_ARG(k, 11, mo);
        SB_ARG(k, 12, use_mdev);
        SB_TRY(sb_ops_launch_2d(rt, k, sb_ops_wg(rt, set, K_GATHER, GATE_WANT_WG), (size_t)ncols, (size_t)M,
                                op, e));
    }
done:
    return st;
}

sb_status sb_op_combine(sb_rt *rt, int T, int D, sb_buf hx, int hx_ld, sb_buf g, sb_buf w,
                        sb_buf cidx, sb_buf res, sb_buf out, sb_err *e) {
    sb_status st = SB_OK;
    static const char *op = "combine";
    cl_kernel k;
    sb_kset *set;
    cl_ulong ho, go, wo, co, ro, oo;
    if (!rt) SB_FAIL(SB_ERR_ARG, "%s: NULL runtime", op);
    if (T < 0 || D < 1 || hx_ld < D) SB_FAIL(SB_ERR_ARG, "%s: bad shape T=%d D=%d hx_ld=%d", op, T, D, hx_ld);
    if (T == 0) return SB_OK;
    const size_t rows_bytes = sb_f32((size_t)T * (size_t)D);
    SB_TRY(sb_ops_check_buf(op, "hx", hx, sb_rows_f32((size_t)T, (size_t)hx_ld, (size_t)D), &ho, e));
    /* g rows are named by cidx (M of them, written by the gate): one row at least */
    SB_TRY(sb_ops_check_buf(op, "g", g, sb_f32((size_t)D), &go, e));
    SB_TRY(sb_ops_check_buf(op, "w", w, sb_f32((size_t)T), &wo, e));
    SB_TRY(sb_ops_check_buf(op, "cidx", cidx, sb_i32((size_t)T), &co, e));
    SB_TRY(sb_ops_check_buf(op, "res", res, rows_bytes, &ro, e));
    SB_TRY(sb_ops_check_buf(op, "out", out, rows_bytes, &oo, e));
    {
        const char *in[] = {"hx", "g", "w", "cidx"};
        const sb_buf ib[] = {hx, g, w, cidx};
        for (int i = 0; i < 4; i++) SB_TRY(sb_ops_apart(op, in[i], ib[i], "out", out, e));
    }
    const int inplace = res.mem == out.mem && res.off == out.off;
    if (!inplace && res.mem == out.mem && res.off < out.off + rows_bytes && out.off < res.off + rows_bytes)
        SB_FAIL(SB_ERR_ARG, "%s: out overlaps res without being the same rows", op);
    SB_TRY(kernels(rt, &set, e));
    int vw = 1;
    /* CPU class: one item per row (res may be out); else in place or not */
    const int vec = sb_ops_row_vec(rt, &vw);
    const int ki = vec ? K_COMBINE_VEC : inplace ? K_COMBINE_INPLACE : K_COMBINE;
    k = set->k[ki];
    {
        const cl_int cT = T, cD = D, chl = hx_ld;
        SB_ARG(k, 0, cT);
        SB_ARG(k, 1, cD);
        SB_ARG(k, 2, hx.mem);
        SB_ARG(k, 3, ho);
        SB_ARG(k, 4, chl);
        SB_ARG(k, 5, g.mem);
        SB_ARG(k, 6, go);
        SB_ARG(k, 7, w.mem);
        SB_ARG(k, 8, wo);
        SB_ARG(k, 9, cidx.mem);
        SB_ARG(k, 10, co);
        if (ki == K_COMBINE_INPLACE) {
            SB_ARG(k, 11, out.mem);
            SB_ARG(k, 12, oo);
        } else {
            SB_ARG(k, 11, res.mem);
            SB_ARG(k, 12, ro);
            SB_ARG(k, 13, out.mem);
            SB_ARG(k, 14, oo);
        }
        if (vec)
            SB_TRY(sb_ops_launch_1d(rt, k, sb_ops_wg(rt, set, K_COMBINE_VEC, GATE_ROWS_WG), (size_t)T,
                                    "combine_vec", e));
        else
            SB_TRY(sb_ops_launch_2d(rt, k, sb_ops_wg(rt, set, ki, GATE_WANT_WG), (size_t)D, (size_t)T, op, e));
    }
done:
    return st;
}
