/* test_bench.c - the bench's work model (hand-computed small cases), the
 * JSON / CSV report round trip, the random bench models, and the forced
 * activation share through a whole forward. Timings are not checked. */
#include <cjson/cJSON.h>
#include <string.h>
#include <unistd.h>
#include "bench.h"
#include "bench_force.h"
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
    int c_method = -1, c_L = -1, c_status = -1, c_med = -1, c_attn = -1, c_cold = -1;
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

/* A forced share gives exactly the hashed tokens through a whole forward. */
START_TEST(test_forced_share_forward) {
    char path[] = "/tmp/sb_test_bench_model_XXXXXX";
    temp_path(path);
    sb_config c = small_cfg();
    TU_OK(sb_bench_write_model(path, &c, 3, &tu_err));
    sb_model_impl *m = NULL;
    sb_rt_options ro = {NULL, NULL, 1};
    TU_OK(sb_model_impl_create(path, &ro, &m, &tu_err));
    static const double shares[] = {0.0, 0.3, 1.0};
    for (int i = 0; i < 3; i++) {
        sb_bench_row row;
        memset(&row, 0, sizeof row);
        int32_t lengths[2] = {300, 77};
        sb_bench_run_opt o = {2, 300, lengths, NULL, NULL, shares[i], 1, 2, 0};
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
    suite_add_tcase(s, tc);
    return tu_run(s);
}
