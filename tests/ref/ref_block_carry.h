/* ref_block_carry.h - plain-C twin of cl/block_carry.cl. */
#ifndef SB_REF_BLOCK_CARRY_H
#define SB_REF_BLOCK_CARRY_H
void sb_ref_block_rows(int *ctok, int *cpos, const int *halo_pos, int h, int M, int W, int pos0);
#endif
