/* norm.h - norms and cheap element-wise / layout ops on the PACKED row layout
 * (ops.h). Kernels: cl/norm_eltwise.cl; reference: tests/ref/ref_norm.c;
 * test: tests/test_norm.c.
 *
 * All offsets in sb_buf are bytes and must be multiples of 4. Sizes of 0 rows
 * (T == 0, or no sequences) are a no-op. Ops only enqueue work (no finish);
 * they never allocate device memory.
 */
#ifndef SB_OPS_NORM_H
#define SB_OPS_NORM_H
#include "ops.h"

/* Resolve this family's kernels on rt (ops resolve them on first use; a
 * model does it at load so a build failure is reported there). */
sb_status sb_norm_kernels(sb_rt *rt, sb_err *e);

/* LayerNorm over D features per row, eps 1e-5 (biased variance, like PyTorch):
 * y = (x-mean)/sqrt(var+eps)*w + b. y may alias x. */
sb_status sb_op_layernorm(sb_rt *rt, int T, int D, sb_buf x, sb_buf w, sb_buf b, sb_buf y, sb_err *e);
/* BatchNorm eval: y = (x - running_mean)/sqrt(running_var + eps)*w + b, eps 1e-5,
 * per feature. y may alias x. */
sb_status sb_op_batchnorm(sb_rt *rt, int T, int D, sb_buf x, sb_buf mean, sb_buf var, sb_buf w,
                          sb_buf b, sb_buf y, sb_err *e);
/* In place: x[t, c] = act(x[t, c] + bias[c]) for c < F, rows of ld floats;
 * act 0 = none, 1 = silu. bias mem may be NULL (no bias). */
sb_status sb_op_bias_act(sb_rt *rt, int T, int F, int ld, sb_buf x, sb_buf bias, int act, sb_err *e);
/* y[t, :] = table[ids[t], :] (ids int32, validated by the caller). */
sb_status sb_op_embed(sb_rt *rt, int T, int D, sb_buf ids, sb_buf table, sb_buf y, sb_err *e);
/* padded [B][L][F] -> packed rows (sequence b rows start[b]..+len[b]).
 * Uses s->d_start / s->d_len; needs every len[b] <= L. */
sb_status sb_op_pack(sb_rt *rt, const sb_seqs *s, int L, int F, sb_buf padded, sb_buf packed, sb_err *e);
/* packed -> padded [B][L][F], zeros at padded positions (t >= len[b]). */
sb_status sb_op_unpack(sb_rt *rt, const sb_seqs *s, int L, int F, sb_buf packed, sb_buf padded, sb_err *e);
/* y[b, :] = mean over the valid rows of sequence b of x (D features); y is [B][D]. */
sb_status sb_op_mean_pool(sb_rt *rt, const sb_seqs *s, int D, sb_buf x, sb_buf y, sb_err *e);

#endif
