/* rt.c - context, queue, kernel lookup, launches and buffers for one device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "program_cache.h"
#include "rt.h"

#define SB_BUILD_OPTIONS "-cl-std=CL1.2"

typedef struct kentry {
    char *key;      /* stem \n defines \n name */
    cl_kernel k;
} kentry;

struct sb_kcache {
    kentry *v;
    int n, cap;
};

static sb_status cl_fail(sb_err *e, cl_int err, const char *what) {
    sb_status s = (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
                   err == CL_INVALID_BUFFER_SIZE)
                      ? SB_ERR_DEVICE_MEMORY
                      : SB_ERR_OPENCL;
    return sb_fail(e, s, "%s failed: %s (%d)", what, sb_cl_error_string(err), err);
}

sb_status sb_rt_create(const sb_rt_options *opt, sb_rt **out, sb_err *e) {
    sb_status st = SB_OK;
    cl_int err;
    sb_rt_options defaults = {0};
    if (!opt) opt = &defaults;
    *out = NULL;
    sb_rt *rt = calloc(1, sizeof *rt);
    if (!rt) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory");
    rt->kernels = calloc(1, sizeof *rt->kernels);
    if (!rt->kernels) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    SB_TRY(sb_device_select(opt->device, &rt->dev, e));
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)rt->dev.platform, 0};
    rt->ctx = clCreateContext(props, 1, &rt->dev.device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        st = cl_fail(e, err, "clCreateContext");
        goto done;
    }
    rt->profiling = opt->profiling != 0;
    rt->queue = clCreateCommandQueue(rt->ctx, rt->dev.device,
                                     rt->profiling ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    if (err != CL_SUCCESS) {
        st = cl_fail(e, err, "clCreateCommandQueue");
        goto done;
    }
    SB_TRY(sb_progcache_create(opt->cache_dir, &rt->progs, e));
    *out = rt;
    return SB_OK;
done:
    sb_rt_free(rt);
    return st;
}

void sb_rt_free(sb_rt *rt) {
    if (!rt) return;
    if (rt->queue) clFinish(rt->queue);
    for (int i = 0; i < rt->n_pending; i++) {
        clReleaseEvent(rt->pending[i]);
        if (rt->pending_from[i]) clReleaseEvent(rt->pending_from[i]);
    }
    free(rt->pending);
    free(rt->pending_from);
    free(rt->pending_phase);
    if (rt->kernels) {
        for (int i = 0; i < rt->kernels->n; i++) {
            clReleaseKernel(rt->kernels->v[i].k);
            free(rt->kernels->v[i].key);
        }
        free(rt->kernels->v);
        free(rt->kernels);
    }
    for (int i = 0; i < rt->n_ksets; i++) free(rt->ksets[i]);
    free(rt->ksets);
    sb_progcache_free(rt->progs);
    if (rt->queue) clReleaseCommandQueue(rt->queue);
    if (rt->ctx) clReleaseContext(rt->ctx);
    /* last: a layer above may hold process-wide state on the context just
     * released (CLBlast's cached programs, ops_rt.c) */
    if (rt->release) rt->release();
    free(rt);
}

sb_status sb_rt_kernel(sb_rt *rt, const char *stem, const char *defines, const char *name,
                       cl_kernel *out, sb_err *e) {
    return sb_rt_kernel_src(rt, stem, NULL, defines, name, out, e);
}

sb_status sb_rt_kernel_src(sb_rt *rt, const char *stem, const char *source, const char *defines,
                           const char *name, cl_kernel *out, sb_err *e) {
    sb_status st = SB_OK;
    char *key = NULL, *file = NULL, *src = NULL;
    if (!defines) defines = "";
    size_t kl = strlen(stem) + strlen(defines) + strlen(name) + 3;
    key = malloc(kl);
    if (!key) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory");
    snprintf(key, kl, "%s\n%s\n%s", stem, defines, name);
    sb_kcache *kc = rt->kernels;
    for (int i = 0; i < kc->n; i++) {
        if (strcmp(kc->v[i].key, key) == 0) {
            *out = kc->v[i].k;
            free(key);
            return SB_OK;
        }
    }
    if (source) {
        file = strdup(source);
        if (!file) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    } else {
        SB_TRY(sb_kernel_source(stem, &file, e));
    }
    size_t sl = strlen(defines) + strlen(file) + 64 + strlen(stem);
    src = malloc(sl);
    if (!src) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    snprintf(src, sl, "%s\n#line 1 \"%s.cl\"\n%s", defines, stem, file);
    cl_kernel k = NULL;
    st = sb_progcache_kernel(rt->progs, rt->ctx, &rt->dev, src, SB_BUILD_OPTIONS, name, &k, e);
    if (st != SB_OK) sb_err_prefix(e, "%s.cl: ", stem); /* build log or kernel creation */
    if (st != SB_OK) goto done;
    if (kc->n == kc->cap) {
        int cap = kc->cap ? kc->cap * 2 : 32;
        kentry *nv = realloc(kc->v, (size_t)cap * sizeof *nv);
        if (!nv) {
            clReleaseKernel(k);
            SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
        }
        kc->v = nv;
        kc->cap = cap;
    }
    kc->v[kc->n].key = key;
    kc->v[kc->n].k = k;
    kc->n++;
    key = NULL;
    *out = k;
done:
    free(key);
    free(file);
    free(src);
    return st;
}

