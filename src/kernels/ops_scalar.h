// Portable ops for the LUT kernel: plain C++ on 16-byte vectors. This is the reference meaning
// of every op; the SIMD versions compute exactly the same values, lane for lane.
//
// A U8 holds 16 index bytes, one per row ("slot"). A lookup reads the low nibble of each byte
// in table `lo` and the high nibble in table `hi` (the two chunks of a chunk pair) and returns
// the per-slot sums as two I16 halves: `a` for slots 0..7 and `b` for slots 8..15 of every
// 16-byte lane.
#pragma once

#include <cstdint>
#include <cstring>

#include "formats/half.h"
#include "tmac/isa.h"

namespace tmac::kernels::scalar {

struct Ops {
  static constexpr Isa kIsa = Isa::kScalar;
  static constexpr int kBytes = 16;
  struct U8 {
    uint8_t v[16];
  };
  struct I16 {
    int16_t v[8];
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
};

inline void Ops::HalfToFloat(const uint16_t* in, float* out, int n) {
  for (int i = 0; i < n; ++i) out[i] = tmac::HalfToFloat(in[i]);
}

}  // namespace tmac::kernels::scalar
