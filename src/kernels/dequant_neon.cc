// Dequantization kernels for ARM NEON (AArch64). dequant_scalar.cc has the meaning of each op; a
// vector is 4 lanes, so a 32-weight block is 8 vectors.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "tmac/isa.h"

namespace tmac::kernels::neon {

struct DequantOps {
  static constexpr Isa kIsa = Isa::kNeon;
  static constexpr int kLanes = 4;
  // Registers: 32. GEMV: 8 rows' accumulators, totals and weights; GEMM: 4 rows x 4 activation
  // rows of accumulators, 4 weights, x and the 4 masks.
  static constexpr int kGemvRows = 8;
  static constexpr int kGemmRows = 4;
  static constexpr int kMaxBatch = 4;
  using F32 = float32x4_t;
  using I32 = uint32x4_t;

  template <int kWidth>
  static I32 LoadWords(const uint8_t* p) {
    if constexpr (kWidth == 1) {
      uint32_t v;
      std::memcpy(&v, p, sizeof(v));
      return vdupq_n_u32(v);
    } else if constexpr (kWidth == 2) {
      uint64_t v;
      std::memcpy(&v, p, sizeof(v));
      return vreinterpretq_u32_u64(vdupq_n_u64(v));
    } else {
      static_assert(kWidth == 4);
      return vreinterpretq_u32_u8(vld1q_u8(p));
    }
  }
  static I32 LoadMask(const int32_t* p) { return vreinterpretq_u32_s32(vld1q_s32(p)); }
  static F32 Decode(I32 words, I32 mask) { return vcvtq_f32_u32(vandq_u32(words, mask)); }
  static F32 Load(const float* p) { return vld1q_f32(p); }
  static F32 Zero() { return vdupq_n_f32(0.f); }
  static F32 Set1(float s) { return vdupq_n_f32(s); }
  static F32 LoadFirst(const float* p) { return vsetq_lane_f32(*p, vdupq_n_f32(0.f), 0); }
  static F32 Fma(F32 a, F32 b, F32 c) { return vfmaq_f32(c, a, b); }
  // Pairs (i, i + 2), then (0, 1).
  static float ReduceAdd(F32 a) {
    const float32x2_t s = vadd_f32(vget_low_f32(a), vget_high_f32(a));
    return vget_lane_f32(s, 0) + vget_lane_f32(s, 1);
  }
  static float HalfToFloat(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
  }
  // Eight groups' parameters at once (see DequantLoadParams); false: not here, the caller
  // converts them one by one.
  static bool GatherParams8(const uint8_t*, int64_t, float*) { return false; }
};

}  // namespace tmac::kernels::neon

#define TMAC_ISA_NS neon
// The kernel body must come after its ops.
#include "kernels/dequant_kernel-inl.h"

namespace tmac::kernels {

const DequantKernelSet* NeonDequantKernels() { return &neon::kDequantKernelSet; }

}  // namespace tmac::kernels
