// NEON ops for the LUT kernel (see ops_scalar.h for what each computes): TBL looks 16 bytes up
// in a 16-entry table, and widening adds merge a chunk pair into int16 in one instruction.
#pragma once

#include <arm_neon.h>

#include <cstdint>

#include "tmac/isa.h"

namespace tmac::kernels::neon {

struct Ops {
  static constexpr Isa kIsa = Isa::kNeon;
  static constexpr bool kReadsQuads = false;  // kChunkPairs only
  static constexpr int kBytes = 16;
  using U8 = uint8x16_t;
  using I16 = int16x8_t;

  static U8 Load(const uint8_t* p) { return vld1q_u8(p); }
  static U8 LoadTable(const uint8_t* p) { return vld1q_u8(p); }
  static I16 Zero() { return vdupq_n_s16(0); }
  static I16 Add(I16 a, I16 b) { return vaddq_s16(a, b); }
  static I16 ShiftLeft(I16 a, int shift) { return vshlq_s16(a, vdupq_n_s16(static_cast<int16_t>(shift))); }

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

  // Table construction: same operations in the same order as ops_scalar.h.
  static float MaxChunkAbsSum(const float* x, int chunks) {
    float32x4_t best = vdupq_n_f32(0.f);
    for (int c = 0; c < chunks; ++c) {  // one chunk per vector; lane 0 of s is the chunk's sum
      const float32x4_t a = vabsq_f32(vld1q_f32(x + 4 * c));
      const float32x4_t s = vaddq_f32(vaddq_f32(vaddq_f32(vdupq_laneq_f32(a, 0), vdupq_laneq_f32(a, 1)),
                                                vdupq_laneq_f32(a, 2)),
                                      vdupq_laneq_f32(a, 3));
      best = vmaxq_f32(best, s);
    }
    return vgetq_lane_f32(best, 0);
  }
  static float Sum(const float* x, int n) {
    float32x4_t lanes[4] = {vdupq_n_f32(0.f), vdupq_n_f32(0.f), vdupq_n_f32(0.f), vdupq_n_f32(0.f)};
    for (int i = 0; i < n; i += 16) {
      for (int j = 0; j < 4; ++j) lanes[j] = vaddq_f32(lanes[j], vld1q_f32(x + i + 4 * j));
    }
    float l[16];
    for (int j = 0; j < 4; ++j) vst1q_f32(l + 4 * j, lanes[j]);
    float total = 0.f;
    for (float lane : l) total += lane;
    return total;
  }
  // One chunk per step: entries 0-3 and 4-7 in two vectors.
  static void ChunkTables(const float* x, int chunks, float inv_scale, bool biased, uint8_t* out) {
    // s_j = -1 (sign bit set) where bit j of the entry index is clear.
    const uint32_t s = 0x80000000u;
    const uint32_t neg0_bits[4] = {s, 0, s, 0}, neg1_bits[4] = {s, s, 0, 0};
    const uint32x4_t neg0 = vld1q_u32(neg0_bits), neg1 = vld1q_u32(neg1_bits);
    const uint32x4_t neg2[2] = {vdupq_n_u32(s), vdupq_n_u32(0)};
    const int8x8_t flip = vdup_n_s8(static_cast<int8_t>(biased ? -128 : 0));
    for (int c = 0; c < chunks; ++c, x += 4, out += 16) {
      const uint32x4_t x0 = vreinterpretq_u32_f32(vdupq_n_f32(x[0]));
      const uint32x4_t x1 = vreinterpretq_u32_f32(vdupq_n_f32(x[1]));
      const uint32x4_t x2 = vreinterpretq_u32_f32(vdupq_n_f32(x[2]));
      int32x4_t q[2];
      for (int h = 0; h < 2; ++h) {
        const float32x4_t e = vsubq_f32(
            vaddq_f32(vaddq_f32(vreinterpretq_f32_u32(veorq_u32(x0, neg0)), vreinterpretq_f32_u32(veorq_u32(x1, neg1))),
                      vreinterpretq_f32_u32(veorq_u32(x2, neg2[h]))),
            vdupq_n_f32(x[3]));
        q[h] = vmaxq_s32(vminq_s32(vcvtnq_s32_f32(vmulq_f32(e, vdupq_n_f32(inv_scale))), vdupq_n_s32(127)),
                         vdupq_n_s32(-127));
      }
      const int8x8_t t = vqmovn_s16(vcombine_s16(vqmovn_s32(q[0]), vqmovn_s32(q[1])));
      const int8x8_t mirrored = vneg_s8(vrev64_s8(t));
      vst1q_u8(out, vreinterpretq_u8_s8(vcombine_s8(veor_s8(t, flip), veor_s8(mirrored, flip))));
    }
  }

