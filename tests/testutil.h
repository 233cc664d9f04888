/* testutil.h - helpers for the Check suites. Create OpenCL objects inside a
 * test (Check forks each test), never before. */
#ifndef SB_TESTUTIL_H
#define SB_TESTUTIL_H
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "../runtime/rt.h"

/* A runtime on the default device (env SEQBOAT_DEVICE respected) with the disk
 * cache in the default place unless SEQBOAT_CACHE_DIR says otherwise. Fails the
 * test with the library's message on error. */
sb_rt *tu_rt(void);

/* Deterministic uniform floats in [lo, hi). */
void tu_fill(float *x, size_t n, uint32_t seed, float lo, float hi);
/* Max relative/absolute comparison: |a-b| <= atol + rtol*|b| for all i; reports
 * the first offender through ck_assert_msg with `what`. NaN in one and not the
 * other fails. */
void tu_check_close(const float *got, const float *want, size_t n, float rtol, float atol,
                    const char *what);
/* Upload / download helpers that fail the test on error. */
cl_mem tu_upload(sb_rt *rt, const void *data, size_t bytes);
cl_mem tu_alloc(sb_rt *rt, size_t bytes);
void tu_download(sb_rt *rt, cl_mem m, void *dst, size_t bytes);
/* sb_gemm (row-major C = alpha op(A) op(B) + beta C, with odd leading
 * dimensions, offsets and a canary after C) against a plain-C GEMM in double;
 * with beta = 0, C starts as NaN (it must not be read). Fails the test on a
 * mismatch. */
void tu_check_gemm(sb_rt *rt, int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                   float beta, uint32_t seed);
/* The whole file, NUL-terminated (malloc'd; the caller frees it); its size
 * into *n when n is not NULL. Fails the test when it cannot be read. */
char *tu_slurp(const char *path, size_t *n);
/* Names of the cases in tests/data/extra/cases.json as "extra/<name>" (paths
 * relative to tests/data, without ".model.safetensors"), at most cap; with
 * streamable, only causal sequence/lm cases. Returns the count (fails the
 * test when the list cannot be read). */
int tu_extra_cases(char (*names)[96], int cap, int streamable);
/* Run a Check suite, return process exit code. */
int tu_run(Suite *s);

/* A shared error record for tests: pass &tu_err to library calls, then
 * TU_OK(call) fails the test with the status and the library's message. */
extern sb_err tu_err;
#define TU_OK(expr_)                                                           \
    do {                                                                       \
        sb_status tu_s_ = (expr_);                                             \
        ck_assert_msg(tu_s_ == SB_OK, "%s -> %s: %s", #expr_,                  \
                      sb_status_string(tu_s_), tu_err.msg);                    \
    } while (0)
#endif
