/* embed_wt.cl - embedding rows from a table [V][D] stored as wt_t (the text of
 * runtime/wtype.c prepended by the host: f16 by vload_half, bf16 by a shift,
 * int8 codes with one scale per row, i.e. per token, trailing the codes) into
 * float activations. The f32 table takes norm_eltwise.cl's embed and a buffer
 * copy; these kernels serve the other storage types. */

/* y[t, :] = table[ids[t], :], 2-D range (feature c, row t). */
__kernel void embed_wt(const int T, const int D, const int V, __global const int *ids, const ulong ids_off,
                       __global const wt_t *table, __global float *y, const ulong y_off) {
    const int c = (int)get_global_id(0);
    const ulong t = get_global_id(1);
    if (c >= D || t >= (ulong)T) return;
    const ulong id = (ulong)ids[ids_off + t];
    float v = WLOAD(id * (ulong)D + (ulong)c, table);
#if SB_W == 3
    v *= WSCALES(table, (ulong)V * (ulong)D)[id];
#endif
    y[y_off + t * (ulong)D + (ulong)c] = v;
}

/* y[0 .. D) = table[id, :] (a streamed token; the id is an argument). */
__kernel void embed_row_wt(const int D, const int V, const int id, __global const wt_t *table,
                           __global float *y, const ulong y_off) {
    const int c = (int)get_global_id(0);
    if (c >= D) return;
    float v = WLOAD((ulong)id * (ulong)D + (ulong)c, table);
#if SB_W == 3
    v *= WSCALES(table, (ulong)V * (ulong)D)[id];
#endif
    y[y_off + (ulong)c] = v;
}
