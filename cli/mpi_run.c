/* mpi_run.c - `mpirun -np N seqboat run`: sbmpi_run_file (see sb_mpi.h for
 * the scheme). Uses only the public API (seqboat.h), MPI, cJSON and POSIX. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "sb_mpi.h"
#include "seqboat.h"

enum { DT_F32 = 0, DT_I64 = 1, DT_I32 = 2 };
#define MAX_HEADER ((uint64_t)100 * 1000 * 1000)

/* What rank 0 learns from the input file and broadcasts (plain integers). */
typedef struct plan {
    int64_t B, L, F;      /* F: values per position (d_input, or 1 for token ids) */
    int64_t dtype;        /* DT_* of `input` */
    int64_t in_off;       /* file offset of `input`'s first byte */
    int64_t out_per_seq;  /* output floats per sequence (L * d_output, or d_output) */
    int64_t out_off;      /* offset of `output`'s first byte in the output file */
} plan;

typedef struct ctx {
    MPI_Comm comm;
    int rank, size;
    char host[256];
    char msg[SBMPI_MSG];
} ctx;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A failure on this rank: the message, prefixed with the rank. */
static int fail(ctx *c, const char *fmt, const char *a, const char *b) {
    char detail[SBMPI_MSG - 300];
    snprintf(detail, sizeof detail, fmt, a ? a : "", b ? b : "");
    snprintf(c->msg, SBMPI_MSG, "rank %d of %d on %.200s: %s", c->rank, c->size, c->host, detail);
    return 0;
}

static int pread_all(int fd, void *buf, size_t n, int64_t off) {
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = pread(fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        p += got, n -= (size_t)got, off += got;
    }
    return 0;
}

static int pwrite_all(int fd, const void *buf, size_t n, int64_t off) {
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t put = pwrite(fd, p, n, (off_t)off);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return -1;
        p += put, n -= (size_t)put, off += put;
    }
    return 0;
}

/* ---- rank 0: the input file's header --------------------------------------------- */

typedef struct st_entry {
    int dtype; /* DT_*, or -1 */
    char dtype_name[16];
    int ndim;
    int64_t shape[8];
    uint64_t begin, end; /* data offsets */
} st_entry;

static void fmt_shape(char *buf, size_t cap, const st_entry *t) {
    size_t l = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->ndim && l < cap; i++)
        l += (size_t)snprintf(buf + l, cap - l, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (l < cap) snprintf(buf + l, cap - l, "]");
}

/* Entry `name` of the header: 1 found, 0 absent, -1 malformed (message in err). */
static int st_find(const cJSON *root, const char *name, uint64_t data_len, st_entry *t, char *err,
                   size_t cap) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!o) return 0;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(o, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(o, "data_offsets");
    if (!cJSON_IsObject(o) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) ||
        cJSON_GetArraySize(of) != 2 || cJSON_GetArraySize(sh) > 8) {
        snprintf(err, cap, "tensor '%s' has a malformed header entry", name);
        return -1;
    }
    memset(t, 0, sizeof *t);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dt->valuestring);
    t->dtype = !strcmp(dt->valuestring, "F32") ? DT_F32 : !strcmp(dt->valuestring, "I64") ? DT_I64
             : !strcmp(dt->valuestring, "I32") ? DT_I32 : -1;
    double n = 1;
    const cJSON *v;
    cJSON_ArrayForEach(v, sh) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
            v->valuedouble != (double)(int64_t)v->valuedouble) {
            snprintf(err, cap, "tensor '%s' has a bad shape", name);
            return -1;
        }
        t->shape[t->ndim++] = (int64_t)v->valuedouble;
        n *= v->valuedouble;
    }
    const cJSON *b = cJSON_GetArrayItem(of, 0), *e = cJSON_GetArrayItem(of, 1);
    if (!cJSON_IsNumber(b) || !cJSON_IsNumber(e) || b->valuedouble < 0 ||
        e->valuedouble < b->valuedouble || e->valuedouble > (double)data_len) {
        snprintf(err, cap, "tensor '%s' has data_offsets outside the file", name);
        return -1;
    }
    t->begin = (uint64_t)b->valuedouble;
    t->end = (uint64_t)e->valuedouble;
    double es = t->dtype == DT_I64 ? 8 : 4;
    if (t->dtype >= 0 && n * es != (double)(t->end - t->begin)) {
        snprintf(err, cap, "tensor '%s': data_offsets span %llu bytes, the shape needs %.0f", name,
                 (unsigned long long)(t->end - t->begin), n * es);
        return -1;
    }
    return 1;
}

