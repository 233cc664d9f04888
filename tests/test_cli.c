/* test_cli.c - the seqboat program as a user runs it: `run` on fixture cases
 * (compared with the reference within SPEC section 6 tolerance), `devices`,
 * `inspect`, and bad invocations that must exit non-zero (not by a signal) with
 * a message on stderr. The program is started with fork/execv so that a crash
 * shows up as a signal rather than through a shell's exit code. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"
#include "../runtime/safetensors.h"
#include "seqboat.h"

#define DATA SB_TEST_DATA_DIR "/"

/* A temporary folder per test, removed (with its files) at the end. */
typedef struct {
    char dir[64];
    char out[128], err[128];   /* captured stdout / stderr */
    char *out_text, *err_text; /* read back after each run */
} tmp_t;

static void tmp_open(tmp_t *t) {
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/sb_cli_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->out, sizeof t->out, "%s/stdout.txt", t->dir);
    snprintf(t->err, sizeof t->err, "%s/stderr.txt", t->dir);
}

static void tmp_path(const tmp_t *t, const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", t->dir, name);
}

static char *slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    size_t got = fread(s, 1, (size_t)n, fp);
    s[got] = 0;
    fclose(fp);
    return s;
}

static void tmp_close(tmp_t *t) {
    free(t->out_text);
    free(t->err_text);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Run SB_CLI_PATH with args (NULL-terminated), stdout/stderr into files; returns
 * the raw wait status. no_leak_check: LeakSanitizer off in the child. */
static int run_cli_once(tmp_t *t, const char *const *args, int no_leak_check) {
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)SB_CLI_PATH;
    for (; args[n - 1] && n < 31; n++) argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(t->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(t->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0) _exit(127);
        dup2(fo, 1);
        dup2(fe, 2);
        close(fo);
        close(fe);
        if (no_leak_check) tu_child_no_leak_check();
        execv(SB_CLI_PATH, argv);
        _exit(127);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    free(t->out_text);
    free(t->err_text);
    t->out_text = slurp(t->out);
    t->err_text = slurp(t->err);
    ck_assert_ptr_nonnull(t->out_text);
    ck_assert_ptr_nonnull(t->err_text);
    return status;
}

/* run_cli_once; run again with the leak check off when LeakSanitizer's own
 * tracer failed at the child's exit (tu_lsan_tracer_failed: no leak report),
 * so the exit status, output and message are still checked. */
static int run_cli(tmp_t *t, const char *const *args) {
    int status = run_cli_once(t, args, 0);
    if (tu_lsan_tracer_failed(t->err_text)) status = run_cli_once(t, args, 1);
    return status;
}

static void expect_ok(const tmp_t *t, int status, const char *what) {
    ck_assert_msg(WIFEXITED(status), "%s: ended by signal %d; stderr: %s", what,
                  WIFSIGNALED(status) ? WTERMSIG(status) : -1, t->err_text);
    ck_assert_msg(WEXITSTATUS(status) == 0, "%s: exit status %d; stderr: %s", what,
                  WEXITSTATUS(status), t->err_text);
}

/* A clean failure: exited (no signal), non-zero, below the shell's signal range,
 * a message on stderr containing `needle` (case-insensitive) when given. */
static void expect_fail(const tmp_t *t, int status, const char *needle, const char *what) {
    ck_assert_msg(WIFEXITED(status), "%s: ended by signal %d instead of an exit status; stderr: %s",
                  what, WIFSIGNALED(status) ? WTERMSIG(status) : -1, t->err_text);
    int code = WEXITSTATUS(status);
    ck_assert_msg(code != 0, "%s: exit status 0 for a bad invocation; stdout: %s", what,
                  t->out_text);
    ck_assert_msg(code < 126, "%s: exit status %d", what, code);
    ck_assert_msg(strlen(t->err_text) > 0, "%s: nothing on stderr", what);
    if (needle) {
        int found = 0;
        size_t nl = strlen(needle);
        for (const char *p = t->err_text; *p && !found; p++) {
            size_t i = 0;
            while (i < nl && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i])) i++;
            found = i == nl;
        }
        ck_assert_msg(found, "%s: stderr does not mention '%s': %s", what, needle, t->err_text);
    }
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Compare the `output` of two files: SPEC section 6 agreement. */
static void check_output_file(const char *got_path, const char *want_path, const char *what) {
    sb_st_file *g = NULL, *w = NULL;
    TU_OK(sb_st_open(got_path, &g, &tu_err));
    TU_OK(sb_st_open(want_path, &w, &tu_err));
    const sb_tensor *a = sb_st_find(g, "output"), *b = sb_st_find(w, "output");
    ck_assert_msg(a && b, "%s: tensor 'output' missing", what);
    ck_assert_int_eq(a->dtype, SB_DT_F32);
    ck_assert_int_eq(a->ndim, b->ndim);
    for (int i = 0; i < a->ndim; i++) ck_assert_int_eq(a->shape[i], b->shape[i]);
    ck_assert_uint_eq(a->nbytes, b->nbytes);
    const float *x = a->data, *y = b->data;
    size_t n = a->nbytes / sizeof(float);
    double d2 = 0, y2 = 0, dmax = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(x[i]), "%s: output[%zu] = %g", what, i, x[i]);
        double d = (double)x[i] - y[i];
        d2 += d * d;
        y2 += (double)y[i] * y[i];
        if (fabs(d) > dmax) dmax = fabs(d);
    }
    double rel = sqrt(d2 / (y2 > 0 ? y2 : 1));
    ck_assert_msg(rel <= 1e-4 && dmax <= 2e-3, "%s: relative L2 %.3g, max abs %.3g", what, rel, dmax);
    sb_st_free(g);
    sb_st_free(w);
}

