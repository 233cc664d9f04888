/* test_bench.c - the bench's work model (hand-computed small cases), the
 * JSON / CSV report round trip, the random bench models, and the forced
 * activation share through a whole forward. Timings are not checked. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "bench_force.h"
#include "wtype.h"
#include "peak.h"
#include "testutil.h"

/* Pairs by brute force: for each query i, the keys j of its window. */
static double pairs_brute(int m, int W, int causal) {
    double n = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++)
            if (j >= i - W && (causal ? j <= i : j <= i + W)) n++;
    return n;
}

START_TEST(test_pairs) {
    ck_assert_double_eq(sb_bench_attn_pairs(0, 4, 1), 0);
    ck_assert_double_eq(sb_bench_attn_pairs(1, 4, 1), 1);
    ck_assert_double_eq(sb_bench_attn_pairs(5, 2, 1), 12); /* 1+2+3+3+3 */
    ck_assert_double_eq(sb_bench_attn_pairs(3, 2, 1), 6);  /* 1+2+3 */
    ck_assert_double_eq(sb_bench_attn_pairs(5, 2, 0), 19); /* 3+4+5+4+3 */
    for (int causal = 0; causal < 2; causal++)
        for (int W = 1; W < 9; W++)
            for (int m = 0; m < 30; m++)
                ck_assert_msg(sb_bench_attn_pairs(m, W, causal) == pairs_brute(m, W, causal),
                              "pairs m=%d W=%d causal=%d: %g vs %g", m, W, causal,
                              sb_bench_attn_pairs(m, W, causal), pairs_brute(m, W, causal));
}
END_TEST

static sb_config tiny_cfg(void) {
    sb_config c;
    sb_bench_config_default(&c);
    c.d_model = 2;
    c.d_qk = 1;
    c.d_hidden = 1;
    c.d_ema = 1;
    c.mem_size = 1;
    c.d_input = 3;
    c.d_output = 4;
    c.max_positions = 8;
    return c;
}

/* A small model that runs (2 layers, D=16, W=8) and a temp file name for it. */
static sb_config small_cfg(void) {
    sb_config c = tiny_cfg();
    c.d_model = 16;
    c.d_qk = 8;
    c.d_hidden = 24;
    c.d_ema = 2;
    c.mem_size = 8;
    c.n_layers = 2;
    return c;
}

