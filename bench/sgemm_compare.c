/* sgemm_compare.c - OpenBLAS SGEMM (host CPU) next to the library's GEMMs
 * (its own kernel, cl/linear.cl through sb_op_linear with the weight packed
 * once, and CLBlast through sb_gemm) on the same machine, for the GEMM speed
 * target. Rates from wall time (enqueue to finish), median of the repeats.
 * Shapes: 1024^3 and the three projection GEMMs of a SeqBoat layer
 * (row-major, C[m x n] = A[m x k] @ W[n x k]^T as runtime/model.c calls them).
 * Build and run: bench/sgemm_compare.sh (needs libopenblas-dev). The runtime
 * applies the tuned parameters of runtime/gemm_tune.c; --untuned keeps CLBlast's
 * own (SEQBOAT_GEMM_TUNE=off). Not part of
 * the library or the tests. Prints one line per (backend, shape) and a JSON
 * line per shape on request (--json). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gemm.h"
#include "gemm_tune.h"
#include "ops/linear.h"
#include "ops/ops_rt.h"
#include "rt.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define REPS 5

typedef struct shape {
    const char *name;
    int m, n, k, tb; /* tb: B is n x k and transposed */
} shape;

int main(int argc, char **argv) {
    const char *dev = NULL;
    int json = 0, untuned = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--untuned")) untuned = 1;
        else dev = argv[i];
    }
    shape shapes[] = {
        {"1024^3", 1024, 1024, 1024, 0},
        {"hx_proj 8192x514x512", 8192, 514, 512, 1},
        {"mx_proj 4096x2176x512", 4096, 2176, 512, 1},
        {"h_proj 4096x512x1024", 4096, 512, 1024, 1},
        {"encoder 32768x512x16", 32768, 512, 16, 1},
        {"decoder 32768x16x512", 32768, 16, 512, 1},
        {"encoder 4096x512x16", 4096, 512, 16, 1},
        {"hx_proj 128x514x512", 128, 514, 512, 1},
        {"mx_proj 32x2176x512", 32, 2176, 512, 1},
        {"decoder 4096x16x512", 4096, 16, 512, 1},
        {"decode mx_proj 1x2176x512", 1, 2176, 512, 1},
        {"decode h_proj 1x512x1024", 1, 512, 1024, 1},
    };
    sb_err e;
    sb_err_clear(&e);
    sb_rt *rt = NULL;
    if (untuned) sb_gemm_tune_set_enabled(0);
    sb_rt_options ro = {dev, NULL, 1, NULL, 0};
    if (sb_ops_rt_create(&ro, &rt, &e) != SB_OK) {
        fprintf(stderr, "sgemm_compare: %s\n", e.msg);
        return 1;
    }
    const char *active = sb_gemm_tune_active(&rt->dev);
    char lp[64];
    sb_linear_params_string(&rt->lin, lp, sizeof lp);
    printf("CLBlast parameters: %s; own GEMM: %s\n", active ? active : "CLBlast's own", lp);
    printf("OpenCL device: %s (%s), OpenBLAS %s, %d threads\n", rt->dev.name, rt->dev.platform_name,
           openblas_get_config(), openblas_get_num_threads());
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *sh = &shapes[s];
        size_t na = (size_t)sh->m * sh->k, nb = (size_t)sh->n * sh->k, nc = (size_t)sh->m * sh->n;
        float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4);
        if (!a || !b || !c) return 1;
        for (size_t i = 0; i < na; i++) a[i] = (float)((i * 7) % 13) * 0.1f - 0.6f;
        for (size_t i = 0; i < nb; i++) b[i] = (float)((i * 5) % 11) * 0.1f - 0.5f;
        double flops = 2.0 * sh->m * sh->n * sh->k, t[REPS];
        int ldb = sh->tb ? sh->k : sh->n;
        /* OpenBLAS */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, sh->tb ? CblasTrans : CblasNoTrans, sh->m, sh->n,
                    sh->k, 1.0f, a, sh->k, b, ldb, 0.0f, c, sh->n);
        for (int r = 0; r < REPS; r++) {
            double t0 = now_ms();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, sh->tb ? CblasTrans : CblasNoTrans, sh->m,
                        sh->n, sh->k, 1.0f, a, sh->k, b, ldb, 0.0f, c, sh->n);
            t[r] = now_ms() - t0;
        }
        qsort(t, REPS, sizeof t[0], cmp);
        double blas = flops / (t[REPS / 2] * 1e6);
        /* the library's GEMM (CLBlast), device time from event profiling and wall */
        cl_mem da, db, dc;
        if (sb_rt_alloc(rt, na * 4, &da, "a", &e) || sb_rt_alloc(rt, nb * 4, &db, "b", &e) ||
            sb_rt_alloc(rt, nc * 4, &dc, "c", &e) || sb_rt_write(rt, da, 0, na * 4, a, &e) ||
            sb_rt_write(rt, db, 0, nb * 4, b, &e)) {
            fprintf(stderr, "sgemm_compare: %s\n", e.msg);
            return 1;
        }
        double tw[REPS], td[REPS];
        for (int r = -1; r < REPS; r++) {
            rt->phase_ms[0] = 0;
            double t0 = now_ms();
            if (sb_gemm(rt, 0, sh->tb, (size_t)sh->m, (size_t)sh->n, (size_t)sh->k, 1.0f, da, 0,
                        (size_t)sh->k, db, 0, (size_t)ldb, 0.0f, dc, 0, (size_t)sh->n, &e) != SB_OK ||
                sb_rt_finish(rt, &e) != SB_OK) {
                fprintf(stderr, "sgemm_compare: %s\n", e.msg);
                return 1;
            }
            if (r >= 0) {
                tw[r] = now_ms() - t0;
                td[r] = rt->phase_ms[0];
            }
        }
        qsort(tw, REPS, sizeof tw[0], cmp);
        qsort(td, REPS, sizeof td[0], cmp);
        double clw = flops / (tw[REPS / 2] * 1e6), cld = flops / (td[REPS / 2] * 1e6);
        /* the own kernel: W = the n x k operand (for 1024^3, b read as W) */
        sb_linear_w lw;
        double to[REPS];
        if (sb_linear_prepare(rt, db, NULL, sh->n, sh->k, &lw, &e) != SB_OK) {
            fprintf(stderr, "sgemm_compare: %s\n", e.msg);
            return 1;
        }
        for (int r = -1; r < REPS; r++) {
            const sb_buf ab = sb_view_all(da), cb = sb_view_all(dc);
            double t0 = now_ms();
            if (sb_op_linear(rt, (size_t)sh->m, ab, (size_t)sh->k, &lw, 0, cb, (size_t)sh->n, &e) != SB_OK ||
                sb_rt_finish(rt, &e) != SB_OK) {
                fprintf(stderr, "sgemm_compare: %s\n", e.msg);
                return 1;
            }
            if (r >= 0) to[r] = now_ms() - t0;
        }
        sb_linear_release(&lw);
        qsort(to, REPS, sizeof to[0], cmp);
        double own = flops / (to[REPS / 2] * 1e6);
        printf("%-27s OpenBLAS %7.1f | own %7.1f (%3.0f%%) | CLBlast %7.1f wall, %7.1f device "
               "GFLOP/s\n", sh->name, blas, own, 100.0 * own / blas, clw, cld);
        if (json)
            printf("{\"shape\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, \"openblas_gflop_s\": %.2f, "
                   "\"own_wall_gflop_s\": %.2f, \"clblast_device_gflop_s\": %.2f, "
                   "\"clblast_wall_gflop_s\": %.2f}\n",
                   sh->name, sh->m, sh->n, sh->k, blas, own, cld, clw);
        clReleaseMemObject(da);
        clReleaseMemObject(db);
        clReleaseMemObject(dc);
        free(a);
        free(b);
        free(c);
    }
    sb_rt_free(rt);
    return 0;
}