static void run_case(const char *name) {
    tmp_t t;
    tmp_open(&t);
    char model[512], io[512], out[256];
    snprintf(model, sizeof model, DATA "%s.model.safetensors", name);
    snprintf(io, sizeof io, DATA "%s.io.safetensors", name);
    tmp_path(&t, "out.safetensors", out, sizeof out);
    const char *args[] = {"run", "--model", model, "--input", io, "--output", out, "--stats", NULL};
    int st = run_cli(&t, args);
    expect_ok(&t, st, name);
    check_output_file(out, io, name);
    /* --stats reports per-layer activation on stderr */
    ck_assert_msg(strstr(t.err_text, "layer 0") != NULL, "%s: --stats printed no layer line: %s",
                  name, t.err_text);
    tmp_close(&t);
}

START_TEST(run_classify) { run_case("bidir_softmax_batchnorm_classify"); }
END_TEST
START_TEST(run_lm) { run_case("lm_tokens"); }
END_TEST
START_TEST(run_ragged) { run_case("ragged_batch"); }
END_TEST

/* Count of non-overlapping occurrences of needle in hay. */
static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

/* Every device the library sees is listed, the default one marked once, with
 * the reason, and the marked one is the one sb_device_default names. */
START_TEST(devices) {
    tmp_t t;
    tmp_open(&t);
    const char *args[] = {"devices", NULL};
    int st = run_cli(&t, args);
    expect_ok(&t, st, "seqboat devices");
    int n = 0, def = -1;
    char why[512], line[1100];
    ck_assert_int_eq(sb_devices(NULL, 0, &n), SB_OK);
    ck_assert_int_gt(n, 0);
    sb_device_desc *d = calloc((size_t)n, sizeof *d);
    ck_assert_ptr_nonnull(d);
    d[0].struct_size = sizeof *d;
    ck_assert_int_eq(sb_devices(d, n, &n), SB_OK);
    ck_assert_int_eq(sb_device_default(&def, why, sizeof why), SB_OK);
    ck_assert(def >= 0 && def < n);
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof line, "[%d] %s", d[i].index, d[i].name);
        ck_assert_msg(strstr(t.out_text, line), "seqboat devices does not list '%s':\n%s", line,
                      t.out_text);
    }
    ck_assert_int_eq(count_of(t.out_text, "(default)"), 1);
    snprintf(line, sizeof line, "[%d] %s  (default)", def, d[def].name);
    ck_assert_msg(strstr(t.out_text, line), "'%s' not marked:\n%s", line, t.out_text);
    snprintf(line, sizeof line, "default device: [%d] %s: %s", def, d[def].name, why);
    ck_assert_msg(strstr(t.out_text, line), "no line '%s':\n%s", line, t.out_text);
    free(d);
    tmp_close(&t);
}
END_TEST

