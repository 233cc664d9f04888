/* gau_step.cl - one token of a causal layer of a streaming decode, from its
 * EMA output mx to the layer output (SPEC section 3 steps 3-11 for one row).
 *
 *   gau_step     hx_proj, the gate, mx_proj, the attention step against the
 *                ring, h_proj and the combine in one work-group: the CPU
 *                class's decode.
 *   gau_proj, gau_attn, gau_combine  the same token split for GPU-class
 *                devices: each projection over many work-groups (gau_proj,
 *                reading the gate on the device), the attention in one
 *                work-group (its reductions), the combine and the ring's
 *                state over many; identical sums per output.
 *
 * Not a program on its own: runtime/ops/gau_step.c builds it after
 * window_attn.cl with ATTN_GAU 1 (the stem "window_attn+gau_step"), which
 * gives the shape macros (Z, H, W, NT, LDS, ...) and the ring attention
 * (qk_pair, rel_bias_at, attn_step_wg) and leaves window_attn.cl's own
 * kernels out. Launcher: runtime/ops/gau_step.c; reference:
 * tests/ref/ref_gau_step.c; test: tests/test_gau_step.c.
 */
/* c[j] = act(sum_i a[i] wt[i][j] + b[j]), j < n, from the transposed weight
 * wt [k][n]: a work-item owns 8 neighbouring outputs (one float8 row slice
 * of wt per i: 8 independent sums), the work-group's items the slices
 * v = t, t + NT, ...; a last partial slice runs scalar. Each sum runs in the
 * order of linear.cl's linear_reg (fma from 0 over i, then the bias), so a
 * row gives what the forward's product gives on the same device class. */
#ifndef SB_W /* built without the weight-type text (runtime/wtype.c): f32 */
#define SB_W 0
typedef float wt_t;
#define WLOAD(i, p) ((p)[i])
#endif
#if SB_W == 0
#define WLOAD8(i, p) vload8(0, (p) + (i))
#elif SB_W == 1
#define WLOAD8(i, p) vload_half8(0, (p) + (i))
#else
#define WLOAD8(i, p) WLOADV(8, 0, (p) + (i))
#endif
/* Weights of type wt_t read through WLOAD/WLOAD8 (SB_W: f32, f16, bf16, int8
 * codes whose per-output scales trail them: each finished sum is scaled
 * before the bias, as linear.cl does). */
static void gemv_range(const int n, const int k, __global const wt_t *wt, __global const float *b,
                       __global const float *a, const int act, __global float *c, const int v0,
                       const int stride) {
    const int nv = (n + 7) / 8;
    for (int v = v0; v < nv; v += stride) {
        const int j0 = v * 8;
        if (j0 + 8 <= n) {
            float8 acc = (float8)(0.0f);
            for (int i = 0; i < k; i++)
                acc = fma((float8)(a[i]), WLOAD8((ulong)i * (ulong)n + (ulong)j0, wt), acc);
#if SB_W == 3
            acc *= vload8(0, WSCALES(wt, (ulong)k * (ulong)n) + j0);
#endif
            float8 y = acc + vload8(0, b + j0);
            if (act) y = y / ((float8)(1.0f) + exp(-y));
            vstore8(y, 0, c + j0);
        } else {
            for (int j = j0; j < n; j++) {
                float acc = 0.0f;
                for (int i = 0; i < k; i++) acc = fma(a[i], WLOAD((ulong)i * (ulong)n + (ulong)j, wt), acc);
#if SB_W == 3
                acc *= WSCALES(wt, (ulong)k * (ulong)n)[j];
#endif
                float y = acc + b[j];
                if (act) y = y / (1.0f + exp(-y));
                c[j] = y;
            }
        }
    }
}

static void gemv_wg(const int n, const int k, __global const wt_t *wt, __global const float *b,
                    __global const float *a, const int act, __global float *c) {
    gemv_range(n, k, wt, b, a, act, c, (int)get_local_id(0), NT);
}

/* One token of a causal layer of a streaming decode, from its EMA output mx
 * (D floats) to the layer output in x (SPEC section 3 steps 3-11 for one row),
 * in one work-group of NT work-items:
 * (weights transposed: hx_wt [D][D+2], mx_wt [D][Z+2H], h_wt [H][D]):
 *   hxu = mx @ hx_w^T + hx_b (D+2: u = hxu[0..1], hx = hxu[2..])
 *   the gate as gate_scan: activated iff u1 > u0, w = 1 / (1 + exp((u0 - u1) * inv_tau))
 *   activated: s = silu(mx @ mx_w^T + mx_b), attention of s against the ring
 *              (attn_step_wg: appends the token), ao = o * r, g = ao @ h_w^T + h_b,
 *              x = silu(hx + w g + x)
 *   not:       x = silu(hx + x), ring untouched
 * The ring's head and count and the layer's activated-token count live on the
 * device in rs[0..2], so the gate is never read back by the host. hxu, s, ao
 * and g are work rows. Every work-item reaches every barrier (act is uniform). */
