// AVX-512 (F, BW) ops for the LUT kernel (see ops_scalar.h for what each computes). Four
// 16-byte lanes per vector; VPSHUFB looks all four up in the same broadcast table.
//
// Compiled twice: for Isa::kAvx512, and with VBMI + VNNI enabled for Isa::kAvx512Vnni, which
// adds the kChunkQuads ops (VPERMB over four tables, VPDPBUSD into int32 row sums). The
// including file names the namespace (TMAC_ISA_NS), so the two copies never meet.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "tmac/isa.h"

namespace tmac::kernels::TMAC_ISA_NS {

struct Ops {
#if defined(__AVX512VBMI__) && defined(__AVX512VNNI__)
  static constexpr Isa kIsa = Isa::kAvx512Vnni;
  static constexpr bool kReadsQuads = true;
#else
  static constexpr Isa kIsa = Isa::kAvx512;
  static constexpr bool kReadsQuads = false;
#endif
  static constexpr int kBytes = 64;
  using U8 = __m512i;
  using I16 = __m512i;

  static U8 Load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static U8 LoadTable(const uint8_t* p) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I16 Zero() { return _mm512_setzero_si512(); }
  static I16 Add(I16 a, I16 b) { return _mm512_add_epi16(a, b); }
  static I16 ShiftLeft(I16 a, int shift) { return _mm512_sll_epi16(a, _mm_cvtsi32_si128(shift)); }

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
    const __m128i count = _mm_cvtsi32_si128(shift);
    // Rows 0-15, 16-31, 32-47, 48-63 (extract indices must be immediates, even at -O0).
    const __m256i parts[4] = {_mm512_castsi512_si256(first), _mm512_extracti64x4_epi64(first, 1),
                              _mm512_castsi512_si256(second), _mm512_extracti64x4_epi64(second, 1)};
    for (int i = 0; i < 4; ++i) {
      const __m512i v = _mm512_sll_epi32(_mm512_cvtepi16_epi32(parts[i]), count);
      _mm512_storeu_si512(rows + 16 * i, _mm512_add_epi32(_mm512_loadu_si512(rows + 16 * i), v));
    }
  }
  static void HalfToFloat(const uint16_t* in, float* out, int n) {
    for (int i = 0; i < n; i += 16) {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
      _mm512_storeu_ps(out + i, _mm512_cvtph_ps(h));
    }
  }

