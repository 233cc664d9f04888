/* ema_scan.cl - the EMA / SSM of a SeqBoat layer as a chunked parallel scan.
 *
 * Per row r (K = D causal, 2D bidirectional) and n < NS, with coefficients
 * q, c, g (coef [3][K][NS]) the layer computes h_t = q h_{t-1} + c x_t,
 * y_t = sum_n g h_t, mx = silu(y + omega x), over each sequence of the packed
 * batch separately. Rows D..2D-1 scan backward in time.
 *
 * Scan. A sequence is cut into chunks of CHUNK steps from its first token
 * (the last chunk may be shorter); chunks never cross sequences.
 *   ema_local: one item per (row r, chunk): the chunk's state at its far end
 *              (forward: last step, backward: first step) starting from 0.
 *   ema_carry: one item per (row r, n, sequence): walks the sequence's chunks
 *              in scan order, carry = q^clen * carry + local, and leaves in
 *              place of each local state the chunk's carry-in (the state just
 *              before the chunk in scan order). Also the final states.
 *   ema_out:   one item per (channel d, chunk): scans the chunk again from its
 *              carry-in and writes mx with omega and SiLU fused. Bidirectional:
 *              the backward scan first writes its y into mx, then the forward
 *              scan (the same item) adds its y and applies omega + SiLU.
 * Work O(T*D*NS); the serial part is T/CHUNK steps per (r, n, sequence).
 *
 * CPU class (ema_seq, one pass): one item per (group of VW channels,
 * sequence) scans the whole sequence with VW channels in one vector (floatVW)
 * and writes mx directly; see the comment above ema_seq. The host takes it on
 * CPU devices when there are enough (group, sequence) items for the compute
 * units (runtime/ops/ema.c), the three passes elsewhere.
 *
 * Truncation T > 0 (TRUNC defined 1, runtime `trunc` = T). The truncated state
 *   s_t = sum_{l<T} q^l c x_{t-l}    (x at times outside the sequence = 0)
 * obeys s_t = q s_{t-1} + c x_t - q^T c x_{t-T}: the same linear scan with
 * the input c x_t replaced by c x_t - c q^T x_{t-T} (backward: x_{t+T}). So
 * all three passes run unchanged with that input, y_t = sum_n g s_t, and the
 * final state is the truncated state. Cost: one more load per step; no lagged
 * second scan and no cancellation between two large states (h_t - q^T h_{t-T}).
 *
 * Scratch (float units from st_off / tab_off):
 *   states [n_chunks][NS][K] float, row r fastest (coalesced over r);
 *   chunk table int4 per chunk {row0, t0, clen, seq_len}  (row0 = first packed
 *   row of the chunk, t0 = its time within the sequence);
 *   sequence table int4 per sequence {first chunk, n chunks, len, 0}.
 * Indices that may pass 2^31 (row * D) are computed in 64 bits.
 */
#ifndef NS
#define NS 16
#endif
#ifndef CHUNK
#define CHUNK 64
#endif
#ifndef BIDIR
#define BIDIR 0
#endif
#ifndef TRUNC
#define TRUNC 0
#endif
#ifndef VW
#define VW 1 /* ema_seq: channels per vector (1, 2, 4, 8 or 16; divides D) */
#endif
#ifndef TB
#define TB 32 /* ema_seq: time steps per block */
#endif

/* Loads q, c, g (and c q^T when truncated) of row r. */
#define EMA_LOAD_COEF(r_)                                                      \
    do {                                                                       \
        for (int n_ = 0; n_ < NS; ++n_) {                                      \
            const ulong i_ = coef_off + (ulong)(r_) * NS + n_;                 \
            q[n_] = coef[i_];                                                  \
            c[n_] = coef[i_ + (ulong)K * NS];                                  \
            g[n_] = coef[i_ + 2 * (ulong)K * NS];                              \
            cqt[n_] = TRUNC ? c[n_] * pown(q[n_], trunc) : 0.0f;               \
        }                                                                      \
    } while (0)

/* x at time lt of the sequence whose time 0 is packed row srow0, 0 outside. */
float ema_x_at(__global const float *x, const ulong x_off, const long srow0, const long lt,
                      const int slen, const int D, const int d) {
    if (lt < 0 || lt >= slen) return 0.0f;
    return x[x_off + (ulong)(srow0 + lt) * (ulong)D + (ulong)d];
}

