/*
 * seqboat.h - public C API of seqboat-cl: SeqBoat (sparse modular activation)
 * models on any OpenCL device.
 *
 * Conventions
 *   - Every call returns an sb_status; SB_OK (0) is success. On failure the
 *     handle the call was made on (or the out-handle's creation context) keeps a
 *     message naming the detail: sb_model_last_error(), sb_last_error().
 *   - Handles are opaque. Every *_free() accepts NULL.
 *   - The library never prints, exits or aborts.
 *   - Threads: a handle may be used by one thread at a time. Different handles
 *     may be used concurrently from different threads.
 *   - Only the functions declared SB_API below are exported from the shared
 *     library; everything else in it is hidden. Link with pkg-config
 *     (`pkg-config --cflags --libs seqboat`) or CMake
 *     (`find_package(seqboat)`, target seqboat::seqboat). docs/API.md walks
 *     through the API with examples.
 *
 * Ownership
 *   - sb_model (from sb_model_load) and sb_stream (from sb_stream_open) belong
 *     to the caller, who releases them with sb_model_free / sb_stream_free. A
 *     stream uses its model: free every stream of a model before the model.
 *   - Arrays the caller passes (inputs, lengths, outputs, the sb_device_desc
 *     array, report buffers) stay the caller's. The library reads or fills
 *     them during the call and keeps no pointer to them afterwards; sizes are
 *     given at each call.
 *   - Strings the caller passes (file paths, sb_options.device,
 *     sb_options.cache_dir) are read during the call only (copied if needed).
 *   - Strings the library returns are never freed by the caller:
 *     sb_status_string and sb_version_string are static; sb_last_error,
 *     sb_model_last_error, sb_stream_last_error and sb_model_cache_note point
 *     into the thread's or the handle's storage, whose text changes with the
 *     next call that records a message there and which dies with the handle.
 *     Copy a message you want to keep.
 *   - The only memory handed over to the caller is sb_inspect's text,
 *     released with sb_free.
 *
 * Process-wide state
 *   Everything a handle needs belongs to the handle, except these, shared by
 *   the whole process and guarded by the library's locks:
 *   (The two CLBlast items exist only in a library built with CLBlast, the
 *   default; one configured with -DSEQBOAT_CLBLAST=OFF has neither, runs
 *   every product on its own GEMM kernels and refuses SEQBOAT_LINEAR=clblast,
 *   SB_TUNE_CLBLAST and SEQBOAT_GEMM_XGEMM* with SB_ERR_UNSUPPORTED.)
 *   - CLBlast's program cache (CLBlast keeps every GEMM/GEMV program it
 *     builds, per OpenCL context, and their binaries). The library counts its
 *     OpenCL contexts in use (one per model and device, one during
 *     sb_selftest); when the count drops to zero it calls CLBlastClearCache,
 *     which releases those programs and the freed contexts they keep alive.
 *     While any model is loaded, the programs of models freed meanwhile stay
 *     cached: a process that loads and frees models forever stays flat as
 *     long as it frees all of them now and then. Free every model before
 *     the process exits: programs left in CLBlast's cache are released by
 *     its exit handlers, after some drivers (Oclgrind) have shut down.
 *     Code outside this library that uses CLBlast in the same process
 *     shares that cache: its programs are cleared at the same moments.
 *   - CLBlast's parameter overrides: tuned GEMM parameters (see
 *     SEQBOAT_GEMM_TUNE in the README) are registered once per device, at
 *     the first load on it, and kept for the life of the process.
 *   - The last handle-less error message, one per thread (sb_last_error).
 *
 * Threads
 *   - The only locks are those around the process-wide state above, held
 *     briefly at load, at free and at the first use of a device.
 *     Calls without a handle (sb_status_string, sb_version_*, sb_last_error,
 *     sb_devices, sb_device_default, sb_selftest, sb_options_default,
 *     sb_inspect, sb_free) and sb_model_load are safe from any number of
 *     threads at once.
 *   - A model and the streams opened on it share one OpenCL context, queue
 *     and activation memory: use a model together with its streams from one
 *     thread at a time (or under one lock held by the caller). Different
 *     models, even on the same device, may be used concurrently from
 *     different threads: for parallel inference, load one model per thread.
 *   - sb_last_error() is per thread: it reports the calling thread's last
 *     handle-less failure.
 *
 * Errors
 *   - Calls on a model record a message in sb_model_last_error(m), calls on
 *     a stream in sb_stream_last_error(s); a successful sb_model_forward,
 *     sb_model_run_file, sb_model_plan or stream feed/step/reset clears it.
 *   - sb_model_load and sb_stream_open (whose handle does not exist yet) and
 *     calls without a handle record the message in sb_last_error() of the
 *     calling thread; successes leave it unchanged.
 *   - A NULL handle gives SB_ERR_ARG and records nothing.
 *
 * Environment (read by sb_model_load and sb_selftest, once, when the model's
 * device runtime is made; never by a launch. SEQBOAT_LINEAR, _ATTN, _EMA and
 * _ROWS override the matching field of sb_options.tuning; a bad value fails
 * the load with SB_ERR_ARG)
 *   SEQBOAT_DEVICE     default device selection (see "Device selection strings")
 *   SEQBOAT_CACHE_DIR  folder of the compiled-program cache, or "off"
 *   SEQBOAT_CACHE_BINARIES  "always": write compiled programs to that folder
 *                      for every driver. By default they are written only for
 *                      drivers without a cache of their own: not for PoCL
 *                      (POCL_CACHE_DIR), whose binaries cost a compile of every
 *                      kernel once more, unless POCL_KERNEL_CACHE=0
 *   XDG_CACHE_HOME, HOME   default cache folder: $XDG_CACHE_HOME/seqboat, else
 *                      ~/.cache/seqboat
 *   SEQBOAT_KERNEL_DIR development only: read the kernel sources (.cl files)
 *                      from this folder instead of the copies embedded in the
 *                      library. Unset, nothing is looked up on disk but the
 *                      model and input files and the cache.
 *   SEQBOAT_GEMM_TUNE  "off": CLBlast's own GEMM parameters instead of the
 *                      library's table for the device
 *   SEQBOAT_GEMM_XGEMM, SEQBOAT_GEMM_XGEMM_DIRECT
 *                      CLBlast Xgemm (16 values) / XgemmDirect (10 values)
 *                      parameters, comma-separated, for every device
 *                      (SB_ERR_UNSUPPORTED in a build without CLBlast)
 *   SEQBOAT_LINEAR     the model's products: "clblast" (builds with CLBlast
 *                      only, else SB_ERR_UNSUPPORTED), "reg[:MR,VW,NV]" (the
 *                      library's register-tiled kernel, CPU devices' default) or
 *                      "lds[:TM,TN,TK,WM,WN]" (local-memory tiles, other
 *                      devices' default); overrides a stored `seqboat tune`
 *                      result (cache folder, per device and driver)
 *   SEQBOAT_ATTN       "reg" or "lds": the CPU-class or the work-group windowed
 *                      attention kernel (default: reg on CPU devices);
 *                      "reg:RQ,RVW,RNV" also sets reg's tiles
 *   SEQBOAT_EMA        "scan" (the chunked three-pass scan) or "seq[:VW]" (one
 *                      pass per VW channels, VW 1/2/4/8/16); default: seq on CPU
 *                      devices with few enough compute units for D, else scan
 *   SEQBOAT_ROWS       "vec" (one work-item per row: LayerNorm, combine) or
 *                      "wg" (a work-group per row); default: vec on CPU devices
 *   SEQBOAT_DECODE     "wg" (a streamed token's layer step in one work-group) or
 *                      "split" (its projections over many work-groups); default:
 *                      wg on CPU devices
 *   The `seqboat` program also reads SEQBOAT_MODEL (default model of
 *   `seqboat generate`); the CLI's and bench's own settings are options.
 */
