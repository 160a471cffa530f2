// Dequantization kernels for AVX2 (compiled with -mavx2 -mfma -mf16c). dequant_scalar.cc has
// the meaning of each op; a vector is 8 lanes, so a 32-weight block is 4 vectors.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "tmac/isa.h"

namespace tmac::kernels::avx2 {

struct DequantOps {
  static constexpr Isa kIsa = Isa::kAvx2;
  static constexpr int kLanes = 8;
  // Registers: 16. GEMV: 4 rows' accumulators, totals and weights, x and 2 masks; GEMM: 2 rows
  // x 4 activation rows of accumulators, 2 weights, x and the masks.
  static constexpr int kGemvRows = 4;
  static constexpr int kGemmRows = 2;
  static constexpr int kMaxBatch = 4;
  using F32 = __m256;
  using I32 = __m256i;

  // One broadcast load each (VPBROADCASTD / VPBROADCASTQ / VBROADCASTI128): no shuffle port.
  template <int kWidth>
  static I32 LoadWords(const uint8_t* p) {
    if constexpr (kWidth == 1) {
      int32_t v;
      std::memcpy(&v, p, sizeof(v));
      return _mm256_set1_epi32(v);
    } else if constexpr (kWidth == 2) {
      long long v;
      std::memcpy(&v, p, sizeof(v));
      return _mm256_set1_epi64x(v);
    } else {
      static_assert(kWidth == 4);
      return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
  }
  static I32 LoadMask(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static F32 Decode(I32 words, I32 mask) { return _mm256_cvtepi32_ps(_mm256_and_si256(words, mask)); }
  static F32 Load(const float* p) { return _mm256_loadu_ps(p); }
  static F32 Zero() { return _mm256_setzero_ps(); }
  static F32 Set1(float s) { return _mm256_set1_ps(s); }
  static F32 LoadFirst(const float* p) { return _mm256_zextps128_ps256(_mm_load_ss(p)); }
  static F32 Fma(F32 a, F32 b, F32 c) { return _mm256_fmadd_ps(a, b, c); }
  static float ReduceAdd(F32 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }
  // out[0..15]: the f16 pairs at p + i * stride, i < 8, as floats: one gather, two conversions.
  static bool GatherParams8(const uint8_t* p, int64_t stride, float* out) {
    if (stride > 0x7FFFFFFF / 8) return false;
    const __m256i offsets =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(stride)));
    const __m256i halves = _mm256_i32gather_epi32(reinterpret_cast<const int*>(p), offsets, 1);
    _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm256_castsi256_si128(halves)));
    _mm256_storeu_ps(out + 8, _mm256_cvtph_ps(_mm256_extracti128_si256(halves, 1)));
    return true;
  }
};

}  // namespace tmac::kernels::avx2

#define TMAC_ISA_NS avx2
// The kernel body must come after its ops.
#include "kernels/dequant_kernel-inl.h"

namespace tmac::kernels {

const DequantKernelSet* Avx2DequantKernels() { return &avx2::kDequantKernelSet; }

}  // namespace tmac::kernels
