/* mpi_split.c - sbmpi_split (sb_mpi.h): the weighted, token-balanced cut of
 * a batch over ranks. No MPI inside (tests/test_mpi_split.c includes it). */
#include <stdint.h>

void sbmpi_split(int B, const int32_t *len, int nranks, const int *weight, int *cut);

void sbmpi_split(int B, const int32_t *len, int nranks, const int *weight, int *cut) {
    double total = 0, wsum = 0;
    for (int b = 0; b < B; b++) total += len[b];
    for (int r = 0; r < nranks; r++) wsum += weight[r] > 0 ? weight[r] : 1;
    cut[0] = 0;
    int b = 0;
    double prefix = 0, wacc = 0; /* prefix = tokens of sequences [0, b) */
    for (int r = 1; r < nranks; r++) {
        wacc += weight[r - 1] > 0 ? weight[r - 1] : 1;
        double target = total * wacc / wsum;
        /* advance while the next sequence ends at or before the target, then
         * take one more if that lands closer to it */
        while (b < B && prefix + len[b] <= target) prefix += len[b++];
        if (b < B && prefix + len[b] - target < target - prefix) prefix += len[b++];
        cut[r] = b;
    }
    cut[nranks] = B;
}
