/* bench_peak.cl - micro-benchmarks of `seqboat peak` (bench/peak.c).
 * Built with defines from the host:
 *   VT    the vector type (float, float2, float4, float8, float16)
 *   NACC  independent accumulators per work-item (4, 8, 12 or 16)
 *
 * peak_fma: NACC independent chains of multiply-adds per work-item, so that a
 * core (or a SIMD lane group) always has an FMA whose inputs are ready: one
 * dependent chain per work-item is bound by the FMA latency on a CPU, not by
 * its throughput. mad(), not fma(): fma() must be exactly rounded and some
 * drivers (Mesa llvmpipe) emulate it in software; mad() lets the compiler use
 * the hardware's multiply-add. The values converge to b / (1 - a) (no
 * overflow, no denormals); the sum is stored so that nothing is dead code.
 * FLOPs per work-item: iters * 4 * NACC * (lanes of VT) * 2. */

#define F4(i) r##i = mad(r##i, a, b);
#define D4(i) VT r##i = (VT)(x + 0.001f * (float)(i));
#define S4(i) s += r##i;
#if NACC == 4
#define REP(M) M(0) M(1) M(2) M(3)
#elif NACC == 8
#define REP(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#elif NACC == 12
#define REP(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
#else
#define REP(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) \
               M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#endif

__kernel void peak_fma(__global VT *out, const int iters, const float a0, const float b0) {
    const float x = (float)get_global_id(0) * 1e-7f;
    const VT a = (VT)a0, b = (VT)b0;
    REP(D4)
    for (int i = 0; i < iters; i++) {
        REP(F4)
        REP(F4)
        REP(F4)
        REP(F4)
    }
    VT s = (VT)0.0f;
    REP(S4)
    out[get_global_id(0)] = s;
}

/* Global-memory copy: one VT per work-item, consecutive work-items touch
 * consecutive addresses (coalesced on GPUs, vectorisable on CPUs). */
__kernel void peak_copy(__global const VT *src, __global VT *dst) {
    const size_t i = get_global_id(0);
    dst[i] = src[i];
}

/* Global-memory read: each work-item sums 16 VTs a global size apart and
 * writes one (the write is 1/16 of the traffic; counted). */
__kernel void peak_read(__global const VT *src, __global VT *dst) {
    const size_t i = get_global_id(0), n = get_global_size(0);
    VT s = (VT)0.0f;
    for (int k = 0; k < 16; k++) s += src[i + (size_t)k * n];
    dst[i] = s;
}

/* Launch latency: nothing to do. */
__kernel void peak_empty(__global float *out) {
    if (get_global_id(0) == (size_t)-1) out[0] = 0.0f;
}