sb_kset *sb_rt_kset_find(sb_rt *rt, int family, const int *key) {
    for (int i = 0; i < rt->n_ksets; i++) {
        sb_kset *ks = rt->ksets[i];
        if (ks->family == family && memcmp(ks->key, key, sizeof ks->key) == 0) return ks;
    }
    return NULL;
}

sb_status sb_rt_kset_make(sb_rt *rt, int family, const int *key, const char *stem,
                          const char *source, const char *defines, const char *const *names, int n,
                          const int *aux, sb_kset **out, sb_err *e) {
    sb_status st = SB_OK;
    sb_kset *ks = NULL;
    *out = sb_rt_kset_find(rt, family, key);
    if (*out) return SB_OK;
    if (n < 1 || n > SB_KSET_MAX_K) return sb_fail(e, SB_ERR_INTERNAL, "kernel set of %d kernels", n);
    ks = calloc(1, sizeof *ks);
    if (!ks) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory");
    ks->family = family;
    memcpy(ks->key, key, sizeof ks->key);
    if (aux) memcpy(ks->aux, aux, sizeof ks->aux);
    ks->n = n;
    for (int i = 0; i < n; i++) {
        st = sb_rt_kernel_src(rt, stem, source, defines, names[i], &ks->k[i], e);
        if (st != SB_OK) {
            sb_err_prefix(e, "kernel %s of ", names[i]); /* in front of "<stem>.cl: ..." */
            goto done;
        }
        size_t wg = 0;
        if (clGetKernelWorkGroupInfo(ks->k[i], rt->dev.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg,
                                     &wg, NULL) != CL_SUCCESS)
            wg = 0;
        ks->kwg[i] = wg;
    }
    if (rt->n_ksets == rt->cap_ksets) {
        int cap = rt->cap_ksets ? rt->cap_ksets * 2 : 16;
        sb_kset **nv = realloc(rt->ksets, (size_t)cap * sizeof *nv);
        if (!nv) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
        rt->ksets = nv;
        rt->cap_ksets = cap;
    }
    rt->ksets[rt->n_ksets++] = ks;
    *out = ks;
    return SB_OK;
done:
    free(ks);
    return st;
}

static sb_status collect_events(sb_rt *rt, sb_err *e) {
    (void)e;
    for (int i = 0; i < rt->n_pending; i++) {
        cl_ulong t0 = 0, t1 = 0;
        cl_event ev = rt->pending[i], from = rt->pending_from[i];
        cl_int r0 = from ? clGetEventProfilingInfo(from, CL_PROFILING_COMMAND_END, sizeof t0, &t0, NULL)
                         : clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
        if (r0 == CL_SUCCESS &&
            clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) == CL_SUCCESS &&
            t1 >= t0) {
            int ph = rt->pending_phase ? rt->pending_phase[i] : 0;
            rt->phase_ms[ph] += (double)(t1 - t0) * 1e-6;
            if (!rt->prof_first_ns || t0 < rt->prof_first_ns) rt->prof_first_ns = t0;
            if (t1 > rt->prof_last_ns) rt->prof_last_ns = t1;
        }
        clReleaseEvent(ev);
        if (from) clReleaseEvent(from);
    }
    rt->n_pending = 0;
    return SB_OK;
}

sb_status sb_rt_track_span(sb_rt *rt, cl_event from, cl_event ev, sb_err *e) {
    if (!rt->profiling || !ev) {
        if (ev) clReleaseEvent(ev);
        if (from) clReleaseEvent(from);
        return SB_OK;
    }
    if (rt->n_pending == rt->cap_pending) {
        int cap = rt->cap_pending ? rt->cap_pending * 2 : 256;
        cl_event *np = realloc(rt->pending, (size_t)cap * sizeof *np);
        if (np) rt->pending = np;
        cl_event *nf = np ? realloc(rt->pending_from, (size_t)cap * sizeof *nf) : NULL;
        if (nf) rt->pending_from = nf;
        int *nph = nf ? realloc(rt->pending_phase, (size_t)cap * sizeof *nph) : NULL;
        if (!np || !nf || !nph) {
            clReleaseEvent(ev);
            if (from) clReleaseEvent(from);
            return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory tracking events");
        }
        rt->pending_phase = nph;
        rt->cap_pending = cap;
    }
    rt->pending_phase[rt->n_pending] = rt->phase;
    rt->pending_from[rt->n_pending] = from;
    rt->pending[rt->n_pending++] = ev;
    return SB_OK;
}

