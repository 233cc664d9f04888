/* test_faults.c - device and environment faults:
 *   - device allocations beyond CL_DEVICE_MAX_MEM_ALLOC_SIZE or global memory:
 *     sb_rt_alloc, sb_model_plan with an enormous shape, and a forward with a huge
 *     L (and as many tokens in a large batch) on a wide classify model written
 *     here -> SB_ERR_DEVICE_MEMORY with a message; the model still runs afterwards;
 *   - a kernel that fails to build (SEQBOAT_KERNEL_DIR with one file broken) ->
 *     SB_ERR_BUILD carrying the build log, through the API and the CLI; the disk
 *     cache never serves the program built from the unbroken source;
 *   - cache files cut short or overwritten -> rebuilt, outputs unchanged;
 *   - a cache folder that cannot be written -> runs without a disk cache and says
 *     so once through sb_model_cache_note.
 * Each test sets its environment inside its own (forked) process. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <openssl/evp.h>
#include "testutil.h"
#include "hardening_util.h"
#include "../runtime/safetensors.h"
#include "seqboat.h"

#define DATA SB_TEST_DATA_DIR "/"
#define CASE "causal_relu2_layernorm"
#define MODEL DATA CASE ".model.safetensors"
#define IO DATA CASE ".io.safetensors"

/* The `output` of out_path against the fixture's (SPEC section 6 agreement);
 * returns the output copied (malloc'd), its element count in *n. */
static float *check_output(const char *out_path, size_t *n) {
    sb_st_file *g = NULL, *w = NULL;
    TU_OK(sb_st_open(out_path, &g, &tu_err));
    TU_OK(sb_st_open(IO, &w, &tu_err));
    const sb_tensor *a = sb_st_find(g, "output"), *b = sb_st_find(w, "output");
    ck_assert(a && b && a->nbytes == b->nbytes);
    const float *x = a->data, *y = b->data;
    *n = a->nbytes / sizeof(float);
    double d2 = 0, y2 = 0, dmax = 0;
    for (size_t i = 0; i < *n; i++) {
        double d = (double)x[i] - y[i];
        d2 += d * d;
        y2 += (double)y[i] * y[i];
        if (fabs(d) > dmax) dmax = fabs(d);
    }
    ck_assert_msg(sqrt(d2 / (y2 > 0 ? y2 : 1)) <= 1e-4 && dmax <= 2e-3, "output differs: max %g", dmax);
    float *r = malloc(a->nbytes);
    ck_assert_ptr_nonnull(r);
    memcpy(r, x, a->nbytes);
    sb_st_free(g);
    sb_st_free(w);
    return r;
}

/* Load MODEL with a cache folder, run IO, check against the fixture. */
static float *run_fixture(const char *cache_dir, size_t *n, char *note, size_t note_cap) {
    sb_options o = sb_options_default();
    o.cache_dir = cache_dir;
    sb_model *m = NULL;
    ck_assert_msg(sb_model_load(MODEL, &o, &m) == SB_OK, "%s", sb_last_error());
    const char *out = hu_path("out.safetensors");
    sb_status st = sb_model_run_file(m, IO, out);
    ck_assert_msg(st == SB_OK, "run: %s", sb_model_last_error(m));
    const char *nt = sb_model_cache_note(m);
    if (note) snprintf(note, note_cap, "%s", nt ? nt : "");
    sb_model_free(m);
    float *r = check_output(out, n);
    unlink(out);
    return r;
}

/* ---- device memory ------------------------------------------------------------ */

START_TEST(alloc_beyond_limits) {
    sb_rt *rt = tu_rt();
    cl_mem m = NULL;
    sb_err e;
    sb_err_clear(&e);
    size_t over = (size_t)rt->dev.max_alloc + 1;
    ck_assert_int_eq(sb_rt_alloc(rt, over, &m, "too big", &e), SB_ERR_DEVICE_MEMORY);
    ck_assert_ptr_null(m);
    hu_expect_has(e.msg, "'too big'", "max_alloc + 1");
    hu_expect_has(e.msg, "exceeds the device's limits", "max_alloc + 1");
    sb_err_clear(&e);
    ck_assert_int_eq(sb_rt_alloc(rt, (size_t)rt->dev.global_mem + 4096, &m, "bigger", &e),
                     SB_ERR_DEVICE_MEMORY);
    hu_expect_has(e.msg, "exceeds the device's limits", "global + 4096");
    ck_assert_int_eq(sb_rt_alloc(rt, SIZE_MAX, &m, "huge", &e), SB_ERR_DEVICE_MEMORY);
    /* a reasonable allocation still works */
    TU_OK(sb_rt_alloc(rt, 1 << 20, &m, "fine", &tu_err));
    clReleaseMemObject(m);
    sb_rt_free(rt);
}
END_TEST

