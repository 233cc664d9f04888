/* linear.c - host side of cl/linear.cl: parameters by device class, weight
 * packing, launches; CLBlast (gemm.h) + bias_act for SEQBOAT_LINEAR=clblast
 * (builds with CLBlast only). */
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include "../gemm.h"
#include "linear.h"
#include "norm.h"
#include "../wtype.h"

#define LIN_STEM "linear"

/* Local-memory (GPU class) tiles by vendor, before `seqboat tune` has measured
 * the device. Work-group = (tm/wm) x (tn/wn) items. None of these was timed
 * on the vendor's hardware by this project; they follow the vendors' execution
 * widths: NVIDIA warps of 32 and AMD wavefronts of 64 (GCN; 32 on RDNA) fill
 * a 256-item group of 4x4 register tiles; Intel's EUs run SIMD8-32 threads
 * with a smaller register file per item, so a 128-item group; anything else
 * (ARM Mali, Qualcomm Adreno, Apple, unknown) a modest 64-item group. The
 * device's limits then shrink whatever does not fit. */
static const struct {
    const char *vendor;       /* case-insensitive substring of CL_DEVICE_VENDOR */
    int tm, tn, tk, wm, wn;
} lds_by_vendor[] = {
    {"nvidia", 64, 64, 16, 4, 4},
    {"advanced micro devices", 64, 64, 16, 4, 4},
    {"amd", 64, 64, 16, 4, 4},
    {"intel", 32, 64, 16, 4, 4},
    {NULL, 32, 32, 8, 4, 4},
};

static int has_ci(const char *hay, const char *needle) {
    for (; *hay; hay++) {
        size_t i = 0;
        while (needle[i] && hay[i] && tolower((unsigned char)hay[i]) == needle[i]) i++;
        if (!needle[i]) return 1;
    }
    return 0;
}

void sb_linear_params_default(const sb_device_info *dev, sb_linear_params *p) {
    memset(p, 0, sizeof *p);
    /* LDS (also kept for REG so that a switch is complete): the vendor's row */
    int r = 0;
    while (lds_by_vendor[r].vendor && !has_ci(dev->vendor, lds_by_vendor[r].vendor)) r++;
    p->tm = lds_by_vendor[r].tm, p->tn = lds_by_vendor[r].tn, p->tk = lds_by_vendor[r].tk;
    p->wm = lds_by_vendor[r].wm, p->wn = lds_by_vendor[r].wn;
    /* then the device's limits: items per group and per dimension */
    while ((size_t)(p->tm / p->wm) * (size_t)(p->tn / p->wn) > dev->max_wg ||
           (size_t)(p->tn / p->wn) > dev->max_wi[0] || (size_t)(p->tm / p->wm) > dev->max_wi[1]) {
        if (p->tm > p->wm * 1 && p->tm >= p->tn) p->tm /= 2;
        else if (p->tn > p->wn) p->tn /= 2;
        else break;                               /* one item: always launchable */
    }
    /* REG: the native float vector width, two vectors per row; 12 rows when
     * the width suggests 32 vector registers (AVX-512), 6 otherwise (16). */
    unsigned vw = dev->native_vec_float;
    p->vw = vw >= 16 ? 16 : vw >= 8 ? 8 : vw >= 4 ? 4 : vw >= 2 ? 2 : 1;
    p->nv = p->vw >= 4 ? 2 : 4;
    p->mr = p->vw >= 16 ? 12 : 6;
    p->variant = (dev->type & CL_DEVICE_TYPE_CPU) ? SB_LINEAR_REG : SB_LINEAR_LDS;
    size_t lds_bytes = (size_t)p->tk * (size_t)(p->tm + p->tn + 2) * sizeof(float);
    if (p->variant == SB_LINEAR_LDS && lds_bytes > dev->local_mem) p->variant = SB_LINEAR_REG;
}

static int pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }

