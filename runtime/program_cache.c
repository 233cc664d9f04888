/* program_cache.c - see program_cache.h for the contract. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "program_cache.h"

typedef struct entry {
    cl_context ctx;
    cl_device_id dev;
    char key[65];
    cl_program prog;
    int from_disk; /* built from a cached binary: a later failure discards the file */
} entry;

struct sb_progcache {
    char *dir;       /* NULL = off */
    char note[4600];
    char path[4096];
    entry *entries;
    int n, cap;
    unsigned seq;
    int store_always; /* SEQBOAT_CACHE_BINARIES=always: write binaries for every driver */
    sb_progcache_stats stats;
};

static const char MAGIC[4] = {'S', 'B', 'P', 'C'};
enum { HDR_BYTES = 4 + 4 + 8 + 32 + 32 };

static int mkdir_p(const char *path) {
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            tmp[i] = c;
        }
    }
    return 0;
}

static char *default_dir(void) {
    const char *env = getenv("SEQBOAT_CACHE_DIR");
    char buf[4096];
    if (env && *env) return strdup(env);
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) {
        snprintf(buf, sizeof buf, "%s/seqboat", xdg);
        return strdup(buf);
    }
    const char *home = getenv("HOME");
    if (home && *home) {
        snprintf(buf, sizeof buf, "%s/.cache/seqboat", home);
        return strdup(buf);
    }
    return NULL;
}

static void disable_disk(sb_progcache *pc, const char *why) {
    if (pc->dir)
        snprintf(pc->note, sizeof pc->note, "program disk cache off: %s (%s)", why, pc->dir);
    free(pc->dir);
    pc->dir = NULL;
}

sb_status sb_progcache_create(const char *dir, sb_progcache **out, sb_err *e) {
    sb_progcache *pc = calloc(1, sizeof *pc);
    if (!pc) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory creating program cache");
    pc->dir = dir && *dir ? strdup(dir) : default_dir();
    {
        const char *b = getenv("SEQBOAT_CACHE_BINARIES");
        pc->store_always = b && strcmp(b, "always") == 0;
    }
    if (pc->dir && strcmp(pc->dir, "off") == 0) {
        free(pc->dir);
        pc->dir = NULL;
    } else if (pc->dir) {
        /* Probe that the folder exists and is writable. */
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/.probe.%ld", pc->dir, (long)getpid());
        FILE *f = NULL;
        if (mkdir_p(pc->dir) == 0) f = fopen(probe, "wb");
        if (!f) {
            char why[300];
            snprintf(why, sizeof why, "cannot write the folder: %s", strerror(errno));
            disable_disk(pc, why);
        } else {
            fclose(f);
            remove(probe);
        }
    } else {
        snprintf(pc->note, sizeof pc->note, "program disk cache off: no HOME or cache folder set");
    }
    *out = pc;
    return SB_OK;
}

void sb_progcache_free(sb_progcache *pc) {
    if (!pc) return;
    for (int i = 0; i < pc->n; i++) clReleaseProgram(pc->entries[i].prog);
    free(pc->entries);
    free(pc->dir);
    free(pc);
}

const char *sb_progcache_dir(const sb_progcache *pc) { return pc->dir; }
const char *sb_progcache_note(const sb_progcache *pc) { return pc->note[0] ? pc->note : NULL; }
sb_progcache_stats sb_progcache_get_stats(const sb_progcache *pc) { return pc->stats; }

static void hash_field(EVP_MD_CTX *c, const char *s) {
    uint64_t n = s ? strlen(s) : 0;
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
    EVP_DigestUpdate(c, len, 8);
    if (n) EVP_DigestUpdate(c, s, n);
}

static void key_raw(const sb_device_info *dev, const char *source, const char *options,
                    unsigned char out[32]) {
    char fmt[32];
    unsigned len = 0;
    snprintf(fmt, sizeof fmt, "seqboat-progcache-%u", SB_PROGCACHE_FORMAT);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    memset(out, 0, 32);
    if (!c) return;
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    hash_field(c, fmt);
    hash_field(c, source);
    hash_field(c, options);
    hash_field(c, dev->name);
    hash_field(c, dev->driver_version);
    hash_field(c, dev->platform_version);
    EVP_DigestFinal_ex(c, out, &len);
    EVP_MD_CTX_free(c);
}

/* SHA-256 of a buffer; returns 0 on success. */
static int sha256(const unsigned char *p, size_t n, unsigned char out[32]) {
    unsigned len = 0;
    int ok = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c) return -1;
    ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(c, p, n) == 1 &&
         EVP_DigestFinal_ex(c, out, &len) == 1 && len == 32;
    EVP_MD_CTX_free(c);
    return ok ? 0 : -1;
}