/* Pass 1: gws = (round_up(K, wg), n_chunks). */
__kernel void ema_local(__global const float *x, const ulong x_off,
                        __global const float *coef, const ulong coef_off,
                        __global float *scr, const ulong st_off, const ulong tab_off,
                        const int D, const int K, const int trunc) {
    const int r = (int)get_global_id(0);
    const int j = (int)get_global_id(1);
    if (r >= K) return;
    const int4 ch = vload4(j, (__global const int *)(scr + tab_off));
    const int row0 = ch.x, t0 = ch.y, clen = ch.z, slen = ch.w;
    const int back = r >= D;
    const int d = back ? r - D : r;
    const long srow0 = (long)row0 - t0;
    float q[NS], c[NS], g[NS], cqt[NS], h[NS];
    EMA_LOAD_COEF(r);
    for (int n = 0; n < NS; ++n) h[n] = 0.0f;
    for (int i = 0; i < clen; ++i) {
        const int tt = back ? clen - 1 - i : i;
        const float xv = x[x_off + (ulong)(row0 + tt) * (ulong)D + (ulong)d];
#if TRUNC
        const long lt = back ? (long)t0 + tt + trunc : (long)t0 + tt - trunc;
        const float xl = ema_x_at(x, x_off, srow0, lt, slen, D, d);
        for (int n = 0; n < NS; ++n) h[n] = q[n] * h[n] + (c[n] * xv - cqt[n] * xl);
#else
        for (int n = 0; n < NS; ++n) h[n] = q[n] * h[n] + c[n] * xv;
#endif
    }
    (void)srow0;
    (void)slen;
    (void)g;
    const ulong base = st_off + (ulong)j * NS * (ulong)K + (ulong)r;
    for (int n = 0; n < NS; ++n) scr[base + (ulong)n * K] = h[n];
}

/* Pass 2: gws = (round_up(K*NS, wg), n_seq). want_state: write the final
 * state of each sequence to state[b][r][n] (causal, r < D = K). have_in:
 * start each sequence from state_in[b][r][n] instead of zero. */
__kernel void ema_carry(__global const float *coef, const ulong coef_off,
                        __global float *scr, const ulong st_off, const ulong seq_tab_off,
                        __global float *state, const ulong state_off,
                        const int want_state, const int D, const int K,
                        __global const float *state_in, const ulong state_in_off,
                        const int have_in) {
    const int i = (int)get_global_id(0);
    const int b = (int)get_global_id(1);
    if (i >= K * NS) return;
    const int r = i % K, n = i / K;
    const int4 sq = vload4(b, (__global const int *)(scr + seq_tab_off));
    const int first = sq.x, nc = sq.y, slen = sq.z;
    const float q = coef[coef_off + (ulong)r * NS + n];
    const float q_chunk = pown(q, CHUNK);
    const int back = r >= D;
    /* have_in: the sequence continues from a given state (causal rows only);
     * state_in may be the same buffer as state (read here, written below by
     * the same work-item). */
    float carry = have_in && !back ? state_in[state_in_off + ((ulong)b * D + r) * NS + n] : 0.0f;
    for (int k = 0; k < nc; ++k) {
        const int jj = back ? nc - 1 - k : k;
        const int clen = min(CHUNK, slen - jj * CHUNK);
        const ulong idx = st_off + (ulong)(first + jj) * NS * (ulong)K + (ulong)i;
        const float loc = scr[idx];
        scr[idx] = carry;
        const float qp = clen == CHUNK ? q_chunk : pown(q, clen);
        carry = qp * carry + loc;
    }
    if (want_state && !back) state[state_off + ((ulong)b * D + r) * NS + n] = carry;
}

