/* wtype.c - weight storage types: conversions and the kernels' accessors (wtype.h). */
#include <math.h>
#include <string.h>
#include "sb_half.h"
#include "wtype.h"

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

uint16_t sb_f32_to_f16(float f) {
    const uint32_t x = bits_of(f), a = x & 0x7fffffffu;
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    if (a >= 0x7f800000u) /* inf, or NaN kept quiet with its top payload bits */
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0u));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* 65520 and up round to inf */
    const uint32_t e = a >> 23, mant = a & 0x7fffffu;
    if (e < 113) { /* below 2^-14: a subnormal half (units of 2^-24) or zero */
        if (e == 0) return sign; /* float subnormals are far below 2^-25 */
        const uint32_t m = mant | 0x800000u, shift = 126 - e;
        if (shift > 24) return sign;
        uint32_t code = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (code & 1u))) code++;
        return (uint16_t)(sign | code);
    }
    uint32_t h = ((e - 112) << 10) | (mant >> 13);
    const uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* a carry raises the exponent */
    return (uint16_t)(sign | h);
}

/* Widening is the loader's (sb_half.h): one implementation for files and devices. */
float sb_f16_to_f32(uint16_t h) { return sb_half_to_float(h); }

uint16_t sb_f32_to_bf16(float f) {
    const uint32_t x = bits_of(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float sb_bf16_to_f32(uint16_t b) { return sb_bf16_to_float(b); }

size_t sb_wt_elem(sb_wtype t) { return t == SB_WT_F32 ? 4 : t == SB_WT_I8 ? 1 : 2; }

const char *sb_wt_name(sb_wtype t) {
    return t == SB_WT_F16 ? "f16" : t == SB_WT_BF16 ? "bf16" : t == SB_WT_I8 ? "int8" : "f32";
}

size_t sb_wt_scale_off(size_t codes) { return (codes + 63) & ~(size_t)63; }

size_t sb_wt_bytes(sb_wtype t, size_t count, size_t channels) {
    if (t == SB_WT_I8) return sb_wt_scale_off(count) + 4 * channels;
    return count * sb_wt_elem(t);
}

void sb_wt_encode(sb_wtype t, const float *w, size_t n, size_t k, void *dst) {
    const size_t count = n * k;
    if (t == SB_WT_F32) {
        memcpy(dst, w, count * 4);
    } else if (t == SB_WT_F16 || t == SB_WT_BF16) {
        uint16_t *o = dst;
        for (size_t i = 0; i < count; i++) o[i] = t == SB_WT_F16 ? sb_f32_to_f16(w[i]) : sb_f32_to_bf16(w[i]);
    } else {
        int8_t *o = dst;
        unsigned char *base = dst;
        memset(base + count, 0, sb_wt_scale_off(count) - count);
        for (size_t r = 0; r < n; r++) {
            float mx = 0.0f;
            for (size_t j = 0; j < k; j++) mx = fmaxf(mx, fabsf(w[r * k + j]));
            const float scale = mx / 127.0f;
            for (size_t j = 0; j < k; j++) {
                long q = scale > 0.0f ? lroundf(w[r * k + j] / scale) : 0;
                o[r * k + j] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
            }
            memcpy(base + sb_wt_scale_off(count) + 4 * r, &scale, 4);
        }
    }
}

float sb_wt_code(sb_wtype t, const void *buf, size_t i) {
    switch (t) {
    case SB_WT_F16: return sb_f16_to_f32(((const uint16_t *)buf)[i]);
    case SB_WT_BF16: return sb_bf16_to_f32(((const uint16_t *)buf)[i]);
    case SB_WT_I8: return (float)((const int8_t *)buf)[i];
    default: return ((const float *)buf)[i];
    }
}

float sb_wt_scale(sb_wtype t, const void *buf, size_t n, size_t k, size_t c) {
    if (t != SB_WT_I8) return 1.0f;
    float s;
    memcpy(&s, (const unsigned char *)buf + sb_wt_scale_off(n * k) + 4 * c, 4);
    return s;
}

float sb_wt_decode(sb_wtype t, const void *buf, size_t n, size_t k, size_t i) {
    const float v = sb_wt_code(t, buf, i);
    return t == SB_WT_I8 ? v * sb_wt_scale(t, buf, n, k, i / k) : v;
}

/* One text per type; WLOADV pastes N through a second macro so that a
 * macro argument (LIN_VW) expands first. */
#define WT_COMMON                                                                                \
    "#define WT_CAT_(a, b) a##b\n#define WT_CAT(a, b) WT_CAT_(a, b)\n"                            \
    "#define WSOFF(codes) ((((ulong)(codes)) + 63) & ~(ulong)63)\n"                                \
    "#define WSCALES(p, codes) ((__global const float *)((__global const char *)(p) + "         \
    "WSOFF(codes)))\n"

const char *sb_wt_cl_defines(sb_wtype t) {
    switch (t) {
    case SB_WT_F16:
        return "#define SB_W 1\ntypedef half wt_t;\ntypedef ushort wraw_t;\n" WT_COMMON
               "#define WLOAD(i, p) vload_half((i), (p))\n"
               "#define WLOADV(N, i, p) WT_CAT(vload_half, N)((i), (p))\n";
    case SB_WT_BF16:
        return "#define SB_W 2\ntypedef ushort wt_t;\ntypedef ushort wraw_t;\n" WT_COMMON
               "#define WLOAD(i, p) as_float((uint)(p)[i] << 16)\n"
               "#define WLOADV(N, i, p) WT_CAT(as_float, N)(WT_CAT(convert_uint, N)(WT_CAT(vload, "
               "N)((i), (p))) << 16)\n";
    case SB_WT_I8:
        return "#define SB_W 3\ntypedef char wt_t;\ntypedef char wraw_t;\n" WT_COMMON
               "#define WLOAD(i, p) ((float)(p)[i])\n"
               "#define WLOADV(N, i, p) WT_CAT(convert_float, N)(WT_CAT(vload, N)((i), (p)))\n";
    default:
        return "#define SB_W 0\ntypedef float wt_t;\ntypedef float wraw_t;\n" WT_COMMON
               "#define WLOAD(i, p) ((p)[i])\n"
               "#define WLOADV(N, i, p) WT_CAT(vload, N)((i), (p))\n";
    }
}
