/* safetensors.c - strict safetensors reader and writer (see safetensors.h). */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"
#include "sb_half.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

struct sb_st_file {
    unsigned char *data;   /* data region (malloc: aligned for any type) */
    size_t data_len;
    unsigned char *extra;  /* aligned copies of tensors at misaligned offsets */
    sb_tensor *t;
    int n;
    const sb_tensor **sorted; /* by name, for sb_st_find */
    char **meta_k, **meta_v;
    int n_meta;
};

/* 2^53: every integer up to here is exact in a double. */
#define ST_MAX_JSON_INT 9007199254740992.0

static int host_little_endian(void) {
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static char *st_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static uint64_t read_le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

size_t sb_st_dtype_size(const char *dt) {
    static const struct { const char *name; size_t size; } tab[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
        {"I16", 2}, {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2}, {"U8", 1},
        {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"C64", 8}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(dt, tab[i].name) == 0) return tab[i].size;
    return 0;
}

const char *sb_dtype_name(sb_dtype dt) {
    switch (dt) {
    case SB_DT_F32: return "F32";
    case SB_DT_I64: return "I64";
    case SB_DT_I32: return "I32";
    case SB_DT_F16: return "F16";
    case SB_DT_BF16: return "BF16";
    default: return "?";
    }
}

size_t sb_dtype_size(sb_dtype dt) {
    switch (dt) {
    case SB_DT_F32: case SB_DT_I32: return 4;
    case SB_DT_I64: return 8;
    case SB_DT_F16: case SB_DT_BF16: return 2;
    default: return 0;
    }
}

int sb_dtype_is_float(sb_dtype dt) {
    return dt == SB_DT_F32 || dt == SB_DT_F16 || dt == SB_DT_BF16;
}

size_t sb_st_numel(const sb_tensor *t) {
    size_t es = t ? sb_dtype_size(t->dtype) : 0;
    return es ? t->nbytes / es : 0;
}

int sb_st_to_f32(const sb_tensor *t, float *dst) {
    if (!t || !sb_dtype_is_float(t->dtype)) return 0;
    const size_t n = sb_st_numel(t);
    const unsigned char *p = t->data;
    if (t->dtype == SB_DT_F32) {
        if (n) memcpy(dst, p, n * sizeof(float));
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        const uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)); /* little-endian */
        dst[i] = t->dtype == SB_DT_F16 ? sb_half_to_float(h) : sb_bf16_to_float(h);
    }
    return 1;
}

static sb_dtype dtype_from_name(const char *s) {
    if (strcmp(s, "F32") == 0) return SB_DT_F32;
    if (strcmp(s, "I64") == 0) return SB_DT_I64;
    if (strcmp(s, "I32") == 0) return SB_DT_I32;
    if (strcmp(s, "F16") == 0) return SB_DT_F16;
    if (strcmp(s, "BF16") == 0) return SB_DT_BF16;
    return SB_DT_OTHER;
}

/* A JSON number that is a non-negative integer no larger than 2^53. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0 && d <= ST_MAX_JSON_INT)) return 0; /* also rejects NaN */
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return 0;
    *out = u;
    return 1;
}

void sb_st_free(sb_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_k[i]);
        free(f->meta_v[i]);
    }
    free(f->t);
    free(f->sorted);
    free(f->meta_k);
    free(f->meta_v);
    free(f->extra);
    free(f->data);
    free(f);
}

