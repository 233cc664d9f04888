/*
 * sb_half.h - exact widening of the two 16-bit float formats a model file may
 * store (safetensors F16 and BF16) to f32, in plain C, for the host loader.
 *
 * Every f16 value is exact in f32: normals, subnormals (down to 2^-24), both
 * zeros, both infinities, and NaNs (sign and payload kept; a signalling NaN
 * stays signalling in its bits). A bf16 value is the top half of an f32.
 */
#ifndef SB_HALF_H
#define SB_HALF_H

#include <stdint.h>
#include <string.h>

/* IEEE 754 binary16 bits -> the f32 of the same value. */
static inline float sb_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1fu) {
        bits = sign | 0x7f800000u | (man << 13); /* inf, NaN */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13); /* rebias 15 -> 127 */
    } else if (man == 0) {
        bits = sign; /* +-0 */
    } else { /* subnormal man * 2^-24: normalise until bit 10 is set */
        uint32_t s = 0;
        while (!(man & 0x400u)) man <<= 1, s++;
        bits = sign | ((113u - s) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* bfloat16 bits -> f32 (the bits are the f32's top 16). */
static inline float sb_bf16_to_float(uint16_t b) {
    const uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

#endif
