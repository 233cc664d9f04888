/* api_device.c - public device listing, selftest and the handle-less error channel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api_struct.h"
#include "gemm.h"
#include "ops/linear.h"
#include "ops/norm.h"
#include "ops/ops_rt.h"
#include "rt.h"

static __thread sb_err tls_err;

const char *sb_last_error(void) { return tls_err.msg; }

/* Record a handle-less failure (used by the public API files). */
sb_status sb_api_fail_tls(const sb_err *e) {
    tls_err = *e;
    return e->status;
}

#define DESC_END(f) SB_FIELD_END(sb_device_desc, f)
static const size_t desc_ends[] = {
    DESC_END(index),          DESC_END(platform),        DESC_END(platform_version),
    DESC_END(name),           DESC_END(vendor),          DESC_END(type),
    DESC_END(opencl_c_version), DESC_END(driver_version), DESC_END(compute_units),
    DESC_END(global_mem_bytes), DESC_END(local_mem_bytes), DESC_END(max_alloc_bytes),
    DESC_END(max_work_group_size)};

sb_status sb_devices(sb_device_desc *out, int cap, int *count) {
    sb_err e;
    sb_device_info *list = NULL;
    int n = 0;
    sb_err_clear(&e);
    if (!count || cap < 0 || (cap > 0 && !out)) {
        sb_fail(&e, SB_ERR_ARG, "sb_devices: count is NULL or out/cap inconsistent");
        return sb_api_fail_tls(&e);
    }
    /* out[0].struct_size is every entry's size (the caller's sizeof) */
    size_t stride = cap > 0 ? out[0].struct_size : 0;
    if (cap > 0 &&
        sb_struct_size_check("sb_device_desc", stride, desc_ends, sizeof(sb_device_desc), &e) != SB_OK) {
        sb_err_prefix(&e, "sb_devices: out[0]: ");
        return sb_api_fail_tls(&e);
    }
    sb_status st = sb_devices_list(&list, &n, &e);
    if (st != SB_OK) return sb_api_fail_tls(&e);
    *count = n;
    for (int i = 0; i < n && i < cap; i++) {
        sb_device_desc full, *d = &full;
        const sb_device_info *s = &list[i];
        memset(d, 0, sizeof *d);
        d->index = s->index;
        snprintf(d->platform, sizeof d->platform, "%s", s->platform_name);
        snprintf(d->platform_version, sizeof d->platform_version, "%s", s->platform_version);
        snprintf(d->name, sizeof d->name, "%s", s->name);
        snprintf(d->vendor, sizeof d->vendor, "%s", s->vendor);
        snprintf(d->type, sizeof d->type, "%s", sb_device_type_string(s->type));
        snprintf(d->opencl_c_version, sizeof d->opencl_c_version, "%s", s->c_version);
        snprintf(d->driver_version, sizeof d->driver_version, "%s", s->driver_version);
        d->compute_units = s->compute_units;
        d->global_mem_bytes = s->global_mem;
        d->local_mem_bytes = s->local_mem;
        d->max_alloc_bytes = s->max_alloc;
        d->max_work_group_size = s->max_wg;
        unsigned char *dst = (unsigned char *)out + (size_t)i * stride;
        memcpy(dst, &stride, sizeof stride); /* struct_size of each entry filled */
        sb_struct_copy_fit(dst, stride, d, desc_ends, (int)(sizeof desc_ends / sizeof desc_ends[0]));
    }
    free(list);
    return SB_OK;
}

sb_status sb_device_default(int *index, char *why, size_t why_len) {
    sb_err e;
    sb_device_info *list = NULL, pick;
    int n = 0;
    char buf[512];
    sb_err_clear(&e);
    if (!index) {
        sb_fail(&e, SB_ERR_ARG, "sb_device_default: index is NULL");
        return sb_api_fail_tls(&e);
    }
    const char *env = getenv("SEQBOAT_DEVICE");
    if (env && *env) {
        if (sb_device_select(NULL, &pick, &e) != SB_OK) return sb_api_fail_tls(&e);
        *index = pick.index;
        snprintf(buf, sizeof buf, "SEQBOAT_DEVICE='%.400s'", env);
    } else {
        if (sb_devices_list(&list, &n, &e) != SB_OK) return sb_api_fail_tls(&e);
        if (n == 0) {
            sb_fail(&e, SB_ERR_NO_DEVICE, "no OpenCL device found");
            return sb_api_fail_tls(&e);
        }
        *index = sb_device_default_index(list, n, buf, sizeof buf);
        free(list);
    }
    if (why && why_len) snprintf(why, why_len, "%s", buf);
    return SB_OK;
}

