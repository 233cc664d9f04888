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
__kernel void ema_step(__global const float *coef, __global const float *omega,
                       __global float *h, __global const float *x, const ulong x_off,
                       __global float *mx, const ulong mx_off, __global float *xring,
                       const int trunc, const int slot, const int have_old, const int D,
                       const int N) {
    const int d = get_global_id(0);
    if (d >= D) return;
    const float xv = x[x_off + d];
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

/* The decode step's combine with the gate decision as arguments (no buffer
 * writes from the host): x[d] = silu(hx[d] + (act ? w * g[d] : 0) + x[d]).
 * One work-item per channel. */
__kernel void step_combine(const int D, __global const float *hx, const ulong hx_off,
                           __global const float *g, const int act, const float w,
                           __global float *x) {
    const int d = get_global_id(0);
    if (d >= D) return;
    const float v = hx[hx_off + d] + (act ? w * g[d] : 0.0f) + x[d];
    x[d] = v / (1.0f + exp(-v));
}