/* The rule: a simulator is the default only when nothing else exists. */
START_TEST(default_device_rule) {
    sb_device_info l[3];
    char why[300];
    memset(l, 0, sizeof l);
    snprintf(l[0].platform_name, sizeof l[0].platform_name, "Oclgrind");
    snprintf(l[0].name, sizeof l[0].name, "Oclgrind Simulator");
    l[0].type = CL_DEVICE_TYPE_GPU;
    snprintf(l[1].platform_name, sizeof l[1].platform_name, "Portable Computing Language");
    l[1].type = CL_DEVICE_TYPE_CPU;
    snprintf(l[2].platform_name, sizeof l[2].platform_name, "NVIDIA CUDA");
    l[2].type = CL_DEVICE_TYPE_GPU;
    ck_assert_int_eq(sb_device_default_index(l, 3, why, sizeof why), 2);
    ck_assert_ptr_nonnull(strstr(why, "first GPU"));
    ck_assert_ptr_nonnull(strstr(why, "simulator"));
    ck_assert_int_eq(sb_device_default_index(l, 2, why, sizeof why), 1);
    ck_assert_ptr_nonnull(strstr(why, "no GPU"));
    ck_assert_int_eq(sb_device_default_index(l, 1, why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "only"));
    ck_assert_int_eq(sb_device_default_index(l + 1, 2, why, sizeof why), 1); /* GPU after CPU */
    ck_assert_int_eq(sb_device_default_index(l, 0, why, sizeof why), -1);
    ck_assert(sb_device_is_simulator(&l[0]) && !sb_device_is_simulator(&l[1]));
}
END_TEST

/* PoCL only: the PoCL device's name shows. */
START_TEST(devices_pocl) {
    tmp_t t;
    tmp_open(&t);
    const char *args[] = {"devices", NULL};
    int st = run_cli(&t, args);
    expect_ok(&t, st, "seqboat devices");
    ck_assert_msg(strstr(t.out_text, "pthread") && strstr(t.out_text, "Portable Computing Language"),
                  "seqboat devices does not list the PoCL device:\n%s", t.out_text);
    tmp_close(&t);
}
END_TEST

/* Every device checked and reported, one line each. */
START_TEST(selftest_all) {
    tmp_t t;
    tmp_open(&t);
    const char *args[] = {"selftest", "--device", "all", NULL};
    int st = run_cli(&t, args);
    expect_ok(&t, st, "seqboat selftest --device all");
    int n = 0;
    ck_assert_int_eq(sb_devices(NULL, 0, &n), SB_OK);
    char line[64];
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof line, "[%d] ok: device '", i);
        ck_assert_msg(strstr(t.out_text, line), "no '%s' line:\n%s", line, t.out_text);
    }
    ck_assert_int_eq(count_of(t.out_text, "LayerNorm"), n);
    ck_assert_int_eq(count_of(t.out_text, "the models' product ("), n);
    snprintf(line, sizeof line, "selftest: %d of %d device(s) ok", n, n);
    ck_assert_msg(strstr(t.out_text, line), "no '%s' line:\n%s", line, t.out_text);
    /* the product checked is the one a model would use (SEQBOAT_LINEAR included) */
    ck_assert_int_eq(setenv("SEQBOAT_LINEAR", "lds:8,8,4,2,2", 1), 0);
    const char *one[] = {"selftest", NULL};
    st = run_cli(&t, one);
    unsetenv("SEQBOAT_LINEAR");
    expect_ok(&t, st, "SEQBOAT_LINEAR=lds:8,8,4,2,2 seqboat selftest");
    ck_assert_msg(strstr(t.out_text, "the models' product (lds:8,8,4,2,2)"), "%s", t.out_text);
    /* a device that does not exist is a clean failure */
    const char *bad[] = {"selftest", "--device", "no-such-device-xyz", NULL};
    expect_fail(&t, run_cli(&t, bad), "no-such-device-xyz", "selftest on a missing device");
    tmp_close(&t);
}
END_TEST

