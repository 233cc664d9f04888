/* test_multidevice.c - one model on two devices: a batch split across PoCL's
 * two CPU devices (POCL_DEVICES="pthread pthread") against one device.
 *
 * What is asserted, and why:
 *  - relu2-attention fixtures (ragged_batch, lm_tokens): bit for bit. Every op
 *    computes a sequence's rows from that sequence's rows alone, in an order
 *    that does not depend on where the sequence sits in the packed batch.
 *  - softmax attention (the classify fixture, the demo model): SPEC section 6
 *    tolerance. The attention kernel's work-groups own TQ consecutive query rows
 *    of the batch's compressed rows and run the online softmax over key tiles
 *    anchored at the group's first query, so moving a sequence to another
 *    device (or batch position) regroups its keys and changes last bits (the
 *    same happens between a padded batch and a sequence run alone).
 * POCL_DEVICES must be set before OpenCL is first used in the process; Check
 * forks each test, so every test sets it first (two_devices()). */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"
#include "../runtime/multi.h"
#include "../runtime/safetensors.h"
#include "seqboat.h"

#define DATA SB_TEST_DATA_DIR "/"
#define DEMO SB_SOURCE_DIR "/models/tiny-pystdlib.safetensors"
#define REL_L2_MAX 1e-4
#define ABS_MAX 2e-3

static int dev_a = -1, dev_b = -1;
static char one_dev[16], two_dev[32];

/* First thing in every test: ask PoCL for two devices and find them. */
static void two_devices(void) {
    ck_assert_int_eq(setenv("POCL_DEVICES", "pthread pthread", 1), 0);
    unsetenv("SEQBOAT_DEVICE");
    sb_device_desc d[64];
    int n = 0, found = 0;
    d[0].struct_size = sizeof d[0];
    sb_status st = sb_devices(d, 64, &n);
    ck_assert_msg(st == SB_OK, "sb_devices: %s", sb_last_error());
    for (int i = 0; i < n && i < 64; i++) {
        if (!strstr(d[i].platform, "Portable Computing Language")) continue;
        if (found == 0) dev_a = d[i].index;
        if (found == 1) dev_b = d[i].index;
        found++;
    }
    ck_assert_msg(found >= 2,
                  "POCL_DEVICES=\"pthread pthread\" should expose two PoCL devices, but %d PoCL "
                  "device(s) are visible among %d OpenCL device(s). Is pocl-opencl-icd installed, "
                  "and did OpenCL start before setenv (CK_FORK=no)?",
                  found, n);
    snprintf(one_dev, sizeof one_dev, "%d", dev_a);
    snprintf(two_dev, sizeof two_dev, "%d,%d", dev_a, dev_b);
}

/* ---- fixture io ------------------------------------------------------------- */
typedef struct {
    int B, L, F;
    float *x;
    int32_t *ids, *lengths;
    float *want;
    size_t n_want;
} io_case;

static int32_t *ints_of(const sb_tensor *t, size_t n) {
    int32_t *r = malloc(sizeof(int32_t) * (n ? n : 1));
    ck_assert_ptr_nonnull(r);
    for (size_t i = 0; i < n; i++)
        r[i] = t->dtype == SB_DT_I64 ? (int32_t)((const int64_t *)t->data)[i]
                                     : ((const int32_t *)t->data)[i];
    return r;
}

static float *floats_copy(const sb_tensor *t) {
    float *r = malloc(t->nbytes ? t->nbytes : 1);
    ck_assert_ptr_nonnull(r);
    memcpy(r, t->data, t->nbytes);
    return r;
}

static void io_load(const char *name, io_case *c) {
    char path[1024];
    sb_st_file *f = NULL;
    memset(c, 0, sizeof *c);
    snprintf(path, sizeof path, DATA "%s.io.safetensors", name);
    TU_OK(sb_st_open(path, &f, &tu_err));
    const sb_tensor *in = sb_st_find(f, "input"), *len = sb_st_find(f, "lengths");
    const sb_tensor *out = sb_st_find(f, "output");
    ck_assert_msg(in && out, "%s: input/output missing", path);
    c->B = (int)in->shape[0];
    c->L = (int)in->shape[1];
    if (in->dtype == SB_DT_F32) {
        c->F = (int)in->shape[2];
        c->x = floats_copy(in);
    } else {
        c->ids = ints_of(in, (size_t)c->B * c->L);
    }
    if (len) {
        c->lengths = ints_of(len, (size_t)c->B);
    } else {
        c->lengths = malloc(sizeof(int32_t) * (size_t)c->B);
        ck_assert_ptr_nonnull(c->lengths);
        for (int b = 0; b < c->B; b++) c->lengths[b] = c->L;
    }
    c->want = floats_copy(out);
    c->n_want = out->nbytes / sizeof(float);
    sb_st_free(f);
}