#ifndef SEQBOAT_H
#define SEQBOAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this header. SB_VERSION_NUMBER is MAJOR * 10000 + MINOR * 100 +
 * PATCH (0.1.0 -> 100) for #if tests; SB_VERSION_STRING is "MAJOR.MINOR.PATCH".
 * sb_version_number() / sb_version_string() give the version of the library
 * actually loaded: compare them to catch a header/library mismatch. Before
 * 1.0, a MINOR change may change the API and ABI (CMake's version file
 * accepts only the same MAJOR.MINOR); from 1.0 on, only a MAJOR change. */
#define SB_VERSION_MAJOR 0
#define SB_VERSION_MINOR 3
#define SB_VERSION_PATCH 0
#define SB_VERSION_NUMBER (SB_VERSION_MAJOR * 10000 + SB_VERSION_MINOR * 100 + SB_VERSION_PATCH)
#define SB_VERSION_STRING "0.3.0"

/* SB_API marks the exported functions; the library is built with hidden
 * visibility, so nothing else is visible to the dynamic linker. */
#if defined(_WIN32)
#define SB_API
#elif defined(__GNUC__)
#define SB_API __attribute__((visibility("default")))
#else
#define SB_API
#endif

/* Status codes, grouped by hundreds: test `st / 100` for the group. The values
 * are stable; later versions may add values inside a group, so handle unknown
 * ones by their group (sb_status_string() gives "unknown status" for values
 * it does not know). The handle's message (see "Errors" above) names the
 * detail: the tensor, the metadata key, the file, the OpenCL call and its
 * error code, the build log.
 *   1xx  the caller's arguments or the order of calls; fix the call.
 *   2xx  a model or input file is unreadable or breaks SPEC section 4/5.
 *   3xx  a valid request this build or host cannot serve.
 *   4xx  out of host or device memory; a smaller batch/length may work.
 *   5xx  the OpenCL platform, the device, a kernel build or CLBlast failed.
 *   9xx  a bug in seqboat; please report it with the message. */