sb_status sb_linear_params_parse(const char *spec, const sb_device_info *dev, sb_linear_params *p,
                                 sb_err *e) {
    if (!spec || !*spec) return SB_OK;
    sb_linear_params q = *p;
    int v[5], n = 0;
    if (strcmp(spec, "clblast") == 0) {
#if SEQBOAT_HAVE_CLBLAST
        p->variant = SB_LINEAR_CLBLAST;
        return SB_OK;
#else
        return sb_fail(e, SB_ERR_UNSUPPORTED,
                       "SEQBOAT_LINEAR / tuning.linear = clblast: this library was built without "
                       "CLBlast (SEQBOAT_CLBLAST=OFF); use reg or lds, the library's own GEMM kernels");
#endif
    }
    if (strncmp(spec, "reg", 3) == 0) {
        q.variant = SB_LINEAR_REG;
        if (spec[3] == ':') {
            n = sscanf(spec + 4, "%d,%d,%d", &v[0], &v[1], &v[2]);
            if (n != 3) goto bad;
            q.mr = v[0], q.vw = v[1], q.nv = v[2];
        } else if (spec[3]) goto bad;
        if (q.mr < 1 || q.mr > 32 || q.nv < 1 || q.nv > 8 || !pow2(q.vw) || q.vw > 16 || q.vw == 32)
            goto bad;
    } else if (strncmp(spec, "lds", 3) == 0) {
        q.variant = SB_LINEAR_LDS;
        if (spec[3] == ':') {
            n = sscanf(spec + 4, "%d,%d,%d,%d,%d", &v[0], &v[1], &v[2], &v[3], &v[4]);
            if (n != 5) goto bad;
            q.tm = v[0], q.tn = v[1], q.tk = v[2], q.wm = v[3], q.wn = v[4];
        } else if (spec[3]) goto bad;
        if (q.tm < 1 || q.tn < 1 || q.tk < 1 || q.wm < 1 || q.wn < 1 || q.tm % q.wm || q.tn % q.wn)
            goto bad;
        size_t lx = (size_t)(q.tn / q.wn), ly = (size_t)(q.tm / q.wm);
        if (lx * ly > dev->max_wg || lx > dev->max_wi[0] || ly > dev->max_wi[1])
            return sb_fail(e, SB_ERR_UNSUPPORTED,
                           "SEQBOAT_LINEAR=%s: work-group %zu x %zu exceeds the device's limits", spec,
                           lx, ly);
        if ((size_t)q.tk * (size_t)(q.tm + q.tn + 2) * sizeof(float) > dev->local_mem)
            return sb_fail(e, SB_ERR_UNSUPPORTED,
                           "SEQBOAT_LINEAR=%s: tiles exceed the device's local memory", spec);
    } else
        goto bad;
    *p = q;
    return SB_OK;
bad:
    return sb_fail(e, SB_ERR_ARG,
                   "SEQBOAT_LINEAR=%s: expected clblast, reg[:MR,VW,NV] (VW 1,2,4,8,16) or "
                   "lds[:TM,TN,TK,WM,WN]",
                   spec);
}

void sb_linear_params_string(const sb_linear_params *p, char *buf, size_t size) {
    if (p->variant == SB_LINEAR_REG)
        snprintf(buf, size, "reg:%d,%d,%d", p->mr, p->vw, p->nv);
    else if (p->variant == SB_LINEAR_LDS)
        snprintf(buf, size, "lds:%d,%d,%d,%d,%d", p->tm, p->tn, p->tk, p->wm, p->wn);
    else
        snprintf(buf, size, "clblast");
}

static void defines(const sb_linear_params *p, char *buf, size_t size) {
    if (p->variant == SB_LINEAR_REG)
        snprintf(buf, size,
                 "#define LIN_VARIANT 1\n#define LIN_MR %d\n#define LIN_VW %d\n#define LIN_NV %d\n",
                 p->mr, p->vw, p->nv);
    else
        snprintf(buf, size,
                 "#define LIN_VARIANT 2\n#define LIN_TM %d\n#define LIN_TN %d\n#define LIN_TK %d\n"
                 "#define LIN_WM %d\n"
                 "#define LIN_WN %d\n",
                 p->tm, p->tn, p->tk, p->wm, p->wn);
}