static void temp_path(char *path) { /* path: a mkstemp template */
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

START_TEST(test_flops_hand) {
    /* D=2 Z=1 H=1 N=1 W=1 causal relu2, one sequence of T=3 tokens, M=2
     * activated: K=2, S=Z+2H=3, pairs = P(2) = 3.
     *   OTHER 8TD = 48
     *   EMA   5TKN + 6TD = 30 + 36 = 66
     *   PROJ  gemm 2TD(D+2) + 2MDS + 2MHD = 48 + 24 + 8 = 80; + T(D+2) + 5MS + MD = 12+30+4
     *   GATE  10T + 7TD = 30 + 42 = 72
     *   ATTN  4MZ + pairs(2Z+3) + pairs 2H + MH = 8 + 15 + 6 + 2 = 31 */
    sb_config c = tiny_cfg();
    long len[1] = {3}, act[1] = {2};
    sb_bench_work w;
    memset(&w, 0, sizeof w);
    sb_bench_count_layer(&c, 1, len, act, &w);
    ck_assert_double_eq(w.flops[SB_PHASE_OTHER], 48);
    ck_assert_double_eq(w.flops[SB_PHASE_EMA], 66);
    ck_assert_double_eq(w.flops[SB_PHASE_PROJ], 126);
    ck_assert_double_eq(w.flops[SB_PHASE_GATE], 72);
    ck_assert_double_eq(w.flops[SB_PHASE_ATTN], 31);
    ck_assert_double_eq(w.gemm_flops, 80);
    ck_assert_double_eq(w.attn_pairs, 3);
    ck_assert_double_eq(w.flops_total, 343);
    /* outside the layers, F=3 O=4 prenorm: encoder 2TFD + TD = 42, final norm
     * 48, decoder 2TDO + TO = 60 */
    sb_bench_work io;
    memset(&io, 0, sizeof io);
    sb_bench_count_io(&c, 1, len, &io);
    ck_assert_double_eq(io.flops[SB_PHASE_OTHER], 150);
    /* the whole forward of two layers = 2 layers + io */
    c.n_layers = 2;
    sb_bench_work f;
    sb_bench_count_forward(&c, 1, len, act, &f);
    ck_assert_double_eq(f.flops_total, 2 * 343 + 150);
    /* bidirectional: K = 2D and pairs = 2 P(2) - 2 = 4 */
    c.n_layers = 1;
    c.bidirectional = 1;
    memset(&w, 0, sizeof w);
    sb_bench_count_layer(&c, 1, len, act, &w);
    ck_assert_double_eq(w.flops[SB_PHASE_EMA], 5 * 3 * 4 * 1 + 36);
    ck_assert_double_eq(w.attn_pairs, 4);
    /* softmax: 6 per pair instead of 3; two sequences add up */
    c.bidirectional = 0;
    c.softmax = 1;
    long len2[2] = {3, 3}, act2[2] = {2, 2};
    memset(&w, 0, sizeof w);
    sb_bench_count_layer(&c, 2, len2, act2, &w);
    ck_assert_double_eq(w.flops[SB_PHASE_ATTN], 2 * (8 + 3 * (2 + 6) + 6 + 2));
}
END_TEST

START_TEST(test_summary) {
    double v[5] = {5, 1, 4, 2, 3}, mn, md, mx;
    sb_bench_summary(v, 5, &mn, &md, &mx);
    ck_assert_double_eq(mn, 1);
    ck_assert_double_eq(md, 3);
    ck_assert_double_eq(mx, 5);
    double u[4] = {4, 1, 3, 2};
    sb_bench_summary(u, 4, &mn, &md, &mx);
    ck_assert_double_eq(md, 2.5);
}
END_TEST

static void fill_report(sb_bench_report *r) {
    sb_bench_report_init(r);
    snprintf(r->command, sizeof r->command, "seqboat bench --lengths 1,2");
    sb_bench_config_default(&r->cfg);
    for (int d = 0; d < 2; d++) {
        sb_bench_device dv;
        memset(&dv, 0, sizeof dv);
        dv.index = d;
        snprintf(dv.name, sizeof dv.name, "device, \"%d\"", d);
        snprintf(dv.status, sizeof dv.status, "ok");
        dv.build_cold_ms = 1234.5 + d;
        dv.build_warm_ms = 12.25;
        ck_assert_ptr_nonnull(sb_bench_report_add_device(r, &dv));
    }
    for (int i = 0; i < 40; i++) { /* more than the initial capacity */
        sb_bench_row w;
        memset(&w, 0, sizeof w);
        w.device_index = i % 2;
        snprintf(w.device, sizeof w.device, "device, \"%d\"", i % 2);
        snprintf(w.method, sizeof w.method, i % 3 ? "sma" : "dense");
        snprintf(w.precision, sizeof w.precision, i % 4 == 1 ? "f16" : i % 4 == 2 ? "int8" : "f32");
        w.B = 1;
        w.L = 1024 * (i + 1);
        w.tokens = w.L;
        w.share_target = 0.5;
        w.share = 0.498046875;
        w.repeats = 5;
        w.ms_min = 1.0 / 3.0 + i;
        w.ms_med = 2.5 + i;
        w.ms_max = 3.75 + i;
        for (int p = 0; p < SB_PHASE_COUNT; p++) w.phase_ms[p] = 0.125 * (p + 1) + i;
        w.peak_bytes = 123456789.0 * (i + 1);
        snprintf(w.status, sizeof w.status, i == 7 ? "error: a, \"quoted\" message" : "ok");
        ck_assert_ptr_nonnull(sb_bench_report_add_row(r, &w));
    }
}

START_TEST(test_json_roundtrip) {
    sb_bench_report r;
    fill_report(&r);
    char path[] = "/tmp/sb_test_bench_XXXXXX";
    temp_path(path);
    TU_OK(sb_bench_write_json(&r, path, &tu_err));
    char *buf = tu_slurp(path, NULL);
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    ck_assert_msg(root != NULL, "the JSON does not parse");
    cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "header");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(h, "library_version")->valuestring, SB_VERSION_STRING);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(h, "command")->valuestring, r.command);
    ck_assert(strlen(cJSON_GetObjectItemCaseSensitive(h, "build_type")->valuestring) > 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(h, "build_options")->valuestring, sb_bench_build_options());
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(cfg, "d_model")->valueint, 512);
    cJSON *devs = cJSON_GetObjectItemCaseSensitive(root, "devices");
    ck_assert_int_eq(cJSON_GetArraySize(devs), 2);
    cJSON *d1 = cJSON_GetArrayItem(devs, 1);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(d1, "name")->valuestring, "device, \"1\"");
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(d1, "build_cold_ms")->valuedouble, 1235.5);
    cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "results");
    ck_assert_int_eq(cJSON_GetArraySize(res), 40);
    for (int i = 0; i < 40; i++) {
        cJSON *w = cJSON_GetArrayItem(res, i);
        const sb_bench_row *want = &r.rows[i];
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(w, "method")->valuestring, want->method);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(w, "precision")->valuestring, want->precision);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(w, "status")->valuestring, want->status);
        ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(w, "L")->valueint, want->L);
        ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(w, "ms_min")->valuedouble, want->ms_min);
        ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(w, "ms_median")->valuedouble, want->ms_med);
        ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(w, "share")->valuedouble, want->share);
        ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(w, "peak_bytes")->valuedouble, want->peak_bytes);
        cJSON *ph = cJSON_GetObjectItemCaseSensitive(w, "phase_ms");
        ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(ph, "attn")->valuedouble,
                            want->phase_ms[SB_PHASE_ATTN]);
        ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(ph, "ema")->valuedouble,
                            want->phase_ms[SB_PHASE_EMA]);
    }
    cJSON_Delete(root);
    unlink(path);
    sb_bench_report_free(&r);
}
END_TEST

/* Split one CSV line into fields (quotes, doubled quotes); returns the count. */
static int csv_split(const char *line, char fields[][300], int cap) {
    int n = 0;
    const char *p = line;
    while (n < cap) {
        size_t k = 0;
        if (*p == '"') {
            p++;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') p++;
                if (k < 299) fields[n][k++] = *p;
                p++;
            }
            if (*p == '"') p++;
        } else {
            while (*p && *p != ',' && *p != '\n')
                if (k < 299) fields[n][k++] = *p++;
                else p++;
        }
        fields[n++][k] = '\0';
        if (*p != ',') break;
        p++;
    }
    return n;
}

