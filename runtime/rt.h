/* rt.h - the OpenCL runtime: one device, its context and queue, the program
 * cache, kernel lookup and launches. Everything above (ops, model) talks to the
 * device only through an sb_rt.
 *
 * Rule: an sb_rt is used by one thread at a time (kernels carry arguments).
 */
#ifndef SB_RT_H
#define SB_RT_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include "internal.h"

/* Device limits and names, read once from the device. */
typedef struct sb_device_info {
    int index;                /* global index over all platforms */
    cl_platform_id platform;
    cl_device_id device;
    char platform_name[256];
    char platform_version[256];
    char name[256];
    char vendor[256];
    char driver_version[256];
    char device_version[256];
    char c_version[256];      /* CL_DEVICE_OPENCL_C_VERSION */
    cl_device_type type;
    cl_uint compute_units;
    cl_ulong global_mem;
    cl_ulong local_mem;
    cl_ulong max_alloc;
    size_t max_wg;            /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t max_wi[3];         /* CL_DEVICE_MAX_WORK_ITEM_SIZES */
    cl_uint mem_align_bytes;  /* CL_DEVICE_MEM_BASE_ADDR_ALIGN / 8 */
    cl_uint native_vec_float; /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT (>= 1) */
    int driver_cache;         /* the driver keeps compiled programs on disk itself, keyed by
                                 source (PoCL, unless POCL_KERNEL_CACHE=0) */
} sb_device_info;

/* All devices of all platforms. *out is malloc'd (free()); *n may be 0. */
sb_status sb_devices_list(sb_device_info **out, int *n, sb_err *e);
/* Pick one: spec NULL or "" -> env SEQBOAT_DEVICE, else the default
 * (sb_device_default_index); a decimal index; or a case-insensitive substring
 * of "platform device vendor type". */
sb_status sb_device_select(const char *spec, sb_device_info *out, sb_err *e);
/* The default among list[0..n): the first GPU that is not a simulator, else
 * the first device that is not a simulator, else the first device; -1 when n
 * is 0. A sentence saying why goes to why (may be NULL). */
int sb_device_default_index(const sb_device_info *list, int n, char *why, size_t why_cap);
/* A simulator (Oclgrind), identified by its platform or device name. */
int sb_device_is_simulator(const sb_device_info *d);
const char *sb_device_type_string(cl_device_type t);
const char *sb_cl_error_string(cl_int err);

typedef struct sb_progcache sb_progcache;
typedef struct sb_kcache sb_kcache;

/* A kernel set: the kernels of one program variant that an op family
 * launches, resolved together once (sb_rt_kset_make: the program is built,
 * every kernel created and its work-group limit read) and found again by
 * (family, key) - integers only, no strings, no allocation - on every launch.
 * A model resolves all of its sets when it is loaded (model.c), so a kernel
 * that fails to build fails sb_model_load. Sets live until sb_rt_free; their
 * kernels belong to the rt's kernel table. */
#define SB_KSET_MAX_K 12
#define SB_KSET_KEY 12
#define SB_KSET_AUX 12
enum {
    SB_KSET_NORM = 1, SB_KSET_GATE, SB_KSET_EMA, SB_KSET_ATTN, SB_KSET_LINEAR, SB_KSET_STREAM,
    SB_KSET_BLOCK, SB_KSET_POS_HEAD, SB_KSET_EMBED_WT
};
typedef struct sb_kset {
    int family;               /* SB_KSET_* */
    int key[SB_KSET_KEY];     /* the variant: integers defined by the family, the rest 0 */
    int n;                    /* kernels */
    cl_kernel k[SB_KSET_MAX_K];
    size_t kwg[SB_KSET_MAX_K];/* each kernel's CL_KERNEL_WORK_GROUP_SIZE (0 = unknown) */
    int aux[SB_KSET_AUX];     /* launch data the family derives once (tiles, group sizes) */
} sb_kset;

/* Phases for profiling (bench): the model sets rt->phase before launches. */
enum { SB_PHASE_OTHER = 0, SB_PHASE_EMA, SB_PHASE_GATE, SB_PHASE_PROJ, SB_PHASE_ATTN, SB_PHASE_COUNT };

/* Parameters of the library's own GEMM (cl/linear.cl, ops/linear.h), chosen
 * once per rt by sb_ops_rt_create (ops/ops_rt.h); zeros (CLBlast) on an rt
 * made by sb_rt_create alone. */