/* Read and check the input file's header and lengths against the model. */
static int read_input_plan(const char *path, const sb_model_info *mi, plan *p, int32_t **lengths,
                           char *err, size_t cap) {
    int fd = open(path, O_RDONLY), ok = 0;
    char *json = NULL;
    cJSON *root = NULL;
    unsigned char lenb[8];
    struct stat sta;
    *lengths = NULL;
    if (fd < 0 || fstat(fd, &sta) != 0) {
        snprintf(err, cap, "cannot open '%s': %s", path, strerror(errno));
        goto out;
    }
    uint64_t hl = 0, size = (uint64_t)sta.st_size;
    if (size < 8 || pread_all(fd, lenb, 8, 0) != 0) {
        snprintf(err, cap, "'%s' is not a safetensors file (shorter than 8 bytes)", path);
        goto out;
    }
    for (int i = 0; i < 8; i++) hl |= (uint64_t)lenb[i] << (8 * i);
    if (hl < 2 || hl > MAX_HEADER || hl > size - 8) {
        snprintf(err, cap, "'%s': header length %llu does not fit the file", path,
                 (unsigned long long)hl);
        goto out;
    }
    json = malloc(hl + 1);
    if (!json || pread_all(fd, json, hl, 8) != 0) {
        snprintf(err, cap, "cannot read the header of '%s'", path);
        goto out;
    }
    json[hl] = '\0';
    root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        snprintf(err, cap, "'%s': the header is not a JSON object", path);
        goto out;
    }
    uint64_t data_len = size - 8 - hl;
    const int lm = mi->vocab_size > 0;
    char e2[512], got[200], want[64];
    st_entry in, ln;
    if (lm) snprintf(want, sizeof want, "I64 or I32 [B,L] token ids");
    else snprintf(want, sizeof want, "F32 [B,L,%d]", mi->d_input);
    int r = st_find(root, "input", data_len, &in, e2, sizeof e2);
    if (r <= 0) {
        snprintf(err, cap, "input '%s': %s", path, r < 0 ? e2 : "missing tensor 'input'");
        if (r == 0) snprintf(err + strlen(err), cap - strlen(err), " (expected %s)", want);
        goto out;
    }
    fmt_shape(got, sizeof got, &in);
    if (lm ? (in.dtype != DT_I64 && in.dtype != DT_I32) : in.dtype != DT_F32) {
        snprintf(err, cap, "input '%s': tensor 'input' has dtype %s, expected %s", path,
                 in.dtype_name, want);
        goto out;
    }
    if (in.ndim != (lm ? 2 : 3) || (!lm && in.shape[2] != mi->d_input) || in.shape[0] < 1 ||
        in.shape[1] < 1 || in.shape[0] > INT_MAX || in.shape[1] > INT_MAX) {
        snprintf(err, cap, "input '%s': tensor 'input' has shape %s, expected %s", path, got, want);
        goto out;
    }
    p->B = in.shape[0];
    p->L = in.shape[1];
    p->F = lm ? 1 : mi->d_input;
    p->dtype = in.dtype;
    p->in_off = (int64_t)(8 + hl + in.begin);
    p->out_per_seq = (mi->task == SB_CLASSIFY ? 1 : p->L) * (int64_t)mi->d_output;
    *lengths = malloc((size_t)p->B * sizeof **lengths);
    if (!*lengths) {
        snprintf(err, cap, "out of host memory for %lld lengths", (long long)p->B);
        goto out;
    }
    r = st_find(root, "lengths", data_len, &ln, e2, sizeof e2);
    if (r < 0) {
        snprintf(err, cap, "input '%s': %s", path, e2);
        goto out;
    }
    if (r == 0) {
        for (int64_t b = 0; b < p->B; b++) (*lengths)[b] = (int32_t)p->L;
    } else {
        if (ln.dtype != DT_I64 && ln.dtype != DT_I32) {
            snprintf(err, cap, "input '%s': tensor 'lengths' has dtype %s, expected I64 or I32",
                     path, ln.dtype_name);
            goto out;
        }
        if (ln.ndim != 1 || ln.shape[0] != p->B) {
            fmt_shape(got, sizeof got, &ln);
            snprintf(err, cap, "input '%s': tensor 'lengths' has shape %s, expected [%lld] (B)",
                     path, got, (long long)p->B);
            goto out;
        }
        size_t es = ln.dtype == DT_I64 ? 8 : 4;
        unsigned char *raw = malloc((size_t)p->B * es);
        if (!raw || pread_all(fd, raw, (size_t)p->B * es, (int64_t)(8 + hl + ln.begin)) != 0) {
            free(raw);
            snprintf(err, cap, "cannot read 'lengths' of '%s'", path);
            goto out;
        }
        for (int64_t b = 0; b < p->B; b++) {
            int64_t v;
            if (es == 8) memcpy(&v, raw + b * 8, 8);
            else {
                int32_t v4;
                memcpy(&v4, raw + b * 4, 4);
                v = v4;
            }
            if (v < 1 || v > p->L) {
                snprintf(err, cap, "input '%s': lengths[%lld] = %lld is outside 1..%lld (L)", path,
                         (long long)b, (long long)v, (long long)p->L);
                free(raw);
                goto out;
            }
            (*lengths)[b] = (int32_t)v;
        }
        free(raw);
    }
    ok = 1;
