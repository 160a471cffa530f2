// Random ggml blocks (tmac/ggml_random.h): each Fill overload draws one block's codes and sets
// its scales from the statistics of those codes, so that the decoded weights have the requested
// standard deviation. Where a format's code range is not symmetric about 0 (q - 8 in -8..7) and it
// has no min to centre it, the scale's sign is random, as in real files, so that the weights'
// mean is 0 all the same. The block layouts are formats/ggml_blocks.h, as the decoders read them.
#include "tmac/ggml_random.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "formats/ggml_blocks.h"
#include "formats/half.h"
#include "runtime/splitmix64.h"
#include "tmac/error.h"

namespace tmac {
namespace {

using namespace ggml;  // the block structs

// SplitMix64 with the draws the block generators need.
class Rng {
 public:
  explicit Rng(uint64_t seed) : generator_(seed) {}

  uint64_t Next() { return generator_.Next(); }

  // Uniformly random bits: every code packed in them is uniform over its range.
  void Bits(uint8_t* bytes, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t r = Next();
      std::memcpy(bytes + i, &r, n - i < 8 ? n - i : 8);
    }
  }

  // An integer in [lo, hi], uniform up to a bias below 2^-32 * (hi - lo + 1).
  int Between(int lo, int hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo + 1);
    return lo + static_cast<int>(((Next() >> 32) * span) >> 32);
  }

  // Uniform in [-1, 1), with 24 bits of resolution.
  float Symmetric() { return static_cast<float>(Next() >> 40) * 0x1p-23f - 1.f; }

  // -1 or +1.
  int Sign() { return (Next() >> 63) != 0 ? -1 : 1; }

 private:
  SplitMix64 generator_;
};

// Standard deviation of an integer uniform over `levels` consecutive values.
float CodeStd(int levels) { return std::sqrt(static_cast<float>(levels * levels - 1) / 12.f); }

// Root mean square of an integer uniform over [lo, hi]: what a scale of random sign multiplies.
float Rms(int lo, int hi) {
  const float mean = 0.5f * static_cast<float>(lo + hi);
  const float std = CodeStd(hi - lo + 1);
  return std::sqrt(std * std + mean * mean);
}

// A block's scale: `scale` times a factor uniform in [0.75, 1.25], whose mean square is
// 1 + 0.25^2 / 3; divided by its root so that the weights keep the intended spread.
float Jitter(Rng& rng, float scale) {
  static const float kRms = std::sqrt(1.f + 0.25f * 0.25f / 3.f);
  return scale * (1.f + 0.25f * rng.Symmetric()) / kRms;
}

// Plain values, one weight per "block", stored as `Bits`: uniform in [-a, a), whose standard
// deviation is a / sqrt(3).
template <GgmlType kType, typename Bits>
struct Plain {
  static constexpr int kWeights = 1;
  Bits bits;
};

float UniformValue(Rng& rng, float std) { return std::sqrt(3.f) * std * rng.Symmetric(); }

