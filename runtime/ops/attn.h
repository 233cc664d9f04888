/* attn.h - windowed attention over the compressed rows of a batch (SPEC §3
 * steps 6-8, after mx_proj + silu). Kernels: cl/window_attn.cl; reference:
 * tests/ref/ref_attn.c; test: tests/test_attn.c.
 *
 * Input rows s (Z+2H floats each) are split z = s[0:Z], r = s[Z:Z+H],
 * v = s[Z+H:Z+2H]; q = z*gamma[0]+beta[0], k = z*gamma[1]+beta[1] (qk_gamma and
 * qk_beta are float [2][Z]); positions by `simple` bias (rel_bias, 2P-1 floats)
 * or rotary (pairs (2m,2m+1), m < Z/2, angle (float)pos * f_m,
 * f_m = 1/10000^(2m/Z)); relu2 or softmax over the window of compressed indices
 * [i-W, i] (causal) or [i-W, i+W] (bidirectional) of the row's own sequence.
 * The result per row is out = o * r (H floats), the input of h_proj.
 *
 * All sb_buf offsets are bytes and must be multiples of 4. Ops only enqueue
 * work (no finish) and never allocate device memory. Programs are specialised
 * by (Z, H, W, causal, softmax, rotary, P) and the device's limits only, so a
 * model builds each variant once.
 */
#ifndef SB_OPS_ATTN_H
#define SB_OPS_ATTN_H
#include "ops.h"

typedef struct sb_attn_cfg {
    int Z;        /* d_qk >= 1 */
    int H;        /* d_hidden >= 1 */
    int W;        /* mem_size (window) >= 1 */
    int causal;   /* 1 causal, 0 bidirectional */
    int softmax;  /* 1 softmax, 0 relu2 */
    int rotary;   /* 1 rotary, 0 simple relative bias */
    int P;        /* max_positions (simple bias; rel_bias has 2P-1 values); >= 1 */
} sb_attn_cfg;

/* Resolve the kernels of cfg c on rt: the tile plan, its program and every
 * kernel of it, once (ops resolve them on first use; a model does it at load
 * so a build failure is reported there). */
sb_status sb_attn_kernels(sb_rt *rt, const sb_attn_cfg *c, sb_err *e);

/* Scratch for sb_op_attn in bytes (0 when M is 0). Layout (float elements from
 * scratch.off): q [M][Z] (scaled by 1/W' resp. 1/sqrt(Z), rotated), then k
 * [M][Z] (rotated) at sb_op_attn_scratch_k_off(), then int [M][2] window table. */
size_t sb_op_attn_scratch_bytes(sb_rt *rt, const sb_attn_cfg *c, int n_seq, int M);
/* Byte offset of the k block inside the scratch (relative to scratch.off). */
size_t sb_op_attn_scratch_k_off(const sb_attn_cfg *c, int M);

/* The whole batch: sequence b owns compressed rows [cstart[b], cstart[b+1])
 * (int [n_seq+1], cstart[0] = 0, non-decreasing, cstart[n_seq] = M; empty
 * sequences allowed); crow_pos int [M] are original positions (>= 0) used by
 * the bias / rotary. s: M x (Z+2H), out: M x H (must not alias s or scratch).
 * rel_bias.mem may be NULL when rotary. M == 0 is a no-op. M may exceed
 * cstart[n_seq] (the compaction's count left on the device, the launch sized
 * for every token): rows past it get an empty window, their out rows are
 * undefined, and rows below it are what an M = cstart[n_seq] call gives. */
sb_status sb_op_attn(sb_rt *rt, const sb_attn_cfg *c, int n_seq, int M, sb_buf cstart,
                     sb_buf crow_pos, sb_buf s, sb_buf qk_gamma, sb_buf qk_beta, sb_buf rel_bias,
                     sb_buf out, sb_buf scratch, sb_err *e);

/* ---- streaming decode (causal only) ------------------------------------
 * A ring of cached keys for one sequence: entry j (0 <= j < n) lives at slot
 * (head + j) % cap, oldest first. k holds keys after gamma/beta/rotary (not
 * scaled), v holds the value part of s, pos the original positions. cap must be
 * >= W + 1; between calls n <= W (the last W activated tokens). The host owns
 * head/n; the ops below update them on success. Device sizes: k cap*Z floats,
 * v cap*H floats, pos cap ints. Start with head = n = 0. */
typedef struct sb_attn_ring {
    sb_buf k;     /* float [cap][Z] */
    sb_buf v;     /* float [cap][H] */
    sb_buf pos;   /* int [cap] */
    int cap;      /* slots, >= W + 1 */
    int head;     /* slot of the oldest entry */
    int n;        /* valid entries, 0..W */
} sb_attn_ring;

/* One activated token at original position `pos` (>= 0),
 * s = its row (Z+2H floats): computes q, k; appends (k, v, pos) to the ring;
 * attends over the ring (the previous n <= W entries plus itself, i.e. exactly
 * the causal window [i-W, i]); writes out = o * r (H floats); then drops the
 * oldest entry if n would exceed W. Equals the row of sb_op_attn (causal) for
 * that token. No scratch. Fails with SB_ERR_STATE for a bidirectional cfg. */
sb_status sb_op_attn_step(sb_rt *rt, const sb_attn_cfg *c, sb_attn_ring *ring, int pos, sb_buf s,
                          sb_buf qk_gamma, sb_buf qk_beta, sb_buf rel_bias, sb_buf out, sb_err *e);

/* Append n_rows consecutive rows of s (Z+2H floats each) with positions
 * crow_pos (int [n_rows], device) to the ring, keeping only the last W entries
 * (only those rows are computed). Use after a prefill through sb_op_attn to seed
 * the decoder with the last W compressed rows of a sequence. n_rows == 0 is a
 * no-op. */
sb_status sb_op_attn_ring_append(sb_rt *rt, const sb_attn_cfg *c, sb_attn_ring *ring, int n_rows,
                                 sb_buf s, sb_buf crow_pos, sb_buf qk_gamma, sb_buf qk_beta,
                                 sb_err *e);

/* ---- shared with gau_step.c (the streaming layer step) ------------------
 * A program of this cfg: `stem` (ATTN_STEM, or "window_attn+<file>" with
 * gau 1: window_attn.cl as the prelude, ATTN_GAU 1), its kernels names[0..n),
 * of which those in `fixed` (NULL-terminated) carry reqd_work_group_size(NT):
 * the plan shrinks NT until they all accept it. aux of the set holds the plan,
 * aux[SB_ATTN_AUX_NT] the work-group size NT. */
enum { SB_ATTN_AUX_NT = 0 };
typedef struct sb_attn_prog {
    const char *stem;
    const char *const *names;
    int n;
    const char *const *fixed;
    int gau;
    int wt;   /* gau: the projections' weight type (sb_wtype, wtype.h; 0 = f32): its
                 accessor text (sb_wt_cl_defines) goes before the program, key[8] */
} sb_attn_prog;
sb_status sb_attn_kset(sb_rt *rt, const sb_attn_cfg *c, const sb_attn_prog *pg, sb_kset **out,
                       sb_err *e);
/* SB_ERR_ARG (naming op) for a bad cfg. */
sb_status sb_attn_check_cfg(const char *op, const sb_attn_cfg *c, sb_err *e);
/* The q divisor of the score: W' (relu2) or sqrt(Z) (softmax). */
float sb_attn_qdiv(const sb_attn_cfg *c);

#endif
