/* ops.c - helpers shared by the op launchers. */
#include <stdlib.h>
#include <string.h>
#include "ops.h"

sb_status sb_ops_check_buf(const char *op, const char *name, sb_buf b, size_t bytes,
                           cl_ulong *elem_off, sb_err *e) {
    if (!b.mem) return sb_fail(e, SB_ERR_ARG, "%s: buffer %s is NULL", op, name);
    if (b.off % 4 != 0)
        return sb_fail(e, SB_ERR_ARG, "%s: offset of %s (%zu bytes) is not a multiple of 4", op, name,
                       b.off);
    if (b.len < bytes)
        return sb_fail(e, SB_ERR_ARG,
                       "%s: buffer %s is too short: its view holds %zu bytes (from offset %zu), "
                       "the kernel touches %zu",
                       op, name, b.len, b.off, bytes);
    *elem_off = (cl_ulong)sb_elems(b.off);
    return SB_OK;
}

static int views_overlap(sb_buf a, sb_buf b) {
    if (!a.mem || !b.mem || a.mem != b.mem || a.len == 0 || b.len == 0) return 0;
    return a.off < b.off + b.len && b.off < a.off + a.len;
}

static sb_status overlap_fail(const char *op, const char *an, sb_buf a, const char *bn, sb_buf b,
                              sb_err *e) {
    return sb_fail(e, SB_ERR_INTERNAL,
                   "%s: views %s (bytes %zu..%zu) and %s (bytes %zu..%zu) of one buffer overlap",
                   op, an, a.off, a.off + a.len, bn, b.off, b.off + b.len);
}

sb_status sb_ops_apart(const char *op, const char *an, sb_buf a, const char *bn, sb_buf b, sb_err *e) {
    return views_overlap(a, b) ? overlap_fail(op, an, a, bn, b, e) : SB_OK;
}

sb_status sb_ops_apart_or_same(const char *op, const char *an, sb_buf a, const char *bn, sb_buf b,
                               sb_err *e) {
    if (a.mem == b.mem && a.off == b.off && a.len == b.len) return SB_OK;
    return sb_ops_apart(op, an, a, bn, b, e);
}

sb_buf sb_view_all(cl_mem mem) {
    size_t size = 0;
    if (!mem || clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof size, &size, NULL) != CL_SUCCESS)
        size = 0;
    return sb_view(mem, 0, size);
}

size_t sb_pow2_ceil(size_t n) {
    size_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

size_t sb_pow2_floor(size_t n) {
    size_t p = 1;
    while (p <= n / 2) p <<= 1;
    return p;
}

sb_status sb_ops_launch_2d(sb_rt *rt, cl_kernel k, size_t wg, size_t n0, size_t n1, const char *what,
                           sb_err *e) {
    const size_t mx0 = sb_pow2_floor(rt->dev.max_wi[0] ? rt->dev.max_wi[0] : 1);
    const size_t mx1 = sb_pow2_floor(rt->dev.max_wi[1] ? rt->dev.max_wi[1] : 1);
    size_t lx = sb_pow2_ceil(n0);
    if (lx > wg) lx = wg;
    if (lx > mx0) lx = mx0;
    if (lx < 1) lx = 1;
    /* The shape depends on n0 and the kernel only, not on the row count n1:
     * PoCL compiles a kernel once per work-group shape, so a one-row launch
     * (decode) reuses the shape of a many-row one (prefill); rows past n1
     * are idle (kernels check their row). */
    size_t ly = wg / lx;
    if (ly > mx1) ly = mx1;
    if (ly < 1) ly = 1;
    const size_t lws[2] = {lx, ly};
    const size_t gws[2] = {sb_round_up(n0, lx), sb_round_up(n1, ly)};
    return sb_rt_launch(rt, k, 2, gws, lws, what, e);
}

sb_status sb_ops_launch_1d(sb_rt *rt, cl_kernel k, size_t wg, size_t n, const char *what, sb_err *e) {
    if (wg < 1) wg = 1;
    const size_t gws = sb_round_up(n, wg);
    return sb_rt_launch(rt, k, 1, &gws, &wg, what, e);
}

int sb_ops_row_vec(const sb_rt *rt, int *vw) {
    const unsigned w = rt->dev.native_vec_float;
    *vw = w >= 16 ? 16 : w >= 8 ? 8 : w >= 4 ? 4 : w >= 2 ? 2 : 1;
    if (rt->tune.rows == SB_TUNE_VEC) return 1;
    if (rt->tune.rows == SB_TUNE_WG) return 0;
    return (rt->dev.type & CL_DEVICE_TYPE_CPU) != 0;
}

int sb_ops_decode_split(const sb_rt *rt) {
    if (rt->tune.decode == SB_TUNE_WG) return 0;
    if (rt->tune.decode == SB_TUNE_SPLIT) return 1;
    return (rt->dev.type & CL_DEVICE_TYPE_CPU) == 0;
}
