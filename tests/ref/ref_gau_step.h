/* ref_gau_step.h - plain-C reference of one token of a causal layer of a
 * streaming decode (runtime/ops/gau_step.h, cl/gau_step.cl): SPEC section 3
 * steps 3-11 for one row in double, the attention by sb_ref_attn_step
 * (ref_attn.h). Shares no code with the kernels. Host arrays. */
#ifndef SB_REF_GAU_STEP_H
#define SB_REF_GAU_STEP_H
#include "ref_attn.h"

/* Host twin of sb_op_gau_step, from the SPEC: weights as in the model file
 * (NOT transposed: hx_w [D+2][D], mx_w [Z+2H][D], h_w [D][H]), the ring
 * state rs = {head, n, activated} (updated like the ring of
 * sb_ref_attn_step), x [D] updated in place; mx [D] the EMA output. */
void sb_ref_gau_step(const sb_attn_cfg *c, int D, float temp, const float *hx_w, const float *hx_b,
                     const float *mx_w, const float *mx_b, const float *h_w, const float *h_b,
                     const float *gamma, const float *beta, const float *rel, int cap, int *rs,
                     float *kring, float *vring, int *pring, int pos, const float *mx, float *x);

#endif