static void io_free(io_case *c) {
    free(c->x);
    free(c->ids);
    free(c->lengths);
    free(c->want);
}

static void agree(const float *got, const float *want, size_t n, const char *what) {
    double d2 = 0, w2 = 0, dmax = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(got[i]), "%s: output[%zu] = %g", what, i, got[i]);
        double d = (double)got[i] - want[i];
        d2 += d * d;
        w2 += (double)want[i] * want[i];
        if (fabs(d) > dmax) dmax = fabs(d);
    }
    double rel = w2 > 0 ? sqrt(d2 / w2) : sqrt(d2);
    ck_assert_msg(rel <= REL_L2_MAX && dmax <= ABS_MAX,
                  "%s: relative L2 error %.3g (max %.0e), max abs error %.3g (max %.0e)", what, rel,
                  REL_L2_MAX, dmax, ABS_MAX);
}

static sb_model *load(const char *path, const char *device) {
    sb_options o = sb_options_default();
    o.device = device;
    sb_model *m = NULL;
    sb_status st = sb_model_load(path, &o, &m);
    ck_assert_msg(st == SB_OK, "sb_model_load(%s, device '%s') -> %s: %s", path,
                  device ? device : "(default)", sb_status_string(st), sb_last_error());
    return m;
}

static sb_model *load_case(const char *name, const char *device) {
    char path[1024];
    snprintf(path, sizeof path, DATA "%s.model.safetensors", name);
    return load(path, device);
}

static float *forward(sb_model *m, const io_case *c, size_t n) {
    float *out = malloc(sizeof(float) * (n + 8));
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < n + 8; i++) out[i] = i < n ? NAN : 4321.0f;
    sb_status st = sb_model_forward(m, c->B, c->L, c->x, c->ids, c->lengths, out);
    ck_assert_msg(st == SB_OK, "sb_model_forward -> %s: %s", sb_status_string(st),
                  sb_model_last_error(m));
    for (size_t i = n; i < n + 8; i++) ck_assert_float_eq(out[i], 4321.0f);
    return out;
}

/* ---- split ------------------------------------------------------------------ */
START_TEST(split_balanced) {
    /* pure host logic: contiguous, non-empty, within one sequence of the ideal */
    static const int32_t lens[][8] = {{40, 17, 1, 33}, {1, 1, 1, 1, 1, 1, 1, 100},
                                      {100, 1, 1, 1, 1, 1, 1, 1}, {5, 5, 5, 5, 5, 5, 5, 5},
                                      {64, 64, 3, 9, 50, 2, 2, 70}};
    static const int nb[] = {4, 8, 8, 8, 8};
    int cut[SB_MULTI_MAX_DEVICES + 1];
    for (size_t c = 0; c < sizeof nb / sizeof nb[0]; c++)
        for (int parts = 1; parts <= 10; parts++) {
            int B = nb[c], k = sb_multi_split(B, 100, lens[c], parts, cut);
            ck_assert_int_eq(k, parts < B ? parts : B);
            ck_assert_int_eq(cut[0], 0);
            ck_assert_int_eq(cut[k], B);
            long total = 0, maxlen = 0;
            for (int b = 0; b < B; b++) {
                total += lens[c][b];
                if (lens[c][b] > maxlen) maxlen = lens[c][b];
            }
            for (int p = 0; p < k; p++) {
                ck_assert_msg(cut[p + 1] > cut[p], "case %zu parts %d: empty part %d", c, parts, p);
                long tok = 0;
                for (int b = cut[p]; b < cut[p + 1]; b++) tok += lens[c][b];
                ck_assert_msg(tok <= total / k + maxlen, "case %zu parts %d: part %d has %ld of %ld",
                              c, parts, p, tok, total);
            }
        }
    /* equal lengths split evenly; NULL lengths = all L */
    ck_assert_int_eq(sb_multi_split(8, 10, lens[3], 2, cut), 2);
    ck_assert_int_eq(cut[1], 4);
    ck_assert_int_eq(sb_multi_split(9, 10, NULL, 3, cut), 3);
    ck_assert_int_eq(cut[1], 3);
    ck_assert_int_eq(cut[2], 6);
    /* ragged_batch's lengths on two devices: 40 | 17 + 1 + 33 */
    ck_assert_int_eq(sb_multi_split(4, 40, lens[0], 2, cut), 2);
    ck_assert_int_eq(cut[1], 1);
}
END_TEST