/* The kernels of variant p with weights of type wt (REG: linear_pack,
 * linear_reg; LDS: linear_lds). */
static sb_status kernels_for(sb_rt *rt, const sb_linear_params *p, int wt, sb_kset **out, sb_err *e) {
    static const char *const reg[2] = {"linear_pack", "linear_reg"}, *const lds[1] = {"linear_lds"};
    const int key[SB_KSET_KEY] = {p->variant, p->mr, p->vw, p->nv, p->tm, p->tn, p->tk, p->wm, p->wn, wt};
    *out = sb_rt_kset_find(rt, SB_KSET_LINEAR, key);
    if (*out) return SB_OK;
    char def[1024], vd[160];
    defines(p, vd, sizeof vd);
    snprintf(def, sizeof def, "%s%s", sb_wt_cl_defines((sb_wtype)wt), vd);
    if (p->variant == SB_LINEAR_REG)
        return sb_rt_kset_make(rt, SB_KSET_LINEAR, key, LIN_STEM, NULL, def, reg, 2, NULL, out, e);
    return sb_rt_kset_make(rt, SB_KSET_LINEAR, key, LIN_STEM, NULL, def, lds, 1, NULL, out, e);
}

/* The parameters a product of weight type wt runs with: rt->lin, except that
 * CLBlast's SGEMM reads f32 only, so other types take the LDS kernel with
 * rt->lin's tiles. */
static sb_linear_params params_for(const sb_rt *rt, int wt) {
    sb_linear_params p = rt->lin;
    if (wt != SB_WT_F32 && p.variant == SB_LINEAR_CLBLAST) p.variant = SB_LINEAR_LDS;
    return p;
}

static sb_status kernels(sb_rt *rt, int wt, sb_kset **out, sb_err *e) {
    const sb_linear_params p = params_for(rt, wt);
    return kernels_for(rt, &p, wt, out, e);
}

sb_status sb_linear_kernels(sb_rt *rt, sb_err *e) { return sb_linear_kernels_wt(rt, SB_WT_F32, e); }

sb_status sb_linear_kernels_wt(sb_rt *rt, int wt, sb_err *e) {
    sb_kset *ks;
    if (wt == SB_WT_F32 && rt->lin.variant == SB_LINEAR_CLBLAST) return SB_OK;
    return kernels(rt, wt, &ks, e);
}

sb_status sb_linear_prepare(sb_rt *rt, cl_mem w, cl_mem bias, int n, int k, sb_linear_w *out,
                            sb_err *e) {
    return sb_linear_prepare_wt(rt, SB_WT_F32, w, bias, n, k, out, e);
}

sb_status sb_linear_prepare_wt(sb_rt *rt, int wt, cl_mem w, cl_mem bias, int n, int k,
                               sb_linear_w *out, sb_err *e) {
    sb_status st = SB_OK;
    memset(out, 0, sizeof *out);
    if (!w || n < 1 || k < 1) return sb_fail(e, SB_ERR_ARG, "linear: bad weight n=%d k=%d", n, k);
    if (wt < SB_WT_F32 || wt > SB_WT_I8) return sb_fail(e, SB_ERR_ARG, "linear: unknown weight type %d", wt);
    {
        const sb_buf wv = sb_view_all(w), bv = sb_view_all(bias);
        cl_ulong o;
        SB_TRY(sb_ops_check_buf("linear prepare", "weight", wv,
                                sb_wt_bytes((sb_wtype)wt, (size_t)n * (size_t)k, (size_t)n), &o, e));
        if (bias) SB_TRY(sb_ops_check_buf("linear prepare", "bias", bv, sb_f32((size_t)n), &o, e));
    }
    out->n = n, out->k = k, out->w = w, out->bias = bias, out->wt = wt;
    const sb_linear_params p = params_for(rt, wt);
    if (p.variant != SB_LINEAR_REG) return SB_OK;
    const size_t nr = (size_t)p.vw * (size_t)p.nv, panels = ((size_t)n + nr - 1) / nr;
    const size_t total = panels * nr * (size_t)k;
    out->nr = (int)nr;
    sb_kset *ks;
    SB_TRY(kernels_for(rt, &p, wt, &ks, e));
    cl_kernel kr = ks->k[0];
    SB_TRY(sb_rt_alloc(rt, sb_wt_bytes((sb_wtype)wt, total, panels * nr), &out->packed, "packed weight", e));
    {
        const cl_int cn = n, ck = k;
        const cl_ulong zero = 0;
        SB_ARG(kr, 0, cn);
        SB_ARG(kr, 1, ck);
        SB_ARG(kr, 2, w);
        SB_ARG(kr, 3, zero);
        SB_ARG(kr, 4, ck);
        SB_ARG(kr, 5, out->packed);
        SB_ARG(kr, 6, zero);
        const size_t items = total + (wt == SB_WT_I8 ? panels * nr : 0);
        SB_TRY(sb_ops_launch_1d(rt, kr, sb_ops_wg(rt, ks, 0, 64), items, "linear_pack", e));
    }
    return SB_OK;
done:
    sb_linear_release(out);
    return st;
}

