/* ref_gate.c - plain-C reference of the router gate, compaction, gather and
 * combine (see ref_gate.h). */
#include <math.h>
#include <stddef.h>
#include "ref_gate.h"

int sb_ref_gate_compact(int B, const int *start, const int *len, const float *u, int ld, float temp,
                     float *w, int *cidx, int *crow_tok, int *crow_pos, int *cstart) {
    const float tau = expf(temp);
    int m = 0;
    for (int b = 0; b < B; b++) {
        cstart[b] = m;
        for (int i = 0; i < len[b]; i++) {
            const size_t t = (size_t)start[b] + (size_t)i;
            /* softmax of the two scaled router logits */
            const float a0 = u[t * (size_t)ld] / tau;
            const float a1 = u[t * (size_t)ld + 1] / tau;
            const float mx = a0 > a1 ? a0 : a1;
            const float e0 = expf(a0 - mx), e1 = expf(a1 - mx);
            const float pr0 = e0 / (e0 + e1), pr1 = e1 / (e0 + e1);
            w[t] = pr1;
            if (pr1 > pr0) {
                cidx[t] = m;
                crow_tok[m] = (int)t;
                crow_pos[m] = i;
                m++;
            } else {
                cidx[t] = -1;
            }
        }
    }
    cstart[B] = m;
    return m;
}

void sb_ref_gather_rows(const float *src, int src_ld, const int *rows, int M, int ncols, float *dst,
                     int dst_ld) {
    for (int i = 0; i < M; i++)
        for (int c = 0; c < ncols; c++)
            dst[(size_t)i * (size_t)dst_ld + (size_t)c] = src[(size_t)rows[i] * (size_t)src_ld + (size_t)c];
}

void sb_ref_combine(int T, int D, const float *hx, int hx_ld, const float *g, const float *w,
                 const int *cidx, const float *res, float *out) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < D; c++) {
            const size_t o = (size_t)t * (size_t)D + (size_t)c;
            const float h = cidx[t] >= 0 ? w[t] * g[(size_t)cidx[t] * (size_t)D + (size_t)c] : 0.0f;
            const float x = hx[(size_t)t * (size_t)hx_ld + (size_t)c] + h + res[o];
            out[o] = x / (1.0f + expf(-x));
        }
}
