// ggml matrix product kernels for the portable path: plain C++ on 16-lane "vectors" (the compiler
// vectorizes the lane loops with the baseline instruction set). This is also the reference
// meaning of every op; the SIMD versions compute the same values except for how lanes are split
// and that their Fma rounds once.
#include <bit>
#include <cstdint>
#include <cstring>

#include "formats/half.h"
#include "tmac/isa.h"

namespace tmac::kernels::scalar {

struct GgmlOps {
  static constexpr Isa kIsa = Isa::kScalar;
  static constexpr int kLanes = 16;
  static constexpr int kFloatGemvRows = 4;  // weight rows per tile for batch 1
  static constexpr int kFloatGemmRows = 2;  // weight rows per tile for batch > 1
  static constexpr int kQ8GemvRows = 4;
  static constexpr int kQ8GemmRows = 2;
  static constexpr int kMaxBatch = 4;  // activation vectors per tile

  struct F32 {
    float v[16];
  };
  static F32 Zero() { return F32{}; }
  static F32 Load(const float* p) {
    F32 r;
    std::memcpy(r.v, p, sizeof(r.v));
    return r;
  }
  // c + a * b per lane.
  static F32 Fma(F32 a, F32 b, F32 c) {
    for (int i = 0; i < 16; ++i) c.v[i] = c.v[i] + a.v[i] * b.v[i];
    return c;
  }
  // The lanes summed as a tree: 8 pairs (i, i + 8), then 4, 2, 1.
  static float ReduceAdd(F32 a) {
    for (int width = 8; width >= 1; width /= 2) {
      for (int i = 0; i < width; ++i) a.v[i] = a.v[i] + a.v[i + width];
    }
    return a.v[0];
  }

  static float HalfToFloat(uint16_t h) { return tmac::HalfToFloat(h); }
  // Weights as stored in the tensor, at any alignment.
  static F32 LoadF32(const uint8_t* p) {
    F32 r;
    std::memcpy(r.v, p, sizeof(r.v));
    return r;
  }
  static F32 LoadF16(const uint8_t* p) {
    uint16_t h[16];
    std::memcpy(h, p, sizeof(h));
    F32 r;
    for (int i = 0; i < 16; ++i) r.v[i] = tmac::HalfToFloat(h[i]);
    return r;
  }
  // bfloat16 is the high half of a float32.
  static F32 LoadBf16(const uint8_t* p) {
    uint16_t h[16];
    std::memcpy(h, p, sizeof(h));
    F32 r;
    for (int i = 0; i < 16; ++i) r.v[i] = std::bit_cast<float>(static_cast<uint32_t>(h[i]) << 16);
    return r;
  }

  // out[i] = scale * float(q[i]) - min for i < 16: decoding K-quant sub-blocks with DecodeRow's
  // float operations (a min of 0 leaves every product's bits as they are).
  static void StoreCodes16(const int8_t* q, float scale, float min, float* out) {
    for (int i = 0; i < 16; ++i) out[i] = scale * static_cast<float>(q[i]) - min;
  }

  // Q8_0: a block's 32 weight codes and 32 activation codes; their dot product is an exact int32.
  struct Q8W {
    int8_t q[32];
  };
  using Q8X = Q8W;
  using I32 = int32_t;
  using Q8F = float;
  static Q8W LoadQ8W(const uint8_t* p) {
    Q8W r;
    std::memcpy(r.q, p, sizeof(r.q));
    return r;
  }
  static Q8X LoadQ8X(const int8_t* p) { return LoadQ8W(reinterpret_cast<const uint8_t*>(p)); }
  static I32 DotQ8(const Q8W& w, const Q8X& x) {
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) sum += w.q[i] * x.q[i];
    return sum;
  }
  static Q8F ZeroQ8() { return 0.f; }
  // acc + float(sum) * scale: one running float sum per (row, vector), block after block.
  static Q8F AccumulateQ8(I32 sum, float scale, Q8F acc) { return acc + static_cast<float>(sum) * scale; }
  static float ReduceQ8(Q8F acc) { return acc; }
};

}  // namespace tmac::kernels::scalar

#define TMAC_ISA_NS scalar
// The kernel body must come after its ops.
#include "kernels/ggml_matmul_kernel-inl.h"

namespace tmac::kernels {

const GgmlKernelSet* ScalarGgmlKernels() { return &scalar::kGgmlKernelSet; }

}  // namespace tmac::kernels
