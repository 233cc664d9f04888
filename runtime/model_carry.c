/* model_carry.c - what a layer keeps between calls over one sequence: the
 * EMA inputs of the last tokens (truncation ring, streaming prefill) and, for
 * a long sequence run block by block, the carried compressed rows (halo) put
 * in front of the next block. Called from the layer steps in model.c. */
#include "model.h"
#include "ops/block_carry.h"
#include "ops/gate.h"

/* Copy the EMA inputs of the last min(T, trunc) tokens of a single sequence into
 * the ring row t % trunc (at most two contiguous copies). */
sb_status sb_model_capture_tail(sb_rt *rt, sb_buf xin, int T, int D, int trunc, sb_buf ring,
                                sb_err *e) {
    int first = T > trunc ? T - trunc : 0;
    for (int t = first; t < T;) {
        int slot = t % trunc, n = trunc - slot;
        if (n > T - t) n = T - t;
        const sb_buf src = sb_sub(sb_at_row(xin, (size_t)t, (size_t)D), 0, sb_f32((size_t)n * D));
        const sb_buf dst = sb_sub(sb_at_row(ring, (size_t)slot, (size_t)D), 0, sb_f32((size_t)n * D));
        if (src.len < sb_f32((size_t)n * D) || dst.len < sb_f32((size_t)n * D))
            return sb_fail(e, SB_ERR_INTERNAL, "copying the EMA input tail: a view is too short");
        cl_int err = clEnqueueCopyBuffer(rt->queue, src.mem, dst.mem, src.off, dst.off, src.len, 0,
                                         NULL, NULL);
        if (err != CL_SUCCESS)
            return sb_fail(e, SB_ERR_OPENCL, "copying the EMA input tail: %s", sb_cl_error_string(err));
        t += n;
    }
    return SB_OK;
}

/* Blocked run: put the carried halo in front of the block's rows (mx rows
 * [W-h, W), table entries [0, h)) and make the block's tables absolute. */
sb_status sb_model_carry_in(sb_model_impl *m, sb_layer_carry *cr, int M, sb_err *e) {
    sb_status st = SB_OK;
    sb_rt *rt = m->rt;
    size_t D = (size_t)m->cfg.d_model;
    int W = m->cfg.mem_size, h = cr->halo_n;
    sb_buf mx = sb_model_pb(m, B_MX), ctok = sb_model_pb(m, B_CTOK), cpos = sb_model_pb(m, B_CPOS);
    if (h > 0) {
        const sb_buf dst = sb_sub(sb_at_row(mx, (size_t)(W - h), D), 0, sb_f32((size_t)h * D));
        if (dst.len < sb_f32((size_t)h * D))
            SB_FAIL(SB_ERR_INTERNAL, "copying the carried rows: the mx view is too short");
        cl_int err = clEnqueueCopyBuffer(rt->queue, cr->halo_mx, dst.mem, 0, dst.off, dst.len, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            SB_FAIL(SB_ERR_OPENCL, "copying the carried rows: %s", sb_cl_error_string(err));
    }
    SB_TRY(sb_op_block_rows(rt, ctok, cpos, cr->halo_pos, h, M, W, cr->pos0, e));
done:
    return st;
}

/* Keep the last min(W, Mx) compressed rows (mx rows and positions) for the
 * next block. */
sb_status sb_model_carry_out(sb_model_impl *m, sb_layer_carry *cr, int Mx, sb_err *e) {
    sb_status st = SB_OK;
    sb_rt *rt = m->rt;
    int D = m->cfg.d_model, W = m->cfg.mem_size;
    int hn = Mx < W ? Mx : W;
    SB_TRY(sb_op_gather_rows(rt, sb_model_pb(m, B_MX), D, sb_at_int(sb_model_pb(m, B_CTOK), (size_t)(Mx - hn)), hn, D,
                             sb_view_all(cr->halo_mx), D, e));
    if (hn > 0) {
        const sb_buf src = sb_sub(sb_at_int(sb_model_pb(m, B_CPOS), (size_t)(Mx - hn)), 0, sb_i32((size_t)hn));
        if (src.len < sb_i32((size_t)hn))
            SB_FAIL(SB_ERR_INTERNAL, "keeping the carried positions: the positions view is too short");
        cl_int err = clEnqueueCopyBuffer(rt->queue, src.mem, cr->halo_pos, src.off, 0, src.len, 0, NULL, NULL);
        if (err != CL_SUCCESS)
            SB_FAIL(SB_ERR_OPENCL, "keeping the carried positions: %s", sb_cl_error_string(err));
    }
    cr->halo_n = hn;
done:
    return st;
}