typedef enum sb_status {
    SB_OK = 0,                /* success */
    /* 1xx: the caller passed something wrong */
    SB_ERR_ARG = 100,         /* bad argument (NULL, out of range, wrong size,
                                 ids for a float model, token id outside the vocabulary) */
    SB_ERR_STATE = 101,       /* call not valid in this state (e.g. stream on a bidirectional
                                 or classify model, stream position limit reached) */
    /* 2xx: a file is wrong */
    SB_ERR_IO = 200,          /* cannot open / read / write a file */
    SB_ERR_FORMAT = 201,      /* not a valid safetensors file (header, JSON, offsets) */
    SB_ERR_TENSOR = 202,      /* a tensor is missing or has the wrong dtype or shape */
    SB_ERR_META = 203,        /* a metadata key is missing or has an unknown value */
    /* 3xx: valid but not supported */
    SB_ERR_UNSUPPORTED = 300, /* e.g. safetensors on a big-endian host */
    /* 4xx: out of resources */
    SB_ERR_HOST_MEMORY = 400, /* host allocation failed */
    SB_ERR_DEVICE_MEMORY = 401, /* device allocation failed or beyond the device's limits */
    /* 5xx: the OpenCL device / platform */
    SB_ERR_OPENCL = 500,      /* an OpenCL call failed; the message carries the CL error code */
    SB_ERR_NO_DEVICE = 501,   /* no OpenCL device, or none matches the selection */
    SB_ERR_BUILD = 502,       /* a kernel failed to build; the message carries the build log */
    SB_ERR_BLAS = 503,        /* CLBlast returned an error */
    /* 9xx: seqboat itself */
    SB_ERR_INTERNAL = 900     /* an internal check failed (a bug), or sb_selftest found
                                 wrong results on the device */
} sb_status;

/* A static English string for a status value (never NULL; not to be freed).
 * Any thread, any time. */
SB_API const char *sb_status_string(sb_status status);

/* Run-time version: SB_VERSION_NUMBER / SB_VERSION_STRING of the library binary
 * (the string is static). Any thread, any time. */
SB_API unsigned sb_version_number(void);
SB_API const char *sb_version_string(void);