static void to_hex(const unsigned char raw[32], char hex[65]) {
    static const char *d = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = d[raw[i] >> 4];
        hex[2 * i + 1] = d[raw[i] & 15];
    }
    hex[64] = '\0';
}

void sb_progcache_key(const sb_device_info *dev, const char *source, const char *options,
                      char hex[65]) {
    unsigned char raw[32];
    key_raw(dev, source, options, raw);
    to_hex(raw, hex);
}

const char *sb_progcache_path(sb_progcache *pc, const char *hex) {
    if (!pc->dir) return NULL;
    snprintf(pc->path, sizeof pc->path, "%s/%s.clbin", pc->dir, hex);
    return pc->path;
}

static sb_status build_log(cl_program p, const sb_device_info *dev, cl_int err, sb_err *e) {
    char log[6000];
    size_t n = 0;
    log[0] = '\0';
    clGetProgramBuildInfo(p, dev->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, &n);
    log[sizeof log - 1] = '\0';
    return sb_fail(e, SB_ERR_BUILD, "kernel build failed on '%s': %s (%d); build log:\n%s",
                   dev->name, sb_cl_error_string(err), err, log);
}

/* Every kernel of a freshly built program can be created and answers the
 * kernel queries used at launch; returns 0 when so. Drivers accept some damaged
 * binaries at clCreateProgramWithBinary / clBuildProgram and fail only here
 * (rusticl: CL_INVALID_PROGRAM_EXECUTABLE from clCreateKernel). */
static int program_usable(cl_program prog, const sb_device_info *dev) {
    cl_uint nk = 0;
    cl_kernel ks[64];
    int ok = 1;
    if (clCreateKernelsInProgram(prog, 0, NULL, &nk) != CL_SUCCESS || nk == 0 || nk > 64)
        return -1;
    if (clCreateKernelsInProgram(prog, nk, ks, NULL) != CL_SUCCESS) return -1;
    for (cl_uint i = 0; i < nk; i++) {
        char name[256];
        size_t wg = 0;
        if (clGetKernelInfo(ks[i], CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL) != CL_SUCCESS ||
            clGetKernelWorkGroupInfo(ks[i], dev->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg,
                                     NULL) != CL_SUCCESS || wg == 0)
            ok = 0;
        clReleaseKernel(ks[i]);
    }
    return ok ? 0 : -1;
}

/* Try the disk file; returns a built, checked program or NULL (a miss). A file
 * that exists but is unusable is removed. */
static cl_program load_disk(sb_progcache *pc, cl_context ctx, const sb_device_info *dev,
                            const unsigned char raw[32], const char *path, const char *options) {
    FILE *f = fopen(path, "rb");
    unsigned char hdr[HDR_BYTES], sum[32];
    unsigned char *bin = NULL;
    cl_program prog = NULL;
    if (!f) return NULL;
    if (fread(hdr, 1, HDR_BYTES, f) != HDR_BYTES) goto reject;
    if (memcmp(hdr, MAGIC, 4) != 0) goto reject;
    uint32_t fmt = 0;
    uint64_t size = 0;
    for (int i = 0; i < 4; i++) fmt |= (uint32_t)hdr[4 + i] << (8 * i);
    for (int i = 0; i < 8; i++) size |= (uint64_t)hdr[8 + i] << (8 * i);
    if (fmt != SB_PROGCACHE_FORMAT || memcmp(hdr + 16, raw, 32) != 0) goto reject;
    if (size == 0 || size > (uint64_t)1 << 30) goto reject;
    bin = malloc((size_t)size);
    if (!bin) goto reject;
    if (fread(bin, 1, (size_t)size, f) != (size_t)size) goto reject;
    if (fgetc(f) != EOF) goto reject; /* trailing bytes: not a file we wrote */
    /* the payload checksum, before the driver sees a byte of it */
    if (sha256(bin, (size_t)size, sum) != 0 || memcmp(sum, hdr + 48, 32) != 0) goto reject;
    {
        size_t len = (size_t)size;
        const unsigned char *bins[1] = {bin};
        cl_int status = CL_SUCCESS, err = CL_SUCCESS;
        prog = clCreateProgramWithBinary(ctx, 1, &dev->device, &len, bins, &status, &err);
        if (err != CL_SUCCESS || status != CL_SUCCESS) goto reject;
        if (clBuildProgram(prog, 1, &dev->device, options, NULL, NULL) != CL_SUCCESS) goto reject;
        if (program_usable(prog, dev) != 0) goto reject;
    }
    fclose(f);
    free(bin);
    return prog;
reject:
    pc->stats.disk_rejects++;
    if (prog) clReleaseProgram(prog);
    fclose(f);
    free(bin);
    remove(path);
    return NULL;
}

