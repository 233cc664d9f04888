/* wtype.h - the storage types of a model's weights on the device (sb_options
 * precision / weights, seqboat.h) and the plain-C conversions to and from
 * them, shared by the runtime (conversion at load) and the tests' plain-C
 * twins (tests/ref). Arithmetic stays float everywhere: a kernel reads a weight
 * through WLOAD (the OpenCL C text of sb_wt_cl_defines) and computes in float.
 *
 *   SB_WT_F32   float
 *   SB_WT_F16   IEEE binary16, read with vload_half (core OpenCL 1.2, no
 *               extension); written here by round-to-nearest-even, with
 *               subnormals, infinities and NaN kept (NaN stays a quiet NaN)
 *   SB_WT_BF16  the upper 16 bits of a float, rounded to nearest even (NaN
 *               stays NaN); read as as_float((uint)u << 16)
 *   SB_WT_I8    int8 codes with one float scale per output channel (row of
 *               W [n][k]): scale = max|w_row| / 127, code = round(w / scale)
 *               (ties away from zero) in -127..127; a product sums a * code in
 *               float and multiplies the sum by the channel's scale. The
 *               scales trail the codes in the same buffer, at byte
 *               sb_wt_scale_off(codes) (the codes' bytes rounded up to 64).
 */
#ifndef SB_WTYPE_H
#define SB_WTYPE_H
#include <stddef.h>
#include <stdint.h>

typedef enum sb_wtype { SB_WT_F32 = 0, SB_WT_F16 = 1, SB_WT_BF16 = 2, SB_WT_I8 = 3 } sb_wtype;

/* f32 -> f16 / bf16 round to nearest even; the widening back is sb_half.h's
 * (the loader's, for F16/BF16 model files), exact. */
uint16_t sb_f32_to_f16(float f);
float sb_f16_to_f32(uint16_t h);
uint16_t sb_f32_to_bf16(float f);
float sb_bf16_to_f32(uint16_t b);

/* Bytes of one element (code) of type t. */
size_t sb_wt_elem(sb_wtype t);
/* "f32", "f16", "bf16", "int8". */
const char *sb_wt_name(sb_wtype t);
/* Byte offset of the scales in an int8 buffer of `codes` codes. */
size_t sb_wt_scale_off(size_t codes);
/* Bytes of a device buffer of `count` elements and (int8) `channels` scales. */
size_t sb_wt_bytes(sb_wtype t, size_t count, size_t channels);

/* Encode W [n][k] (row-major, row stride k) into dst, laid out as a device
 * buffer of type t: sb_wt_bytes(t, n*k, n) bytes (int8: codes, zero padding,
 * then the n scales). A row of zeros gets scale 0. */
void sb_wt_encode(sb_wtype t, const float *w, size_t n, size_t k, void *dst);
/* Element i of such a buffer as the kernels read it (float; int8: the code
 * times its channel's scale, channel = i / k). */
float sb_wt_decode(sb_wtype t, const void *buf, size_t n, size_t k, size_t i);
/* The int8 code of element i as a float and the scale of channel c (for
 * the plain-C twins, which scale the sum as the kernels do). */
float sb_wt_code(sb_wtype t, const void *buf, size_t i);
float sb_wt_scale(sb_wtype t, const void *buf, size_t n, size_t k, size_t c);

/* OpenCL C text defining, for weight type t: SB_W (0..3), the type wt_t,
 * WLOAD(i, p) (element i of p as float, unscaled int8 code), WLOADV(N, i, p)
 * for N = 2, 4, 8, 16 (floatN from p + i*N, like vloadN), and
 * WSCALES(p, codes) (the int8 scales' float pointer; p's codes count),
 * WSOFF(codes) (their byte offset) and wraw_t (an integer type of the
 * element's size, for copies that do not convert). */
const char *sb_wt_cl_defines(sb_wtype t);

#endif
