/* test_block_carry.c - the block-row kernel (cl/block_carry.cl) through its
 * launcher (runtime/ops/block_carry.c) against its plain-C twin
 * (tests/ref/ref_block_carry.c); the block-wise forward that uses it is
 * test_block.c's. */
#include <stdlib.h>
#include <string.h>
#include "../runtime/ops/block_carry.h"
#include "ref/ref_block_carry.h"
#include "testutil.h"

/* (h, M, pos0) with W = 6: no halo, a partial halo, a full halo and no
 * block rows, a full halo and many rows; the tables sit at an offset with
 * guard entries after them that must stay untouched. */
START_TEST(test_block_rows_kernel) {
    sb_rt *rt = tu_rt();
    const int W = 6, cases[][3] = {{0, 5, 0}, {3, 7, 100}, {6, 0, 12}, {6, 40, 1000}};
    const int lead = 4; /* entries in front of the tables (the views' offset) */
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int h = cases[k][0], M = cases[k][1], pos0 = cases[k][2], n = lead + h + M + 3;
        int *tok = malloc(sizeof(int) * n), *pos = malloc(sizeof(int) * n), halo[6];
        for (int i = 0; i < n; i++) tok[i] = i * 3 % 11, pos[i] = i * 5 % 17;
        for (int i = 0; i < W; i++) halo[i] = 50 + 7 * i;
        int *wt = malloc(sizeof(int) * n), *wp = malloc(sizeof(int) * n);
        memcpy(wt, tok, sizeof(int) * n);
        memcpy(wp, pos, sizeof(int) * n);
        sb_ref_block_rows(wt + lead, wp + lead, halo, h, M, W, pos0);
        cl_mem dt = tu_upload(rt, tok, sizeof(int) * n), dp = tu_upload(rt, pos, sizeof(int) * n);
        cl_mem dh = tu_upload(rt, halo, sizeof halo);
        const size_t len = sb_i32((size_t)(h + M));
        TU_OK(sb_op_block_rows(rt, sb_view(dt, sb_i32(lead), len), sb_view(dp, sb_i32(lead), len), dh, h,
                               M, W, pos0, &tu_err));
        tu_download(rt, dt, tok, sizeof(int) * n);
        tu_download(rt, dp, pos, sizeof(int) * n);
        for (int i = 0; i < n; i++) {
            ck_assert_int_eq(tok[i], wt[i]);
            ck_assert_int_eq(pos[i], wp[i]); /* entries outside [lead, lead+h+M) untouched too */
        }
        /* a table view shorter than h + M is refused before any launch */
        if (h + M > 0) {
            const size_t shortl = sb_i32((size_t)(h + M - 1));
            ck_assert_int_eq(sb_op_block_rows(rt, sb_view(dt, 0, shortl), sb_view(dp, 0, len), dh, h, M,
                                              W, pos0, &tu_err),
                             SB_ERR_ARG);
        }
        clReleaseMemObject(dt);
        clReleaseMemObject(dp);
        clReleaseMemObject(dh);
        free(tok), free(pos), free(wt), free(wp);
    }
    sb_rt_free(rt);
}
END_TEST

int main(void) {
    Suite *s = suite_create("block_carry");
    TCase *t = tcase_create("kernels");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_block_rows_kernel);
    suite_add_tcase(s, t);
    return tu_run(s);
}