/* Message of the last failed call made without a handle (sb_devices, sb_model_load
 * failing before a handle exists, ...) on this thread. Never NULL ("" before
 * any failure). The text is the calling thread's own: it is not cleared by
 * successful calls and is overwritten by this thread's next such failure. */
SB_API const char *sb_last_error(void);

/* ---- devices ------------------------------------------------------------ */
/* Extensible structs (sb_device_desc, sb_model_info; sb_options below is the
 * input counterpart, with its own rules): the leading struct_size is
 * sizeof(the struct) as the caller was compiled, set by the caller before
 * the call, e.g.
 *   sb_model_info info = { .struct_size = sizeof info };
 * Later versions add fields at the end only. The library fills only the
 * fields that lie wholly inside the first struct_size bytes and writes
 * nothing beyond them, so a caller built against an older header gets the
 * fields it knows. A struct_size larger than this library's struct (a caller
 * built against a newer header) is accepted: the bytes beyond the fields
 * this library knows are left as the caller had them (zero them, as the
 * initialiser above does, to read 0 for fields an older library does not
 * fill). A struct_size smaller than the end of the first field after it
 * (0 included: struct_size was not set) is refused with SB_ERR_ARG and a
 * message, and nothing is written. The library never changes the caller's
 * struct_size (sb_devices copies out[0]'s into the other entries it fills).
 * Added in 0.3.0, which changed both layouts once (hence the soname 0.3);
 * earlier releases had no struct_size. */
typedef struct sb_device_desc {
    size_t struct_size;        /* sizeof(sb_device_desc) as the caller was compiled,
                                  set in out[0] at least (see sb_devices) */
    int index;                 /* global index, usable as a device selection */
    char platform[256];
    char platform_version[256];
    char name[256];
    char vendor[256];
    char type[16];             /* "GPU", "CPU", "accelerator", "other" */
    char opencl_c_version[256];
    char driver_version[256];
    unsigned compute_units;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
} sb_device_desc;

/* Fill up to `cap` entries of out (may be NULL when cap is 0); *count receives
 * the number of devices. Zero devices is SB_OK with *count = 0. The array is
 * the caller's; call once with cap 0 to size it. out[0].struct_size (see
 * "Extensible structs" above) is the size of every entry of the array, and
 * the library writes it into each entry it fills (the others' struct_size
 * need not be set). Enumerates all platforms on each call (no state kept);
 * any thread. Errors: sb_last_error(). */
SB_API sb_status sb_devices(sb_device_desc *out, int cap, int *count);

/* The device a NULL / "" selection picks now, as a global index into *index,
 * and why, as a sentence into why[0..why_len) (the caller's buffer, may be
 * NULL): "SEQBOAT_DEVICE='...'" when that variable is set, else the rule of
 * "Device selection strings" below. Enumerates the platforms; any thread.
 * Errors (SB_ERR_NO_DEVICE when there is none, or SEQBOAT_DEVICE matches
 * none): sb_last_error(). */
SB_API sb_status sb_device_default(int *index, char *why, size_t why_len);

/* Device selection strings, used wherever a `device` argument appears:
 * NULL or "" = env SEQBOAT_DEVICE if set, else the default device: the first
 * GPU, else the first device; a simulator (Oclgrind, which calls itself a GPU)
 * is the default only when no other device exists (sb_device_default);
 * "3" = global index 3; any other text = first device whose
 * "platform name vendor type" contains it (case-insensitive).
 * Several devices (sb_model_load only, also through SEQBOAT_DEVICE): a comma-
 * separated list of those items, e.g. "0,1" or "gpu,gpu" (a name picks the
 * first matching device not already listed; a device listed twice is
 * SB_ERR_ARG). The model is loaded once per device; sb_model_forward and
 * sb_model_run_file split the batch into contiguous runs of sequences balanced
 * by valid-token count and run them concurrently, one thread per device.
 * Outputs equal one device's within SPEC tolerance (bit for bit with relu2
 * attention). Streams run on the first device. sb_model_layer_stats sums
 * tokens over devices (ms: the slowest device); sb_model_plan reports the
 * largest per-device peak; sb_model_info.device reads "N devices: [i] name; ...". */

