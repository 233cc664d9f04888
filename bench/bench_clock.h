/* bench_clock.h - the monotonic clock every bench measurement reads (the
 * engine, the decode timer and `seqboat peak`). */
#ifndef SB_BENCH_CLOCK_H
#define SB_BENCH_CLOCK_H

/* Monotonic clock in milliseconds (CLOCK_MONOTONIC). */
double sb_bench_now_ms(void);

#endif