sb_status sb_rt_track_event(sb_rt *rt, cl_event ev, sb_err *e) {
    return sb_rt_track_span(rt, NULL, ev, e);
}

/* ---- serialised wall-clock phases ---- */

static double serial_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void sb_rt_serial_charge(sb_rt *rt, double now_ms, int next) {
    if (rt->serial_phase >= 0 && rt->serial_phase < SB_PHASE_COUNT && now_ms > rt->serial_t0_ms)
        rt->serial_ms[rt->serial_phase] += now_ms - rt->serial_t0_ms;
    rt->serial_t0_ms = now_ms;
    rt->serial_phase = next;
}

/* Before a command of phase next: at a phase change, wait for the queue and charge. */
static void serial_mark(sb_rt *rt, int next) {
    if (!rt->serial || next == rt->serial_phase) return;
    clFinish(rt->queue); /* an error shows again at the next call that checks */
    sb_rt_serial_charge(rt, serial_now_ms(), next);
}

void sb_rt_serial_flush(sb_rt *rt) {
    if (!rt->serial) return;
    clFinish(rt->queue);
    sb_rt_serial_charge(rt, serial_now_ms(), -1);
}

sb_status sb_rt_set_serial(sb_rt *rt, int on, sb_err *e) {
    sb_status st = sb_rt_finish(rt, e);
    if (st != SB_OK) return st;
    if (on) {
        for (int p = 0; p < SB_PHASE_COUNT; p++) rt->serial_ms[p] = 0;
        rt->serial_t0_ms = serial_now_ms();
    }
    rt->serial_phase = -1;
    rt->serial = on != 0;
    return SB_OK;
}

cl_event sb_rt_marker(sb_rt *rt) {
    cl_event m = NULL;
    serial_mark(rt, rt->phase); /* a library GEMM follows in rt->phase */
    if (!rt->profiling) return NULL;
    if (clEnqueueMarkerWithWaitList(rt->queue, 0, NULL, &m) != CL_SUCCESS) return NULL;
    return m;
}

sb_status sb_rt_launch(sb_rt *rt, cl_kernel k, cl_uint dims, const size_t *gws, const size_t *lws,
                       const char *what, sb_err *e) {
    for (cl_uint d = 0; d < dims; d++)
        if (gws[d] == 0) return SB_OK;
    cl_event ev = NULL;
    serial_mark(rt, rt->phase);
    cl_int err = clEnqueueNDRangeKernel(rt->queue, k, dims, NULL, gws, lws, 0, NULL,
                                        rt->profiling ? &ev : NULL);
    if (err != CL_SUCCESS) {
        char buf[200];
        snprintf(buf, sizeof buf, "launching kernel %s", what ? what : "?");
        return cl_fail(e, err, buf);
    }
    return sb_rt_track_event(rt, ev, e);
}

sb_status sb_rt_arg(cl_kernel k, cl_uint i, size_t size, const void *value, sb_err *e) {
    cl_int err = clSetKernelArg(k, i, size, value);
    if (err != CL_SUCCESS) {
        char name[128] = "?";
        clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
        name[sizeof name - 1] = '\0';
        return sb_fail(e, SB_ERR_OPENCL, "clSetKernelArg(%s, arg %u) failed: %s (%d)", name, i,
                       sb_cl_error_string(err), err);
    }
    return SB_OK;
}

sb_status sb_rt_upload_f32(sb_rt *rt, const float *src, size_t n, cl_mem *out, const char *what,
                           sb_err *e) {
    sb_status st = sb_rt_alloc(rt, n * sizeof(cl_float), out, what, e);
    if (st == SB_OK) st = sb_rt_write(rt, *out, 0, n * sizeof(cl_float), src, e);
    return st;
}

void sb_mem_release(cl_mem *m) {
    if (*m) clReleaseMemObject(*m);
    *m = NULL;
}

