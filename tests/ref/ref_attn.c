/* ref_attn.c - plain-C reference of the windowed attention (see ref_attn.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ref_attn.h"

void sb_ref_attn_qk(const sb_attn_cfg *c, const float *z, int pos, const float *gamma,
                 const float *beta, float *q, float *k) {
    const int Z = c->Z;
    for (int d = 0; d < Z; d++) {
        q[d] = z[d] * gamma[d] + beta[d];
        k[d] = z[d] * gamma[Z + d] + beta[Z + d];
    }
    if (!c->rotary) return;
    for (int m = 0; m < Z / 2; m++) {
        const float f = 1.0f / powf(10000.0f, (float)(2 * m) / (float)Z);
        const float ang = (float)pos * f;
        const float cs = cosf(ang), sn = sinf(ang);
        const float qa = q[2 * m], qb = q[2 * m + 1];
        const float ka = k[2 * m], kb = k[2 * m + 1];
        q[2 * m] = qa * cs - qb * sn;
        q[2 * m + 1] = qa * sn + qb * cs;
        k[2 * m] = ka * cs - kb * sn;
        k[2 * m + 1] = ka * sn + kb * cs;
    }
}

static float qdiv_of(const sb_attn_cfg *c) {
    if (c->softmax) return sqrtf((float)c->Z);
    return c->causal ? (float)c->W : 2.0f * (float)c->W;
}

static float bias_of(const sb_attn_cfg *c, const float *rel, int pi, int pj) {
    if (c->rotary) return 0.0f;
    long d = (long)c->P - 1 + (long)pj - (long)pi;
    if (d < 0) d = 0;
    if (d > 2L * c->P - 2) d = 2L * c->P - 2;
    return rel[d];
}

/* Attention of one query (scaled qs, position pi) over n keys kk[j] (Z floats
 * each, position kp[j]) with values vv[j] (H floats each); out = o * r. */
static void attend(const sb_attn_cfg *c, const float *qs, int pi, int n, const float *const *kk,
                   const int *kp, const float *const *vv, const float *r, const float *rel,
                   float *a, float *out) {
    for (int j = 0; j < n; j++) {
        float sc = 0.0f;
        for (int d = 0; d < c->Z; d++) sc += qs[d] * kk[j][d];
        sc += bias_of(c, rel, pi, kp[j]);
        a[j] = sc;
    }
    if (c->softmax) {
        float mx = -INFINITY, sum = 0.0f;
        for (int j = 0; j < n; j++) mx = a[j] > mx ? a[j] : mx;
        for (int j = 0; j < n; j++) {
            a[j] = expf(a[j] - mx);
            sum += a[j];
        }
        for (int j = 0; j < n; j++) a[j] /= sum;
    } else {
        for (int j = 0; j < n; j++) {
            const float x = a[j] > 0.0f ? a[j] : 0.0f;
            a[j] = x * x;
        }
    }
    for (int h = 0; h < c->H; h++) {
        float o = 0.0f;
        for (int j = 0; j < n; j++) o += a[j] * vv[j][h];
        out[h] = o * r[h];
    }
}