  // Ternary (TL2) ops --------------------------------------------------------------------------
  //
  // (e ^ m) - m with m = -1 where the sign bit is set (VTST) and 0 elsewhere negates exactly.
  template <int kSlot>
  static void Tl2SignMasks(U8 signs, int8x16_t& m0, int8x16_t& m1) {
    m0 = vreinterpretq_s8_u8(vtstq_u8(signs, vdupq_n_u8(1 << (2 * kSlot))));
    m1 = vreinterpretq_s8_u8(vtstq_u8(signs, vdupq_n_u8(2 << (2 * kSlot))));
  }
  static int8x16_t Tl2Lookup(U8 table, U8 index, int8x16_t m) {
    return vsubq_s8(veorq_s8(vreinterpretq_s8_u8(vqtbl1q_u8(table, index)), m), m);
  }
  template <int kSlot>
  static void LookupSignedI8(U8 x, U8 signs, U8 tlo, U8 thi, I16& a, I16& b) {
    U8 lo, hi;
    int8x16_t m0, m1;
    Nibbles(x, lo, hi);
    Tl2SignMasks<kSlot>(signs, m0, m1);
    const int8x16_t r0 = Tl2Lookup(tlo, lo, m0), r1 = Tl2Lookup(thi, hi, m1);
    a = vaddl_s8(vget_low_s8(r0), vget_low_s8(r1));
    b = vaddl_high_s8(r0, r1);
  }
  template <int kSlot>
  static void LookupSignedI16(U8 x, U8 signs, U8 lo_low, U8 lo_high, U8 hi_low, U8 hi_high, I16& a, I16& b) {
    U8 lo, hi;
    int8x16_t m0, m1;
    Nibbles(x, lo, hi);
    Tl2SignMasks<kSlot>(signs, m0, m1);
    // Pair sums per plane in int8 (|l0 + l1| <= 126, |h0 + h1| <= 6), then l + 127 h widened by
    // one multiply-accumulate.
    const int8x16_t l = vaddq_s8(Tl2Lookup(lo_low, lo, m0), Tl2Lookup(hi_low, hi, m1));
    const int8x16_t h = vaddq_s8(Tl2Lookup(lo_high, lo, m0), Tl2Lookup(hi_high, hi, m1));
    a = vmlal_s8(vmovl_s8(vget_low_s8(l)), vget_low_s8(h), vdup_n_s8(127));
    b = vmlal_high_s8(vmovl_high_s8(l), h, vdupq_n_s8(127));
  }
  static void Tl2TableI8(const float (&d)[3][16], const float x[3], float inv, uint8_t* out) {
    int16x4_t q[4];
    for (int j = 0; j < 4; ++j) {
      const float32x4_t e = vaddq_f32(
          vaddq_f32(vmulq_n_f32(vld1q_f32(d[0] + 4 * j), x[0]), vmulq_n_f32(vld1q_f32(d[1] + 4 * j), x[1])),
          vmulq_n_f32(vld1q_f32(d[2] + 4 * j), x[2]));
      // FCVTNS rounds to nearest even, as nearbyint does in the default rounding mode.
      q[j] = vmovn_s32(vcvtnq_s32_f32(vmulq_n_f32(e, inv)));
    }
    vst1q_s8(reinterpret_cast<int8_t*>(out),
             vcombine_s8(vmovn_s16(vcombine_s16(q[0], q[1])), vmovn_s16(vcombine_s16(q[2], q[3]))));
  }
};

}  // namespace tmac::kernels::neon