  // Table construction: same operations in the same order as ops_scalar.h.
  static float MaxChunkAbsSum(const float* x, int chunks) {
    __m512 best = _mm512_setzero_ps();
    for (int c = 0; c < chunks; c += 4) {  // 4 chunks = 4 128-bit lanes
      const __m512 a = _mm512_abs_ps(_mm512_loadu_ps(x + 4 * c));
      const __m512 s = _mm512_add_ps(
          _mm512_add_ps(_mm512_add_ps(_mm512_permute_ps(a, 0x00), _mm512_permute_ps(a, 0x55)),
                        _mm512_permute_ps(a, 0xAA)),
          _mm512_permute_ps(a, 0xFF));
      best = _mm512_max_ps(best, s);
    }
    return _mm512_reduce_max_ps(best);
  }
  static float Sum(const float* x, int n) {
    __m512 lanes = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) lanes = _mm512_add_ps(lanes, _mm512_loadu_ps(x + i));
    alignas(64) float l[16];
    _mm512_store_ps(l, lanes);
    float total = 0.f;
    for (float lane : l) total += lane;
    return total;
  }
  // Two chunks per step: lanes 0-7 hold entries 0-7 of the first chunk, lanes 8-15 the second's.
  static void ChunkTables(const float* x, int chunks, float inv_scale, bool biased, uint8_t* out) {
    const __m512i pick0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4);
    const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    const __m512i entry = _mm512_and_si512(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm512_set1_epi32(7));
    // s_j = -1 (sign bit set) where bit j of the entry is clear.
    __m512 neg[3];
    for (int j = 0; j < 3; ++j) {
      const __mmask16 clear = _mm512_testn_epi32_mask(entry, _mm512_set1_epi32(1 << j));
      neg[j] = _mm512_castsi512_ps(_mm512_maskz_mov_epi32(clear, sign));
    }
    const __m512i reverse = _mm512_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8);
    const __m512 inv = _mm512_set1_ps(inv_scale);
    const __m512i lim = _mm512_set1_epi32(127);
    const __m128i flip = _mm_set1_epi8(static_cast<char>(biased ? 0x80 : 0));
    for (int c = 0; c < chunks; c += 2, x += 8, out += 32) {
      const __m512 v = _mm512_castps256_ps512(_mm256_loadu_ps(x));
      __m512 x_j[4];  // x_j of each chunk, broadcast over its 8 lanes
      for (int j = 0; j < 4; ++j) x_j[j] = _mm512_permutexvar_ps(_mm512_add_epi32(pick0, _mm512_set1_epi32(j)), v);
      const __m512 e = _mm512_sub_ps(
          _mm512_add_ps(_mm512_add_ps(_mm512_xor_ps(x_j[0], neg[0]), _mm512_xor_ps(x_j[1], neg[1])),
                        _mm512_xor_ps(x_j[2], neg[2])),
          x_j[3]);
      __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(e, inv));
      q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_sub_epi32(_mm512_setzero_si512(), lim)), lim);
      const __m512i mirrored = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_permutexvar_epi32(reverse, q));
      const __m128i lo = _mm512_cvtepi32_epi8(q), hi = _mm512_cvtepi32_epi8(mirrored);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_xor_si128(_mm_unpacklo_epi64(lo, hi), flip));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm_xor_si128(_mm_unpackhi_epi64(lo, hi), flip));
    }
  }

#if defined(__AVX512VBMI__) && defined(__AVX512VNNI__)
  // kChunkQuads: 16 rows x 4 bytes per vector.
  using I32 = __m512i;
  static I32 ZeroI32() { return _mm512_setzero_si512(); }
  static I32 AddI32(I32 a, I32 b) { return _mm512_add_epi32(a, b); }
  static I32 ShiftLeftI32(I32 a, int shift) { return _mm512_sll_epi32(a, _mm_cvtsi32_si128(shift)); }
  static void StoreI32(I32 a, int32_t* out) { _mm512_storeu_si512(out, a); }
  static U8 LoadTables4(const uint8_t* p) { return _mm512_loadu_si512(p); }
  // VPERMB indices: byte k of each dword reads table k, so index = nibble | 16k.
  static void QuadIndices(U8 x, U8& lo, U8& hi) {
    const __m512i mask = _mm512_set1_epi8(0x0F), table = _mm512_set1_epi32(0x30201000);
    lo = _mm512_ternarylogic_epi32(x, mask, table, 0xEA);  // (x & mask) | table
    hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(x, 4), mask, table, 0xEA);
  }
  static I32 QuadDotI8(I32 acc, U8 x, U8 lo_tables, U8 hi_tables, int p) {
    U8 lo, hi;
    QuadIndices(x, lo, hi);
    const __m512i weight = _mm512_set1_epi8(static_cast<char>(1 << p));
    acc = _mm512_dpbusd_epi32(acc, weight, _mm512_permutexvar_epi8(lo, lo_tables));
    return _mm512_dpbusd_epi32(acc, weight, _mm512_permutexvar_epi8(hi, hi_tables));
  }
  static void QuadDotI16(U8 x, U8 lo_low, U8 lo_high, U8 hi_low, U8 hi_high, int p, I32& acc_low, I32& acc_high) {
    U8 lo, hi;
    QuadIndices(x, lo, hi);
    const __m512i weight = _mm512_set1_epi8(static_cast<char>(1 << p));
    // VPDPBUSD multiplies unsigned by signed bytes: low planes are the unsigned side, high planes
    // the signed one.
    acc_low = _mm512_dpbusd_epi32(acc_low, _mm512_permutexvar_epi8(lo, lo_low), weight);
    acc_low = _mm512_dpbusd_epi32(acc_low, _mm512_permutexvar_epi8(hi, hi_low), weight);
    acc_high = _mm512_dpbusd_epi32(acc_high, weight, _mm512_permutexvar_epi8(lo, lo_high));
    acc_high = _mm512_dpbusd_epi32(acc_high, weight, _mm512_permutexvar_epi8(hi, hi_high));
  }