START_TEST(plan_enormous_shape) {
    sb_model *m = NULL;
    ck_assert_msg(sb_model_load(MODEL, NULL, &m) == SB_OK, "%s", sb_last_error());
    size_t peak = 0;
    /* 2^30 tokens of d_model 16: 64 GiB per activation buffer, several live at once */
    sb_status st = sb_model_plan(m, 1, 1 << 30, &peak);
    ck_assert_msg(st == SB_ERR_DEVICE_MEMORY, "plan 1 x 2^30: %s: %s", sb_status_string(st),
                  sb_model_last_error(m));
    ck_assert_msg(strlen(sb_model_last_error(m)) > 20, "no message");
    hu_expect_has(sb_model_last_error(m), "bytes", "enormous plan");
    /* B * L of 2^30 and 2^31 (int overflow territory), and beyond */
    const int shapes[][2] = {{4, 1 << 28}, {2, 1 << 30}, {4, 1 << 30}, {0x7fffffff, 0x7fffffff}};
    for (int i = 0; i < 4; i++) {
        st = sb_model_plan(m, shapes[i][0], shapes[i][1], &peak);
        ck_assert_msg(st == SB_ERR_DEVICE_MEMORY || st == SB_ERR_ARG, "plan %d x %d: %s: %s",
                      shapes[i][0], shapes[i][1], sb_status_string(st), sb_model_last_error(m));
        ck_assert_msg(strlen(sb_model_last_error(m)) > 0, "no message");
    }
    /* still usable: plans and runs a normal shape */
    TU_OK(sb_model_plan(m, 2, 37, &peak));
    ck_assert_uint_gt(peak, 0);
    hu_tmp_open("sb_faults_");
    st = sb_model_run_file(m, IO, hu_path("out.safetensors"));
    ck_assert_msg(st == SB_OK, "run after the refused plans: %s", sb_model_last_error(m));
    size_t n = 0;
    free(check_output(hu_path("out.safetensors"), &n));
    hu_tmp_close();
    sb_model_free(m);
}
END_TEST

/* A causal classify model of width D (one input feature, V classes) with every
 * tensor the format needs (small random weights), written through sb_st_write.
 * Classify models pool the whole sequence, so a forward plans activations for
 * all of its tokens at once (long causal sequence/lm runs go block by block). */
