/* testutil.c - shared helpers of the Check suites. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "testutil.h"
#include "../runtime/gemm.h"
#include "../runtime/ops/ops_rt.h"

sb_err tu_err;

sb_rt *tu_rt(void) {
    sb_rt *rt = NULL;
    sb_rt_options o = {0};
    sb_err_clear(&tu_err);
    TU_OK(sb_ops_rt_create(&o, &rt, &tu_err));
    return rt;
}

static uint32_t xorshift(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

void tu_fill(float *x, size_t n, uint32_t seed, float lo, float hi) {
    uint32_t s = seed * 2654435761u + 12345u;
    if (s == 0) s = 1;
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)((xorshift(&s) >> 8) * (1.0 / 16777216.0));
}

void tu_check_close(const float *got, const float *want, size_t n, float rtol, float atol,
                    const char *what) {
    for (size_t i = 0; i < n; i++) {
        float g = got[i], w = want[i];
        int gn = isnan(g), wn = isnan(w);
        if (gn || wn) {
            ck_assert_msg(gn && wn, "%s[%zu]: got %g want %g (NaN mismatch)", what, i, g, w);
            continue;
        }
        ck_assert_msg(fabsf(g - w) <= atol + rtol * fabsf(w), "%s[%zu]: got %.9g want %.9g (|d|=%g)",
                      what, i, g, w, fabsf(g - w));
    }
}

cl_mem tu_alloc(sb_rt *rt, size_t bytes) {
    cl_mem m = NULL;
    TU_OK(sb_rt_alloc(rt, bytes, &m, "test", &tu_err));
    return m;
}

cl_mem tu_upload(sb_rt *rt, const void *data, size_t bytes) {
    cl_mem m = tu_alloc(rt, bytes);
    TU_OK(sb_rt_write(rt, m, 0, bytes, data, &tu_err));
    return m;
}

void tu_download(sb_rt *rt, cl_mem m, void *dst, size_t bytes) {
    TU_OK(sb_rt_read(rt, m, 0, bytes, dst, &tu_err));
}

int tu_run(Suite *s) {
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed == 0 ? 0 : 1;
}

int tu_is_pocl(const char *platform) {
    return platform && strstr(platform, "Portable Computing Language") != NULL;
}

int tu_probe(tu_platforms *p) {
    int fd[2];
    memset(p, 0, sizeof *p);
    fflush(stdout);
    fflush(stderr);
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        tu_platforms r;
        sb_device_info *list = NULL, pick;
        sb_err e;
        memset(&r, 0, sizeof r);
        close(fd[0]);
        if (sb_devices_list(&list, &r.n_devices, &e) == SB_OK) {
            for (int i = 0; i < r.n_devices; i++) r.pocl_devices += tu_is_pocl(list[i].platform_name);
            if (r.n_devices > 0 && sb_device_select(NULL, &pick, &e) == SB_OK) {
                snprintf(r.device_platform, sizeof r.device_platform, "%s", pick.platform_name);
                snprintf(r.device_name, sizeof r.device_name, "%s", pick.name);
            }
        }
        free(list);
        ssize_t w = write(fd[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof *p) {
        ssize_t k = read(fd[0], (char *)p + got, sizeof *p - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return got == sizeof *p && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int tu_tag_selected(const char *tag) {
    const char *inc = getenv("CK_INCLUDE_TAGS");
    if (!inc) return 0;
    size_t n = strlen(tag);
    for (const char *q = inc; (q = strstr(q, tag)) != NULL; q += n) {
        int start = q == inc || q[-1] == ' ' || q[-1] == ',';
        int end = q[n] == '\0' || q[n] == ' ' || q[n] == ',';
        if (start && end) return 1;
    }
    return 0;
}

int tu_skip(const char *suite, const char *fmt, ...) {
    va_list ap;
    printf("SKIP: %s: ", suite);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return TU_SKIP;
}

int tu_require_pocl(const char *suite, const char *what, int any_device) {
    tu_platforms p;
    if (tu_probe(&p) != 0) {
        fprintf(stderr, "%s: cannot probe the OpenCL devices\n", suite);
        return 1;
    }
    if (any_device ? p.pocl_devices > 0 : tu_is_pocl(p.device_platform)) return 0;
    if (p.n_devices == 0) return tu_skip(suite, "%s needs PoCL; no OpenCL device is visible", what);
    return tu_skip(suite, "%s needs PoCL; %s '%s' on '%s' (%d device(s) visible, none PoCL's)",
                   what, any_device ? "the devices are e.g." : "the device under test is",
                   p.device_name, p.device_platform, p.n_devices);
}

/* ---- GEMM against plain C -------------------------------------------------- */

static void ref_gemm(int ta, int tb, size_t m, size_t n, size_t k, float alpha, const float *a,
                     size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc) {
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t p = 0; p < k; p++) {
                float av = ta ? a[p * lda + i] : a[i * lda + p];
                float bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += (double)av * bv;
            }
            c[i * ldc + j] = beta == 0 ? (float)(alpha * s) : (float)(alpha * s + beta * c[i * ldc + j]);
        }
}