static int cmp_tensor_ptr(const void *a, const void *b) {
    const sb_tensor *x = *(const sb_tensor *const *)a, *y = *(const sb_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static sb_status parse_metadata(sb_st_file *f, const cJSON *md, sb_err *e) {
    if (!cJSON_IsObject(md))
        return sb_fail(e, SB_ERR_FORMAT, "safetensors '__metadata__' is not a JSON object "
                       "(expected an object of string values)");
    int n = cJSON_GetArraySize(md);
    if (n == 0) return SB_OK;
    f->meta_k = calloc((size_t)n, sizeof *f->meta_k);
    f->meta_v = calloc((size_t)n, sizeof *f->meta_v);
    if (!f->meta_k || !f->meta_v) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of memory for metadata");
    const cJSON *kv;
    cJSON_ArrayForEach(kv, md) {
        const char *key = kv->string ? kv->string : "";
        if (!cJSON_IsString(kv) || !kv->valuestring)
            return sb_fail(e, SB_ERR_FORMAT, "safetensors metadata key '%s' has a non-string value "
                           "(all '__metadata__' values must be strings)", key);
        for (int i = 0; i < f->n_meta; i++)
            if (strcmp(f->meta_k[i], key) == 0)
                return sb_fail(e, SB_ERR_FORMAT, "safetensors metadata key '%s' appears twice", key);
        char *k = st_strdup(key), *v = st_strdup(kv->valuestring);
        if (!k || !v) {
            free(k);
            free(v);
            return sb_fail(e, SB_ERR_HOST_MEMORY, "out of memory for metadata");
        }
        f->meta_k[f->n_meta] = k;
        f->meta_v[f->n_meta] = v;
        f->n_meta++;
    }
    return SB_OK;
}

/* Validate one header entry into t (name already set). Records begin offset. */
static sb_status parse_entry(const cJSON *ent, sb_tensor *t, size_t data_len, uint64_t *begin_out,
                             sb_err *e) {
    const char *nm = t->name;
    if (!cJSON_IsObject(ent))
        return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': header entry is not a JSON object "
                       "(expected {\"dtype\", \"shape\", \"data_offsets\"})", nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(ent, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(ent, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(ent, "data_offsets");
    if (!dt) return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': missing 'dtype'", nm);
    if (!sh) return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': missing 'shape'", nm);
    if (!of) return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': missing 'data_offsets'", nm);
    if (!cJSON_IsString(dt) || !dt->valuestring)
        return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': 'dtype' is not a string (expected e.g. \"F32\")", nm);
    size_t dl = strlen(dt->valuestring);
    if (dl == 0 || dl >= sizeof t->dtype_name)
        return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': 'dtype' \"%.40s\" is not a dtype name", nm,
                       dt->valuestring);
    memcpy(t->dtype_name, dt->valuestring, dl + 1);
    t->dtype = dtype_from_name(t->dtype_name);

    if (!cJSON_IsArray(sh))
        return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': 'shape' is not an array of integers", nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > SB_ST_MAX_DIMS)
        return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': 'shape' has %d dims, at most %d are supported",
                       nm, nd, SB_ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t count = 1;
    int overflow = 0, k = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        uint64_t v;
        if (!json_uint(d, &v))
            return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': shape dim %d is not a non-negative integer",
                           nm, k);
        t->shape[k++] = (int64_t)v;
        if (v != 0 && count > UINT64_MAX / v) overflow = 1;
        else count *= v;
    }
    for (int i = 0; i < nd; i++)
        if (t->shape[i] == 0) overflow = 0, count = 0; /* any zero dim: empty tensor */

    uint64_t b, en;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || !json_uint(of->child, &b) ||
        !json_uint(of->child->next, &en))
        return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': 'data_offsets' is not an array of two "
                       "non-negative integers", nm);
    if (b > en)
        return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] are reversed "
                       "(begin must not exceed end)", nm, (unsigned long long)b, (unsigned long long)en);
    if (en > (uint64_t)data_len)
        return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] lie beyond the data "
                       "region (%llu bytes)", nm, (unsigned long long)b, (unsigned long long)en,
                       (unsigned long long)data_len);
    size_t es = sb_st_dtype_size(t->dtype_name);
    if (overflow || (es && count > UINT64_MAX / es) || count > (uint64_t)SIZE_MAX)
        return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': the element count of its shape overflows", nm);
    if (es && count * es != en - b)
        return sb_fail(e, SB_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but "
                       "%llu elements of %s need %llu", nm, (unsigned long long)b,
                       (unsigned long long)en, (unsigned long long)(en - b), (unsigned long long)count,
                       t->dtype_name, (unsigned long long)(count * es));
    t->nbytes = (size_t)(en - b);
    *begin_out = b;
    return SB_OK;
}

/* Parse a header (hdr[0..hlen), not NUL-terminated) over a data region that f
 * already owns. */