static void write_wide_classify(const char *path, int D, int V, int Z, int H, int N, int P) {
    enum { MAXT = 32 };
    sb_st_out t[MAXT];
    int64_t shp[MAXT][3];
    float *bufs[MAXT];
    int k = 0;
#define T2(nm, a, b)                                                                         \
    do {                                                                                     \
        shp[k][0] = (a), shp[k][1] = (b);                                                    \
        bufs[k] = malloc(sizeof(float) * (size_t)(a) * (size_t)((b) ? (b) : 1));             \
        ck_assert_ptr_nonnull(bufs[k]);                                                      \
        tu_fill(bufs[k], (size_t)(a) * (size_t)((b) ? (b) : 1), (uint32_t)k + 1, -0.05f, 0.05f); \
        sb_st_out o = {nm, SB_DT_F32, (b) ? 2 : 1, shp[k], bufs[k]};                         \
        t[k++] = o;                                                                          \
    } while (0)
    T2("encoder.weight", D, 1);
    T2("encoder.bias", D, 0);
    T2("seq_layers.0.gamma", 2, Z);
    T2("seq_layers.0.beta", 2, Z);
    T2("seq_layers.0.norm.norm.weight", D, 0);
    T2("seq_layers.0.norm.norm.bias", D, 0);
    const char *ssm3[] = {"seq_layers.0.ssm.delta", "seq_layers.0.ssm.alpha", "seq_layers.0.ssm.beta"};
    for (int i = 0; i < 3; i++) {
        T2(ssm3[i], D, N);
        t[k - 1].ndim = 3;
        shp[k - 1][2] = 1;
    }
    T2("seq_layers.0.ssm.gamma", D, N);
    T2("seq_layers.0.ssm.omega", D, 0);
    T2("seq_layers.0.rel_pos_bias.rel_pos_bias", 2 * P - 1, 0);
    T2("seq_layers.0.q_router.temp", 1, 0);
    T2("seq_layers.0.mx_proj.weight", Z + 2 * H, D);
    T2("seq_layers.0.mx_proj.bias", Z + 2 * H, 0);
    T2("seq_layers.0.hx_proj.weight", D + 2, D);
    T2("seq_layers.0.hx_proj.bias", D + 2, 0);
    T2("seq_layers.0.h_proj.weight", D, H);
    T2("seq_layers.0.h_proj.bias", D, 0);
    T2("decoder.weight", V, D);
    T2("decoder.bias", V, 0);
#undef T2
    char sd[16], sv[16], sz[16], sh[16], sn[16], sp[16];
    snprintf(sd, sizeof sd, "%d", D);
    snprintf(sv, sizeof sv, "%d", V);
    snprintf(sz, sizeof sz, "%d", Z);
    snprintf(sh, sizeof sh, "%d", H);
    snprintf(sn, sizeof sn, "%d", N);
    snprintf(sp, sizeof sp, "%d", P);
    const char *meta[] = {"seqboat.format_version", "1", "task", "classify", "d_input", "1",
                          "d_output", sv, "d_model", sd, "n_layers", "1", "d_qk", sz, "d_hidden", sh,
                          "d_ema", sn, "mem_size", "4", "max_positions", sp, "truncation", "0",
                          "bidirectional", "false", "prenorm", "false", "norm_type", "layernorm",
                          "rel_pos_bias", "simple", "attention_activation", "relu2", NULL};
    TU_OK(sb_st_write(path, t, k, meta, &tu_err));
    for (int i = 0; i < k; i++) free(bufs[i]);
}

START_TEST(forward_huge_length) {
    enum { D = 1024, V = 4 };
    hu_tmp_open("sb_faults_");
    const char *path = hu_path("wide.model.safetensors");
    write_wide_classify(path, D, V, 8, 8, 2, 8);
    sb_model *m = NULL;
    ck_assert_msg(sb_model_load(path, NULL, &m) == SB_OK, "%s", sb_last_error());
    /* a short sequence runs */
    float x8[8], out8[V];
    tu_fill(x8, 8, 3, -1, 1);
    sb_status st = sb_model_forward(m, 1, 8, x8, NULL, NULL, out8);
    ck_assert_msg(st == SB_OK, "short forward: %s", sb_model_last_error(m));
    /* L such that one activation block (L x D floats) exceeds global memory */
    sb_device_desc dd[16];
    int nd = 0;
    dd[0].struct_size = sizeof dd[0];
    ck_assert_int_eq(sb_devices(dd, 16, &nd), SB_OK);
    sb_model_info info = {.struct_size = sizeof(sb_model_info)};
    TU_OK(sb_model_get_info(m, &info));
    uint64_t gmem = 0;
    for (int i = 0; i < nd && i < 16; i++)
        if (!strcmp(dd[i].name, info.device)) gmem = dd[i].global_mem_bytes;
    ck_assert_uint_gt(gmem, 0);
    uint64_t L64 = (gmem / (D * sizeof(float)) + 64) & ~(uint64_t)63;
    ck_assert_msg(L64 < (1u << 29), "device too large for this test (%llu bytes)",
                  (unsigned long long)gmem);
    int L = (int)L64;
    float *x = calloc((size_t)L, sizeof *x), *out = malloc(sizeof(float) * (size_t)(L / 64) * V);
    ck_assert(x && out);
    /* one huge sequence, then the same tokens as L/64 sequences of 64 */
    const int shapes[2][2] = {{1, L}, {L / 64, 64}};
    for (int i = 0; i < 2; i++) {
        st = sb_model_forward(m, shapes[i][0], shapes[i][1], x, NULL, NULL, out);
        ck_assert_msg(st == SB_ERR_DEVICE_MEMORY, "forward %d x %d: %s: %s", shapes[i][0],
                      shapes[i][1], sb_status_string(st), sb_model_last_error(m));
        ck_assert_msg(strlen(sb_model_last_error(m)) > 20, "no message");
    }
    /* and the model still runs the short sequence, with the same result */
    float again[V];
    st = sb_model_forward(m, 1, 8, x8, NULL, NULL, again);
    ck_assert_msg(st == SB_OK, "short forward after the refused one: %s", sb_model_last_error(m));
    ck_assert(memcmp(out8, again, sizeof again) == 0);
    free(x);
    free(out);
    sb_model_free(m);
    hu_tmp_close();
}
END_TEST

