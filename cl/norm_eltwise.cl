/* norm_eltwise.cl - per-row norms and cheap element-wise / layout kernels on
 * the PACKED row layout (see runtime/ops/ops.h): LayerNorm, eval BatchNorm,
 * bias + activation, embedding gather, pack / unpack between padded [B][L][F]
 * and packed rows, and mean pooling per sequence.
 *
 * Every buffer comes with an element offset (`*_off`, in floats / ints).
 * Row indices are widened to 64 bits before multiplying by a row length.
 * Work-group sizes are chosen by the host (runtime/ops/norm.c) from the device
 * limits; kernels that use local memory take it as a __local argument and
 * every work-item reaches every barrier.
 */

#ifndef NORM_EPS
#define NORM_EPS 1e-5f
#endif

/* Tree reduction (sum) of red[base .. base+S) into red[base], where this
 * work-item owns red[base + j]. S is a power of two and the same for the whole
 * work-group, so every work-item runs the same barriers. */
static float seg_sum(__local float *red, const int base, const int j, const int S, const float v) {
    red[base + j] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = S >> 1; s > 0; s >>= 1) {
        if (j < s) red[base + j] += red[base + j + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = red[base];
    barrier(CLK_LOCAL_MEM_FENCE); /* red may be reused right after */
    return r;
}

/* LayerNorm over D features of each row. The 1-D work-group holds
 * get_local_size(0) / S rows, S work-items per row (S a power of two);
 * red is get_local_size(0) floats. Two passes: mean, then the biased variance
 * of (x - mean). Both work on x shifted by the row's first element x0 and the
 * mean is kept as x0 + m, so rows with a large offset and a small spread lose
 * no precision to the offset. y may alias x: every global element of a row is
 * read and written by one work-item only (x0 travels through local memory). */
__kernel void layernorm(const int T, const int D, const int S,
                        __global const float *x, const ulong x_off,
                        __global const float *w, const ulong w_off,
                        __global const float *b, const ulong b_off,
                        __global float *y, const ulong y_off,
                        __local float *red) {
    const int lid = (int)get_local_id(0);
    const int j = lid & (S - 1);
    const int base = lid - j;
    const long row = (long)get_group_id(0) * (long)(get_local_size(0) / S) + (long)(lid / S);
    const int valid = row < (long)T;
    const ulong xr = x_off + (valid ? (ulong)row * (ulong)D : 0);
    const ulong yr = y_off + (valid ? (ulong)row * (ulong)D : 0);

    /* x0 is read from global memory by the row's work-item j = 0 only (it owns
     * column 0) and handed to the others through local memory: a local barrier
     * orders local memory only, so another work-item reading x[xr] itself
     * would race with the in-place write of y[row, 0] below. */
    if (j == 0) red[base] = valid ? x[xr] : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    const float x0 = red[base];
    barrier(CLK_LOCAL_MEM_FENCE); /* red is reused by seg_sum */
    float acc = 0.0f;
    if (valid)
        for (int c = j; c < D; c += S) acc += x[xr + c] - x0;
    const float m = seg_sum(red, base, j, S, acc) / (float)D; /* mean - x0 */

    acc = 0.0f;
    if (valid)
        for (int c = j; c < D; c += S) {
            const float d = (x[xr + c] - x0) - m;
            acc += d * d;
        }
    const float var = seg_sum(red, base, j, S, acc) / (float)D;
    const float inv = 1.0f / sqrt(var + NORM_EPS);

    /* Each work-item reads and writes only its own columns c = j (mod S) of
     * the row, so y may alias x without any ordering between work-items. */
    if (valid)
        for (int c = j; c < D; c += S)
            y[yr + c] = ((x[xr + c] - x0) - m) * inv * w[w_off + c] + b[b_off + c];
}

/* ---- CPU class: one work-item per row, VW floats per vector ---------------
 * layernorm_vec computes what layernorm computes (the same two passes on x
 * shifted by x0) with one item walking the whole row in vectors of VW floats
 * (then a scalar tail when VW does not divide D): no local memory, no
 * barriers, vector code whatever the compiler's vectoriser does. */
#ifndef VW
#define VW 1
#endif
#if VW == 1
typedef float norm_v;
#define NORM_LOADV(p_) (*(p_))
#define NORM_STOREV(v_, p_) (*(p_) = (v_))
#else
#define NORM_CAT_(a_, b_) a_##b_
#define NORM_CAT(a_, b_) NORM_CAT_(a_, b_)
typedef NORM_CAT(float, VW) norm_v;
#define NORM_LOADV(p_) NORM_CAT(vload, VW)(0, p_)
#define NORM_STOREV(v_, p_) NORM_CAT(vstore, VW)(v_, 0, p_)
#endif

float norm_hsum(const norm_v v) {
    float t[VW];
    NORM_STOREV(v, t);
    float s = 0.0f;
    for (int i = 0; i < VW; ++i) s += t[i];
    return s;
}

/* 1-D range over rows (any work-group size). y may alias x (each row is read
 * and written by its own item, x0 first). */
__kernel void layernorm_vec(const int T, const int D,
                            __global const float *x, const ulong x_off,
                            __global const float *w, const ulong w_off,
                            __global const float *b, const ulong b_off,
                            __global float *y, const ulong y_off) {
    const long row = (long)get_global_id(0);
    if (row >= (long)T) return;
    __global const float *xr = x + x_off + (ulong)row * (ulong)D;
    __global float *yr = y + y_off + (ulong)row * (ulong)D;
    __global const float *wr = w + w_off;
    __global const float *br = b + b_off;
    const int nv = D / VW * VW;
    const float x0 = xr[0];
    norm_v acc = (norm_v)0.0f;
    float sacc = 0.0f;
    for (int c = 0; c < nv; c += VW) acc += NORM_LOADV(xr + c) - x0;
    for (int c = nv; c < D; ++c) sacc += xr[c] - x0;
    const float m = (norm_hsum(acc) + sacc) / (float)D; /* mean - x0 */
    acc = (norm_v)0.0f;
    sacc = 0.0f;
    for (int c = 0; c < nv; c += VW) {
        const norm_v d = (NORM_LOADV(xr + c) - x0) - m;
        acc += d * d;
    }
    for (int c = nv; c < D; ++c) {
        const float d = (xr[c] - x0) - m;
        sacc += d * d;
    }
    const float var = (norm_hsum(acc) + sacc) / (float)D;
    const float inv = 1.0f / sqrt(var + NORM_EPS);
    for (int c = 0; c < nv; c += VW)
        NORM_STOREV(((NORM_LOADV(xr + c) - x0) - m) * inv * NORM_LOADV(wr + c) + NORM_LOADV(br + c),
                    yr + c);
    for (int c = nv; c < D; ++c) yr[c] = ((xr[c] - x0) - m) * inv * wr[c] + br[c];
}

/* Eval BatchNorm, 2-D range (feature c, row t). y may alias x. */
__kernel void batchnorm(const int T, const int D,
                        __global const float *x, const ulong x_off,
                        __global const float *mean, const ulong mean_off,
                        __global const float *var, const ulong var_off,
                        __global const float *w, const ulong w_off,
                        __global const float *b, const ulong b_off,
                        __global float *y, const ulong y_off) {
    const int c = (int)get_global_id(0);
    const ulong t = get_global_id(1);
    if (c >= D || t >= (ulong)T) return;
    const ulong i = t * (ulong)D + (ulong)c;
    const float inv = 1.0f / sqrt(var[var_off + c] + NORM_EPS);
    y[y_off + i] = (x[x_off + i] - mean[mean_off + c]) * inv * w[w_off + c] + b[b_off + c];
}

/* In place x[t, c] = act(x[t, c] + bias[c]) for c < F, rows of ld floats.
 * act 0 = none, 1 = silu; has_bias 0 leaves the bias out (bias unused). */
__kernel void bias_act(const int T, const int F, const int ld,
                       __global float *x, const ulong x_off,
                       __global const float *bias, const ulong bias_off,
                       const int has_bias, const int act) {
    const int c = (int)get_global_id(0);
    const ulong t = get_global_id(1);
    if (c >= F || t >= (ulong)T) return;
    const ulong i = x_off + t * (ulong)ld + (ulong)c;
    float v = x[i];
    if (has_bias) v += bias[bias_off + c];
    if (act == 1) v = v / (1.0f + exp(-v));
    x[i] = v;
}

/* y[t, :] = table[ids[t], :], 2-D range (feature c, row t). */
__kernel void embed(const int T, const int D,
                    __global const int *ids, const ulong ids_off,
                    __global const float *table, const ulong table_off,
                    __global float *y, const ulong y_off) {
    const int c = (int)get_global_id(0);
    const ulong t = get_global_id(1);
    if (c >= D || t >= (ulong)T) return;
    const ulong id = (ulong)ids[ids_off + t];
    y[y_off + t * (ulong)D + (ulong)c] = table[table_off + id * (ulong)D + (ulong)c];
}

/* padded [B][L][F] -> packed rows. 2-D range (feature c, padded row r = b*L + t). */
__kernel void pack(const int B, const int L, const int F,
                   __global const int *start, const ulong start_off,
                   __global const int *len, const ulong len_off,
                   __global const float *padded, const ulong p_off,
                   __global float *packed, const ulong q_off) {
    const int c = (int)get_global_id(0);
    const ulong r = get_global_id(1);
    if (c >= F || r >= (ulong)B * (ulong)L) return;
    const ulong b = r / (ulong)L;
    const int t = (int)(r - b * (ulong)L);
    if (t >= len[len_off + b]) return;
    const ulong dst = (ulong)start[start_off + b] + (ulong)t;
    packed[q_off + dst * (ulong)F + (ulong)c] = padded[p_off + r * (ulong)F + (ulong)c];
}

/* packed rows -> padded [B][L][F], zeros at padded positions. */
__kernel void unpack(const int B, const int L, const int F,
                     __global const int *start, const ulong start_off,
                     __global const int *len, const ulong len_off,
                     __global const float *packed, const ulong q_off,
                     __global float *padded, const ulong p_off) {
    const int c = (int)get_global_id(0);
    const ulong r = get_global_id(1);
    if (c >= F || r >= (ulong)B * (ulong)L) return;
    const ulong b = r / (ulong)L;
    const int t = (int)(r - b * (ulong)L);
    float v = 0.0f;
    if (t < len[len_off + b]) {
        const ulong src = (ulong)start[start_off + b] + (ulong)t;
        v = packed[q_off + src * (ulong)F + (ulong)c];
    }
    padded[p_off + r * (ulong)F + (ulong)c] = v;
}

/* y[b, c] = mean of x[start[b] .. start[b]+len[b]) rows, column c.
 * Work-group (CX, RY): CX adjacent columns, RY row lanes (RY a power of two);
 * group (gx, b) covers columns gx*CX .. and sequence b. Each lane sums every
 * RY-th row with compensated (Kahan) summation, then the lanes are added in a
 * tree. red is CX*RY floats. */
__kernel void mean_pool(const int D,
                        __global const int *start, const ulong start_off,
                        __global const int *len, const ulong len_off,
                        __global const float *x, const ulong x_off,
                        __global float *y, const ulong y_off,
                        __local float *red) {
    const int cx = (int)get_local_id(0);
    const int ly = (int)get_local_id(1);
    const int CX = (int)get_local_size(0);
    const int RY = (int)get_local_size(1);
    const int c = (int)get_global_id(0);
    const ulong b = get_group_id(1);
    const int n = len[len_off + b];
    const ulong s0 = (ulong)start[start_off + b];

    float sum = 0.0f, comp = 0.0f;
    if (c < D)
        for (int t = ly; t < n; t += RY) {
            const float v = x[x_off + (s0 + (ulong)t) * (ulong)D + (ulong)c] - comp;
            const float s = sum + v;
            comp = (s - sum) - v;
            sum = s;
        }
    red[ly * CX + cx] = sum - comp;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = RY >> 1; s > 0; s >>= 1) {
        if (ly < s) red[ly * CX + cx] += red[(ly + s) * CX + cx];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (ly == 0 && c < D) y[y_off + b * (ulong)D + (ulong)c] = red[cx] / (float)n;
}
