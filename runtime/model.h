/* model.h - a loaded model on one device and its forward schedule.
 * The model decides what runs on which rows; the ops decide how. */
#ifndef SB_MODEL_H
#define SB_MODEL_H
#include "arena.h"
#include "model_file.h"
#include "ops/attn.h"
#include "ops/gau_step.h"
#include "ops/ema.h"
#include "ops/linear.h"
#include "ops/ops.h"
#include "rt.h"

#define SB_BLOCK_TOKENS 65536

typedef struct sb_dev_norm {
    cl_mem w, b, mean, var; /* mean/var NULL for layernorm */
} sb_dev_norm;

typedef struct sb_dev_layer {
    sb_dev_norm norm;
    cl_mem ema_coef, omega, rel, mx_w, mx_b, hx_w, hx_b, h_w, h_b, qk_g, qk_b;
    sb_linear_w hx, mx, h;   /* the three projections, prepared (packed) at load; when
                                packed, mx_w, hx_w and h_w are released (one device
                                copy per layout in use) */
    cl_mem hx_t, mx_t, h_t;  /* the same transposed ([k][n]) for the streaming step;
                                made by the first sb_model_impl_stream_prepare from the
                                device copy (the host copy is gone after load) */
    sb_gau_w gau;            /* views of the streaming step's weights (the same) */
    float temp;
} sb_dev_layer;

/* The steps of a forward, in order: the activation plan gives every buffer a
 * lifetime [first step, last step] in these terms (model.c, the plan's table),
 * and the layer is a table of these steps (layer_steps[] in model.c) that the
 * full forward, the block-wise forward and the streaming step all run. */
typedef enum sb_step {
    SB_STEP_INPUT = 0,   /* pack / embed / encode the input into x */
    SB_STEP_PRENORM,     /* norm of the layer input (prenorm) */
    SB_STEP_EMA,         /* EMA over x -> mx */
    SB_STEP_HX_PROJ,     /* router and residual-gate projection of mx */
    SB_STEP_GATE,        /* gate decision, compaction of the activated tokens */
    SB_STEP_MX_PROJ,     /* per GAU chunk: gather the activated rows, mx_proj */
    SB_STEP_ATTN,        /* per GAU chunk: windowed attention */
    SB_STEP_H_PROJ,      /* per GAU chunk: h_proj */
    SB_STEP_CHUNK_END,   /* after the chunks: ring capture, block carry */
    SB_STEP_COMBINE,     /* scatter back and combine into x (post-norm) */
    SB_STEP_FINAL,       /* final norm, mean pool (classify) */
    SB_STEP_DECODER,     /* decoder projection */
    SB_STEP_OUTPUT,      /* unpack to the padded output */
    SB_STEP_COUNT
} sb_step;

/* Buffer ids of the activation plan. */
enum {
    B_INPAD, B_XE, B_IDS, B_START, B_LEN, B_X, B_XN, B_MX, B_EMA_SCR, B_HXU, B_W, B_CIDX, B_CTOK,
    B_CPOS, B_CSTART, B_CSTART_CH, B_CMP_SCR, B_MXC, B_S, B_AO, B_ATT_SCR, B_G, B_XF, B_Y,
    B_POOL, B_OUTPAD, B_COUNT
};

typedef struct sb_fwd_plan {
    int T_cap, B_cap;
    size_t BL_cap;           /* B * L capacity of padded in/out buffers */
    int chunk_cap;           /* compressed rows (with halo) per GAU chunk */
    sb_plan *plan;
    int id[B_COUNT];         /* plan ids (-1 = not used) */
    const char *name[B_COUNT];
    unsigned steps[B_COUNT]; /* the steps (bit s = sb_step s) that touch each buffer: its
                                lifetime is derived from them (model.c, plan_steps) */
    sb_arena arena;
    /* The contract, checked on every access (model.c, PB): the step running
     * now, the buffers each step touched in the last pass (bit = buffer id;
     * test_arena checks that those of one step never share bytes), and the
     * first buffer touched at a step its table entry does not name (its id
     * + 1, 0: none; the pass then fails with SB_ERR_INTERNAL naming both). */
    int step;
    unsigned touched[SB_STEP_COUNT];
    int bad_buf, bad_step;
} sb_fwd_plan;

