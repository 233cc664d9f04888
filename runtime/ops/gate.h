/* gate.h - router gate + compaction, row gather and the final combine of a
 * SeqBoat layer (SPEC section 3, steps 4, 5, 10, 11) on the PACKED row layout
 * (ops.h). Kernels: cl/gate_compact.cl; reference: tests/ref/ref_gate.c;
 * test: tests/test_gate.c.
 *
 * All sb_buf offsets are bytes and must be multiples of 4. Ops only enqueue
 * work, except sb_op_gate_compact, which reads back the B+1 cstart values
 * (a blocking read) unless told not to. They never allocate device memory.
 *
 * Router decision: token t is activated iff u1 > u0. For tau = exp(temp) > 0
 * this is exactly pr[1] > pr[0] of softmax(u / tau) in real arithmetic (a tie
 * or a NaN is not activated); float softmax can only disagree on margins of
 * about one ulp. w[t] = pr[1] = 1 / (1 + exp((u0 - u1) / tau)) for every token.
 */
#ifndef SB_OPS_GATE_H
#define SB_OPS_GATE_H
#include "ops.h"

/* Resolve this family's kernels on rt (ops resolve them on first use; a
 * model does it at load so a build failure is reported there). */
sb_status sb_gate_kernels(sb_rt *rt, sb_err *e);

/* Scratch bytes sb_op_gate_compact needs for total_rows = T tokens (the block
 * sums of every scan level, a few KiB even for T = 2^20). Never 0. */
size_t sb_op_compact_scratch_bytes(sb_rt *rt, int total_rows);

/* Gate and compaction over the T = seqs->total packed tokens.
 *   u        router values: u0 = u[t*ld + 0], u1 = u[t*ld + 1] (bias added), ld >= 2
 *   w        out float[T]: pr[1] of every token
 *   cidx     out int[T]: compressed row of token t, or -1 when not activated
 *   crow_tok out int[capacity T]: packed token row of compressed row i (i < M)
 *   crow_pos out int[capacity T]: position of that token in its sequence (0-based)
 *   cstart   out int[B+1]: first compressed row of each sequence; cstart[B] = M
 *   h_cstart out host int[B+1]: the same values, read back (blocking); NULL:
 *            no read, the count M stays on the device in cstart[B] for the
 *            launches that take it there (sb_op_linear_rows,
 *            sb_op_gather_rows_dev, sb_op_attn; model.c's one-chunk layers)
 *   scratch  at least sb_op_compact_scratch_bytes(rt, T) bytes
 * Activated tokens of sequence b get compressed rows cstart[b], cstart[b]+1, ...
 * in token order; entries of crow_tok / crow_pos at rows >= M are untouched.
 * seqs must be packed contiguously (start[0] = 0, start[b+1] = start[b] + len[b])
 * with d_start valid; T < 2^30. */
sb_status sb_op_gate_compact(sb_rt *rt, const sb_seqs *seqs, sb_buf u, int ld, float temp, sb_buf w,
                             sb_buf cidx, sb_buf crow_tok, sb_buf crow_pos, sb_buf cstart,
                             int *h_cstart, sb_buf scratch, sb_err *e);

/* The same two calls with the scan work-group size capped at max_wg (rounded
 * down to a power of two; 0 = the device's choice). For tests and tuning: a
 * small cap forces many scan levels. Scratch must be sized with the same cap. */
size_t sb_op_compact_scratch_bytes_wg(sb_rt *rt, int total_rows, int max_wg);
sb_status sb_op_gate_compact_wg(sb_rt *rt, const sb_seqs *seqs, sb_buf u, int ld, float temp,
                                sb_buf w, sb_buf cidx, sb_buf crow_tok, sb_buf crow_pos,
                                sb_buf cstart, int *h_cstart, sb_buf scratch, int max_wg,
                                sb_err *e);

/* dst row i (dst_ld floats) = src row rows[i] (src_ld floats), ncols columns,
 * i < M (M may be 0: no-op). rows are int32, validated by the caller. */
sb_status sb_op_gather_rows(sb_rt *rt, sb_buf src, int src_ld, sb_buf rows, int M, int ncols,
                            sb_buf dst, int dst_ld, sb_err *e);
/* The same for up to M rows: rows [0, min(M, *mdev)) with mdev one int on the
 * device (the compaction's cstart[B]), never read by the host; none = M. */
sb_status sb_op_gather_rows_dev(sb_rt *rt, sb_buf src, int src_ld, sb_buf rows, int M, sb_buf mdev,
                                int ncols, sb_buf dst, int dst_ld, sb_err *e);

/* out[t,:] = silu(hx[t,:] + (cidx[t] >= 0 ? w[t] * g[cidx[t],:] : 0) + res[t,:]),
 * t < T, D columns. hx rows have hx_ld floats (hx may be a column slice of a
 * wider matrix: pass the byte offset of its first column); g is M x D
 * (contiguous), res and out are T x D. out may alias res exactly (same buffer
 * and offset); other overlaps are refused. T == 0 is a no-op. */
sb_status sb_op_combine(sb_rt *rt, int T, int D, sb_buf hx, int hx_ld, sb_buf g, sb_buf w,
                        sb_buf cidx, sb_buf res, sb_buf out, sb_err *e);

#endif