START_TEST(inspect) {
    tmp_t t;
    tmp_open(&t);
    const char *args[] = {"inspect", "--model", DATA "bidir_softmax_batchnorm_classify.model.safetensors",
                          NULL};
    int st = run_cli(&t, args);
    expect_ok(&t, st, "seqboat inspect");
    /* 5769 = sum of the F32 tensor sizes of this file (see test_model_file.c) */
    ck_assert_msg(strstr(t.out_text, "parameters: 5769") != NULL,
                  "inspect printed no 'parameters: 5769' line:\n%s", t.out_text);
    ck_assert_msg(strstr(t.out_text, "bidirectional") != NULL, "inspect output:\n%s", t.out_text);

    const char *bad[] = {"inspect", "--model", DATA "no_such_model.safetensors", NULL};
    st = run_cli(&t, bad);
    expect_fail(&t, st, "no_such_model", "inspect of a missing file");
    tmp_close(&t);
}
END_TEST

START_TEST(bad_missing_input) {
    tmp_t t;
    tmp_open(&t);
    char out[256];
    tmp_path(&t, "out.safetensors", out, sizeof out);
    const char *args[] = {"run", "--model", DATA "causal_rotary.model.safetensors", "--output", out,
                          NULL};
    int st = run_cli(&t, args);
    expect_fail(&t, st, "--input", "run without --input");
    ck_assert(!file_exists(out));
    /* no command at all, and an unknown command */
    const char *none[] = {NULL};
    expect_fail(&t, run_cli(&t, none), NULL, "no command");
    const char *unk[] = {"frobnicate", NULL};
    expect_fail(&t, run_cli(&t, unk), "frobnicate", "unknown command");
    tmp_close(&t);
}
END_TEST

START_TEST(bad_missing_model) {
    tmp_t t;
    tmp_open(&t);
    char out[256];
    tmp_path(&t, "out.safetensors", out, sizeof out);
    const char *args[] = {"run", "--model", DATA "does_not_exist.safetensors", "--input",
                          DATA "causal_rotary.io.safetensors", "--output", out, NULL};
    int st = run_cli(&t, args);
    expect_fail(&t, st, "does_not_exist", "run with a nonexistent model");
    ck_assert(!file_exists(out));
    /* a missing input file names the input */
    const char *args2[] = {"run", "--model", DATA "causal_rotary.model.safetensors", "--input",
                           DATA "no_input_here.safetensors", "--output", out, NULL};
    st = run_cli(&t, args2);
    expect_fail(&t, st, "no_input_here", "run with a nonexistent input");
    ck_assert(!file_exists(out));
    tmp_close(&t);
}
END_TEST

/* Write an input file: float [B][L][F] (ids NULL) or I64 ids [B][L]; lengths I64 [B]. */
static void write_input(const char *path, int B, int L, int F, const float *x, const int64_t *ids,
                        const int64_t *lengths) {
    int64_t xs[3] = {B, L, F}, ls[1] = {B};
    sb_st_out t[2];
    t[0].name = "input";
    t[0].dtype = ids ? SB_DT_I64 : SB_DT_F32;
    t[0].ndim = ids ? 2 : 3;
    t[0].shape = xs;
    t[0].data = ids ? (const void *)ids : (const void *)x;
    t[1].name = "lengths";
    t[1].dtype = SB_DT_I64;
    t[1].ndim = 1;
    t[1].shape = ls;
    t[1].data = lengths;
    TU_OK(sb_st_write(path, t, lengths ? 2 : 1, NULL, &tu_err));
}

START_TEST(bad_lengths) {
    tmp_t t;
    tmp_open(&t);
    char in[256], out[256];
    tmp_path(&t, "in.safetensors", in, sizeof in);
    tmp_path(&t, "out.safetensors", out, sizeof out);
    enum { B = 2, L = 10, F = 3 };
    float x[B * L * F];
    tu_fill(x, B * L * F, 7, -1, 1);
    const int64_t cases[][B] = {{10, 11}, {0, 5}, {-3, 10}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_input(in, B, L, F, x, NULL, cases[k]);
        const char *args[] = {"run", "--model", DATA "causal_relu2_layernorm.model.safetensors",
                              "--input", in, "--output", out, NULL};
        int st = run_cli(&t, args);
        char what[64];
        snprintf(what, sizeof what, "lengths {%lld, %lld}", (long long)cases[k][0],
                 (long long)cases[k][1]);
        expect_fail(&t, st, "lengths", what);
        ck_assert(!file_exists(out));
    }
    /* the same file with valid lengths runs */
    const int64_t good[B] = {10, 4};
    write_input(in, B, L, F, x, NULL, good);
    const char *args[] = {"run", "--model", DATA "causal_relu2_layernorm.model.safetensors",
                          "--input", in, "--output", out, NULL};
    expect_ok(&t, run_cli(&t, args), "valid lengths");
    ck_assert(file_exists(out));
    tmp_close(&t);
}
END_TEST

