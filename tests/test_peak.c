/* test_peak.c - the peak's checks with made-up figures (bench/peak.c,
 * bench/peak_cache.c): the host copy / read bound on CPU devices, the
 * verdict on a cached peak after its re-check, the peak's JSON round trip
 * and the cache with a planted low peak. The bench's own checks:
 * test_bench.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "peak.h"
#include "testutil.h"

static void temp_path(char *path) { /* path: a mkstemp template */
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void fake_peak(sb_peak *p) {
    memset(p, 0, sizeof *p);
    snprintf(p->status, sizeof p->status, "ok");
    p->rounds = 5;
    p->fp32_gflops = 300;
    p->fp32_width = 16;
    p->fp32_accumulators = 8;
    p->copy_gbs = 40;
    p->read_gbs = 44;
    p->bandwidth_gbs = 44;
    p->host_copy_gbs = 58;
    p->host_read_gbs = 46;
}

/* CPU devices: a device bandwidth above the host's copy / read of the same
 * bytes is capped to it and flagged; within 5 % it stands; no host figure, no cap. */
START_TEST(test_host_bound) {
    sb_peak p;
    fake_peak(&p);
    ck_assert_int_eq(sb_peak_apply_host_bound(&p), 0);
    ck_assert_int_eq(p.bw_capped, 0);
    ck_assert_double_eq(p.bandwidth_gbs, 44);
    ck_assert_str_eq(p.note, "");
    /* the busy-machine run: copy 75.4 and read 65.5 GB/s on memory that gives ~46 */
    fake_peak(&p);
    p.copy_gbs = 75.4;
    p.read_gbs = 65.5;
    ck_assert_int_eq(sb_peak_apply_host_bound(&p), 2);
    ck_assert_int_eq(p.bw_capped, 1);
    ck_assert_double_eq(p.copy_gbs, 58);
    ck_assert_double_eq(p.read_gbs, 46);
    ck_assert_double_eq(p.bandwidth_gbs, 58);
    ck_assert_ptr_nonnull(strstr(p.note, "above the host's copy"));
    ck_assert_ptr_nonnull(strstr(p.note, "above the host's read"));
    fake_peak(&p);
    p.read_gbs = 48; /* 4 % above: noise */
    ck_assert_int_eq(sb_peak_apply_host_bound(&p), 0);
    ck_assert_double_eq(p.bandwidth_gbs, 48);
    fake_peak(&p);
    p.host_copy_gbs = p.host_read_gbs = 0; /* not a CPU device */
    p.copy_gbs = 900;
    ck_assert_int_eq(sb_peak_apply_host_bound(&p), 0);
    ck_assert_double_eq(p.bandwidth_gbs, 900);
}
END_TEST

/* A cached peak is re-measured when a short re-check beats it by > 10 % (a
 * planted low peak) or its own figures fail their checks; else it stands. */
START_TEST(test_recheck_verdict) {
    sb_peak c;
    char why[256];
    fake_peak(&c);
    ck_assert_int_eq(sb_peak_recheck_verdict(&c, 310, 43, why, sizeof why), 0);
    ck_assert_str_eq(why, "ok");
    ck_assert_int_eq(sb_peak_recheck_verdict(&c, 200, 20, why, sizeof why), 0); /* a busy moment now */
    ck_assert_int_eq(sb_peak_recheck_verdict(&c, NAN, NAN, why, sizeof why), 0);
    c.fp32_gflops = 20; /* planted low */
    ck_assert_int_eq(sb_peak_recheck_verdict(&c, 300, 43, why, sizeof why), 1);
    ck_assert_ptr_nonnull(strstr(why, "above the cached peak 20.0"));
    fake_peak(&c);
    c.bandwidth_gbs = 4; /* planted low bandwidth */
    ck_assert_int_eq(sb_peak_recheck_verdict(&c, 300, 43, why, sizeof why), 1);
    ck_assert_ptr_nonnull(strstr(why, "cached bandwidth"));
    fake_peak(&c);
    c.bandwidth_gbs = 75; /* planted high: above its own host bound */
    ck_assert_int_eq(sb_peak_recheck_verdict(&c, 300, 43, why, sizeof why), 1);
    ck_assert_ptr_nonnull(strstr(why, "host bound"));
    fake_peak(&c);
    c.rounds = 0;
    ck_assert_int_eq(sb_peak_recheck_verdict(&c, 300, 43, why, sizeof why), 1);
}
END_TEST