void sb_ref_attn(const sb_attn_cfg *c, int n_seq, const int *cstart, const int *crow_pos,
              const float *s, const float *gamma, const float *beta, const float *rel, float *out) {
    const int Z = c->Z, H = c->H, W = c->W, ld = Z + 2 * H;
    const int M = cstart[n_seq];
    const float qdiv = qdiv_of(c);
    float *q = malloc(sizeof(float) * ((size_t)M * Z + 1));
    float *k = malloc(sizeof(float) * ((size_t)M * Z + 1));
    float *qs = malloc(sizeof(float) * (size_t)Z);
    float *a = malloc(sizeof(float) * ((size_t)M + 1));
    const float **kk = malloc(sizeof(float *) * ((size_t)M + 1));
    const float **vv = malloc(sizeof(float *) * ((size_t)M + 1));
    int *kp = malloc(sizeof(int) * ((size_t)M + 1));
    if (q && k && qs && a && kk && vv && kp) {
        for (int i = 0; i < M; i++)
            sb_ref_attn_qk(c, s + (size_t)i * ld, crow_pos[i], gamma, beta, q + (size_t)i * Z,
                        k + (size_t)i * Z);
        for (int b = 0; b < n_seq; b++) {
            for (int i = cstart[b]; i < cstart[b + 1]; i++) {
                const long lo = (long)i - W, hi = c->causal ? (long)i : (long)i + W;
                int n = 0;
                for (int j = cstart[b]; j < cstart[b + 1]; j++) {
                    if (j < lo || j > hi) continue;
                    kk[n] = k + (size_t)j * Z;
                    vv[n] = s + (size_t)j * ld + Z + H;
                    kp[n] = crow_pos[j];
                    n++;
                }
                for (int d = 0; d < Z; d++) qs[d] = q[(size_t)i * Z + d] / qdiv;
                attend(c, qs, crow_pos[i], n, kk, kp, vv, s + (size_t)i * ld + Z, rel, a,
                       out + (size_t)i * H);
            }
        }
    }
    free(q);
    free(k);
    free(qs);
    free(a);
    free(kk);
    free(vv);
    free(kp);
}

void sb_ref_attn_step(const sb_attn_cfg *c, int cap, int *head, int *n, float *kring, float *vring,
                   int *pring, int pos, const float *s, const float *gamma, const float *beta,
                   const float *rel, float *out) {
    const int Z = c->Z, H = c->H;
    const int slot = (*head + *n) % cap;
    const int nk = *n + 1;
    const float qdiv = qdiv_of(c);
    float *q = malloc(sizeof(float) * (size_t)Z);
    float *a = malloc(sizeof(float) * (size_t)nk);
    const float **kk = malloc(sizeof(float *) * (size_t)nk);
    const float **vv = malloc(sizeof(float *) * (size_t)nk);
    int *kp = malloc(sizeof(int) * (size_t)nk);
    if (q && a && kk && vv && kp) {
        sb_ref_attn_qk(c, s, pos, gamma, beta, q, kring + (size_t)slot * Z);
        memcpy(vring + (size_t)slot * H, s + Z + H, sizeof(float) * (size_t)H);
        pring[slot] = pos;
        for (int d = 0; d < Z; d++) q[d] /= qdiv;
        for (int j = 0; j < nk; j++) {
            const int sl = (*head + j) % cap;
            kk[j] = kring + (size_t)sl * Z;
            vv[j] = vring + (size_t)sl * H;
            kp[j] = pring[sl];
        }
        attend(c, q, pos, nk, kk, kp, vv, s + Z, rel, a, out);
        if (*n < c->W) (*n)++;
        else *head = (*head + 1) % cap;
    }
    free(q);
    free(a);
    free(kk);
    free(vv);
    free(kp);
}

void sb_ref_attn_ring_append(const sb_attn_cfg *c, int cap, int *head, int *n, float *kring,
                          float *vring, int *pring, int n_rows, const float *s,
                          const int *crow_pos, const float *gamma, const float *beta) {
    const int Z = c->Z, H = c->H, ld = Z + 2 * H;
    float *q = malloc(sizeof(float) * (size_t)Z);
    if (!q) return;
    /* append every row, dropping the oldest entry whenever there are W + 1 */
    for (int j = 0; j < n_rows; j++) {
        const int slot = (*head + *n) % cap;
        const float *row = s + (size_t)j * ld;
        sb_ref_attn_qk(c, row, crow_pos[j], gamma, beta, q, kring + (size_t)slot * Z);
        memcpy(vring + (size_t)slot * H, row + Z + H, sizeof(float) * (size_t)H);
        pring[slot] = crow_pos[j];
        if (*n < c->W) (*n)++;
        else *head = (*head + 1) % cap;
    }
    free(q);
}
