/* gate_compact.cl - the router gate, stream compaction by a parallel exclusive
 * scan, row gather and the final combine of a SeqBoat layer (SPEC section 3,
 * steps 4, 5, 10, 11). Host side: runtime/ops/gate.c.
 *
 * Rows are PACKED (runtime/ops/ops.h): sequence b owns rows start[b] ..
 * start[b] + len[b] - 1, one after another. All offsets are element offsets.
 *
 * Compaction pipeline (T tokens, block = get_local_size(0) * SCAN_ITEMS):
 *   gate_scan     per token: w, activation flag; per block: exclusive scan of
 *                 the flags in local memory -> code[t] = (local prefix << 1) | flag,
 *                 block total -> S1[block]
 *   scan_blocks   in-place exclusive scan of a level's block totals, the totals
 *                 of its own blocks going to the next level (repeated until one
 *                 block is left; its total is M)
 *   scan_add      adds a level's scanned block offsets back into the level below
 *   seq_starts    cstart[b] = global prefix at start[b]; cstart[B] = M
 *   compact       cidx, crow_tok, crow_pos from code + S1
 */
#ifndef SCAN_ITEMS
#define SCAN_ITEMS 4 /* elements per work-item in a scan block */
#endif

/* Local-memory index with one pad word every 32 words (fewer bank conflicts
 * when a work-item walks its SCAN_ITEMS consecutive elements). */
#define LPAD(i) ((i) + ((i) >> 5))

/* Work-efficient (up-sweep / down-sweep) exclusive scan of one int per
 * work-item over the work-group; the local size must be a power of two and
 * `tree` must hold get_local_size(0) ints. Every work-item must call it.
 * Returns this item's exclusive prefix and stores the group's sum in *total. */