sb_status sb_rt_alloc(sb_rt *rt, size_t bytes, cl_mem *out, const char *what, sb_err *e) {
    cl_int err;
    *out = NULL;
    if (bytes == 0) bytes = 16;
    if (bytes > rt->dev.max_alloc || bytes > rt->dev.global_mem)
        return sb_fail(e, SB_ERR_DEVICE_MEMORY,
                       "device buffer '%s' of %zu bytes exceeds the device's limits on '%s' "
                       "(max allocation %llu, global memory %llu bytes)",
                       what ? what : "?", bytes, rt->dev.name,
                       (unsigned long long)rt->dev.max_alloc, (unsigned long long)rt->dev.global_mem);
    *out = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        char buf[200];
        snprintf(buf, sizeof buf, "allocating device buffer '%s' (%zu bytes)", what ? what : "?", bytes);
        *out = NULL;
        return cl_fail(e, err, buf);
    }
    return SB_OK;
}

sb_status sb_rt_write(sb_rt *rt, cl_mem m, size_t off, size_t bytes, const void *src, sb_err *e) {
    if (bytes == 0) return SB_OK;
    serial_mark(rt, -1); /* blocking transfers: charged to no phase */
    cl_int err = clEnqueueWriteBuffer(rt->queue, m, CL_TRUE, off, bytes, src, 0, NULL, NULL);
    if (rt->serial) sb_rt_serial_charge(rt, serial_now_ms(), -1);
    return err == CL_SUCCESS ? SB_OK : cl_fail(e, err, "clEnqueueWriteBuffer");
}

sb_status sb_rt_write_async(sb_rt *rt, cl_mem m, size_t off, size_t bytes, const void *src,
                            sb_err *e) {
    if (bytes == 0) return SB_OK;
    cl_int err = clEnqueueWriteBuffer(rt->queue, m, CL_FALSE, off, bytes, src, 0, NULL, NULL);
    return err == CL_SUCCESS ? SB_OK : cl_fail(e, err, "clEnqueueWriteBuffer");
}

sb_status sb_rt_read(sb_rt *rt, cl_mem m, size_t off, size_t bytes, void *dst, sb_err *e) {
    if (bytes == 0) return SB_OK;
    serial_mark(rt, -1); /* blocking transfers: charged to no phase */
    cl_int err = clEnqueueReadBuffer(rt->queue, m, CL_TRUE, off, bytes, dst, 0, NULL, NULL);
    if (rt->serial) sb_rt_serial_charge(rt, serial_now_ms(), -1);
    return err == CL_SUCCESS ? SB_OK : cl_fail(e, err, "clEnqueueReadBuffer");
}

sb_status sb_rt_fill_zero(sb_rt *rt, cl_mem m, size_t off, size_t bytes, sb_err *e) {
    if (bytes == 0) return SB_OK;
    cl_uchar zero = 0;
    cl_int err = clEnqueueFillBuffer(rt->queue, m, &zero, 1, off, bytes, 0, NULL, NULL);
    return err == CL_SUCCESS ? SB_OK : cl_fail(e, err, "clEnqueueFillBuffer");
}

sb_status sb_rt_finish(sb_rt *rt, sb_err *e) {
    cl_int err = clFinish(rt->queue);
    if (err != CL_SUCCESS) return cl_fail(e, err, "clFinish");
    return collect_events(rt, e);
}

size_t sb_rt_wg1(sb_rt *rt, cl_kernel k, size_t want) {
    size_t kmax = 0;
    if (clGetKernelWorkGroupInfo(k, rt->dev.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax, &kmax,
                                 NULL) != CL_SUCCESS)
        kmax = 0;
    return sb_rt_wg1_lim(rt, kmax, want);
}

size_t sb_rt_wg1_lim(const sb_rt *rt, size_t kmax, size_t want) {
    size_t lim = rt->dev.max_wg;
    if (kmax > 0 && kmax < lim) lim = kmax;
    if (rt->dev.max_wi[0] > 0 && rt->dev.max_wi[0] < lim) lim = rt->dev.max_wi[0];
    if (want < lim) lim = want;
    size_t p = 1;
    while (p * 2 <= lim) p *= 2;
    return p;
}

sb_status sb_rt_set_profiling(sb_rt *rt, int on, sb_err *e) {
    on = on != 0;
    if (on == rt->profiling) return SB_OK;
    sb_status st = sb_rt_finish(rt, e);
    if (st != SB_OK) return st;
    cl_int err;
    cl_command_queue q = clCreateCommandQueue(rt->ctx, rt->dev.device, on ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    if (err != CL_SUCCESS) return cl_fail(e, err, "clCreateCommandQueue");
    clReleaseCommandQueue(rt->queue);
    rt->queue = q;
    rt->profiling = on;
    return SB_OK;
}

void sb_rt_profile_reset(sb_rt *rt) {
    for (int p = 0; p < SB_PHASE_COUNT; p++) rt->phase_ms[p] = 0;
    rt->prof_first_ns = rt->prof_last_ns = 0;
}