out:
    if (!ok) {
        free(*lengths);
        *lengths = NULL;
    }
    cJSON_Delete(root);
    free(json);
    if (fd >= 0) close(fd);
    return ok;
}

/* ---- rank 0: the output file, created at its final size ---------------------------- */

/* The header sb_model_run_file writes (safetensors.c's writer, same cJSON
 * calls), so that the file equals one process's byte for byte. */
static char *output_header(const plan *p, int task_classify, int d_output, size_t *len) {
    cJSON *root = cJSON_CreateObject(), *ent, *sh, *of;
    char *json = NULL, *out = NULL;
    int64_t shape[3] = {p->B, p->L, d_output}, cshape[2] = {p->B, d_output};
    const int64_t *s = task_classify ? cshape : shape;
    int nd = task_classify ? 2 : 3;
    double bytes = (double)p->B * (double)p->out_per_seq * 4.0;
    if (!root || !(ent = cJSON_AddObjectToObject(root, "output")) ||
        !(sh = cJSON_AddArrayToObject(ent, "shape")) ||
        !(of = cJSON_AddArrayToObject(ent, "data_offsets")) ||
        !cJSON_AddStringToObject(ent, "dtype", "F32"))
        goto out;
    for (int d = 0; d < nd; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)s[d]));
    cJSON_AddItemToArray(of, cJSON_CreateNumber(0));
    cJSON_AddItemToArray(of, cJSON_CreateNumber(bytes));
    if (cJSON_GetArraySize(sh) != nd || cJSON_GetArraySize(of) != 2) goto out;
    json = cJSON_PrintUnformatted(root);
    if (!json) goto out;
    size_t jl = strlen(json), pad = (8 - (8 + jl) % 8) % 8;
    out = malloc(8 + jl + pad);
    if (!out) goto out;
    uint64_t hl = jl + pad;
    for (int i = 0; i < 8; i++) out[i] = (char)(unsigned char)(hl >> (8 * i));
    memcpy(out + 8, json, jl);
    memset(out + 8 + jl, ' ', pad);
    *len = 8 + jl + pad;
