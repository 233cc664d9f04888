/* bench_clock.c - see bench_clock.h. */
#include <time.h>
#include "bench_clock.h"

double sb_bench_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