static sb_status parse_header(sb_st_file *f, const char *hdr, size_t hlen, sb_err *e) {
    sb_status st = SB_OK;
    uint64_t *begins = NULL;
    char *text = malloc(hlen + 1);
    cJSON *root = NULL;
    if (!text) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory for a %zu-byte header", hlen);
    memcpy(text, hdr, hlen);
    text[hlen] = '\0';
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, hlen + 1, &end, 0);
    if (!root) {
        size_t at = (end && end >= text && end <= text + hlen) ? (size_t)(end - text) : 0;
        SB_FAIL(SB_ERR_FORMAT, "safetensors header is not valid JSON (error near byte %zu of %zu)",
                at, hlen);
    }
    /* Only padding may follow the JSON value. */
    for (const char *p = end ? end : text + hlen; p < text + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\0')
            SB_FAIL(SB_ERR_FORMAT, "safetensors header has trailing bytes after the JSON object "
                    "(at byte %zu)", (size_t)(p - text));
    if (!cJSON_IsObject(root))
        SB_FAIL(SB_ERR_FORMAT, "safetensors header is not a JSON object (expected "
                "{\"name\": {...}, ...})");

    int total = cJSON_GetArraySize(root), nt = 0, seen_meta = 0;
    const cJSON *ent;
    cJSON_ArrayForEach(ent, root) {
        if (ent->string && strcmp(ent->string, "__metadata__") == 0) {
            if (seen_meta++) SB_FAIL(SB_ERR_FORMAT, "safetensors header has '__metadata__' twice");
            SB_TRY(parse_metadata(f, ent, e));
        }
    }
    if (total > 0) {
        f->t = calloc((size_t)total, sizeof *f->t);
        begins = calloc((size_t)total, sizeof *begins);
        if (!f->t || !begins) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory for %d tensors", total);
    }
    cJSON_ArrayForEach(ent, root) {
        const char *name = ent->string ? ent->string : "";
        if (strcmp(name, "__metadata__") == 0) continue;
        sb_tensor *t = &f->t[nt];
        t->name = st_strdup(name);
        if (!t->name) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory for tensor names");
        f->n = ++nt;
        SB_TRY(parse_entry(ent, t, f->data_len, &begins[nt - 1], e));
    }

    /* Name index; duplicates are an error. */
    if (nt > 0) {
        f->sorted = malloc((size_t)nt * sizeof *f->sorted);
        if (!f->sorted) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory for the tensor index");
        for (int i = 0; i < nt; i++) f->sorted[i] = &f->t[i];
        qsort(f->sorted, (size_t)nt, sizeof *f->sorted, cmp_tensor_ptr);
        for (int i = 1; i < nt; i++)
            if (strcmp(f->sorted[i - 1]->name, f->sorted[i]->name) == 0)
                SB_FAIL(SB_ERR_FORMAT, "tensor '%s' appears twice in the safetensors header",
                        f->sorted[i]->name);
    }

    /* Data pointers: in place when 8-aligned, else copied to aligned storage. */
    size_t extra = 0;
    for (int i = 0; i < nt; i++)
        if (f->t[i].nbytes && begins[i] % 8 != 0) {
            size_t r = (f->t[i].nbytes + 7) & ~(size_t)7; /* nbytes <= data_len: no overflow */
            if (extra > SIZE_MAX - r) SB_FAIL(SB_ERR_HOST_MEMORY, "aligned copies overflow size_t");
            extra += r;
        }
    if (extra) {
        f->extra = malloc(extra);
        if (!f->extra) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory for %zu bytes of aligned tensor copies",
                               extra);
    }
    size_t at = 0;
    for (int i = 0; i < nt; i++) {
        sb_tensor *t = &f->t[i];
        if (t->nbytes == 0) {
            t->data = f->data;
        } else if (begins[i] % 8 == 0) {
            t->data = f->data + begins[i];
        } else {
            memcpy(f->extra + at, f->data + begins[i], t->nbytes);
            t->data = f->extra + at;
            at += (t->nbytes + 7) & ~(size_t)7;
        }
    }
done:
    cJSON_Delete(root);
    free(text);
    free(begins);
    return st;
}

static sb_status check_header_len(uint64_t hlen, uint64_t after, sb_err *e) {
    if (hlen == 0)
        return sb_fail(e, SB_ERR_FORMAT, "safetensors header length is 0 (expected a JSON header)");
    if (hlen > after)
        return sb_fail(e, SB_ERR_FORMAT, "safetensors header length %llu goes beyond the end of the "
                       "file (%llu bytes follow the length field)", (unsigned long long)hlen,
                       (unsigned long long)after);
    if (hlen > SB_ST_MAX_HEADER)
        return sb_fail(e, SB_ERR_FORMAT, "safetensors header length %llu is absurd (limit %llu bytes)",
                       (unsigned long long)hlen, (unsigned long long)SB_ST_MAX_HEADER);
    return SB_OK;
}

