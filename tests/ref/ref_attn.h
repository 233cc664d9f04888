/* ref_attn.h - plain-C reference of the windowed attention (SPEC §3 steps 6-8)
 * and of the streaming ring ops of runtime/ops/attn.h. Simple loops in float
 * following the SPEC literally: q = z*gamma[0]+beta[0], k = z*gamma[1]+beta[1],
 * rotary or simple bias, s_ij = (q_i/W').k_j + bias (relu2) or
 * (q_i/sqrt(Z)).k_j + bias (softmax: max-subtract, exp, sum, divide),
 * o_i = sum_j a_ij v_j, out_i = o_i * r_i. Shares no code with
 * cl/window_attn.cl. Host arrays; shapes as in attn.h.
 */
#ifndef SB_REF_ATTN_H
#define SB_REF_ATTN_H
#include "ops/attn.h"

/* q (unscaled) and k of one row z (Z floats) at original position pos. */
void sb_ref_attn_qk(const sb_attn_cfg *c, const float *z, int pos, const float *gamma,
                 const float *beta, float *q, float *k);

/* out [M][H] for the batch: sequence b at rows cstart[b] .. cstart[b+1]-1. */
void sb_ref_attn(const sb_attn_cfg *c, int n_seq, const int *cstart, const int *crow_pos,
              const float *s, const float *gamma, const float *beta, const float *rel, float *out);

/* Host twin of sb_op_attn_step: ring arrays k [cap][Z], v [cap][H], pos [cap];
 * *head / *n updated the same way. */
void sb_ref_attn_step(const sb_attn_cfg *c, int cap, int *head, int *n, float *kring, float *vring,
                   int *pring, int pos, const float *s, const float *gamma, const float *beta,
                   const float *rel, float *out);

/* Host twin of sb_op_attn_ring_append. */
void sb_ref_attn_ring_append(const sb_attn_cfg *c, int cap, int *head, int *n, float *kring,
                          float *vring, int *pring, int n_rows, const float *s,
                          const int *crow_pos, const float *gamma, const float *beta);

#endif
