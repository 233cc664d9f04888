/*
 * classify_file.c - classify every sequence of a safetensors input file.
 *
 *   classify_file MODEL.safetensors INPUT.safetensors [DEVICE]
 *
 * MODEL is a seqboat classify model; INPUT holds `input` (F32 [B][L][d_input])
 * and optionally `lengths` (I64 or I32 [B]) as in SPEC section 5. The program
 * loads the model, runs the padded batch with sb_model_forward and prints the
 * arg-max class of each sequence. When INPUT also holds `output` (the
 * reference logits, as the test fixtures do), it compares and exits with 1 if
 * any predicted class differs.
 *
 * Try it on the fixture shipped in the source tree:
 *   classify_file tests/data/bidir_softmax_batchnorm_classify.model.safetensors \
 *                 tests/data/bidir_softmax_batchnorm_classify.io.safetensors
 *
 * Strict C99 plus seqboat.h; the small safetensors reader below is only
 * meant for these files (see read_tensor).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <seqboat.h>

/* ---- a minimal safetensors reader ----------------------------------------- */

typedef struct {
    unsigned char *bytes; /* whole file */
    size_t size;
    const char *header;   /* JSON header, NUL-terminated copy */
    size_t data_start;    /* 8 + header length */
} st_file;

typedef struct {
    char dtype[8];
    int ndim;
    long shape[4];
    const unsigned char *data;
    size_t nbytes;
} st_tensor;

static int st_open(const char *path, st_file *f) {
    FILE *fp = fopen(path, "rb");
    long len;
    size_t hlen = 0;
    char *hdr;
    int i;
    memset(f, 0, sizeof *f);
    if (!fp) return -1;
    if (fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 8 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return -1;
    }
    f->size = (size_t)len;
    f->bytes = malloc(f->size);
    if (!f->bytes || fread(f->bytes, 1, f->size, fp) != f->size) {
        fclose(fp);
        free(f->bytes);
        return -1;
    }
    fclose(fp);
    for (i = 7; i >= 0; i--) hlen = (hlen << 8) | f->bytes[i]; /* little-endian u64 */
    if (hlen > f->size - 8) {
        free(f->bytes);
        return -1;
    }
    hdr = malloc(hlen + 1);
    if (!hdr) {
        free(f->bytes);
        return -1;
    }
    memcpy(hdr, f->bytes + 8, hlen);
    hdr[hlen] = '\0';
    f->header = hdr;
    f->data_start = 8 + hlen;
    return 0;
}

static void st_close(st_file *f) {
    free((void *)f->header);
    free(f->bytes);
    memset(f, 0, sizeof *f);
}

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

/* Parse "[a, b, ...]" at p into v (up to cap values); returns the count or -1. */
static int parse_ints(const char *p, long *v, int cap) {
    int n = 0;
    p = skip_ws(p);
    if (*p++ != '[') return -1;
    for (;;) {
        char *end;
        p = skip_ws(p);
        if (*p == ']') return n;
        if (n == cap) return -1;
        v[n++] = strtol(p, &end, 10);
        if (end == p) return -1;
        p = skip_ws(end);
        if (*p == ',') p++;
    }
}

/* Find tensor `name`: the header maps names to flat objects
 * {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}.
 * Returns 1 when found and consistent, 0 when absent, -1 when malformed. */
static int read_tensor(const st_file *f, const char *name, st_tensor *t) {
    char key[64];
    const char *p = f->header, *obj, *end, *q;
    long off[2];
    size_t k = strlen(name);
    memset(t, 0, sizeof *t);
    if (k + 3 > sizeof key) return -1;
    sprintf(key, "\"%s\"", name);
    for (;; p++) { /* the quoted name followed by ':' and '{' */
        p = strstr(p, key);
        if (!p) return 0;
        q = skip_ws(p + k + 2);
        if (*q == ':' && *skip_ws(q + 1) == '{') break;
    }
    obj = strchr(p, '{');
    end = strchr(obj, '}');
    if (!end) return -1;
    q = strstr(obj, "\"dtype\"");
    if (!q || q > end || !(q = strchr(q + 7, '"')) || q > end) return -1;
    if (sscanf(q + 1, "%7[A-Z0-9]", t->dtype) != 1) return -1;
    q = strstr(obj, "\"shape\"");
    if (!q || q > end || (t->ndim = parse_ints(strchr(q, ':') + 1, t->shape, 4)) < 0) return -1;
    q = strstr(obj, "\"data_offsets\"");
    if (!q || q > end || parse_ints(strchr(q, ':') + 1, off, 2) != 2) return -1;
    if (off[0] < 0 || off[1] < off[0] || (size_t)off[1] > f->size - f->data_start) return -1;
    t->data = f->bytes + f->data_start + off[0];
    t->nbytes = (size_t)(off[1] - off[0]);
    return 1;
}

