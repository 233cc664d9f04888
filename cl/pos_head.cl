/* pos_head.cl - the model-file version 2 pieces (docs/FAIRSEQ.md section 2):
 * the norms without centering (ScaleNorm, RMSNorm), the scaled sinusoidal
 * absolute positions, gelu, the two-input feature of a pair model and an index
 * fill (compressed indices as the positions of the `local` bias).
 * Host: runtime/ops/pos_head.c; reference: tests/ref/ref_pos_head.c;
 * test: tests/test_pos_head.c. OpenCL C 1.2, no extensions. All offsets are
 * in elements. */

#define SB_NORM_EPS 1e-5f

/* One work-item per row of D floats: ms = mean(x^2);
 * y = (x * w) / sqrt(ms + eps) with w = w[c] (rmsnorm, per_feature 1) or w[0]
 * (scalenorm, per_feature 0). y may alias x (each item reads its row first). */
__kernel void rms_norm(const int T, const int D, const int per_feature,
                       __global const float *x, const ulong x_off,
                       __global const float *w, const ulong w_off,
                       __global float *y, const ulong y_off) {
    const int r = (int)get_global_id(0);
    if (r >= T) return;
    __global const float *xr = x + x_off + (ulong)r * (ulong)D;
    __global float *yr = y + y_off + (ulong)r * (ulong)D;
    float ss = 0.0f;
    for (int c = 0; c < D; c++) ss = fma(xr[c], xr[c], ss);
    const float inv = 1.0f / sqrt(ss / (float)D + SB_NORM_EPS);
    const float w0 = w[w_off];
    for (int c = 0; c < D; c++) {
        const float wc = per_feature ? w[w_off + (ulong)c] : w0;
        yr[c] = (xr[c] * wc) * inv;
    }
}

/* The row r's position: r - start[b] + pos0 for the sequence b holding row r
 * (start ascending, n_seq of them; binary search), or r + pos0 when n_seq is 0. */
static int row_position(const int r, const int n_seq, __global const int *start, const ulong so,
                        const int pos0) {
    if (n_seq <= 0) return r + pos0;
    int lo = 0, hi = n_seq - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (start[so + (ulong)mid] <= r) lo = mid;
        else hi = mid - 1;
    }
    return r - start[so + (ulong)lo] + pos0;
}

/* Global (D2, T): x[r, m] += s*sin(a), x[r, m + D2] += s*cos(a),
 * a = (float)t * inv_freq[m], t = the row's position, s = scale[0]. */
__kernel void add_sinusoid(const int T, const int D2, const int n_seq,
                           __global const int *start, const ulong start_off, const int pos0,
                           __global const float *scale, const ulong scale_off,
                           __global const float *inv_freq, const ulong inv_off,
                           __global float *x, const ulong x_off) {
    const int m = (int)get_global_id(0);
    const int r = (int)get_global_id(1);
    if (m >= D2 || r >= T) return;
    const int t = row_position(r, n_seq, start, start_off, pos0);
    const float a = (float)t * inv_freq[inv_off + (ulong)m];
    const float s = scale[scale_off];
    __global float *xr = x + x_off + (ulong)r * (ulong)(2 * D2);
    xr[m] = xr[m] + sin(a) * s;
    xr[m + D2] = xr[m + D2] + cos(a) * s;
}

/* In place on n floats: x = x/2 * (1 + erf(x / sqrt(2))). */
__kernel void gelu(const int n, __global float *x, const ulong x_off) {
    const int i = (int)get_global_id(0);
    if (i >= n) return;
    const float v = x[x_off + (ulong)i];
    x[x_off + (ulong)i] = v * 0.5f * (1.0f + erf(v * 0.70710678118654752f));
}

/* Global (D, B): y[b] = [r1, r0, r0*r1, r0-r1] (nli, width 4D) or [r1, r0]
 * (concat, width 2D). */
__kernel void pair_feature(const int B, const int D, const int nli,
                           __global const float *r0, const ulong r0_off,
                           __global const float *r1, const ulong r1_off,
                           __global float *y, const ulong y_off) {
    const int c = (int)get_global_id(0);
    const int b = (int)get_global_id(1);
    if (c >= D || b >= B) return;
    const float a = r0[r0_off + (ulong)b * (ulong)D + (ulong)c];
    const float p = r1[r1_off + (ulong)b * (ulong)D + (ulong)c];
    const int F = nli ? 4 * D : 2 * D;
    __global float *yr = y + y_off + (ulong)b * (ulong)F;
    yr[c] = p;
    yr[D + c] = a;
    if (nli) {
        yr[2 * D + c] = a * p;
        yr[3 * D + c] = a - p;
    }
}

/* y[i] = base + i, i < n. */
__kernel void iota(const int n, const int base, __global int *y, const ulong y_off) {
    const int i = (int)get_global_id(0);
    if (i < n) y[y_off + (ulong)i] = base + i;
}
