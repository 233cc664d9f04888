/* linear.cl - the library's own GEMM for the model's products:
 *   C[m x n] = act(A[m x k] @ W^T + bias),  W row-major [n x k] (an nn.Linear
 *   weight), act 0 = none, 1 = silu.
 *
 * Two variants, chosen by the host (runtime/ops/linear.c) per device class:
 *
 * linear_reg (CPU class). W is packed once (linear_pack) into panels of NR =
 *   LIN_VW * LIN_NV columns: panel p holds P[p][kk][j] = W[p*NR + j][kk]
 *   (zero past n), so each k step reads NR contiguous floats. One work-item
 *   computes LIN_MR rows x NR columns in LIN_MR * LIN_NV vector accumulators,
 *   broadcasting one A element per row per k. 2-D range: (panel, row tile).
 *
 * linear_lds (GPU class). A work-group computes a LIN_TM x LIN_TN tile of C;
 *   k runs in steps of LIN_TK through local memory; each work-item owns
 *   LIN_WM x LIN_WN results. Local size (LIN_TN/LIN_WN, LIN_TM/LIN_WM); the
 *   global size is rounded up to it, the edges are guarded. Reads W unpacked.
 *
 * Weights are stored as wt_t and read through WLOAD / WLOADV (SB_W, the text
 * of runtime/wtype.c prepended by the host: f32, f16 by vload_half, bf16 by a
 * shift, int8 codes); the sums run in float. int8: the per-output-channel
 * scales trail the codes (WSCALES) and multiply each finished sum, before
 * the bias.
 *
 * LIN_VARIANT (1 = reg, 2 = lds, 0 = both) leaves the other variant's kernel
 * out of the program (less to compile on first use).
 * Rows: m_cap, or, with use_mdev, min(m_cap, mdev[mdev_off]): a row count
 * left on the device by the compaction (the host launches for m_cap and
 * never reads it back); row tiles past it return at once.
 * Offsets are in elements. No barriers in linear_reg; linear_lds reaches its
 * barriers in every work-item (its only early return is the whole group's:
 * the row count is uniform). */

#ifndef LIN_VARIANT
#define LIN_VARIANT 0
#endif
#ifndef LIN_MR
#define LIN_MR 6
#endif
#ifndef LIN_VW
#define LIN_VW 8
#endif
#ifndef LIN_NV
#define LIN_NV 2
#endif
#ifndef LIN_TM
#define LIN_TM 64
#endif
#ifndef LIN_TN
#define LIN_TN 64
#endif
#ifndef LIN_TK
#define LIN_TK 16
#endif
#ifndef LIN_WM
#define LIN_WM 4
#endif
#ifndef LIN_WN
#define LIN_WN 4
#endif

#ifndef SB_W /* built without the weight-type text: f32 */
#define SB_W 0
typedef float wt_t;
typedef float wraw_t;
#define WSOFF(codes) ((((ulong)(codes)) + 63) & ~(ulong)63)
#define WSCALES(p, codes) ((__global const float *)((__global const char *)(p) + WSOFF(codes)))
#define WLOAD(i, p) ((p)[i])
#define WLOADV(N, i, p) LIN_CAT(vload, N)((i), (p))
#endif

#define LIN_CAT_(a, b) a##b
#define LIN_CAT(a, b) LIN_CAT_(a, b)
#if LIN_VW == 1
#define LVEC float
#define LVLOAD(i, p) ((p)[i])
#define LWLOAD(i, p) WLOAD(i, p)
#else
#define LWLOAD(i, p) WLOADV(LIN_VW, i, p)
#define LVEC LIN_CAT(float, LIN_VW)
#define LVLOAD(i, p) LIN_CAT(vload, LIN_VW)(i, p)
#endif
#define LIN_NR (LIN_VW * LIN_NV)

inline float lin_act(float v, int act) { return act == 1 ? v / (1.0f + exp(-v)) : v; }
#define LIN_ROWS(cap, mdev, off, use) ((use) ? min((cap), (mdev)[(off)]) : (cap))

#if LIN_VARIANT != 2
/* Pack W [n x k] (row stride ldw) into NR-column panels; 1-D range over
 * npanels * k * NR packed elements (int8: then npanels * NR scales, 0 past
 * n). A copy of the stored elements (wraw_t), no conversion. */