/* ---- device lists ------------------------------------------------------------ */
START_TEST(resolve_lists) {
    two_devices();
    int idx[SB_MULTI_MAX_DEVICES], n = 0;
    TU_OK(sb_multi_resolve(two_dev, idx, SB_MULTI_MAX_DEVICES, &n, &tu_err));
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(idx[0], dev_a);
    ck_assert_int_eq(idx[1], dev_b);
    char spec[64];
    snprintf(spec, sizeof spec, " %d , %d ", dev_b, dev_a);
    TU_OK(sb_multi_resolve(spec, idx, SB_MULTI_MAX_DEVICES, &n, &tu_err));
    ck_assert(n == 2 && idx[0] == dev_b && idx[1] == dev_a);
    /* a name picks the first matching device not already picked */
    TU_OK(sb_multi_resolve("pthread,PTHREAD", idx, SB_MULTI_MAX_DEVICES, &n, &tu_err));
    ck_assert(n == 2 && idx[0] == dev_a && idx[1] == dev_b);
    ck_assert(sb_multi_is_list("0,1", NULL) && !sb_multi_is_list("0", NULL));
    /* refusals */
    snprintf(spec, sizeof spec, "%d,%d", dev_a, dev_a);
    ck_assert_int_eq(sb_multi_resolve(spec, idx, SB_MULTI_MAX_DEVICES, &n, &tu_err), SB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "twice"));
    ck_assert_int_eq(sb_multi_resolve("0,", idx, SB_MULTI_MAX_DEVICES, &n, &tu_err), SB_ERR_ARG);
    ck_assert_int_eq(sb_multi_resolve("0,,1", idx, SB_MULTI_MAX_DEVICES, &n, &tu_err), SB_ERR_ARG);
    ck_assert_int_eq(sb_multi_resolve("0,9999", idx, SB_MULTI_MAX_DEVICES, &n, &tu_err),
                     SB_ERR_NO_DEVICE);
    ck_assert_int_eq(sb_multi_resolve("pthread,pthread,pthread,pthread,pthread,pthread,pthread,"
                                      "pthread,pthread",
                                      idx, SB_MULTI_MAX_DEVICES, &n, &tu_err),
                     SB_ERR_NO_DEVICE);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "no further"));
    /* through the public API */
    sb_options o = sb_options_default();
    o.device = spec;
    sb_model *m = NULL;
    ck_assert_int_eq(sb_model_load(DATA "ragged_batch.model.safetensors", &o, &m), SB_ERR_ARG);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(sb_last_error(), "twice"));
}
END_TEST