int wg_scan_exclusive(int v, __local int *tree, int *total) {
    const int lid = (int)get_local_id(0);
    const int n = (int)get_local_size(0);
    tree[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int d = 1; d < n; d <<= 1) {
        const int i = (lid + 1) * 2 * d - 1;
        if (i < n) tree[i] += tree[i - d];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    *total = tree[n - 1];
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) tree[n - 1] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int d = n >> 1; d >= 1; d >>= 1) {
        const int i = (lid + 1) * 2 * d - 1;
        if (i < n) {
            const int a = tree[i - d];
            tree[i - d] = tree[i];
            tree[i] += a;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return tree[lid];
}

/* In-place exclusive scan of the block held in buf (block = local size *
 * SCAN_ITEMS values at LPAD indices, already written and fenced by the caller).
 * Work-item l scans elements l*SCAN_ITEMS .. +SCAN_ITEMS-1 serially, then the
 * per-item sums are scanned over the group. Returns the block's total; buf is
 * fenced again on return. */
int block_scan_exclusive(__local int *buf, __local int *tree) {
    const int base = (int)get_local_id(0) * SCAN_ITEMS;
    int v[SCAN_ITEMS];
    int s = 0;
    for (int k = 0; k < SCAN_ITEMS; k++) {
        v[k] = s;
        s += buf[LPAD(base + k)];
    }
    int total;
    const int off = wg_scan_exclusive(s, tree, &total);
    for (int k = 0; k < SCAN_ITEMS; k++) buf[LPAD(base + k)] = off + v[k];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

/* One work-group per block of tokens. For token t < T with router values
 * u0 = u[t*ld], u1 = u[t*ld + 1]:
 *   activated iff u1 > u0 (pr[1] > pr[0] of softmax(u / tau), tau > 0; a tie
 *   or a NaN is not activated),
 *   w[t] = pr[1] = 1 / (1 + exp((u0 - u1) / tau)), written for every token.
 * code[t] = (exclusive prefix of the flags inside the block << 1) | flag;
 * sums[block] = number of activated tokens in the block. */
__kernel void gate_scan(const int T, __global const float *u, const ulong u_off, const int ld,
                        const float inv_tau, __global float *w, const ulong w_off,
                        __global int *code, const ulong code_off, __global int *sums,
                        const ulong sums_off, __local int *buf, __local int *tree) {
    const int lid = (int)get_local_id(0);
    const int wg = (int)get_local_size(0);
    const long base = (long)get_group_id(0) * wg * SCAN_ITEMS;
    int flag[SCAN_ITEMS];
    for (int k = 0; k < SCAN_ITEMS; k++) {
        const int i = k * wg + lid; /* coalesced: neighbouring items, neighbouring tokens */
        const long t = base + i;
        int f = 0;
        if (t < T) {
            const ulong r = u_off + (ulong)t * (ulong)ld;
            const float u0 = u[r];
            const float u1 = u[r + 1];
            f = u1 > u0;
            w[w_off + (ulong)t] = 1.0f / (1.0f + exp((u0 - u1) * inv_tau));
        }
        flag[k] = f;
        buf[LPAD(i)] = f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int total = block_scan_exclusive(buf, tree);
    for (int k = 0; k < SCAN_ITEMS; k++) {
        const int i = k * wg + lid;
        const long t = base + i;
        if (t < T) code[code_off + (ulong)t] = (buf[LPAD(i)] << 1) | flag[k];
    }
    if (lid == 0) sums[sums_off + get_group_id(0)] = total;
}

/* In-place exclusive scan of data[0..n) block by block; block totals go to
 * sums[block]. */
__kernel void scan_blocks(const int n, __global int *data, const ulong data_off, __global int *sums,
                          const ulong sums_off, __local int *buf, __local int *tree) {
    const int lid = (int)get_local_id(0);
    const int wg = (int)get_local_size(0);
    const long base = (long)get_group_id(0) * wg * SCAN_ITEMS;
    for (int k = 0; k < SCAN_ITEMS; k++) {
        const int i = k * wg + lid;
        const long t = base + i;
        buf[LPAD(i)] = t < n ? data[data_off + (ulong)t] : 0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int total = block_scan_exclusive(buf, tree);
    for (int k = 0; k < SCAN_ITEMS; k++) {
        const int i = k * wg + lid;
        const long t = base + i;
        if (t < n) data[data_off + (ulong)t] = buf[LPAD(i)];
    }
    if (lid == 0) sums[sums_off + get_group_id(0)] = total;
}

/* data[i] += sums[i / blk] for i < n (sums already scanned). */
__kernel void scan_add(const int n, __global int *data, const ulong data_off,
                       __global const int *sums, const ulong sums_off, const int blk) {
    const int i = (int)get_global_id(0);
    if (i < n) data[data_off + (ulong)i] += sums[sums_off + (ulong)(i / blk)];
}

/* cstart[b] = number of activated tokens before row start[b] (b < B);
 * cstart[B] = total[0] = M. code/s1 as left by gate_scan + the level scans. */
__kernel void seq_starts(const int B, __global const int *start, const ulong start_off,
                         __global const int *code, const ulong code_off, __global const int *s1,
                         const ulong s1_off, const int blk, __global const int *total,
                         const ulong total_off, __global int *cstart, const ulong cstart_off) {
    const int b = (int)get_global_id(0);
    if (b < B) {
        const int t = start[start_off + (ulong)b];
        cstart[cstart_off + (ulong)b] =
            (code[code_off + (ulong)t] >> 1) + s1[s1_off + (ulong)(t / blk)];
    } else if (b == B) {
        cstart[cstart_off + (ulong)B] = total[total_off];
    }
}

/* Final compaction. code (the cidx buffer) holds (local prefix << 1) | flag;
 * s1 the scanned block offsets. Activated token t gets compressed row
 * c = prefix(t): cidx[t] = c, crow_tok[c] = t, crow_pos[c] = t - start[b] of
 * its sequence b (binary search over the sorted starts); others cidx[t] = -1. */
__kernel void compact(const int T, __global int *code, const ulong code_off, __global const int *s1,
                      const ulong s1_off, const int blk, const int B, __global const int *start,
                      const ulong start_off, __global int *crow_tok, const ulong tok_off,
                      __global int *crow_pos, const ulong pos_off) {
    const int t = (int)get_global_id(0);
    if (t >= T) return;
    const int c = code[code_off + (ulong)t];
    if ((c & 1) == 0) {
        code[code_off + (ulong)t] = -1;
        return;
    }
    const int idx = (c >> 1) + s1[s1_off + (ulong)(t / blk)];
    int lo = 0, hi = B - 1; /* largest b with start[b] <= t */
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (start[start_off + (ulong)mid] <= t) lo = mid;
        else hi = mid - 1;
    }
    code[code_off + (ulong)t] = idx;
    crow_tok[tok_off + (ulong)idx] = t;
    crow_pos[pos_off + (ulong)idx] = t - start[start_off + (ulong)lo];
}

/* dst[i, c] = src[rows[i], c] for i < M, c < ncols (2-D: dim 0 columns, dim 1 rows). */
__kernel void gather_rows(const int M_cap, const int ncols, __global const float *src, const ulong src_off,
                          const int src_ld, __global const int *rows, const ulong rows_off,
                          __global float *dst, const ulong dst_off, const int dst_ld,
                          __global const int *mdev, const ulong mdev_off, const int use_mdev) {
    const int c = (int)get_global_id(0);
    const int i = (int)get_global_id(1);
    /* M_cap rows, or min(M_cap, mdev[mdev_off]) left on the device by the compaction */
    const int M = use_mdev ? min(M_cap, mdev[mdev_off]) : M_cap;
    if (c >= ncols || i >= M) return;
    const ulong r = (ulong)rows[rows_off + (ulong)i];
    dst[dst_off + (ulong)i * (ulong)dst_ld + (ulong)c] = src[src_off + r * (ulong)src_ld + (ulong)c];
}

float silu_f(float x) { return x / (1.0f + exp(-x)); }

/* Scattered sparse branch + residual:
 * out[t, c] = silu(hx[t, c] + (cidx[t] >= 0 ? w[t] * g[cidx[t], c] : 0) + res[t, c]).
 * hx rows have hx_ld floats; g is M x D; res and out are T x D. */
float combine_value(const int t, const int c, const int D, __global const float *hx, const ulong hx_off,
                    const int hx_ld, __global const float *g, const ulong g_off,
                    __global const float *w, const ulong w_off, __global const int *cidx,
                    const ulong cidx_off, const float r) {
    float h = 0.0f;
    const int ci = cidx[cidx_off + (ulong)t];
    if (ci >= 0) h = w[w_off + (ulong)t] * g[g_off + (ulong)ci * (ulong)D + (ulong)c];
    return silu_f(hx[hx_off + (ulong)t * (ulong)hx_ld + (ulong)c] + h + r);
}

__kernel void combine(const int T, const int D, __global const float *hx, const ulong hx_off,
                      const int hx_ld, __global const float *g, const ulong g_off,
                      __global const float *w, const ulong w_off, __global const int *cidx,
                      const ulong cidx_off, __global const float *res, const ulong res_off,
                      __global float *out, const ulong out_off) {
    const int c = (int)get_global_id(0);
    const int t = (int)get_global_id(1);
    if (c >= D || t >= T) return;
    const ulong o = (ulong)t * (ulong)D + (ulong)c;
    out[out_off + o] = combine_value(t, c, D, hx, hx_off, hx_ld, g, g_off, w, w_off, cidx, cidx_off,
                                     res[res_off + o]);
}

/* ---- CPU class: one work-item per row, VW floats per vector (then a scalar
 * tail). The same value as combine_value, element by element. res may be out
 * (each row is read and written by its own item). 1-D range over rows. */
#ifndef VW
#define VW 1
#endif
#if VW == 1
typedef float comb_v;
#define COMB_LOADV(p_) (*(p_))
#define COMB_STOREV(v_, p_) (*(p_) = (v_))
#else
#define COMB_CAT_(a_, b_) a_##b_
#define COMB_CAT(a_, b_) COMB_CAT_(a_, b_)
typedef COMB_CAT(float, VW) comb_v;
#define COMB_LOADV(p_) COMB_CAT(vload, VW)(0, p_)
#define COMB_STOREV(v_, p_) COMB_CAT(vstore, VW)(v_, 0, p_)
#endif

__kernel void combine_vec(const int T, const int D, __global const float *hx, const ulong hx_off,
                          const int hx_ld, __global const float *g, const ulong g_off,
                          __global const float *w, const ulong w_off, __global const int *cidx,
                          const ulong cidx_off, __global const float *res, const ulong res_off,
                          __global float *out, const ulong out_off) {
    const int t = (int)get_global_id(0);
    if (t >= T) return;
    const int ci = cidx[cidx_off + (ulong)t];
    __global const float *hr = hx + hx_off + (ulong)t * (ulong)hx_ld;
    __global const float *rr = res + res_off + (ulong)t * (ulong)D;
    __global float *orow = out + out_off + (ulong)t * (ulong)D;
    const int nv = D / VW * VW;
    if (ci >= 0) {
        const float wt = w[w_off + (ulong)t];
        __global const float *gr = g + g_off + (ulong)ci * (ulong)D;
        for (int c = 0; c < nv; c += VW) {
            const comb_v v = COMB_LOADV(hr + c) + wt * COMB_LOADV(gr + c) + COMB_LOADV(rr + c);
            COMB_STOREV(v / (1.0f + exp(-v)), orow + c);
        }
        for (int c = nv; c < D; ++c) orow[c] = silu_f(hr[c] + wt * gr[c] + rr[c]);
    } else {
        for (int c = 0; c < nv; c += VW) {
            const comb_v v = COMB_LOADV(hr + c) + 0.0f + COMB_LOADV(rr + c);
            COMB_STOREV(v / (1.0f + exp(-v)), orow + c);
        }
        for (int c = nv; c < D; ++c) orow[c] = silu_f(hr[c] + 0.0f + rr[c]);
    }
}

/* The same with out == res (one buffer read and written by the same item). */
__kernel void combine_inplace(const int T, const int D, __global const float *hx, const ulong hx_off,
                              const int hx_ld, __global const float *g, const ulong g_off,
                              __global const float *w, const ulong w_off, __global const int *cidx,
                              const ulong cidx_off, __global float *io, const ulong io_off) {
    const int c = (int)get_global_id(0);
    const int t = (int)get_global_id(1);
    if (c >= D || t >= T) return;
    const ulong o = io_off + (ulong)t * (ulong)D + (ulong)c;
    io[o] = combine_value(t, c, D, hx, hx_off, hx_ld, g, g_off, w, w_off, cidx, cidx_off, io[o]);
}
