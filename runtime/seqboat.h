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
 */
#ifndef SEQBOAT_H
#define SEQBOAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SB_VERSION_MAJOR 0
#define SB_VERSION_MINOR 1
#define SB_VERSION_PATCH 0
#define SB_VERSION_NUMBER (SB_VERSION_MAJOR * 10000 + SB_VERSION_MINOR * 100 + SB_VERSION_PATCH)
#define SB_VERSION_STRING "0.1.0"

#if defined(_WIN32)
#define SB_API
#elif defined(__GNUC__)
#define SB_API __attribute__((visibility("default")))
#else
#define SB_API
#endif

/* Status codes, grouped by hundreds. */
typedef enum sb_status {
    SB_OK = 0,
    /* 1xx: the caller passed something wrong */
    SB_ERR_ARG = 100,         /* bad argument (NULL, out of range, wrong size) */
    SB_ERR_STATE = 101,       /* call not valid in this state (e.g. stream on a bidirectional model) */
    /* 2xx: a file is wrong */
    SB_ERR_IO = 200,          /* cannot open / read / write a file */
    SB_ERR_FORMAT = 201,      /* not a valid safetensors file (header, JSON, offsets) */
    SB_ERR_TENSOR = 202,      /* a tensor is missing or has the wrong dtype or shape */
    SB_ERR_META = 203,        /* a metadata key is missing or has an unknown value */
    /* 3xx: valid but not supported */
    SB_ERR_UNSUPPORTED = 300,
    /* 4xx: out of resources */
    SB_ERR_HOST_MEMORY = 400, /* host allocation failed */
    SB_ERR_DEVICE_MEMORY = 401, /* device allocation failed or beyond the device's limits */
    /* 5xx: the OpenCL device / platform */
    SB_ERR_OPENCL = 500,      /* an OpenCL call failed; the message carries the CL error code */
    SB_ERR_NO_DEVICE = 501,   /* no OpenCL device, or none matches the selection */
    SB_ERR_BUILD = 502,       /* a kernel failed to build; the message carries the build log */
    SB_ERR_BLAS = 503,        /* CLBlast returned an error */
    /* 9xx */
    SB_ERR_INTERNAL = 900
} sb_status;

/* A static English string for a status value (never NULL). */
SB_API const char *sb_status_string(sb_status status);

/* Run-time version: SB_VERSION_NUMBER / SB_VERSION_STRING of the library binary. */
SB_API unsigned sb_version_number(void);
SB_API const char *sb_version_string(void);


/* Message of the last failed call made without a handle (sb_devices, sb_model_load
 * failing before a handle exists, ...) on this thread. Never NULL. */
SB_API const char *sb_last_error(void);

