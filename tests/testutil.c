/* testutil.c - shared helpers of the Check suites. */
#include <string.h>
#include "testutil.h"

sb_err tu_err;

sb_rt *tu_rt(void) {
    sb_rt *rt = NULL;
    sb_rt_options o = {0};
    sb_err_clear(&tu_err);
    TU_OK(sb_rt_create(&o, &rt, &tu_err));
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