/* Peak JSON: the fields of `seqboat peak --json` round trip. */
START_TEST(test_peak_json) {
    sb_peak p, q;
    memset(&p, 0, sizeof p);
    p.index = 3;
    snprintf(p.name, sizeof p.name, "a \"device\"");
    snprintf(p.driver, sizeof p.driver, "9.9");
    snprintf(p.status, sizeof p.status, "ok");
    p.fp32_gflops = 123.5;
    p.fp32_width = 8;
    p.fp32_accumulators = 16;
    for (int i = 0; i < SB_PEAK_WIDTHS; i++) p.fp32_by_width[i] = 10.0 * (i + 1);
    p.bandwidth_gbs = 27.25;
    p.transfer_gbs = 5.5;
    p.launch_us = 12.5;
    cJSON *o = sb_peak_to_json(&p);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(sb_peak_from_json(o, &q), 0);
    cJSON_Delete(o);
    ck_assert_str_eq(q.name, p.name);
    ck_assert_double_eq(q.fp32_gflops, 123.5);
    ck_assert_double_eq(q.fp32_by_width[4], 50);
    ck_assert_double_eq(q.bandwidth_gbs, 27.25);
    ck_assert_double_eq(q.launch_us, 12.5);
    char path[] = "/tmp/sb_test_peak_XXXXXX";
    temp_path(path);
    TU_OK(sb_peak_write_json(&p, 1, path, &tu_err));
    char *buf = tu_slurp(path, NULL);
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "devices"), 0);
    static const char *const keys[] = {"index", "name", "driver", "fp32_gflops", "bandwidth_gbs",
                                       "transfer_gbs", "launch_us"};
    for (int i = 0; i < 7; i++) ck_assert_msg(cJSON_GetObjectItemCaseSensitive(d, keys[i]) != NULL, "%s", keys[i]);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(d, "index")->valueint, 3);
    cJSON_Delete(root);
    unlink(path);
}
END_TEST

/* A real measurement on the default device: positive figures, then the same
 * figures from the cache folder. */
START_TEST(test_peak_measure_cache) {
    char dir[] = "/tmp/sb_test_peak_cache_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    setenv("SEQBOAT_CACHE_DIR", dir, 1);
    sb_peak_cfg cfg = {2, 5.0, 0.0, 32.0}; /* short: 2 rounds, 5 ms launches, 32 MiB buffers */
    sb_peak a, b, c;
    TU_OK(sb_peak_get_cfg(NULL, SB_PEAK_CACHE_USE, 0, &cfg, &a, &tu_err));
    ck_assert_int_eq(a.cached, 0);
    ck_assert(a.fp32_gflops > 0 && a.bandwidth_gbs > 0 && a.transfer_gbs > 0 && a.launch_us > 0);
    ck_assert(a.fp32_width >= 1 && a.fp32_accumulators >= 4);
    for (int i = 0; i < SB_PEAK_WIDTHS; i++) ck_assert(a.fp32_by_width[i] <= a.fp32_gflops);
    ck_assert_int_eq(a.rounds, 2);
    ck_assert(a.fp32_spread[0] > 0 && a.fp32_spread[0] <= a.fp32_spread[1] && a.fp32_spread[1] <= a.fp32_spread[2]);
    ck_assert(a.fp32_spread[2] <= a.fp32_gflops);
    ck_assert(a.read_width >= 1 && a.copy_width >= 1);
    if (!strcmp(a.type, "CPU")) { /* the host bound holds */
        ck_assert(a.host_copy_gbs > 0 && a.host_read_gbs > 0 && a.host_threads >= 1);
        ck_assert(a.copy_gbs <= 1.05 * a.host_copy_gbs + 1e-9 && a.read_gbs <= 1.05 * a.host_read_gbs + 1e-9);
    }
    ck_assert(strlen(a.timing) > 0);
    ck_assert(strlen(a.cache_file) > 0);
    ck_assert_int_eq(access(a.cache_file, R_OK), 0);
    TU_OK(sb_peak_get_cfg(NULL, SB_PEAK_CACHE_USE, 0, &cfg, &b, &tu_err));
    ck_assert_str_eq(b.name, a.name);
    ck_assert_int_eq(b.rounds, 2);
    if (b.cached) { /* the cache stands: the same figures */
        ck_assert_ptr_nonnull(strstr(b.recheck, "cache stands"));
        ck_assert_double_eq_tol(b.fp32_gflops, a.fp32_gflops, 1e-9 * a.fp32_gflops);
        ck_assert_double_eq_tol(b.bandwidth_gbs, a.bandwidth_gbs, 1e-9 * a.bandwidth_gbs);
    } else { /* such short launches are noisy: the re-check beat them by > 10 % */
        ck_assert_ptr_nonnull(strstr(b.recheck, "measured again"));
        a = b;
    }
    /* a planted low peak in the cache: the re-check beats it, it is measured again */
    a.fp32_gflops *= 1e-3;
    a.cached = 0;
    cJSON *o = sb_peak_to_json(&a);
    char *text = cJSON_Print(o);
    FILE *f = fopen(a.cache_file, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(o);
    TU_OK(sb_peak_get_cfg(NULL, SB_PEAK_CACHE_USE, 0, &cfg, &c, &tu_err));
    ck_assert_int_eq(c.cached, 0);
    ck_assert_ptr_nonnull(strstr(c.recheck, "measured again"));
    ck_assert(c.fp32_gflops > 100 * a.fp32_gflops);
    unsetenv("SEQBOAT_CACHE_DIR");
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("peak");
    TCase *tc = tcase_create("peak");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_host_bound);
    tcase_add_test(tc, test_recheck_verdict);
    tcase_add_test(tc, test_peak_json);
    tcase_add_test(tc, test_peak_measure_cache);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
