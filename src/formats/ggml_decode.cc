// Decoding ggml tensor blocks to float (tmac/ggml_types.h).
//
// Each block type is a struct with ggml's field order (ggml-common.h), copied out of the byte
// stream before use, and one Decode overload that computes every weight with the float32
// operations of llama.cpp's dequantize_row_* and gguf-py's dequantize_blocks, in their order:
// products such as (d * sc) * q are exact for most types, but Q4_1/Q5_1 and the K-quants with
// mins round in the final add, Q6_K can round in its product, and the sign of a zero result
// depends on which operand is negative, so the order is part of the format.
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

#include "formats/half.h"
#include "tmac/error.h"
#include "tmac/ggml_types.h"

namespace tmac {
namespace {

// Bit fields shared by several formats ----------------------------------------------------------

// Weight k of nibble-packed codes where every 2 * run weights take `run` bytes: the first run
// weights in the low nibbles of those bytes, the next run in the high nibbles. The legacy
// 32-weight blocks use run 16, Q4_K and Q5_K run 32, Q6_K run 64 (and Q3_K's scales run 8).
int Nibble(const uint8_t* q, int k, int run) {
  const int byte = run * (k / (2 * run)) + k % run;
  return (q[byte] >> (4 * ((k / run) % 2))) & 0xF;
}

// Weight k (0..255) of 2-bit codes in 64 bytes: every 128 weights take 32 bytes, weight i of
// them at bits 2 * (i / 32) of byte i % 32 (Q2_K, Q3_K, TQ2_0 and Q6_K's high bits).
int Crumb(const uint8_t* q, int k) { return (q[32 * (k / 128) + k % 32] >> (2 * ((k % 128) / 32))) & 3; }

// Bit k (0..255) of a 32-byte mask: bit k / 32 of byte k % 32 (Q3_K's and Q5_K's high bits).
int MaskBit(const uint8_t* mask, int k) { return (mask[k % 32] >> (k / 32)) & 1; }

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

struct BlockQ4_0 {  // d * (q - 8), q 4-bit
  static constexpr int kWeights = 32;
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ4_1 {  // d * q + m, q 4-bit
  static constexpr int kWeights = 32;
  uint16_t d, m;
  uint8_t qs[16];
};
struct BlockQ5_0 {  // d * (q - 16), q 5-bit: low 4 bits in qs, bit 4 in qh
  static constexpr int kWeights = 32;
  uint16_t d;
  uint8_t qh[4];  // a little-endian uint32, bit k for weight k
  uint8_t qs[16];
};
struct BlockQ5_1 {  // d * q + m, q 5-bit as in Q5_0
  static constexpr int kWeights = 32;
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ8_0 {  // d * q, q int8
  static constexpr int kWeights = 32;
  uint16_t d;
  int8_t qs[32];
};

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

struct BlockQ2_K {  // 16 x 16: (d * sc) * q - dmin * m, q 2-bit, sc and m 4-bit
  static constexpr int kWeights = 256;
  uint8_t scales[16];  // sc in the low nibble, m in the high one
  uint8_t qs[64];
  uint16_t d, dmin;
};
struct BlockQ3_K {  // 16 x 16: (d * (sc - 32)) * (q - 4), q 3-bit, sc 6-bit
  static constexpr int kWeights = 256;
  uint8_t hmask[32];  // bit 2 of q
  uint8_t qs[64];     // bits 0..1 of q
  uint8_t scales[12];
  uint16_t d;
};
struct BlockQ4_K {  // 8 x 32: (d * sc) * q - dmin * m, q 4-bit, sc and m 6-bit
  static constexpr int kWeights = 256;
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
struct BlockQ5_K {  // 8 x 32: as Q4_K with q 5-bit
  static constexpr int kWeights = 256;
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];  // bit 4 of q
  uint8_t qs[128];
};
struct BlockQ6_K {  // 16 x 16: (d * sc) * (q - 32), q 6-bit, sc int8
  static constexpr int kWeights = 256;
  uint8_t ql[128];  // bits 0..3 of q
  uint8_t qh[64];   // bits 4..5 of q
  int8_t scales[16];
  uint16_t d;
};

// Q3_K's 6-bit scale j (0..15), offset by -32: its low 4 bits are nibble-packed in bytes 0..7,
// its high 2 bits at bits 2 * (j / 4) of byte 8 + j % 4.
int Q3Scale(const uint8_t* s, int j) {
  return (Nibble(s, j, 8) | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
}

// Q4_K's and Q5_K's 6-bit scale and min of sub-block j (0..7), packed in 12 bytes: for j < 4
// the low 6 bits of bytes j and j + 4; for j >= 4 the low and high nibble of byte j + 4, with
// the top 2 bits of bytes j - 4 and j as their bits 4..5.
struct ScaleMin {
  int scale, min;
};
ScaleMin KScaleMin(const uint8_t* s, int j) {
  if (j < 4) return {s[j] & 63, s[j + 4] & 63};
  return {(s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4, (s[j + 4] >> 4) | (s[j] >> 6) << 4};
}

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
    for (int k = 16 * j; k < 16 * (j + 1); ++k) {
      y[k] = dl * Float((Crumb(b.qs, k) | MaskBit(b.hmask, k) << 2) - 4);
    }
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

struct BlockTQ1_0 {
  static constexpr int kWeights = 256;
  uint8_t qs[48];  // 5 trits per byte
  uint8_t qh[4];   // 4 trits per byte
  uint16_t d;
};
struct BlockTQ2_0 {
  static constexpr int kWeights = 256;
  uint8_t qs[64];  // 2-bit codes t + 1
  uint16_t d;
};

// Digit p (0 = most significant) of the base-3 number a TQ1_0 byte holds as the fixed-point
// fraction x / 256 ~ digits / 3^5: multiplying by 3^p modulo 256 drops the digits before p,
// and times 3 over 256 reads the next one.
int Trit(uint8_t x, int p) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  return (static_cast<uint8_t>(x * kPow3[p]) * 3) >> 8;
}

void Decode(const BlockTQ1_0& b, float* y) {
  const float d = HalfToFloat(b.d);
  // Three runs of bytes, each read digit by digit: digit p of every byte, then digit p + 1.
  int k = 0;
  const auto run = [&](const uint8_t* bytes, int count, int digits) {
    for (int p = 0; p < digits; ++p) {
      for (int i = 0; i < count; ++i) y[k++] = d * Float(Trit(bytes[i], p) - 1);
    }
  };
  run(b.qs, 32, 5);       // weights 0..159
  run(b.qs + 32, 16, 5);  // 160..239
  run(b.qh, 4, 4);        // 240..255
}

void Decode(const BlockTQ2_0& b, float* y) {
  const float d = HalfToFloat(b.d);
  for (int k = 0; k < 256; ++k) y[k] = d * Float(Crumb(b.qs, k) - 1);
}

// The type table ------------------------------------------------------------------------------

// The block sizes ggml defines (GGML_QUANT_SIZES): the structs above must match them exactly.
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockTQ1_0) == 54 && sizeof(BlockTQ2_0) == 66);

// Calls visit(Block{}) with the block struct of `type`; throws for an unsupported type.
template <typename Visitor>
auto VisitBlock(GgmlType type, Visitor&& visit) {
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
    default: break;  // a ggml type without a decoder here
  }
  throw Error("unsupported ggml tensor type " + GgmlTypeName(type));
}

template <typename Block>
void DecodeBlocks(const uint8_t* src, int64_t count, float* out) {
  for (int64_t i = 0; i < count; ++i) {
    Block block;  // copied out: a block's uint16_t fields need not be aligned in the stream
    std::memcpy(&block, src + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
    Decode(block, out + i * Block::kWeights);
  }
}

}  // namespace

std::string GgmlTypeName(GgmlType type) {
  const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(type));
  return info != nullptr ? std::string(info->name) : "id " + std::to_string(static_cast<uint32_t>(type));
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
