/* bench_force.cl - benchmark only: force a fixed activation share by
 * overwriting the router inputs of a SeqBoat layer before the gate.
 * Host side: runtime/ops/bench_force.c; reference: runtime/ref/ref_bench_force.c.
 *
 * Token t (0-based position in its own sequence) is activated iff
 *   (hash32(t) >> 8) < thr,   thr = round(share * 2^24) in [0, 2^24]
 * with hash32 the integer mix below (the same in C and in bench/reference_pytorch.py).
 * The router inputs of an activated token become (u0, u1) = (0, 1), of the
 * others (0, -1): the gate then activates exactly the chosen tokens, in every
 * layer, whatever the weights. Rows are PACKED (runtime/ops/ops.h). */

uint force_hash32(uint x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* Global size (>= max_len, >= B); item (t, b) handles token t of sequence b.
 * u: router values, u0 at u[row * ld], u1 at u[row * ld + 1]. */
__kernel void force_router(__global float *u, const ulong u_off, const int ld,
                           __global const int *start, const ulong start_off,
                           __global const int *len, const ulong len_off, const int B,
                           const uint thr) {
    const int t = (int)get_global_id(0);
    const int b = (int)get_global_id(1);
    if (b >= B) return;
    if (t >= len[len_off + b]) return;
    const ulong row = (ulong)start[start_off + b] + (ulong)t;
    const int on = (force_hash32((uint)t) >> 8) < thr;
    __global float *p = u + u_off + row * (ulong)ld;
    p[0] = 0.0f;
    p[1] = on ? 1.0f : -1.0f;
}