out:
    free(json);
    cJSON_Delete(root);
    return out;
}

static int create_output(const char *tmp, const plan *p, const sb_model_info *mi, int64_t *data_off,
                         char *err, size_t cap) {
    size_t hlen = 0;
    char *h = output_header(p, mi->task == SB_CLASSIFY, mi->d_output, &hlen);
    if (!h) {
        snprintf(err, cap, "out of host memory building the output header");
        return 0;
    }
    int ok = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    int64_t total = (int64_t)hlen + p->B * p->out_per_seq * 4;
    if (fd < 0) snprintf(err, cap, "cannot create '%s': %s", tmp, strerror(errno));
    else if (pwrite_all(fd, h, hlen, 0) != 0 || ftruncate(fd, (off_t)total) != 0)
        snprintf(err, cap, "cannot write '%s': %s", tmp, strerror(errno));
    else ok = 1;
    if (fd >= 0 && close(fd) != 0 && ok) {
        snprintf(err, cap, "cannot write '%s': %s", tmp, strerror(errno));
        ok = 0;
    }
    *data_off = (int64_t)hlen;
    free(h);
    return ok;
}

/* ---- every rank: its chunks ---------------------------------------------------------------- */

/* Read sequences [s, e) of the input, run them, write their outputs. */
static int run_chunk(ctx *c, sb_model *m, const sb_model_info *mi, const plan *p,
                     const int32_t *lengths, int in_fd, int out_fd, int64_t s, int64_t e,
                     unsigned char *inbuf, int32_t *ids, float *outbuf) {
    const int64_t es = p->dtype == DT_I64 ? 8 : 4, row = p->L * p->F * es, n = e - s;
    char num[128];
    if (pread_all(in_fd, inbuf, (size_t)(n * row), p->in_off + s * row) != 0)
        return fail(c, "cannot read the rows of 'input' (%s)", strerror(errno), NULL);
    if (mi->vocab_size > 0) {
        for (int64_t b = 0; b < n; b++)
            for (int64_t t = 0; t < p->L; t++) {
                int64_t i = b * p->L + t, v;
                if (es == 8) memcpy(&v, inbuf + i * 8, 8);
                else {
                    int32_t v4;
                    memcpy(&v4, inbuf + i * 4, 4);
                    v = v4;
                }
                if (t >= lengths[s + b]) v = 0; /* padding: any value, never read */
                else if (v < 0 || v >= mi->vocab_size) {
                    snprintf(num, sizeof num, "%lld at (b=%lld, t=%lld) is outside [0, %d)",
                             (long long)v, (long long)(s + b), (long long)t, mi->vocab_size);
                    return fail(c, "token id %s (vocab_size)%s", num, "");
                }
                ids[i] = (int32_t)v;
            }
    }
    if (sb_model_forward(m, (int)n, (int)p->L, mi->vocab_size > 0 ? NULL : (const float *)inbuf,
                         mi->vocab_size > 0 ? ids : NULL, lengths + s, outbuf) != SB_OK)
        return fail(c, "%s", sb_model_last_error(m), NULL);
    if (pwrite_all(out_fd, outbuf, (size_t)(n * p->out_per_seq * 4),
                   p->out_off + s * p->out_per_seq * 4) != 0)
        return fail(c, "cannot write the output rows (%s)", strerror(errno), NULL);
    return 1;
}

