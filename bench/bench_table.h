/* bench_table.h - the table `seqboat bench` prints on stdout: a header, one
 * line per row with its notes (phase split, roofline), and the reprint of a
 * device's rows when its peak was measured again during the sweep, so that
 * the last table printed for a device agrees with the JSON / CSV / HTML
 * reports (bench/bench_table.c). */
#ifndef SB_BENCH_TABLE_H
#define SB_BENCH_TABLE_H
#include <stdio.h>
#include "bench.h"

/* The column legend and the column names. */
void sb_bench_table_header(FILE *f);
/* One row: its line, then its notes (error / skip rows: their status). */
void sb_bench_table_row(FILE *f, const sb_bench_row *r);
/* The peak of a device was measured again (gflops, gbs): the rows
 * rep->rows[at[i]] (i < n) are recomputed from raw[i], their copies before
 * sb_bench_roofline, against it (node and rank kept), and when f is not NULL
 * printed again under a header, with a line saying they supersede the lines
 * printed earlier. Indices outside rep are skipped. Returns the number of
 * rows recomputed (0: nothing printed). */
int sb_bench_table_repeak(FILE *f, sb_bench_report *rep, const sb_bench_row *raw, const int *at, int n,
                          double gflops, double gbs);
#endif