START_TEST(test_csv_roundtrip) {
    sb_bench_report r;
    fill_report(&r);
    char path[] = "/tmp/sb_test_bench_XXXXXX";
    temp_path(path);
    TU_OK(sb_bench_write_csv(&r, path, &tu_err));
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char line[8192];
    static char fields[64][300];
    int ncol = 0;
    while (sb_bench_csv_columns[ncol]) ncol++;
    int meta = 0, header = 0, rows = 0, version_seen = 0;
    int c_prec = -1, c_method = -1, c_L = -1, c_status = -1, c_med = -1, c_attn = -1, c_cold = -1;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') {
            meta++;
            int n = csv_split(line + 2, fields, 64);
            if (n == 2 && !strcmp(fields[0], "library_version")) {
                ck_assert_str_eq(fields[1], SB_VERSION_STRING);
                version_seen = 1;
            }
            if (n >= 1 && !strcmp(fields[0], "command")) ck_assert_str_eq(fields[1], r.command);
            continue;
        }
        int n = csv_split(line, fields, 64);
        ck_assert_int_eq(n, ncol);
        if (!header) {
            header = 1;
            for (int c = 0; c < n; c++) {
                ck_assert_str_eq(fields[c], sb_bench_csv_columns[c]);
                if (!strcmp(fields[c], "method")) c_method = c;
                if (!strcmp(fields[c], "precision")) c_prec = c;
                if (!strcmp(fields[c], "L")) c_L = c;
                if (!strcmp(fields[c], "status")) c_status = c;
                if (!strcmp(fields[c], "ms_median")) c_med = c;
                if (!strcmp(fields[c], "attn_ms")) c_attn = c;
                if (!strcmp(fields[c], "build_cold_ms")) c_cold = c;
            }
            continue;
        }
        const sb_bench_row *w = &r.rows[rows];
        ck_assert_str_eq(fields[c_method], w->method);
        ck_assert(c_prec >= 0);
        ck_assert_str_eq(fields[c_prec], w->precision);
        ck_assert_str_eq(fields[c_status], w->status);
        ck_assert_int_eq(atoi(fields[c_L]), w->L);
        ck_assert_double_eq_tol(atof(fields[c_med]), w->ms_med, 1e-5 * w->ms_med);
        ck_assert_double_eq_tol(atof(fields[c_attn]), w->phase_ms[SB_PHASE_ATTN], 1e-5 * (1 + w->phase_ms[SB_PHASE_ATTN]));
        ck_assert_double_eq_tol(atof(fields[c_cold]), r.dev[w->device_index].build_cold_ms, 1e-3);
        rows++;
    }
    fclose(f);
    ck_assert(version_seen);
    ck_assert_int_ge(meta, 10);
    ck_assert_int_eq(rows, 40);
    ck_assert(c_method >= 0 && c_L >= 0 && c_status >= 0 && c_med >= 0 && c_attn >= 0 && c_cold >= 0);
    unlink(path);
    sb_bench_report_free(&r);
}
END_TEST

/* Random models of several configurations load and have the expected size. */
START_TEST(test_random_models) {
    char path[] = "/tmp/sb_test_bench_model_XXXXXX";
    temp_path(path);
    for (int v = 0; v < 4; v++) {
        sb_config c = tiny_cfg();
        c.d_model = 12;
        c.d_qk = 6;
        c.d_hidden = 10;
        c.d_ema = 3;
        c.n_layers = 2;
        c.bidirectional = v & 1;
        c.rotary = v == 1;
        c.norm = v == 2 ? SB_NORM_BATCH : SB_NORM_LAYER;
        c.prenorm = v != 2;
        c.softmax = v == 3;
        if (v == 3) {
            c.task = SB_TASK_LM;
            c.d_input = 0;
            c.vocab_size = 17;
            c.truncation = 5;
        }
        TU_OK(sb_bench_write_model(path, &c, 7, &tu_err));
        sb_model_file *mf = NULL;
        TU_OK(sb_model_file_load(path, &mf, &tu_err));
        ck_assert_int_eq(mf->cfg.d_model, 12);
        ck_assert_int_eq(mf->cfg.bidirectional, c.bidirectional);
        ck_assert_int_eq(mf->cfg.task, c.task);
        ck_assert_uint_eq(mf->n_params, sb_config_param_count(&c));
        sb_model_file_free(mf);
    }
    unlink(path);
}
END_TEST


/* The roofline bound and share: min(peak, ai * bandwidth); unavailable inputs give NaN. */
START_TEST(test_roofline_math) {
    ck_assert_double_eq(sb_roofline_bound(2, 100, 10), 20);   /* memory-bound */
    ck_assert_double_eq(sb_roofline_bound(10, 100, 10), 100); /* the ridge */
    ck_assert_double_eq(sb_roofline_bound(50, 100, 10), 100); /* compute-bound */
    ck_assert_double_eq(sb_roofline_pct(10, 2, 100, 10), 50);
    ck_assert_double_eq(sb_roofline_pct(25, 50, 100, 10), 25);
    ck_assert(isnan(sb_roofline_bound(0, 100, 10)));
    ck_assert(isnan(sb_roofline_bound(2, 0, 10)));
    ck_assert(isnan(sb_roofline_bound(2, 100, NAN)));
    ck_assert(isnan(sb_roofline_pct(NAN, 2, 100, 10)));
    ck_assert(isnan(sb_roofline_pct(10, 2, -1, 10)));
}
END_TEST

/* Bytes by phase add up to the total; every phase of a layer moves bytes. */
START_TEST(test_bytes_by_phase) {
    sb_config c = tiny_cfg();
    c.n_layers = 2;
    long len[2] = {300, 77}, act[2] = {150, 40};
    sb_bench_work w;
    sb_bench_count_forward(&c, 2, len, act, &w);
    double sum = 0;
    for (int p = 0; p < SB_PHASE_COUNT; p++) {
        ck_assert_msg(w.bytes_phase[p] > 0, "phase %d moves no bytes", p);
        sum += w.bytes_phase[p];
    }
    ck_assert_double_eq_tol(sum, w.bytes, 1e-9 * w.bytes);
    /* hand-computed, D=2 Z=1 H=1 W=1, T=3, M=2, one layer without io: the
     * attention phase reads M S, writes M H and 16 M Z of q, k scratch */
    sb_config t = tiny_cfg();
    long l1[1] = {3}, a1[1] = {2};
    memset(&w, 0, sizeof w);
    sb_bench_count_layer(&t, 1, l1, a1, &w);
    ck_assert_double_eq(w.bytes_phase[SB_PHASE_ATTN], 4 * 2 * 3 + 4 * 2 * 1 + 16 * 2 * 1);
    ck_assert_double_eq(w.bytes_phase[SB_PHASE_EMA], 8 * 3 * 2);
    ck_assert_double_eq(w.bytes_phase[SB_PHASE_OTHER], 8 * 3 * 2);
}
END_TEST