/* ---- fixtures ------------------------------------------------------------------ */
/* One device vs two on a fixture; bitwise: memcmp, else SPEC tolerance. */
static void compare_case(const char *name, int bitwise) {
    two_devices();
    io_case c;
    io_load(name, &c);
    sb_model *one = load_case(name, one_dev), *two = load_case(name, two_dev);
    sb_model_info i1 = {.struct_size = sizeof(sb_model_info)}, i2 = i1;
    ck_assert_int_eq(sb_model_get_info(one, &i1), SB_OK);
    ck_assert_int_eq(sb_model_get_info(two, &i2), SB_OK);
    ck_assert_msg(strncmp(i2.device, "2 devices:", 10) == 0, "info.device = '%s'", i2.device);
    ck_assert_int_eq(i1.n_layers, i2.n_layers);
    float *a = forward(one, &c, c.n_want), *b = forward(two, &c, c.n_want);
    char what[128];
    snprintf(what, sizeof what, "%s on devices %s", name, two_dev);
    agree(b, c.want, c.n_want, what);
    if (bitwise) {
        size_t first = c.n_want;
        for (size_t i = 0; i < c.n_want && first == c.n_want; i++)
            if (memcmp(&a[i], &b[i], sizeof(float)) != 0) first = i;
        ck_assert_msg(first == c.n_want, "%s: output[%zu] %.9g on one device, %.9g on two", what,
                      first, first < c.n_want ? a[first] : 0, first < c.n_want ? b[first] : 0);
    } else {
        agree(b, a, c.n_want, what);
    }
    /* merged stats: the same token and activation counts as one device */
    for (int l = 0; l < i1.n_layers; l++) {
        int t1, a1, t2, a2;
        double ms;
        ck_assert_int_eq(sb_model_layer_stats(one, l, &t1, &a1, NULL), SB_OK);
        ck_assert_int_eq(sb_model_layer_stats(two, l, &t2, &a2, &ms), SB_OK);
        ck_assert_int_eq(t1, t2);
        ck_assert_int_eq(a1, a2);
        ck_assert(ms >= 0);
    }
    /* the file path goes through the same split */
    char dir[] = "/tmp/sb_multi_XXXXXX", in_path[1024], out_path[1100];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(in_path, sizeof in_path, DATA "%s.io.safetensors", name);
    snprintf(out_path, sizeof out_path, "%s/out.safetensors", dir);
    sb_status st = sb_model_run_file(two, in_path, out_path);
    ck_assert_msg(st == SB_OK, "run_file: %s", sb_model_last_error(two));
    sb_st_file *f = NULL;
    TU_OK(sb_st_open(out_path, &f, &tu_err));
    const sb_tensor *t = sb_st_find(f, "output");
    ck_assert(t && t->nbytes == c.n_want * sizeof(float));
    ck_assert_int_eq(memcmp(t->data, b, t->nbytes), 0);
    sb_st_free(f);
    unlink(out_path);
    rmdir(dir);
    free(a);
    free(b);
    sb_model_free(one);
    sb_model_free(two);
    io_free(&c);
}

START_TEST(ragged_batch_bitwise) { compare_case("ragged_batch", 1); }
END_TEST
START_TEST(lm_tokens_bitwise) { compare_case("lm_tokens", 1); }
END_TEST
START_TEST(softmax_classify_tolerance) { compare_case("bidir_softmax_batchnorm_classify", 0); }
END_TEST

/* The demo model (softmax attention, W = 64) on a larger ragged batch of random
 * bytes: SPEC tolerance against one device. */
START_TEST(demo_ragged_tolerance) {
    two_devices();
    enum { B = 6, L = 160 };
    static int32_t ids[B * L], lengths[B] = {160, 37, 1, 99, 160, 64};
    uint32_t s = 12345;
    for (int i = 0; i < B * L; i++) {
        s = s * 1664525u + 1013904223u;
        ids[i] = (int32_t)(s >> 24);
    }
    io_case c = {B, L, 0, NULL, ids, lengths, NULL, (size_t)B * L * 256};
    sb_model *one = load(DEMO, one_dev), *two = load(DEMO, two_dev);
    float *a = forward(one, &c, c.n_want), *b = forward(two, &c, c.n_want);
    agree(b, a, c.n_want, "demo model, ragged batch, two devices vs one");
    for (int q = 0; q < B; q++) /* padding stays zero */
        for (size_t i = (size_t)lengths[q] * 256; i < (size_t)L * 256; i++)
            ck_assert_float_eq(b[(size_t)q * L * 256 + i], 0.0f);
    free(a);
    free(b);
    sb_model_free(one);
    sb_model_free(two);
}
END_TEST

