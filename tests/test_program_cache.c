/* test_program_cache.c - the compiled-program cache: memory and disk, keys,
 * bad files, "off", unwritable folders, build failures, the kernel folder. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "../runtime/program_cache.h"
#include "testutil.h"

static const char *SRC =
    "#ifndef SCALE\n#define SCALE 2.0f\n#endif\n"
    "__kernel void scale(__global float *x) { size_t i = get_global_id(0); x[i] *= SCALE; }\n";

static char *tmpdir(void) {
    char *t = strdup("/tmp/sbcacheXXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t));
    return t;
}

/* Build (or fetch) SRC with a define, run it on 4 floats, return x[1] (input 1.5). */
static float run_scale(sb_rt *rt, sb_progcache *pc, const char *defines) {
    char src[1024];
    snprintf(src, sizeof src, "%s%s", defines, SRC);
    cl_program p;
    TU_OK(sb_progcache_get(pc, rt->ctx, &rt->dev, src, "-cl-std=CL1.2", &p, &tu_err));
    cl_int err;
    cl_kernel k = clCreateKernel(p, "scale", &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    float h[4] = {1, 1.5f, 2, 3};
    cl_mem m = tu_upload(rt, h, sizeof h);
    ck_assert_int_eq(clSetKernelArg(k, 0, sizeof m, &m), CL_SUCCESS);
    size_t g = 4;
    TU_OK(sb_rt_launch(rt, k, 1, &g, NULL, "scale", &tu_err));
    tu_download(rt, m, h, sizeof h);
    clReleaseMemObject(m);
    clReleaseKernel(k);
    return h[1];
}

/* Binaries go to disk only for drivers without a program cache of their own
 * (PoCL has one, and fetching its binary compiles every kernel again), unless
 * SEQBOAT_CACHE_BINARIES=always. The suite runs with =always (CMake), so this
 * case unsets it. */
START_TEST(test_driver_cache_policy) {
    char *dir = tmpdir();
    sb_rt *rt = tu_rt();
    sb_progcache *pc;
    sb_progcache_stats s;
    const char *pkc = getenv("POCL_KERNEL_CACHE");
    if (strstr(rt->dev.platform_name, "Portable Computing Language"))
        ck_assert_int_eq(rt->dev.driver_cache, !(pkc && strcmp(pkc, "0") == 0));
    else
        ck_assert_int_eq(rt->dev.driver_cache, 0);
    unsetenv("SEQBOAT_CACHE_BINARIES");
    rt->dev.driver_cache = 1;
    TU_OK(sb_progcache_create(dir, &pc, &tu_err));
    ck_assert_float_eq(run_scale(rt, pc, "#define POLICY 1\n"), 3.0f);
    s = sb_progcache_get_stats(pc);
    ck_assert_uint_eq(s.builds, 1);
    ck_assert_uint_eq(s.disk_writes, 0);
    sb_progcache_free(pc);
    TU_OK(sb_progcache_create(dir, &pc, &tu_err)); /* nothing on disk: built again */
    ck_assert_float_eq(run_scale(rt, pc, "#define POLICY 1\n"), 3.0f);
    s = sb_progcache_get_stats(pc);
    ck_assert_uint_eq(s.disk_hits, 0);
    ck_assert_uint_eq(s.builds, 1);
    sb_progcache_free(pc);
    rt->dev.driver_cache = 0; /* a driver without a cache: written */
    TU_OK(sb_progcache_create(dir, &pc, &tu_err));
    ck_assert_float_eq(run_scale(rt, pc, "#define POLICY 2\n"), 3.0f);
    s = sb_progcache_get_stats(pc);
    ck_assert_uint_eq(s.disk_writes, 1);
    sb_progcache_free(pc);
    ck_assert_int_eq(setenv("SEQBOAT_CACHE_BINARIES", "always", 1), 0);
    rt->dev.driver_cache = 1; /* forced */
    TU_OK(sb_progcache_create(dir, &pc, &tu_err));
    ck_assert_float_eq(run_scale(rt, pc, "#define POLICY 3\n"), 3.0f);
    s = sb_progcache_get_stats(pc);
    ck_assert_uint_eq(s.disk_writes, 1);
    sb_progcache_free(pc);
    rt->dev.driver_cache = 0;
    sb_rt_free(rt);
    free(dir);
}
END_TEST

static long file_size(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 ? (long)s.st_size : -1;
}

START_TEST(test_miss_then_hit) {
    char *dir = tmpdir();
    sb_rt *rt = tu_rt();
    sb_progcache *pc;
    TU_OK(sb_progcache_create(dir, &pc, &tu_err));
    ck_assert_float_eq(run_scale(rt, pc, ""), 3.0f);
    sb_progcache_stats s = sb_progcache_get_stats(pc);
    ck_assert_uint_eq(s.builds, 1);
    ck_assert_uint_eq(s.disk_writes, 1);
    ck_assert_float_eq(run_scale(rt, pc, ""), 3.0f);
    s = sb_progcache_get_stats(pc);
    ck_assert_uint_eq(s.mem_hits, 1);
    ck_assert_uint_eq(s.builds, 1);
    sb_progcache_free(pc);
    /* a fresh cache object (new process in real life) loads from disk */
    TU_OK(sb_progcache_create(dir, &pc, &tu_err));
    ck_assert_float_eq(run_scale(rt, pc, ""), 3.0f);
    s = sb_progcache_get_stats(pc);
    ck_assert_uint_eq(s.disk_hits, 1);
    ck_assert_uint_eq(s.builds, 0);
    sb_progcache_free(pc);
    sb_rt_free(rt);
    free(dir);
}
END_TEST

START_TEST(test_define_changes_key) {
    sb_rt *rt = tu_rt();
    char a[65], b[65], c[65];
    sb_progcache_key(&rt->dev, "#define SCALE 2.0f\nX", "-cl-std=CL1.2", a);
    sb_progcache_key(&rt->dev, "#define SCALE 3.0f\nX", "-cl-std=CL1.2", b);
    sb_progcache_key(&rt->dev, "#define SCALE 2.0f\nX", "-cl-std=CL1.2 -DFOO", c);
    ck_assert_str_ne(a, b);
    ck_assert_str_ne(a, c);
    sb_device_info other = rt->dev;
    other.driver_version[0] ^= 1; /* another driver version */
    sb_progcache_key(&other, "#define SCALE 2.0f\nX", "-cl-std=CL1.2", b);
    ck_assert_str_ne(a, b);
    ck_assert_int_eq((int)strlen(a), 64);
    /* and the define really specialises the program */
    char *dir = tmpdir();
    sb_progcache *pc;
    TU_OK(sb_progcache_create(dir, &pc, &tu_err));
    ck_assert_float_eq(run_scale(rt, pc, "#define SCALE 4.0f\n"), 6.0f);
    ck_assert_float_eq(run_scale(rt, pc, "#define SCALE 5.0f\n"), 7.5f);
    ck_assert_uint_eq(sb_progcache_get_stats(pc).builds, 2);
    sb_progcache_free(pc);
    sb_rt_free(rt);
    free(dir);
}
END_TEST

/* Header layout (program_cache.h): magic 4 | format 4 | size 8 | key 32 | sum 32. */
enum { HDR = 80 };

/* Replace the payload of a cache file, keeping its magic, format and key, with
 * a correct size and checksum: the driver is handed exactly `payload`. */
static void write_valid_file(const char *path, const unsigned char *payload, size_t n) {
    size_t have = 0;
    unsigned char *old = (unsigned char *)tu_slurp(path, &have);
    ck_assert_uint_ge(have, HDR);
    unsigned char hdr[HDR];
    memcpy(hdr, old, HDR);
    free(old);
    for (int i = 0; i < 8; i++) hdr[8 + i] = (unsigned char)((uint64_t)n >> (8 * i));
    unsigned len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
    ck_assert_int_eq(EVP_DigestUpdate(c, payload, n), 1);
    ck_assert_int_eq(EVP_DigestFinal_ex(c, hdr + 48, &len), 1);
    EVP_MD_CTX_free(c);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(hdr, 1, HDR, f), HDR);
    ck_assert_uint_eq(fwrite(payload, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* Flip 64 bytes in the middle of the file's payload; with `resum`, fix the
 * checksum afterwards so that the damaged binary reaches the driver. */
static void flip_middle(const char *path, int resum) {
    size_t n = 0;
    unsigned char *all = (unsigned char *)tu_slurp(path, &n);
    ck_assert_uint_gt(n, HDR + 128);
    size_t mid = HDR + (n - HDR) / 2 - 32;
    for (int i = 0; i < 64; i++) all[mid + i] ^= 0xA5;
    if (resum) {
        write_valid_file(path, all + HDR, n - HDR);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(all, 1, n, f), n);
        ck_assert_int_eq(fclose(f), 0);
    }
    free(all);
}

/* Modes: 0 truncated, 1 garbage, 2 empty, 3 bytes flipped mid-payload (length
 * and header unchanged: the checksum catches it before the driver), 4 the same
 * with the checksum fixed (the driver gets the damaged binary). */
static void corrupt_and_rebuild(int mode) {
    char *dir = tmpdir();
    sb_rt *rt = tu_rt();
    sb_progcache *pc;
    char src[1024], hex[65], path[4096];
    snprintf(src, sizeof src, "%s", SRC);
    TU_OK(sb_progcache_create(dir, &pc, &tu_err));
    ck_assert_float_eq(run_scale(rt, pc, ""), 3.0f);
    sb_progcache_key(&rt->dev, src, "-cl-std=CL1.2", hex);
    snprintf(path, sizeof path, "%s", sb_progcache_path(pc, hex));
    size_t full_n = 0;
    char *good = tu_slurp(path, &full_n);
    long full = (long)full_n;
    ck_assert_int_gt(full, HDR);
    sb_progcache_free(pc);
    if (mode == 0) {
        ck_assert_int_eq(truncate(path, full / 2), 0);
    } else if (mode == 1) {
        FILE *f = fopen(path, "wb");
        for (int i = 0; i < 4000; i++) fputc((i * 7919) & 255, f);
        fclose(f);
    } else if (mode == 2) {
        ck_assert_int_eq(truncate(path, 0), 0);
    } else {
        flip_middle(path, mode == 4);
        ck_assert_int_eq(file_size(path), full);
    }
    TU_OK(sb_progcache_create(dir, &pc, &tu_err));
    ck_assert_float_eq(run_scale(rt, pc, ""), 3.0f);
    sb_progcache_stats s = sb_progcache_get_stats(pc);
    if (mode != 4 || s.disk_rejects > 0) {
        /* rejected, rebuilt from source, the file rewritten whole */
        ck_assert_uint_eq(s.disk_rejects, 1);
        ck_assert_uint_eq(s.disk_hits, 0);
        ck_assert_uint_eq(s.builds, 1);
        ck_assert_uint_eq(s.disk_writes, 1);
        ck_assert_int_eq(file_size(path), full);
        size_t n2 = 0;
        char *again = tu_slurp(path, &n2);
        ck_assert_uint_eq(n2, full_n);
        ck_assert_msg(memcmp(again, good, full_n) == 0, "the rewritten file differs");
        free(again);
    } else {
        /* mode 4: the driver took the damaged binary, built it, created every
         * kernel, and it computed the right answer above: a usable program */
        ck_assert_uint_eq(s.disk_hits, 1);
        ck_assert_uint_eq(s.builds, 0);
        printf("note: %s accepted a binary with 64 bytes flipped mid-file and ran it correctly\n",
               rt->dev.name);
    }
    free(good);
    sb_progcache_free(pc);
    sb_rt_free(rt);
    free(dir);
}

START_TEST(test_truncated_file_rebuilt) { corrupt_and_rebuild(0); }
END_TEST
START_TEST(test_garbage_file_rebuilt) { corrupt_and_rebuild(1); }
END_TEST
START_TEST(test_empty_file_rebuilt) { corrupt_and_rebuild(2); }
END_TEST
START_TEST(test_flipped_bytes_rejected_by_checksum) { corrupt_and_rebuild(3); }
END_TEST
START_TEST(test_flipped_bytes_valid_checksum) { corrupt_and_rebuild(4); }
END_TEST

/* A file whose checksum is right but whose binary is another program's (one
 * without the kernel asked for): the binary loads and builds, kernel creation
 * fails, and sb_progcache_kernel discards the file and rebuilds from source. */
START_TEST(test_wrong_program_discarded_at_kernel_creation) {
    static const char *OTHER =
        "__kernel void other(__global float *x) { x[get_global_id(0)] += 1.0f; }\n";
    char *dir = tmpdir();
    sb_rt *rt = tu_rt();
    sb_progcache *pc;
    char hex[65], ohex[65], path[4096], opath[4096];
    cl_program p;
    cl_kernel k;
    TU_OK(sb_progcache_create(dir, &pc, &tu_err));
    TU_OK(sb_progcache_kernel(pc, rt->ctx, &rt->dev, SRC, "-cl-std=CL1.2", "scale", &k, &tu_err));
    clReleaseKernel(k);
    TU_OK(sb_progcache_get(pc, rt->ctx, &rt->dev, OTHER, "-cl-std=CL1.2", &p, &tu_err));
    sb_progcache_key(&rt->dev, SRC, "-cl-std=CL1.2", hex);
    sb_progcache_key(&rt->dev, OTHER, "-cl-std=CL1.2", ohex);
    snprintf(path, sizeof path, "%s", sb_progcache_path(pc, hex));
    snprintf(opath, sizeof opath, "%s", sb_progcache_path(pc, ohex));
    size_t full_n = 0, on = 0;
    char *good = tu_slurp(path, &full_n);
    char *ofile = tu_slurp(opath, &on);
    sb_progcache_free(pc);
    write_valid_file(path, (const unsigned char *)ofile + HDR, on - HDR);

    TU_OK(sb_progcache_create(dir, &pc, &tu_err));
    TU_OK(sb_progcache_kernel(pc, rt->ctx, &rt->dev, SRC, "-cl-std=CL1.2", "scale", &k, &tu_err));
    sb_progcache_stats s = sb_progcache_get_stats(pc);
    ck_assert_uint_eq(s.disk_hits, 1);     /* the swapped binary was loaded ... */
    ck_assert_uint_eq(s.disk_rejects, 1);  /* ... then discarded at clCreateKernel */
    ck_assert_uint_eq(s.builds, 1);
    ck_assert_uint_eq(s.disk_writes, 1);
    float h[4] = {1, 1.5f, 2, 3};
    cl_mem m = tu_upload(rt, h, sizeof h);
    ck_assert_int_eq(clSetKernelArg(k, 0, sizeof m, &m), CL_SUCCESS);
    size_t g = 4;
    TU_OK(sb_rt_launch(rt, k, 1, &g, NULL, "scale", &tu_err));
    tu_download(rt, m, h, sizeof h);
    ck_assert_float_eq(h[1], 3.0f);
    clReleaseMemObject(m);
    clReleaseKernel(k);
    size_t n2 = 0;
    char *again = tu_slurp(path, &n2);
    ck_assert_uint_eq(n2, full_n);
    ck_assert_msg(memcmp(again, good, full_n) == 0, "the rewritten file differs");
    /* a kernel name the source lacks is an error, not a loop */
    ck_assert_int_eq(sb_progcache_kernel(pc, rt->ctx, &rt->dev, SRC, "-cl-std=CL1.2", "nope", &k,
                                         &tu_err), SB_ERR_OPENCL);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "nope"));
    free(again);
    free(good);
    free(ofile);
    sb_progcache_free(pc);
    sb_rt_free(rt);
    free(dir);
}
END_TEST