void Fill(Plain<GgmlType::kF32, float>& b, Rng& rng, float std) { b.bits = UniformValue(rng, std); }
void Fill(Plain<GgmlType::kF16, uint16_t>& b, Rng& rng, float std) {
  b.bits = FloatToHalf(UniformValue(rng, std));
}
// bfloat16 is the high half of a float32, rounded to nearest even (the values are finite).
void Fill(Plain<GgmlType::kBF16, uint16_t>& b, Rng& rng, float std) {
  const uint32_t bits = std::bit_cast<uint32_t>(UniformValue(rng, std));
  b.bits = static_cast<uint16_t>((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
}

// Legacy 32-weight blocks: d * (q - offset), or d * q + m with m = -d * mean(q) -------------------

void Fill(BlockQ4_0& b, Rng& rng, float std) {
  rng.Bits(b.qs, sizeof(b.qs));
  b.d = FloatToHalf(static_cast<float>(rng.Sign()) * Jitter(rng, std / Rms(-8, 7)));
}

void Fill(BlockQ4_1& b, Rng& rng, float std) {
  rng.Bits(b.qs, sizeof(b.qs));
  const float d = Jitter(rng, std / CodeStd(16));
  b.d = FloatToHalf(d);
  b.m = FloatToHalf(-7.5f * d);
}

void Fill(BlockQ5_0& b, Rng& rng, float std) {
  rng.Bits(b.qs, sizeof(b.qs));
  rng.Bits(b.qh, sizeof(b.qh));
  b.d = FloatToHalf(static_cast<float>(rng.Sign()) * Jitter(rng, std / Rms(-16, 15)));
}

void Fill(BlockQ5_1& b, Rng& rng, float std) {
  rng.Bits(b.qs, sizeof(b.qs));
  rng.Bits(b.qh, sizeof(b.qh));
  const float d = Jitter(rng, std / CodeStd(32));
  b.d = FloatToHalf(d);
  b.m = FloatToHalf(-15.5f * d);
}

// Codes in [-127, 127], as llama.cpp's quantizer makes them (-128 never occurs).
void Fill(BlockQ8_0& b, Rng& rng, float std) {
  for (int8_t& q : b.qs) q = static_cast<int8_t>(rng.Between(-127, 127));
  b.d = FloatToHalf(Jitter(rng, std / Rms(-127, 127)));
}

// K-quants: sub-block scales sc uniform over the upper half of their range, of random sign for
// Q3_K and Q6_K; where the format has mins, each sub-block's min is its scale and
// dmin = d * mean(q), which centres it exactly: d * sc * q - dmin * sc = d * sc * (q - mean(q)) ----

void Fill(BlockQ2_K& b, Rng& rng, float std) {
  for (uint8_t& s : b.scales) {
    const int sc = rng.Between(8, 15);
    s = static_cast<uint8_t>(sc | sc << 4);
  }
  rng.Bits(b.qs, sizeof(b.qs));
  const float d = Jitter(rng, std / (CodeStd(4) * Rms(8, 15)));
  b.d = FloatToHalf(d);
  b.dmin = FloatToHalf(1.5f * d);
}

// Scales (of random sign) are stored plus 32: low nibbles in bytes 0..7 (Nibble with run 8), high
// 2 bits at bits 2 * (j / 4) of byte 8 + j % 4 (formats/ggml_blocks.h, Q3Scale).
void Fill(BlockQ3_K& b, Rng& rng, float std) {
  std::memset(b.scales, 0, sizeof(b.scales));
  for (int j = 0; j < 16; ++j) {
    const int stored = rng.Sign() * rng.Between(16, 31) + 32;
    b.scales[j % 8] |= static_cast<uint8_t>((stored & 0xF) << (4 * (j / 8)));
    b.scales[8 + j % 4] |= static_cast<uint8_t>((stored >> 4) << (2 * (j / 4)));
  }
  rng.Bits(b.hmask, sizeof(b.hmask));
  rng.Bits(b.qs, sizeof(b.qs));
  b.d = FloatToHalf(Jitter(rng, std / (Rms(-4, 3) * Rms(16, 31))));
}

// Q4_K's and Q5_K's 6-bit scale and min of sub-block j, packed as KScaleMin reads them.
void PackScaleMin(uint8_t* s, int j, int scale, int min) {
  if (j < 4) {
    s[j] = static_cast<uint8_t>(scale);
    s[j + 4] = static_cast<uint8_t>(min);
  } else {  // after j < 4 wrote bytes 0..7, whose top 2 bits take the high bits of these
    s[j + 4] = static_cast<uint8_t>((scale & 0xF) | (min & 0xF) << 4);
    s[j - 4] |= static_cast<uint8_t>((scale >> 4) << 6);
    s[j] |= static_cast<uint8_t>((min >> 4) << 6);
  }
}

// The scales of a Q4_K or Q5_K block, whose codes have `levels` values.
template <typename Block>
void FillKScales(Block& b, Rng& rng, float std, int levels) {
  for (int j = 0; j < 8; ++j) {
    const int sc = rng.Between(32, 63);
    PackScaleMin(b.scales, j, sc, sc);
  }
  const float d = Jitter(rng, std / (CodeStd(levels) * Rms(32, 63)));
  b.d = FloatToHalf(d);
  b.dmin = FloatToHalf(0.5f * static_cast<float>(levels - 1) * d);
}

void Fill(BlockQ4_K& b, Rng& rng, float std) {
  rng.Bits(b.qs, sizeof(b.qs));
  FillKScales(b, rng, std, 16);
}

void Fill(BlockQ5_K& b, Rng& rng, float std) {
  rng.Bits(b.qh, sizeof(b.qh));
  rng.Bits(b.qs, sizeof(b.qs));
  FillKScales(b, rng, std, 32);
}

void Fill(BlockQ6_K& b, Rng& rng, float std) {
  rng.Bits(b.ql, sizeof(b.ql));
  rng.Bits(b.qh, sizeof(b.qh));
  for (int8_t& s : b.scales) s = static_cast<int8_t>(rng.Sign() * rng.Between(64, 127));
  b.d = FloatToHalf(Jitter(rng, std / (Rms(-32, 31) * Rms(64, 127))));
}

// Ternary: trits t in {0, 1, 2} for weights d * (t - 1). Both types draw the same trits and then
// the same scale, so for one seed TQ1_0 and TQ2_0 decode to the same weights ------------------------

struct Trits {
  uint8_t t[256];
  float d;
};

Trits DrawTrits(Rng& rng, float std) {
  Trits trits;
  for (uint8_t& t : trits.t) t = static_cast<uint8_t>(rng.Between(0, 2));
  trits.d = Jitter(rng, std / Rms(-1, 1));
  return trits;
}

// TQ1_0 byte i of a run of `count` bytes holds the trits of weights i, i + count, ... (digit p of
// the base-3 number, most significant first, is weight i + p * count), as the fixed-point
// fraction x / 256 of the number over 3^5 rounded up, which Trit reads back exactly. A 4-trit
// byte holds its trits in the top 4 digits.
void PackTritRun(const uint8_t* trits, int count, int digits, uint8_t* bytes) {
  for (int i = 0; i < count; ++i) {
    int value = 0;
    for (int p = 0; p < 5; ++p) value = 3 * value + (p < digits ? trits[i + p * count] : 0);
    bytes[i] = static_cast<uint8_t>((value * 256 + 242) / 243);
  }
}

void Fill(BlockTQ1_0& b, Rng& rng, float std) {
  const Trits trits = DrawTrits(rng, std);
  PackTritRun(trits.t, 32, 5, b.qs);             // weights 0..159
  PackTritRun(trits.t + 160, 16, 5, b.qs + 32);  // 160..239
  PackTritRun(trits.t + 240, 4, 4, b.qh);        // 240..255
  b.d = FloatToHalf(trits.d);
}

// Code t of weight k at bits 2 * ((k % 128) / 32) of byte 32 * (k / 128) + k % 32 (Crumb).
void Fill(BlockTQ2_0& b, Rng& rng, float std) {
  const Trits trits = DrawTrits(rng, std);
  std::memset(b.qs, 0, sizeof(b.qs));
  for (int k = 0; k < 256; ++k) {
    b.qs[32 * (k / 128) + k % 32] |= static_cast<uint8_t>(trits.t[k] << (2 * ((k % 128) / 32)));
  }
  b.d = FloatToHalf(trits.d);
}

// Calls fill(Block{}) with the block struct of `type`; throws for a type DecodeRow does not read.
template <typename Fn>
void VisitBlock(GgmlType type, Fn&& fill) {
  switch (type) {
    case GgmlType::kF32: return fill(Plain<GgmlType::kF32, float>{});
    case GgmlType::kF16: return fill(Plain<GgmlType::kF16, uint16_t>{});
    case GgmlType::kBF16: return fill(Plain<GgmlType::kBF16, uint16_t>{});
    case GgmlType::kQ4_0: return fill(BlockQ4_0{});
    case GgmlType::kQ4_1: return fill(BlockQ4_1{});
    case GgmlType::kQ5_0: return fill(BlockQ5_0{});
    case GgmlType::kQ5_1: return fill(BlockQ5_1{});
    case GgmlType::kQ8_0: return fill(BlockQ8_0{});
    case GgmlType::kQ2_K: return fill(BlockQ2_K{});
    case GgmlType::kQ3_K: return fill(BlockQ3_K{});
    case GgmlType::kQ4_K: return fill(BlockQ4_K{});
    case GgmlType::kQ5_K: return fill(BlockQ5_K{});
    case GgmlType::kQ6_K: return fill(BlockQ6_K{});
    case GgmlType::kTQ1_0: return fill(BlockTQ1_0{});
    case GgmlType::kTQ2_0: return fill(BlockTQ2_0{});
    default: break;
  }
  throw Error("cannot make random " + GgmlTypeName(type) + " tensors (not a type tmac decodes)");
}

}  // namespace

void RandomGgmlRows(GgmlType type, int64_t k, float std, uint64_t seed, int64_t first_row, int64_t rows,
                    uint8_t* out) {
  Require(k > 0, "random tensor rows of " + std::to_string(k) + " weights");
  const int64_t row_bytes = GgmlRowBytes(type, k);  // checks the type and k
  VisitBlock(type, [&](auto block) {
    using Block = decltype(block);
    for (int64_t r = 0; r < rows; ++r) {
      Rng rng(SplitMix64::Mix(seed ^ SplitMix64::Mix(static_cast<uint64_t>(first_row + r))));
      uint8_t* row = out + r * row_bytes;
      for (int64_t i = 0; i < k / Block::kWeights; ++i) {
        Fill(block, rng, std);
        std::memcpy(row + i * static_cast<int64_t>(sizeof(Block)), &block, sizeof(Block));
      }
    }
  });
}

}  // namespace tmac