/* ---- devices ------------------------------------------------------------ */
typedef struct sb_device_desc {
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
 * the number of devices. Zero devices is SB_OK with *count = 0. */
SB_API sb_status sb_devices(sb_device_desc *out, int cap, int *count);

/* Device selection strings, used wherever a `device` argument appears:
 * NULL or "" = env SEQBOAT_DEVICE if set, else the first GPU, else the first
 * device; "3" = global index 3; any other text = first device whose
 * "platform name vendor type" contains it (case-insensitive). */

/* Runs a GEMM through CLBlast and one of the library's kernels on the selected
 * device and checks both against plain C. Writes a short report into
 * report[0..report_len). */
SB_API sb_status sb_selftest(const char *device, char *report, size_t report_len);

/* ---- models ------------------------------------------------------------- */

/* A model loaded onto one device: its weights, compiled kernels and activation
 * memory. Owns everything it allocates; sb_model_free releases it. */
typedef struct sb_model sb_model;

typedef struct sb_options {
    const char *device;     /* NULL: see "Device selection strings" above */
    const char *cache_dir;  /* NULL: env SEQBOAT_CACHE_DIR, else $XDG_CACHE_HOME/seqboat,
                               else ~/.cache/seqboat; "off": no disk cache */
    int profiling;          /* 0: per-phase device timings (sb_model_phase_ms) when 1 */
} sb_options;

/* The defaults above. */
SB_API sb_options sb_options_default(void);

/* Load a model file (safetensors, SPEC section 4) onto a device. opt may be NULL.
 * On failure *out is NULL and sb_last_error() names the problem. */
SB_API sb_status sb_model_load(const char *path, const sb_options *opt, sb_model **out);
SB_API void sb_model_free(sb_model *m);
/* Message of the last failed call on m ("" when none). Valid until the next call on m. */
SB_API const char *sb_model_last_error(const sb_model *m);

typedef enum sb_task_kind { SB_CLASSIFY = 0, SB_SEQUENCE = 1, SB_LM = 2 } sb_task_kind;

typedef struct sb_model_info {
    sb_task_kind task;
    int d_input, vocab_size, d_output, d_model, n_layers, d_qk, d_hidden, d_ema;
    int mem_size, max_positions, truncation;
    int bidirectional, prenorm, rotary, softmax, batchnorm;
    uint64_t n_params;
    char device[256];       /* name of the device the model runs on */
} sb_model_info;
SB_API sb_status sb_model_get_info(const sb_model *m, sb_model_info *info);

/* Forward a padded batch.
 *   x:       float [batch][length][d_input]  (classify, sequence; NULL for lm)
 *   ids:     int32 [batch][length] token ids (lm; NULL otherwise)
 *   lengths: int32 [batch], each 1..length, or NULL (= all length)
 *   out:     float [batch][length][d_output] (sequence, lm; 0 at padded positions)
 *            or [batch][d_output] (classify: mean over valid positions, then decoder)
 * Buffers are the caller's; nothing is kept after the call returns. */
SB_API sb_status sb_model_forward(sb_model *m, int batch, int length, const float *x,
                                  const int32_t *ids, const int32_t *lengths, float *out);

/* Run SPEC section 5 files: reads `input` (+ optional `lengths`) from in_path,
 * writes `output` to out_path (written to a temporary file, then renamed). */
SB_API sb_status sb_model_run_file(sb_model *m, const char *in_path, const char *out_path);

/* Per-layer figures of the last forward: valid tokens, activated tokens, ms. */
SB_API sb_status sb_model_layer_stats(const sb_model *m, int layer, int *tokens, int *activated,
                                      double *ms);
/* Plan activation memory for a shape now (normally done by the first forward
 * of that size) and report the planned device peak in bytes. */
SB_API sb_status sb_model_plan(sb_model *m, int batch, int length, size_t *peak_bytes);
/* A note from the program cache (e.g. why the disk cache is off) or NULL. */
SB_API const char *sb_model_cache_note(const sb_model *m);

/* Describe a model file without a device: config, tensors, parameter count.
 * *text is malloc'd; release it with sb_free. */
SB_API sb_status sb_inspect(const char *path, char **text);
SB_API void sb_free(void *p);

/* ---- streaming decode ------------------------------------------------------
 * A stream carries, per layer, the EMA state (D x N, plus the last `truncation`
 * inputs when the kernel is truncated) and a ring of the last W activated
 * tokens' keys, values and positions: each step costs the same at any position.
 * Only causal lm/sequence models stream (others: SB_ERR_STATE). Several streams
 * may be open on one model; a stream and its model are used by one thread at a
 * time. Outputs are d_output floats per token (logits for lm). */
typedef struct sb_stream sb_stream;

SB_API sb_status sb_stream_open(sb_model *m, sb_stream **out);
SB_API void sb_stream_free(sb_stream *s);
/* Back to position 0 (state cleared). */
SB_API sb_status sb_stream_reset(sb_stream *s);
SB_API const char *sb_stream_last_error(const sb_stream *s);
/* Tokens consumed so far. */
SB_API long sb_stream_position(const sb_stream *s);

/* Feed n >= 1 tokens. At position 0 this is a prefill through the parallel
 * forward that hands over exactly the state the step path builds; later, the
 * tokens are stepped one by one. out_all [n][d_output] and out_last
 * [d_output] may each be NULL. ids for lm, x [n][d_input] for sequence models. */
SB_API sb_status sb_stream_feed_ids(sb_stream *s, const int32_t *ids, int n, float *out_all,
                                    float *out_last);
SB_API sb_status sb_stream_feed(sb_stream *s, const float *x, int n, float *out_all,
                                float *out_last);
/* One token: its outputs into out [d_output]. */
SB_API sb_status sb_stream_step_id(sb_stream *s, int32_t id, float *out);
SB_API sb_status sb_stream_step(sb_stream *s, const float *x, float *out);
/* Activated tokens per layer counted over steps (not prefill) since open/reset. */
SB_API sb_status sb_stream_layer_activity(const sb_stream *s, int layer, long *steps,
                                          long *activated);

#ifdef __cplusplus
}
#endif
#endif /* SEQBOAT_H */