START_TEST(bad_token_id) {
    tmp_t t;
    tmp_open(&t);
    char in[256], out[256];
    tmp_path(&t, "in.safetensors", in, sizeof in);
    tmp_path(&t, "out.safetensors", out, sizeof out);
    enum { B = 1, L = 8 };
    int64_t ids[B * L] = {1, 2, 3, 4, 50, 6, 7, 8}; /* vocab_size is 50 */
    int64_t lengths[B] = {L};
    write_input(in, B, L, 0, NULL, ids, lengths);
    const char *args[] = {"run", "--model", DATA "lm_tokens.model.safetensors", "--input", in,
                          "--output", out, NULL};
    expect_fail(&t, run_cli(&t, args), "vocab", "token id 50 with vocab_size 50");
    ck_assert(!file_exists(out));
    ids[4] = -1;
    write_input(in, B, L, 0, NULL, ids, lengths);
    expect_fail(&t, run_cli(&t, args), "vocab", "token id -1");
    ck_assert(!file_exists(out));
    /* float input given to an lm model: wrong dtype, clean failure */
    float x[B * L * 3];
    tu_fill(x, sizeof x / sizeof x[0], 3, -1, 1);
    write_input(in, B, L, 3, x, NULL, lengths);
    expect_fail(&t, run_cli(&t, args), "input", "float input to an lm model");
    ids[4] = 49;
    write_input(in, B, L, 0, NULL, ids, lengths);
    expect_ok(&t, run_cli(&t, args), "valid ids");
    ck_assert(file_exists(out));
    tmp_close(&t);
}
END_TEST

/* generate: --prompt-file gives the same greedy bytes as --prompt with the
 * file's text; bad values exit 2 with a message. */
START_TEST(generate_prompt_file) {
    tmp_t t;
    tmp_open(&t);
    const char *text = "import os\ndef main(";
    char pf[256];
    tmp_path(&t, "prompt.txt", pf, sizeof pf);
    FILE *fp = fopen(pf, "wb");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
    const char *model = SB_SOURCE_DIR "/models/tiny-pystdlib.safetensors";
    const char *a1[] = {"generate", "--model", model, "--prompt", text, "--max-tokens", "24",
                        "--temperature", "0", NULL};
    expect_ok(&t, run_cli(&t, a1), "generate --prompt");
    char *want = strdup(t.out_text);
    ck_assert_uint_gt(strlen(want), strlen(text) + 20);
    ck_assert(!strncmp(want, text, strlen(text)));
    const char *a2[] = {"generate", "--model", model, "--prompt-file", pf, "--max-tokens", "24",
                        "--temperature", "0", NULL};
    expect_ok(&t, run_cli(&t, a2), "generate --prompt-file");
    ck_assert_str_eq(t.out_text, want);
    free(want);
    const char *b1[] = {"generate", "--model", model, "--prompt", "x", "--max-tokens", "5x", NULL};
    expect_fail(&t, run_cli(&t, b1), "max-tokens", "--max-tokens 5x");
    const char *b2[] = {"generate", "--model", model, "--prompt-file", "/nonexistent/p.txt", NULL};
    expect_fail(&t, run_cli(&t, b2), "prompt-file", "missing prompt file");
    const char *b3[] = {"generate", "--model", model, "--prompt", "x", "--prompt-file", pf, NULL};
    expect_fail(&t, run_cli(&t, b3), "one of", "both prompt options");
    const char *b4[] = {"generate", "--model", model, "--prompt", "x", "--top-p", "0", NULL};
    expect_fail(&t, run_cli(&t, b4), "top-p", "--top-p 0");
    tmp_close(&t);
}
END_TEST

/* generate from an lm whose ids are not bytes (a converted fairseq LM):
 * tiny-pystdlib with 4 ids in front that are no byte (their logits made the
 * largest) and metadata token_bytes; greedy output equals the original's. */