/* ---- kernel build failure --------------------------------------------------------- */

#define BROKEN_MARK "sb_undeclared_identifier_for_test"

/* Copy every kernel file of cl/ into dir. */
static void copy_kernels(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s'/cl/*.cl '%s'/", dir, SB_SOURCE_DIR, dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void break_kernel(const char *dir, const char *stem) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.cl", dir, stem);
    FILE *fp = fopen(path, "ab");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp, "\n__kernel void sb_broken_for_test(__global float *p) { p[0] = %s; }\n",
            BROKEN_MARK);
    fclose(fp);
}

START_TEST(kernel_build_failure) {
    hu_tmp_open("sb_faults_");
    const char *kd = hu_path("kernels"), *cache = hu_path("cache");
    char kdir[256], cdir[256];
    snprintf(kdir, sizeof kdir, "%s", kd);
    snprintf(cdir, sizeof cdir, "%s", cache);
    copy_kernels(kdir);
    ck_assert_int_eq(setenv("SEQBOAT_KERNEL_DIR", kdir, 1), 0);
    /* 1: the unbroken copy runs and fills the disk cache */
    size_t n1 = 0, n2 = 0;
    float *ref = run_fixture(cdir, &n1, NULL, 0);
    /* 2: one file broken -> SB_ERR_BUILD with the log; the cached program of the old
     * source must not be served */
    break_kernel(kdir, "gate_compact");
    sb_options o = sb_options_default();
    o.cache_dir = cdir;
    sb_model *m = NULL;
    sb_status st = sb_model_load(MODEL, &o, &m);
    const char *msg;
    if (st == SB_OK) {
        st = sb_model_run_file(m, IO, hu_path("out.safetensors"));
        msg = sb_model_last_error(m);
    } else {
        msg = sb_last_error();
    }
    ck_assert_msg(st == SB_ERR_BUILD, "broken kernel: %s: %s", sb_status_string(st), msg);
    hu_expect_has(msg, "gate_compact.cl", "build failure");
    hu_expect_has(msg, "build log", "build failure");
    hu_expect_has(msg, BROKEN_MARK, "build failure (the compiler's log)");
    sb_model_free(m);
    /* the CLI reports it and exits 1 */
    const char *args[] = {"run", "--model", MODEL, "--input", IO, "--output", hu_path("cli.out"), NULL};
    char *err = NULL;
    ck_assert_int_eq(setenv("SEQBOAT_CACHE_DIR", cdir, 1), 0);
    int ws = hu_cli(args, &err);
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 1, "CLI with a broken kernel: status %d; %s", ws,
                  err);
    hu_expect_has(err, BROKEN_MARK, "CLI stderr");
    free(err);
    /* 3: a missing kernel file is an I/O error naming it */
    char path[512];
    snprintf(path, sizeof path, "%s/gate_compact.cl", kdir);
    ck_assert_int_eq(unlink(path), 0);
    m = NULL;
    st = sb_model_load(MODEL, &o, &m);
    msg = sb_last_error();
    if (st == SB_OK) {
        st = sb_model_run_file(m, IO, hu_path("out.safetensors"));
        msg = sb_model_last_error(m);
    }
    ck_assert_msg(st == SB_ERR_IO, "missing kernel file: %s: %s", sb_status_string(st), msg);
    hu_expect_has(msg, "gate_compact.cl", "missing kernel file");
    sb_model_free(m);
    /* 4: restored, it runs again with the same output */
    copy_kernels(kdir);
    float *again = run_fixture(cdir, &n2, NULL, 0);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(ref, again, n1 * sizeof(float)) == 0);
    free(ref);
    free(again);
    unsetenv("SEQBOAT_KERNEL_DIR");
    hu_tmp_close();
}
END_TEST

