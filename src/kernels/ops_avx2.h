// AVX2 ops for the LUT kernel (see ops_scalar.h for what each computes). Two 16-byte lanes per
// vector; VPSHUFB looks both lanes up in the same broadcast table.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "tmac/isa.h"

namespace tmac::kernels::avx2 {

struct Ops {
  static constexpr Isa kIsa = Isa::kAvx2;
  static constexpr bool kReadsQuads = false;  // kChunkPairs only
  static constexpr int kBytes = 32;
  using U8 = __m256i;
  using I16 = __m256i;

  static U8 Load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static U8 LoadTable(const uint8_t* p) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I16 Zero() { return _mm256_setzero_si256(); }
  static I16 Add(I16 a, I16 b) { return _mm256_add_epi16(a, b); }
  static I16 ShiftLeft(I16 a, int shift) { return _mm256_sll_epi16(a, _mm_cvtsi32_si128(shift)); }

  static void Nibbles(U8 x, U8& lo, U8& hi) {
    const __m256i mask = _mm256_set1_epi8(0x0F);
    lo = _mm256_and_si256(x, mask);
    hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), mask);
  }
  static void LookupI8(U8 x, U8 tlo, U8 thi, I16& a, I16& b) {
    U8 lo, hi;
    Nibbles(x, lo, hi);
    const __m256i r0 = _mm256_shuffle_epi8(tlo, lo);
    const __m256i r1 = _mm256_shuffle_epi8(thi, hi);
    // Interleave the two chunks' bytes of each slot, then sum each pair into int16.
    const __m256i ones = _mm256_set1_epi8(1);
    a = _mm256_maddubs_epi16(ones, _mm256_unpacklo_epi8(r0, r1));
    b = _mm256_maddubs_epi16(ones, _mm256_unpackhi_epi8(r0, r1));
  }
  static void LookupAvg(U8 x, U8 tlo, U8 thi, I16& a, I16& b) {
    U8 lo, hi;
    Nibbles(x, lo, hi);
    const __m256i m = _mm256_avg_epu8(_mm256_shuffle_epi8(tlo, lo), _mm256_shuffle_epi8(thi, hi));
    const __m256i zero = _mm256_setzero_si256();
    a = _mm256_unpacklo_epi8(m, zero);
    b = _mm256_unpackhi_epi8(m, zero);
  }
  static void LookupI16(U8 x, U8 lo_low, U8 lo_high, U8 hi_low, U8 hi_high, I16& a, I16& b) {
    U8 lo, hi;
    Nibbles(x, lo, hi);
    const __m256i l0 = _mm256_shuffle_epi8(lo_low, lo), h0 = _mm256_shuffle_epi8(lo_high, lo);
    const __m256i l1 = _mm256_shuffle_epi8(hi_low, hi), h1 = _mm256_shuffle_epi8(hi_high, hi);
    // Interleaving a low-byte and a high-byte plane rebuilds the int16 entries.
    a = _mm256_add_epi16(_mm256_unpacklo_epi8(l0, h0), _mm256_unpacklo_epi8(l1, h1));
    b = _mm256_add_epi16(_mm256_unpackhi_epi8(l0, h0), _mm256_unpackhi_epi8(l1, h1));
  }
  // a holds slots 0-7 of lanes 0 and 1, b slots 8-15: reorder to slots 0-15 and 16-31.
  static void AccumulateRows(I16 a, I16 b, int shift, int32_t* rows) {
    const __m256i s0 = _mm256_permute2x128_si256(a, b, 0x20);
    const __m256i s1 = _mm256_permute2x128_si256(a, b, 0x31);
    const __m128i count = _mm_cvtsi32_si128(shift);
    const __m128i parts[4] = {_mm256_castsi256_si128(s0), _mm256_extracti128_si256(s0, 1), _mm256_castsi256_si128(s1),
                              _mm256_extracti128_si256(s1, 1)};
    for (int i = 0; i < 4; ++i) {
      __m256i* out = reinterpret_cast<__m256i*>(rows + 8 * i);
      const __m256i v = _mm256_sll_epi32(_mm256_cvtepi16_epi32(parts[i]), count);
      _mm256_storeu_si256(out, _mm256_add_epi32(_mm256_loadu_si256(out), v));
    }
  }
  static void HalfToFloat(const uint16_t* in, float* out, int n) {
    for (int i = 0; i < n; i += 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
      _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    }
  }

  // Table construction: same operations in the same order as ops_scalar.h.
  static float MaxChunkAbsSum(const float* x, int chunks) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 best = _mm256_setzero_ps();
    for (int c = 0; c < chunks; c += 2) {  // 2 chunks = 2 128-bit lanes
      const __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + 4 * c), abs_mask);
      const __m256 s = _mm256_add_ps(
          _mm256_add_ps(_mm256_add_ps(_mm256_permute_ps(a, 0x00), _mm256_permute_ps(a, 0x55)),
                        _mm256_permute_ps(a, 0xAA)),
          _mm256_permute_ps(a, 0xFF));
      best = _mm256_max_ps(best, s);
    }
    alignas(32) float l[8];
    _mm256_store_ps(l, best);
    float m = 0.f;
    for (float v : l) m = v > m ? v : m;
    return m;
  }
  static float Sum(const float* x, int n) {
    __m256 lanes0 = _mm256_setzero_ps(), lanes1 = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 16) {
      lanes0 = _mm256_add_ps(lanes0, _mm256_loadu_ps(x + i));
      lanes1 = _mm256_add_ps(lanes1, _mm256_loadu_ps(x + i + 8));
    }
    alignas(32) float l[16];
    _mm256_store_ps(l, lanes0);
    _mm256_store_ps(l + 8, lanes1);
    float total = 0.f;
    for (float lane : l) total += lane;
    return total;
  }
  // One chunk per step: lanes hold entries 0-7.
  static void ChunkTables(const float* x, int chunks, float inv_scale, bool biased, uint8_t* out) {
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80000000u)));
    const __m256 zero = _mm256_setzero_ps();
    // s_j = -1 (sign bit set) where bit j of the entry index is clear.
    const __m256 neg0 = _mm256_blend_ps(sign, zero, 0xAA), neg1 = _mm256_blend_ps(sign, zero, 0xCC),
                 neg2 = _mm256_blend_ps(sign, zero, 0xF0);
    const __m256i reverse = _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    const __m256 inv = _mm256_set1_ps(inv_scale);
    const __m256i lim = _mm256_set1_epi32(127), neg_lim = _mm256_set1_epi32(-127);
    const __m128i flip = _mm_set1_epi8(static_cast<char>(biased ? 0x80 : 0));
    for (int c = 0; c < chunks; ++c, x += 4, out += 16) {
      const __m256 e = _mm256_sub_ps(
          _mm256_add_ps(_mm256_add_ps(_mm256_xor_ps(_mm256_broadcast_ss(x), neg0),
                                      _mm256_xor_ps(_mm256_broadcast_ss(x + 1), neg1)),
                        _mm256_xor_ps(_mm256_broadcast_ss(x + 2), neg2)),
          _mm256_broadcast_ss(x + 3));
      __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(e, inv));
      q = _mm256_min_epi32(_mm256_max_epi32(q, neg_lim), lim);
      const __m256i mirrored = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_permutevar8x32_epi32(q, reverse));
      // int32 -> int16 packs per 128-bit lane: [q0-3 m0-3 | q4-7 m4-7]; reorder to [q0-7 m0-7].
      const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q, mirrored), 0xD8);
      const __m128i b = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_xor_si128(b, flip));
    }
  }

  // Ternary (TL2) ops --------------------------------------------------------------------------
  //
  // VPSIGNB negates where its operand byte is negative: shift each slot's sign bit to bit 7 of
  // its own byte (a 16-bit shift by < 8 cannot carry into the other byte's bit 7), and set bit 0
  // because a zero operand would zero the entry.
  template <int kSlot>
  static void Tl2SignOperands(U8 signs, U8& s0, U8& s1) {
    const __m256i one = _mm256_set1_epi8(1);
    s0 = _mm256_or_si256(_mm256_slli_epi16(signs, 7 - 2 * kSlot), one);
    s1 = _mm256_or_si256(_mm256_slli_epi16(signs, 6 - 2 * kSlot), one);
  }
  template <int kSlot>
  static void LookupSignedI8(U8 x, U8 signs, U8 tlo, U8 thi, I16& a, I16& b) {
    U8 lo, hi, s0, s1;
    Nibbles(x, lo, hi);
    Tl2SignOperands<kSlot>(signs, s0, s1);
    const __m256i r0 = _mm256_sign_epi8(_mm256_shuffle_epi8(tlo, lo), s0);
    const __m256i r1 = _mm256_sign_epi8(_mm256_shuffle_epi8(thi, hi), s1);
    const __m256i ones = _mm256_set1_epi8(1);
    a = _mm256_maddubs_epi16(ones, _mm256_unpacklo_epi8(r0, r1));
    b = _mm256_maddubs_epi16(ones, _mm256_unpackhi_epi8(r0, r1));
  }
  template <int kSlot>
  static void LookupSignedI16(U8 x, U8 signs, U8 lo_low, U8 lo_high, U8 hi_low, U8 hi_high, I16& a, I16& b) {
    U8 lo, hi, s0, s1;
    Nibbles(x, lo, hi);
    Tl2SignOperands<kSlot>(signs, s0, s1);
    // Pair sums per plane in int8 (|l0 + l1| <= 126, |h0 + h1| <= 6), then one VPMADDUBSW with
    // byte weights (1, 127) turns each row's (l, h) into l + 127 h.
    const __m256i l = _mm256_add_epi8(_mm256_sign_epi8(_mm256_shuffle_epi8(lo_low, lo), s0),
                                      _mm256_sign_epi8(_mm256_shuffle_epi8(hi_low, hi), s1));
    const __m256i h = _mm256_add_epi8(_mm256_sign_epi8(_mm256_shuffle_epi8(lo_high, lo), s0),
                                      _mm256_sign_epi8(_mm256_shuffle_epi8(hi_high, hi), s1));
    const __m256i weights = _mm256_set1_epi16(127 << 8 | 1);
    a = _mm256_maddubs_epi16(weights, _mm256_unpacklo_epi8(l, h));
    b = _mm256_maddubs_epi16(weights, _mm256_unpackhi_epi8(l, h));
  }
  static void Tl2TableI8(const float (&d)[3][16], const float x[3], float inv, uint8_t* out) {
    __m256i q[2];
    for (int h = 0; h < 2; ++h) {
      const __m256 e =
          _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(d[0] + 8 * h), _mm256_set1_ps(x[0])),
                                      _mm256_mul_ps(_mm256_loadu_ps(d[1] + 8 * h), _mm256_set1_ps(x[1]))),
                        _mm256_mul_ps(_mm256_loadu_ps(d[2] + 8 * h), _mm256_set1_ps(x[2])));
      // VCVTPS2DQ rounds in the current mode, round to nearest even, as nearbyint does.
      q[h] = _mm256_cvtps_epi32(_mm256_mul_ps(e, _mm256_set1_ps(inv)));
    }
    // PACKSSDW interleaves 128-bit lanes; reorder to entries 0-7, 8-15 before the byte pack.
    const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xD8);
    const __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
  }
};

}  // namespace tmac::kernels::avx2
