/* ref_gate.h - plain-C reference for runtime/ops/gate.h (SPEC section 3,
 * steps 4, 5, 10, 11): router gate + compaction, row gather, combine. Simple
 * loops over host arrays on the PACKED layout (sequence b at rows
 * start[b] .. start[b] + len[b] - 1). Shares no code with cl/gate_compact.cl.
 */
#ifndef SB_REF_GATE_H
#define SB_REF_GATE_H

/* For every token t of every sequence: pr = softmax((u0, u1) / exp(temp)) with
 * u0 = u[t*ld], u1 = u[t*ld + 1]; w[t] = pr[1]; activated iff pr[1] > pr[0].
 * Sequence b's activated tokens, in order, get compressed rows cstart[b] + i:
 * cidx[t] = that row (-1 when not activated), crow_tok[row] = t,
 * crow_pos[row] = t - start[b]. cstart has B+1 entries, cstart[B] = M; crow_tok
 * and crow_pos need room for M entries (entries beyond are untouched).
 * Returns M. */
int sb_ref_gate_compact(int B, const int *start, const int *len, const float *u, int ld, float temp,
                     float *w, int *cidx, int *crow_tok, int *crow_pos, int *cstart);

/* dst[i*dst_ld + c] = src[rows[i]*src_ld + c], i < M, c < ncols. */
void sb_ref_gather_rows(const float *src, int src_ld, const int *rows, int M, int ncols, float *dst,
                     int dst_ld);

/* out[t*D + c] = silu(hx[t*hx_ld + c] + h + res[t*D + c]) with
 * h = w[t] * g[cidx[t]*D + c] when cidx[t] >= 0, else 0. out may alias res. */
void sb_ref_combine(int T, int D, const float *hx, int hx_ld, const float *g, const float *w,
                 const int *cidx, const float *res, float *out);

#endif
