/*
 * safetensors.h - a strict reader and a writer for the safetensors format:
 * 8-byte little-endian header length, a JSON header, raw little-endian data.
 *
 * Reader contract
 *   - Everything the header says is checked against the bytes before use:
 *     header length, JSON shape, dtype, shape (at most 8 dims, no negative dim,
 *     no element-count overflow), data_offsets (ordered, inside the data region),
 *     nbytes == elements * dtype size, `__metadata__` an object of strings,
 *     no duplicate tensor names. A broken file yields SB_ERR_FORMAT (SB_ERR_IO
 *     when it cannot be opened or read) with a message naming the tensor or key.
 *   - F32, F16, BF16, I64 and I32 parse to their sb_dtype; any other dtype
 *     (F64, I8, ...) parses as SB_DT_OTHER, its size still checked when the
 *     name is a safetensors dtype (dtype_name keeps the file's spelling);
 *     callers decide whether they accept them. sb_st_to_f32() widens an F32,
 *     F16 or BF16 tensor to f32 exactly (sb_half.h).
 *   - Every tensor's `data` is 8-byte aligned: the data region is read into its
 *     own allocation, and a tensor whose offset is not a multiple of 8 is copied
 *     to aligned storage. Overlapping tensors are accepted.
 *   - The sb_st_file owns all bytes, names and metadata; pointers returned by
 *     the accessors live until sb_st_free(). A file handle is read-only after
 *     opening, so concurrent readers are fine.
 *   - Little-endian hosts only (SB_ERR_UNSUPPORTED otherwise).
 *
 * Writer contract
 *   - sb_st_write() writes `path` through a temporary file in the same folder
 *     and rename(); tensors are stored contiguously in the order given, the
 *     header is padded with spaces so that the data region starts at a
 *     multiple of 8 bytes.
 */
#ifndef SB_SAFETENSORS_H
#define SB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "internal.h"

#define SB_ST_MAX_DIMS 8
#define SB_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* bytes */

typedef enum { SB_DT_F32, SB_DT_I64, SB_DT_I32, SB_DT_F16, SB_DT_BF16, SB_DT_OTHER } sb_dtype;

typedef struct sb_tensor {
    char *name;
    sb_dtype dtype;
    char dtype_name[16];            /* as spelled in the file, e.g. "BF16" */
    int ndim;                       /* 0..SB_ST_MAX_DIMS */
    int64_t shape[SB_ST_MAX_DIMS];
    size_t nbytes;
    const void *data;               /* aligned to 8 bytes; never NULL */
} sb_tensor;

typedef struct sb_st_file sb_st_file; /* opaque: owns the bytes, tensors, metadata */

/* Open and validate a file. On failure *out is NULL. */
sb_status sb_st_open(const char *path, sb_st_file **out, sb_err *e);
/* Same from bytes in memory; the bytes are copied (the caller keeps them). */
sb_status sb_st_from_memory(const void *bytes, size_t n, sb_st_file **out, sb_err *e);

/* Tensors in header order. */
int sb_st_count(const sb_st_file *f);
const sb_tensor *sb_st_at(const sb_st_file *f, int i);    /* NULL if out of range */
const sb_tensor *sb_st_find(const sb_st_file *f, const char *name); /* NULL if absent */
/* A `__metadata__` value; NULL if absent. */
const char *sb_st_meta(const sb_st_file *f, const char *key);
int sb_st_meta_count(const sb_st_file *f);
/* The i-th metadata pair (header order); returns 0 if i is out of range. */
int sb_st_meta_at(const sb_st_file *f, int i, const char **key, const char **value);
void sb_st_free(sb_st_file *f); /* accepts NULL */

/* Size in bytes of one element of a dtype spelled as in safetensors ("F32",
 * "BF16", ...); 0 if unknown. */
size_t sb_st_dtype_size(const char *dtype_name);
const char *sb_dtype_name(sb_dtype dt); /* "F32", "I64", "I32", "F16", "BF16", "?" */
/* Bytes of one element of dt; 0 for SB_DT_OTHER. */
size_t sb_dtype_size(sb_dtype dt);
/* F32, F16 or BF16: a float dtype sb_st_to_f32() reads. */
int sb_dtype_is_float(sb_dtype dt);
/* Element count of a parsed tensor (nbytes / element size; the product of
 * its shape); 0 for SB_DT_OTHER. */
size_t sb_st_numel(const sb_tensor *t);
/* Widen t (F32, F16 or BF16) into dst[sb_st_numel(t)] exactly (F16 NaN, inf
 * and subnormals included). Returns 0, writing nothing, for any other dtype. */
int sb_st_to_f32(const sb_tensor *t, float *dst);

/* One tensor to write. dtype must be F32, F16, BF16, I64 or I32 (F16/BF16 data
 * are the raw 16-bit patterns); data may be NULL only when the element count
 * is 0. */
typedef struct sb_st_out {
    const char *name;
    sb_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data;
} sb_st_out;

/* Write n tensors plus optional metadata (meta_kv: key, value, key, value, ...,
 * NULL; may be NULL). Through a temp file + rename(). */
sb_status sb_st_write(const char *path, const sb_st_out *t, int n,
                      const char *const *meta_kv, sb_err *e);

#endif