typedef struct sb_linear_params {
    int variant;              /* SB_LINEAR_CLBLAST, SB_LINEAR_REG (CPU class), SB_LINEAR_LDS (GPU class) */
    int mr, vw, nv;           /* REG: rows per item, vector width, vectors per item */
    int tm, tn, tk, wm, wn;   /* LDS: work-group tile m x n, k step, per-item m x n */
} sb_linear_params;
enum { SB_LINEAR_CLBLAST = 0, SB_LINEAR_REG = 1, SB_LINEAR_LDS = 2 };

typedef struct sb_rt {
    sb_device_info dev;
    sb_linear_params lin;     /* own-GEMM parameters for this device */
    sb_tuning tune;           /* kernel choices, fixed when the rt is made (sb_ops_rt_create:
                                 the options, then SEQBOAT_ATTN/EMA/ROWS); tests may set
                                 them between launches */
    cl_context ctx;
    cl_command_queue queue;
    sb_progcache *progs;      /* shared compiled-program cache (memory + disk) */
    sb_kcache *kernels;       /* this rt's cl_kernel objects by (program, name) */
    int profiling;            /* queue created with profiling; events are timed */
    int phase;                /* current SB_PHASE_* */
    double phase_ms[SB_PHASE_COUNT];
    cl_event *pending;        /* profiled events not yet read */
    cl_event *pending_from;   /* NULL, or a marker whose end starts the span (sb_rt_track_span) */
    int *pending_phase;       /* phase of each pending event */
    int n_pending, cap_pending;
    /* device timeline of the events collected since the last sb_rt_profile_reset:
     * earliest start and latest end (ns, the driver's clock; 0 = none yet) */
    cl_ulong prof_first_ns, prof_last_ns;
    /* serialised wall-clock phase timing (bench; sb_rt_set_serial): when the
     * phase changes at a launch, the queue is finished and the host time since
     * the last mark is charged to the phase that ran; blocking transfers are
     * charged to none (serial_phase -1) */
    int serial;
    int serial_phase;
    double serial_t0_ms;
    double serial_ms[SB_PHASE_COUNT];
    void (*release)(void);    /* NULL, or called last by sb_rt_free, after the context is
                                 released: set by the layer above that took a process-wide
                                 reference for this rt (ops/ops_rt.c: CLBlast's user count) */
    sb_kset **ksets;          /* kernel sets made on this rt (sb_rt_kset_make) */
    int n_ksets, cap_ksets;
} sb_rt;

typedef struct sb_rt_options {
    const char *device;       /* selection, see sb_device_select (NULL = default) */
    const char *cache_dir;    /* NULL = env SEQBOAT_CACHE_DIR / XDG default; "off" = no disk cache */
    int profiling;            /* 0 */
    const sb_tuning *tuning;  /* NULL = all defaults; copied (ops_rt.c adds the environment) */
    int weight_type;          /* a model's weights (sb_wtype, wtype.h; 0 = f32) */
} sb_rt_options;

/* The device's context, queue and program cache. An rt that runs ops is made
 * by sb_ops_rt_create (ops/ops_rt.h), which calls this. */
sb_status sb_rt_create(const sb_rt_options *opt, sb_rt **out, sb_err *e);
void sb_rt_free(sb_rt *rt);

/* A kernel `name` from program `stem` (cl/<stem>.cl) specialised by `defines`
 * (lines "#define X Y\n" prepended to the source; may be NULL). The kernel is
 * owned by rt (do not release). Programs are built once per (context, device,
 * source, defines) and also kept on disk. */
sb_status sb_rt_kernel(sb_rt *rt, const char *stem, const char *defines, const char *name,
                       cl_kernel *out, sb_err *e);
/* The same with the program text given by the caller (code outside the library,
 * such as the benchmark engine, brings its own kernels); `stem` names it in
 * messages and in the kernel table. source NULL = the library's cl/<stem>.cl. */
sb_status sb_rt_kernel_src(sb_rt *rt, const char *stem, const char *source, const char *defines,
                           const char *name, cl_kernel *out, sb_err *e);

/* The set (family, key) if it was made on this rt, else NULL. key holds
 * SB_KSET_KEY ints (unused ones 0). */
sb_kset *sb_rt_kset_find(sb_rt *rt, int family, const int *key);
/* Make the set: kernels names[0..n) of program `stem` (source NULL = the
 * library's cl/<stem>.cl) with `defines`, and aux (may be NULL: zeros). A
 * build failure names the program file, the kernel and carries the build log.
 * *out stays valid until sb_rt_free. */
sb_status sb_rt_kset_make(sb_rt *rt, int family, const int *key, const char *stem,
                          const char *source, const char *defines, const char *const *names, int n,
                          const int *aux, sb_kset **out, sb_err *e);

/* Launch a 1-3 dimensional kernel; lws may be NULL (device picks). `what`
 * names it in error messages. */
