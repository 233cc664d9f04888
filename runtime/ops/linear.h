/* linear.h - the model's products C = act(A @ W^T + bias) on the library's own
 * GEMM kernels (cl/linear.cl), with CLBlast (gemm.h) as the fallback.
 *
 * A weight is prepared once at load (sb_linear_prepare): for the CPU-class
 * kernel it is packed into column panels the k-loop streams. The variant and
 * its tile sizes come from rt->lin, set by sb_ops_rt_create from the device class
 * (sb_linear_params_default) unless SEQBOAT_LINEAR overrides it:
 *   SEQBOAT_LINEAR=clblast            CLBlast for every product (SB_ERR_UNSUPPORTED
 *                                     in a SEQBOAT_CLBLAST=OFF build)
 *   SEQBOAT_LINEAR=reg[:MR,VW,NV]     register-tiled kernel (CPU class)
 *   SEQBOAT_LINEAR=lds[:TM,TN,TK,WM,WN] local-memory tiled kernel (GPU class)
 * Bad values are an error of sb_ops_rt_create, never silently ignored. */
#ifndef SB_OPS_LINEAR_H
#define SB_OPS_LINEAR_H
#include "ops.h"

/* A prepared weight W [n x k] (row-major, row stride k) and optional bias [n]. */
typedef struct sb_linear_w {
    int n, k;
    cl_mem w;                 /* not owned: the weight as uploaded; NULL once the owner
                                 released it (REG: the panels are the one copy used) */
    cl_mem bias;              /* not owned; NULL = no bias */
    cl_mem packed;            /* owned: REG panels (NULL for the other variants) */
    int nr;                   /* columns per panel of packed */
    int wt;                   /* storage type of w and packed (sb_wtype, wtype.h): f32,
                                 f16, bf16 or int8 with per-output-channel scales */
} sb_linear_w;

/* Parameters for a device class: CPU -> REG with the native vector width,
 * anything else -> LDS with tiles from a table by vendor (NVIDIA, AMD, Intel,
 * other), shrunk to fit the device's work-group and local-memory limits. */
void sb_linear_params_default(const sb_device_info *dev, sb_linear_params *p);
/* Parse SEQBOAT_LINEAR (NULL or "" keeps *p); checks against dev's limits. */
sb_status sb_linear_params_parse(const char *spec, const sb_device_info *dev, sb_linear_params *p,
                                 sb_err *e);
/* "reg:6,8,2" etc. (for reports). */
void sb_linear_params_string(const sb_linear_params *p, char *buf, size_t size);

/* Resolve the kernels of rt->lin's variant on rt (none for CLBlast; ops
 * resolve them on first use; a model does it at load). */
sb_status sb_linear_kernels(sb_rt *rt, sb_err *e);
/* The same for weights stored as wt (sb_wtype). Weights other than f32 never
 * run on CLBlast (its SGEMM reads f32): with SEQBOAT_LINEAR=clblast they
 * take the LDS kernel with rt->lin's tiles. */
sb_status sb_linear_kernels_wt(sb_rt *rt, int wt, sb_err *e);
/* Prepare (pack when rt->lin wants it). w must hold n*k floats; bias n or NULL. */
sb_status sb_linear_prepare(sb_rt *rt, cl_mem w, cl_mem bias, int n, int k, sb_linear_w *out,
                            sb_err *e);
/* The same with w stored as wt: sb_wt_bytes(wt, n*k, n) bytes laid out as
 * sb_wt_encode writes them. */
sb_status sb_linear_prepare_wt(sb_rt *rt, int wt, cl_mem w, cl_mem bias, int n, int k,
                               sb_linear_w *out, sb_err *e);
/* Encode the host weight w [n][k] (floats) as wt, upload it into a new
 * buffer *w_out (owned by the caller, like any w) and prepare it. */
sb_status sb_linear_upload(sb_rt *rt, int wt, const float *w, cl_mem bias, int n, int k,
                           cl_mem *w_out, sb_linear_w *out, sb_err *e);
void sb_linear_release(sb_linear_w *lw); /* accepts a zeroed struct */
/* The weight W [n][k] back on the host (from w, else unpacked from the
 * panels); host holds n*k floats. A blocking read. */
sb_status sb_linear_read_weight(sb_rt *rt, const sb_linear_w *lw, float *host, sb_err *e);
/* The weight as stored (type lw->wt, unpacked [n][k] with its int8 scales):
 * sb_wt_bytes(lw->wt, n*k, n) bytes into host. */
sb_status sb_linear_read_raw(sb_rt *rt, const sb_linear_w *lw, void *host, sb_err *e);

/* C[m x n] (row stride ldc) = act(A[m x k] (row stride lda) @ W^T + bias);
 * act 0 = none, 1 = silu. Offsets of a and c in bytes. Timed as SB_PHASE_PROJ
 * by the caller's phase. */
sb_status sb_op_linear(sb_rt *rt, size_t m, sb_buf a, size_t lda, const sb_linear_w *lw, int act,
                       sb_buf c, size_t ldc, sb_err *e);
/* The same for up to m rows: with mdev (one int on the device, e.g. the
 * compaction's count cstart[B]) not none, the kernel computes rows
 * [0, min(m, *mdev)) and leaves the others untouched; the host never reads
 * the count (launch sized for m, row tiles past the count return at once).
 * Only where sb_linear_rows_on_device (the own kernels, not CLBlast):
 * SB_ERR_STATE otherwise. */
int sb_linear_rows_on_device(const sb_rt *rt, const sb_linear_w *lw);
sb_status sb_op_linear_rows(sb_rt *rt, size_t m, sb_buf mdev, sb_buf a, size_t lda,
                            const sb_linear_w *lw, int act, sb_buf c, size_t ldc, sb_err *e);

#endif