static void store_disk(sb_progcache *pc, const sb_device_info *dev, cl_program prog,
                       const unsigned char raw[32], const char *path) {
    size_t size = 0;
    unsigned char *bin = NULL;
    char tmp[4200];
    FILE *f = NULL;
    (void)dev;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        size == 0)
        return;
    bin = malloc(size);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS) goto out;
    unsigned char hdr[HDR_BYTES];
    memcpy(hdr, MAGIC, 4);
    for (int i = 0; i < 4; i++) hdr[4 + i] = (unsigned char)(SB_PROGCACHE_FORMAT >> (8 * i));
    for (int i = 0; i < 8; i++) hdr[8 + i] = (unsigned char)((uint64_t)size >> (8 * i));
    memcpy(hdr + 16, raw, 32);
    if (sha256(bin, size, hdr + 48) != 0) goto out;
    /* unique per process, cache object and write: threads with their own caches may
     * store the same program into one folder at the same time */
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%p.%u", path, (long)getpid(), (void *)pc, pc->seq++);
    f = fopen(tmp, "wb");
    if (!f) {
        char why[4400];
        snprintf(why, sizeof why, "cannot create %s: %s", tmp, strerror(errno));
        disable_disk(pc, why);
        goto out;
    }
    int ok = fwrite(hdr, 1, HDR_BYTES, f) == HDR_BYTES && fwrite(bin, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        disable_disk(pc, "writing a cache file failed");
        goto out;
    }
    pc->stats.disk_writes++;
out:
    free(bin);
}

/* The entry of (ctx, device, key), or NULL. */
static entry *find_entry(sb_progcache *pc, cl_context ctx, cl_device_id dev, const char *hex) {
    for (int i = 0; i < pc->n; i++) {
        entry *en = &pc->entries[i];
        if (en->ctx == ctx && en->dev == dev && strcmp(en->key, hex) == 0) return en;
    }
    return NULL;
}

static sb_status get_entry(sb_progcache *pc, cl_context ctx, const sb_device_info *dev,
                           const char *source, const char *options, entry **out, sb_err *e) {
    unsigned char raw[32];
    char hex[65];
    cl_int err;
    key_raw(dev, source, options, raw);
    to_hex(raw, hex);
    entry *found = find_entry(pc, ctx, dev->device, hex);
    if (found) {
        pc->stats.mem_hits++;
        *out = found;
        return SB_OK;
    }
    if (pc->n == pc->cap) {
        int cap = pc->cap ? pc->cap * 2 : 16;
        entry *ne = realloc(pc->entries, (size_t)cap * sizeof *ne);
        if (!ne) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory in program cache");
        pc->entries = ne;
        pc->cap = cap;
    }
    cl_program prog = NULL;
    const char *path = sb_progcache_path(pc, hex);
    char pathcopy[4096] = "";
    int from_disk = 0;
    if (path) {
        snprintf(pathcopy, sizeof pathcopy, "%s", path);
        prog = load_disk(pc, ctx, dev, raw, pathcopy, options);
        if (prog) {
            pc->stats.disk_hits++;
            from_disk = 1;
        }
    }
    if (!prog) {
        size_t len = strlen(source);
        prog = clCreateProgramWithSource(ctx, 1, &source, &len, &err);
        if (err != CL_SUCCESS)
            return sb_fail(e, SB_ERR_OPENCL, "clCreateProgramWithSource failed: %s (%d)",
                           sb_cl_error_string(err), err);
        err = clBuildProgram(prog, 1, &dev->device, options, NULL, NULL);
        if (err != CL_SUCCESS) {
            sb_status st = build_log(prog, dev, err, e);
            clReleaseProgram(prog);
            return st;
        }
        pc->stats.builds++;
        /* A driver with its own program cache (PoCL) gets nothing from a second
         * copy, and asking it for the binary costs a compile of every kernel of
         * the program for any work-group size (PoCL embeds those in the binary):
         * seconds per program on a cold start. */
        if (pathcopy[0] && pc->dir && (pc->store_always || !dev->driver_cache))
            store_disk(pc, dev, prog, raw, pathcopy);
    }
    entry *en = &pc->entries[pc->n++];
    en->ctx = ctx;
    en->dev = dev->device;
    memcpy(en->key, hex, 65);
    en->prog = prog;
    en->from_disk = from_disk;
    *out = en;
    return SB_OK;
}

sb_status sb_progcache_get(sb_progcache *pc, cl_context ctx, const sb_device_info *dev,
                           const char *source, const char *options, cl_program *out, sb_err *e) {
    entry *en = NULL;
    sb_status st = get_entry(pc, ctx, dev, source, options ? options : "", &en, e);
    if (st == SB_OK) *out = en->prog;
    return st;
}