/* Plain-C LayerNorm in double (eps 1e-5, biased variance), in place. */
static void plain_layernorm(int T, int D, float *x, const float *w, const float *b) {
    for (int t = 0; t < T; t++) {
        float *r = x + (size_t)t * D;
        double m = 0, v = 0;
        for (int c = 0; c < D; c++) m += r[c];
        m /= D;
        for (int c = 0; c < D; c++) v += (r[c] - m) * (r[c] - m);
        v /= D;
        for (int c = 0; c < D; c++) r[c] = (float)((r[c] - m) / sqrt(v + 1e-5) * w[c] + b[c]);
    }
}

sb_status sb_selftest(const char *device, char *report, size_t report_len) {
    sb_err eb, *e = &eb;
    sb_status st = SB_OK;
    sb_rt *rt = NULL;
    cl_mem a = NULL, b = NULL, c = NULL, nx = NULL, nw = NULL, nb = NULL;
    enum { M = 37, N = 65, K = 129, T = 19, D = 70 };
    float *ha = malloc(sizeof(float) * M * K), *hb = malloc(sizeof(float) * N * K);
    float *hc = malloc(sizeof(float) * M * N);
    float *lx = malloc(sizeof(float) * T * D), *ly = malloc(sizeof(float) * T * D);
    float *lw = malloc(sizeof(float) * D), *lb = malloc(sizeof(float) * D);
    sb_err_clear(e);
    if (!ha || !hb || !hc || !lx || !ly || !lw || !lb)
        SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < M * K; i++) ha[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (int i = 0; i < N * K; i++) hb[i] = (float)((i * 53) % 97) / 48.0f - 1.0f;
    for (int i = 0; i < T * D; i++) lx[i] = (float)((i * 29) % 89) / 20.0f - 2.0f + (float)(i / D);
    for (int i = 0; i < D; i++) lw[i] = 0.5f + (float)(i % 7) / 7.0f, lb[i] = (float)(i % 5) / 5.0f - 0.4f;
    sb_rt_options o = {0};
    o.device = device;
    SB_TRY(sb_ops_rt_create(&o, &rt, e));
    SB_TRY(sb_rt_alloc(rt, sizeof(float) * M * K, &a, "A", e));
    SB_TRY(sb_rt_alloc(rt, sizeof(float) * N * K, &b, "B", e));
    SB_TRY(sb_rt_alloc(rt, sizeof(float) * M * N, &c, "C", e));
    SB_TRY(sb_rt_write(rt, a, 0, sizeof(float) * M * K, ha, e));
    SB_TRY(sb_rt_write(rt, b, 0, sizeof(float) * N * K, hb, e));
    /* CLBlast's GEMM (left out of a SEQBOAT_CLBLAST=OFF build, and said so in the report) */
    char blas[160];
#if SEQBOAT_HAVE_CLBLAST
    SB_TRY(sb_gemm(rt, 0, 1, M, N, K, 1.0f, a, 0, K, b, 0, K, 0.0f, c, 0, N, e));
    SB_TRY(sb_rt_read(rt, c, 0, sizeof(float) * M * N, hc, e));
    double maxerr = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)ha[i * K + k] * hb[j * K + k];
            double d = fabs(s - hc[i * N + j]);
            if (d > maxerr) maxerr = d;
        }
    if (maxerr > 1e-3) SB_FAIL(SB_ERR_INTERNAL, "selftest GEMM %dx%dx%d max error %g", M, N, K, maxerr);
    snprintf(blas, sizeof blas, "GEMM %dx%dx%d through CLBlast, max |error| %.2e", M, N, K, maxerr);
