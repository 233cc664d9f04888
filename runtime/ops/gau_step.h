/* gau_step.h - one token of a causal layer of a streaming decode, from its
 * EMA output to the layer output (cl/gau_step.cl, built after window_attn.cl
 * as its prelude): gau_step in one work-group, or split into gau_proj /
 * gau_attn / gau_combine over many. Reference: tests/ref/ref_gau_step.c;
 * test: tests/test_gau_step.c. Ops only enqueue work.
 */
#ifndef SB_OPS_GAU_STEP_H
#define SB_OPS_GAU_STEP_H
#include "attn.h"

/* The layer's weights after the EMA, on the device, each at offset 0; the
 * projections TRANSPOSED (the nn.Linear weight [n][k] as [k][n]):
 * hx_wt [D][D+2], hx_b [D+2], mx_wt [D][Z+2H], mx_b [Z+2H], h_wt [H][D],
 * h_b [D], qk_gamma/qk_beta [2][Z], rel_bias [2P-1] (mem unused when rotary). */
typedef struct sb_gau_w {
    sb_buf hx_wt, hx_b, mx_wt, mx_b, h_wt, h_b, qk_gamma, qk_beta, rel_bias;
    int wt;   /* storage of hx_wt, mx_wt, h_wt (sb_wtype, wtype.h; 0 = f32): each
                 [k][n] as sb_wt_encode lays out W^T (int8: n scales trail) */
} sb_gau_w;
/* Work rows it writes (offset 0): hxu [D+2], s [Z+2H], ao [H], g [D]. */
typedef struct sb_gau_work {
    sb_buf hxu, s, ao, g;
} sb_gau_work;

/* Resolve gau_step's kernel set for c (causal) now (the model does it at load
 * for every model that can stream). */
sb_status sb_attn_gau_kernels(sb_rt *rt, const sb_attn_cfg *c, sb_err *e);
/* The same for projections stored as wt (sb_gau_w.wt). */
sb_status sb_attn_gau_kernels_wt(sb_rt *rt, const sb_attn_cfg *c, int wt, sb_err *e);
/* Whether sb_op_gau_step runs split (gau_proj, gau_attn, gau_combine: the
 * projections over many work-groups; GPU-class devices) or as gau_step in one
 * work-group (CPU class, where one launch wins): sb_ops_decode_split (ops.h;
 * SEQBOAT_DECODE=wg|split forces one). Both give the same bits. */
int sb_op_gau_step_split(const sb_rt *rt);
/* One token at position pos from the EMA output mx [D] to the layer's output,
 * in place in x [D] (the residual in, silu(hx + w g + x) out; SPEC section 3
 * steps 3-11 for one row), in one launch: hx_proj, the router decision
 * (temp = q_router.temp; as the gate kernel), and only for an activated
 * token mx_proj + silu, the attention step against the ring (as
 * sb_op_attn_step) and h_proj. The decision stays on the device: the ring's
 * head and count and the number of activated tokens so far are ring_state,
 * device int [3] = {head, n, activated}, read and updated by the kernel; the
 * host's ring->head / ring->n are not used (ring gives k, v, pos and cap).
 * SB_ERR_STATE for a bidirectional cfg. */
sb_status sb_op_gau_step(sb_rt *rt, const sb_attn_cfg *c, int D, float temp, const sb_gau_w *w,
                         const sb_attn_ring *ring, sb_buf ring_state, int pos, sb_buf mx,
                         const sb_gau_work *work, sb_buf x, sb_err *e);

#endif