/* Forget a program that came from a cached binary and remove its file: the
 * next get builds it from source. */
static void discard(sb_progcache *pc, entry *en) {
    pc->stats.disk_rejects++;
    if (pc->dir) remove(sb_progcache_path(pc, en->key));
    clReleaseProgram(en->prog); /* kernels made from it keep it alive as needed */
    *en = pc->entries[--pc->n];
}

/* clCreateKernel plus the work-group size query done at launch. */
static cl_int make_kernel(cl_program prog, const sb_device_info *dev, const char *name,
                          cl_kernel *out) {
    cl_int err;
    size_t wg = 0;
    *out = clCreateKernel(prog, name, &err);
    if (err != CL_SUCCESS) return err;
    err = clGetKernelWorkGroupInfo(*out, dev->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg,
                                   NULL);
    if (err == CL_SUCCESS && wg == 0) err = CL_INVALID_KERNEL;
    if (err != CL_SUCCESS) {
        clReleaseKernel(*out);
        *out = NULL;
    }
    return err;
}

sb_status sb_progcache_kernel(sb_progcache *pc, cl_context ctx, const sb_device_info *dev,
                              const char *source, const char *options, const char *name,
                              cl_kernel *out, sb_err *e) {
    entry *en = NULL;
    cl_int err = CL_SUCCESS;
    if (!options) options = "";
    *out = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        sb_status st = get_entry(pc, ctx, dev, source, options, &en, e);
        if (st != SB_OK) return st;
        err = make_kernel(en->prog, dev, name, out);
        if (err == CL_SUCCESS) return SB_OK;
        if (!en->from_disk) break;
        discard(pc, en); /* the cached binary is to blame: rebuild from source */
    }
    return sb_fail(e, SB_ERR_OPENCL, "clCreateKernel(%s) on '%s' failed: %s (%d)", name,
                   dev->name, sb_cl_error_string(err), err);
}

/* ---- kernel sources ------------------------------------------------------ */
typedef struct { const char *stem; const char *src; size_t size; } sb_embedded_kernel;
extern const sb_embedded_kernel sb_embedded_kernels[];

static sb_status kernel_file(const char *stem, char **out, sb_err *e) {
    const char *dir = getenv("SEQBOAT_KERNEL_DIR");
    *out = NULL;
    if (dir && *dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.cl", dir, stem);
        FILE *f = fopen(path, "rb");
        if (!f)
            return sb_fail(e, SB_ERR_IO, "cannot open kernel file %s (SEQBOAT_KERNEL_DIR): %s",
                           path, strerror(errno));
        size_t cap = 1 << 16, n = 0;
        char *buf = malloc(cap);
        while (buf) {
            size_t r = fread(buf + n, 1, cap - n - 1, f);
            n += r;
            if (n + 1 < cap) break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
        fclose(f);
        if (!buf) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory reading %s", path);
        buf[n] = '\0';
        *out = buf;
        return SB_OK;
    }
    for (const sb_embedded_kernel *k = sb_embedded_kernels; k->stem; k++) {
        if (strcmp(k->stem, stem) == 0) {
            char *s = malloc(k->size + 1);
            if (!s) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory");
            memcpy(s, k->src, k->size);
            s[k->size] = '\0';
            *out = s;
            return SB_OK;
        }
    }
    return sb_fail(e, SB_ERR_INTERNAL, "no embedded kernel file '%s.cl'", stem);
}

sb_status sb_kernel_source(const char *stem, char **out, sb_err *e) {
    *out = NULL;
    if (!strchr(stem, '+')) return kernel_file(stem, out, e);
    /* "a+b": a.cl then b.cl, each after a #line naming it */
    char *all = NULL;
    size_t len = 0;
    for (const char *p = stem; *p;) {
        const char *q = strchr(p, '+');
        const size_t n = q ? (size_t)(q - p) : strlen(p);
        char part[256], *text = NULL;
        if (n == 0 || n >= sizeof part) {
            free(all);
            return sb_fail(e, SB_ERR_INTERNAL, "bad kernel file list '%s'", stem);
        }
        memcpy(part, p, n);
        part[n] = '\0';
        sb_status st = kernel_file(part, &text, e);
        if (st != SB_OK) {
            free(all);
            return st;
        }
        const size_t add = strlen(text) + n + 32;
        char *na = realloc(all, len + add);
        if (!na) {
            free(text);
            free(all);
            return sb_fail(e, SB_ERR_HOST_MEMORY, "out of host memory");
        }
        all = na;
        len += (size_t)snprintf(all + len, add, "#line 1 \"%s.cl\"\n%s\n", part, text);
        free(text);
        p = q ? q + 1 : p + n;
    }
    *out = all;
    return SB_OK;
}