/* Pass 3: gws = (round_up(D, wg), n_chunks). */
__kernel void ema_out(__global const float *x, const ulong x_off,
                      __global float *mx, const ulong mx_off,
                      __global const float *coef, const ulong coef_off,
                      __global const float *omega, const ulong omega_off,
                      __global const float *scr, const ulong st_off, const ulong tab_off,
                      const int D, const int K, const int trunc) {
    const int d = (int)get_global_id(0);
    const int j = (int)get_global_id(1);
    if (d >= D) return;
    const int4 ch = vload4(j, (__global const int *)(scr + tab_off));
    const int row0 = ch.x, t0 = ch.y, clen = ch.z, slen = ch.w;
    const long srow0 = (long)row0 - t0;
    const ulong cbase = st_off + (ulong)j * NS * (ulong)K;
    float q[NS], c[NS], g[NS], cqt[NS], h[NS];
#if BIDIR
    /* backward rows D + d: y_b into mx */
    EMA_LOAD_COEF(D + d);
    for (int n = 0; n < NS; ++n) h[n] = scr[cbase + (ulong)n * K + (ulong)(D + d)];
    for (int tt = clen - 1; tt >= 0; --tt) {
        const ulong xi = (ulong)(row0 + tt) * (ulong)D + (ulong)d;
        const float xv = x[x_off + xi];
#if TRUNC
        const float xl = ema_x_at(x, x_off, srow0, (long)t0 + tt + trunc, slen, D, d);
        for (int n = 0; n < NS; ++n) h[n] = q[n] * h[n] + (c[n] * xv - cqt[n] * xl);
#else
        for (int n = 0; n < NS; ++n) h[n] = q[n] * h[n] + c[n] * xv;
#endif
        float y = 0.0f;
        for (int n = 0; n < NS; ++n) y += g[n] * h[n];
        mx[mx_off + xi] = y;
    }
#endif
    /* forward rows d */
    EMA_LOAD_COEF(d);
    const float om = omega[omega_off + d];
    for (int n = 0; n < NS; ++n) h[n] = scr[cbase + (ulong)n * K + (ulong)d];
    for (int tt = 0; tt < clen; ++tt) {
        const ulong xi = (ulong)(row0 + tt) * (ulong)D + (ulong)d;
        const float xv = x[x_off + xi];
#if TRUNC
        const float xl = ema_x_at(x, x_off, srow0, (long)t0 + tt - trunc, slen, D, d);
        for (int n = 0; n < NS; ++n) h[n] = q[n] * h[n] + (c[n] * xv - cqt[n] * xl);
#else
        for (int n = 0; n < NS; ++n) h[n] = q[n] * h[n] + c[n] * xv;
#endif
        float y = 0.0f;
        for (int n = 0; n < NS; ++n) y += g[n] * h[n];
#if BIDIR
        y += mx[mx_off + xi];
#endif
        const float v = y + om * xv;
        mx[mx_off + xi] = v / (1.0f + exp(-v));
    }
    (void)srow0;
    (void)slen;
}

/* ---- CPU class: one pass per (VW channels, sequence) ----------------------
 *
 * The item keeps the NS states of its VW channels (floatVW each) for the whole
 * sequence and walks it in blocks of TB steps: the block's x rows are loaded
 * once into private memory, then for each group of 4 n (independent FMA
 * chains) the states run through the block while y of every step accumulates
 * in private memory; then mx = silu(y + omega x) is written. No scratch, no
 * second read of x, vector FMAs whatever the compiler's vectoriser does.
 * Truncation: the same scan with the input c x_t - c q^T x_{t-T} (see above).
 * Bidirectional: the backward rows D + d first write their y into mx, the
 * forward scan adds it before omega and SiLU (one item does both, in order). */
#if VW == 1
typedef float ema_v;
#define EMA_LOADV(p_) (*(p_))
#define EMA_STOREV(v_, p_) (*(p_) = (v_))
#else
#define EMA_CAT_(a_, b_) a_##b_
#define EMA_CAT(a_, b_) EMA_CAT_(a_, b_)
typedef EMA_CAT(float, VW) ema_v;
#define EMA_LOADV(p_) EMA_CAT(vload, VW)(0, p_)
#define EMA_STOREV(v_, p_) EMA_CAT(vstore, VW)(v_, 0, p_)
#endif

/* VW consecutive floats of coef starting at coefficient row r0, column n
 * (rows are NS apart) as one vector. */
ema_v ema_seq_coef(__global const float *coef, const ulong base, const int r0, const int n) {
    float t[VW];
    for (int i = 0; i < VW; ++i) t[i] = coef[base + (ulong)(r0 + i) * NS + (ulong)n];
    return EMA_LOADV(t);
}

/* One direction over one sequence (rows srow0 .. srow0 + len - 1) for the
 * channels d0 .. d0 + VW - 1 with the coefficients of rows r0 ..; h holds the
 * NS states in and out. fin 0: store y; 1: store silu(y + om x [+ mx]). */
