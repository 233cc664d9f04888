/* window_attn.cl - windowed attention over compressed rows (SPEC §3 steps 6-8).
 *
 * Rows s are Z+2H floats: z = s[0:Z], r = s[Z:Z+H], v = s[Z+H:Z+2H].
 *   attn_prep    q, k (gamma/beta, rotary; q divided by qdiv = W' or sqrt(Z))
 *                into scratch, plus each row's window [lo, hi] of key rows.
 *   attn_window  a work-group owns TQ consecutive query rows; the keys of their
 *                windows are visited in tiles of TK rows, k staged through local
 *                memory in slices of ZS features; scores go to local memory; an
 *                online softmax (running max / sum) or relu2 weights them; each
 *                work-item accumulates TQ x NHS outputs h = lid + c*NT in private
 *                memory (v is read straight from global: every v element is used
 *                by exactly one work-item, TQ times).
 *   attn_reg     the CPU-class variant: a work-item owns RQ query rows, scores
 *                in private memory, values accumulated in vector registers.
 *   attn_step    one query (streaming decode) against a ring of cached keys.
 *   attn_ring_append  rows -> (k, v, pos) ring slots.
 * The streaming layer step (gau_step and its split) lives in gau_step.cl,
 * built after this file with ATTN_GAU 1: this file then gives it only the
 * shapes and the ring attention (qk_pair, rel_bias_at, attn_step_wg), and
 * leaves its own kernels out, so neither program costs the other's compile
 * time.
 * Nothing L x L or M x M is ever formed.
 *
 * Buffers come with element offsets (`*_off`). Row indices are widened to 64
 * bits before multiplying by a row length. Every work-item reaches every barrier.
 */

#ifndef Z
#define Z 8          /* d_qk */
#endif
#ifndef H
#define H 8          /* d_hidden */
#endif
#ifndef W
#define W 4          /* window (mem_size) */
#endif
#ifndef CAUSAL
#define CAUSAL 1
#endif
#ifndef SOFTMAX
#define SOFTMAX 0    /* 0 = relu2 */
#endif
#ifndef ROTARY
#define ROTARY 0     /* 0 = simple relative bias */
#endif
#ifndef P
#define P 16         /* max_positions (simple bias table has 2P-1 entries) */
#endif
#ifndef NT
#define NT 64        /* work-group size (power of two) */
#endif
#ifndef TQ
#define TQ 8         /* query rows per work-group */
#endif
#ifndef TK
#define TK 16        /* key rows per tile */
#endif
#ifndef ZS
#define ZS Z         /* features of q/k staged per slice */
#endif
#ifndef ATTN_GAU
#define ATTN_GAU 0   /* 1: the prelude of gau_step.cl (the streaming layer step) */
#endif

#define LDS (Z + 2 * H)                 /* floats per row of s */
#define ZP ((Z + 1) / 2)                /* feature pairs (the last may be single) */
#define NHS ((H + NT - 1) / NT)         /* output columns per work-item */
#define NZS ((Z + ZS - 1) / ZS)         /* feature slices */
#define SPT ((TQ * TK + NT - 1) / NT)   /* scores per work-item per tile */
#define KLD (ZS + 1)                    /* padded row of the staged k tile */
#if NT % TK != 0
#error "NT must be a multiple of TK"
#endif

#if ROTARY && Z >= 2
#ifdef ROT_FREQ
/* f_m = 1/10000^(2m/Z), exact float values from the host */
__constant float rot_freq[Z / 2] = ROT_FREQ;
#define FREQ(m_) rot_freq[m_]
#else
#define FREQ(m_) (1.0f / pow(10000.0f, (float)(2 * (m_)) / (float)Z))
#endif
#endif

/* q and k for features (2m, 2m+1) of one row z (feature 2m+1 only if < Z):
 * gamma/beta, then the rotation by (float)pos * f_m. Returns through pointers;
 * qv[1], kv[1] are unused when 2m+1 == Z. */