int sbmpi_run_file(MPI_Comm comm, const char *model, const char *in, const char *out,
                   const sbmpi_run_options *opt, char *msg) {
    ctx c;
    memset(&c, 0, sizeof c);
    c.comm = comm;
    MPI_Comm_rank(comm, &c.rank);
    MPI_Comm_size(comm, &c.size);
    sbmpi_host(c.host, sizeof c.host);
    sbmpi_run_options o = opt ? *opt : (sbmpi_run_options){0};
    if (o.chunk_tokens <= 0) o.chunk_tokens = 65536;
    sb_model *m = NULL;
    sb_model_info mi;
    plan p;
    int32_t *lengths = NULL, *ids = NULL;
    int *weight = NULL, *cut = NULL, ok = 1, rc = 1, in_fd = -1, out_fd = -1, made = 0;
    unsigned char *inbuf = NULL;
    float *outbuf = NULL;
    char sel[64] = "", tmp[PATH_MAX + 64] = "";
    double t0 = now_s();
    memset(&p, 0, sizeof p);
    memset(&mi, 0, sizeof mi);
    mi.struct_size = sizeof mi;

    /* 1. device and model */
    int local_rank = 0, local_size = 1;
    if (sbmpi_node_rank(comm, &local_rank, &local_size) != 0) ok = fail(&c, "MPI_Comm_split_type failed%s", "", NULL);
    const char *dev = o.device;
    char perr[SBMPI_MSG];
    if (ok && !dev) {
        const char *env = getenv("SEQBOAT_DEVICE");
        if (env && *env) dev = env;
        else if (sbmpi_pick_device(local_rank, sel, sizeof sel, perr) != 0) ok = fail(&c, "%.700s", perr, NULL);
        else dev = sel;
    }
    if (ok) {
        sb_options so = sb_options_default();
        so.device = dev;
        so.cache_dir = o.cache_dir;
        so.precision = o.precision;
        so.weights = o.weights;
        if (sb_model_load(model, &so, &m) != SB_OK) ok = fail(&c, "%s", sb_last_error(), NULL);
        else sb_model_get_info(m, &mi);
    }
    if (sbmpi_agree(comm, ok, c.msg) >= 0) goto done;
    double t1 = now_s();

    /* 2. rank 0: the input's header and lengths, to everyone */
    char err[SBMPI_MSG - 300];
    if (c.rank == 0 && !read_input_plan(in, &mi, &p, &lengths, err, sizeof err))
        ok = fail(&c, "%s", err, NULL);
    if (sbmpi_agree(comm, ok, c.msg) >= 0) goto done;
    MPI_Bcast(&p, (int)(sizeof p / sizeof(int64_t)), MPI_INT64_T, 0, comm);
    if (c.rank != 0 && !(lengths = malloc((size_t)p.B * sizeof *lengths)))
        ok = fail(&c, "out of host memory for the lengths%s", "", NULL);
    if (sbmpi_agree(comm, ok, c.msg) >= 0) goto done;
    MPI_Bcast(lengths, (int)p.B, MPI_INT32_T, 0, comm);

    /* 3. the split, weighted by each rank's device count */
    weight = malloc((size_t)c.size * sizeof *weight);
    cut = malloc((size_t)(c.size + 1) * sizeof *cut);
    int w = sbmpi_device_count(dev);
    if (!weight || !cut) ok = fail(&c, "out of host memory%s", "", NULL);
    if (sbmpi_agree(comm, ok, c.msg) >= 0) goto done;
    MPI_Allgather(&w, 1, MPI_INT, weight, 1, MPI_INT, comm);
    sbmpi_split((int)p.B, lengths, c.size, weight, cut);
    int64_t a = cut[c.rank], z = cut[c.rank + 1], mine = 0, total = 0;
    for (int64_t b = 0; b < p.B; b++) total += lengths[b];
    for (int64_t b = a; b < z; b++) mine += lengths[b];
    if (o.stats) {
        fprintf(stderr, "rank %d of %d on %s (device %s): sequences %lld..%lld, %lld valid tokens\n",
                c.rank, c.size, c.host, mi.device, (long long)a, (long long)z, (long long)mine);
        fprintf(stderr, "rank %d of %d: weights on the device (%s): %llu bytes\n", c.rank, c.size,
                o.weights == SB_WEIGHTS_INT8 ? "int8" : o.precision == SB_PREC_F16 ? "f16"
                : o.precision == SB_PREC_BF16 ? "bf16" : "f32",
                (unsigned long long)sb_model_weight_bytes(m));
        fflush(stderr);
    }

    /* 4. rank 0 creates the output file at its final size */
    if (c.rank == 0) {
        snprintf(tmp, sizeof tmp, "%s.tmp.mpi.%ld", out, (long)getpid());
        if (!create_output(tmp, &p, &mi, &p.out_off, err, sizeof err)) ok = fail(&c, "%s", err, NULL);
        made = 1;
    }
    if (sbmpi_agree(comm, ok, c.msg) >= 0) goto done;
    MPI_Bcast(tmp, (int)sizeof tmp, MPI_CHAR, 0, comm);
    MPI_Bcast(&p.out_off, 1, MPI_INT64_T, 0, comm);

    /* 5. chunks of this rank's sequences; every rank takes part in each round */
    int64_t per = o.chunk_tokens * w / p.L;
    if (per < 1) per = 1;
    if (per > z - a) per = z - a > 0 ? z - a : 1;
    int64_t my_rounds = (z - a + per - 1) / per, rounds = 0;
    MPI_Allreduce(&my_rounds, &rounds, 1, MPI_INT64_T, MPI_MAX, comm);
    if (z > a) {
        const int64_t es = p.dtype == DT_I64 ? 8 : 4;
        in_fd = open(in, O_RDONLY);
        out_fd = open(tmp, O_WRONLY);
        inbuf = malloc((size_t)(per * p.L * p.F * es));
        outbuf = malloc((size_t)(per * p.out_per_seq) * sizeof(float));
        if (mi.vocab_size > 0) ids = malloc((size_t)(per * p.L) * sizeof *ids);
        if (in_fd < 0) ok = fail(&c, "cannot open '%s': %s", in, strerror(errno));
        else if (out_fd < 0) ok = fail(&c, "cannot open '%s': %s", tmp, strerror(errno));
        else if (!inbuf || !outbuf || (mi.vocab_size > 0 && !ids))
            ok = fail(&c, "out of host memory for a chunk of sequences%s", "", NULL);
    }
    if (sbmpi_agree(comm, ok, c.msg) >= 0) goto done;
    for (int64_t r = 0; r < rounds; r++) {
        int64_t s = a + r * per, e = s + per < z ? s + per : z;
        if (s < z)
            ok = run_chunk(&c, m, &mi, &p, lengths, in_fd, out_fd, s, e, inbuf, ids, outbuf);
        if (sbmpi_agree(comm, ok, c.msg) >= 0) goto done;
    }
    if (out_fd >= 0) {
        int r = close(out_fd);
        out_fd = -1;
        if (r != 0) ok = fail(&c, "cannot write '%s': %s", tmp, strerror(errno));
    }
    if (sbmpi_agree(comm, ok, c.msg) >= 0) goto done;

    /* 6. everyone finished: rank 0 renames the file into place */
    if (c.rank == 0) {
        if (rename(tmp, out) != 0) ok = fail(&c, "cannot rename the output into '%s': %s", out, strerror(errno));
        else made = 0;
    }
    if (sbmpi_agree(comm, ok, c.msg) >= 0) goto done;
    double t2 = now_s();
    if (o.stats && c.rank == 0) {
        fprintf(stderr, "mpi: %d ranks, %lld sequences, %lld valid tokens: load %.3f s, run %.3f s "
                "(%.1f tokens/s; includes first-use kernel builds)\n",
                c.size, (long long)p.B, (long long)total, t1 - t0, t2 - t1,
                (double)total / (t2 - t1));
        fflush(stderr);
    }
    rc = 0;
done:
    if (in_fd >= 0) close(in_fd);
    if (out_fd >= 0) close(out_fd);
    if (made) unlink(tmp);
    if (rc != 0 && msg) snprintf(msg, SBMPI_MSG, "%s", c.msg);
    free(lengths);
    free(ids);
    free(inbuf);
    free(outbuf);
    free(weight);
    free(cut);
    sb_model_free(m);
    return rc;
}
