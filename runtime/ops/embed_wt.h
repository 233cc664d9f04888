/* embed_wt.h - the token embedding from a table stored as f16, bf16 or int8
 * (sb_wtype, wtype.h; laid out by sb_wt_encode with n = V rows of k = D: int8
 * scales one per token). Kernels: cl/embed_wt.cl; twin: the decoded table
 * (sb_wt_decode); test: tests/test_wtype.c. An f32 table takes sb_op_embed
 * (norm.h). */
#ifndef SB_OPS_EMBED_WT_H
#define SB_OPS_EMBED_WT_H
#include "ops.h"

/* Resolve the kernels for type wt (the model does it at load). */
sb_status sb_embed_wt_kernels(sb_rt *rt, int wt, sb_err *e);
/* y [T][D] (floats) = rows ids[0..T) (device int [T], each in 0..V-1, checked
 * by the caller) of table (V x D as wt, offset 0). */
sb_status sb_op_embed_wt(sb_rt *rt, int wt, int T, int D, int V, sb_buf ids, cl_mem table, sb_buf y,
                         sb_err *e);
/* y [D] = row id of table (a host id, 0 <= id < V). */
sb_status sb_op_embed_row_wt(sb_rt *rt, int wt, int D, int V, int id, cl_mem table, sb_buf y, sb_err *e);

#endif
