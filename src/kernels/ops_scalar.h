// Portable ops for the LUT kernel: plain C++ on 16-byte vectors. This is the reference meaning
// of every op; the SIMD versions compute exactly the same values, lane for lane.
//
// A U8 holds 16 index bytes, one per row ("slot"). A lookup reads the low nibble of each byte
// in table `lo` and the high nibble in table `hi` (the two chunks of a chunk pair) and returns
// the per-slot sums as two I16 halves: `a` for slots 0..7 and `b` for slots 8..15 of every
// 16-byte lane.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "formats/half.h"
#include "tmac/isa.h"

namespace tmac::kernels::scalar {

struct Ops {
  static constexpr Isa kIsa = Isa::kScalar;
  static constexpr int kBytes = 16;
  static constexpr bool kReadsQuads = true;
  struct U8 {
    uint8_t v[16];
  };
  struct I16 {
    int16_t v[8];
  };
  struct I32 {  // kChunkQuads: one sum per row, 4 rows per vector
    int32_t v[4];
  };
  struct U8x64 {  // four consecutive 16-entry tables
    uint8_t v[64];
  };

  static U8 Load(const uint8_t* p) {
    U8 r;
    std::memcpy(r.v, p, 16);
    return r;
  }
  static U8 LoadTable(const uint8_t* p) { return Load(p); }
  static I16 Zero() { return I16{}; }
  static I16 Add(I16 a, I16 b) {
    for (int i = 0; i < 8; ++i) a.v[i] = static_cast<int16_t>(a.v[i] + b.v[i]);
    return a;
  }
  static I16 ShiftLeft(I16 a, int shift) {
    for (int i = 0; i < 8; ++i) a.v[i] = static_cast<int16_t>(a.v[i] * (1 << shift));
    return a;
  }

  static void LookupI8(U8 x, U8 lo, U8 hi, I16& a, I16& b) {
    for (int i = 0; i < 16; ++i) {
      const int sum = static_cast<int8_t>(lo.v[x.v[i] & 15]) + static_cast<int8_t>(hi.v[x.v[i] >> 4]);
      (i < 8 ? a : b).v[i & 7] = static_cast<int16_t>(sum);
    }
  }
  // Tables hold entry + 128; a pair merges as the rounding average (u + v + 1) >> 1.
  static void LookupAvg(U8 x, U8 lo, U8 hi, I16& a, I16& b) {
    for (int i = 0; i < 16; ++i) {
      const int avg = (lo.v[x.v[i] & 15] + hi.v[x.v[i] >> 4] + 1) >> 1;
      (i < 8 ? a : b).v[i & 7] = static_cast<int16_t>(avg);
    }
  }
  // Entries as int16 split in a low-byte table and a high-byte table.
  static void LookupI16(U8 x, U8 lo_low, U8 lo_high, U8 hi_low, U8 hi_high, I16& a, I16& b) {
    for (int i = 0; i < 16; ++i) {
      const int n0 = x.v[i] & 15, n1 = x.v[i] >> 4;
      const auto e0 = static_cast<int16_t>(lo_low.v[n0] | (lo_high.v[n0] << 8));
      const auto e1 = static_cast<int16_t>(hi_low.v[n1] | (hi_high.v[n1] << 8));
      (i < 8 ? a : b).v[i & 7] = static_cast<int16_t>(e0 + e1);
    }
  }
  // rows[i] += slot i << shift, for the 16 slots of (a, b).
  static void AccumulateRows(I16 a, I16 b, int shift, int32_t* rows) {
    for (int i = 0; i < 8; ++i) {
      rows[i] += static_cast<int32_t>(a.v[i]) * (1 << shift);
      rows[8 + i] += static_cast<int32_t>(b.v[i]) * (1 << shift);
    }
  }
  static void HalfToFloat(const uint16_t* in, float* out, int n);

  // kChunkQuads. A U8 holds 4 rows x 4 bytes; byte k of a row looks its low nibble up in table k
  // of `lo` and its high nibble in table k of `hi`, and the row's 8 lookups, times 2^p, are added
  // to its int32 sum.
  static I32 ZeroI32() { return I32{}; }
  static I32 AddI32(I32 a, I32 b) {
    for (int i = 0; i < 4; ++i) a.v[i] += b.v[i];
    return a;
  }
  static I32 ShiftLeftI32(I32 a, int shift) {
    for (int i = 0; i < 4; ++i) a.v[i] *= 1 << shift;
    return a;
  }
  static void StoreI32(I32 a, int32_t* out) { std::memcpy(out, a.v, sizeof(a.v)); }
  static U8x64 LoadTables4(const uint8_t* p) {
    U8x64 r;
    std::memcpy(r.v, p, 64);
    return r;
  }
  static I32 QuadDotI8(I32 acc, U8 x, const U8x64& lo, const U8x64& hi, int p) {
    for (int i = 0; i < 16; ++i) {
      const int k = i % 4;
      acc.v[i / 4] += (static_cast<int8_t>(lo.v[16 * k + (x.v[i] & 15)]) +
                       static_cast<int8_t>(hi.v[16 * k + (x.v[i] >> 4)])) * (1 << p);
    }
    return acc;
  }
  // int16 entries as low-byte (unsigned) and high-byte (signed) planes, summed separately:
  // the row's total is acc_high * 256 + acc_low.
  static void QuadDotI16(U8 x, const U8x64& lo_low, const U8x64& lo_high, const U8x64& hi_low,
                         const U8x64& hi_high, int p, I32& acc_low, I32& acc_high) {
    for (int i = 0; i < 16; ++i) {
      const int k = i % 4, n0 = 16 * k + (x.v[i] & 15), n1 = 16 * k + (x.v[i] >> 4);
      acc_low.v[i / 4] += (lo_low.v[n0] + hi_low.v[n1]) * (1 << p);
      acc_high.v[i / 4] += (static_cast<int8_t>(lo_high.v[n0]) + static_cast<int8_t>(hi_high.v[n1])) * (1 << p);
    }
  }