/* The phase split is trusted only when the device timeline accounts for the wall time. */
START_TEST(test_split_check) {
    char why[256];
    ck_assert_int_eq(sb_bench_split_check(100, 95, 90, why, sizeof why), 1);
    ck_assert_str_eq(why, "ok");
    /* rusticl here: every phase a few microseconds against a long forward */
    ck_assert_int_eq(sb_bench_split_check(897, 0.004, 0.003, why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "do not account"));
    ck_assert_int_eq(sb_bench_split_check(10, 20, 5, why, sizeof why), 0); /* longer than the wall */
    ck_assert_ptr_nonnull(strstr(why, "longer than the wall"));
    ck_assert_int_eq(sb_bench_split_check(100, 50, 90, why, sizeof why), 0); /* kernels overlap */
    ck_assert_ptr_nonnull(strstr(why, "exceed their span"));
    ck_assert_int_eq(sb_bench_split_check(100, 0, 0, why, sizeof why), 0);
    ck_assert_int_eq(sb_bench_split_check(100, NAN, NAN, why, sizeof why), 0);
    /* phases that sum to more than 10 % less than the wall time: not used */
    ck_assert_int_eq(sb_bench_split_check(100, 95, 89, why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "more than 10 % off"));
    ck_assert_int_eq(sb_bench_split_check(100, 99, 91, why, sizeof why), 1);
}
END_TEST

static void roof_row(sb_bench_row *r);

/* A rate above the fp32 peak: a phase of a usable split, the GEMM rate, or the
 * whole forward (wall clock); nothing without a peak or below it. */
START_TEST(test_over_peak) {
    sb_bench_row r;
    double rate;
    char why[256];
    roof_row(&r); /* every phase 1 GFLOP in 100 ms = 10 GFLOP/s, GEMM 60, forward 5 GFLOP in 100 ms */
    ck_assert_int_eq(sb_bench_over_peak(&r, 1000, &rate, why, sizeof why), -1);
    ck_assert_int_eq(sb_bench_over_peak(&r, 0, &rate, why, sizeof why), -1);
    ck_assert_int_eq(sb_bench_over_peak(&r, NAN, &rate, why, sizeof why), -1);
    r.phase_ms[SB_PHASE_PROJ] = 1; /* 1000 GFLOP/s */
    ck_assert_int_eq(sb_bench_over_peak(&r, 100, &rate, why, sizeof why), SB_PHASE_PROJ);
    ck_assert_double_eq_tol(rate, 1000, 1e-9);
    ck_assert_ptr_nonnull(strstr(why, "proj at 1000"));
    r.split_ok = 0; /* an unusable split counts for nothing; the forward still does */
    ck_assert_int_eq(sb_bench_over_peak(&r, 100, &rate, why, sizeof why), -1);
    ck_assert_int_eq(sb_bench_over_peak(&r, 40, &rate, why, sizeof why), SB_PHASE_COUNT + 1);
    ck_assert_double_eq_tol(rate, 50, 1e-9);
    ck_assert_ptr_nonnull(strstr(why, "wall clock"));
    roof_row(&r);
    ck_assert_int_eq(sb_bench_over_peak(&r, 55, &rate, why, sizeof why), SB_PHASE_COUNT); /* GEMM 60 */
}
END_TEST

/* The serialised wall-clock accounting with made-up times: each interval goes
 * to the phase that ran in it; transfers (phase -1) to none. */
START_TEST(test_serial_charge) {
    sb_rt rt;
    memset(&rt, 0, sizeof rt);
    rt.serial = 1;
    rt.serial_phase = -1;
    rt.serial_t0_ms = 100;
    sb_rt_serial_charge(&rt, 101, SB_PHASE_OTHER);  /* host work before the first launch */
    sb_rt_serial_charge(&rt, 104, SB_PHASE_EMA);    /* 3 ms of OTHER */
    sb_rt_serial_charge(&rt, 110, SB_PHASE_PROJ);   /* 6 ms of EMA */
    sb_rt_serial_charge(&rt, 130, -1);              /* 20 ms of PROJ, then a read */
    sb_rt_serial_charge(&rt, 135, SB_PHASE_PROJ);   /* 5 ms transfer: no phase */
    sb_rt_serial_charge(&rt, 137, SB_PHASE_ATTN);   /* 2 more ms of PROJ */
    sb_rt_serial_charge(&rt, 136, SB_PHASE_GATE);   /* a clock going back charges nothing */
    sb_rt_serial_charge(&rt, 140, -1);
    ck_assert_double_eq(rt.serial_ms[SB_PHASE_OTHER], 3);
    ck_assert_double_eq(rt.serial_ms[SB_PHASE_EMA], 6);
    ck_assert_double_eq(rt.serial_ms[SB_PHASE_PROJ], 22);
    ck_assert_double_eq(rt.serial_ms[SB_PHASE_ATTN], 0);
    ck_assert_double_eq(rt.serial_ms[SB_PHASE_GATE], 4);
    ck_assert_int_eq(rt.serial_phase, -1);
}
END_TEST