/* Runs a GEMM through CLBlast (skipped, and said so in the report, in a build
 * without CLBlast), the product a model uses on that device (the
 * library's own GEMM variant and tiles, or CLBlast: see SEQBOAT_LINEAR) and
 * one of the library's kernels (LayerNorm, in place) on the selected device
 * and checks each against plain C. Writes a short report into
 * report[0..report_len) (the caller's buffer, NUL-terminated; report may be
 * NULL). Uses its own OpenCL context, released before returning; any thread.
 * Errors: sb_last_error(). */
SB_API sb_status sb_selftest(const char *device, char *report, size_t report_len);

/* ---- models ------------------------------------------------------------- */

/* A model loaded onto one device: its weights, compiled kernels and activation
 * memory. Owns everything it allocates; sb_model_free releases it. The model
 * file is read completely at load time and not kept open. One thread at a
 * time per model (together with its streams); see "Threads" above. */
typedef struct sb_model sb_model;

/* Kernel choices (sb_options.tuning), for tuning and tests; all zero (the
 * default) lets the library choose per device class. Read once, by
 * sb_model_load (or sb_selftest): the environment variable of the same name
 * (see "Environment" above), when set, overrides a field, and a bad value of
 * either fails the load with SB_ERR_ARG. No kernel launch reads either. */
typedef enum sb_tune_choice {
    SB_TUNE_AUTO = 0,  /* the device class's choice */
    SB_TUNE_CLBLAST,   /* linear: CLBlast's GEMM (SB_ERR_UNSUPPORTED without CLBlast) */
    SB_TUNE_REG,       /* linear, attn: the CPU-class register-tiled kernel */
    SB_TUNE_LDS,       /* linear, attn: the work-group kernel with local-memory tiles */
    SB_TUNE_SCAN,      /* ema: the chunked three-pass scan */
    SB_TUNE_SEQ,       /* ema: one pass per vector of channels (CPU class) */
    SB_TUNE_VEC,       /* rows: one work-item per row (CPU class) */
    SB_TUNE_WG,        /* rows: a work-group per row; decode: one work-group per layer
                          step (CPU class) */
    SB_TUNE_SPLIT      /* decode: the step's EMA (after its LayerNorm) and projections
                          over many work-groups */
} sb_tune_choice;

typedef struct sb_tuning {
    int linear;          /* SB_TUNE_AUTO, _CLBLAST, _REG, _LDS (SEQBOAT_LINEAR) */
    int linear_tiles[5]; /* REG: MR, VW, NV; LDS: TM, TN, TK, WM, WN; all 0: the defaults */
    int attn;            /* SB_TUNE_AUTO, _REG, _LDS (SEQBOAT_ATTN) */
    int attn_tiles[3];   /* REG: RQ, RVW, RNV; all 0: the defaults */
    int ema;             /* SB_TUNE_AUTO, _SCAN, _SEQ (SEQBOAT_EMA) */
    int ema_vw;          /* SEQ: channels per work-item, 1/2/4/8/16; 0: the native width */
    int rows;            /* SB_TUNE_AUTO, _VEC, _WG (SEQBOAT_ROWS) */
    int decode;          /* SB_TUNE_AUTO, _WG, _SPLIT (SEQBOAT_DECODE): a streamed token's
                            layer step */
} sb_tuning;

/* Storage of a model's weights on the device (sb_options.precision and
 * .weights; docs/PRECISION.md). Arithmetic stays float: a kernel converts
 * each weight as it reads it (f16 by vload_half, core OpenCL 1.2, no
 * extension; bf16 by a shift), the weights are converted at load (round to
 * nearest even). The projection matrices (packed panels and the streaming
 * step's transposed copies included) and the decoder (lm / classifier head)
 * are stored so; embeddings, biases, norm, EMA and position parameters and
 * the activations stay f32. */
typedef enum sb_precision {
    SB_PREC_F32 = 0,   /* the default */
    SB_PREC_F16 = 1,   /* IEEE binary16: half the bytes, 11 significant bits */
    SB_PREC_BF16 = 2   /* bfloat16: half the bytes, float's range, 8 significant bits */
} sb_precision;

