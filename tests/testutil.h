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
#include "../runtime/ops/ops.h"

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
/* A guarded device region: data[n] (NULL: canaries only) laid out as
 * [pad canaries | data | TU_CAN canaries], *b the view of the data. */
#define TU_CAN 16
#define TU_CANARY (-7777.25f)
cl_mem tu_up_guarded(sb_rt *rt, const float *data, size_t n, size_t pad, sb_buf *b);
/* The n floats of a region made by tu_up_guarded into out, the canaries on
 * both sides checked (failures name `what`). */
void tu_down_guarded(sb_rt *rt, cl_mem m, float *out, size_t n, size_t pad, const char *what);
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

/* ---- which implementation the suites run on ----------------------------------
 * Suites run on the device chosen by SEQBOAT_DEVICE (else the default) of
 * whatever implementations the ICD loader shows (OCL_ICD_VENDORS, see
 * scripts/icd_setup.sh). A test that needs one implementation lives in a
 * test case tagged with its name ("pocl"); CMakeLists.txt runs those cases as
 * a CTest entry of their own (<suite>_pocl, CK_INCLUDE_TAGS=pocl), which main()
 * turns into a skip, with the reason, elsewhere; the suite's main entry
 * excludes the tag. CTest reports a skip as "Not Run (Skipped)", never as a
 * pass. */
#define TU_SKIP 77 /* SKIP_RETURN_CODE of every CTest entry */

typedef struct tu_platforms {
    int n_devices;
    char device_platform[256]; /* platform of the device under test ("" if none) */
    char device_name[256];
    int pocl_devices;          /* devices of PoCL's platform among all visible */
} tu_platforms;

/* Looks at the OpenCL devices from a child process, so that the calling
 * process (main, before Check forks) stays free of OpenCL. Fails (returns -1)
 * only when the child cannot be run. */
int tu_probe(tu_platforms *p);
/* 1 when the platform name is PoCL's. */
int tu_is_pocl(const char *platform);
/* 1 when CK_INCLUDE_TAGS selects `tag` (the suite runs as its <suite>_<tag>
 * CTest entry). */
int tu_tag_selected(const char *tag);
/* For main(): 0 when PoCL is there - the device under test is PoCL's, or,
 * with any_device, PoCL's platform is visible at all; otherwise prints the
 * skip line naming `what` needs it and the device found, and returns TU_SKIP
 * (1 when the devices cannot be probed). */
int tu_require_pocl(const char *suite, const char *what, int any_device);
/* For main(): prints "SKIP: <suite>: <reason>" and returns TU_SKIP. */
int tu_skip(const char *suite, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* A shared error record for tests: pass &tu_err to library calls, then
 * TU_OK(call) fails the test with the status and the library's message. */
extern sb_err tu_err;
#define TU_OK(expr_)                                                           \
    do {                                                                       \
        sb_status tu_s_ = (expr_);                                             \
        ck_assert_msg(tu_s_ == SB_OK, "%s -> %s: %s", #expr_,                  \
                      sb_status_string(tu_s_), tu_err.msg);                    \
    } while (0)
/* In a forked child before exec: LeakSanitizer's leak check off for the
 * program it runs (ASAN_OPTIONS gets detect_leaks=0 appended). */
void tu_child_no_leak_check(void);
/* 1 when a child's stderr shows LeakSanitizer's own tracer failing at exit
 * ("LeakSanitizer has encountered a fatal error", seen in ASan builds with
 * many driver threads) without a leak report: the run says nothing about the
 * program, which is then run again with tu_child_no_leak_check. */
int tu_lsan_tracer_failed(const char *err);

#endif