void tu_check_gemm(sb_rt *rt, int ta, int tb, size_t m, size_t n, size_t k, float alpha, float beta,
                uint32_t seed) {
    size_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
    size_t ar = ta ? k : m, br = tb ? n : k;
    size_t aoff = 5, boff = 7, coff = 11, canary = 16;
    size_t asz = aoff + ar * lda, bsz = boff + br * ldb, csz = coff + m * ldc + canary;
    float *a = malloc(asz * 4), *b = malloc(bsz * 4), *c = malloc(csz * 4), *want = malloc(csz * 4);
    tu_fill(a, asz, seed, -1, 1);
    tu_fill(b, bsz, seed + 1, -1, 1);
    tu_fill(c, csz, seed + 2, -1, 1);
    if (beta == 0) /* as in BLAS, C is not read: NaN there must not leak into the result */
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) c[coff + i * ldc + j] = NAN;
    for (size_t i = 0; i < csz; i++) want[i] = c[i];
    cl_mem da = tu_upload(rt, a, asz * 4), db = tu_upload(rt, b, bsz * 4), dc = tu_upload(rt, c, csz * 4);
    TU_OK(sb_gemm(rt, ta, tb, m, n, k, alpha, da, aoff, lda, db, boff, ldb, beta, dc, coff, ldc, &tu_err));
    tu_download(rt, dc, c, csz * 4);
    ref_gemm(ta, tb, m, n, k, alpha, a + aoff, lda, b + boff, ldb, beta, want + coff, ldc);
    char what[128];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d %zux%zux%zu", ta, tb, m, n, k);
    tu_check_close(c, want, csz, 1e-4f, 1e-4f * (float)k, what);
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    free(a);
    free(b);
    free(c);
    free(want);
}

/* ---- extra reference cases --------------------------------------------------- */

char *tu_slurp(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    ck_assert_int_ge(size, 0);
    ck_assert_int_eq(fseek(fp, 0, SEEK_SET), 0);
    char *b = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(b);
    size_t got = fread(b, 1, (size_t)size, fp);
    fclose(fp);
    ck_assert_uint_eq(got, (size_t)size);
    b[got] = 0;
    if (n) *n = got;
    return b;
}

int tu_extra_cases(char (*names)[96], int cap, int streamable) {
    char *text = tu_slurp(SB_TEST_DATA_DIR "/extra/cases.json", NULL);
    cJSON *root = cJSON_Parse(text);
    free(text);
    ck_assert_msg(cJSON_IsArray(root), "extra/cases.json is not a JSON array");
    int count = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(it, "made_with");
        ck_assert(cJSON_IsString(name) && cJSON_IsObject(args));
        const cJSON *bi = cJSON_GetObjectItemCaseSensitive(args, "bidirectional");
        const cJSON *task = cJSON_GetObjectItemCaseSensitive(args, "task");
        int causal = !cJSON_IsTrue(bi);
        int pooled = cJSON_IsString(task) && !strcmp(task->valuestring, "classify");
        if (streamable && (!causal || pooled)) continue;
        ck_assert_int_lt(count, cap);
        snprintf(names[count++], 96, "extra/%s", name->valuestring);
    }
    cJSON_Delete(root);
    return count;
}

cl_mem tu_up_guarded(sb_rt *rt, const float *data, size_t n, size_t pad, sb_buf *b) {
    size_t all = pad + n + TU_CAN;
    float *h = malloc(all * sizeof(float));
    ck_assert_ptr_nonnull(h);
    for (size_t i = 0; i < all; i++) h[i] = TU_CANARY;
    if (data) memcpy(h + pad, data, n * sizeof(float));
    cl_mem m = tu_upload(rt, h, all * sizeof(float));
    free(h);
    *b = sb_view(m, pad * sizeof(float), n * sizeof(float));
    return m;
}

void tu_down_guarded(sb_rt *rt, cl_mem m, float *out, size_t n, size_t pad, const char *what) {
    size_t all = pad + n + TU_CAN;
    float *h = malloc(all * sizeof(float));
    ck_assert_ptr_nonnull(h);
    tu_download(rt, m, h, all * sizeof(float));
    for (size_t i = 0; i < pad; i++)
        ck_assert_msg(h[i] == TU_CANARY, "%s: canary before [%zu] = %g", what, i, h[i]);
    for (size_t i = 0; i < TU_CAN; i++)
        ck_assert_msg(h[pad + n + i] == TU_CANARY, "%s: canary after [%zu] = %g", what, i, h[pad + n + i]);
    memcpy(out, h + pad, n * sizeof(float));
    free(h);
}

void tu_child_no_leak_check(void) {
    char opts[512];
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", old ? old : "", old && *old ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
}

int tu_lsan_tracer_failed(const char *err) {
    return err && strstr(err, "LeakSanitizer has encountered a fatal error") &&
           !strstr(err, "detected memory leaks");
}