static void roof_row(sb_bench_row *r) {
    sb_bench_row_init(r);
    snprintf(r->status, sizeof r->status, "ok");
    snprintf(r->method, sizeof r->method, "sma");
    /* phase p: 1 GFLOP, (p + 1) * 0.5 GB; 100 ms each; forward 5 GFLOP / 2 GB in 100 ms */
    for (int p = 0; p < SB_PHASE_COUNT; p++) {
        r->phase_gflop[p] = 1;
        r->phase_gbytes[p] = 0.5 * (p + 1);
        r->phase_ms[p] = 100;
    }
    r->gflop = 5;
    r->gbytes = 2;
    r->ms_med = 100;
    r->gflop_s = 50;
    r->gb_s = 20;
    r->gemm_gflop_s = 60;
    r->unattributed_ms = 1;
    r->split_ok = 1;
    snprintf(r->split_note, sizeof r->split_note, "ok");
    snprintf(r->split_source, sizeof r->split_source, "events");
}

/* Rooflines of a row: intensities, per-phase rates and shares; figures above
 * a measured peak are withheld with the reason. */
START_TEST(test_roofline_row) {
    sb_bench_row r;
    roof_row(&r);
    sb_bench_roofline(&r, 1000, 100); /* ridge at 10 FLOP/byte */
    ck_assert_double_eq(r.ai, 2.5);
    ck_assert_double_eq(r.roofline_bound, 250);
    ck_assert_double_eq_tol(r.roofline_pct, 100.0 * 50 / 250, 1e-9);
    for (int p = 0; p < SB_PHASE_COUNT; p++) {
        double ai = 1 / (0.5 * (p + 1));
        ck_assert_double_eq_tol(r.phase_ai[p], ai, 1e-12);
        ck_assert_double_eq_tol(r.phase_gflop_s[p], 10, 1e-9); /* 1 GFLOP in 100 ms */
        ck_assert_double_eq_tol(r.phase_roofline_pct[p], 100.0 * 10 / (ai * 100), 1e-9);
    }
    ck_assert_str_eq(r.roofline_note, "");
    ck_assert_int_eq(r.split_ok, 1);
    /* no peak: intensities stay, shares are unavailable */
    roof_row(&r);
    sb_bench_roofline(&r, 0, 0);
    ck_assert_double_eq(r.ai, 2.5);
    ck_assert(isnan(r.roofline_pct) && isnan(r.phase_roofline_pct[SB_PHASE_PROJ]));
    ck_assert_ptr_nonnull(strstr(r.roofline_note, "no measured peak"));
    /* a phase rate above the fp32 peak: the timestamps lie, the split goes */
    roof_row(&r);
    r.phase_ms[SB_PHASE_ATTN] = 1e-4; /* 10000 GFLOP/s */
    sb_bench_roofline(&r, 1000, 100);
    ck_assert_int_eq(r.split_ok, 0);
    ck_assert_ptr_nonnull(strstr(r.split_note, "exceed the measured fp32 peak"));
    for (int p = 0; p < SB_PHASE_COUNT; p++)
        ck_assert(isnan(r.phase_ms[p]) && isnan(r.phase_gflop_s[p]) && isnan(r.phase_roofline_pct[p]));
    ck_assert(isnan(r.gemm_gflop_s) && isnan(r.unattributed_ms));
    ck_assert(isfinite(r.roofline_pct)); /* the forward's own figure stays (wall time) */
    /* a GEMM rate above the peak does the same */
    roof_row(&r);
    r.gemm_gflop_s = 5000;
    sb_bench_roofline(&r, 1000, 100);
    ck_assert_int_eq(r.split_ok, 0);
    ck_assert(isnan(r.gemm_gflop_s));
    /* above the bandwidth roof (cached working set): withheld with a note */
    roof_row(&r);
    sb_bench_roofline(&r, 1000, 10); /* forward bound 25 GFLOP/s < 50 measured */
    ck_assert(isnan(r.roofline_pct));
    ck_assert(isnan(r.gb_s)); /* 20 GB/s modelled > 10 measured */
    ck_assert_ptr_nonnull(strstr(r.roofline_note, "above its roofline"));
    ck_assert_ptr_nonnull(strstr(r.roofline_note, "above the measured bandwidth"));
    /* forward GFLOP/s above the fp32 peak */
    roof_row(&r);
    sb_bench_roofline(&r, 40, 1000);
    ck_assert(isnan(r.gflop_s));
    ck_assert_ptr_nonnull(strstr(r.roofline_note, "above the measured fp32 peak"));
    /* a split that was never valid gives no per-phase rates */
    roof_row(&r);
    r.split_ok = 0;
    sb_bench_roofline(&r, 1000, 100);
    ck_assert(isnan(r.phase_gflop_s[SB_PHASE_EMA]) && isnan(r.phase_roofline_pct[SB_PHASE_EMA]));
    ck_assert(isfinite(r.phase_ai[SB_PHASE_EMA]));
}
END_TEST

/* JSON: roofline_pct on every result row (null when unavailable, never a
 * number then), per phase, the split's reason, and the device's peaks. */
