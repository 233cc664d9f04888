/* test_bench_table.c - the table `seqboat bench` prints (bench/bench_table.c)
 * with made-up timings: after the peak of a device was measured again, the
 * rows printed before it are printed again against the new peak, and the last
 * line printed for each row says what the JSON report holds. No device. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "bench_table.h"
#include "testutil.h"

/* A row of made-up timings: phase p 1 GFLOP and (p + 1) * 0.5 GB in 100 ms;
 * the forward 5 GFLOP and 2 GB (intensity 2.5) in 100 ms. */
static void fake_row(sb_bench_row *r, int L) {
    sb_bench_row_init(r);
    snprintf(r->status, sizeof r->status, "ok");
    snprintf(r->method, sizeof r->method, "sma");
    snprintf(r->device, sizeof r->device, "dev");
    r->L = L;
    r->share_target = 0.5;
    r->share = 0.5;
    for (int p = 0; p < SB_PHASE_COUNT; p++) {
        r->phase_gflop[p] = 1;
        r->phase_gbytes[p] = 0.5 * (p + 1);
        r->phase_ms[p] = 20;
    }
    r->gflop = 5;
    r->gbytes = 2;
    r->ms_min = 90, r->ms_med = 100, r->ms_max = 120;
    r->tokens_per_s = 1e3 * L / r->ms_med;
    r->gflop_s = 50;
    r->gb_s = 20;
    r->gemm_gflop_s = 40;
    r->unattributed_ms = 0;
    r->profiled_ms = 100;
    r->device_busy_ms = 100;
    r->split_ok = 1;
    snprintf(r->split_note, sizeof r->split_note, "ok");
    snprintf(r->split_source, sizeof r->split_source, "wall-serialised");
}

/* What sb_bench_table_row prints for r (caller frees). */
static char *row_text(const sb_bench_row *r) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ck_assert_ptr_nonnull(f);
    sb_bench_table_row(f, r);
    fclose(f);
    return buf;
}

/* The roof% column of a printed row: fields dev, method, L, share, act,
 * "min / med / max" (5), tokens/s, GFLOP/s, 6 shares, GEMM, GB/s, AI, roof%. */
static double roof_column(const char *text) {
    char line[512];
    snprintf(line, sizeof line, "%s", text);
    char *save = NULL, *tok = strtok_r(line, " \n", &save);
    for (int i = 0; i < 21 && tok; i++) tok = strtok_r(NULL, " \n", &save);
    ck_assert_ptr_nonnull(tok);
    return strcmp(tok, "-") ? atof(tok) : NAN;
}

START_TEST(test_repeak_reprints) {
    sb_bench_report rep;
    sb_bench_report_init(&rep);
    sb_bench_config_default(&rep.cfg);
    sb_bench_device dv;
    memset(&dv, 0, sizeof dv);
    snprintf(dv.name, sizeof dv.name, "dev");
    snprintf(dv.status, sizeof dv.status, "ok");
    dv.has_peak = 1;
    dv.peak.fp32_gflops = 1000; /* the first peak: ridge at 10 FLOP/byte, the rows' bound 250 */
    dv.peak.bandwidth_gbs = 100;
    ck_assert_ptr_nonnull(sb_bench_report_add_device(&rep, &dv));
    sb_bench_row raw[2], r;
    int at[2];
    char *before[2];
    for (int i = 0; i < 2; i++) {
        fake_row(&raw[i], 4096 << (3 * i));
        r = raw[i];
        sb_bench_roofline(&r, 1000, 100);
        ck_assert_double_eq_tol(r.roofline_pct, 20, 1e-9); /* 50 of 250 */
        at[i] = rep.n_rows;
        ck_assert_ptr_nonnull(sb_bench_report_add_row(&rep, &r));
        before[i] = row_text(&r);
        ck_assert_double_eq_tol(roof_column(before[i]), 20, 1e-9);
    }
    /* the peak measured again: 2000 GFLOP/s, 200 GB/s (bound 500) */
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(sb_bench_table_repeak(f, &rep, raw, at, 2, 2000, 200), 2);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(out, "recomputed against the peak measured again"));
    ck_assert_ptr_nonnull(strstr(out, "roof% e/g/p/a/o")); /* a header above them */
    for (int i = 0; i < 2; i++) {
        ck_assert_double_eq_tol(rep.rows[at[i]].roofline_pct, 10, 1e-9); /* 50 of 500 */
        char *now = row_text(&rep.rows[at[i]]);
        const char *p = strstr(out, now);
        ck_assert_msg(p != NULL, "row %d not printed again:\n%s\nin\n%s", i, now, out);
        ck_assert_double_eq_tol(roof_column(now), 10, 1e-9);
        ck_assert_str_ne(now, before[i]); /* the first line of this row is superseded */
        ck_assert(p > strstr(out, "roof% e/g/p/a/o"));
        free(now);
        free(before[i]);
    }
    free(out);
    /* the JSON report holds the figures of the last table printed */
    char path[] = "/tmp/sb_test_bench_table_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    TU_OK(sb_bench_write_json(&rep, path, &tu_err));
    char *buf = tu_slurp(path, NULL);
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    ck_assert_ptr_nonnull(root);
    cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "results");
    ck_assert_int_eq(cJSON_GetArraySize(res), 2);
    for (int i = 0; i < 2; i++) {
        cJSON *rp = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(res, i), "roofline_pct");
        ck_assert(cJSON_IsNumber(rp));
        ck_assert_double_eq_tol(rp->valuedouble, 10, 1e-9);
    }
    cJSON_Delete(root);
    unlink(path);
    /* no rows to redo, or indices outside the report: nothing printed */
    out = NULL;
    f = open_memstream(&out, &n);
    int bad[2] = {-1, 7};
    ck_assert_int_eq(sb_bench_table_repeak(f, &rep, raw, bad, 2, 3000, 300), 0);
    ck_assert_int_eq(sb_bench_table_repeak(f, &rep, raw, at, 0, 3000, 300), 0);
    fclose(f);
    ck_assert_uint_eq(n, 0);
    free(out);
    ck_assert_double_eq_tol(rep.rows[0].roofline_pct, 10, 1e-9); /* untouched */
    sb_bench_report_free(&rep);
}
END_TEST

/* A row the new peak makes trustworthy again: a serialised phase above the old
 * peak withheld the split; against a higher peak the reprint shows it. */
START_TEST(test_repeak_restores_split) {
    sb_bench_report rep;
    sb_bench_report_init(&rep);
    sb_bench_row raw, r;
    fake_row(&raw, 1024);
    raw.phase_ms[SB_PHASE_PROJ] = 0.5; /* 2000 GFLOP/s */
    r = raw;
    sb_bench_roofline(&r, 1000, 100);
    ck_assert_int_eq(r.split_ok, 0);
    ck_assert_ptr_nonnull(sb_bench_report_add_row(&rep, &r));
    char *first = row_text(&r);
    ck_assert_ptr_nonnull(strstr(first, "phase split unavailable"));
    int at = 0;
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    ck_assert_int_eq(sb_bench_table_repeak(f, &rep, &raw, &at, 1, 4000, 400), 1);
    fclose(f);
    ck_assert_int_eq(rep.rows[0].split_ok, 1);
    ck_assert_ptr_nonnull(strstr(out, "phase split: host wall clock"));
    free(first);
    free(out);
    sb_bench_report_free(&rep);
}
END_TEST

int main(void) {
    Suite *s = suite_create("bench_table");
    TCase *tc = tcase_create("bench_table");
    tcase_add_test(tc, test_repeak_reprints);
    tcase_add_test(tc, test_repeak_restores_split);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