static long numel(const st_tensor *t) {
    long n = 1;
    int i;
    for (i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static int argmax(const float *v, int n) {
    int i, best = 0;
    for (i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* ---- the example ------------------------------------------------------------ */

int main(int argc, char **argv) {
    sb_options opt = sb_options_default();
    sb_model *model = NULL;
    sb_model_info info = {.struct_size = sizeof(sb_model_info)};
    st_file in;
    st_tensor x, len, ref;
    int32_t *lengths = NULL;
    float *xs = NULL, *out = NULL, *refs = NULL;
    int B, L, b, have_len, have_ref, mismatches = 0, rc = 1;
    sb_status st;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL.safetensors INPUT.safetensors [DEVICE]\n", argv[0]);
        return 2;
    }
    if (argc == 4) opt.device = argv[3]; /* index or name substring; NULL = default */
    printf("seqboat %s (header %s)\n", sb_version_string(), SB_VERSION_STRING);

    /* 1. load the model onto a device; errors before a handle exists are in sb_last_error() */
    st = sb_model_load(argv[1], &opt, &model);
    if (st != SB_OK) {
        fprintf(stderr, "cannot load model: %s: %s\n", sb_status_string(st), sb_last_error());
        return 1;
    }
    sb_model_get_info(model, &info);
    printf("model: %d layers, d_model %d, %d classes, on %s\n", info.n_layers, info.d_model,
           info.d_output, info.device);
    if (info.task != SB_CLASSIFY) {
        fprintf(stderr, "%s is not a classify model\n", argv[1]);
        sb_model_free(model);
        return 1;
    }

    /* 2. read the input batch */
    if (st_open(argv[2], &in) != 0) {
        fprintf(stderr, "cannot read %s as safetensors\n", argv[2]);
        sb_model_free(model);
        return 1;
    }
    if (read_tensor(&in, "input", &x) != 1 || strcmp(x.dtype, "F32") != 0 || x.ndim != 3 ||
        x.shape[2] != info.d_input || x.nbytes != (size_t)numel(&x) * 4) {
        fprintf(stderr, "%s: need `input` F32 [B][L][%d]\n", argv[2], info.d_input);
        goto done;
    }
    B = (int)x.shape[0];
    L = (int)x.shape[1];
    xs = malloc(x.nbytes); /* copy: tensor data in the file need not be aligned */
    lengths = malloc(sizeof *lengths * (size_t)B);
    out = malloc(sizeof *out * (size_t)B * (size_t)info.d_output);
    if (!xs || !lengths || !out) goto done;
    memcpy(xs, x.data, x.nbytes);
    have_len = read_tensor(&in, "lengths", &len); /* optional: absent = all L */
    for (b = 0; b < B; b++) lengths[b] = L;
    if (have_len != 0) {
        int i64 = strcmp(len.dtype, "I64") == 0, i32 = strcmp(len.dtype, "I32") == 0;
        if (have_len < 0 || len.ndim != 1 || len.shape[0] != B || !(i64 || i32) ||
            len.nbytes != (size_t)B * (i64 ? 8 : 4)) {
            fprintf(stderr, "%s: `lengths` must be I64 or I32 [%d]\n", argv[2], B);
            goto done;
        }
        for (b = 0; b < B; b++) {
            if (i64) {
                long long v;
                memcpy(&v, len.data + 8 * (size_t)b, 8);
                lengths[b] = v < 0 || v > L ? 0 : (int32_t)v; /* 0: refused by the library */
            } else {
                memcpy(&lengths[b], len.data + 4 * (size_t)b, 4);
            }
        }
    }

    /* 3. forward the padded batch; the buffers stay ours, nothing is kept */
    st = sb_model_forward(model, B, L, xs, NULL, lengths, out);
    if (st != SB_OK) {
        fprintf(stderr, "forward failed: %s: %s\n", sb_status_string(st), sb_model_last_error(model));
        goto done;
    }

    /* 4. report; compare with the reference logits when the file has them */
    have_ref = read_tensor(&in, "output", &ref) == 1 && strcmp(ref.dtype, "F32") == 0 &&
               numel(&ref) == (long)B * info.d_output && ref.nbytes == (size_t)numel(&ref) * 4;
    if (have_ref && !(refs = malloc(ref.nbytes))) goto done;
    if (have_ref) memcpy(refs, ref.data, ref.nbytes);
    for (b = 0; b < B; b++) {
        const float *o = out + (size_t)b * (size_t)info.d_output;
        int c = argmax(o, info.d_output);
        printf("sequence %d (length %d): class %d (logit %.4f)", b, (int)lengths[b], c, o[c]);
        if (have_ref) {
            const float *r = refs + (size_t)b * (size_t)info.d_output;
            int i, want = argmax(r, info.d_output);
            double maxdiff = 0;
            for (i = 0; i < info.d_output; i++)
                if (fabs((double)r[i] - o[i]) > maxdiff) maxdiff = fabs((double)r[i] - o[i]);
            printf(", reference class %d, max |logit diff| %.2e%s", want, maxdiff,
                   want == c ? "" : "  MISMATCH");
            if (want != c) mismatches++;
        }
        printf("\n");
    }
    if (have_ref) printf("%d of %d classes match the reference\n", B - mismatches, B);
    rc = mismatches ? 1 : 0;
done:
    free(xs);
    free(lengths);
    free(out);
    free(refs);
    st_close(&in);
    sb_model_free(model);
    return rc;
}