static sb_status new_file(size_t data_len, sb_st_file **out, sb_err *e) {
    sb_st_file *f = calloc(1, sizeof *f);
    if (!f) return sb_fail(e, SB_ERR_HOST_MEMORY, "out of memory");
    f->data_len = data_len;
    f->data = malloc(data_len > 8 ? data_len : 8); /* malloc: aligned for any type */
    if (!f->data) {
        free(f);
        return sb_fail(e, SB_ERR_HOST_MEMORY, "out of memory for %zu bytes of tensor data", data_len);
    }
    *out = f;
    return SB_OK;
}

sb_status sb_st_from_memory(const void *bytes, size_t n, sb_st_file **out, sb_err *e) {
    if (!out) return sb_fail(e, SB_ERR_ARG, "sb_st_from_memory: out is NULL");
    *out = NULL;
    if (!bytes && n) return sb_fail(e, SB_ERR_ARG, "sb_st_from_memory: bytes is NULL");
    if (!host_little_endian())
        return sb_fail(e, SB_ERR_UNSUPPORTED, "safetensors reading needs a little-endian host");
    const unsigned char *b = bytes;
    if (n < 8)
        return sb_fail(e, SB_ERR_FORMAT, "safetensors data is %zu bytes, shorter than the 8-byte "
                       "header length field", n);
    uint64_t hlen = read_le64(b);
    sb_status st = check_header_len(hlen, (uint64_t)(n - 8), e);
    if (st != SB_OK) return st;
    size_t dlen = n - 8 - (size_t)hlen;
    sb_st_file *f = NULL;
    SB_TRY(new_file(dlen, &f, e));
    if (dlen) memcpy(f->data, b + 8 + hlen, dlen);
    SB_TRY(parse_header(f, (const char *)b + 8, (size_t)hlen, e));
    *out = f;
    f = NULL;
done:
    sb_st_free(f);
    return st;
}

static sb_status read_exact(FILE *fp, void *dst, size_t n, const char *path, const char *what,
                            sb_err *e) {
    if (n && fread(dst, 1, n, fp) != n)
        return sb_fail(e, SB_ERR_IO, "cannot read the %s of '%s' (%zu bytes): %s", what, path, n,
                       ferror(fp) ? strerror(errno) : "unexpected end of file");
    return SB_OK;
}

sb_status sb_st_open(const char *path, sb_st_file **out, sb_err *e) {
    if (!out) return sb_fail(e, SB_ERR_ARG, "sb_st_open: out is NULL");
    *out = NULL;
    if (!path) return sb_fail(e, SB_ERR_ARG, "sb_st_open: path is NULL");
    if (!host_little_endian())
        return sb_fail(e, SB_ERR_UNSUPPORTED, "safetensors reading needs a little-endian host");
    sb_status st = SB_OK;
    sb_st_file *f = NULL;
    char *hdr = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) SB_FAIL(SB_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sbuf;
    if (fstat(fileno(fp), &sbuf) != 0) SB_FAIL(SB_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
    if (!S_ISREG(sbuf.st_mode)) SB_FAIL(SB_ERR_IO, "'%s' is not a regular file", path);
    uint64_t size = (uint64_t)sbuf.st_size;
    if (size < 8)
        SB_FAIL(SB_ERR_FORMAT, "file is %llu bytes, shorter than the 8-byte safetensors header "
                "length field", (unsigned long long)size);
    unsigned char lenb[8];
    SB_TRY(read_exact(fp, lenb, 8, path, "header length", e));
    uint64_t hlen = read_le64(lenb);
    SB_TRY(check_header_len(hlen, size - 8, e));
    uint64_t dlen64 = size - 8 - hlen;
    if (dlen64 > (uint64_t)SIZE_MAX) SB_FAIL(SB_ERR_HOST_MEMORY, "'%s' is too large to load", path);
    hdr = malloc((size_t)hlen);
    if (!hdr) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory for the header of '%s'", path);
    SB_TRY(read_exact(fp, hdr, (size_t)hlen, path, "header", e));
    SB_TRY(new_file((size_t)dlen64, &f, e));
    SB_TRY(read_exact(fp, f->data, (size_t)dlen64, path, "tensor data", e));
    SB_TRY(parse_header(f, hdr, (size_t)hlen, e));
    *out = f;
    f = NULL;
done:
    if (fp) fclose(fp);
    free(hdr);
    sb_st_free(f);
    if (st != SB_OK && st != SB_ERR_IO && st != SB_ERR_ARG && e) { /* name the file */
        char tmp[SB_ERR_MSG_MAX];
        snprintf(tmp, sizeof tmp, "%s", e->msg);
        sb_fail(e, st, "'%s': %s", path, tmp);
    }
    return st;
}

int sb_st_count(const sb_st_file *f) { return f ? f->n : 0; }

const sb_tensor *sb_st_at(const sb_st_file *f, int i) {
    return (f && i >= 0 && i < f->n) ? &f->t[i] : NULL;
}

const sb_tensor *sb_st_find(const sb_st_file *f, const char *name) {
    if (!f || !name || f->n == 0) return NULL;
    sb_tensor key;
    key.name = (char *)name;
    const sb_tensor *kp = &key;
    const sb_tensor **hit = bsearch(&kp, f->sorted, (size_t)f->n, sizeof *f->sorted, cmp_tensor_ptr);
    return hit ? *hit : NULL;
}

const char *sb_st_meta(const sb_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_k[i], key) == 0) return f->meta_v[i];
    return NULL;
}

