/* api_device.c - public device listing, selftest and the handle-less error channel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "rt.h"

static __thread sb_err tls_err;

const char *sb_last_error(void) { return tls_err.msg; }

/* Record a handle-less failure (used by the public API files). */
sb_status sb_api_fail_tls(const sb_err *e) {
    tls_err = *e;
    return e->status;
}

sb_status sb_devices(sb_device_desc *out, int cap, int *count) {
    sb_err e;
    sb_device_info *list = NULL;
    int n = 0;
    sb_err_clear(&e);
    if (!count || cap < 0 || (cap > 0 && !out)) {
        sb_fail(&e, SB_ERR_ARG, "sb_devices: count is NULL or out/cap inconsistent");
        return sb_api_fail_tls(&e);
    }
    sb_status st = sb_devices_list(&list, &n, &e);
    if (st != SB_OK) return sb_api_fail_tls(&e);
    *count = n;
    for (int i = 0; i < n && i < cap; i++) {
        sb_device_desc *d = &out[i];
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
    }
    free(list);
    return SB_OK;
}

sb_status sb_selftest(const char *device, char *report, size_t report_len) {
    sb_err eb, *e = &eb;
    sb_status st = SB_OK;
    sb_rt *rt = NULL;
    cl_mem a = NULL, b = NULL, c = NULL;
    enum { M = 37, N = 65, K = 129 };
    float *ha = malloc(sizeof(float) * M * K), *hb = malloc(sizeof(float) * N * K);
    float *hc = malloc(sizeof(float) * M * N);
    sb_err_clear(e);
    if (!ha || !hb || !hc) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < M * K; i++) ha[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (int i = 0; i < N * K; i++) hb[i] = (float)((i * 53) % 97) / 48.0f - 1.0f;
    sb_rt_options o = {0};
    o.device = device;
    SB_TRY(sb_rt_create(&o, &rt, e));
    SB_TRY(sb_rt_alloc(rt, sizeof(float) * M * K, &a, "A", e));
    SB_TRY(sb_rt_alloc(rt, sizeof(float) * N * K, &b, "B", e));
    SB_TRY(sb_rt_alloc(rt, sizeof(float) * M * N, &c, "C", e));
    SB_TRY(sb_rt_write(rt, a, 0, sizeof(float) * M * K, ha, e));
    SB_TRY(sb_rt_write(rt, b, 0, sizeof(float) * N * K, hb, e));
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
    if (report && report_len)
        snprintf(report, report_len, "device '%s' (%s): GEMM %dx%dx%d through CLBlast, max |error| %.2e vs plain C: ok",
                 rt->dev.name, rt->dev.platform_name, M, N, K, maxerr);
done:
    if (a) clReleaseMemObject(a);
    if (b) clReleaseMemObject(b);
    if (c) clReleaseMemObject(c);
    sb_rt_free(rt);
    free(ha);
    free(hb);
    free(hc);
    if (st != SB_OK) sb_api_fail_tls(e);
    return st;
}
