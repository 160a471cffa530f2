// Dequantization kernels for the portable path: plain C++ on 16-lane "vectors" (the compiler
// vectorizes the lane loops with the baseline instruction set). This is also the reference
// meaning of every op: the SIMD versions compute the same values lane for lane, except that
// their Fma rounds once where this one rounds the product and the sum.
#include <cstdint>
#include <cstring>

#include "formats/half.h"
#include "tmac/isa.h"

namespace tmac::kernels::scalar {

struct DequantOps {
  static constexpr Isa kIsa = Isa::kScalar;
  static constexpr int kLanes = 16;
  static constexpr int kGemvRows = 4;  // weight rows per block for batch 1
  static constexpr int kGemmRows = 2;  // weight rows per block for batch > 1
  static constexpr int kMaxBatch = 4;  // activation rows per pass over a block
  struct F32 {
    float v[16];
  };
  struct I32 {
    int32_t v[16];
  };

  // Lane i holds little-endian word i % kWidth of p: the plane's words broadcast to all lanes.
  template <int kWidth>
  static I32 LoadWords(const uint8_t* p) {
    uint32_t words[kWidth];
    std::memcpy(words, p, sizeof(words));
    I32 r;
    for (int i = 0; i < 16; ++i) r.v[i] = static_cast<int32_t>(words[i % kWidth]);
    return r;
  }
  static I32 LoadMask(const int32_t* p) {
    I32 r;
    std::memcpy(r.v, p, sizeof(r.v));
    return r;
  }
  // float(words & mask) per lane: a field in place, code << field bit.
  static F32 Decode(I32 words, I32 mask) {
    F32 r;
    for (int i = 0; i < 16; ++i) r.v[i] = static_cast<float>(words.v[i] & mask.v[i]);
    return r;
  }
  static F32 Load(const float* p) {
    F32 r;
    std::memcpy(r.v, p, sizeof(r.v));
    return r;
  }
  static F32 Zero() { return F32{}; }
  static F32 Set1(float s) {
    F32 r;
    for (float& v : r.v) v = s;
    return r;
  }
  // *p in lane 0, zeros elsewhere.
  static F32 LoadFirst(const float* p) {
    F32 r{};
    r.v[0] = *p;
    return r;
  }
  // a * b + c per lane.
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
  // Eight groups' parameters at once (see DequantLoadParams); false: not here, the caller
  // converts them one by one.
  static bool GatherParams8(const uint8_t*, int64_t, float*) { return false; }
};

}  // namespace tmac::kernels::scalar

#define TMAC_ISA_NS scalar
// The kernel body must come after its ops.
#include "kernels/dequant_kernel-inl.h"

namespace tmac::kernels {

const DequantKernelSet* ScalarDequantKernels() { return &scalar::kDequantKernelSet; }

}  // namespace tmac::kernels