__kernel void linear_pack(const int n, const int k, __global const wraw_t *w, const ulong w_off,
                          const int ldw, __global wraw_t *p, const ulong p_off) {
    const ulong i = get_global_id(0);
    const ulong per_panel = (ulong)k * LIN_NR;
    const ulong panels = ((ulong)n + LIN_NR - 1) / LIN_NR;
#if SB_W == 3
    if (i >= panels * per_panel && i < panels * per_panel + panels * LIN_NR) {
        const ulong j = i - panels * per_panel;
        __global float *ps = (__global float *)((__global char *)p + WSOFF(p_off + panels * per_panel));
        ps[j] = j < (ulong)n ? WSCALES(w, w_off + (ulong)n * (ulong)ldw)[j] : 0.0f;
        return;
    }
#endif
    if (i >= panels * per_panel) return;
    const ulong panel = i / per_panel, rem = i % per_panel;
    const ulong kk = rem / LIN_NR, j = rem % LIN_NR;
    const ulong col = panel * LIN_NR + j;
    p[p_off + i] = col < (ulong)n ? w[w_off + col * (ulong)ldw + kk] : (wraw_t)0;
}

__kernel void linear_reg(const int m_cap, const int n, const int k,
                         __global const float *a, const ulong a_off, const int lda,
                         __global const wt_t *p, const ulong p_off,
                         __global const float *bias, const ulong bias_off, const int has_bias,
                         const int act, __global float *c, const ulong c_off, const int ldc,
                         __global const int *mdev, const ulong mdev_off, const int use_mdev) {
    /* rows: m_cap, or fewer when the row count is on the device (LIN_ROWS) */
    const int m = LIN_ROWS(m_cap, mdev, mdev_off, use_mdev);
    const int panel = (int)get_global_id(0);
    const int r0 = (int)get_global_id(1) * LIN_MR;
    if (panel * LIN_NR >= n || r0 >= m) return;
    __global const float *ar[LIN_MR];
#pragma unroll
    for (int i = 0; i < LIN_MR; i++) {
        const int r = r0 + i < m ? r0 + i : m - 1; /* rows past m repeat the last row */
        ar[i] = a + a_off + (ulong)r * (ulong)lda;
    }
    ulong pi = p_off + (ulong)panel * (ulong)k * LIN_NR; /* in elements of wt_t */
    LVEC acc[LIN_MR][LIN_NV];
#pragma unroll
    for (int i = 0; i < LIN_MR; i++)
#pragma unroll
        for (int v = 0; v < LIN_NV; v++) acc[i][v] = (LVEC)(0.0f);
    for (int kk = 0; kk < k; kk++) {
        LVEC b[LIN_NV];
#pragma unroll
        for (int v = 0; v < LIN_NV; v++) b[v] = LWLOAD(pi / LIN_VW + v, p); /* pi: a multiple of NR */
        pi += LIN_NR;
#pragma unroll
        for (int i = 0; i < LIN_MR; i++) {
            const LVEC av = (LVEC)(ar[i][kk]);
#pragma unroll
            for (int v = 0; v < LIN_NV; v++) acc[i][v] = fma(av, b[v], acc[i][v]);
        }
    }
    const int col0 = panel * LIN_NR;
#if SB_W == 3
    const ulong npan = ((ulong)n + LIN_NR - 1) / LIN_NR;
    __global const float *sc = WSCALES(p, p_off + npan * (ulong)k * LIN_NR);
#endif
#pragma unroll
    for (int v = 0; v < LIN_NV; v++) {
        const int cv = col0 + v * LIN_VW;
        if (cv >= n) break;
        if (cv + LIN_VW <= n) { /* whole vector inside: vector epilogue */
            LVEC bv = (LVEC)(0.0f);
            if (has_bias) bv = LVLOAD(0, bias + bias_off + cv);
#pragma unroll
            for (int i = 0; i < LIN_MR; i++) {
                if (r0 + i >= m) break;
#if SB_W == 3
                LVEC y = acc[i][v] * LVLOAD(0, sc + cv) + bv;
#else
                LVEC y = acc[i][v] + bv;
#endif
                if (act == 1) y = y / ((LVEC)(1.0f) + exp(-y));
#if LIN_VW == 1
                c[c_off + (ulong)(r0 + i) * (ulong)ldc + cv] = y;
#else
                LIN_CAT(vstore, LIN_VW)(y, 0, c + c_off + (ulong)(r0 + i) * (ulong)ldc + cv);
#endif
            }
        } else {
#pragma unroll
            for (int i = 0; i < LIN_MR; i++) {
                if (r0 + i >= m) break;
                __global float *cr = c + c_off + (ulong)(r0 + i) * (ulong)ldc;
                float t[LIN_VW];
#if LIN_VW == 1
                t[0] = acc[i][v];
#else
                LIN_CAT(vstore, LIN_VW)(acc[i][v], 0, t);
#endif
                for (int j = 0; j < LIN_VW && cv + j < n; j++) {
                    float y = t[j];
#if SB_W == 3
                    y *= sc[cv + j];
#endif
                    if (has_bias) y += bias[bias_off + cv + j];
                    cr[cv + j] = lin_act(y, act);
                }
            }
        }
    }
}

