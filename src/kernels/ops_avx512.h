// AVX-512 (F, BW) ops for the LUT kernel (see ops_scalar.h for what each computes). Four
// 16-byte lanes per vector; VPSHUFB looks all four up in the same broadcast table.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "tmac/isa.h"

namespace tmac::kernels::avx512 {

struct Ops {
  static constexpr Isa kIsa = Isa::kAvx512;
  static constexpr int kBytes = 64;
  using U8 = __m512i;
  using I16 = __m512i;

  static U8 Load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static U8 LoadTable(const uint8_t* p) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I16 Zero() { return _mm512_setzero_si512(); }
  static I16 Add(I16 a, I16 b) { return _mm512_add_epi16(a, b); }

  static void Nibbles(U8 x, U8& lo, U8& hi) {
    const __m512i mask = _mm512_set1_epi8(0x0F);
    lo = _mm512_and_si512(x, mask);
    hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), mask);
  }
  static void LookupI8(U8 x, U8 tlo, U8 thi, I16& a, I16& b) {
    U8 lo, hi;
    Nibbles(x, lo, hi);
    const __m512i r0 = _mm512_shuffle_epi8(tlo, lo);
    const __m512i r1 = _mm512_shuffle_epi8(thi, hi);
    const __m512i ones = _mm512_set1_epi8(1);
    a = _mm512_maddubs_epi16(ones, _mm512_unpacklo_epi8(r0, r1));
    b = _mm512_maddubs_epi16(ones, _mm512_unpackhi_epi8(r0, r1));
  }
  static void LookupAvg(U8 x, U8 tlo, U8 thi, I16& a, I16& b) {
    U8 lo, hi;
    Nibbles(x, lo, hi);
    const __m512i m = _mm512_avg_epu8(_mm512_shuffle_epi8(tlo, lo), _mm512_shuffle_epi8(thi, hi));
    const __m512i zero = _mm512_setzero_si512();
    a = _mm512_unpacklo_epi8(m, zero);
    b = _mm512_unpackhi_epi8(m, zero);
  }
  static void LookupI16(U8 x, U8 lo_low, U8 lo_high, U8 hi_low, U8 hi_high, I16& a, I16& b) {
    U8 lo, hi;
    Nibbles(x, lo, hi);
    const __m512i l0 = _mm512_shuffle_epi8(lo_low, lo), h0 = _mm512_shuffle_epi8(lo_high, lo);
    const __m512i l1 = _mm512_shuffle_epi8(hi_low, hi), h1 = _mm512_shuffle_epi8(hi_high, hi);
    a = _mm512_add_epi16(_mm512_unpacklo_epi8(l0, h0), _mm512_unpacklo_epi8(l1, h1));
    b = _mm512_add_epi16(_mm512_unpackhi_epi8(l0, h0), _mm512_unpackhi_epi8(l1, h1));
  }
  // a holds slots 0-7 of each lane L (rows 16L..16L+7), b slots 8-15: put each lane's two
  // halves side by side, then widen to int32 in row order.
  static void AccumulateRows(I16 a, I16 b, int shift, int32_t* rows) {
    const __m512i first = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), b);
    const __m512i second = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15), b);
    const __m512i* halves[2] = {&first, &second};
    const __m128i count = _mm_cvtsi32_si128(shift);
    for (int h = 0; h < 2; ++h) {
      for (int q = 0; q < 2; ++q) {
        const __m256i part = _mm512_extracti64x4_epi64(*halves[h], q);
        int32_t* out = rows + 32 * h + 16 * q;
        const __m512i v = _mm512_sll_epi32(_mm512_cvtepi16_epi32(part), count);
        _mm512_storeu_si512(out, _mm512_add_epi32(_mm512_loadu_si512(out), v));
      }
    }
  }
  static void HalfToFloat(const uint16_t* in, float* out, int n) {
    for (int i = 0; i < n; i += 16) {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
      _mm512_storeu_ps(out + i, _mm512_cvtph_ps(h));
    }
  }
};

}  // namespace tmac::kernels::avx512