static void qk_pair(__global const float *zr, __global const float *gam, __global const float *bet,
                    const int m, const int pos, float *qv, float *kv) {
    const int c0 = 2 * m, c1 = 2 * m + 1;
    const float z0 = zr[c0];
    qv[0] = z0 * gam[c0] + bet[c0];
    kv[0] = z0 * gam[Z + c0] + bet[Z + c0];
    qv[1] = 0.0f;
    kv[1] = 0.0f;
    if (c1 < Z) {
        const float z1 = zr[c1];
        qv[1] = z1 * gam[c1] + bet[c1];
        kv[1] = z1 * gam[Z + c1] + bet[Z + c1];
#if ROTARY && Z >= 2
        const float ang = (float)pos * FREQ(m);
        const float cs = cos(ang), sn = sin(ang);
        const float qa = qv[0], qb = qv[1], ka = kv[0], kb = kv[1];
        qv[0] = qa * cs - qb * sn;
        qv[1] = qa * sn + qb * cs;
        kv[0] = ka * cs - kb * sn;
        kv[1] = ka * sn + kb * cs;
#else
        (void)pos;
#endif
    }
}

/* The simple relative bias between query position pi and key position pj. */
static float rel_bias_at(__global const float *rel, const int pi, const int pj) {
    long d = (long)(P - 1) + (long)pj - (long)pi;
    d = d < 0 ? 0 : (d > 2 * (P - 1) ? 2 * (P - 1) : d);
    return rel[d];
}

#if !ATTN_GAU
/* One work-item per (row, feature pair). Writes q (divided by qdiv) and k as
 * M x Z, and win[2i], win[2i+1] = the first and last key row of row i's window
 * (the row's sequence found by binary search of cstart). */
__kernel void attn_prep(const int M, const int n_seq, const float qdiv,
                        __global const int *cstart, const ulong cstart_off,
                        __global const int *cpos, const ulong cpos_off,
                        __global const float *s, const ulong s_off,
                        __global const float *gam, const ulong gam_off,
                        __global const float *bet, const ulong bet_off,
                        __global float *qo, const ulong q_off,
                        __global float *ko, const ulong k_off,
                        __global int *win, const ulong win_off) {
    const ulong gid = get_global_id(0);
    if (gid >= (ulong)M * (ulong)ZP) return;
    const int i = (int)(gid / ZP);
    const int m = (int)(gid % ZP);
    const int pos = cpos[cpos_off + i];
    float qv[2], kv[2];
    qk_pair(s + s_off + (ulong)i * LDS, gam + gam_off, bet + bet_off, m, pos, qv, kv);
    const ulong o = (ulong)i * Z + 2 * m;
    qo[q_off + o] = qv[0] / qdiv;
    ko[k_off + o] = kv[0];
    if (2 * m + 1 < Z) {
        qo[q_off + o + 1] = qv[1] / qdiv;
        ko[k_off + o + 1] = kv[1];
    }
    if (m == 0) {
        /* largest b < n_seq with cstart[b] <= i (empty sequences skipped) */
        int lo = 0, hi = n_seq - 1;
        while (lo < hi) {
            const int mid = (lo + hi + 1) / 2;
            if (cstart[cstart_off + mid] <= i) lo = mid;
            else hi = mid - 1;
        }
        const int sb = cstart[cstart_off + lo], se = cstart[cstart_off + lo + 1] - 1;
        const long a = (long)i - W;
        const long b = CAUSAL ? (long)i : (long)i + W;
        win[win_off + 2 * (ulong)i] = (int)(a > sb ? a : sb);
        win[win_off + 2 * (ulong)i + 1] = (int)(b < se ? b : se);
    }
}

