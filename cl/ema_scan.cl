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