START_TEST(test_json_roofline_fields) {
    sb_bench_report rep;
    sb_bench_report_init(&rep);
    sb_bench_config_default(&rep.cfg);
    sb_bench_device dv;
    memset(&dv, 0, sizeof dv);
    snprintf(dv.name, sizeof dv.name, "dev");
    snprintf(dv.status, sizeof dv.status, "ok");
    dv.has_peak = 1;
    snprintf(dv.peak.name, sizeof dv.peak.name, "dev");
    snprintf(dv.peak.status, sizeof dv.peak.status, "ok");
    dv.peak.fp32_gflops = 1000;
    dv.peak.bandwidth_gbs = 100;
    dv.peak.transfer_gbs = 5;
    dv.peak.launch_us = 7;
    ck_assert_ptr_nonnull(sb_bench_report_add_device(&rep, &dv));
    sb_bench_row r;
    roof_row(&r);
    sb_bench_roofline(&r, 1000, 100);
    ck_assert_ptr_nonnull(sb_bench_report_add_row(&rep, &r));
    roof_row(&r);
    snprintf(r.split_note, sizeof r.split_note, "profiled device time spans 0.01%% of the wall time");
    r.split_ok = 0;
    for (int p = 0; p < SB_PHASE_COUNT; p++) r.phase_ms[p] = NAN;
    r.unattributed_ms = r.gemm_gflop_s = NAN;
    sb_bench_roofline(&r, 1000, 100);
    ck_assert_ptr_nonnull(sb_bench_report_add_row(&rep, &r));
    char path[] = "/tmp/sb_test_bench_XXXXXX";
    temp_path(path);
    TU_OK(sb_bench_write_json(&rep, path, &tu_err));
    char *buf = tu_slurp(path, NULL);
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    ck_assert_ptr_nonnull(root);
    cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "devices"), 0);
    cJSON *pk = cJSON_GetObjectItemCaseSensitive(d0, "peak");
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(pk, "fp32_gflops")->valuedouble, 1000);
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(pk, "bandwidth_gbs")->valuedouble, 100);
    cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "results");
    static const char *const ph[] = {"other", "ema", "gate", "proj", "attn"};
    for (int i = 0; i < 2; i++) {
        cJSON *w = cJSON_GetArrayItem(res, i);
        cJSON *rp = cJSON_GetObjectItemCaseSensitive(w, "roofline_pct");
        ck_assert_ptr_nonnull(rp);
        ck_assert(cJSON_IsNumber(rp));
        ck_assert_double_eq_tol(rp->valuedouble, 20, 1e-9);
        ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(w, "arithmetic_intensity")->valuedouble, 2.5);
        cJSON *phs = cJSON_GetObjectItemCaseSensitive(w, "phases");
        cJSON *pms = cJSON_GetObjectItemCaseSensitive(w, "phase_ms");
        for (int p = 0; p < SB_PHASE_COUNT; p++) {
            cJSON *q = cJSON_GetObjectItemCaseSensitive(phs, ph[p]);
            ck_assert_ptr_nonnull(q);
            cJSON *qp = cJSON_GetObjectItemCaseSensitive(q, "roofline_pct");
            cJSON *qr = cJSON_GetObjectItemCaseSensitive(q, "gflop_per_s");
            cJSON *qm = cJSON_GetObjectItemCaseSensitive(pms, ph[p]);
            ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(q, "arithmetic_intensity")));
            if (i == 0) {
                ck_assert(cJSON_IsNumber(qp) && cJSON_IsNumber(qr) && cJSON_IsNumber(qm));
            } else { /* unavailable: null, not a number */
                ck_assert(cJSON_IsNull(qp) && cJSON_IsNull(qr) && cJSON_IsNull(qm));
            }
        }
        cJSON *split = cJSON_GetObjectItemCaseSensitive(w, "phase_split");
        cJSON *gemm = cJSON_GetObjectItemCaseSensitive(w, "gemm_gflop_per_s");
        if (i == 0) {
            ck_assert_str_eq(split->valuestring, "ok");
            ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "phase_split_ok")));
            ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(w, "phase_timing")->valuestring, "events");
            ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItemCaseSensitive(
                                             cJSON_GetObjectItemCaseSensitive(w, "timing_sources"), "phase_ms")
                                             ->valuestring, "event"));
            ck_assert(cJSON_IsNumber(gemm));
        } else {
            ck_assert_ptr_nonnull(strstr(split->valuestring, "spans"));
            ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(w, "phase_split_ok")));
            ck_assert(cJSON_IsNull(gemm));
            ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(w, "unattributed_ms")));
            ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(w, "phase_timing")->valuestring, "none");
        }
    }
    cJSON_Delete(root);
    unlink(path);
    sb_bench_report_free(&rep);
}
END_TEST