/* Global size ceil(M/TQ) * NT, local size NT. */
__kernel __attribute__((reqd_work_group_size(NT, 1, 1)))
void attn_window(const int M,
                 __global const int *cpos, const ulong cpos_off,
                 __global const float *s, const ulong s_off,
                 __global const float *qg, const ulong q_off,
                 __global const float *kg, const ulong k_off,
                 __global const int *win, const ulong win_off,
                 __global const float *rel, const ulong rel_off,
                 __global float *out, const ulong out_off) {
    __local float qs[TQ * ZS];
    __local float ks[TK * KLD];
    __local float sc[TQ * TK];
    __local int qlo[TQ], qhi[TQ], qps[TQ], kps[TK];
#if SOFTMAX
    __local float mrun[TQ], lrun[TQ], alph[TQ];
#endif
    const int t = (int)get_local_id(0);
    const int i0 = (int)get_group_id(0) * TQ;
    const int nq = min(TQ, M - i0);

    for (int q = t; q < TQ; q += NT) {
        if (q < nq) {
            qlo[q] = win[win_off + 2 * (ulong)(i0 + q)];
            qhi[q] = win[win_off + 2 * (ulong)(i0 + q) + 1];
            qps[q] = cpos[cpos_off + i0 + q];
        } else {
            qlo[q] = 1;
            qhi[q] = 0;
            qps[q] = 0;
        }
#if SOFTMAX
        mrun[q] = -INFINITY;
        lrun[q] = 0.0f;
#endif
    }
#if NZS == 1
    /* the whole q tile fits: stage it once */
    for (int x = t; x < TQ * Z; x += NT) {
        const int q = x / Z, c = x % Z;
        qs[q * ZS + c] = q < nq ? qg[q_off + (ulong)(i0 + q) * Z + c] : 0.0f;
    }
#endif
    barrier(CLK_LOCAL_MEM_FENCE);
    /* windows are non-decreasing in the row, so the union is [lo(i0), hi(last)] */
    const int kmin = qlo[0];
    const int kmax = qhi[nq - 1];

    float acc[NHS][TQ];
    for (int c = 0; c < NHS; c++)
        for (int q = 0; q < TQ; q++) acc[c][q] = 0.0f;

    for (int j0 = kmin; j0 <= kmax; j0 += TK) {
        float dot[SPT];
        for (int p = 0; p < SPT; p++) dot[p] = 0.0f;
        for (int z0 = 0; z0 < Z; z0 += ZS) {
            const int zn = min(ZS, Z - z0);
            barrier(CLK_LOCAL_MEM_FENCE); /* previous tile / slice fully used */
#if NZS > 1
            for (int x = t; x < TQ * ZS; x += NT) {
                const int q = x / ZS, c = x % ZS;
                qs[x] = (q < nq && c < zn) ? qg[q_off + (ulong)(i0 + q) * Z + z0 + c] : 0.0f;
            }
#endif
            for (int x = t; x < TK * ZS; x += NT) {
                const int j = x / ZS, c = x % ZS;
                const int row = j0 + j;
                ks[j * KLD + c] = (row <= kmax && c < zn) ? kg[k_off + (ulong)row * Z + z0 + c] : 0.0f;
            }
            if (z0 == 0)
                for (int j = t; j < TK; j += NT) kps[j] = j0 + j <= kmax ? cpos[cpos_off + j0 + j] : 0;
            barrier(CLK_LOCAL_MEM_FENCE);
            /* work-item t owns pairs x = t + p*NT: one key j = t % TK (NT is a
             * multiple of TK), queries q = x / TK; k is read once per feature */
            {
                const int j = t % TK;
                for (int c = 0; c < zn; c++) {
                    const float kv = ks[j * KLD + c];
                    for (int p = 0; p < SPT; p++) {
                        const int q = (t + p * NT) / TK;
                        if (q < TQ) dot[p] += qs[q * ZS + c] * kv;
                    }
                }
            }
        }
        for (int p = 0; p < SPT; p++) {
            const int x = t + p * NT;
            if (x < TQ * TK) {
                const int q = x / TK, j = x % TK;
                const int row = j0 + j;
                const int ok = row >= qlo[q] && row <= qhi[q];
                float sv = dot[p];
#if !ROTARY
                sv += rel_bias_at(rel + rel_off, qps[q], kps[j]);
#endif
#if SOFTMAX
                sc[j * TQ + q] = ok ? sv : -INFINITY;
#else
                const float rl = fmax(sv, 0.0f);
                sc[j * TQ + q] = ok ? rl * rl : 0.0f;
#endif
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#if SOFTMAX
        for (int q = t; q < TQ; q += NT) {
            float mx = -INFINITY;
            for (int j = 0; j < TK; j++) mx = fmax(mx, sc[j * TQ + q]);
            const float mold = mrun[q];
            const float mnew = fmax(mold, mx);
            if (mnew == -INFINITY) { /* nothing valid yet for this row */
                for (int j = 0; j < TK; j++) sc[j * TQ + q] = 0.0f;
                alph[q] = 1.0f;
            } else {
                float sum = 0.0f;
                for (int j = 0; j < TK; j++) {
                    const float e = exp(sc[j * TQ + q] - mnew);
                    sc[j * TQ + q] = e;
                    sum += e;
                }
                const float a = exp(mold - mnew);
                alph[q] = a;
                lrun[q] = lrun[q] * a + sum;
                mrun[q] = mnew;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#endif
        const int jn = min(TK, kmax - j0 + 1);
        for (int c = 0; c < NHS; c++) {
            const int h = t + c * NT;
            if (h < H) {
#if SOFTMAX
                for (int q = 0; q < TQ; q++) acc[c][q] *= alph[q];
#endif
                __global const float *vp = s + s_off + (ulong)j0 * LDS + Z + H + h;
                for (int j = 0; j < jn; j++) {
                    const float v = vp[(ulong)j * LDS];
                    for (int q = 0; q < TQ; q++) acc[c][q] += sc[j * TQ + q] * v;
                }
            }
        }
    }

    for (int c = 0; c < NHS; c++) {
        const int h = t + c * NT;
        if (h < H)
            for (int q = 0; q < nq; q++) {
                const ulong i = (ulong)(i0 + q);
#if SOFTMAX
                const float o = acc[c][q] / lrun[q];
#else
                const float o = acc[c][q];
#endif
                out[out_off + i * H + h] = o * s[s_off + i * LDS + Z + h];
            }
    }
}

/* ---- attn_reg: the CPU-class attention (no local memory, no barriers) ----
 * One work-item owns RQ consecutive query rows and every output column. It
 * computes the scores of its rows against the union of their windows (at most
 * RSPAN keys) into a private array, weights them (relu2, or an exact softmax
 * over the whole window: every score is at hand), then accumulates the values
 * in column chunks of RVW * RNV floats held in RQ * RNV vector registers, each
 * value vector loaded once for the RQ rows. Same arguments as attn_window;
 * global size ceil(M / RQ) (rounded up to the local size). The host uses it
 * only when RQ * RSPAN floats of private memory are reasonable. */
#ifndef RQ
#define RQ 6
#endif
#ifndef RVW
#define RVW 8
#endif
#ifndef RNV
#define RNV 2
#endif
#define RSPAN ((CAUSAL ? W : 2 * W) + RQ)
#define RCOLS (RVW * RNV)
#define R_CAT_(a, b) a##b
#define R_CAT(a, b) R_CAT_(a, b)
#if RVW == 1
#define RVEC float
#define RLOAD(i, p) ((p)[i])
#define RSTORE(v, i, p) ((p)[i] = (v))
#else
#define RVEC R_CAT(float, RVW)
#define RLOAD(i, p) R_CAT(vload, RVW)(i, p)
#define RSTORE(v, i, p) R_CAT(vstore, RVW)(v, i, p)
#endif

static float r_hsum(const RVEC v) {
#if RVW == 1
    return v;
#else
    float t[RVW];
    RSTORE(v, 0, t);
    float s = 0.0f;
    for (int i = 0; i < RVW; i++) s += t[i];
    return s;
#endif
}

__kernel void attn_reg(const int M,
                       __global const int *cpos, const ulong cpos_off,
                       __global const float *s, const ulong s_off,
                       __global const float *qg, const ulong q_off,
                       __global const float *kg, const ulong k_off,
                       __global const int *win, const ulong win_off,
                       __global const float *rel, const ulong rel_off,
                       __global float *out, const ulong out_off) {
    const int i0 = (int)get_global_id(0) * RQ;
    if (i0 >= M) return;
    const int nq = min(RQ, M - i0);
    int lo[RQ], hi[RQ];
#if !ROTARY
    int ps[RQ];
#endif
    for (int q = 0; q < RQ; q++) {
        if (q < nq) {
            lo[q] = win[win_off + 2 * (ulong)(i0 + q)];
            hi[q] = win[win_off + 2 * (ulong)(i0 + q) + 1];
#if !ROTARY
            ps[q] = cpos[cpos_off + i0 + q];
#endif
        } else {
            lo[q] = 1;
            hi[q] = 0;
#if !ROTARY
            ps[q] = 0;
#endif
        }
    }
    /* windows are non-decreasing in the row: the union is [lo(i0), hi(last)] */
    const int kmin = lo[0];
    int nk = hi[nq - 1] - kmin + 1;
    nk = nk < 0 ? 0 : (nk > RSPAN ? RSPAN : nk);
    float sc[RQ][RSPAN];
    __global const float *qr[RQ];
    for (int q = 0; q < RQ; q++) qr[q] = qg + q_off + (ulong)(i0 + (q < nq ? q : 0)) * Z;

    for (int j = 0; j < nk; j++) {
        const int row = kmin + j;
        __global const float *kr = kg + k_off + (ulong)row * Z;
        float d[RQ];
#if Z % RVW == 0
        RVEC a[RQ];
        for (int q = 0; q < RQ; q++) a[q] = (RVEC)(0.0f);
        for (int z = 0; z < Z; z += RVW) {
            const RVEC kv = RLOAD(0, kr + z);
            for (int q = 0; q < RQ; q++) a[q] = fma(RLOAD(0, qr[q] + z), kv, a[q]);
        }
        for (int q = 0; q < RQ; q++) d[q] = r_hsum(a[q]);
#else
        for (int q = 0; q < RQ; q++) d[q] = 0.0f;
        for (int z = 0; z < Z; z++) {
            const float kv = kr[z];
            for (int q = 0; q < RQ; q++) d[q] = fma(qr[q][z], kv, d[q]);
        }
#endif
#if !ROTARY
        const int pj = cpos[cpos_off + row];
#endif
        for (int q = 0; q < RQ; q++) {
            const int ok = row >= lo[q] && row <= hi[q];
            float sv = d[q];
#if !ROTARY
            sv += rel_bias_at(rel + rel_off, ps[q], pj);
#endif
#if SOFTMAX
            sc[q][j] = ok ? sv : -INFINITY;
#else
            const float rl = fmax(sv, 0.0f);
            sc[q][j] = ok ? rl * rl : 0.0f;
#endif
        }
    }
    float scale[RQ];
    for (int q = 0; q < RQ; q++) {
        scale[q] = 1.0f;
#if SOFTMAX
        float mx = -INFINITY;
        for (int j = 0; j < nk; j++) mx = fmax(mx, sc[q][j]);
        float sum = 0.0f;
        for (int j = 0; j < nk; j++) {
            const float ev = mx == -INFINITY ? 0.0f : exp(sc[q][j] - mx);
            sc[q][j] = ev;
            sum += ev;
        }
        scale[q] = sum > 0.0f ? 1.0f / sum : 0.0f;
#endif
    }

    __global const float *v0 = s + s_off + (ulong)kmin * LDS + Z + H;
    int h0 = 0;
    for (; h0 + RCOLS <= H; h0 += RCOLS) {
        RVEC acc[RQ][RNV];
        for (int q = 0; q < RQ; q++)
            for (int u = 0; u < RNV; u++) acc[q][u] = (RVEC)(0.0f);
        __global const float *vp = v0 + h0;
        for (int j = 0; j < nk; j++, vp += LDS) {
            RVEC v[RNV];
            for (int u = 0; u < RNV; u++) v[u] = RLOAD(u, vp);
            for (int q = 0; q < RQ; q++) {
                const RVEC wv = (RVEC)(sc[q][j]);
                for (int u = 0; u < RNV; u++) acc[q][u] = fma(wv, v[u], acc[q][u]);
            }
        }
        for (int q = 0; q < nq; q++) {
            const ulong i = (ulong)(i0 + q);
            __global const float *rr = s + s_off + i * LDS + Z + h0;
            __global float *op = out + out_off + i * H + h0;
            for (int u = 0; u < RNV; u++)
                RSTORE(acc[q][u] * (RVEC)(scale[q]) * RLOAD(u, rr), u, op);
        }
    }
    for (int h = h0; h < H; h++) { /* columns past the last whole chunk */
        float acc[RQ];
        for (int q = 0; q < RQ; q++) acc[q] = 0.0f;
        __global const float *vp = v0 + h;
        for (int j = 0; j < nk; j++, vp += LDS) {
            const float v = *vp;
            for (int q = 0; q < RQ; q++) acc[q] = fma(sc[q][j], v, acc[q]);
        }
        for (int q = 0; q < nq; q++) {
            const ulong i = (ulong)(i0 + q);
            out[out_off + i * H + h] = acc[q] * scale[q] * s[s_off + i * LDS + Z + h];
        }
    }
}

#endif /* !ATTN_GAU */

/* Tree reduction of red[0..NT) (NT a power of two) with max (is_max) or sum;
 * the work-item's value is v. Every work-item reaches every barrier. */
static float wg_reduce(__local float *red, const int t, const float v, const int is_max) {
    red[t] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = NT / 2; k > 0; k >>= 1) {
        if (t < k) red[t] = is_max ? fmax(red[t], red[t + k]) : red[t] + red[t + k];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* One query against the ring, run by every work-item of one work-group of NT
 * (pointers already at their offsets; qs [Z], sc [NT], red [NT] local).
 * The new entry goes to slot (head + n) % cap; the keys are entries 0..n. */
static void attn_step_wg(const int pos, const int head, const int n, const int cap,
                         const float qdiv, __global const float *s, __global const float *gam,
                         __global const float *bet, __global const float *rel, __global float *kr,
                         __global float *vr, __global int *pr, __global float *out,
                         __local float *qs, __local float *sc, __local float *red) {
    const int t = (int)get_local_id(0);
    const ulong slot = (ulong)((head + n) % cap);
    for (int m = t; m < ZP; m += NT) {
        float qv[2], kv[2];
        qk_pair(s, gam, bet, m, pos, qv, kv);
        qs[2 * m] = qv[0] / qdiv;
        kr[slot * Z + 2 * m] = kv[0];
        if (2 * m + 1 < Z) {
            qs[2 * m + 1] = qv[1] / qdiv;
            kr[slot * Z + 2 * m + 1] = kv[1];
        }
    }
    for (int h = t; h < H; h += NT) vr[slot * H + h] = s[Z + H + h];
    if (t == 0) pr[slot] = pos;
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);

    float acc[NHS];
    for (int c = 0; c < NHS; c++) acc[c] = 0.0f;
#if SOFTMAX
    float mrun = -INFINITY, lrun = 0.0f;
#endif
    const int nk = n + 1;
    for (int j0 = 0; j0 < nk; j0 += NT) {
        const int j = j0 + t;
#if SOFTMAX
        float sv = -INFINITY;
#else
        float sv = 0.0f;
#endif
        if (j < nk) {
            const ulong sl = (ulong)((head + j) % cap);
            float d = 0.0f;
            for (int c = 0; c < Z; c++) d += qs[c] * kr[sl * Z + c];
#if !ROTARY
            d += rel_bias_at(rel, pos, pr[sl]);
#endif
#if SOFTMAX
            sv = d;
#else
            const float rl = fmax(d, 0.0f);
            sv = rl * rl;
#endif
        }
#if SOFTMAX
        const float mnew = fmax(mrun, wg_reduce(red, t, sv, 1)); /* finite: key j0 is valid */
        const float e = exp(sv - mnew);
        sc[t] = e;
        const float sum = wg_reduce(red, t, e, 0);
        const float a = exp(mrun - mnew);
        lrun = lrun * a + sum;
        mrun = mnew;
#else
        sc[t] = sv;
        barrier(CLK_LOCAL_MEM_FENCE);
#endif
        const int jn = min(NT, nk - j0);
        for (int c = 0; c < NHS; c++) {
            const int h = t + c * NT;
            if (h < H) {
#if SOFTMAX
                acc[c] *= a;
#endif
                for (int jj = 0; jj < jn; jj++) {
                    const ulong sl = (ulong)((head + j0 + jj) % cap);
                    acc[c] += sc[jj] * vr[sl * H + h];
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* sc is rewritten by the next tile */
    }
    for (int c = 0; c < NHS; c++) {
        const int h = t + c * NT;
        if (h < H) {
#if SOFTMAX
            const float o = acc[c] / lrun;
#else
            const float o = acc[c];
#endif
            out[h] = o * s[Z + h];
        }
    }
}

#if !ATTN_GAU
/* One query against the ring (attn_step_wg); a single work-group of NT. */
__kernel __attribute__((reqd_work_group_size(NT, 1, 1)))
void attn_step(const int pos, const int head, const int n, const int cap, const float qdiv,
               __global const float *s, const ulong s_off,
               __global const float *gam, const ulong gam_off,
               __global const float *bet, const ulong bet_off,
               __global const float *rel, const ulong rel_off,
               __global float *kr, const ulong kr_off,
               __global float *vr, const ulong vr_off,
               __global int *pr, const ulong pr_off,
               __global float *out, const ulong out_off) {
    __local float qs[Z];
    __local float sc[NT];
    __local float red[NT];
    attn_step_wg(pos, head, n, cap, qdiv, s + s_off, gam + gam_off, bet + bet_off, rel + rel_off,
                 kr + kr_off, vr + vr_off, pr + pr_off, out + out_off, qs, sc, red);
}

#endif /* !ATTN_GAU */

#if !ATTN_GAU
/* Rows first..n_rows-1 of s (row j at ring slot (base + j) % cap): k, v, pos.
 * One work-item per (row, element), element < max(ZP, H). */
__kernel void attn_ring_append(const int n_rows, const int first, const int base, const int cap,
                               __global const float *s, const ulong s_off,
                               __global const int *cpos, const ulong cpos_off,
                               __global const float *gam, const ulong gam_off,
                               __global const float *bet, const ulong bet_off,
                               __global float *kr, const ulong kr_off,
                               __global float *vr, const ulong vr_off,
                               __global int *pr, const ulong pr_off) {
    const int E = ZP > H ? ZP : H;
    const ulong gid = get_global_id(0);
    const ulong cnt = (ulong)(n_rows - first) * (ulong)E;
    if (gid >= cnt) return;
    const int j = first + (int)(gid / E);
    const int x = (int)(gid % E);
    const ulong slot = (ulong)((base + j) % cap);
    __global const float *row = s + s_off + (ulong)j * LDS;
    const int pos = cpos[cpos_off + j];
    if (x < ZP) {
        float qv[2], kv[2];
        qk_pair(row, gam + gam_off, bet + bet_off, x, pos, qv, kv);
        kr[kr_off + slot * Z + 2 * x] = kv[0];
        if (2 * x + 1 < Z) kr[kr_off + slot * Z + 2 * x + 1] = kv[1];
    }
    if (x < H) vr[vr_off + slot * H + x] = row[Z + H + x];
    if (x == 0) pr[pr_off + slot] = pos;
}
#endif /* !ATTN_GAU */