#endif /* LIN_VARIANT != 2 */

#if LIN_VARIANT != 1
__kernel void linear_lds(const int m_cap, const int n, const int k,
                         __global const float *a, const ulong a_off, const int lda,
                         __global const wt_t *w, const ulong w_off, const int ldw,
                         __global const float *bias, const ulong bias_off, const int has_bias,
                         const int act, __global float *c, const ulong c_off, const int ldc,
                         __global const int *mdev, const ulong mdev_off, const int use_mdev) {
    __local float as[LIN_TK][LIN_TM + 1];
    __local float ws[LIN_TK][LIN_TN + 1];
    const int m = LIN_ROWS(m_cap, mdev, mdev_off, use_mdev);
    const int lx = (int)get_local_id(0), ly = (int)get_local_id(1);
    const int nx = LIN_TN / LIN_WN, ny = LIN_TM / LIN_WM;
    const int lid = ly * nx + lx, nthreads = nx * ny;
    const int row0 = (int)get_group_id(1) * LIN_TM, col0 = (int)get_group_id(0) * LIN_TN;
    if (row0 >= m) return; /* the whole group (m is uniform): rows past the count */
    float acc[LIN_WM][LIN_WN];
    for (int i = 0; i < LIN_WM; i++)
        for (int j = 0; j < LIN_WN; j++) acc[i][j] = 0.0f;
    for (int k0 = 0; k0 < k; k0 += LIN_TK) {
        /* cooperative loads, k fastest so consecutive items read consecutive floats */
        for (int idx = lid; idx < LIN_TM * LIN_TK; idx += nthreads) {
            const int r = idx / LIN_TK, kk = idx % LIN_TK;
            const int gr = row0 + r, gk = k0 + kk;
            as[kk][r] = (gr < m && gk < k) ? a[a_off + (ulong)gr * (ulong)lda + gk] : 0.0f;
        }
        for (int idx = lid; idx < LIN_TN * LIN_TK; idx += nthreads) {
            const int r = idx / LIN_TK, kk = idx % LIN_TK;
            const int gc = col0 + r, gk = k0 + kk;
            ws[kk][r] = (gc < n && gk < k) ? WLOAD(w_off + (ulong)gc * (ulong)ldw + gk, w) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < LIN_TK; kk++) {
            float av[LIN_WM], wv[LIN_WN];
            for (int i = 0; i < LIN_WM; i++) av[i] = as[kk][ly + i * ny];
            for (int j = 0; j < LIN_WN; j++) wv[j] = ws[kk][lx + j * nx];
            for (int i = 0; i < LIN_WM; i++)
                for (int j = 0; j < LIN_WN; j++) acc[i][j] = fma(av[i], wv[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < LIN_WM; i++) {
        const int r = row0 + ly + i * ny;
        if (r >= m) continue;
        for (int j = 0; j < LIN_WN; j++) {
            const int col = col0 + lx + j * nx;
            if (col >= n) continue;
            float y = acc[i][j];
#if SB_W == 3
            y *= WSCALES(w, w_off + (ulong)n * (ulong)ldw)[col];
#endif
            if (has_bias) y += bias[bias_off + col];
            c[c_off + (ulong)r * (ulong)ldc + col] = lin_act(y, act);
        }
    }
}
#endif /* LIN_VARIANT != 1 */
