/* test_struct_size.c - the extensible output structs (seqboat.h, "Extensible
 * structs"): sb_model_info and sb_device_desc filled as far as the caller's
 * struct_size reaches and never beyond (guard bytes), a struct_size too small
 * or unset refused with SB_ERR_ARG and a message, a larger one (a newer
 * header) accepted with the bytes past the library's fields left alone. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "seqboat.h"

#define MODEL SB_TEST_DATA_DIR "/causal_relu2_layernorm.model.safetensors"
#define GUARD 0xA5
#define END(type_, f) (offsetof(type_, f) + sizeof(((type_ *)0)->f))

static sb_model *load(void) {
    sb_model *m = NULL;
    sb_status st = sb_model_load(MODEL, NULL, &m);
    ck_assert_msg(st == SB_OK, "load: %s", sb_last_error());
    return m;
}

/* bytes [from, to) of p are all GUARD */
static void assert_guard(const unsigned char *p, size_t from, size_t to, const char *what) {
    for (size_t i = from; i < to; i++)
        ck_assert_msg(p[i] == GUARD, "%s: byte %zu written (0x%02x)", what, i, p[i]);
}

START_TEST(model_info_full) {
    sb_model *m = load();
    sb_model_info info = {.struct_size = sizeof(sb_model_info)};
    ck_assert_int_eq(sb_model_get_info(m, &info), SB_OK);
    ck_assert_uint_eq(info.struct_size, sizeof(sb_model_info));
    ck_assert_int_eq(info.task, SB_SEQUENCE);
    ck_assert_int_gt(info.n_layers, 0);
    ck_assert_int_gt(info.d_model, 0);
    ck_assert(info.n_params > 0);
    ck_assert(info.device[0] != '\0');
    sb_model_free(m);
}
END_TEST

/* An older caller: its struct ends at rel_pos_bias (exactly, or padded to
 * n_params' alignment), or part-way into device. */
START_TEST(model_info_older) {
    sb_model *m = load();
    sb_model_info full = {.struct_size = sizeof(sb_model_info)};
    ck_assert_int_eq(sb_model_get_info(m, &full), SB_OK);
    const size_t sizes[] = {END(sb_model_info, rel_pos_bias), offsetof(sb_model_info, n_params),
                            offsetof(sb_model_info, device) + 10, END(sb_model_info, task)};
    const size_t filled[] = {END(sb_model_info, rel_pos_bias), END(sb_model_info, rel_pos_bias),
                             END(sb_model_info, n_params), END(sb_model_info, task)};
    for (int k = 0; k < 4; k++) {
        unsigned char buf[sizeof(sb_model_info) + 64];
        memset(buf, GUARD, sizeof buf);
        size_t size = sizes[k];
        memcpy(buf, &size, sizeof size);
        ck_assert_int_eq(sb_model_get_info(m, (sb_model_info *)(void *)buf), SB_OK);
        size_t got;
        memcpy(&got, buf, sizeof got);
        ck_assert_uint_eq(got, size); /* struct_size is never changed */
        /* the fields that fit equal the full struct's, field by field */
        sb_model_info part;
        memcpy(&part, buf, sizeof part);
        if (filled[k] >= END(sb_model_info, task)) ck_assert_int_eq(part.task, full.task);
        if (filled[k] >= END(sb_model_info, d_model)) ck_assert_int_eq(part.d_model, full.d_model);
        if (filled[k] >= END(sb_model_info, rel_pos_bias)) {
            ck_assert_int_eq(part.n_layers, full.n_layers);
            ck_assert_int_eq(part.mem_size, full.mem_size);
            ck_assert_int_eq(part.rel_pos_bias, full.rel_pos_bias);
        }
        if (filled[k] >= END(sb_model_info, n_params)) ck_assert(part.n_params == full.n_params);
        /* nothing past the last field that fits */
        assert_guard(buf, filled[k], sizeof buf, "older sb_model_info");
    }
    sb_model_free(m);
}
END_TEST

/* A newer caller: struct_size beyond the library's; the extra bytes are left alone. */
START_TEST(model_info_newer) {
    sb_model *m = load();
    sb_model_info full = {.struct_size = sizeof(sb_model_info)};
    ck_assert_int_eq(sb_model_get_info(m, &full), SB_OK);
    struct {
        sb_model_info info;
        unsigned char newer[48];
    } big;
    memset(&big, GUARD, sizeof big);
    big.info.struct_size = sizeof big;
    ck_assert_int_eq(sb_model_get_info(m, &big.info), SB_OK);
    ck_assert_uint_eq(big.info.struct_size, sizeof big);
    ck_assert_int_eq(big.info.d_hidden, full.d_hidden);
    ck_assert(big.info.n_params == full.n_params);
    ck_assert_str_eq(big.info.device, full.device);
    assert_guard((const unsigned char *)&big, END(sb_model_info, device), sizeof big,
                 "newer sb_model_info");
    sb_model_free(m);
}
END_TEST