int sb_st_meta_count(const sb_st_file *f) { return f ? f->n_meta : 0; }

int sb_st_meta_at(const sb_st_file *f, int i, const char **key, const char **value) {
    if (!f || i < 0 || i >= f->n_meta) return 0;
    if (key) *key = f->meta_k[i];
    if (value) *value = f->meta_v[i];
    return 1;
}

/* ---- writer ---------------------------------------------------------------- */

static sb_status out_nbytes(const sb_st_out *t, int idx, size_t *nbytes, sb_err *e) {
    if (!t->name || !t->name[0])
        return sb_fail(e, SB_ERR_ARG, "sb_st_write: tensor #%d has no name", idx);
    if (strcmp(t->name, "__metadata__") == 0)
        return sb_fail(e, SB_ERR_ARG, "sb_st_write: '__metadata__' is not a valid tensor name");
    size_t es = sb_dtype_size(t->dtype);
    if (!es)
        return sb_fail(e, SB_ERR_ARG, "sb_st_write: tensor '%s' has an unsupported dtype "
                       "(F32, F16, BF16, I64 or I32 can be written)", t->name);
    if (t->ndim < 0 || t->ndim > SB_ST_MAX_DIMS || (t->ndim > 0 && !t->shape))
        return sb_fail(e, SB_ERR_ARG, "sb_st_write: tensor '%s' has %d dims (expected 0..%d with a shape)",
                       t->name, t->ndim, SB_ST_MAX_DIMS);
    size_t n = es;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0 || (double)t->shape[i] > ST_MAX_JSON_INT)
            return sb_fail(e, SB_ERR_ARG, "sb_st_write: tensor '%s' dim %d is %lld", t->name, i,
                           (long long)t->shape[i]);
        if (t->shape[i] == 0) n = 0;
        else if (n && (n = sb_mul_size(n, (size_t)t->shape[i])) == 0)
            return sb_fail(e, SB_ERR_ARG, "sb_st_write: tensor '%s' is too large", t->name);
    }
    if (n && !t->data) return sb_fail(e, SB_ERR_ARG, "sb_st_write: tensor '%s' has no data", t->name);
    *nbytes = n;
    return SB_OK;
}

