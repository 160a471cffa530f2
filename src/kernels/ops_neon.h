// NEON ops for the LUT kernel (see ops_scalar.h for what each computes): TBL looks 16 bytes up
// in a 16-entry table, and widening adds merge a chunk pair into int16 in one instruction.
#pragma once

#include <arm_neon.h>

#include <cstdint>

#include "tmac/isa.h"

namespace tmac::kernels::neon {

struct Ops {
  static constexpr Isa kIsa = Isa::kNeon;
  static constexpr int kBytes = 16;
  using U8 = uint8x16_t;
  using I16 = int16x8_t;

  static U8 Load(const uint8_t* p) { return vld1q_u8(p); }
  static U8 LoadTable(const uint8_t* p) { return vld1q_u8(p); }
  static I16 Zero() { return vdupq_n_s16(0); }
  static I16 Add(I16 a, I16 b) { return vaddq_s16(a, b); }

  static void Nibbles(U8 x, U8& lo, U8& hi) {
    lo = vandq_u8(x, vdupq_n_u8(0x0F));
    hi = vshrq_n_u8(x, 4);
  }
  static void LookupI8(U8 x, U8 tlo, U8 thi, I16& a, I16& b) {
    U8 lo, hi;
    Nibbles(x, lo, hi);
    const int8x16_t r0 = vreinterpretq_s8_u8(vqtbl1q_u8(tlo, lo));
    const int8x16_t r1 = vreinterpretq_s8_u8(vqtbl1q_u8(thi, hi));
    a = vaddl_s8(vget_low_s8(r0), vget_low_s8(r1));
    b = vaddl_high_s8(r0, r1);
  }
  static void LookupAvg(U8 x, U8 tlo, U8 thi, I16& a, I16& b) {
    U8 lo, hi;
    Nibbles(x, lo, hi);
    const uint8x16_t m = vrhaddq_u8(vqtbl1q_u8(tlo, lo), vqtbl1q_u8(thi, hi));
    a = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(m)));
    b = vreinterpretq_s16_u16(vmovl_high_u8(m));
  }
  static void LookupI16(U8 x, U8 lo_low, U8 lo_high, U8 hi_low, U8 hi_high, I16& a, I16& b) {
    U8 lo, hi;
    Nibbles(x, lo, hi);
    const uint8x16_t l0 = vqtbl1q_u8(lo_low, lo), h0 = vqtbl1q_u8(lo_high, lo);
    const uint8x16_t l1 = vqtbl1q_u8(hi_low, hi), h1 = vqtbl1q_u8(hi_high, hi);
    // Zipping a low-byte and a high-byte plane rebuilds the int16 entries.
    a = vaddq_s16(vreinterpretq_s16_u8(vzip1q_u8(l0, h0)), vreinterpretq_s16_u8(vzip1q_u8(l1, h1)));
    b = vaddq_s16(vreinterpretq_s16_u8(vzip2q_u8(l0, h0)), vreinterpretq_s16_u8(vzip2q_u8(l1, h1)));
  }
  static void AccumulateRows(I16 a, I16 b, int shift, int32_t* rows) {
    const int32x4_t count = vdupq_n_s32(shift);
    const int32x4_t parts[4] = {vmovl_s16(vget_low_s16(a)), vmovl_high_s16(a),
                                vmovl_s16(vget_low_s16(b)), vmovl_high_s16(b)};
    for (int i = 0; i < 4; ++i) {
      vst1q_s32(rows + 4 * i, vaddq_s32(vld1q_s32(rows + 4 * i), vshlq_s32(parts[i], count)));
    }
  }
  static void HalfToFloat(const uint16_t* in, float* out, int n) {
    for (int i = 0; i < n; i += 4) {
      vst1q_f32(out + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(in + i))));
    }
  }
};

}  // namespace tmac::kernels::neon