/* ---- behaviour ------------------------------------------------------------------ */
START_TEST(both_devices_work) {
    /* internal API: each device got its share of the batch */
    two_devices();
    io_case c;
    io_load("ragged_batch", &c);
    int idx[2] = {dev_a, dev_b};
    sb_multi *mm = NULL;
    sb_rt_options o = {0};
    TU_OK(sb_multi_create(DATA "ragged_batch.model.safetensors", &o, idx, 2, &mm, &tu_err));
    float *out = malloc(sizeof(float) * c.n_want);
    ck_assert_ptr_nonnull(out);
    TU_OK(sb_multi_forward(mm, c.B, c.L, c.x, c.ids, c.lengths, out, &tu_err));
    ck_assert_int_eq(mm->used, 2);
    ck_assert_int_eq(mm->dev[0]->stats[0].tokens, 40);
    ck_assert_int_eq(mm->dev[1]->stats[0].tokens, 17 + 1 + 33);
    ck_assert_int_eq(mm->stats[0].tokens, 91);
    ck_assert(mm->dev[0]->rt->dev.device != mm->dev[1]->rt->dev.device);
    agree(out, c.want, c.n_want, "sb_multi_forward");
    size_t peak = 0;
    TU_OK(sb_multi_plan(mm, 8, 64, &peak, &tu_err));
    ck_assert(peak > 0);
    free(out);
    sb_multi_free(mm);
    io_free(&c);
}
END_TEST

START_TEST(small_batches_errors_env) {
    two_devices();
    io_case c;
    io_load("lm_tokens", &c);
    /* env SEQBOAT_DEVICE with a list, no device in the options */
    ck_assert_int_eq(setenv("SEQBOAT_DEVICE", two_dev, 1), 0);
    sb_model *two = load_case("lm_tokens", NULL);
    unsetenv("SEQBOAT_DEVICE");
    sb_model *one = load_case("lm_tokens", one_dev);
    sb_model_info info = {.struct_size = sizeof(sb_model_info)};
    ck_assert_int_eq(sb_model_get_info(two, &info), SB_OK);
    ck_assert_msg(strncmp(info.device, "2 devices:", 10) == 0, "info.device = '%s'", info.device);
    size_t V = (size_t)info.d_output, row = (size_t)c.L * V;
    /* one sequence on two devices: only the first works; stats are that one's */
    io_case c1 = c;
    c1.B = 1;
    c1.lengths[0] = 50;
    float *a = forward(one, &c1, row), *b = forward(two, &c1, row);
    ck_assert_int_eq(memcmp(a, b, row * sizeof(float)), 0);
    int tok = 0;
    ck_assert_int_eq(sb_model_layer_stats(two, 0, &tok, NULL, NULL), SB_OK);
    ck_assert_int_eq(tok, 50);
    free(a);
    free(b);
    /* errors name the index in the whole batch */
    float *out = malloc(sizeof(float) * c.n_want);
    ck_assert_ptr_nonnull(out);
    c.lengths[0] = c.L;
    c.lengths[1] = 0;
    ck_assert_int_eq(sb_model_forward(two, c.B, c.L, NULL, c.ids, c.lengths, out), SB_ERR_ARG);
    ck_assert_msg(strstr(sb_model_last_error(two), "lengths[1] = 0"), "%s", sb_model_last_error(two));
    c.lengths[1] = c.L;
    int32_t keep = c.ids[(size_t)1 * c.L + 5];
    c.ids[(size_t)1 * c.L + 5] = (int32_t)V + 7;
    ck_assert_int_eq(sb_model_forward(two, c.B, c.L, NULL, c.ids, c.lengths, out), SB_ERR_ARG);
    ck_assert_msg(strstr(sb_model_last_error(two), "[1, 5]"), "%s", sb_model_last_error(two));
    c.ids[(size_t)1 * c.L + 5] = keep;
    ck_assert_int_eq(sb_model_forward(two, c.B, c.L, NULL, NULL, c.lengths, out), SB_ERR_ARG);
    ck_assert_int_eq(sb_model_forward(two, c.B, c.L, NULL, c.ids, c.lengths, NULL), SB_ERR_ARG);
    /* and it still works */
    ck_assert_int_eq(sb_model_forward(two, c.B, c.L, NULL, c.ids, c.lengths, out), SB_OK);
    ck_assert_str_eq(sb_model_last_error(two), "");
    agree(out, c.want, c.n_want, "lm_tokens after errors");
    size_t peak = 0;
    ck_assert_int_eq(sb_model_plan(two, 4, 64, &peak), SB_OK);
    ck_assert(peak > 0);
    /* streams run on the first device: the same bits as a one-device stream */
    sb_stream *s1 = NULL, *s2 = NULL;
    ck_assert_int_eq(sb_stream_open(one, &s1), SB_OK);
    ck_assert_int_eq(sb_stream_open(two, &s2), SB_OK);
    float *o1 = malloc(sizeof(float) * V * 9), *o2 = malloc(sizeof(float) * V * 9);
    ck_assert(o1 && o2);
    ck_assert_int_eq(sb_stream_feed_ids(s1, c.ids, 6, o1, NULL), SB_OK);
    ck_assert_int_eq(sb_stream_feed_ids(s2, c.ids, 6, o2, NULL), SB_OK);
    for (int t = 6; t < 9; t++) {
        ck_assert_int_eq(sb_stream_step_id(s1, c.ids[t], o1 + (size_t)t * V), SB_OK);
        ck_assert_int_eq(sb_stream_step_id(s2, c.ids[t], o2 + (size_t)t * V), SB_OK);
    }
    ck_assert_int_eq(memcmp(o1, o2, sizeof(float) * V * 9), 0);
    sb_stream_free(s1);
    sb_stream_free(s2);
    free(o1);
    free(o2);
    free(out);
    sb_model_free(one);
    sb_model_free(two);
    io_free(&c);
}
END_TEST

