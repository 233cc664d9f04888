/* test_program_cache.c - the compiled-program cache: memory and disk, keys,
 * bad files, "off", unwritable folders, build failures, the kernel folder. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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
    long full = file_size(path);
    ck_assert_int_gt(full, 56);
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
        /* right header, wrong body: flip bytes in the binary */
        FILE *f = fopen(path, "r+b");
        fseek(f, 60, SEEK_SET);
        for (int i = 0; i < 64; i++) fputc(0xA5, f);
        fclose(f);
    }
    TU_OK(sb_progcache_create(dir, &pc, &tu_err));
    ck_assert_float_eq(run_scale(rt, pc, ""), 3.0f);
    sb_progcache_stats s = sb_progcache_get_stats(pc);
    if (mode != 3) {
        ck_assert_uint_eq(s.disk_rejects, 1);
        ck_assert_uint_eq(s.builds, 1);
        ck_assert_uint_eq(s.disk_writes, 1);
        ck_assert_int_eq(file_size(path), full);
    }
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
START_TEST(test_flipped_binary_still_runs) { corrupt_and_rebuild(3); }
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
    tcase_add_test(t, test_define_changes_key);
    tcase_add_test(t, test_truncated_file_rebuilt);
    tcase_add_test(t, test_garbage_file_rebuilt);
    tcase_add_test(t, test_empty_file_rebuilt);
    tcase_add_test(t, test_flipped_binary_still_runs);
    tcase_add_test(t, test_cache_off);
    tcase_add_test(t, test_unwritable_folder);
    tcase_add_test(t, test_build_failure_has_log);
    tcase_add_test(t, test_kernel_dir_edit_changes_program);
    suite_add_tcase(s, t);
    return tu_run(s);
}
