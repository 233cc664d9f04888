/*
 * model_file.h - a SeqBoat model file (SPEC.md section 4) and an input file
 * (section 5), fully validated on the host.
 *
 * sb_model_file_load() checks the metadata (format version, every key, integer
 * syntax and range, booleans, enums, size limits) before it looks at any
 * tensor, then checks every tensor the configuration needs for presence, a
 * float dtype (F32, F16 or BF16; any mix in one file) and exact shape. Extra
 * tensors and extra metadata keys are ignored.
 * Errors: SB_ERR_META (metadata), SB_ERR_TENSOR (tensors), SB_ERR_FORMAT /
 * SB_ERR_IO (the safetensors layer), each with a message naming the key or
 * tensor and what was expected.
 *
 * Ownership: every weight pointer is f32 and lives until sb_model_file_free(m):
 * an F32 tensor's points into m->st (8-byte aligned), an F16 or BF16 tensor's
 * into its exact f32 widening (sb_st_to_f32), owned by m. The stored dtype of
 * each tensor stays in m->st. Thread-safety: a loaded model is read-only.
 */
#ifndef SB_MODEL_FILE_H
#define SB_MODEL_FILE_H

#include <stdint.h>
#include "internal.h"
#include "safetensors.h"

#define SB_MODEL_FORMAT_VERSION "1"
#define SB_MODEL_FORMAT_VERSION_2 "2" /* docs/FAIRSEQ.md: the keys read only in version 2 */
#define SB_MODEL_MAX_HEAD 8           /* head_layers */
#define SB_MODEL_MAX_DIM (1 << 20)              /* any size hyper-parameter */
#define SB_MODEL_MAX_PARAMS ((uint64_t)1 << 32) /* total parameter count */

typedef enum { SB_TASK_CLASSIFY, SB_TASK_SEQUENCE, SB_TASK_LM } sb_task;
typedef enum { SB_NORM_LAYER, SB_NORM_BATCH, SB_NORM_SCALE, SB_NORM_RMS } sb_norm_kind;
typedef enum { SB_PAIR_NONE, SB_PAIR_NLI, SB_PAIR_CONCAT } sb_pair_kind;

typedef struct sb_config {
    sb_task task;
    int d_input;        /* classify|sequence; 0 for lm */
    int vocab_size;     /* lm; 0 otherwise */
    int d_output, d_model, n_layers, d_qk, d_hidden, d_ema, mem_size, max_positions;
    int truncation;     /* 0 = none */
    int bidirectional, prenorm;
    sb_norm_kind norm;
    int rotary;         /* rel_pos_bias == rotary (else simple or local) */
    int softmax;        /* attention_activation == softmax (else relu2) */
    /* format version 2 (docs/FAIRSEQ.md); all 0 in a version-1 file */
    int version;        /* 1 or 2 */
    int rel_local;      /* rel_pos_bias == local: bias by compressed-index difference, [6W-1] */
    int abs_pos;        /* abs_pos == sinusoidal */
    int head_layers;    /* gelu MLP layers of the classify head */
    int d_head;         /* their width (head_layers >= 1) */
    int no_dec_bias;    /* decoder_bias == false */
    sb_pair_kind pair;  /* two inputs per example (classify) */
} sb_config;

/* Token ids in (embed_tokens) rather than real-valued features (encoder): lm,
 * and classify / sequence with vocab_size >= 1 (format version 2). */
static inline int sb_config_token_input(const sb_config *c) { return c->vocab_size > 0; }
/* Feature width entering the classify head: D, or 4D / 2D for pairs. */
static inline int sb_config_pair_width(const sb_config *c) {
    return c->d_model * (c->pair == SB_PAIR_NLI ? 4 : c->pair == SB_PAIR_CONCAT ? 2 : 1);
}

typedef struct sb_norm_w {
    const float *weight, *bias; /* scalenorm: weight = its one scalar, bias NULL; rmsnorm: bias NULL */
    const float *mean, *var; /* running stats; NULL unless batchnorm */
} sb_norm_w;