sb_status sb_rt_launch(sb_rt *rt, cl_kernel k, cl_uint dims, const size_t *gws, const size_t *lws,
                       const char *what, sb_err *e);

/* Set kernel argument i; on failure records the kernel/arg in e. */
sb_status sb_rt_arg(cl_kernel k, cl_uint i, size_t size, const void *value, sb_err *e);
#define SB_ARG(k_, i_, v_) SB_TRY(sb_rt_arg((k_), (i_), sizeof(v_), &(v_), e))
#define SB_ARG_LOCAL(k_, i_, bytes_) SB_TRY(sb_rt_arg((k_), (i_), (bytes_), NULL, e))

/* Buffers. */
sb_status sb_rt_alloc(sb_rt *rt, size_t bytes, cl_mem *out, const char *what, sb_err *e);
/* A new buffer holding n floats copied from src (blocking write; 'what' names it in errors). */
sb_status sb_rt_upload_f32(sb_rt *rt, const float *src, size_t n, cl_mem *out, const char *what,
                           sb_err *e);
/* Release *m if set and clear it. */
void sb_mem_release(cl_mem *m);
sb_status sb_rt_write(sb_rt *rt, cl_mem m, size_t off, size_t bytes, const void *src, sb_err *e);
/* The same without waiting: src must stay unchanged and alive until the queue
 * has run the write (the queue is in order: until a later blocking read
 * returns or sb_rt_finish). */
sb_status sb_rt_write_async(sb_rt *rt, cl_mem m, size_t off, size_t bytes, const void *src,
                            sb_err *e);
sb_status sb_rt_read(sb_rt *rt, cl_mem m, size_t off, size_t bytes, void *dst, sb_err *e);
sb_status sb_rt_fill_zero(sb_rt *rt, cl_mem m, size_t off, size_t bytes, sb_err *e);
sb_status sb_rt_finish(sb_rt *rt, sb_err *e);
/* Profiling: keep an event (released later) to add its time to rt->phase. */
sb_status sb_rt_track_event(sb_rt *rt, cl_event ev, sb_err *e);
/* Profiling: time from the end of `from` (a marker enqueued before a library
 * call that launches several kernels, e.g. CLBlast) to the end of `ev` (its
 * last event). Takes ownership of both (either may be NULL). */
sb_status sb_rt_track_span(sb_rt *rt, cl_event from, cl_event ev, sb_err *e);
/* When profiling: a marker on rt's queue (ends when all earlier commands
 * have), for sb_rt_track_span; NULL otherwise or when the marker fails. */
cl_event sb_rt_marker(sb_rt *rt);

/* Turn event profiling on or off: finishes the queue (collecting pending
 * events) and replaces it by one with or without CL_QUEUE_PROFILING_ENABLE on
 * the same context (kernels and buffers stay valid). No-op when unchanged. */
sb_status sb_rt_set_profiling(sb_rt *rt, int on, sb_err *e);
/* Zero phase_ms and the device timeline (prof_first_ns, prof_last_ns). */
void sb_rt_profile_reset(sb_rt *rt);

/* Serialised wall-clock phase timing, for drivers whose event timestamps do
 * not account for the work: on (finishes the queue first) zeroes serial_ms
 * and starts charging at the next launch; every launch in a new phase
 * (sb_rt_launch, sb_rt_marker before a library GEMM) finishes the queue and
 * charges the host time since the last mark to the previous phase; blocking
 * reads and writes are charged to no phase. Off: stops. This serialises the
 * queue (the device idles while the host enqueues): the figures are a split,
 * not the speed of an unserialised forward. */
sb_status sb_rt_set_serial(sb_rt *rt, int on, sb_err *e);
/* Finish the queue and close the running interval (charged to its phase). */
void sb_rt_serial_flush(sb_rt *rt);
/* The accounting alone, with the clock given (tests feed made-up times):
 * charge now_ms - serial_t0_ms to serial_phase (when >= 0), then the next
 * interval starts at now_ms for phase next (-1 = none). */
void sb_rt_serial_charge(sb_rt *rt, double now_ms, int next);

/* Round n up to a multiple of m (m > 0). */
static inline size_t sb_round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* A work-group size for a 1-D kernel over n items: the largest power of two
 * <= min(want, device max, kernel max); the caller rounds gws up to it. */
size_t sb_rt_wg1(sb_rt *rt, cl_kernel k, size_t want);
/* The same from a kernel's known limit kwg (0 = unknown): no driver query. */
size_t sb_rt_wg1_lim(const sb_rt *rt, size_t kwg, size_t want);

#endif