START_TEST(test_cache_off) {
    sb_rt *rt = tu_rt();
    sb_progcache *pc;
    TU_OK(sb_progcache_create("off", &pc, &tu_err));
    ck_assert_ptr_null(sb_progcache_dir(pc));
    ck_assert_float_eq(run_scale(rt, pc, ""), 3.0f);
    sb_progcache_stats s = sb_progcache_get_stats(pc);
    ck_assert_uint_eq(s.builds, 1);
    ck_assert_uint_eq(s.disk_writes, 0);
    sb_progcache_free(pc);
    /* the environment variable says the same */
    setenv("SEQBOAT_CACHE_DIR", "off", 1);
    TU_OK(sb_progcache_create(NULL, &pc, &tu_err));
    ck_assert_ptr_null(sb_progcache_dir(pc));
    sb_progcache_free(pc);
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_unwritable_folder) {
    sb_rt *rt = tu_rt();
    sb_progcache *pc;
    TU_OK(sb_progcache_create("/proc/seqboat-cannot-exist/cache", &pc, &tu_err));
    ck_assert_ptr_null(sb_progcache_dir(pc));
    ck_assert_ptr_nonnull(sb_progcache_note(pc));
    ck_assert_ptr_nonnull(strstr(sb_progcache_note(pc), "cannot write"));
    ck_assert_float_eq(run_scale(rt, pc, ""), 3.0f);
    sb_progcache_free(pc);
    sb_rt_free(rt);
}
END_TEST

