/* api_struct.h - filling the caller's extensible output structs (seqboat.h,
 * "Extensible structs"): sb_device_desc, sb_model_info.
 *
 * The library builds a complete struct of its own size, then copies into the
 * caller's the fields that lie wholly inside the caller's struct_size: bytes
 * from the end of struct_size to the end of the last such field (padding
 * between them included, never a part of a field). ends[] lists each field's
 * end offset (SB_FIELD_END) in declaration order. struct_size itself, and
 * anything past the last field that fits, is left as the caller had it. */
#ifndef SB_API_STRUCT_H
#define SB_API_STRUCT_H
#include <stddef.h>
#include <string.h>
#include "internal.h"

#define SB_FIELD_END(type_, field_) (offsetof(type_, field_) + sizeof(((type_ *)0)->field_))

/* SB_ERR_ARG (message in e, naming `what`) when size is below the end of
 * the first field (0: not set), else SB_OK. */
static inline sb_status sb_struct_size_check(const char *what, size_t size, const size_t *ends,
                                             size_t lib_size, sb_err *e) {
    if (size < ends[0])
        return sb_fail(e, SB_ERR_ARG,
                       "%s.struct_size is %zu: set it to sizeof(%s) (%zu in this library, %s); "
                       "at least %zu is needed",
                       what, size, what, lib_size, SB_VERSION_STRING, ends[0]);
    return SB_OK;
}

/* Copy src's fields that fit in size bytes into dst (size already checked). */
static inline void sb_struct_copy_fit(void *dst, size_t size, const void *src, const size_t *ends,
                                      int n_ends) {
    size_t end = 0;
    for (int i = 0; i < n_ends && ends[i] <= size; i++) end = ends[i];
    if (end > sizeof(size_t))
        memcpy((unsigned char *)dst + sizeof(size_t), (const unsigned char *)src + sizeof(size_t),
               end - sizeof(size_t));
}
#endif
