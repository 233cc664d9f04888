/* pos_head.h - the model-file version 2 ops (docs/FAIRSEQ.md section 2) on the
 * PACKED row layout (ops.h). Kernels: cl/pos_head.cl; reference:
 * tests/ref/ref_pos_head.c; test: tests/test_pos_head.c.
 *
 * Offsets in sb_buf are bytes (multiples of 4). Zero rows are a no-op. Ops
 * only enqueue work and never allocate device memory. */
#ifndef SB_OPS_POS_HEAD_H
#define SB_OPS_POS_HEAD_H
#include "ops.h"

sb_status sb_pos_head_kernels(sb_rt *rt, sb_err *e);

/* Per row of D floats, eps 1e-5, ms = mean(x^2): y = (x * w) / sqrt(ms + eps)
 * with w [D] (RMSNorm, per_feature 1) or w [1] (ScaleNorm, per_feature 0).
 * y may alias x. */
sb_status sb_op_rms_norm(sb_rt *rt, int T, int D, int per_feature, sb_buf x, sb_buf w, sb_buf y,
                         sb_err *e);
/* In place on x [T][D] (D even): the scaled sinusoidal positions of row r's
 * position t: x[r, m] += scale*sin(a), x[r, m + D/2] += scale*cos(a),
 * a = (float)t * inv_freq[m] (inv_freq [D/2], scale [1]). With s (n >= 1) t is
 * the row's index in its sequence plus pos0; with s NULL all T rows are one
 * sequence: t = r + pos0. */
sb_status sb_op_add_sinusoid(sb_rt *rt, int T, int D, const sb_seqs *s, int pos0, sb_buf scale,
                             sb_buf inv_freq, sb_buf x, sb_err *e);
/* In place on n floats: exact gelu, x/2 * (1 + erf(x/sqrt(2))). */
sb_status sb_op_gelu(sb_rt *rt, int n, sb_buf x, sb_err *e);
/* y [B][4D] = [r1, r0, r0*r1, r0-r1] (nli 1) or y [B][2D] = [r1, r0] (nli 0);
 * r0, r1 [B][D]. */
sb_status sb_op_pair_feature(sb_rt *rt, int B, int D, int nli, sb_buf r0, sb_buf r1, sb_buf y,
                             sb_err *e);
/* y[i] = base + i for i < n (int32). */
sb_status sb_op_iota(sb_rt *rt, int n, int base, sb_buf y, sb_err *e);

#endif