static sb_status write_all(FILE *fp, const void *p, size_t n, const char *tmp, sb_err *e) {
    if (n && fwrite(p, 1, n, fp) != n)
        return sb_fail(e, SB_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    return SB_OK;
}

sb_status sb_st_write(const char *path, const sb_st_out *t, int n, const char *const *meta_kv,
                      sb_err *e) {
    sb_status st = SB_OK;
    cJSON *root = NULL;
    char *json = NULL, *tmp = NULL;
    FILE *fp = NULL;
    if (!path || n < 0 || (n > 0 && !t)) return sb_fail(e, SB_ERR_ARG, "sb_st_write: bad arguments");
    if (!host_little_endian())
        return sb_fail(e, SB_ERR_UNSUPPORTED, "safetensors writing needs a little-endian host");
    root = cJSON_CreateObject();
    if (!root) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory building a safetensors header");
    if (meta_kv && meta_kv[0]) {
        cJSON *md = cJSON_AddObjectToObject(root, "__metadata__");
        if (!md) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory building a safetensors header");
        for (int i = 0; meta_kv[i]; i += 2) {
            if (!meta_kv[i + 1])
                SB_FAIL(SB_ERR_ARG, "sb_st_write: metadata key '%s' has no value", meta_kv[i]);
            if (cJSON_GetObjectItemCaseSensitive(md, meta_kv[i]))
                SB_FAIL(SB_ERR_ARG, "sb_st_write: metadata key '%s' given twice", meta_kv[i]);
            if (!cJSON_AddStringToObject(md, meta_kv[i], meta_kv[i + 1]))
                SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory building a safetensors header");
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t nb = 0;
        SB_TRY(out_nbytes(&t[i], i, &nb, e));
        if (cJSON_GetObjectItemCaseSensitive(root, t[i].name))
            SB_FAIL(SB_ERR_ARG, "sb_st_write: tensor '%s' given twice", t[i].name);
        cJSON *ent = cJSON_AddObjectToObject(root, t[i].name);
        cJSON *sh = ent ? cJSON_AddArrayToObject(ent, "shape") : NULL;
        cJSON *of = ent ? cJSON_AddArrayToObject(ent, "data_offsets") : NULL;
        if (!sh || !of || !cJSON_AddStringToObject(ent, "dtype", sb_dtype_name(t[i].dtype)))
            SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory building a safetensors header");
        for (int d = 0; d < t[i].ndim; d++) {
            cJSON *v = cJSON_CreateNumber((double)t[i].shape[d]);
            if (!v || !cJSON_AddItemToArray(sh, v)) {
                cJSON_Delete(v);
                SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory building a safetensors header");
            }
        }
        cJSON *b = cJSON_CreateNumber((double)off), *en = cJSON_CreateNumber((double)(off + nb));
        if (!b || !en || !cJSON_AddItemToArray(of, b)) {
            cJSON_Delete(b);
            cJSON_Delete(en);
            SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory building a safetensors header");
        }
        if (!cJSON_AddItemToArray(of, en)) {
            cJSON_Delete(en);
            SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory building a safetensors header");
        }
        off += nb;
        if ((double)off > ST_MAX_JSON_INT) SB_FAIL(SB_ERR_ARG, "sb_st_write: tensors too large");
    }
    json = cJSON_PrintUnformatted(root);
    if (!json) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory printing a safetensors header");
    size_t jl = strlen(json), pad = (8 - (8 + jl) % 8) % 8;
    unsigned char lenb[8];
    uint64_t hl = (uint64_t)(jl + pad);
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(hl >> (8 * i));

    size_t pl = strlen(path);
    tmp = malloc(pl + 64);
    if (!tmp) SB_FAIL(SB_ERR_HOST_MEMORY, "out of memory");
    /* pid + an address on this call's stack: unique among concurrent writers, also
     * threads of one process writing the same path */
    snprintf(tmp, pl + 64, "%s.tmp.%ld.%p", path, (long)getpid(), (void *)lenb);
    fp = fopen(tmp, "wb");
    if (!fp) SB_FAIL(SB_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    SB_TRY(write_all(fp, lenb, 8, tmp, e));
    SB_TRY(write_all(fp, json, jl, tmp, e));
    SB_TRY(write_all(fp, "        ", pad, tmp, e));
    for (int i = 0; i < n; i++) {
        size_t nb = 0;
        SB_TRY(out_nbytes(&t[i], i, &nb, e));
        SB_TRY(write_all(fp, t[i].data, nb, tmp, e));
    }
    if (fflush(fp) != 0) SB_FAIL(SB_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    int rc = fclose(fp);
    fp = NULL;
    if (rc != 0) SB_FAIL(SB_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0)
        SB_FAIL(SB_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    free(tmp);
    tmp = NULL;
done:
    if (fp) fclose(fp);
    if (tmp) remove(tmp);
    free(tmp);
    free(json);
    cJSON_Delete(root);
    return st;
}