typedef struct sb_layer_stats {
    int tokens;              /* valid tokens T of the last forward */
    int activated;           /* M */
    double ms;               /* wall time of the layer (layer_timing or profiling; else 0) */
} sb_layer_stats;

typedef sb_status (*sb_router_hook)(void *user, sb_rt *rt, const sb_seqs *seqs, sb_buf u,
                                    int ld, sb_err *e);

typedef struct sb_model_impl {
    sb_rt *rt;
    sb_model_file *mf;       /* the file's host copy: only during the load, then NULL */
    size_t n_params;         /* of the file */
    int wt;                  /* the projections' and decoder's storage (sb_wtype, wtype.h) */
    sb_config cfg;
    sb_dev_layer *layers;
    cl_mem enc_w, enc_b, embed, dec_w, dec_b;
    sb_linear_w enc, dec;    /* prepared encoder (NULL for lm) and decoder */
    sb_dev_norm final_norm;
    sb_fwd_plan fp;
    sb_layer_stats *stats;   /* [n_layers] */
    double last_ms;
    size_t chunk_budget;     /* bytes for the GAU chunk buffers (0 = default) */
    int block_tokens;        /* causal sequences longer than this run block by block
                                (0 = default SB_BLOCK_TOKENS) */
    /* Optional hook run in every layer after the router projection and before
     * the gate: it may rewrite the router inputs u (ld columns; columns 0 and 1
     * feed the gate). The benchmark engine uses it to force a fixed activation
     * share (bench/bench_force.h). NULL (the default) in every normal run. */
    sb_router_hook router_hook;
    void *router_hook_user;
    int stream_norm_fused;   /* streaming: the prenorm LayerNorm runs inside the EMA step
                                (set by sb_model_impl_stream_prepare) */
    int layer_timing;        /* 1: finish the queue after every layer and time it
                                (stats[].ms); also on with profiling (the benchmark
                                sets it); 0: the queue runs on, stats[].ms = 0 */
    /* The compaction's count per layer when it stays on the device (model.c
     * step_gate: one-chunk layers without carry or ring seeding): copied to
     * counts[li] on the device, read once with the forward's output into
     * counts_h, then stats[li].activated. Only off the CPU class by default
     * (on a CPU the read costs little and the launches sized for every token
     * cost their empty work-groups); count_on_host 1 reads it per layer
     * anyway, -1 keeps it on the device on any device (tests compare both). */
    cl_mem counts;           /* int [n_layers] */
    int *counts_h;           /* [n_layers] */
    unsigned char *counts_wait; /* [n_layers]: 1 = stats[li].activated comes from counts_h */
    int count_on_host;
    int counts_kept;         /* layers of the last forward whose count stayed on the device */
    int *chunk_starts;       /* host staging of the GAU chunks' sequence starts,
                                written without waiting (model.c, step_gau) */
    size_t chunk_starts_cap; /* ints */
    /* model-file version 2 (model_v2.c, docs/FAIRSEQ.md) */
    cl_mem pos_scale, pos_inv;                 /* abs_pos: pos_emb.scale, pos_emb.inv_freq */
    cl_mem head_w[SB_MODEL_MAX_HEAD], head_b[SB_MODEL_MAX_HEAD];
    sb_linear_w head[SB_MODEL_MAX_HEAD];       /* the classify head's gelu layers */
    cl_mem head_buf;                           /* head features: r0, r1, pair, 2 hidden */
    size_t head_cap;                           /* sequences head_buf holds */
    int pair_stage;                            /* a pair forward: 0 = first input, 1 = second */
} sb_model_impl;

/* The public handle (seqboat.h). */
struct sb_model {
    sb_model_impl *impl;
    sb_err err;
};

/* Load the file, upload the weights. */
sb_status sb_model_impl_create(const char *path, const sb_rt_options *opt, sb_model_impl **out,
                               sb_err *e);
sb_status sb_model_impl_from_file(sb_model_file *mf /* taken */, const sb_rt_options *opt,
                                  sb_model_impl **out, sb_err *e);
