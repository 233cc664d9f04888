/* bench_force.c - host launcher for bench/bench_force.cl (benchmark only). */
#include "bench_force.h"
#include "model.h"

/* bench/bench_force.cl, embedded by cmake/embed_cl.cmake */
typedef struct { const char *stem; const char *src; size_t size; } sb_embedded_kernel;
extern const sb_embedded_kernel sb_bench_kernels[];

#define FORCE_STEM "bench_force"
#define FORCE_WANT_WG 256

uint32_t sb_force_hash32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

uint32_t sb_force_threshold(double share) {
    if (!(share > 0.0)) return 0; /* also NaN */
    if (share >= 1.0) return 1u << 24;
    return (uint32_t)(share * 16777216.0 + 0.5);
}

int sb_force_active(long t, uint32_t thr) { return (sb_force_hash32((uint32_t)t) >> 8) < thr; }

long sb_force_count(long n, uint32_t thr) {
    long c = 0;
    for (long t = 0; t < n; t++) c += sb_force_active(t, thr);
    return c;
}

sb_status sb_op_force_router(sb_rt *rt, const sb_seqs *seqs, sb_buf u, int ld, double share,
                             sb_err *e) {
    sb_status st = SB_OK;
    cl_kernel k;
    if (!rt || !seqs) SB_FAIL(SB_ERR_ARG, "force_router: NULL argument");
    if (ld < 2) SB_FAIL(SB_ERR_ARG, "force_router: ld = %d must be at least 2", ld);
    if (seqs->n < 1 || seqs->total < 1) return SB_OK;
    cl_ulong uo, so, lo;
    SB_TRY(sb_ops_check_buf("force_router", "u", u, sb_rows_f32((size_t)seqs->total, (size_t)ld, 2), &uo, e));
    SB_TRY(sb_ops_check_buf("force_router", "seqs->d_start", seqs->d_start, sb_i32((size_t)seqs->n), &so, e));
    SB_TRY(sb_ops_check_buf("force_router", "seqs->d_len", seqs->d_len, sb_i32((size_t)seqs->n), &lo, e));
    SB_TRY(sb_rt_kernel_src(rt, FORCE_STEM, sb_bench_kernels[0].src /* bench_force.cl: first in SB_BENCH_CL_FILES */, NULL, "force_router", &k, e));
    {
        const cl_int cld = ld, cB = seqs->n;
        const cl_uint thr = sb_force_threshold(share);
        SB_ARG(k, 0, u.mem);
        SB_ARG(k, 1, uo);
        SB_ARG(k, 2, cld);
        SB_ARG(k, 3, seqs->d_start.mem);
        SB_ARG(k, 4, so);
        SB_ARG(k, 5, seqs->d_len.mem);
        SB_ARG(k, 6, lo);
        SB_ARG(k, 7, cB);
        SB_ARG(k, 8, thr);
        const size_t wg = sb_rt_wg1(rt, k, FORCE_WANT_WG);
        const size_t lws[2] = {wg, 1};
        const size_t gws[2] = {sb_round_up((size_t)(seqs->max_len > 0 ? seqs->max_len : 1), wg),
                               (size_t)seqs->n};
        SB_TRY(sb_rt_launch(rt, k, 2, gws, lws, "force_router", e));
    }
done:
    return st;
}

sb_status sb_force_router_hook(void *user, sb_rt *rt, const sb_seqs *seqs, sb_buf u, int ld,
                               sb_err *e) {
    return sb_op_force_router(rt, seqs, u, ld, *(const double *)user, e);
}
