/* status.c - status strings, error records, version. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

const char *sb_status_string(sb_status status) {
    switch (status) {
    case SB_OK: return "ok";
    case SB_ERR_ARG: return "bad argument";
    case SB_ERR_STATE: return "call not valid in this state";
    case SB_ERR_IO: return "file input/output error";
    case SB_ERR_FORMAT: return "malformed file";
    case SB_ERR_TENSOR: return "missing or mis-shaped tensor";
    case SB_ERR_META: return "missing or invalid metadata";
    case SB_ERR_UNSUPPORTED: return "unsupported";
    case SB_ERR_HOST_MEMORY: return "out of host memory";
    case SB_ERR_DEVICE_MEMORY: return "out of device memory";
    case SB_ERR_OPENCL: return "OpenCL error";
    case SB_ERR_NO_DEVICE: return "no matching OpenCL device";
    case SB_ERR_BUILD: return "kernel build failed";
    case SB_ERR_BLAS: return "CLBlast error";
    case SB_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

unsigned sb_version_number(void) { return SB_VERSION_NUMBER; }
const char *sb_version_string(void) { return SB_VERSION_STRING; }

sb_status sb_fail(sb_err *e, sb_status status, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->status = status;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

void sb_err_prefix(sb_err *e, const char *fmt, ...) {
    char head[256];
    va_list ap;
    if (!e) return;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    size_t hl = strlen(head), ml = strlen(e->msg);
    if (hl + ml + 1 > sizeof e->msg) return;
    memmove(e->msg + hl, e->msg, ml + 1);
    memcpy(e->msg, head, hl);
}

void sb_err_clear(sb_err *e) {
    if (e) {
        e->status = SB_OK;
        e->msg[0] = '\0';
    }
}

size_t sb_mul_size(size_t a, size_t b) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    return a * b;
}