sb_status sb_linear_upload(sb_rt *rt, int wt, const float *w, cl_mem bias, int n, int k,
                           cl_mem *w_out, sb_linear_w *out, sb_err *e) {
    sb_status st = SB_OK;
    memset(out, 0, sizeof *out);
    *w_out = NULL;
    if (n < 1 || k < 1) return sb_fail(e, SB_ERR_ARG, "linear: bad weight n=%d k=%d", n, k);
    const size_t bytes = sb_wt_bytes((sb_wtype)wt, (size_t)n * (size_t)k, (size_t)n);
    void *enc = malloc(bytes);
    if (!enc) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory");
    sb_wt_encode((sb_wtype)wt, w, (size_t)n, (size_t)k, enc);
    SB_TRY(sb_rt_alloc(rt, bytes, w_out, "weight", e));
    {
        const cl_int err = clEnqueueWriteBuffer(rt->queue, *w_out, CL_TRUE, 0, bytes, enc, 0, NULL, NULL);
        if (err != CL_SUCCESS) SB_FAIL(SB_ERR_OPENCL, "uploading a weight: %s", sb_cl_error_string(err));
    }
    SB_TRY(sb_linear_prepare_wt(rt, wt, *w_out, bias, n, k, out, e));
done:
    if (st != SB_OK) sb_mem_release(w_out);
    free(enc);
    return st;
}

void sb_linear_release(sb_linear_w *lw) {
    if (!lw) return;
    if (lw->packed) clReleaseMemObject(lw->packed);
    lw->packed = NULL;
}

sb_status sb_linear_read_raw(sb_rt *rt, const sb_linear_w *lw, void *host, sb_err *e) {
    sb_status st = SB_OK;
    const sb_wtype wt = (sb_wtype)lw->wt;
    const size_t n = (size_t)lw->n, k = (size_t)lw->k, es = sb_wt_elem(wt);
    if (lw->w) return sb_rt_read(rt, lw->w, 0, sb_wt_bytes(wt, n * k, n), host, e);
    if (!lw->packed || lw->nr < 1) return sb_fail(e, SB_ERR_INTERNAL, "linear: no weight to read back");
    const size_t nr = (size_t)lw->nr, panels = (n + nr - 1) / nr, total = panels * nr * k;
    unsigned char *p = malloc(sb_wt_bytes(wt, total, panels * nr)), *h = host;
    if (!p) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory");
    SB_TRY(sb_rt_read(rt, lw->packed, 0, sb_wt_bytes(wt, total, panels * nr), p, e));
    /* the inverse of linear_pack: P[panel][kk][j] = W[panel * nr + j][kk] */
    for (size_t col = 0; col < n; col++)
        for (size_t kk = 0; kk < k; kk++)
            memcpy(h + (col * k + kk) * es, p + ((col / nr) * nr * k + kk * nr + col % nr) * es, es);
    if (wt == SB_WT_I8) {
        memset(h + n * k, 0, sb_wt_scale_off(n * k) - n * k);
        memcpy(h + sb_wt_scale_off(n * k), p + sb_wt_scale_off(total), 4 * n);
    }
done:
    free(p);
    return st;
}

