// x86 ops for the ggml matrix product kernels (ggml_matmul_scalar.cc has the meaning of each).
// Compiled three times under the namespace TMAC_ISA_NS: with AVX2 (8-lane floats), AVX-512
// (16-lane floats) and AVX-512 VNNI (Q8_0 block sums with one VPDPBUSD instead of VPSIGNB +
// VPMADDUBSW + VPMADDWD). A Q8_0 block is 32 bytes, one 256-bit vector, on all three.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "tmac/isa.h"

namespace tmac::kernels::TMAC_ISA_NS {

struct GgmlOps {
#if defined(__AVX512VNNI__)
  static constexpr Isa kIsa = Isa::kAvx512Vnni;
#elif defined(__AVX512F__)
  static constexpr Isa kIsa = Isa::kAvx512;
#else
  static constexpr Isa kIsa = Isa::kAvx2;
#endif
  // Registers: 16 (AVX2) or 32 (AVX-512). GEMV: 4 rows' accumulators and weights; GEMM: 2 (4)
  // rows x 4 vectors of accumulators. Q8_0 takes two registers per row's block (Q8W).
#if defined(__AVX512F__)
  static constexpr int kLanes = 16;
  static constexpr int kFloatGemmRows = 4;
  static constexpr int kQ8GemmRows = 4;
  using F32 = __m512;
  static F32 Zero() { return _mm512_setzero_ps(); }
  static F32 Load(const float* p) { return _mm512_loadu_ps(p); }
  // Weights as stored in the tensor, at any alignment; bfloat16 is the high half of a float32.
  static F32 LoadF32(const uint8_t* p) { return _mm512_loadu_ps(p); }
  static F32 LoadF16(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static F32 LoadBf16(const uint8_t* p) {
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
  }
  static F32 Fma(F32 a, F32 b, F32 c) { return _mm512_fmadd_ps(a, b, c); }
  static float ReduceAdd(F32 a) {
    // The high half onto the low one, as vector shuffles: GCC 12's cast and extract intrinsics
    // trip -Wuninitialized inside their own headers.
    const __m256 low = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 high = __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
    return ReduceAdd256(_mm256_add_ps(low, high));
  }
#else
  static constexpr int kLanes = 8;
  static constexpr int kFloatGemmRows = 2;
  static constexpr int kQ8GemmRows = 2;
  using F32 = __m256;
  static F32 Zero() { return _mm256_setzero_ps(); }
  static F32 Load(const float* p) { return _mm256_loadu_ps(p); }
  static F32 LoadF32(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static F32 LoadF16(const uint8_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static F32 LoadBf16(const uint8_t* p) {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
  }
  static F32 Fma(F32 a, F32 b, F32 c) { return _mm256_fmadd_ps(a, b, c); }
  static float ReduceAdd(F32 a) { return ReduceAdd256(a); }
#endif
  static constexpr int kFloatGemvRows = 4;
  static constexpr int kQ8GemvRows = 4;
  static constexpr int kMaxBatch = 4;

  // out[i] = scale * float(q[i]) - min for i < 16: sign-extended to int32, converted, scaled,
  // shifted.
  static void StoreCodes16(const int8_t* q, float scale, float min, float* out) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
#if defined(__AVX512F__)
    const __m512 scaled = _mm512_mul_ps(_mm512_set1_ps(scale), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes)));
    _mm512_storeu_ps(out, _mm512_sub_ps(scaled, _mm512_set1_ps(min)));
#else
    const __m256i halves[2] = {_mm256_cvtepi8_epi32(bytes), _mm256_cvtepi8_epi32(_mm_srli_si128(bytes, 8))};
    for (int h = 0; h < 2; ++h) {
      const __m256 scaled = _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(halves[h]));
      _mm256_storeu_ps(out + 8 * h, _mm256_sub_ps(scaled, _mm256_set1_ps(min)));
    }
#endif
  }

  static float ReduceAdd256(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  static float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }

  // Q8_0: the byte products take an unsigned and a signed operand.
#if defined(__AVX512VNNI__)
  // VPDPBUSD: the activations are biased to x + 128 (unsigned), and each row's block sum starts
  // at -128 * sum(w), which the bias adds back. The start is set once per row and block, the
  // bias once per vector and block, so the (row, vector) pair costs one instruction.
  struct Q8W {
    __m256i q, start;
  };
  using Q8X = __m256i;
  using I32 = __m256i;
  static Q8W LoadQ8W(const uint8_t* p) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i zero = _mm256_setzero_si256();
    return {q, _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(-128), q))};
  }
  static Q8X LoadQ8X(const int8_t* p) {
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), _mm256_set1_epi8(-128));
  }
  static I32 DotQ8(const Q8W& w, Q8X x) { return _mm256_dpbusd_epi32(w.start, x, w.q); }
#else
  // VPMADDUBSW: the weights' signs move to the activations, |w| * (x * sign(w)); |w| <= 128 and
  // |x| <= 127 keep its int16 pair sums (<= 2 * 128 * 127) from saturating.
  struct Q8W {
    __m256i q, abs;
  };
  using Q8X = __m256i;
  using I32 = __m256i;
  static Q8W LoadQ8W(const uint8_t* p) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return {q, _mm256_sign_epi8(q, q)};
  }
  static Q8X LoadQ8X(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I32 DotQ8(const Q8W& w, Q8X x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w.abs, _mm256_sign_epi8(x, w.q)), _mm256_set1_epi16(1));
  }
#endif
  using Q8F = __m256;
  static Q8F ZeroQ8() { return _mm256_setzero_ps(); }
  static Q8F AccumulateQ8(I32 sum, float scale, Q8F acc) {
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(scale), acc);
  }
  static float ReduceQ8(Q8F acc) { return ReduceAdd256(acc); }
};

}  // namespace tmac::kernels::TMAC_ISA_NS