/* ---- disk cache faults -------------------------------------------------------------- */

/* Apply f to every regular file in dir; returns how many. */
static int for_files(const char *dir, void (*f)(const char *path, int i)) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    int n = 0;
    char path[1024];
    while ((de = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat s;
        if (stat(path, &s) != 0 || !S_ISREG(s.st_mode)) continue;
        f(path, n++);
    }
    closedir(d);
    return n;
}

static long sizes[256];

static void note_size(const char *path, int i) {
    struct stat s;
    ck_assert_int_eq(stat(path, &s), 0);
    if (i < 256) sizes[i] = (long)s.st_size;
}

/* Damage in different ways: half, header only (80 bytes, program_cache.h),
 * empty, garbage after the header, 64 bytes flipped in the middle (length
 * unchanged). */
static void damage(const char *path, int i) {
    struct stat s;
    ck_assert_int_eq(stat(path, &s), 0);
    switch (i % 5) {
    case 0: ck_assert_int_eq(truncate(path, s.st_size / 2), 0); break;
    case 1: ck_assert_int_eq(truncate(path, s.st_size > 80 ? 80 : 1), 0); break;
    case 2: ck_assert_int_eq(truncate(path, 0), 0); break;
    case 3: {
        FILE *fp = fopen(path, "r+b");
        ck_assert_ptr_nonnull(fp);
        fseek(fp, 80, SEEK_SET); /* keep the header, spoil the binary */
        for (long k = 80; k < s.st_size; k++) fputc((int)(k * 131 % 251), fp);
        fclose(fp);
        break;
    }
    default: {
        size_t n = 0;
        unsigned char *all = (unsigned char *)tu_slurp(path, &n);
        ck_assert_uint_gt(n, 80 + 128);
        for (size_t k = n / 2 - 32; k < n / 2 + 32; k++) all[k] ^= 0x5A;
        FILE *fp = fopen(path, "wb");
        ck_assert_ptr_nonnull(fp);
        ck_assert_uint_eq(fwrite(all, 1, n, fp), n);
        fclose(fp);
        free(all);
    }
    }
}

/* A complete cache file (program_cache.h): the header's size matches the
 * file and the header's SHA-256 the payload. */
static int n_whole;
static void check_whole(const char *path, int i) {
    (void)i;
    size_t n = 0;
    unsigned char *all = (unsigned char *)tu_slurp(path, &n);
    ck_assert_msg(n > 80 && !memcmp(all, "SBPC", 4), "%s: not a cache file (%zu bytes)", path, n);
    uint64_t size = 0;
    for (int k = 0; k < 8; k++) size |= (uint64_t)all[8 + k] << (8 * k);
    ck_assert_msg(size + 80 == n, "%s: header says %llu payload bytes, file has %zu", path,
                  (unsigned long long)size, n - 80);
    unsigned char sum[32];
    unsigned len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
    ck_assert_int_eq(EVP_DigestUpdate(c, all + 80, (size_t)size), 1);
    ck_assert_int_eq(EVP_DigestFinal_ex(c, sum, &len), 1);
    EVP_MD_CTX_free(c);
    ck_assert_msg(!memcmp(sum, all + 48, 32), "%s: checksum does not match the payload", path);
    n_whole++;
    free(all);
}