void ema_seq_dir(__global const float *x, const ulong x_off, __global float *mx, const ulong mx_off,
                 __global const float *coef, const ulong coef_off, const int r0, const int K,
                 const int D, const int d0, const long srow0, const int len, const int back,
                 const int fin, const ema_v om, ema_v *h, const int trunc) {
    ema_v q[NS], c[NS], g[NS];
#if TRUNC
    ema_v cq[NS];
#endif
    for (int n = 0; n < NS; ++n) {
        q[n] = ema_seq_coef(coef, coef_off, r0, n);
        c[n] = ema_seq_coef(coef, coef_off + (ulong)K * NS, r0, n);
        g[n] = ema_seq_coef(coef, coef_off + 2 * (ulong)K * NS, r0, n);
#if TRUNC
        float t[VW];
        for (int i = 0; i < VW; ++i) {
            const ulong ci = coef_off + (ulong)(r0 + i) * NS + (ulong)n;
            t[i] = coef[ci + (ulong)K * NS] * pown(coef[ci], trunc);
        }
        cq[n] = EMA_LOADV(t);
#endif
    }
    ema_v xs[TB], y[TB];
#if TRUNC
    ema_v xl[TB];
#endif
    for (int s0 = 0; s0 < len; s0 += TB) {
        const int nt = min(TB, len - s0);
        for (int i = 0; i < nt; ++i) {
            const int lt = back ? len - 1 - (s0 + i) : s0 + i;
            xs[i] = EMA_LOADV(x + x_off + (ulong)(srow0 + lt) * (ulong)D + (ulong)d0);
            y[i] = (ema_v)0.0f;
#if TRUNC
            const int ll = back ? lt + trunc : lt - trunc;
            xl[i] = ll >= 0 && ll < len
                        ? EMA_LOADV(x + x_off + (ulong)(srow0 + ll) * (ulong)D + (ulong)d0)
                        : (ema_v)0.0f;
#endif
        }
#if TRUNC
#define EMA_IN(k_) (c[n + k_] * xv - cq[n + k_] * xl[i])
#else
#define EMA_IN(k_) (c[n + k_] * xv)
#endif
        int n = 0;
        for (; n + 4 <= NS; n += 4) {
            ema_v h0 = h[n], h1 = h[n + 1], h2 = h[n + 2], h3 = h[n + 3];
            for (int i = 0; i < nt; ++i) {
                const ema_v xv = xs[i];
                h0 = q[n] * h0 + EMA_IN(0);
                h1 = q[n + 1] * h1 + EMA_IN(1);
                h2 = q[n + 2] * h2 + EMA_IN(2);
                h3 = q[n + 3] * h3 + EMA_IN(3);
                y[i] += (g[n] * h0 + g[n + 1] * h1) + (g[n + 2] * h2 + g[n + 3] * h3);
            }
            h[n] = h0;
            h[n + 1] = h1;
            h[n + 2] = h2;
            h[n + 3] = h3;
        }
        for (; n < NS; ++n) {
            ema_v h0 = h[n];
            for (int i = 0; i < nt; ++i) {
                const ema_v xv = xs[i];
                h0 = q[n] * h0 + EMA_IN(0);
                y[i] += g[n] * h0;
            }
            h[n] = h0;
        }
#undef EMA_IN
        for (int i = 0; i < nt; ++i) {
            const int lt = back ? len - 1 - (s0 + i) : s0 + i;
            __global float *o = mx + mx_off + (ulong)(srow0 + lt) * (ulong)D + (ulong)d0;
            if (!fin) {
                EMA_STOREV(y[i], o);
            } else {
                ema_v v = y[i] + om * xs[i];
#if BIDIR
                v += EMA_LOADV(o);
#endif
                EMA_STOREV(v / (1.0f + exp(-v)), o);
            }
        }
    }
}

/* gws = (D / VW, n_seq), any work-group size. seq: int4 per sequence
 * {first row, len, 0, 0} at seq_off (ints). want_state / have_in as in
 * ema_carry (causal; state_in may be state: read before written, same item). */
__kernel void ema_seq(__global const float *x, const ulong x_off,
                      __global float *mx, const ulong mx_off,
                      __global const float *coef, const ulong coef_off,
                      __global const float *omega, const ulong omega_off,
                      __global const int *seq, const ulong seq_off,
                      __global float *state, const ulong state_off, const int want_state,
                      __global const float *state_in, const ulong state_in_off, const int have_in,
                      const int D, const int K, const int trunc) {
    const int d0 = (int)get_global_id(0) * VW;
    const int b = (int)get_global_id(1);
    if (d0 >= D) return;
    const int4 sq = vload4(b, seq + seq_off);
    const long srow0 = sq.x;
    const int len = sq.y;
    ema_v h[NS];
    float om[VW];
    for (int i = 0; i < VW; ++i) om[i] = omega[omega_off + (ulong)(d0 + i)];
#if BIDIR
    for (int n = 0; n < NS; ++n) h[n] = (ema_v)0.0f;
    ema_seq_dir(x, x_off, mx, mx_off, coef, coef_off, D + d0, K, D, d0, srow0, len, 1, 0,
                (ema_v)0.0f, h, trunc);
#endif
    for (int n = 0; n < NS; ++n) {
        float t[VW];
        for (int i = 0; i < VW; ++i)
            t[i] = have_in ? state_in[state_in_off + ((ulong)b * D + (ulong)(d0 + i)) * NS + n] : 0.0f;
        h[n] = EMA_LOADV(t);
    }
    ema_seq_dir(x, x_off, mx, mx_off, coef, coef_off, d0, K, D, d0, srow0, len, 0, 1,
                EMA_LOADV(om), h, trunc);
    if (want_state)
        for (int n = 0; n < NS; ++n) {
            float t[VW];
            EMA_STOREV(h[n], t);
            for (int i = 0; i < VW; ++i)
                state[state_off + ((ulong)b * D + (ulong)(d0 + i)) * NS + n] = t[i];
        }
}