typedef enum sb_weights {
    SB_WEIGHTS_PRECISION = 0, /* stored as `precision` */
    SB_WEIGHTS_INT8 = 1       /* int8 codes with one float scale per output channel
                                 (max |w| / 127 of the row; the sum is scaled) */
} sb_weights;

typedef struct sb_options {
    size_t struct_size;     /* sizeof(sb_options) as the caller was compiled; set by
                               sb_options_default(). Always start from that call:
                               later versions add fields at the end only, and
                               sb_model_load reads the fields that fit in
                               struct_size (the rest take their defaults). */
    const char *device;     /* NULL: see "Device selection strings" above */
    const char *cache_dir;  /* NULL: env SEQBOAT_CACHE_DIR, else $XDG_CACHE_HOME/seqboat,
                               else ~/.cache/seqboat; "off": no disk cache */
    int profiling;          /* 0; 1: time each phase with OpenCL event profiling
                               (used by the benchmark; costs a little per kernel) */
    /* second version of the struct (after profiling) */
    sb_tuning tuning;       /* kernel choices (see sb_tuning); all 0: the library's */
    /* third version of the struct (after tuning) */
    int precision;          /* sb_precision: SB_PREC_F32 (0), _F16, _BF16 */
    int weights;            /* sb_weights: SB_WEIGHTS_PRECISION (0) or _INT8; other
                               values fail the load with SB_ERR_ARG */
} sb_options;

/* The defaults above, with struct_size = sizeof(sb_options). The strings in
 * sb_options are the caller's and are only read during sb_model_load.
 * sb_model_load refuses (SB_ERR_ARG) a struct_size smaller than the first
 * version of the struct (a caller that did not start from sb_options_default),
 * and one larger than this library knows whose extra bytes are not all zero
 * (options this older library cannot honour). */
SB_API sb_options sb_options_default(void);

/* Load a model file (safetensors, SPEC section 4) onto a device. opt may be NULL.
 * On failure *out is NULL and sb_last_error() names the problem. On success
 * *out is a new model owned by the caller. Every kernel the model can launch
 * is built during the load (a kernel that fails to build fails the load, with
 * its build log), reusing the program cache (see sb_options.cache_dir). Safe to call
 * from several threads at once; each call creates its own OpenCL context.
 * Typical errors: SB_ERR_IO, SB_ERR_FORMAT, SB_ERR_TENSOR, SB_ERR_META,
 * SB_ERR_NO_DEVICE, SB_ERR_DEVICE_MEMORY. */
SB_API sb_status sb_model_load(const char *path, const sb_options *opt, sb_model **out);
/* Release the model and everything it owns (NULL is a no-op). Free its streams
 * first. Waits for the model's queued device work. */
SB_API void sb_model_free(sb_model *m);
/* Message of the last failed call on m ("" when none). Valid until the next call on m.
 * The string belongs to m; copy it to keep it. */
SB_API const char *sb_model_last_error(const sb_model *m);

typedef enum sb_task_kind { SB_CLASSIFY = 0, SB_SEQUENCE = 1, SB_LM = 2 } sb_task_kind;

/* The model's kinds, as named by the model file's metadata (SPEC section 4). */
/* (SB_SCALENORM, SB_RMSNORM and SB_POS_LOCAL: model-file format version 2,
 * docs/FAIRSEQ.md.) */
typedef enum sb_norm_type { SB_LAYERNORM = 0, SB_BATCHNORM = 1, SB_SCALENORM = 2, SB_RMSNORM = 3 } sb_norm_type;
typedef enum sb_attention_activation { SB_RELU2 = 0, SB_SOFTMAX = 1 } sb_attention_activation;
typedef enum sb_rel_pos_bias { SB_POS_SIMPLE = 0, SB_POS_ROTARY = 1, SB_POS_LOCAL = 2 } sb_rel_pos_bias;

/* Filled by sb_model_get_info as far as struct_size reaches (see "Extensible
 * structs" above). Fields are only ever added at the end. */
