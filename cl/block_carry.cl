/* block_carry.cl - compressed-row tables of one block of a long causal
 * sequence processed block by block (runtime/model_block.c).
 *
 * The layer's mx buffer holds W halo rows in front of the block's rows; the
 * last h <= W of them are the carried compressed rows of earlier blocks. The
 * compaction wrote the block's M activated rows at table index h.. with
 * block-local token rows and positions. This makes the tables absolute:
 *   i <  h:        ctok[i] = W - h + i         cpos[i] = halo_pos[i]
 *   h <= i < h+M:  ctok[i] += W                cpos[i] += pos0
 */
__kernel void block_rows(__global int *ctok, const ulong ctok_off, __global int *cpos,
                         const ulong cpos_off, __global const int *halo_pos, const int h,
                         const int M, const int W, const int pos0) {
    const int i = (int)get_global_id(0);
    if (i >= h + M) return;
    if (i < h) {
        ctok[ctok_off + i] = W - h + i;
        cpos[cpos_off + i] = halo_pos[i];
    } else {
        ctok[ctok_off + i] += W;
        cpos[cpos_off + i] += pos0;
    }
}
