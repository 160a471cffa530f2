// AVX2 ops for the LUT kernel (see ops_scalar.h for what each computes). Two 16-byte lanes per
// vector; VPSHUFB looks both lanes up in the same broadcast table.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "tmac/isa.h"

namespace tmac::kernels::avx2 {

struct Ops {
  static constexpr Isa kIsa = Isa::kAvx2;
  static constexpr int kBytes = 32;
  using U8 = __m256i;
  using I16 = __m256i;

  static U8 Load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static U8 LoadTable(const uint8_t* p) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I16 Zero() { return _mm256_setzero_si256(); }
  static I16 Add(I16 a, I16 b) { return _mm256_add_epi16(a, b); }

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
    const __m256i* halves[2] = {&s0, &s1};
    for (int h = 0; h < 2; ++h) {
      for (int q = 0; q < 2; ++q) {
        const __m128i part = q == 0 ? _mm256_castsi256_si128(*halves[h])
                                    : _mm256_extracti128_si256(*halves[h], 1);
        __m256i* out = reinterpret_cast<__m256i*>(rows + 16 * h + 8 * q);
        const __m256i v = _mm256_sll_epi32(_mm256_cvtepi16_epi32(part), count);
        _mm256_storeu_si256(out, _mm256_add_epi32(_mm256_loadu_si256(out), v));
      }
    }
  }
  static void HalfToFloat(const uint16_t* in, float* out, int n) {
    for (int i = 0; i < n; i += 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
      _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    }
  }
};

}  // namespace tmac::kernels::avx2
