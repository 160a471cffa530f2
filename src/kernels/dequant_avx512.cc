// Dequantization kernels for AVX-512 F/BW/VL/DQ (compiled with its own -m flags).
// dequant_scalar.cc has the meaning of each op; a vector is 16 lanes, half a 32-weight block.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "tmac/isa.h"

namespace tmac::kernels::avx512 {

struct DequantOps {
  static constexpr Isa kIsa = Isa::kAvx512;
  static constexpr int kLanes = 16;
  // Registers: 32. GEMV: 8 rows' accumulators, totals and weights; GEMM: 4 rows x 4 activation
  // rows of accumulators, 4 weights, x and the masks.
  static constexpr int kGemvRows = 8;
  static constexpr int kGemmRows = 4;
  static constexpr int kMaxBatch = 4;
  using F32 = __m512;
  using I32 = __m512i;

  // One broadcast load each (VPBROADCASTD / VPBROADCASTQ / VBROADCASTI32X4): no shuffle port.
  template <int kWidth>
  static I32 LoadWords(const uint8_t* p) {
    if constexpr (kWidth == 1) {
      int32_t v;
      std::memcpy(&v, p, sizeof(v));
      return _mm512_set1_epi32(v);
    } else if constexpr (kWidth == 2) {
      long long v;
      std::memcpy(&v, p, sizeof(v));
      return _mm512_set1_epi64(v);
    } else {
      static_assert(kWidth == 4);
      return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
  }
  static I32 LoadMask(const int32_t* p) { return _mm512_loadu_si512(p); }
  static F32 Decode(I32 words, I32 mask) { return _mm512_cvtepi32_ps(_mm512_and_si512(words, mask)); }
  static F32 Load(const float* p) { return _mm512_loadu_ps(p); }
  static F32 Zero() { return _mm512_setzero_ps(); }
  static F32 Set1(float s) { return _mm512_set1_ps(s); }
  static F32 LoadFirst(const float* p) { return _mm512_zextps128_ps512(_mm_load_ss(p)); }
  static F32 Fma(F32 a, F32 b, F32 c) { return _mm512_fmadd_ps(a, b, c); }
  // The lanes summed as a tree: pairs (i, i + 8), then i + 4, i + 2, i + 1. (Generic vector
  // shuffles: GCC 12 warns about the undefined source operand of the extract intrinsics.)
  static float ReduceAdd(F32 a) {
    a = a + __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    a = a + __builtin_shufflevector(a, a, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
    a = a + __builtin_shufflevector(a, a, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    a = a + __builtin_shufflevector(a, a, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    return a[0];
  }
  static float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }
  // out[0..15]: the f16 pairs at p + i * stride, i < 8, as floats: one gather, one conversion.
  static bool GatherParams8(const uint8_t* p, int64_t stride, float* out) {
    if (stride > 0x7FFFFFFF / 8) return false;
    const __m256i offsets =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(stride)));
    _mm512_storeu_ps(out, _mm512_cvtph_ps(_mm256_i32gather_epi32(reinterpret_cast<const int*>(p), offsets, 1)));
    return true;
  }
};

}  // namespace tmac::kernels::avx512

#define TMAC_ISA_NS avx512
// The kernel body must come after its ops.
#include "kernels/dequant_kernel-inl.h"

namespace tmac::kernels {

const DequantKernelSet* Avx512DequantKernels() { return &avx512::kDequantKernelSet; }

}  // namespace tmac::kernels
