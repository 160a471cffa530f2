// Decoding ggml tensor blocks to float (tmac/ggml_types.h).
//
// Each block type is a struct with ggml's field order (ggml-common.h; formats/ggml_blocks.h),
// copied out of the byte stream before use, and one Decode overload that computes every weight
// with the float32 operations of llama.cpp's dequantize_row_* and gguf-py's dequantize_blocks,
// in their order: products such as (d * sc) * q are exact for most types, but Q4_1/Q5_1 and the
// K-quants with mins round in the final add, Q6_K can round in its product, and the sign of a
// zero result depends on which operand is negative, so the order is part of the format.
#include <bit>
#include <cstdint>
#include <string>
#include <utility>

#include "formats/ggml_blocks.h"
#include "formats/half.h"
#include "tmac/error.h"
#include "tmac/ggml_types.h"

namespace tmac {
namespace {

using namespace ggml;  // the block structs and their bit fields

float Float(int v) { return static_cast<float>(v); }

// Plain values, one weight per "block" --------------------------------------------------------

struct F32Value {
  static constexpr int kWeights = 1;
  uint32_t bits;
};
struct F16Value {
  static constexpr int kWeights = 1;
  uint16_t bits;
};
struct BF16Value {
  static constexpr int kWeights = 1;
  uint16_t bits;
};

// A bit copy, so NaN payloads survive.
void Decode(const F32Value& b, float* y) { y[0] = std::bit_cast<float>(b.bits); }
void Decode(const F16Value& b, float* y) { y[0] = HalfToFloat(b.bits); }
// bfloat16 is the high half of a float32.
void Decode(const BF16Value& b, float* y) {
  y[0] = std::bit_cast<float>(static_cast<uint32_t>(b.bits) << 16);
}

// Legacy 32-weight blocks: fp16 scale d (and min m), codes q --------------------------------------

int Q5Code(const uint8_t* qs, const uint8_t* qh, int k) {
  return Nibble(qs, k, 16) | ((qh[k / 8] >> (k % 8)) & 1) << 4;
}

void Decode(const BlockQ4_0& b, float* y) {
  const float d = HalfToFloat(b.d);
  for (int k = 0; k < 32; ++k) y[k] = d * Float(Nibble(b.qs, k, 16) - 8);
}

void Decode(const BlockQ4_1& b, float* y) {
  const float d = HalfToFloat(b.d), m = HalfToFloat(b.m);
  for (int k = 0; k < 32; ++k) y[k] = d * Float(Nibble(b.qs, k, 16)) + m;
}

void Decode(const BlockQ5_0& b, float* y) {
  const float d = HalfToFloat(b.d);
  for (int k = 0; k < 32; ++k) y[k] = d * Float(Q5Code(b.qs, b.qh, k) - 16);
}

void Decode(const BlockQ5_1& b, float* y) {
  const float d = HalfToFloat(b.d), m = HalfToFloat(b.m);
  for (int k = 0; k < 32; ++k) y[k] = d * Float(Q5Code(b.qs, b.qh, k)) + m;
}

void Decode(const BlockQ8_0& b, float* y) {
  const float d = HalfToFloat(b.d);
  for (int k = 0; k < 32; ++k) y[k] = d * Float(b.qs[k]);
}

// K-quants: 256-weight super-blocks of 16 or 8 sub-blocks, whose integer scales (and mins)
// are multiplied by the fp16 super-block scale d (and dmin) ---------------------------------------

void Decode(const BlockQ2_K& b, float* y) {
  const float d = HalfToFloat(b.d), dmin = HalfToFloat(b.dmin);
  for (int j = 0; j < 16; ++j) {
    const float dl = d * Float(b.scales[j] & 0xF), ml = dmin * Float(b.scales[j] >> 4);
    for (int k = 16 * j; k < 16 * (j + 1); ++k) y[k] = dl * Float(Crumb(b.qs, k)) - ml;
  }
}

void Decode(const BlockQ3_K& b, float* y) {
  const float d = HalfToFloat(b.d);
  for (int j = 0; j < 16; ++j) {
    const float dl = d * Float(Q3Scale(b.scales, j));
    for (int k = 16 * j; k < 16 * (j + 1); ++k) y[k] = dl * Float(Q3Code(b, k) - 4);
  }
}

void Decode(const BlockQ4_K& b, float* y) {
  const float d = HalfToFloat(b.d), dmin = HalfToFloat(b.dmin);
  for (int j = 0; j < 8; ++j) {
    const ScaleMin sm = KScaleMin(b.scales, j);
    const float dl = d * Float(sm.scale), ml = dmin * Float(sm.min);
    for (int k = 32 * j; k < 32 * (j + 1); ++k) y[k] = dl * Float(Nibble(b.qs, k, 32)) - ml;
  }
}

void Decode(const BlockQ5_K& b, float* y) {
  const float d = HalfToFloat(b.d), dmin = HalfToFloat(b.dmin);
  for (int j = 0; j < 8; ++j) {
    const ScaleMin sm = KScaleMin(b.scales, j);
    const float dl = d * Float(sm.scale), ml = dmin * Float(sm.min);
    for (int k = 32 * j; k < 32 * (j + 1); ++k) {
      y[k] = dl * Float(Nibble(b.qs, k, 32) | MaskBit(b.qh, k) << 4) - ml;
    }
  }
}

void Decode(const BlockQ6_K& b, float* y) {
  const float d = HalfToFloat(b.d);
  for (int j = 0; j < 16; ++j) {
    const float dl = d * Float(b.scales[j]);
    for (int k = 16 * j; k < 16 * (j + 1); ++k) {
      y[k] = dl * Float((Nibble(b.ql, k, 64) | Crumb(b.qh, k) << 4) - 32);
    }
  }
}

// Ternary super-blocks: d * t with t in {-1, 0, +1} (TQ2_0 also decodes code 3 as +2) -------------

void Decode(const BlockTQ1_0& b, float* y) {
  const float d = HalfToFloat(b.d);
  ForEachTrit(b, [&](int k, int t) { y[k] = d * Float(t - 1); });
}

void Decode(const BlockTQ2_0& b, float* y) {
  const float d = HalfToFloat(b.d);
  for (int k = 0; k < 256; ++k) y[k] = d * Float(Crumb(b.qs, k) - 1);
}

// The type table ------------------------------------------------------------------------------

// Calls visit(Block{}) with the block struct of `type`, or unsupported() for a type without a
// decoder here.
template <typename Visitor, typename Unsupported>
auto VisitBlockOr(GgmlType type, Visitor&& visit, Unsupported&& unsupported) {
  switch (type) {
    case GgmlType::kF32: return visit(F32Value{});
    case GgmlType::kF16: return visit(F16Value{});
    case GgmlType::kBF16: return visit(BF16Value{});
    case GgmlType::kQ4_0: return visit(BlockQ4_0{});
    case GgmlType::kQ4_1: return visit(BlockQ4_1{});
    case GgmlType::kQ5_0: return visit(BlockQ5_0{});
    case GgmlType::kQ5_1: return visit(BlockQ5_1{});
    case GgmlType::kQ8_0: return visit(BlockQ8_0{});
    case GgmlType::kQ2_K: return visit(BlockQ2_K{});
    case GgmlType::kQ3_K: return visit(BlockQ3_K{});
    case GgmlType::kQ4_K: return visit(BlockQ4_K{});
    case GgmlType::kQ5_K: return visit(BlockQ5_K{});
    case GgmlType::kQ6_K: return visit(BlockQ6_K{});
    case GgmlType::kTQ1_0: return visit(BlockTQ1_0{});
    case GgmlType::kTQ2_0: return visit(BlockTQ2_0{});
    default: return unsupported();
  }
}

// VisitBlockOr that throws for an unsupported type.
template <typename Visitor>
auto VisitBlock(GgmlType type, Visitor&& visit) {
  return VisitBlockOr(type, std::forward<Visitor>(visit), [&]() -> decltype(visit(F32Value{})) {
    throw Error("unsupported ggml tensor type " + GgmlTypeName(type));
  });
}

template <typename Block>
void DecodeBlocks(const uint8_t* src, int64_t count, float* out) {
  for (int64_t i = 0; i < count; ++i) {
    Decode(LoadBlock<Block>(src, i), out + i * Block::kWeights);
  }
}

}  // namespace

std::string GgmlTypeName(GgmlType type) {
  const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(type));
  return info != nullptr ? std::string(info->name) : "id " + std::to_string(static_cast<uint32_t>(type));
}

bool IsDecodable(GgmlType type) {
  return VisitBlockOr(type, [](auto) { return true; }, [] { return false; });
}

GgmlBlockInfo GgmlBlock(GgmlType type) {
  return VisitBlock(type, [](auto block) {
    return GgmlBlockInfo{decltype(block)::kWeights, static_cast<int>(sizeof(block))};
  });
}

int64_t GgmlRowBytes(GgmlType type, int64_t n) {
  const GgmlBlockInfo info = GgmlBlock(type);
  Require(n >= 0 && n % info.block_size == 0, GgmlTypeName(type) + ": " + std::to_string(n) +
                                                  " weights are not a whole number of " +
                                                  std::to_string(info.block_size) + "-weight blocks");
  return n / info.block_size * info.type_size;
}

void DecodeRow(GgmlType type, const void* blocks, int64_t n, float* out) {
  GgmlRowBytes(type, n);  // validates type and n before anything is written
  VisitBlock(type, [&](auto block) {
    using Block = decltype(block);
    DecodeBlocks<Block>(static_cast<const uint8_t*>(blocks), n / Block::kWeights, out);
  });
}

}  // namespace tmac