START_TEST(generate_token_bytes) {
    tmp_t t;
    tmp_open(&t);
    const char *model = SB_SOURCE_DIR "/models/tiny-pystdlib.safetensors";
    char mapped[256];
    tmp_path(&t, "mapped.safetensors", mapped, sizeof mapped);
    sb_st_file *f = NULL;
    TU_OK(sb_st_open(model, &f, &tu_err));
    const int S = 4, V = 256 + S;
    const sb_tensor *emb = sb_st_find(f, "embed_tokens.weight");
    ck_assert_ptr_nonnull(emb);
    const int D = (int)emb->shape[1];
    float *E = calloc((size_t)V * D, sizeof(float)), *Wd = calloc((size_t)V * D, sizeof(float));
    float *bd = calloc((size_t)V, sizeof(float));
    const float *e0 = emb->data, *w0 = sb_st_find(f, "decoder.weight")->data;
    const float *b0 = sb_st_find(f, "decoder.bias")->data;
    for (int i = 0; i < 256; i++) {
        memcpy(E + (size_t)(i + S) * D, e0 + (size_t)i * D, sizeof(float) * D);
        memcpy(Wd + (size_t)(i + S) * D, w0 + (size_t)i * D, sizeof(float) * D);
        bd[i + S] = b0[i];
    }
    for (int i = 0; i < S; i++) bd[i] = 1000.0f; /* would always win if not masked */
    int n = sb_st_count(f);
    sb_st_out *outs = calloc((size_t)n, sizeof *outs);
    int64_t se[2] = {V, D}, sb[1] = {V};
    for (int i = 0; i < n; i++) {
        const sb_tensor *x = sb_st_at(f, i);
        outs[i].name = x->name, outs[i].dtype = x->dtype, outs[i].ndim = x->ndim;
        outs[i].shape = x->shape, outs[i].data = x->data;
        if (!strcmp(x->name, "embed_tokens.weight")) outs[i].shape = se, outs[i].data = E;
        if (!strcmp(x->name, "decoder.weight")) outs[i].shape = se, outs[i].data = Wd;
        if (!strcmp(x->name, "decoder.bias")) outs[i].shape = sb, outs[i].data = bd;
    }
    const char **kv = calloc((size_t)2 * sb_st_meta_count(f) + 3, sizeof *kv);
    int k = 0;
    char *tb = malloc((size_t)V * 5 + 1);
    size_t tl = 0;
    for (int i = 0; i < V; i++) tl += (size_t)sprintf(tb + tl, "%s%d", i ? "," : "", i < S ? -1 : i - S);
    for (int i = 0; i < sb_st_meta_count(f); i++) {
        const char *key, *val;
        sb_st_meta_at(f, i, &key, &val);
        kv[k++] = key;
        kv[k++] = !strcmp(key, "vocab_size") || !strcmp(key, "d_output") ? "260" : val;
    }
    kv[k++] = "token_bytes";
    kv[k++] = tb;
    kv[k] = NULL;
    TU_OK(sb_st_write(mapped, outs, n, kv, &tu_err));
    const char *text = "import os\ndef main(";
    const char *a1[] = {"generate", "--model", model, "--prompt", text, "--max-tokens", "24",
                        "--temperature", "0", NULL};
    expect_ok(&t, run_cli(&t, a1), "generate (byte ids)");
    char *want = strdup(t.out_text);
    const char *a2[] = {"generate", "--model", mapped, "--prompt", text, "--max-tokens", "24",
                        "--temperature", "0", NULL};
    expect_ok(&t, run_cli(&t, a2), "generate (token_bytes)");
    ck_assert_str_eq(t.out_text, want);
    const char *a3[] = {"generate", "--model", mapped, "--prompt", text, "--max-tokens", "24",
                        "--temperature", "0.7", "--seed", "3", NULL};
    expect_ok(&t, run_cli(&t, a3), "generate (token_bytes, sampled)");
    char *got3 = strdup(t.out_text);
    const char *a4[] = {"generate", "--model", model, "--prompt", text, "--max-tokens", "24",
                        "--temperature", "0.7", "--seed", "3", NULL};
    expect_ok(&t, run_cli(&t, a4), "generate (byte ids, sampled)");
    ck_assert_str_eq(got3, t.out_text); /* the same bytes sampled: the map is exact */
    free(got3);
    free(want);
    free(tb); free(kv); free(outs); free(E); free(Wd); free(bd);
    sb_st_free(f);
    tmp_close(&t);
}
END_TEST

