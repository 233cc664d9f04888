/* device.c - platform/device enumeration, limits, selection. */
#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "rt.h"

#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

const char *sb_cl_error_string(cl_int err) {
    switch (err) {
#define C(x) case x: return #x;
    C(CL_SUCCESS) C(CL_DEVICE_NOT_FOUND) C(CL_DEVICE_NOT_AVAILABLE) C(CL_COMPILER_NOT_AVAILABLE)
    C(CL_MEM_OBJECT_ALLOCATION_FAILURE) C(CL_OUT_OF_RESOURCES) C(CL_OUT_OF_HOST_MEMORY)
    C(CL_PROFILING_INFO_NOT_AVAILABLE) C(CL_MEM_COPY_OVERLAP) C(CL_BUILD_PROGRAM_FAILURE)
    C(CL_MAP_FAILURE) C(CL_MISALIGNED_SUB_BUFFER_OFFSET) C(CL_INVALID_VALUE)
    C(CL_INVALID_DEVICE_TYPE) C(CL_INVALID_PLATFORM) C(CL_INVALID_DEVICE) C(CL_INVALID_CONTEXT)
    C(CL_INVALID_QUEUE_PROPERTIES) C(CL_INVALID_COMMAND_QUEUE) C(CL_INVALID_HOST_PTR)
    C(CL_INVALID_MEM_OBJECT) C(CL_INVALID_BINARY) C(CL_INVALID_BUILD_OPTIONS)
    C(CL_INVALID_PROGRAM) C(CL_INVALID_PROGRAM_EXECUTABLE) C(CL_INVALID_KERNEL_NAME)
    C(CL_INVALID_KERNEL_DEFINITION) C(CL_INVALID_KERNEL) C(CL_INVALID_ARG_INDEX)
    C(CL_INVALID_ARG_VALUE) C(CL_INVALID_ARG_SIZE) C(CL_INVALID_KERNEL_ARGS)
    C(CL_INVALID_WORK_DIMENSION) C(CL_INVALID_WORK_GROUP_SIZE) C(CL_INVALID_WORK_ITEM_SIZE)
    C(CL_INVALID_GLOBAL_OFFSET) C(CL_INVALID_EVENT_WAIT_LIST) C(CL_INVALID_EVENT)
    C(CL_INVALID_OPERATION) C(CL_INVALID_BUFFER_SIZE) C(CL_INVALID_GLOBAL_WORK_SIZE)
    C(CL_COMPILE_PROGRAM_FAILURE) C(CL_LINK_PROGRAM_FAILURE) C(CL_INVALID_PROPERTY)
#undef C
    default: return "unknown OpenCL error";
    }
}

const char *sb_device_type_string(cl_device_type t) {
    if (t & CL_DEVICE_TYPE_GPU) return "GPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    if (t & CL_DEVICE_TYPE_CPU) return "CPU";
    return "other";
}

static void dev_str(cl_device_id d, cl_device_info what, char *dst, size_t n) {
    dst[0] = '\0';
    if (clGetDeviceInfo(d, what, n, dst, NULL) != CL_SUCCESS) dst[0] = '\0';
    dst[n - 1] = '\0';
}

static void plat_str(cl_platform_id p, cl_platform_info what, char *dst, size_t n) {
    dst[0] = '\0';
    if (clGetPlatformInfo(p, what, n, dst, NULL) != CL_SUCCESS) dst[0] = '\0';
    dst[n - 1] = '\0';
}

static void read_info(cl_platform_id p, cl_device_id d, int index, sb_device_info *o) {
    memset(o, 0, sizeof *o);
    o->index = index;
    o->platform = p;
    o->device = d;
    plat_str(p, CL_PLATFORM_NAME, o->platform_name, sizeof o->platform_name);
    plat_str(p, CL_PLATFORM_VERSION, o->platform_version, sizeof o->platform_version);
    dev_str(d, CL_DEVICE_NAME, o->name, sizeof o->name);
    dev_str(d, CL_DEVICE_VENDOR, o->vendor, sizeof o->vendor);
    dev_str(d, CL_DRIVER_VERSION, o->driver_version, sizeof o->driver_version);
    dev_str(d, CL_DEVICE_VERSION, o->device_version, sizeof o->device_version);
    dev_str(d, CL_DEVICE_OPENCL_C_VERSION, o->c_version, sizeof o->c_version);
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof o->type, &o->type, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof o->compute_units, &o->compute_units, NULL);
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof o->global_mem, &o->global_mem, NULL);
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof o->local_mem, &o->local_mem, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof o->max_alloc, &o->max_alloc, NULL);
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof o->max_wg, &o->max_wg, NULL);
    o->native_vec_float = 1;
    clGetDeviceInfo(d, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof o->native_vec_float,
                    &o->native_vec_float, NULL);
    if (o->native_vec_float < 1) o->native_vec_float = 1;
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof o->max_wi, o->max_wi, NULL);
    /* PoCL keeps every program it compiles in its own disk cache (POCL_CACHE_DIR),
     * keyed by the source, unless POCL_KERNEL_CACHE=0 turns that off. */
    const char *pkc = getenv("POCL_KERNEL_CACHE");
    o->driver_cache = strstr(o->platform_name, "Portable Computing Language") != NULL &&
                      !(pkc && strcmp(pkc, "0") == 0);
    cl_uint bits = 0;
    clGetDeviceInfo(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits, &bits, NULL);
    o->mem_align_bytes = bits >= 32 ? bits / 8 : 4;
    if (o->max_wg == 0) o->max_wg = 1;
}