typedef struct sb_layer_w {
    sb_norm_w norm;
    /* EMA: delta/alpha/beta [K,N,1], gamma [K,N], omega [D]; K = D, or 2D when bidirectional */
    const float *delta, *alpha, *beta, *gamma, *omega;
    const float *rel_pos;       /* [2P-1] (simple), [6W-1] (local); NULL when rotary */
    float temp;                 /* q_router.temp */
    const float *mx_w, *mx_b;   /* [Z+2H, D], [Z+2H] */
    const float *hx_w, *hx_b;   /* [2+D, D], [2+D] */
    const float *h_w, *h_b;     /* [D, H], [D] */
    const float *qk_gamma, *qk_beta; /* [2, Z] */
} sb_layer_w;

typedef struct sb_model_file {
    sb_config cfg;
    const float *enc_w, *enc_b; /* classify|sequence: [D, d_input], [D]; else NULL */
    const float *embed;         /* lm: [vocab, D]; else NULL */
    sb_layer_w *layers;         /* n_layers */
    sb_norm_w final_norm;       /* prenorm only, else all NULL */
    const float *dec_w, *dec_b; /* [d_output, D or d_head or pair width], [d_output] */
    const float *pos_scale;     /* abs_pos: pos_emb.scale (one value) */
    const float *pos_inv_freq;  /* abs_pos: pos_emb.inv_freq [D/2] */
    const float *head_w[SB_MODEL_MAX_HEAD], *head_b[SB_MODEL_MAX_HEAD]; /* head.<k>.* */
    float *zero_bias;           /* decoder_bias false: d_output zeros (dec_b points here) */
    size_t n_params;            /* elements of all weight tensors used */
    size_t stored_bytes;        /* their bytes as stored in the file */
    size_t n_widened;           /* how many of them were F16 or BF16 */
    float **wide;               /* the f32 widenings of those (n_wide of them) */
    int n_wide, cap_wide;
    sb_st_file *st;             /* owns the bytes */
} sb_model_file;

sb_status sb_model_file_load(const char *path, sb_model_file **out, sb_err *e);
/* st: ownership taken, even on failure. */
sb_status sb_model_file_from_st(sb_st_file *st, sb_model_file **out, sb_err *e);
void sb_model_file_free(sb_model_file *m); /* accepts NULL */

/* Parse and check the `__metadata__` of st into cfg (no tensors looked at). */
sb_status sb_config_from_meta(const sb_st_file *st, sb_config *cfg, sb_err *e);
/* Expected parameter count of a valid config (the elements of all its weight tensors). */
uint64_t sb_config_param_count(const sb_config *cfg);
const char *sb_task_name(sb_task t); /* "classify", "sequence", "lm" */
const char *sb_norm_name(sb_norm_kind k); /* the metadata value: "layernorm", ... */
const char *sb_rel_name(const sb_config *c); /* "simple", "rotary", "local" */

/* An input file (SPEC.md section 5), copied out of the file. */
typedef struct sb_input {
    int B, L, F;       /* F = d_input, or 0 for token ids */
    float *x;          /* [B][L][F] or NULL */
    int32_t *ids;      /* [B][L] or NULL */
    int32_t *lengths;  /* [B], always filled (absent = L) */
    /* the second input of a pair model (`input2`, `lengths2`), else L2 = 0, NULL */
    int L2;
    float *x2;
    int32_t *ids2, *lengths2;
} sb_input;

/* `input` / `input2` features may be F32, F16 or BF16 (widened exactly).
 * Errors: SB_ERR_TENSOR (missing/mis-typed/mis-shaped `input` or `lengths`,
 * `input2` missing for a pair model or present for another),
 * SB_ERR_ARG (a token id outside [0, vocab) or a length outside 1..L). */
sb_status sb_input_load(const char *path, const sb_config *cfg, sb_input *out, sb_err *e);
sb_status sb_input_from_st(const sb_st_file *st, const sb_config *cfg, sb_input *out, sb_err *e);
void sb_input_free(sb_input *in); /* frees the arrays, zeroes the struct; accepts NULL */

#endif