/* A forced share gives exactly the hashed tokens through a whole forward. */
START_TEST(test_forced_share_forward) {
    char path[] = "/tmp/sb_test_bench_model_XXXXXX";
    temp_path(path);
    sb_config c = small_cfg();
    TU_OK(sb_bench_write_model(path, &c, 3, &tu_err));
    sb_model_impl *m = NULL;
    sb_rt_options ro = {NULL, NULL, 1, NULL, 0};
    TU_OK(sb_model_impl_create(path, &ro, &m, &tu_err));
    static const double shares[] = {0.0, 0.3, 1.0};
    for (int i = 0; i < 3; i++) {
        sb_bench_row row;
        sb_bench_row_init(&row);
        int32_t lengths[2] = {300, 77};
        sb_bench_run_opt o = {2, 300, lengths, NULL, NULL, shares[i], 1, 2, 0, 1, SB_BENCH_TIMING_AUTO, 0};
        TU_OK(sb_bench_run(m, &o, &row, &tu_err));
        long want = sb_force_count(300, sb_force_threshold(shares[i])) +
                    sb_force_count(77, sb_force_threshold(shares[i]));
        ck_assert_int_eq(row.tokens, 377);
        ck_assert_double_eq_tol(row.share, (double)want / 377.0, 1e-12);
        for (int l = 0; l < 2; l++) ck_assert_int_eq(m->stats[l].activated, want);
        ck_assert_int_eq(row.repeats, 2);
        ck_assert(row.ms_min <= row.ms_med && row.ms_med <= row.ms_max);
        ck_assert(row.peak_bytes > 0);
        ck_assert_ptr_null(m->router_hook); /* switched off again after the run */
        ck_assert_int_eq(m->rt->profiling, 0); /* timed runs never profile; switched back off */
        /* the split: numbers only when the device timeline accounts for the wall time */
        double busy = 0;
        for (int p = 0; p < SB_PHASE_COUNT; p++) busy += row.phase_ms[p];
        if (row.split_ok && !strcmp(row.split_source, "events")) {
            ck_assert_str_eq(row.split_note, "ok");
            ck_assert_str_eq(row.events_note, "ok");
            ck_assert(isfinite(busy) && busy > 0 && busy <= 1.02 * row.device_span_ms + 0.05);
            ck_assert(row.device_span_ms <= 1.05 * row.profiled_ms + 0.05);
            ck_assert(busy >= 0.9 * row.profiled_ms);
        } else if (row.split_ok) { /* events did not add up: the serialised wall clock instead */
            ck_assert_str_eq(row.split_source, "wall-serialised");
            ck_assert_str_ne(row.events_note, "ok");
            ck_assert(isfinite(busy) && busy > 0 && busy <= row.profiled_ms * (1 + 1e-9));
        } else {
            ck_assert(isnan(busy) && isnan(row.gemm_gflop_s));
            ck_assert(strlen(row.split_note) > 0);
        }
        /* the serialised wall-clock split: host time per phase, the rest unattributed */
        sb_bench_row_init(&row);
        o.phase_timing = SB_BENCH_TIMING_WALL;
        TU_OK(sb_bench_run(m, &o, &row, &tu_err));
        ck_assert_str_eq(row.split_source, "wall-serialised");
        ck_assert_int_eq(row.split_ok, 1);
        ck_assert_int_eq(m->rt->serial, 0); /* switched back off */
        busy = 0;
        for (int p = 0; p < SB_PHASE_COUNT; p++) {
            ck_assert(row.phase_ms[p] >= 0);
            busy += row.phase_ms[p];
        }
        ck_assert(row.phase_ms[SB_PHASE_PROJ] > 0 && row.phase_ms[SB_PHASE_EMA] > 0);
        ck_assert(busy <= row.profiled_ms * (1 + 1e-9));
        ck_assert_double_eq_tol(busy + row.unattributed_ms, row.profiled_ms, 1e-6 * row.profiled_ms);
        ck_assert(isnan(row.device_span_ms));
    }
    sb_model_impl_free(m);
    unlink(path);
}
END_TEST

/* Decode points: a causal model gives a row with the prompt position, the
 * step count, ordered per-step times and a share in [0, 1]; a
 * bidirectional model is refused with a message. */
START_TEST(test_decode_point) {
    char path[] = "/tmp/sb_test_bench_model_XXXXXX";
    temp_path(path);
    for (int bidir = 0; bidir < 2; bidir++) {
        sb_config c = small_cfg();
        c.bidirectional = bidir;
        TU_OK(sb_bench_write_model(path, &c, 5, &tu_err));
        sb_options o = sb_options_default();
        sb_model *m = NULL;
        ck_assert_int_eq(sb_model_load(path, &o, &m), SB_OK);
        sb_bench_row row;
        memset(&row, 0, sizeof row);
        sb_status st = sb_bench_decode(m, 40, 5, 9, &row, &tu_err);
        if (bidir) {
            ck_assert_int_eq(st, SB_ERR_STATE);
            ck_assert_ptr_nonnull(strstr(tu_err.msg, "bidirectional"));
        } else {
            TU_OK(st);
            ck_assert_str_eq(row.status, "ok");
            ck_assert_int_eq(row.L, 40);
            ck_assert_int_eq(row.tokens, 5);
            ck_assert_int_eq(row.layers, 2);
            ck_assert(row.share >= 0 && row.share <= 1);
            ck_assert(row.ms_min > 0 && row.ms_min <= row.ms_med && row.ms_med <= row.ms_max);
            ck_assert(row.prefill_ms > 0);
            /* steps over their total time: between the rates of the slowest and fastest step */
            ck_assert(row.tokens_per_s >= 1e3 / row.ms_max * (1 - 1e-12));
            ck_assert(row.tokens_per_s <= 1e3 / row.ms_min * (1 + 1e-12));
        }
        ck_assert_int_eq(sb_bench_decode(m, 0, 5, 9, &row, &tu_err), SB_ERR_ARG);
        sb_model_free(m);
    }
    unlink(path);
}
END_TEST

/* The traffic model reads each weight element in the row's storage: f16 and
 * bf16 2 bytes, int8 1 plus a float scale per output channel; activations stay
 * 4. Hand count, tiny_cfg (D=2 Z=1 H=1 F=3 O=4, S=3), one layer: weight
 * elements hx_proj 4x2, mx_proj 3x2, h_proj 2x1, encoder 2x3, decoder 4x2 = 30,
 * output channels 4 + 3 + 2 + 2 + 4 = 15. */