START_TEST(test_build_failure_has_log) {
    sb_rt *rt = tu_rt();
    sb_progcache *pc;
    cl_program p;
    TU_OK(sb_progcache_create("off", &pc, &tu_err));
    sb_status st = sb_progcache_get(pc, rt->ctx, &rt->dev,
                                    "__kernel void broken(__global float *x) { x[0] = undefined_name; }",
                                    "", &p, &tu_err);
    ck_assert_int_eq(st, SB_ERR_BUILD);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "build log"));
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "undefined_name"));
    sb_progcache_free(pc);
    sb_rt_free(rt);
}
END_TEST

/* Editing a kernel file (through the development folder) changes the key: the
 * cached program of the old text is never used for the new one. */
START_TEST(test_kernel_dir_edit_changes_program) {
    char *dir = tmpdir(), *kdir = tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/probe.cl", kdir);
    FILE *f = fopen(path, "w");
    fputs("__kernel void probe(__global float *x) { x[get_global_id(0)] = 1.0f; }\n", f);
    fclose(f);
    setenv("SEQBOAT_KERNEL_DIR", kdir, 1);
    setenv("SEQBOAT_CACHE_DIR", dir, 1);
    for (int round = 0; round < 2; round++) {
        sb_rt *rt = tu_rt();
        cl_kernel k;
        TU_OK(sb_rt_kernel(rt, "probe", NULL, "probe", &k, &tu_err));
        float h = 0;
        cl_mem m = tu_upload(rt, &h, sizeof h);
        ck_assert_int_eq(clSetKernelArg(k, 0, sizeof m, &m), CL_SUCCESS);
        size_t g = 1;
        TU_OK(sb_rt_launch(rt, k, 1, &g, NULL, "probe", &tu_err));
        tu_download(rt, m, &h, sizeof h);
        clReleaseMemObject(m);
        ck_assert_float_eq(h, round == 0 ? 1.0f : 2.0f);
        sb_rt_free(rt);
        f = fopen(path, "w");
        fputs("__kernel void probe(__global float *x) { x[get_global_id(0)] = 2.0f; }\n", f);
        fclose(f);
    }
    /* a broken kernel file gives a build error naming the file, with the log */
    f = fopen(path, "w");
    fputs("__kernel void probe(__global float *x) { x[0] = nope; }\n", f);
    fclose(f);
    sb_rt *rt = tu_rt();
    cl_kernel k;
    ck_assert_int_eq(sb_rt_kernel(rt, "probe", NULL, "probe", &k, &tu_err), SB_ERR_BUILD);
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "probe.cl"));
    ck_assert_ptr_nonnull(strstr(tu_err.msg, "nope"));
    sb_rt_free(rt);
    unsetenv("SEQBOAT_KERNEL_DIR");
    free(dir);
    free(kdir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("program_cache");
    TCase *t = tcase_create("cache");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_miss_then_hit);
    tcase_add_test(t, test_driver_cache_policy);
    tcase_add_test(t, test_define_changes_key);
    tcase_add_test(t, test_truncated_file_rebuilt);
    tcase_add_test(t, test_garbage_file_rebuilt);
    tcase_add_test(t, test_empty_file_rebuilt);
    tcase_add_test(t, test_flipped_bytes_rejected_by_checksum);
    tcase_add_test(t, test_flipped_bytes_valid_checksum);
    tcase_add_test(t, test_wrong_program_discarded_at_kernel_creation);
    tcase_add_test(t, test_cache_off);
    tcase_add_test(t, test_unwritable_folder);
    tcase_add_test(t, test_build_failure_has_log);
    tcase_add_test(t, test_kernel_dir_edit_changes_program);
    suite_add_tcase(s, t);
    return tu_run(s);
}