  // Table construction from fp32 activations. These fix the order of every float operation;
  // SIMD versions follow it exactly so all ISAs build identical tables.
  //
  // max over chunks c of ((|x0| + |x1|) + |x2|) + |x3|.
  static float MaxChunkAbsSum(const float* x, int chunks) {
    float best = 0.f;
    for (int c = 0; c < chunks; ++c) {
      const float* xc = x + 4 * c;
      const float s = ((std::fabs(xc[0]) + std::fabs(xc[1])) + std::fabs(xc[2])) + std::fabs(xc[3]);
      best = s > best ? s : best;
    }
    return best;
  }
  // Sum of n (a multiple of 16) values as 16 running lane sums, lane j over x[16i + j], then
  // the lanes added in order 0..15.
  static float Sum(const float* x, int n) {
    float lanes[16] = {};
    for (int i = 0; i < n; i += 16) {
      for (int j = 0; j < 16; ++j) lanes[j] += x[i + j];
    }
    float total = 0.f;
    for (float lane : lanes) total += lane;
    return total;
  }
  // One 16-entry table per chunk of 4 activations. Entry p = sum_j s_j x_j with s_j = +1 when
  // bit j of p is set, else -1, evaluated as ((s0 x0 + s1 x1) + s2 x2) - x3 for p < 8, then
  // round-to-nearest-even of (entry * inv_scale), clamped to +-127. Mirror consolidation: entry
  // 15 - p = -entry p, so only the 8 entries with bit 3 clear are computed (the rounding is odd,
  // so the mirror stays exact). `biased` stores entry + 128 as uint8 (for the averaging lookup).
  static void ChunkTables(const float* x, int chunks, float inv_scale, bool biased, uint8_t* out) {
    for (int c = 0; c < chunks; ++c, x += 4, out += 16) {
      for (int p = 0; p < 8; ++p) {
        const float e = (((p & 1) ? x[0] : -x[0]) + ((p & 2) ? x[1] : -x[1]) + ((p & 4) ? x[2] : -x[2])) - x[3];
        float q = std::nearbyint(e * inv_scale);
        q = q > 127.f ? 127.f : (q < -127.f ? -127.f : q);
        const int v = static_cast<int>(q), bias = biased ? 128 : 0;
        out[p] = static_cast<uint8_t>(v + bias);
        out[15 - p] = static_cast<uint8_t>(-v + bias);
      }
    }
  }

  // Ternary (TL2) ops --------------------------------------------------------------------------
  //
  // LookupI8 with signs: slot i's low-nibble entry is negated when bit 2 kSlot of signs[i] is
  // set, its high-nibble entry when bit 2 kSlot + 1 is. Entries are within [-127, 127], so
  // their negations are too.
  template <int kSlot>
  static void LookupSignedI8(U8 x, U8 signs, U8 lo, U8 hi, I16& a, I16& b) {
    for (int i = 0; i < 16; ++i) {
      int e0 = static_cast<int8_t>(lo.v[x.v[i] & 15]);
      int e1 = static_cast<int8_t>(hi.v[x.v[i] >> 4]);
      if ((signs.v[i] >> (2 * kSlot)) & 1) e0 = -e0;
      if ((signs.v[i] >> (2 * kSlot + 1)) & 1) e1 = -e1;
      (i < 8 ? a : b).v[i & 7] = static_cast<int16_t>(e0 + e1);
    }
  }
  // LookupSignedI8 for exact entries e = l + 127 h, held as a low plane (l in [-63, 63]) and a
  // high plane (h in [-3, 3]). A pair's negated l (or h) values still sum within int8, so SIMD
  // versions add the pair per plane in int8 and merge the two planes into int16 once.
  template <int kSlot>
  static void LookupSignedI16(U8 x, U8 signs, U8 lo_low, U8 lo_high, U8 hi_low, U8 hi_high, I16& a, I16& b) {
    for (int i = 0; i < 16; ++i) {
      const int n0 = x.v[i] & 15, n1 = x.v[i] >> 4;
      int e0 = static_cast<int8_t>(lo_low.v[n0]) + 127 * static_cast<int8_t>(lo_high.v[n0]);
      int e1 = static_cast<int8_t>(hi_low.v[n1]) + 127 * static_cast<int8_t>(hi_high.v[n1]);
      if ((signs.v[i] >> (2 * kSlot)) & 1) e0 = -e0;
      if ((signs.v[i] >> (2 * kSlot + 1)) & 1) e1 = -e1;
      (i < 8 ? a : b).v[i & 7] = static_cast<int16_t>(e0 + e1);
    }
  }
  // One 16-entry int8 table: out[i] = round-to-nearest-even(((d[0][i] x[0] + d[1][i] x[1]) +
  // d[2][i] x[2]) * inv) in that order of float operations; the caller keeps it in [-127, 127].
  static void Tl2TableI8(const float (&d)[3][16], const float x[3], float inv, uint8_t* out) {
    for (int i = 0; i < 16; ++i) {
      const float e = (d[0][i] * x[0] + d[1][i] * x[1]) + d[2][i] * x[2];
      out[i] = static_cast<uint8_t>(static_cast<int>(std::nearbyint(e * inv)));
    }
  }
};

inline void Ops::HalfToFloat(const uint16_t* in, float* out, int n) {
  for (int i = 0; i < n; ++i) out[i] = tmac::HalfToFloat(in[i]);
}

}  // namespace tmac::kernels::scalar
