/* model_block.c - the forward's entry: one pass (model.c) or, for long causal
 * sequences, block by block. model.c knows nothing of this file.
 *
 * A causal layer's output at t depends on the past only through the EMA state
 * and the last W activated rows. So a sequence longer than block_tokens runs
 * through the whole model one block at a time, each layer carrying its EMA
 * state and its last W compressed rows (mx rows + absolute positions) to the
 * next block, where they are recomputed as the keys in front of the block's
 * first queries. Activation memory is then planned for one block, not for the
 * sequence: the peak no longer grows with L. The result is the same
 * computation as one pass (same kernels, same order of the sums per row up to
 * the chunking of the scan and the GEMM tiling).
 *
 * Used for causal models without EMA truncation whose task is sequence or lm
 * (a classify model pools the whole sequence; a truncated EMA would also need
 * the last `truncation` inputs). Sequences of a batch run one after another. */
#include <stdlib.h>
#include <string.h>
#include "model.h"

int sb_model_impl_block_tokens(const sb_model_impl *m) {
    return m->block_tokens > 0 ? m->block_tokens : SB_BLOCK_TOKENS;
}

int sb_model_impl_blocked(const sb_model_impl *m, int B, int L, const int32_t *lengths,
                          const sb_layer_capture *caps) {
    const sb_config *c = &m->cfg;
    /* local: the carried halo's bias would need indices continued across blocks */
    if (c->bidirectional || c->truncation > 0 || c->task == SB_TASK_CLASSIFY || c->rel_local)
        return 0;
    if (caps && B != 1) return 0;
    int longest = 0;
    for (int b = 0; b < B; b++) {
        int n = lengths ? lengths[b] : L;
        if (n < 1 || n > L) return 0; /* the pass reports the bad length */
        if (n > longest) longest = n;
    }
    return longest > sb_model_impl_block_tokens(m);
}

sb_status sb_model_impl_forward(sb_model_impl *m, int B, int L, const float *x,
                                const int32_t *ids, const int32_t *lengths, float *out, sb_err *e) {
    return sb_model_impl_forward_ex(m, B, L, x, ids, lengths, out, NULL, e);
}

sb_status sb_model_impl_forward_ex(sb_model_impl *m, int B, int L, const float *x,
                                   const int32_t *ids, const int32_t *lengths, float *out,
                                   const sb_layer_capture *caps, sb_err *e) {
    if (B >= 1 && L >= 1 && out && sb_model_impl_blocked(m, B, L, lengths, caps))
        return sb_model_impl_forward_blocked(m, B, L, x, ids, lengths, out, caps, e);
    return sb_model_impl_pass(m, B, L, x, ids, lengths, out, caps, NULL, e);
}

static void free_carries(sb_layer_carry *cr, int n) {
    if (!cr) return;
    for (int i = 0; i < n; i++) {
        if (cr[i].ema_state.mem) clReleaseMemObject(cr[i].ema_state.mem);
        if (cr[i].halo_mx) clReleaseMemObject(cr[i].halo_mx);
        if (cr[i].halo_pos) clReleaseMemObject(cr[i].halo_pos);
    }
    free(cr);
}

sb_status sb_model_impl_forward_blocked(sb_model_impl *m, int B, int L, const float *x,
                                        const int32_t *ids, const int32_t *lengths, float *out,
                                        const sb_layer_capture *caps, sb_err *e) {
    sb_status st = SB_OK;
    const sb_config *c = &m->cfg;
    sb_rt *rt = m->rt;
    int nl = c->n_layers, Tb = sb_model_impl_block_tokens(m);
    size_t D = (size_t)c->d_model, N = (size_t)c->d_ema, W = (size_t)c->mem_size;
    size_t F = sb_config_token_input(c) ? 0 : (size_t)c->d_input, dout = (size_t)c->d_output;
    sb_layer_capture *cap_last = NULL;
    sb_layer_stats *sum = calloc((size_t)nl, sizeof *sum);
    sb_layer_carry *cr = calloc((size_t)nl, sizeof *cr);
    if (!sum || !cr) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < nl; i++) {
        SB_TRY(sb_rt_alloc(rt, sb_f32(D * N), &cr[i].ema_state.mem, "carried EMA state", e));
        cr[i].ema_state = sb_view(cr[i].ema_state.mem, 0, sb_f32(D * N));
        SB_TRY(sb_rt_alloc(rt, sb_f32(W * D), &cr[i].halo_mx, "carried rows", e));
        SB_TRY(sb_rt_alloc(rt, sb_i32(W), &cr[i].halo_pos, "carried positions", e));
    }
    if (caps) {
        cap_last = calloc((size_t)nl, sizeof *cap_last);
        if (!cap_last) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory");
    }
    memset(out, 0, sizeof(float) * (size_t)B * L * dout); /* padding stays 0 */
    for (int b = 0; b < B; b++) {
        int len = lengths ? lengths[b] : L;
        for (int i = 0; i < nl; i++) {
            SB_TRY(sb_rt_fill_zero(rt, cr[i].ema_state.mem, 0, sb_f32(D * N), e));
            cr[i].halo_n = 0;
        }
        for (int t0 = 0; t0 < len; t0 += Tb) {
            int n = len - t0 < Tb ? len - t0 : Tb, last = t0 + n == len;
            for (int i = 0; i < nl; i++) cr[i].pos0 = t0;
            if (caps)
                for (int i = 0; i < nl; i++) {
                    /* the EMA state is carried in place; the ring is seeded by the last block */
                    cap_last[i] = caps[i];
                    cap_last[i].ema_state.mem = NULL;
                    if (!last) cap_last[i].ring = NULL;
                }
            size_t row = (size_t)b * L + (size_t)t0;
            SB_TRY(sb_model_impl_pass(m, 1, n, F ? x + row * F : NULL, F ? NULL : ids + row, NULL,
                                      out + row * dout, cap_last, cr, e));
            for (int i = 0; i < nl; i++) {
                sum[i].tokens += m->stats[i].tokens;
                sum[i].activated += m->stats[i].activated;
                sum[i].ms += m->stats[i].ms;
            }
        }
        if (caps)
            for (int i = 0; i < nl; i++)
                if (caps[i].ema_state.mem) {
                    cl_int err = clEnqueueCopyBuffer(rt->queue, cr[i].ema_state.mem,
                                                     caps[i].ema_state.mem, 0, caps[i].ema_state.off,
                                                     sb_f32(D * N), 0, NULL, NULL);
                    if (err != CL_SUCCESS)
                        SB_FAIL(SB_ERR_OPENCL, "handing over the EMA state: %s", sb_cl_error_string(err));
                }
    }
    SB_TRY(sb_rt_finish(rt, e));
    memcpy(m->stats, sum, sizeof *sum * (size_t)nl);
done:
    free(sum);
    free(cap_last);
    free_carries(cr, nl);
    return st;
}