sb_status sb_linear_read_weight(sb_rt *rt, const sb_linear_w *lw, float *host, sb_err *e) {
    sb_status st = SB_OK;
    const sb_wtype wt = (sb_wtype)lw->wt;
    const size_t n = (size_t)lw->n, k = (size_t)lw->k;
    if (wt == SB_WT_F32) return sb_linear_read_raw(rt, lw, host, e);
    void *raw = malloc(sb_wt_bytes(wt, n * k, n));
    if (!raw) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory");
    SB_TRY(sb_linear_read_raw(rt, lw, raw, e));
    for (size_t i = 0; i < n * k; i++) host[i] = sb_wt_decode(wt, raw, n, k, i);
done:
    free(raw);
    return st;
}

static sb_status fallback(sb_rt *rt, size_t m, sb_buf a, size_t lda, const sb_linear_w *lw, int act,
                          sb_buf c, size_t ldc, sb_err *e) {
    sb_status st = SB_OK;
    if (lw->wt != SB_WT_F32)
        SB_FAIL(SB_ERR_INTERNAL, "linear: CLBlast's SGEMM reads f32 weights only");
    if (!lw->w)
        SB_FAIL(SB_ERR_STATE, "linear: the weight was kept only as REG panels, the GEMM of "
                              "this runtime needs it unpacked");
    SB_TRY(sb_gemm(rt, 0, 1, m, (size_t)lw->n, (size_t)lw->k, 1.0f, a.mem, sb_elems(a.off), lda, lw->w, 0,
                   (size_t)lw->k, 0.0f, c.mem, sb_elems(c.off), ldc, e));
    if (lw->bias || act) {
        const sb_buf bias = lw->bias ? sb_view(lw->bias, 0, sb_f32((size_t)lw->n)) : sb_view_none();
        SB_TRY(sb_op_bias_act(rt, (int)m, lw->n, (int)ldc, c, bias, act, e));
    }
done:
    return st;
}

int sb_linear_rows_on_device(const sb_rt *rt, const sb_linear_w *lw) {
    const sb_linear_params p = params_for(rt, lw->wt);
    return p.variant == SB_LINEAR_LDS || (p.variant == SB_LINEAR_REG && (lw->packed || lw->wt != SB_WT_F32));
}

sb_status sb_op_linear(sb_rt *rt, size_t m, sb_buf a, size_t lda, const sb_linear_w *lw, int act,
                       sb_buf c, size_t ldc, sb_err *e) {
    return sb_op_linear_rows(rt, m, sb_view_none(), a, lda, lw, act, c, ldc, e);
}

