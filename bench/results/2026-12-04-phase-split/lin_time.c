/* lin_time.c - a scratch timer (not built by CMake): one product
 * C[m x n] = A[m x k] @ W^T on the default device with the GEMM variant that
 * SEQBOAT_LINEAR picks (else the device-class default), three runs after the
 * weight is prepared. Built from the worktree root against the static library:
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -DCL_TARGET_OPENCL_VERSION=120 -Iinclude -Iruntime \
 *       bench/results/2026-12-04-phase-split/lin_time.c build/libseqboat.a -o lin_time \
 *       -lclblast -lcrypto -lcjson -lOpenCL -lm -lpthread
 * usage: lin_time [m n k] (default 512 1024 512) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "ops/linear.h"
#include "ops/ops_rt.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

int main(int argc, char **argv) {
    size_t m = argc > 1 ? (size_t)atoi(argv[1]) : 512;
    size_t n = argc > 2 ? (size_t)atoi(argv[2]) : 1024;
    size_t k = argc > 3 ? (size_t)atoi(argv[3]) : 512;
    sb_err e;
    sb_err_clear(&e);
    sb_rt *rt = NULL;
    sb_rt_options ro = {NULL, "off", 0, NULL};
    if (sb_ops_rt_create(&ro, &rt, &e) != SB_OK) {
        printf("rt: %s\n", e.msg);
        return 1;
    }
    char ps[64];
    sb_linear_params_string(&rt->lin, ps, sizeof ps);
    cl_mem a, w, c;
    if (sb_rt_alloc(rt, m * k * 4, &a, "a", &e) != SB_OK || sb_rt_alloc(rt, n * k * 4, &w, "w", &e) != SB_OK ||
        sb_rt_alloc(rt, m * n * 4, &c, "c", &e) != SB_OK || sb_rt_fill_zero(rt, a, 0, m * k * 4, &e) != SB_OK ||
        sb_rt_fill_zero(rt, w, 0, n * k * 4, &e) != SB_OK) {
        printf("alloc: %s\n", e.msg);
        return 1;
    }
    sb_linear_w lw;
    double t0 = now_ms();
    if (sb_linear_kernels(rt, &e) != SB_OK || sb_linear_prepare(rt, w, NULL, (int)n, (int)k, &lw, &e) != SB_OK ||
        sb_rt_finish(rt, &e) != SB_OK) {
        printf("prepare: %s\n", e.msg);
        return 1;
    }
    double tp = now_ms() - t0;
    for (int r = 0; r < 3; r++) {
        t0 = now_ms();
        if (sb_op_linear(rt, m, sb_view_all(a), k, &lw, 0, sb_view_all(c), n, &e) != SB_OK ||
            sb_rt_finish(rt, &e) != SB_OK) {
            printf("run: %s\n", e.msg);
            return 1;
        }
        double t = now_ms() - t0;
        printf("%-20s m=%zu n=%zu k=%zu prep %.0f ms run %d: %.1f ms = %.2f GFLOP/s\n", ps, m, n, k, tp, r, t,
               2.0 * (double)m * (double)n * (double)k / (t * 1e6));
        fflush(stdout);
    }
    return 0;
}