/* ---- the program ------------------------------------------------------------------ */
static int run_cli(const char *device, const char *out_path, const char *err_path) {
    const char *argv[] = {SB_CLI_PATH, "run", "--model", DATA "ragged_batch.model.safetensors",
                          "--input", DATA "ragged_batch.io.safetensors", "--output", out_path,
                          "--device", device, "--stats", NULL};
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fe < 0) _exit(127);
        dup2(fe, 2);
        close(fe);
        execv(SB_CLI_PATH, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(s);
    *n = fread(s, 1, (size_t)len, f);
    s[*n] = 0;
    fclose(f);
    return s;
}

START_TEST(cli_run_two_devices) {
    two_devices();
    char dir[] = "/tmp/sb_multi_cli_XXXXXX", o1[128], o2[128], e1[128], e2[128];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(o1, sizeof o1, "%s/one.safetensors", dir);
    snprintf(o2, sizeof o2, "%s/two.safetensors", dir);
    snprintf(e1, sizeof e1, "%s/one.err", dir);
    snprintf(e2, sizeof e2, "%s/two.err", dir);
    int st1 = run_cli(one_dev, o1, e1), st2 = run_cli(two_dev, o2, e2);
    size_t n1, n2, ne;
    char *err = slurp(e2, &ne);
    ck_assert_msg(WIFEXITED(st1) && WEXITSTATUS(st1) == 0, "seqboat run --device %s failed", one_dev);
    ck_assert_msg(WIFEXITED(st2) && WEXITSTATUS(st2) == 0, "seqboat run --device %s failed: %s",
                  two_dev, err);
    ck_assert_msg(strstr(err, "2 devices:") != NULL, "--stats does not list two devices: %s", err);
    char *f1 = slurp(o1, &n1), *f2 = slurp(o2, &n2);
    ck_assert_msg(n1 == n2 && memcmp(f1, f2, n1) == 0,
                  "seqboat run: output files differ between --device %s and --device %s", one_dev,
                  two_dev);
    free(f1);
    free(f2);
    free(err);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void) {
    /* every test here uses PoCL's two devices; elsewhere the suite is a skip */
    int r = tu_require_pocl("multidevice", "this suite (two devices through POCL_DEVICES)", 1);
    if (r) return r;
    Suite *s = suite_create("multidevice");
    TCase *tc = tcase_create("split");
    tcase_add_test(tc, split_balanced);
    tcase_add_test(tc, resolve_lists);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("two devices");
    tcase_set_timeout(tf, 300);
    tcase_add_test(tf, ragged_batch_bitwise);
    tcase_add_test(tf, lm_tokens_bitwise);
    tcase_add_test(tf, softmax_classify_tolerance);
    tcase_add_test(tf, demo_ragged_tolerance);
    tcase_add_test(tf, both_devices_work);
    tcase_add_test(tf, small_batches_errors_env);
    tcase_add_test(tf, cli_run_two_devices);
    suite_add_tcase(s, tf);
    return tu_run(s);
}