START_TEST(test_weight_traffic) {
    sb_config c = tiny_cfg();
    long len[1] = {3}, act[1] = {2};
    sb_bench_work w[4];
    for (int t = 0; t < 4; t++) sb_bench_count_forward_wt(&c, t, 1, len, act, &w[t]);
    ck_assert_double_eq(w[SB_WT_F32].bytes - w[SB_WT_F16].bytes, 2 * 30);
    ck_assert_double_eq(w[SB_WT_F16].bytes, w[SB_WT_BF16].bytes);
    ck_assert_double_eq(w[SB_WT_F32].bytes - w[SB_WT_I8].bytes, 3 * 30 - 4 * 15);
    /* only the phases holding products change; FLOPs do not */
    ck_assert_double_eq(w[SB_WT_F32].bytes_phase[SB_PHASE_PROJ] - w[SB_WT_F16].bytes_phase[SB_PHASE_PROJ],
                        2 * 16);
    ck_assert_double_eq(w[SB_WT_F32].bytes_phase[SB_PHASE_ATTN], w[SB_WT_F16].bytes_phase[SB_PHASE_ATTN]);
    ck_assert_double_eq(w[SB_WT_F32].flops_total, w[SB_WT_F16].flops_total);
    /* the f32 entry point is the f32 storage */
    sb_bench_work f;
    sb_bench_count_forward(&c, 1, len, act, &f);
    ck_assert_double_eq(f.bytes, w[SB_WT_F32].bytes);
    /* lm: the embedding gather reads T rows of the table (int8: and their scales) */
    sb_config lm = c;
    lm.vocab_size = 50;
    lm.d_input = 0;
    sb_bench_count_forward_wt(&lm, SB_WT_F32, 1, len, act, &w[0]);
    sb_bench_count_forward_wt(&lm, SB_WT_I8, 1, len, act, &w[3]);
    ck_assert_double_eq(w[0].bytes - w[3].bytes, 3 * (16 + 8 + 3 * 2) - 4 * (9 + 4 + 3));
    ck_assert_double_eq(sb_bench_weight_bytes(SB_WT_I8, 3, 2), 6 + 12);
}
END_TEST

/* A decode row in f16 with fake timings: the step reads half the weight bytes
 * of f32, so its intensity and bandwidth roofline move by the traffic ratio,
 * and at the same time its share of the roof drops by it. Bench default layer
 * (D=512 Z=128 H=1024 W=256, F=O=16), share 0.5, L=1024: window W. */
START_TEST(test_decode_roofline_precision) {
    sb_config c;
    sb_bench_config_default(&c);
    const double D = 512, Z = 128, H = 1024, S = Z + 2 * H, s = 0.5;
    /* weight elements of a mean step: hx_proj always, mx_proj and h_proj when activated */
    const double E = (D + 2) * D + s * (S * D + D * H) + 16 * D + 16 * D;
    sb_bench_row r[2];
    const int wt[2] = {SB_WT_F32, SB_WT_F16};
    for (int i = 0; i < 2; i++) {
        sb_bench_row_init(&r[i]);
        snprintf(r[i].method, sizeof r[i].method, "decode");
        snprintf(r[i].status, sizeof r[i].status, "ok");
        snprintf(r[i].split_note, sizeof r[i].split_note, "decode: no phase split");
        r[i].L = 1024, r[i].B = 1, r[i].share = s;
        r[i].ms_med = 0.5, r[i].tokens_per_s = 1000; /* mean step 1 ms (bimodal: median not used) */
        sb_bench_decode_work(&c, wt[i], &r[i]);
        sb_bench_roofline(&r[i], 1e6, 10); /* far-off FLOP roof: bandwidth bound */
    }
    ck_assert_double_eq_tol((r[0].gbytes - r[1].gbytes) * 1e9, 2 * E, 1e-6 * E);
    ck_assert_double_eq_tol(r[0].gflop, r[1].gflop, 1e-15);
    /* window attention: s * W * 4 (Z + H) bytes are activations, not weights */
    sb_bench_work on;
    sb_bench_count_decode(&c, SB_WT_F32, 1, 256, &on);
    sb_bench_work none;
    sb_bench_count_decode(&c, SB_WT_F32, 1, 0, &none);
    ck_assert_double_eq_tol(on.bytes - none.bytes, 256 * 4 * (Z + H), 1e-9);
    /* GB/s at the mean step time, 1 ms */
    ck_assert_double_eq_tol(r[1].gb_s, r[1].gbytes / 1e-3, 1e-9 * r[1].gb_s);
    const double ratio = r[0].gbytes / r[1].gbytes;
    ck_assert_msg(ratio > 1.5 && ratio < 2, "f32 / f16 traffic %g", ratio);
    ck_assert_double_eq_tol(r[1].ai / r[0].ai, ratio, 1e-12);
    ck_assert_double_eq_tol(r[1].roofline_bound, r[1].ai * 10, 1e-9 * r[1].roofline_bound);
    ck_assert_double_eq_tol(r[1].roofline_bound / r[0].roofline_bound, ratio, 1e-12);
    ck_assert(isfinite(r[0].roofline_pct) && isfinite(r[1].roofline_pct));
    ck_assert_double_eq_tol(r[0].roofline_pct / r[1].roofline_pct, ratio, 1e-12);
    /* the share uses the mean step: 1 ms of this work at 10 GB/s */
    ck_assert_double_eq_tol(r[0].roofline_pct, 100 * r[0].gb_s / 10, 1e-9);
}
END_TEST

int main(void) {
    Suite *s = suite_create("bench");
    TCase *tc = tcase_create("bench");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pairs);
    tcase_add_test(tc, test_flops_hand);
    tcase_add_test(tc, test_summary);
    tcase_add_test(tc, test_json_roundtrip);
    tcase_add_test(tc, test_csv_roundtrip);
    tcase_add_test(tc, test_random_models);
    tcase_add_test(tc, test_forced_share_forward);
    tcase_add_test(tc, test_decode_point);
    tcase_add_test(tc, test_roofline_math);
    tcase_add_test(tc, test_bytes_by_phase);
    tcase_add_test(tc, test_weight_traffic);
    tcase_add_test(tc, test_decode_roofline_precision);
    tcase_add_test(tc, test_split_check);
    tcase_add_test(tc, test_over_peak);
    tcase_add_test(tc, test_serial_charge);
    tcase_add_test(tc, test_roofline_row);
    tcase_add_test(tc, test_json_roofline_fields);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
