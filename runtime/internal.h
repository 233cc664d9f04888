/* internal.h - shared helpers of the runtime: error record, checked allocation. */
#ifndef SB_INTERNAL_H
#define SB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "seqboat.h"

#define SB_ERR_MSG_MAX 8192

/* An error record: the status and a message that names the detail. */
typedef struct sb_err {
    sb_status status;
    char msg[SB_ERR_MSG_MAX];
} sb_err;

/* Record status + formatted message in e (e may be NULL); returns status. */
sb_status sb_fail(sb_err *e, sb_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void sb_err_clear(sb_err *e);
/* Put a formatted head in front of e's message (no-op for NULL e, or when
 * the result would not fit). */
void sb_err_prefix(sb_err *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Jump to the function's `done:` label with a recorded failure. Needs a local
 * `sb_status st` and an `sb_err *e` in scope. */
#define SB_FAIL(status_, ...)                                                  \
    do {                                                                       \
        st = sb_fail(e, (status_), __VA_ARGS__);                               \
        goto done;                                                             \
    } while (0)
/* Evaluate an sb_status expression; on failure jump to done (message already set). */
#define SB_TRY(expr_)                                                          \
    do {                                                                       \
        st = (expr_);                                                          \
        if (st != SB_OK) goto done;                                            \
    } while (0)

/* Overflow-checked size product; returns 0 on overflow (sizes are never 0 here). */
size_t sb_mul_size(size_t a, size_t b);

/* Store e as this thread's handle-less last error; returns e->status. */
sb_status sb_api_fail_tls(const sb_err *e);

#endif
