/* block_carry.h - the compressed-row tables of one block of a long causal
 * sequence processed block by block (cl/block_carry.cl; used by model.c's
 * carry_in). Reference: tests/ref/ref_block_carry.c; test:
 * tests/test_block_carry.c. Ops only enqueue work.
 *
 * The layer's mx buffer holds W halo rows in front of the block's rows; the
 * last h <= W of them are the carried compressed rows of earlier blocks. The
 * compaction wrote the block's M activated rows at table index h.. with
 * block-local token rows and positions. block_rows makes the tables absolute:
 *   i <  h:        ctok[i] = W - h + i         cpos[i] = halo_pos[i]
 *   h <= i < h+M:  ctok[i] += W                cpos[i] += pos0
 */
#ifndef SB_OPS_BLOCK_CARRY_H
#define SB_OPS_BLOCK_CARRY_H
#include "ops.h"

/* The set of cl/block_carry.cl (block_rows). */
sb_status sb_block_carry_kernels(sb_rt *rt, sb_kset **out, sb_err *e);

/* The rule above over ctok, cpos (int, h + M entries from their offsets) with
 * halo_pos (int [h] at offset 0 on the device). */
sb_status sb_op_block_rows(sb_rt *rt, sb_buf ctok, sb_buf cpos, cl_mem halo_pos, int h, int M, int W,
                           int pos0, sb_err *e);

#endif