sb_status sb_op_linear_rows(sb_rt *rt, size_t m, sb_buf mdev, sb_buf a, size_t lda,
                            const sb_linear_w *lw, int act, sb_buf c, size_t ldc, sb_err *e) {
    sb_status st = SB_OK;
    cl_ulong ao, co, mo = 0;
    if (!lw || lw->n < 1 || lw->k < 1) SB_FAIL(SB_ERR_ARG, "linear: weight not prepared");
    if (act != 0 && act != 1) SB_FAIL(SB_ERR_ARG, "linear: unknown activation %d", act);
    if (lda < (size_t)lw->k || ldc < (size_t)lw->n)
        SB_FAIL(SB_ERR_ARG, "linear: lda %zu < k %d or ldc %zu < n %d", lda, lw->k, ldc, lw->n);
    if (m > 0x7fffffff || lda > 0x7fffffff || ldc > 0x7fffffff)
        SB_FAIL(SB_ERR_ARG, "linear: m %zu or a leading dimension is too large", m);
    SB_TRY(sb_ops_check_buf("linear", "a", a, sb_rows_f32(m, lda, (size_t)lw->k), &ao, e));
    SB_TRY(sb_ops_check_buf("linear", "c", c, sb_rows_f32(m, ldc, (size_t)lw->n), &co, e));
    SB_TRY(sb_ops_apart("linear", "a", a, "c", c, e));
    if (m == 0) return SB_OK;
    sb_linear_params pv = params_for(rt, lw->wt);
    const sb_linear_params *p = &pv;
    if (pv.variant == SB_LINEAR_REG && !lw->packed && lw->wt != SB_WT_F32) pv.variant = SB_LINEAR_LDS;
    const cl_int use_mdev = mdev.mem != NULL;
    if (use_mdev) {
        SB_TRY(sb_ops_check_buf("linear", "row count", mdev, sb_i32(1), &mo, e));
        if (!sb_linear_rows_on_device(rt, lw))
            SB_FAIL(SB_ERR_STATE, "linear: this runtime's GEMM cannot take its row count from the device");
    }
    if (p->variant == SB_LINEAR_CLBLAST || (p->variant == SB_LINEAR_REG && !lw->packed))
        return fallback(rt, m, a, lda, lw, act, c, ldc, e);
    sb_kset *ks;
    cl_kernel k;
    const cl_int cm = (cl_int)m, cn = lw->n, ck = lw->k, clda = (cl_int)lda, cldc = (cl_int)ldc;
    const cl_int has_bias = lw->bias != NULL, cact = act;
    const cl_ulong zero = 0;
    int i = 0;
    SB_TRY(kernels_for(rt, p, lw->wt, &ks, e));
    k = ks->k[p->variant == SB_LINEAR_REG ? 1 : 0];
    SB_ARG(k, i++, cm);
    SB_ARG(k, i++, cn);
    SB_ARG(k, i++, ck);
    SB_ARG(k, i++, a.mem);
    SB_ARG(k, i++, ao);
    SB_ARG(k, i++, clda);
    if (p->variant == SB_LINEAR_REG) {
        SB_ARG(k, i++, lw->packed);
        SB_ARG(k, i++, zero);
    } else {
        SB_ARG(k, i++, lw->w);
        SB_ARG(k, i++, zero);
        SB_ARG(k, i++, ck);
    }
    /* without a bias the argument still needs a valid buffer; it is not read */
    const cl_mem any = lw->w ? lw->w : lw->packed;
    if (has_bias) SB_ARG(k, i++, lw->bias);
    else SB_ARG(k, i++, any);
    SB_ARG(k, i++, zero);
    SB_ARG(k, i++, has_bias);
    SB_ARG(k, i++, cact);
    SB_ARG(k, i++, c.mem);
    SB_ARG(k, i++, co);
    SB_ARG(k, i++, cldc);
    /* without a device row count any valid buffer; it is not read */
    const cl_mem mm = use_mdev ? mdev.mem : c.mem;
    SB_ARG(k, i++, mm);
    SB_ARG(k, i++, mo);
    SB_ARG(k, i++, use_mdev);
    if (p->variant == SB_LINEAR_REG) {
        const size_t nr = (size_t)p->vw * (size_t)p->nv;
        const size_t panels = ((size_t)lw->n + nr - 1) / nr, tiles = (m + (size_t)p->mr - 1) / (size_t)p->mr;
        /* 2 x 2 work-groups: PoCL runs a group's items in one loop; 1 x 1
         * groups cost a scheduler round trip each */
        size_t lws[2] = {2, 2};
        if (rt->dev.max_wg < 4 || rt->dev.max_wi[0] < 2 || rt->dev.max_wi[1] < 2) lws[0] = lws[1] = 1;
        const size_t gws[2] = {sb_round_up(panels, lws[0]), sb_round_up(tiles, lws[1])};
        SB_TRY(sb_rt_launch(rt, k, 2, gws, lws, "linear_reg", e));
    } else {
        const size_t lws[2] = {(size_t)(p->tn / p->wn), (size_t)(p->tm / p->wm)};
        const size_t gx = ((size_t)lw->n + (size_t)p->tn - 1) / (size_t)p->tn;
        const size_t gy = (m + (size_t)p->tm - 1) / (size_t)p->tm;
        const size_t gws[2] = {gx * lws[0], gy * lws[1]};
        SB_TRY(sb_rt_launch(rt, k, 2, gws, lws, "linear_lds", e));
    }
done:
    return st;
}
