// ggml matrix product kernels for ARM NEON (AArch64). ggml_matmul_scalar.cc has the meaning of
// each op; a float vector is 4 lanes, a Q8_0 block two 16-byte vectors.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "tmac/isa.h"

namespace tmac::kernels::neon {

struct GgmlOps {
  static constexpr Isa kIsa = Isa::kNeon;
  static constexpr int kLanes = 4;
  // Registers: 32. GEMV: 4 rows' accumulators and weights; GEMM: 4 rows x 4 vectors of
  // accumulators, the weights and one activation vector.
  static constexpr int kFloatGemvRows = 4;
  static constexpr int kFloatGemmRows = 4;
  static constexpr int kQ8GemvRows = 4;
  static constexpr int kQ8GemmRows = 4;
  static constexpr int kMaxBatch = 4;

  using F32 = float32x4_t;
  static F32 Zero() { return vdupq_n_f32(0.f); }
  static F32 Load(const float* p) { return vld1q_f32(p); }
  static F32 Fma(F32 a, F32 b, F32 c) { return vfmaq_f32(c, a, b); }
  // Pairs (i, i + 2), then (0, 1).
  static float ReduceAdd(F32 a) {
    const float32x2_t s = vadd_f32(vget_low_f32(a), vget_high_f32(a));
    return vget_lane_f32(s, 0) + vget_lane_f32(s, 1);
  }

  static float HalfToFloat(uint16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
  }
  // Weights as stored in the tensor, at any alignment; bfloat16 is the high half of a float32.
  static F32 LoadF32(const uint8_t* p) { return vreinterpretq_f32_u8(vld1q_u8(p)); }
  static F32 LoadF16(const uint8_t* p) { return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p))); }
  static F32 LoadBf16(const uint8_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vreinterpret_u16_u8(vld1_u8(p)), 16)); }

  // out[i] = scale * float(q[i]) - min for i < 16: sign-extended to int32, converted, scaled,
  // shifted.
  static void StoreCodes16(const int8_t* q, float scale, float min, float* out) {
    const int8x16_t bytes = vld1q_s8(q);
    const int16x8_t halves[2] = {vmovl_s8(vget_low_s8(bytes)), vmovl_s8(vget_high_s8(bytes))};
    const float32x4_t s = vdupq_n_f32(scale), m = vdupq_n_f32(min);
    for (int h = 0; h < 2; ++h) {
      const int32x4_t parts[2] = {vmovl_s16(vget_low_s16(halves[h])), vmovl_s16(vget_high_s16(halves[h]))};
      for (int i = 0; i < 2; ++i) vst1q_f32(out + 8 * h + 4 * i, vsubq_f32(vmulq_f32(s, vcvtq_f32_s32(parts[i])), m));
    }
  }

  // Q8_0: SDOT when the target has it; otherwise widening multiplies, two byte products per
  // int16 lane (|w x| <= 128 * 127, so a pair fits), pairwise-added into int32.
  struct Q8W {
    int8x16_t lo, hi;
  };
  using Q8X = Q8W;
  using I32 = int32x4_t;
  using Q8F = float32x4_t;
  static Q8W LoadQ8W(const uint8_t* p) {
    return {vreinterpretq_s8_u8(vld1q_u8(p)), vreinterpretq_s8_u8(vld1q_u8(p + 16))};
  }
  static Q8X LoadQ8X(const int8_t* p) { return {vld1q_s8(p), vld1q_s8(p + 16)}; }
  static I32 DotQ8(const Q8W& w, const Q8X& x) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w.lo, x.lo), w.hi, x.hi);
#else
    int16x8_t a = vmull_s8(vget_low_s8(w.lo), vget_low_s8(x.lo));
    a = vmlal_s8(a, vget_high_s8(w.lo), vget_high_s8(x.lo));
    int16x8_t b = vmull_s8(vget_low_s8(w.hi), vget_low_s8(x.hi));
    b = vmlal_s8(b, vget_high_s8(w.hi), vget_high_s8(x.hi));
    return vpadalq_s16(vpaddlq_s16(a), b);
#endif
  }
  static Q8F ZeroQ8() { return vdupq_n_f32(0.f); }
  static Q8F AccumulateQ8(I32 sum, float scale, Q8F acc) {
    return vfmaq_f32(acc, vcvtq_f32_s32(sum), vdupq_n_f32(scale));
  }
  static float ReduceQ8(Q8F acc) { return ReduceAdd(acc); }
};

}  // namespace tmac::kernels::neon

#define TMAC_ISA_NS neon
// The kernel body must come after its ops.
#include "kernels/ggml_matmul_kernel-inl.h"

namespace tmac::kernels {

const GgmlKernelSet* NeonGgmlKernels() { return &neon::kGgmlKernelSet; }

}  // namespace tmac::kernels