#else
    snprintf(blas, sizeof blas, "CLBlast GEMM skipped (built without CLBlast, SEQBOAT_CLBLAST=OFF)");
#endif
    /* the product a model uses on this device (rt->lin: the own GEMM's variant
     * and tiles, or CLBlast), through the same prepare + op as a model */
    double linerr = 0;
    char lin_name[64];
    sb_linear_params_string(&rt->lin, lin_name, sizeof lin_name);
    {
        sb_linear_w lw;
        memset(&lw, 0, sizeof lw);
        SB_TRY(sb_linear_prepare(rt, b, NULL, N, K, &lw, e));
        st = sb_op_linear(rt, M, sb_view(a, 0, sizeof(float) * M * K), K, &lw, 0,
                          sb_view(c, 0, sizeof(float) * M * N), N, e);
        if (st == SB_OK) st = sb_rt_read(rt, c, 0, sizeof(float) * M * N, hc, e);
        sb_linear_release(&lw);
        if (st != SB_OK) goto done;
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)ha[i * K + k] * hb[j * K + k];
            double d = fabs(s - hc[i * N + j]);
            if (!(d <= linerr)) linerr = d; /* NaN propagates */
        }
    if (!(linerr <= 1e-3))
        SB_FAIL(SB_ERR_INTERNAL, "selftest model product (%s) %dx%dx%d max error %g", lin_name, M, N, K,
                linerr);
    /* one of the library's own kernels: LayerNorm in place (cl/norm_eltwise.cl) */
    SB_TRY(sb_rt_alloc(rt, sizeof(float) * T * D, &nx, "x", e));
    SB_TRY(sb_rt_alloc(rt, sizeof(float) * D, &nw, "w", e));
    SB_TRY(sb_rt_alloc(rt, sizeof(float) * D, &nb, "b", e));
    SB_TRY(sb_rt_write(rt, nx, 0, sizeof(float) * T * D, lx, e));
    SB_TRY(sb_rt_write(rt, nw, 0, sizeof(float) * D, lw, e));
    SB_TRY(sb_rt_write(rt, nb, 0, sizeof(float) * D, lb, e));
    const sb_buf bx = sb_view(nx, 0, sb_f32((size_t)T * D)), bw = sb_view(nw, 0, sb_f32(D)),
                 bb = sb_view(nb, 0, sb_f32(D));
    SB_TRY(sb_op_layernorm(rt, T, D, bx, bw, bb, bx, e));
    SB_TRY(sb_rt_read(rt, nx, 0, sizeof(float) * T * D, ly, e));
    plain_layernorm(T, D, lx, lw, lb);
    double lnerr = 0;
    for (int i = 0; i < T * D; i++) {
        double d = fabs((double)ly[i] - lx[i]);
        if (!(d <= lnerr)) lnerr = d; /* NaN propagates */
    }
    if (!(lnerr <= 1e-4))
        SB_FAIL(SB_ERR_INTERNAL, "selftest LayerNorm %dx%d max error %g", T, D, lnerr);
    if (report && report_len)
        snprintf(report, report_len,
                 "device '%s' (%s): %s; the models' product (%s) %dx%dx%d max |error| %.2e; "
                 "LayerNorm %dx%d kernel, max |error| %.2e; vs plain C: ok",
                 rt->dev.name, rt->dev.platform_name, blas, lin_name, M, N, K, linerr, T, D, lnerr);
done:
    if (a) clReleaseMemObject(a);
    if (b) clReleaseMemObject(b);
    if (c) clReleaseMemObject(c);
    if (nx) clReleaseMemObject(nx);
    if (nw) clReleaseMemObject(nw);
    if (nb) clReleaseMemObject(nb);
    sb_rt_free(rt);
    free(ha);
    free(hb);
    free(hc);
    free(lx);
    free(ly);
    free(lw);
    free(lb);
    if (st != SB_OK) sb_api_fail_tls(e);
    return st;
}
