// llama.cpp's quantized block structs and the bit fields inside them, shared by the decoders
// (ggml_decode.cc) and the lossless repacks into QuantMatrix (ggml_repack.cc), so both read a
// block the same way. Internal: not part of tmac's public headers.
#pragma once

#include <cstdint>
#include <cstring>

namespace tmac::ggml {

// Bit fields shared by several formats ----------------------------------------------------------

// Weight k of nibble-packed codes where every 2 * run weights take `run` bytes: the first run
// weights in the low nibbles of those bytes, the next run in the high nibbles. The legacy
// 32-weight blocks use run 16, Q4_K and Q5_K run 32, Q6_K run 64 (and Q3_K's scales run 8).
inline int Nibble(const uint8_t* q, int k, int run) {
  const int byte = run * (k / (2 * run)) + k % run;
  return (q[byte] >> (4 * ((k / run) % 2))) & 0xF;
}

// Weight k (0..255) of 2-bit codes in 64 bytes: every 128 weights take 32 bytes, weight i of
// them at bits 2 * (i / 32) of byte i % 32 (Q2_K, Q3_K, TQ2_0 and Q6_K's high bits).
inline int Crumb(const uint8_t* q, int k) {
  return (q[32 * (k / 128) + k % 32] >> (2 * ((k % 128) / 32))) & 3;
}

// Bit k (0..255) of a 32-byte mask: bit k / 32 of byte k % 32 (Q3_K's and Q5_K's high bits).
inline int MaskBit(const uint8_t* mask, int k) { return (mask[k % 32] >> (k / 32)) & 1; }

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

// Q3_K's 3-bit code of weight k: bits 0..1 in qs, bit 2 in hmask.
inline int Q3Code(const BlockQ3_K& b, int k) { return Crumb(b.qs, k) | MaskBit(b.hmask, k) << 2; }

// Q3_K's 6-bit scale j (0..15), offset by -32: its low 4 bits are nibble-packed in bytes 0..7,
// its high 2 bits at bits 2 * (j / 4) of byte 8 + j % 4.
inline int Q3Scale(const uint8_t* s, int j) {
  return (Nibble(s, j, 8) | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
}

// Q4_K's and Q5_K's 6-bit scale and min of sub-block j (0..7), packed in 12 bytes: for j < 4
// the low 6 bits of bytes j and j + 4; for j >= 4 the low and high nibble of byte j + 4, with
// the top 2 bits of bytes j - 4 and j as their bits 4..5.
struct ScaleMin {
  int scale, min;
};
inline ScaleMin KScaleMin(const uint8_t* s, int j) {
  if (j < 4) return {s[j] & 63, s[j + 4] & 63};
  return {(s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4, (s[j + 4] >> 4) | (s[j] >> 6) << 4};
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
inline int Trit(uint8_t x, int p) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  return (static_cast<uint8_t>(x * kPow3[p]) * 3) >> 8;
}

// Calls fn(k, t) for the trit t (0..2, i.e. the weight's t - 1 plus one) of every weight k of a
// TQ1_0 block. Three runs of bytes, each read digit by digit: digit p of every byte, then
// digit p + 1.
template <typename Fn>
void ForEachTrit(const BlockTQ1_0& b, Fn&& fn) {
  int k = 0;
  const auto run = [&](const uint8_t* bytes, int count, int digits) {
    for (int p = 0; p < digits; ++p) {
      for (int i = 0; i < count; ++i) fn(k++, Trit(bytes[i], p));
    }
  };
  run(b.qs, 32, 5);       // weights 0..159
  run(b.qs + 32, 16, 5);  // 160..239
  run(b.qh, 4, 4);        // 240..255
}

// The block sizes ggml defines (GGML_QUANT_SIZES): the structs above must match them exactly.
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockTQ1_0) == 54 && sizeof(BlockTQ2_0) == 66);

// Block i of a stream of Block structs, copied out: a block's uint16_t fields need not be
// aligned in the stream.
template <typename Block>
Block LoadBlock(const uint8_t* src, int64_t i) {
  Block block;
  std::memcpy(&block, src + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
  return block;
}

}  // namespace tmac::ggml