START_TEST(partial_cache_files) {
    hu_tmp_open("sb_faults_");
    char cdir[256];
    snprintf(cdir, sizeof cdir, "%s", hu_path("cache"));
    size_t n1 = 0, n2 = 0;
    float *ref = run_fixture(cdir, &n1, NULL, 0);
    int nf = for_files(cdir, note_size);
    ck_assert_msg(nf > 0, "the first run wrote no cache files");
    long before[256];
    memcpy(before, sizes, sizeof before);
    ck_assert_int_eq(for_files(cdir, damage), nf);
    float *again = run_fixture(cdir, &n2, NULL, 0);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(ref, again, n1 * sizeof(float)) == 0, "output changed after cache damage");
    /* every damaged file was rewritten whole: as many files, each one
     * complete with a matching checksum (the sizes may differ from the first
     * run's: PoCL's binaries carry what its own cache compiled meanwhile) */
    (void)before;
    n_whole = 0;
    ck_assert_int_eq(for_files(cdir, check_whole), nf);
    ck_assert_int_eq(n_whole, nf);
    free(ref);
    free(again);
    hu_tmp_close();
}
END_TEST

START_TEST(unwritable_cache_dir) {
    hu_tmp_open("sb_faults_");
    /* a regular file where the folder (or its parent) should be: unwritable even for root */
    char blocker[256], under[320];
    snprintf(blocker, sizeof blocker, "%s", hu_path("not_a_dir"));
    FILE *fp = fopen(blocker, "wb");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    snprintf(under, sizeof under, "%s/cache", blocker);
    const char *dirs[2] = {under, blocker};
    size_t n = 0;
    char note[1024];
    for (int k = 0; k < 2; k++) {
        float *r = run_fixture(dirs[k], &n, note, sizeof note);
        free(r);
        hu_expect_has(note, "disk cache off", dirs[k]);
        hu_expect_has(note, dirs[k], "note names the folder");
        const char *second = strstr(strstr(note, dirs[k]) + strlen(dirs[k]), "disk cache off");
        ck_assert_msg(second == NULL, "note repeats: %s", note);
    }
    /* the note is there from load on, stays one note over several forwards, and no error */
    sb_options o = sb_options_default();
    o.cache_dir = under;
    sb_model *m = NULL;
    ck_assert_msg(sb_model_load(MODEL, &o, &m) == SB_OK, "%s", sb_last_error());
    ck_assert_ptr_nonnull(sb_model_cache_note(m));
    char first[1024];
    snprintf(first, sizeof first, "%s", sb_model_cache_note(m));
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(sb_model_run_file(m, IO, hu_path("o.safetensors")), SB_OK);
        ck_assert_str_eq(sb_model_last_error(m), "");
        ck_assert_str_eq(sb_model_cache_note(m), first);
    }
    sb_model_free(m);
    /* a writable folder has no note */
    char ok_dir[256];
    snprintf(ok_dir, sizeof ok_dir, "%s", hu_path("fine"));
    free(run_fixture(ok_dir, &n, note, sizeof note));
    ck_assert_msg(note[0] == 0, "unexpected note: %s", note);
    /* the CLI runs (exit 0) and prints the note once with --stats */
    ck_assert_int_eq(setenv("SEQBOAT_CACHE_DIR", under, 1), 0);
    const char *args[] = {"run", "--model", MODEL, "--input", IO, "--output", hu_path("c.out"),
                          "--stats", NULL};
    char *err = NULL;
    int ws = hu_cli(args, &err);
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "CLI: status %d; %s", ws, err);
    const char *a = strstr(err, "disk cache off");
    ck_assert_msg(a && !strstr(a + 1, "disk cache off"), "CLI note not once: %s", err);
    free(err);
    hu_tmp_close();
}
END_TEST

int main(void) {
    Suite *s = suite_create("faults");
    TCase *tm = tcase_create("device_memory");
    tcase_set_timeout(tm, 300);
    tcase_add_test(tm, alloc_beyond_limits);
    tcase_add_test(tm, plan_enormous_shape);
    tcase_add_test(tm, forward_huge_length);
    suite_add_tcase(s, tm);
    TCase *tk = tcase_create("kernels_and_cache");
    tcase_set_timeout(tk, 600);
    tcase_add_test(tk, kernel_build_failure);
    tcase_add_test(tk, partial_cache_files);
    tcase_add_test(tk, unwritable_cache_dir);
    suite_add_tcase(s, tk);
    return tu_run(s);
}