START_TEST(model_info_refused) {
    sb_model *m = load();
    const size_t bad[] = {0, sizeof(size_t), END(sb_model_info, task) - 1};
    for (int k = 0; k < 3; k++) {
        unsigned char buf[sizeof(sb_model_info)];
        memset(buf, GUARD, sizeof buf);
        memcpy(buf, &bad[k], sizeof bad[k]);
        ck_assert_int_eq(sb_model_get_info(m, (sb_model_info *)(void *)buf), SB_ERR_ARG);
        const char *msg = sb_model_last_error(m);
        ck_assert_msg(strstr(msg, "sb_model_info.struct_size") && strstr(msg, "sizeof(sb_model_info)"),
                      "message: %s", msg);
        assert_guard(buf, sizeof(size_t), sizeof buf, "refused sb_model_info");
    }
    ck_assert_int_eq(sb_model_get_info(m, NULL), SB_ERR_ARG);
    ck_assert_msg(strstr(sb_model_last_error(m), "NULL"), "%s", sb_model_last_error(m));
    sb_model_free(m);
}
END_TEST

/* sb_devices: out[0].struct_size is every entry's size. */
START_TEST(device_desc_sizes) {
    int n = 0;
    ck_assert_int_eq(sb_devices(NULL, 0, &n), SB_OK);
    ck_assert_int_gt(n, 0);
    sb_device_desc *full = calloc((size_t)n, sizeof *full);
    ck_assert_ptr_nonnull(full);
    full[0].struct_size = sizeof *full;
    ck_assert_int_eq(sb_devices(full, n, &n), SB_OK);
    for (int i = 0; i < n; i++) {
        ck_assert_uint_eq(full[i].struct_size, sizeof *full);
        ck_assert_int_eq(full[i].index, i);
        ck_assert(full[i].name[0] != '\0');
    }
    /* older (ends at compute_units, padded as a compiler would), newer (+24 bytes) */
    const size_t strides[] = {offsetof(sb_device_desc, global_mem_bytes), sizeof(sb_device_desc) + 24};
    const size_t filled[] = {END(sb_device_desc, compute_units), END(sb_device_desc, max_work_group_size)};
    for (int k = 0; k < 2; k++) {
        size_t stride = strides[k], total = stride * (size_t)n + 64;
        unsigned char *buf = malloc(total);
        ck_assert_ptr_nonnull(buf);
        memset(buf, GUARD, total);
        memcpy(buf, &stride, sizeof stride); /* element 0 only */
        int got_n = 0;
        ck_assert_msg(sb_devices((sb_device_desc *)(void *)buf, n, &got_n) == SB_OK, "%s", sb_last_error());
        ck_assert_int_eq(got_n, n);
        for (int i = 0; i < n; i++) {
            unsigned char *el = buf + (size_t)i * stride;
            size_t sz;
            int index;
            unsigned cu;
            char name[256];
            memcpy(&sz, el, sizeof sz);
            memcpy(&index, el + offsetof(sb_device_desc, index), sizeof index);
            memcpy(name, el + offsetof(sb_device_desc, name), sizeof name);
            memcpy(&cu, el + offsetof(sb_device_desc, compute_units), sizeof cu);
            ck_assert_uint_eq(sz, stride);
            ck_assert_int_eq(index, full[i].index);
            ck_assert_str_eq(name, full[i].name);
            ck_assert_uint_eq(cu, full[i].compute_units);
            if (k == 1) {
                uint64_t mem;
                memcpy(&mem, el + offsetof(sb_device_desc, global_mem_bytes), sizeof mem);
                ck_assert(mem == full[i].global_mem_bytes);
            }
            assert_guard(el, filled[k], stride, k ? "newer sb_device_desc" : "older sb_device_desc");
        }
        assert_guard(buf, stride * (size_t)n, total, "past the sb_device_desc array");
        free(buf);
    }
    /* unset (0) or too small: refused, nothing written */
    const size_t bad[] = {0, END(sb_device_desc, index) - 1};
    for (int k = 0; k < 2; k++) {
        sb_device_desc d[2];
        memset(d, GUARD, sizeof d);
        d[0].struct_size = bad[k];
        int got_n = -1;
        ck_assert_int_eq(sb_devices(d, 2, &got_n), SB_ERR_ARG);
        ck_assert_int_eq(got_n, -1);
        ck_assert_msg(strstr(sb_last_error(), "sb_device_desc.struct_size"), "%s", sb_last_error());
        assert_guard((const unsigned char *)d, sizeof(size_t), sizeof d, "refused sb_device_desc");
    }
    /* cap 0: out may be NULL and no struct_size is read */
    ck_assert_int_eq(sb_devices(NULL, 0, &n), SB_OK);
    free(full);
}
END_TEST

int main(void) {
    Suite *s = suite_create("struct_size");
    TCase *t = tcase_create("extensible");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, model_info_full);
    tcase_add_test(t, model_info_older);
    tcase_add_test(t, model_info_newer);
    tcase_add_test(t, model_info_refused);
    tcase_add_test(t, device_desc_sizes);
    suite_add_tcase(s, t);
    return tu_run(s);
}
