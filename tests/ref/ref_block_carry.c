/* ref_block_carry.c - see cl/block_carry.cl for the rule. */
#include "ref_block_carry.h"

void sb_ref_block_rows(int *ctok, int *cpos, const int *halo_pos, int h, int M, int W, int pos0) {
    for (int i = 0; i < h; i++) {
        ctok[i] = W - h + i;
        cpos[i] = halo_pos[i];
    }
    for (int i = h; i < h + M; i++) {
        ctok[i] += W;
        cpos[i] += pos0;
    }
}