void sb_model_impl_free(sb_model_impl *m);

/* Forward on host arrays: x [B][L][d_input] (classify|sequence) or ids [B][L]
 * (lm, validated here); lengths [B] or NULL (= all L); out [B][L][d_output]
 * (sequence|lm, zeros at padding) or [B][d_output] (classify). */
sb_status sb_model_impl_forward(sb_model_impl *m, int B, int L, const float *x,
                                const int32_t *ids, const int32_t *lengths, float *out, sb_err *e);

/* Make the activation plan for at least (T valid tokens, B sequences, B*L
 * padded); returns the planned peak bytes. */
sb_status sb_model_impl_plan(sb_model_impl *m, int T, int B, size_t BL, size_t *peak, sb_err *e);
/* Release a forward plan's arena and plan (model.c; used by model_load.c's free). */
void sb_model_impl_plan_release(sb_fwd_plan *fp);
/* The attention and EMA op settings of the model's config / layer li (model.c;
 * model_load.c resolves their kernels at load). */
sb_attn_cfg sb_model_attn_cfg(const sb_config *c);
/* Bytes of every parameter buffer the model holds on its device (sb_model_weight_bytes). */
uint64_t sb_model_impl_weight_bytes(const sb_model_impl *m);
sb_ema_coef sb_model_ema_coef(const sb_model_impl *m, int li);

/* What a streaming prefill takes from one layer of a single-sequence forward:
 * exactly the state the step path would have built. */
typedef struct sb_layer_capture {
    sb_buf ema_state;        /* float [D][N] EMA end state (mem NULL = none) */
    sb_buf xin_ring;         /* truncation: float [trunc][D], row t % trunc = EMA input at t */
    sb_attn_ring *ring;      /* attention ring seeded with the last W activated rows */
} sb_layer_capture;

/* What one layer carries from block to block when a long causal sequence
 * runs block by block (model_block.c): the EMA state and the last W compressed
 * rows (their mx rows and absolute positions), the keys of the next block's
 * first queries. */
typedef struct sb_layer_carry {
    sb_buf ema_state;        /* float [D][N], read and written */
    cl_mem halo_mx;          /* float [W][D] */
    cl_mem halo_pos;         /* int [W] */
    int halo_n;              /* rows held (<= W) */
    int pos0;                /* absolute position of the block's first token */
} sb_layer_carry;

/* What one layer of a streaming decode keeps between tokens (the buffers
 * belong to stream.c): the EMA state, the last `truncation` EMA inputs, the
 * attention ring of the last W activated tokens, and its activity. */
typedef struct sb_layer_state {
    sb_buf ema_state;        /* float [D][N] */
    sb_buf xin_ring;         /* float [trunc][D], row t % trunc = EMA input at t (mem NULL = none) */
    sb_attn_ring ring;       /* k, v, pos, cap; head and n while prefilling */
    sb_buf ring_state;       /* device int [3]: the ring's head, n and the activated
                                tokens while stepping (sb_op_gau_step) */
    long steps;              /* tokens stepped */
} sb_layer_state;

/* One token of one sequence (streaming decode): its position, the state of
 * every layer, and one-row work buffers (owned by stream.c). */
typedef struct sb_token {
    long pos;                /* position of the token (= tokens before it) */
    sb_layer_state *layers;  /* [n_layers] */
    sb_buf x, xn, mx, hxu, s, ao, g; /* [D], [D], [D], [D+2], [Z+2H], [H], [D] */
    sb_buf in, out;          /* float [d_input], float [d_output] */
} sb_token;

/* One layer. The layer's steps (the sb_step enum) are one table in model.c
 * that every path runs; the paths differ in what a step runs:
 *  - packed rows already in the plan's buffers (the full forward and the
 *    streaming prefill; seqs set, tok NULL): cap and carry may be NULL; with a
 *    carry the batch is one sequence (one block of it, model_block.c);
 *  - one token (streaming decode; tok set, seqs NULL). */
sb_status sb_model_impl_layer(sb_model_impl *m, int li, const sb_seqs *seqs,
                              const sb_layer_capture *cap, sb_layer_carry *carry, sb_token *tok,
                              sb_err *e);
