/* ref_bench_force.c - see ref_bench_force.h. */
#include <math.h>
#include <stdint.h>
#include "ref_bench_force.h"

static uint32_t mix(uint32_t x) {
    x = x ^ (x >> 16);
    x = x * 2146121005u; /* 0x7feb352d */
    x = x ^ (x >> 15);
    x = x * 2221713035u; /* 0x846ca68b */
    x = x ^ (x >> 16);
    return x;
}

void sb_ref_force_router(int B, const int *start, const int *len, float *u, int ld, double share) {
    double thr = floor(share * 16777216.0 + 0.5);
    if (thr < 0) thr = 0;
    if (thr > 16777216.0) thr = 16777216.0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < len[b]; t++) {
            long row = (long)start[b] + t;
            double v = (double)(mix((uint32_t)t) >> 8);
            u[row * ld + 0] = 0.0f;
            u[row * ld + 1] = v < thr ? 1.0f : -1.0f;
        }
}