__kernel __attribute__((reqd_work_group_size(NT, 1, 1)))
void gau_step(const int D, const int pos, const int cap, const float qdiv, const float inv_tau,
              __global const float *mx,
              __global const wt_t *hx_wt, __global const float *hxb,
              __global const wt_t *mx_wt, __global const float *mxb,
              __global const wt_t *h_wt, __global const float *hb,
              __global const float *gam, __global const float *bet, __global const float *rel,
              __global float *kr, __global float *vr, __global int *pr, __global int *rs,
              __global float *hxu, __global float *s, __global float *ao, __global float *g,
              __global float *x) {
    __local float qs[Z];
    __local float sc[NT];
    __local float red[NT];
    const int t = (int)get_local_id(0);
    gemv_wg(D + 2, D, hx_wt, hxb, mx, 0, hxu);
    barrier(CLK_GLOBAL_MEM_FENCE);
    const float u0 = hxu[0], u1 = hxu[1];
    const int act = u1 > u0;
    const int head = rs[0], n = rs[1], count = rs[2];
    float w = 0.0f;
    if (act) {
        w = 1.0f / (1.0f + exp((u0 - u1) * inv_tau));
        gemv_wg(LDS, D, mx_wt, mxb, mx, 1, s);
        barrier(CLK_GLOBAL_MEM_FENCE);
        attn_step_wg(pos, head, n, cap, qdiv, s, gam, bet, rel, kr, vr, pr, ao, qs, sc, red);
        barrier(CLK_GLOBAL_MEM_FENCE);
        gemv_wg(D, H, h_wt, hb, ao, 0, g);
        barrier(CLK_GLOBAL_MEM_FENCE);
    }
    for (int d = t; d < D; d += NT) {
        const float v = hxu[2 + d] + (act ? w * g[d] : 0.0f) + x[d];
        x[d] = v / (1.0f + exp(-v));
    }
    barrier(CLK_GLOBAL_MEM_FENCE); /* every item has read rs */
    if (act && t == 0) {
        if (n < W) rs[1] = n + 1;
        else rs[0] = (head + 1) % cap;
        rs[2] = count + 1;
    }
}

/* GPU class: gau_step in four launches (gau_proj x3 with gau_attn between,
 * then gau_combine); each output is computed as gau_step computes it, so a
 * token gives the same bits on either path. */

/* c = act(a @ w^T + b) for one projection over any number of work-groups
 * (work-item v of the range owns output slice v, as in gemv_wg). gate 1:
 * nothing unless the token is activated (hxu[1] > hxu[0], on the device). No
 * barriers. */
__kernel void gau_proj(const int n, const int k, const int gate, const int act,
                       __global const wt_t *wt, __global const float *b,
                       __global const float *a, __global const float *hxu, __global float *c) {
    if (gate && !(hxu[1] > hxu[0])) return;
    gemv_range(n, k, wt, b, a, act, c, (int)get_global_id(0), (int)get_global_size(0));
}

/* The attention of an activated token against the ring (appending it), one
 * work-group of NT; the gate is uniform, so either every item returns or none. */
__kernel __attribute__((reqd_work_group_size(NT, 1, 1)))
void gau_attn(const int pos, const int cap, const float qdiv, __global const float *hxu,
              __global const float *s, __global const float *gam, __global const float *bet,
              __global const float *rel, __global float *kr, __global float *vr,
              __global int *pr, __global const int *rs, __global float *ao) {
    __local float qs[Z];
    __local float sc[NT];
    __local float red[NT];
    if (!(hxu[1] > hxu[0])) return;
    attn_step_wg(pos, rs[0], rs[1], cap, qdiv, s, gam, bet, rel, kr, vr, pr, ao, qs, sc, red);
}

/* x = silu(hx + w g + x) (activated) or silu(hx + x), over any number of
 * work-groups; item 0 advances the ring's state (no other item reads it). */
__kernel void gau_combine(const int D, const int cap, const float inv_tau, __global const float *hxu,
                          __global const float *g, __global float *x, __global int *rs) {
    const float u0 = hxu[0], u1 = hxu[1];
    const int act = u1 > u0;
    const float w = act ? 1.0f / (1.0f + exp((u0 - u1) * inv_tau)) : 0.0f;
    for (int d = (int)get_global_id(0); d < D; d += (int)get_global_size(0)) {
        const float v = hxu[2 + d] + (act ? w * g[d] : 0.0f) + x[d];
        x[d] = v / (1.0f + exp(-v));
    }
    if (act && get_global_id(0) == 0) {
        const int head = rs[0], n = rs[1];
        if (n < W) rs[1] = n + 1;
        else rs[0] = (head + 1) % cap;
        rs[2] = rs[2] + 1;
    }
}