/* What the streaming step needs beyond the forward's weights (the transposed
 * projections of sb_op_gau_step), made once per model. */
sb_status sb_model_impl_stream_prepare(sb_model_impl *m, sb_err *e);
/* One token through the model: input (the embedding of id for lm, else x [d_input]),
 * every layer, final norm, decoder; out [d_output] is read back (NULL = not
 * read). The caller advances tok->pos. */
sb_status sb_model_impl_token(sb_model_impl *m, sb_token *tok, const float *x, int32_t id,
                              float *out, sb_err *e);
/* One pass over a padded batch (no blocking); carries per layer or NULL. */
sb_status sb_model_impl_pass(sb_model_impl *m, int B, int L, const float *x, const int32_t *ids,
                             const int32_t *lengths, float *out, const sb_layer_capture *caps,
                             sb_layer_carry *carries, sb_err *e);
/* Whether a batch runs block by block, the block length, and that run
 * (model_block.c). */
int sb_model_impl_block_tokens(const sb_model_impl *m);
int sb_model_impl_blocked(const sb_model_impl *m, int B, int L, const int32_t *lengths,
                          const sb_layer_capture *caps);
sb_status sb_model_impl_forward_blocked(sb_model_impl *m, int B, int L, const float *x,
                                        const int32_t *ids, const int32_t *lengths, float *out,
                                        const sb_layer_capture *caps, sb_err *e);
/* ---- model-file version 2 (model_v2.c) ---- */
/* Upload / release what version 2 adds (positions, head layers). */
sb_status sb_model_v2_upload(sb_model_impl *m, sb_err *e);
void sb_model_v2_free(sb_model_impl *m);
/* abs_pos: add the sinusoidal positions to x [T][D] (seqs NULL: one sequence
 * from position pos0; else sequence b's rows from pos0). No-op otherwise. */
sb_status sb_model_v2_positions(sb_model_impl *m, const sb_seqs *seqs, int T, int pos0, sb_buf x,
                                sb_err *e);
/* classify: pooled [B][D] -> y [B][d_output] (gelu head layers, decoder). A
 * pair model's first input only keeps its pooled rows: *ready = 0. */
sb_status sb_model_v2_head(sb_model_impl *m, int B, sb_buf pool, sb_buf y, int *ready, sb_err *e);
/* A pair model's forward: input (x or ids, lengths, L) and input2 (x2 or ids2,
 * lengths2, L2) through the same encoder, then the pair feature and the head. */
sb_status sb_model_impl_forward_pair(sb_model_impl *m, int B, int L, const float *x,
                                     const int32_t *ids, const int32_t *lengths, int L2,
                                     const float *x2, const int32_t *ids2,
                                     const int32_t *lengths2, float *out, sb_err *e);
/* Forward with per-layer captures (caps[n_layers] or NULL). */
sb_status sb_model_impl_forward_ex(sb_model_impl *m, int B, int L, const float *x,
                                   const int32_t *ids, const int32_t *lengths, float *out,
                                   const sb_layer_capture *caps, sb_err *e);
/* Rows from `row` on of a view of rows `width` floats wide (sb_at_int: from
 * int i on). */
static inline sb_buf sb_at_row(sb_buf b, size_t row, size_t width) { return sb_skip(b, sb_f32(row * width)); }
static inline sb_buf sb_at_int(sb_buf b, size_t i) { return sb_skip(b, sb_i32(i)); }
/* The plan's buffer `which` at the current step (model.c; no view and the pass
 * marked broken when the step's table entry does not name it). */
sb_buf sb_model_pb(sb_model_impl *m, int which);
/* model_carry.c: the EMA input tail into the truncation ring, and a blocked
 * run's carried rows in (before the block's GAU) and out (after it). */
sb_status sb_model_capture_tail(sb_rt *rt, sb_buf xin, int T, int D, int trunc, sb_buf ring, sb_err *e);
sb_status sb_model_carry_in(sb_model_impl *m, sb_layer_carry *cr, int M, sb_err *e);
sb_status sb_model_carry_out(sb_model_impl *m, sb_layer_carry *cr, int Mx, sb_err *e);

#endif
