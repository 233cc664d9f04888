/* stream_step.cl - one decode step of the EMA for a single sequence.
 *
 * Per channel d and n < N, with coef [3][D][N] = q, c, g (see ema_scan.cl):
 *   h = q h + c x_t                       (no truncation)
 *   h = q h + (c x_t - c q^T x_{t-T})     (truncation T: the same identity as
 *                                          the scan; x_{t-T} from a ring of
 *                                          the last T inputs, 0 before t = T)
 *   y = sum_n g h,  mx = silu(y + omega x_t)
 * One work-item per channel; the state lives on the device between steps.
 */
/* The EMA step of channel d for input xv (see above); writes mx[mx_off + d]. */
static void ema_channel(__global const float *coef, __global const float *omega,
                        __global float *h, const float xv, __global float *mx, const ulong mx_off,
                        __global float *xring, const int trunc, const int slot,
                        const int have_old, const int D, const int N, const int d) {
    float xo = 0.0f;
    if (trunc > 0) {
        if (have_old) xo = xring[(size_t)slot * D + d];
        xring[(size_t)slot * D + d] = xv;
    }
    const size_t KN = (size_t)D * N;
    float y = 0.0f;
    for (int n = 0; n < N; n++) {
        const size_t i = (size_t)d * N + n;
        const float q = coef[i], c = coef[KN + i], g = coef[2 * KN + i];
        float in = c * xv;
        if (trunc > 0) in -= c * pown(q, trunc) * xo;
        const float hv = q * h[i] + in;
        h[i] = hv;
        y += g * hv;
    }
    const float v = y + omega[d] * xv;
    mx[mx_off + d] = v / (1.0f + exp(-v));
}

__kernel void ema_step(__global const float *coef, __global const float *omega,
                       __global float *h, __global const float *x, const ulong x_off,
                       __global float *mx, const ulong mx_off, __global float *xring,
                       const int trunc, const int slot, const int have_old, const int D,
                       const int N) {
    const int d = get_global_id(0);
    if (d >= D) return;
    ema_channel(coef, omega, h, x[x_off + d], mx, mx_off, xring, trunc, slot, have_old, D, N, d);
}

/* Tree sum of red[0 .. n) (n = the work-group size, a power of two); v is this
 * work-item's value. Every work-item reaches every barrier. */
static float step_wg_sum(__local float *red, const int lid, const int n, const float v) {
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = n >> 1; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* The prenorm LayerNorm of the row x (as norm_eltwise.cl's layernorm: shifted
 * by x[0], two passes, eps 1e-5) by one work-group (size nt, a power of two,
 * red nt floats): its mean m and 1/sqrt(var + eps) in *inv. Every work-item
 * reaches every barrier. */
static float step_norm_stats(__global const float *x, const int D, __local float *red, const int lid,
                             const int nt, float *inv) {
    const float x0 = x[0];
    float acc = 0.0f;
    for (int c = lid; c < D; c += nt) acc += x[c] - x0;
    const float m = step_wg_sum(red, lid, nt, acc) / (float)D;
    acc = 0.0f;
    for (int c = lid; c < D; c += nt) {
        const float dv = (x[c] - x0) - m;
        acc += dv * dv;
    }
    const float var = step_wg_sum(red, lid, nt, acc) / (float)D;
    *inv = 1.0f / sqrt(var + 1e-5f);
    return m;
}

/* Channel d of the normed row (m, inv from step_norm_stats). */
static float step_norm_at(__global const float *x, __global const float *nw, __global const float *nb,
                          const float m, const float inv, const int d) {
    return ((x[d] - x[0]) - m) * inv * nw[d] + nb[d];
}

/* The prenorm LayerNorm of the row x into xn, then the EMA step on it: one
 * launch instead of two (the CPU class's decode). One work-group (size a
 * power of two, red that many floats); each work-item owns channels lid,
 * lid + size, ... for both parts. */
__kernel void norm_ema_step(__global const float *coef, __global const float *omega,
                            __global float *h, __global const float *x,
                            __global const float *nw, __global const float *nb,
                            __global float *xn, __global float *mx, __global float *xring,
                            const int trunc, const int slot, const int have_old, const int D,
                            const int N, __local float *red) {
    const int lid = (int)get_local_id(0), nt = (int)get_local_size(0);
    float inv;
    const float m = step_norm_stats(x, D, red, lid, nt, &inv);
    for (int d = lid; d < D; d += nt) {
        const float xv = step_norm_at(x, nw, nb, m, inv, d);
        xn[d] = xv;
        ema_channel(coef, omega, h, xv, mx, 0, xring, trunc, slot, have_old, D, N, d);
    }
}

/* The same token split for GPU-class devices: norm_step (this LayerNorm alone,
 * one work-group: its two reductions) writes xn, then ema_step over xn runs a
 * work-item per channel over as many work-groups as D needs. Each value is
 * computed by the same code as in norm_ema_step, so both give the same bits. */
__kernel void norm_step(__global const float *x, __global const float *nw, __global const float *nb,
                        __global float *xn, const int D, __local float *red) {
    const int lid = (int)get_local_id(0), nt = (int)get_local_size(0);
    float inv;
    const float m = step_norm_stats(x, D, red, lid, nt, &inv);
    for (int d = lid; d < D; d += nt) xn[d] = step_norm_at(x, nw, nb, m, inv, d);
}
