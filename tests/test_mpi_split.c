/* test_mpi_split.c - the split of `mpirun seqboat run` (cli/mpi_split.c, no
 * MPI inside): contiguous runs covering every sequence once, token shares
 * following the ranks' device counts, more ranks than sequences. */
#include <stdlib.h>
#include "testutil.h"
#include "../cli/mpi_split.c"

static void check_cover(int B, int n, const int *cut) {
    ck_assert_int_eq(cut[0], 0);
    ck_assert_int_eq(cut[n], B);
    for (int r = 0; r < n; r++) ck_assert_int_le(cut[r], cut[r + 1]);
}

static long tokens(const int32_t *len, int a, int b) {
    long t = 0;
    for (int i = a; i < b; i++) t += len[i];
    return t;
}

START_TEST(test_equal_lengths) {
    int32_t len[12];
    int w[4] = {1, 1, 1, 1}, cut[5];
    for (int i = 0; i < 12; i++) len[i] = 100;
    sbmpi_split(12, len, 4, w, cut);
    check_cover(12, 4, cut);
    for (int r = 0; r < 4; r++) ck_assert_int_eq(cut[r + 1] - cut[r], 3);
}
END_TEST

START_TEST(test_weighted) { /* rank 1 has two devices: twice the tokens */
    int32_t len[30];
    int w[3] = {1, 2, 1}, cut[4];
    for (int i = 0; i < 30; i++) len[i] = 10;
    sbmpi_split(30, len, 3, w, cut);
    check_cover(30, 3, cut);
    ck_assert_int_eq(cut[1], 7); /* target 7.5 sequences: the closer cut, a tie to the left */
    ck_assert_int_eq(cut[2] - cut[1], 15);
    ck_assert_int_eq(cut[3] - cut[2], 8);
}
END_TEST

START_TEST(test_ragged_balance) { /* random lengths: each share within one sequence of its target */
    srand(15);
    for (int trial = 0; trial < 200; trial++) {
        int B = 1 + rand() % 300, n = 1 + rand() % 9, w[9], cut[10];
        int32_t *len = malloc((size_t)B * sizeof *len);
        ck_assert_ptr_nonnull(len);
        long total = 0, wsum = 0, maxlen = 0;
        for (int i = 0; i < B; i++) {
            len[i] = 1 + rand() % 1000;
            total += len[i];
            if (len[i] > maxlen) maxlen = len[i];
        }
        for (int r = 0; r < n; r++) wsum += w[r] = 1 + rand() % 3;
        sbmpi_split(B, len, n, w, cut);
        check_cover(B, n, cut);
        long acc = 0;
        for (int r = 0; r < n; r++) {
            acc += w[r];
            double target = (double)total * acc / wsum;
            long prefix = tokens(len, 0, cut[r + 1]);
            ck_assert_msg(prefix >= target - maxlen && prefix <= target + maxlen,
                          "trial %d: prefix %ld of rank %d, target %.1f", trial, prefix, r, target);
        }
        free(len);
    }
}
END_TEST

START_TEST(test_more_ranks_than_sequences) {
    int32_t len[2] = {37, 21};
    int w[5] = {1, 1, 1, 1, 1}, cut[6], busy = 0;
    sbmpi_split(2, len, 5, w, cut);
    check_cover(2, 5, cut);
    for (int r = 0; r < 5; r++) busy += cut[r + 1] > cut[r];
    ck_assert_int_eq(busy, 2);
    int32_t one[1] = {5};
    sbmpi_split(1, one, 3, w, cut);
    check_cover(1, 3, cut);
}
END_TEST

static Suite *split_suite(void) {
    Suite *s = suite_create("mpi_split");
    TCase *t = tcase_create("host");
    tcase_add_test(t, test_equal_lengths);
    tcase_add_test(t, test_weighted);
    tcase_add_test(t, test_ragged_balance);
    tcase_add_test(t, test_more_ranks_than_sequences);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_run(split_suite()); }