typedef struct sb_model_info {
    size_t struct_size;     /* sizeof(sb_model_info) as the caller was compiled; set
                               by the caller before sb_model_get_info */
    sb_task_kind task;
    int d_input, vocab_size, d_output, d_model, n_layers, d_qk, d_hidden, d_ema;
    int mem_size, max_positions, truncation;
    int bidirectional, prenorm;               /* 0 or 1 */
    sb_norm_type norm_type;
    sb_attention_activation attention_activation;
    sb_rel_pos_bias rel_pos_bias;
    uint64_t n_params;
    char device[256];       /* name of the device the model runs on */
} sb_model_info;
/* Fill *info (the caller's struct, info->struct_size set) from the loaded
 * model's configuration. A bad struct_size is SB_ERR_ARG, with the message in
 * sb_model_last_error(m). */
SB_API sb_status sb_model_get_info(const sb_model *m, sb_model_info *info);

/* Forward a padded batch.
 *   x:       float [batch][length][d_input]  (classify, sequence; NULL for token ids)
 *   ids:     int32 [batch][length] token ids (lm, and classify / sequence models
 *            with vocab_size >= 1; NULL otherwise)
 *   lengths: int32 [batch], each 1..length, or NULL (= all length)
 *   out:     float [batch][length][d_output] (sequence, lm; 0 at padded positions)
 *            or [batch][d_output] (classify: mean over valid positions, then decoder)
 * Buffers are the caller's; nothing is kept after the call returns.
 * Blocking: returns when out is filled. Values at padded positions of x/ids
 * are ignored. Activation memory on the device is planned for the largest batch x
 * length seen so far and kept by m until sb_model_free (sb_model_plan sizes it
 * ahead of time). One thread at a time per model. Errors: sb_model_last_error(m)
 * (SB_ERR_ARG for shapes, lengths, ids; SB_ERR_DEVICE_MEMORY; SB_ERR_OPENCL). */
SB_API sb_status sb_model_forward(sb_model *m, int batch, int length, const float *x,
                                  const int32_t *ids, const int32_t *lengths, float *out);

/* Forward a batch of a pair model (metadata 'pair', docs/FAIRSEQ.md 2.6: two
 * inputs per example through the same encoder, e.g. the AAN retrieval task):
 * the first input (x or ids, lengths, length) and the second (x2 or ids2,
 * lengths2, length2; the lengths may differ) each as in sb_model_forward;
 * out float [batch][d_output]. sb_model_forward refuses a pair model and this
 * call refuses any other (SB_ERR_ARG). One device only (SB_ERR_ARG for a
 * model loaded on several). Threads and errors as sb_model_forward. */
SB_API sb_status sb_model_forward_pair(sb_model *m, int batch, int length, const float *x,
                                       const int32_t *ids, const int32_t *lengths, int length2,
                                       const float *x2, const int32_t *ids2,
                                       const int32_t *lengths2, float *out);

/* Run SPEC section 5 files: reads `input` (+ optional `lengths`; a pair model
 * also `input2` + optional `lengths2`) from in_path,
 * writes `output` to out_path (written to a temporary file, then renamed).
 * Host buffers are allocated and released inside the call. As
 * sb_model_forward for threads and errors (plus SB_ERR_IO / SB_ERR_FORMAT /
 * SB_ERR_TENSOR for the files). */
SB_API sb_status sb_model_run_file(sb_model *m, const char *in_path, const char *out_path);

/* Per-layer figures of the last forward: valid tokens, activated tokens, ms.
 * ms is measured only for a model loaded with sb_options.profiling (the queue
 * is then drained after every layer to time it; otherwise layers run on
 * without waiting and ms is 0). Each out pointer may be NULL. SB_ERR_ARG when
 * layer is out of range. */
SB_API sb_status sb_model_layer_stats(const sb_model *m, int layer, int *tokens, int *activated,
                                      double *ms);
/* Plan activation memory for a shape now (normally done by the first forward
 * of that size) and report the planned device peak in bytes (peak_bytes may be
 * NULL). The memory stays with m. */
