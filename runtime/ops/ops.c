/* ops.c - helpers shared by the op launchers. */
#include "ops.h"

sb_status sb_ops_check_buf(const char *op, const char *name, sb_buf b, size_t bytes,
                           cl_ulong *elem_off, sb_err *e) {
    if (!b.mem) return sb_fail(e, SB_ERR_ARG, "%s: buffer %s is NULL", op, name);
    if (b.off % 4 != 0)
        return sb_fail(e, SB_ERR_ARG, "%s: offset of %s (%zu bytes) is not a multiple of 4", op, name,
                       b.off);
    if (bytes > 0) {
        size_t size = 0;
        cl_int err = clGetMemObjectInfo(b.mem, CL_MEM_SIZE, sizeof size, &size, NULL);
        if (err != CL_SUCCESS)
            return sb_fail(e, SB_ERR_OPENCL, "%s: clGetMemObjectInfo(%s) failed: %s (%d)", op, name,
                           sb_cl_error_string(err), err);
        if (b.off > size || size - b.off < bytes)
            return sb_fail(e, SB_ERR_ARG, "%s: buffer %s holds %zu bytes from offset %zu, %zu needed",
                           op, name, b.off > size ? (size_t)0 : size - b.off, b.off, bytes);
    }
    *elem_off = (cl_ulong)(b.off / 4);
    return SB_OK;
}

size_t sb_pow2_ceil(size_t n) {
    size_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

size_t sb_pow2_floor(size_t n) {
    size_t p = 1;
    while (p <= n / 2) p <<= 1;
    return p;
}