sb_status sb_devices_list(sb_device_info **out, int *n, sb_err *e) {
    sb_status st = SB_OK;
    cl_platform_id plats[16];
    cl_uint np = 0;
    sb_device_info *list = NULL;
    int count = 0, cap = 0;
    *out = NULL;
    *n = 0;
    cl_int err = clGetPlatformIDs(16, plats, &np);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || np == 0) return SB_OK;
    if (err != CL_SUCCESS)
        SB_FAIL(SB_ERR_OPENCL, "clGetPlatformIDs failed: %s (%d)", sb_cl_error_string(err), err);
    if (np > 16) np = 16;
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id devs[64];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 64, devs, &nd) != CL_SUCCESS) continue;
        if (nd > 64) nd = 64;
        for (cl_uint d = 0; d < nd; d++) {
            if (count == cap) {
                cap = cap ? cap * 2 : 8;
                sb_device_info *nl = realloc(list, (size_t)cap * sizeof *nl);
                if (!nl) SB_FAIL(SB_ERR_HOST_MEMORY, "out of host memory listing devices");
                list = nl;
            }
            read_info(plats[p], devs[d], count, &list[count]);
            count++;
        }
    }
    *out = list;
    *n = count;
    list = NULL;
done:
    free(list);
    return st;
}

static int icontains(const char *hay, const char *needle) {
    size_t n = strlen(needle), h = strlen(hay);
    if (n == 0) return 1;
    for (size_t i = 0; i + n <= h; i++) {
        size_t j = 0;
        while (j < n && tolower((unsigned char)hay[i + j]) == tolower((unsigned char)needle[j])) j++;
        if (j == n) return 1;
    }
    return 0;
}

int sb_device_is_simulator(const sb_device_info *d) {
    return icontains(d->platform_name, "oclgrind") || icontains(d->name, "oclgrind");
}

int sb_device_default_index(const sb_device_info *list, int n, char *why, size_t why_cap) {
    int gpu = -1, other = -1, sims = 0;
    char dummy[8];
    if (!why || why_cap == 0) why = dummy, why_cap = sizeof dummy;
    why[0] = '\0';
    if (n <= 0) return -1;
    for (int i = 0; i < n; i++) {
        if (sb_device_is_simulator(&list[i])) {
            sims++;
            continue;
        }
        if (gpu < 0 && (list[i].type & CL_DEVICE_TYPE_GPU)) gpu = i;
        if (other < 0) other = i;
    }
    const char *skip = sims ? "; a simulator (Oclgrind) is the default only when no other device exists"
                            : "";
    if (gpu >= 0) {
        snprintf(why, why_cap, "the first GPU%s", skip);
        return gpu;
    }
    if (other >= 0) {
        snprintf(why, why_cap, "no GPU: the first %s device%s", sb_device_type_string(list[other].type),
                 skip);
        return other;
    }
    snprintf(why, why_cap, "the only devices are simulators: the first of them");
    return 0;
}

/* Index of the device a (non-empty) selection string names, or -1 (e set). */
static int match_spec(const sb_device_info *list, int n, const char *spec, sb_err *e) {
    char *end = NULL;
    long v = strtol(spec, &end, 10);
    if (end && end != spec && *end == '\0') {
        if (v < 0 || v >= n) {
            sb_fail(e, SB_ERR_NO_DEVICE, "device index %ld out of range: %d device(s) found", v, n);
            return -1;
        }
        return (int)v;
    }
    for (int i = 0; i < n; i++) {
        char all[800];
        snprintf(all, sizeof all, "%s %s %s %s", list[i].platform_name, list[i].name,
                 list[i].vendor, sb_device_type_string(list[i].type));
        if (icontains(all, spec)) return i;
    }
    sb_fail(e, SB_ERR_NO_DEVICE, "no OpenCL device matches '%s'", spec);
    return -1;
}

sb_status sb_device_select(const char *spec, sb_device_info *out, sb_err *e) {
    sb_status st = SB_OK;
    sb_device_info *list = NULL;
    int n = 0, pick = -1;
    if (!spec || !*spec) spec = getenv("SEQBOAT_DEVICE");
    if (spec && !*spec) spec = NULL;
    SB_TRY(sb_devices_list(&list, &n, e));
    if (n == 0)
        SB_FAIL(SB_ERR_NO_DEVICE, "no OpenCL device found (is an ICD such as pocl-opencl-icd installed?)");
    if (!spec) {
        pick = sb_device_default_index(list, n, NULL, 0);
    } else {
        pick = match_spec(list, n, spec, e);
        if (pick < 0) {
            st = SB_ERR_NO_DEVICE;
            goto done;
        }
    }
    *out = list[pick];
done:
    free(list);
    return st;
}