#endif

  // Ternary (TL2) ops --------------------------------------------------------------------------
  //
  // The sign bits become mask registers; a masked subtract from zero negates those slots.
  template <int kSlot>
  static void Tl2SignMasks(U8 signs, __mmask64& n0, __mmask64& n1) {
    n0 = _mm512_test_epi8_mask(signs, _mm512_set1_epi8(static_cast<char>(1 << (2 * kSlot))));
    n1 = _mm512_test_epi8_mask(signs, _mm512_set1_epi8(static_cast<char>(2 << (2 * kSlot))));
  }
  static __m512i Tl2Negate(__m512i e, __mmask64 n) {
    return _mm512_mask_sub_epi8(e, n, _mm512_setzero_si512(), e);
  }
  template <int kSlot>
  static void LookupSignedI8(U8 x, U8 signs, U8 tlo, U8 thi, I16& a, I16& b) {
    U8 lo, hi;
    __mmask64 n0, n1;
    Nibbles(x, lo, hi);
    Tl2SignMasks<kSlot>(signs, n0, n1);
    const __m512i r0 = Tl2Negate(_mm512_shuffle_epi8(tlo, lo), n0);
    const __m512i r1 = Tl2Negate(_mm512_shuffle_epi8(thi, hi), n1);
    const __m512i ones = _mm512_set1_epi8(1);
    a = _mm512_maddubs_epi16(ones, _mm512_unpacklo_epi8(r0, r1));
    b = _mm512_maddubs_epi16(ones, _mm512_unpackhi_epi8(r0, r1));
  }
  template <int kSlot>
  static void LookupSignedI16(U8 x, U8 signs, U8 lo_low, U8 lo_high, U8 hi_low, U8 hi_high, I16& a, I16& b) {
    U8 lo, hi;
    __mmask64 n0, n1;
    Nibbles(x, lo, hi);
    Tl2SignMasks<kSlot>(signs, n0, n1);
    // Pair sums per plane in int8 (|l0 + l1| <= 126, |h0 + h1| <= 6), then one VPMADDUBSW with
    // byte weights (1, 127) turns each row's (l, h) into l + 127 h.
    const __m512i l = _mm512_add_epi8(Tl2Negate(_mm512_shuffle_epi8(lo_low, lo), n0),
                                      Tl2Negate(_mm512_shuffle_epi8(hi_low, hi), n1));
    const __m512i h = _mm512_add_epi8(Tl2Negate(_mm512_shuffle_epi8(lo_high, lo), n0),
                                      Tl2Negate(_mm512_shuffle_epi8(hi_high, hi), n1));
    const __m512i weights = _mm512_set1_epi16(127 << 8 | 1);
    a = _mm512_maddubs_epi16(weights, _mm512_unpacklo_epi8(l, h));
    b = _mm512_maddubs_epi16(weights, _mm512_unpackhi_epi8(l, h));
  }
  static void Tl2TableI8(const float (&d)[3][16], const float x[3], float inv, uint8_t* out) {
    const __m512 e = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(d[0]), _mm512_set1_ps(x[0])),
                                                 _mm512_mul_ps(_mm512_loadu_ps(d[1]), _mm512_set1_ps(x[1]))),
                                   _mm512_mul_ps(_mm512_loadu_ps(d[2]), _mm512_set1_ps(x[2])));
    // VCVTPS2DQ rounds in the current mode, round to nearest even, as nearbyint does.
    const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(e, _mm512_set1_ps(inv)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(q));
  }
};

}  // namespace tmac::kernels::TMAC_ISA_NS