SB_API sb_status sb_model_plan(sb_model *m, int batch, int length, size_t *peak_bytes);
/* A note from the program cache (e.g. why the disk cache is off) or NULL.
 * The string belongs to m. */
SB_API const char *sb_model_cache_note(const sb_model *m);
/* Device memory of the model's parameters in bytes, on one device (a model
 * on several devices holds a copy on each): every weight buffer as stored
 * (sb_options.precision / .weights; packed panels and the streaming step's
 * transposed copies once a stream made them), biases and the small f32
 * vectors included; activations not (see sb_model_plan). 0 for NULL. */
SB_API uint64_t sb_model_weight_bytes(const sb_model *m);

/* Describe a model file without a device: config, tensors, parameter count.
 * *text is malloc'd; release it with sb_free. Any thread; errors in
 * sb_last_error(). */
SB_API sb_status sb_inspect(const char *path, char **text);
/* Release memory the library handed over (sb_inspect's text); NULL is a no-op. */
SB_API void sb_free(void *p);

/* ---- streaming decode ------------------------------------------------------
 * A stream carries, per layer, the EMA state (D x N, plus the last `truncation`
 * inputs when the kernel is truncated) and a ring of the last W activated
 * tokens' keys, values and positions: each step costs the same at any position.
 * Only causal lm/sequence models stream (others: SB_ERR_STATE). Several streams
 * may be open on one model; a stream and its model are used by one thread at a
 * time. Outputs are d_output floats per token (logits for lm).
 * Ownership: a stream belongs to the caller and refers to its model (which it
 * does not own): free the streams before the model. Its state lives in device
 * memory allocated at sb_stream_open, fixed in size (independent of the
 * position), and released by sb_stream_free. Errors: sb_stream_last_error(s). */
typedef struct sb_stream sb_stream;

/* Open a stream at position 0 on m. On failure *out is NULL and
 * sb_last_error() names the problem (SB_ERR_STATE for a bidirectional or
 * classify model, or one with rel_pos_bias 'local'; SB_ERR_DEVICE_MEMORY). */
SB_API sb_status sb_stream_open(sb_model *m, sb_stream **out);
/* Release the stream (NULL is a no-op); its model stays loaded. */
SB_API void sb_stream_free(sb_stream *s);
/* Back to position 0 (state cleared). */
SB_API sb_status sb_stream_reset(sb_stream *s);
/* Message of the last failed call on s ("" when none); belongs to s. */
SB_API const char *sb_stream_last_error(const sb_stream *s);
/* Tokens consumed so far (-1 for NULL). */
SB_API long sb_stream_position(const sb_stream *s);

/* Feed n >= 1 tokens. At position 0 this is a prefill through the parallel
 * forward that hands over exactly the state the step path builds; later, the
 * tokens are stepped one by one. out_all [n][d_output] and out_last
 * [d_output] may each be NULL. ids for lm, x [n][d_input] for sequence models.
 * All arrays are the caller's and are not kept. A prefill uses the model's
 * activation memory (planned for length n, as sb_model_forward). If a prefill
 * fails the stream is back at position 0; if a later step fails, the state
 * may be partly advanced: call sb_stream_reset before using the stream again. */
SB_API sb_status sb_stream_feed_ids(sb_stream *s, const int32_t *ids, int n, float *out_all,
                                    float *out_last);
SB_API sb_status sb_stream_feed(sb_stream *s, const float *x, int n, float *out_all,
                                float *out_last);
/* One token: its outputs into out [d_output] (out may be NULL). Same cost at
 * any position; blocking. At position 0 this is a prefill of one token. */
SB_API sb_status sb_stream_step_id(sb_stream *s, int32_t id, float *out);
SB_API sb_status sb_stream_step(sb_stream *s, const float *x, float *out);
/* Activated tokens per layer counted over steps (not prefill) since open/reset.
 * Either out pointer may be NULL; SB_ERR_ARG when layer is out of range. */
SB_API sb_status sb_stream_layer_activity(const sb_stream *s, int layer, long *steps,
                                          long *activated);

#ifdef __cplusplus
}
#endif
#endif /* SEQBOAT_H */
