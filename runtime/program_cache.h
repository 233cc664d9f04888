/* program_cache.h - compiled OpenCL programs, kept in memory and on disk.
 *
 * Contract
 *  - A program is the final source (generated "#define" lines + the kernel file)
 *    built with a build-options string for one device.
 *  - Memory: one cl_program per (context, device, final source, options) for the
 *    life of the cache. Programs are owned by the cache.
 *  - Disk key: SHA-256 over SB_PROGCACHE_FORMAT, the final source, the options,
 *    the device name, the driver version and the platform version (each field
 *    length-prefixed). File: <dir>/<64 hex key>.clbin, laid out as
 *      "SBPC" | u32 format | u64 binary size | 32-byte key |
 *      32-byte SHA-256 of the binary | binary bytes      (integers little-endian).
 *    Files are written to a temporary name in the same folder, then rename()d, so a
 *    reader never sees a partial file under the final name.
 *  - Nothing from a file reaches the driver before its checksum matches. A file
 *    that cannot be read, is short or long, carries another magic, format, key
 *    or checksum, or whose binary then fails in the driver - at
 *    clCreateProgramWithBinary, clBuildProgram, creating any of its kernels or
 *    querying their work-group size (checked at load), or later when
 *    sb_progcache_kernel creates a kernel from it - is discarded: the file is
 *    removed, the program is built from source and the file rewritten. Nothing
 *    about a bad file is reported (stats.disk_rejects counts them).
 *  - Folder: the `dir` argument, else env SEQBOAT_CACHE_DIR, else
 *    $XDG_CACHE_HOME/seqboat, else $HOME/.cache/seqboat. "off" disables the disk.
 *    If the folder cannot be created or written, the disk cache is switched off for
 *    this cache object and a note is kept (sb_progcache_note); calls still succeed.
 *  - Binaries are written only for drivers that keep no cache of their own
 *    (sb_device_info.driver_cache: PoCL does, and fetching a PoCL binary
 *    compiles every kernel of the program once more); env
 *    SEQBOAT_CACHE_BINARIES=always writes them for every driver. Files already
 *    on disk are read for every driver.
 *  - A source that fails to build returns SB_ERR_BUILD with the build log.
 *  - One cache object is used by one thread at a time.
 */
#ifndef SB_PROGRAM_CACHE_H
#define SB_PROGRAM_CACHE_H
#include "rt.h"

#define SB_PROGCACHE_FORMAT 2u /* 2: payload checksum in the header */

typedef struct sb_progcache_stats {
    unsigned mem_hits;    /* served from memory */
    unsigned disk_hits;   /* loaded from a disk file */
    unsigned builds;      /* compiled from source */
    unsigned disk_writes; /* files written */
    unsigned disk_rejects;/* files present but unusable (treated as a miss) */
} sb_progcache_stats;

sb_status sb_progcache_create(const char *dir, sb_progcache **out, sb_err *e);
void sb_progcache_free(sb_progcache *pc);
sb_status sb_progcache_get(sb_progcache *pc, cl_context ctx, const sb_device_info *dev,
                           const char *source, const char *options, cl_program *out, sb_err *e);
/* Kernel `name` of the program (as sb_progcache_get), created and its
 * work-group size queried. If that fails on a program built from a cached
 * binary, the binary is discarded as above and the program rebuilt from
 * source once; a failure on a program built from source is SB_ERR_OPENCL.
 * The kernel is the caller's (clReleaseKernel). */
sb_status sb_progcache_kernel(sb_progcache *pc, cl_context ctx, const sb_device_info *dev,
                              const char *source, const char *options, const char *name,
                              cl_kernel *out, sb_err *e);
/* The disk key as 64 lowercase hex characters + NUL. */
void sb_progcache_key(const sb_device_info *dev, const char *source, const char *options,
                      char hex[65]);
/* Folder in use, or NULL when the disk cache is off. */
const char *sb_progcache_dir(const sb_progcache *pc);
/* Full path of the file a key maps to (NULL when off). Static per cache object. */
const char *sb_progcache_path(sb_progcache *pc, const char *hex);
sb_progcache_stats sb_progcache_get_stats(const sb_progcache *pc);
/* Why the disk cache is off or was switched off, or NULL. */
const char *sb_progcache_note(const sb_progcache *pc);

/* Kernel sources: embedded at build time; env SEQBOAT_KERNEL_DIR=<folder> reads
 * <folder>/<stem>.cl instead (development). A stem "a+b" is a.cl followed by
 * b.cl, each after a #line naming its file (a program built from a shared
 * prelude and a file of its own: window_attn+gau_step). *out is malloc'd. */
sb_status sb_kernel_source(const char *stem, char **out, sb_err *e);
#endif