/* A refused command line: exit status 2 and every needle on stderr. */
static void expect_usage(const tmp_t *t, int status, const char *n1, const char *n2,
                         const char *what) {
    expect_fail(t, status, n1, what);
    if (n2) expect_fail(t, status, n2, what);
    ck_assert_msg(WEXITSTATUS(status) == 2, "%s: exit status %d, want 2; stderr: %s", what,
                  WEXITSTATUS(status), t->err_text);
}

/* Bad command lines of every kind, refused before any work with exit 2 and a
 * message naming the option or value. */
START_TEST(bad_options) {
    tmp_t t;
    tmp_open(&t);
    static const struct {
        const char *args[9]; /* at most 8 words and the NULL that ends them */
        const char *n1, *n2;
    } cases[] = {
        {{"run", "--modle", "x"}, "unknown option", "'--modle'"},
        {{"bench", "--lenghts", "128"}, "unknown option", "'--lenghts'"},
        {{"generate", "--max-tokens", "12x"}, "--max-tokens", "'12x'"},
        {{"generate", "--prompt", "a", "--top-p", "1.5"}, "--top-p", "1.5"},
        {{"generate", "--prompt", "a", "--seed", "-1"}, "--seed", "'-1'"},
        {{"generate", "--prompt", "a", "--temperature", "nan"}, "--temperature", "'nan'"},
        {{"bench", "--batch", "0"}, "--batch", "0"},
        {{"bench", "--lengths", "128,,256"}, "--lengths", "128,,256"},
        {{"bench", "--lengths", "4096m"}, "--lengths", "4096m"},
        {{"bench", "--shares", "0.5,routr"}, "--shares", "'routr'"},
        {{"bench", "--driver-cache", "of"}, "--driver-cache", "'of'"},
        {{"selftest", "--device"}, "--device", "needs a value"},
        {{"devices", "--all"}, "unknown option", "'--all'"},
        {{"peak", "--jsn", "x"}, "unknown option", "'--jsn'"},
        {{"peak", "--json"}, "--json", "needs a value"},
        {{"peak", "stray"}, "unexpected argument", "'stray'"},
        {{"bench", "--report"}, "--report", "needs a value"},
        {{"inspect", "--model", "m", "-x"}, "unknown option", "'-x'"},
        {{"version", "extra"}, "unexpected argument", "'extra'"},
        {{"run", "--model", "m", "--input", "i", "--output", "o", "stray"}, "unexpected argument", "'stray'"},
        {{"run", "--stats=1"}, "--stats", "takes no value"},
        /* names are given in full: an abbreviation could change meaning when an option is added */
        {{"run", "--mod", "x"}, "unknown option", "'--mod'"},
        /* required options */
        {{"run", "--model", "m", "--input", "i"}, "missing", "--output"},
        {{"inspect"}, "--model", "required"},
        {{"generate", "--max-tokens", "3"}, "--prompt", NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char what[160];
        size_t n = 0;
        for (int i = 0; cases[k].args[i]; i++)
            n += (size_t)snprintf(what + n, sizeof what - n, " %s", cases[k].args[i]);
        expect_usage(&t, run_cli(&t, cases[k].args), cases[k].n1, cases[k].n2, what);
        ck_assert_msg(t.out_text[0] == '\0', "%s: printed on stdout: %s", what, t.out_text);
    }
    tmp_close(&t);
}
END_TEST

/* --methods names match exactly (no substrings); a listed method runs alone. */
START_TEST(bench_methods_exact) {
    tmp_t t;
    tmp_open(&t);
    const char *quad[] = {"bench", "--methods", "quad", NULL};
    expect_usage(&t, run_cli(&t, quad), "--methods", "'quad'", "--methods quad");
    const char *sub[] = {"bench", "--methods", "sma,densely", NULL};
    expect_usage(&t, run_cli(&t, sub), "--methods", "'densely'", "--methods sma,densely");
    const char *dense[] = {"bench", "--methods", "dense", "--lengths", "16", "--d-model", "16",
                           "--d-qk", "8", "--d-hidden", "16", "--d-ema", "4", "--window", "8",
                           "--warmup", "0", "--repeats", "1", "--no-build-time", "--quiet", NULL};
    expect_ok(&t, run_cli(&t, dense), "--methods dense");
    ck_assert_msg(strstr(t.out_text, " dense ") != NULL, "no dense row:\n%s", t.out_text);
    ck_assert_msg(!strstr(t.out_text, " sma ") && !strstr(t.out_text, " quadratic "),
                  "rows of methods not asked for:\n%s", t.out_text);
    tmp_close(&t);
}
END_TEST

/* An option's value that looks like an option: `--prompt --stats` is a missing
 * value, not the text "--stats"; `--prompt=--stats` is that text. */
START_TEST(value_looks_like_option) {
    tmp_t t;
    tmp_open(&t);
    const char *model = SB_SOURCE_DIR "/models/tiny-pystdlib.safetensors";
    const char *a[] = {"generate", "--model", model, "--prompt", "--stats", NULL};
    expect_usage(&t, run_cli(&t, a), "'--prompt'", "missing its value", "--prompt --stats");
    const char *b[] = {"run", "--model", "--input", "x", "--output", "y", NULL};
    expect_usage(&t, run_cli(&t, b), "'--model'", "missing its value", "--model --input");
    const char *c[] = {"generate", "--model", model, "--prompt=--stats", "--max-tokens", "0",
                       "--temperature", "0", NULL};
    expect_ok(&t, run_cli(&t, c), "--prompt=--stats");
    ck_assert_str_eq(t.out_text, "--stats\n");
    tmp_close(&t);
}
END_TEST

/* Every command: --help (and -h) prints its usage line on stdout, exit 0. */
START_TEST(help_every_command) {
    tmp_t t;
    tmp_open(&t);
    static const char *const cmds[] = {"devices", "run", "inspect", "generate", "selftest",
                                       "bench", "peak", "version"};
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
        for (int form = 0; form < 2; form++) {
            const char *args[] = {cmds[k], form ? "-h" : "--help", NULL};
            char want[64];
            snprintf(want, sizeof want, "usage: seqboat %s", cmds[k]);
            expect_ok(&t, run_cli(&t, args), want);
            ck_assert_msg(!strncmp(t.out_text, want, strlen(want)),
                          "seqboat %s %s: stdout does not start with '%s':\n%s", cmds[k], args[1],
                          want, t.out_text);
        }
    const char *top[] = {"--help", NULL};
    expect_ok(&t, run_cli(&t, top), "seqboat --help");
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
        ck_assert_msg(strstr(t.out_text, cmds[k]) != NULL, "seqboat --help lacks %s", cmds[k]);
    tmp_close(&t);
}
END_TEST

int main(void) {
    if (tu_tag_selected("pocl")) {
        int r = tu_require_pocl("cli", "test case 'pocl' (PoCL's device name in `seqboat devices`)", 0);
        if (r) return r;
    }
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("run");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, run_classify);
    tcase_add_test(tc, run_lm);
    tcase_add_test(tc, run_ragged);
    suite_add_tcase(s, tc);
    TCase *ti = tcase_create("commands");
    tcase_set_timeout(ti, 300);
    tcase_add_test(ti, devices);
    tcase_add_test(ti, default_device_rule);
    tcase_add_test(ti, selftest_all);
    tcase_add_test(ti, inspect);
    tcase_add_test(ti, generate_prompt_file);
    tcase_add_test(ti, generate_token_bytes);
    suite_add_tcase(s, ti);
    TCase *tp = tcase_create("pocl");
    tcase_set_tags(tp, "pocl");
    tcase_add_test(tp, devices_pocl);
    suite_add_tcase(s, tp);
    TCase *tb = tcase_create("bad");
    tcase_set_timeout(tb, 300);
    tcase_add_test(tb, bad_missing_input);
    tcase_add_test(tb, bad_missing_model);
    tcase_add_test(tb, bad_lengths);
    tcase_add_test(tb, bad_token_id);
    tcase_add_test(tb, bad_options);
    tcase_add_test(tb, bench_methods_exact);
    tcase_add_test(tb, value_looks_like_option);
    tcase_add_test(tb, help_every_command);
    suite_add_tcase(s, tb);
    return tu_run(s);
}
