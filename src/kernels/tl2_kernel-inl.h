// The ternary (TL2) kernel body, written once and compiled per instruction set.
//
// Include from a translation unit that first defines TMAC_ISA_NS and includes the ISA's ops
// header, exactly as for lut_kernel-inl.h; this body uses the ops' "Ternary (TL2) ops" section
// besides the common ones (ops_scalar.h defines what each computes). It lives in the nested
// namespace tl2 so it never meets the bit-plane kernel compiled into the same ISA namespace.
//
// Byte layout read here (include/tmac/ternary.h, docs/kernels.md): per (tile, group) block, sign
// rows each followed by up to 4 index rows, then f16 scales; see Tl2Weights.
#ifndef TMAC_ISA_NS
#error "define TMAC_ISA_NS before including tl2_kernel-inl.h"
#endif

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/tl2_kernels.h"

namespace tmac::kernels::TMAC_ISA_NS::tl2 {

// The weights each entry of a chunk's table stands for: entry i is
// (w[0][i] x0 + w[1][i] x1) + w[2][i] x2 for the chunk's activations x0..x2. As T: float for
// the SIMD table op (Ops::Tl2TableI8), int32_t for the exact tables.
template <typename T>
struct ChunkDigits {
  T w[3][kTl2TableEntries];
};

// Triples: entry i is the triple with 9 w0 + 3 w1 + w2 = i; entries 14 and 15 are never indexed.
template <typename T>
constexpr ChunkDigits<T> TripleDigits() {
  ChunkDigits<T> d{};
  for (int i = 0; i < 14; ++i) {
    for (int j = 0; j < kTl2TripleWeights; ++j) d.w[j][i] = static_cast<T>(kTl2TripleDigits[i][j]);
  }
  return d;
}

// The fallback: entry i = 3 w0 + w1 + 4 in 0..8; its third activation is always 0.
template <typename T>
constexpr ChunkDigits<T> FallbackDigits() {
  ChunkDigits<T> d{};
  for (int i = 0; i < 9; ++i) {
    d.w[0][i] = static_cast<T>(i / 3 - 1);
    d.w[1][i] = static_cast<T>(i % 3 - 1);
  }
  return d;
}

template <typename T>
inline constexpr ChunkDigits<T> kTripleDigits = TripleDigits<T>();
template <typename T>
inline constexpr ChunkDigits<T> kFallbackDigits = FallbackDigits<T>();

// The activations of chunk c of a group: a triple's 3, the fallback's 2 or 1 padded with 0.
template <typename T, typename X>
inline void ChunkActivations(const Tl2Weights& w, const X* xg, int c, T a[3]) {
  const int k = kTl2TripleWeights * c;
  const int n = c < w.triples ? kTl2TripleWeights : w.group - k;
  for (int j = 0; j < 3; ++j) a[j] = j < n ? static_cast<T>(xg[k + j]) : T(0);
}

// One exact table as its two planes, e = l + 127 h: low plane entries, then high plane entries.
inline void ChunkTableI16(const ChunkDigits<int32_t>& d, const int32_t a[3], uint8_t* out) {
  for (int i = 0; i < kTl2TableEntries; ++i) {
    const int32_t e = d.w[0][i] * a[0] + d.w[1][i] * a[1] + d.w[2][i] * a[2];
    const int32_t h = (e + 63 + 4 * 127) / 127 - 4;  // floor((e + 63) / 127): the dividend is > 0
    out[i] = static_cast<uint8_t>(e - 127 * h);
    out[kTl2TableEntries + i] = static_cast<uint8_t>(h);
  }
}

// int8 tables from fp32 activations, one scale per group. Every entry of a chunk is at most
// (|x0| + |x1|) + |x2| in magnitude (rounding is monotonic, so this holds for the computed
// values too): with the largest of these mapped to 127 no entry leaves [-127, 127], and round to
// nearest even is odd, so a negated lookup equals the rounded negated entry.
inline void BuildTablesF32(const Tl2Weights& w, const float* x, uint8_t* lut, float* unit) {
  const int tables = 2 * w.pairs;
  for (int64_t g = 0; g < w.groups; ++g) {
    const float* xg = x + g * w.group;
    float max_abs_sum = 0.f;
    for (int c = 0; c <= w.triples; ++c) {
      float a[3];
      ChunkActivations(w, xg, c, a);
      const float s = (std::fabs(a[0]) + std::fabs(a[1])) + std::fabs(a[2]);
      max_abs_sum = s > max_abs_sum ? s : max_abs_sum;
    }
    const float scale = max_abs_sum > 0.f ? max_abs_sum / 127.f : 1.f;
    const float inv = 1.f / scale;
    unit[g] = scale;
    uint8_t* out = lut + g * tables * kTl2TableEntries;
    for (int c = 0; c <= w.triples; ++c, out += kTl2TableEntries) {
      float a[3];
      ChunkActivations(w, xg, c, a);
      Ops::Tl2TableI8((c < w.triples ? kTripleDigits<float> : kFallbackDigits<float>).w, a, inv, out);
    }
    if (tables > w.triples + 1) std::memset(out, 0, kTl2TableEntries);  // the padding chunk
  }
}

// Exact tables from int8 activations (|q| <= 127, so |entry| <= 381), split as e = l + 127 h
// with l in [-63, 63] (low plane) and h in [-3, 3] (high plane): both negate exactly in int8, and
// so do the sums of two of them (see LookupSignedI16).
inline void BuildTablesI8(const Tl2Weights& w, const int8_t* q, float scale, uint8_t* lut, float* unit) {
  const int tables = 2 * w.pairs;
  for (int64_t g = 0; g < w.groups; ++g) {
    const int8_t* qg = q + g * w.group;
    unit[g] = scale;
    uint8_t* out = lut + g * tables * 2 * kTl2TableEntries;
    for (int c = 0; c <= w.triples; ++c, out += 2 * kTl2TableEntries) {
      int32_t a[3];
      ChunkActivations(w, qg, c, a);
      ChunkTableI16(c < w.triples ? kTripleDigits<int32_t> : kFallbackDigits<int32_t>, a, out);
    }
    if (tables > w.triples + 1) std::memset(out, 0, 2 * kTl2TableEntries);
  }
}

// Weight bytes are prefetched w.prefetch_bytes ahead (KernelTuning; the machine's hardware
// prefetchers hide little, docs/kernels.md). A block is one forward stream, and every vector of
// it (index, sign and scale rows alike) prefetches the bytes that far ahead.

// Bytes of one chunk's table: exact tables hold two planes.
template <Tl2Lookup kKind>
inline constexpr int kTableBytes = kKind == Tl2Lookup::kInt16 ? 2 * kTl2TableEntries : kTl2TableEntries;

// One index row (2 chunks) for the tile's kVecs vectors of rows: look up, negate by sign bits
// 2 kSlot and 2 kSlot + 1 of each row's sign byte, add to the int16 accumulators.
template <Tl2Lookup kKind, int kVecs, int kSlot>
inline void IndexRow(const uint8_t*& p, int64_t prefetch, const typename Ops::U8 (&signs)[kVecs], const uint8_t* tables,
                     typename Ops::I16 (&acc)[kVecs][2]) {
  const uint8_t* t0 = tables;
  const uint8_t* t1 = tables + kTableBytes<kKind>;
  const auto lo_low = Ops::LoadTable(t0), hi_low = Ops::LoadTable(t1);
  // High planes, used by kInt16 only (the compiler drops the loads otherwise).
  const auto lo_high = Ops::LoadTable(t0 + kTableBytes<kKind> - kTl2TableEntries);
  const auto hi_high = Ops::LoadTable(t1 + kTableBytes<kKind> - kTl2TableEntries);
  for (int v = 0; v < kVecs; ++v) {
    __builtin_prefetch(p + prefetch);
    const auto x = Ops::Load(p);
    p += Ops::kBytes;
    typename Ops::I16 a, b;
    if constexpr (kKind == Tl2Lookup::kInt16) {
      Ops::template LookupSignedI16<kSlot>(x, signs[v], lo_low, lo_high, hi_low, hi_high, a, b);
    } else {
      Ops::template LookupSignedI8<kSlot>(x, signs[v], lo_low, hi_low, a, b);
    }
    acc[v][0] = Ops::Add(acc[v][0], a);
    acc[v][1] = Ops::Add(acc[v][1], b);
  }
}

// Integer sums I[r] = sum_c sign * T_c[index] for one (tile, group) block, then the float
// epilogue y[r] += (I[r] * unit) * scale[r] (separate multiplies: the build disables FMA
// contraction, so every ISA and the reference round identically). The int16 accumulators hold
// I exactly: a group has at most 86 chunks (group 256), so |I| <= 86 * 127 with int8 tables, and
// |I| <= 85 * 381 + 254 = 32639 with exact ones (|q| <= 127).
// Always inlined into the group loop: compiled out of line, GCC 12 reports a false
// -Wuninitialized inside its own AVX-512 headers (the _mm512_undefined_* passthrough of the ops'
// intrinsics).
template <Tl2Lookup kKind, int kVecs>
[[gnu::always_inline]] inline void GemvBlock(const uint8_t* block, const Tl2Weights& w, const uint8_t* lut,
                                             float unit, float* y) {
  constexpr int kRows = kVecs * Ops::kBytes;
  constexpr int kPairTableBytes = 2 * kTableBytes<kKind>;
  typename Ops::I16 acc[kVecs][2];
  for (auto& v : acc) v[0] = v[1] = Ops::Zero();
  const uint8_t* p = block;
  for (int pair = 0; pair < w.pairs; pair += kTl2PairsPerSignByte) {
    typename Ops::U8 signs[kVecs];
    for (int v = 0; v < kVecs; ++v) {
      __builtin_prefetch(p + v * Ops::kBytes + w.prefetch_bytes);
      signs[v] = Ops::Load(p + v * Ops::kBytes);
    }
    p += kRows;
    const uint8_t* tables = lut + pair * kPairTableBytes;
    const int rows_here = w.pairs - pair;  // index rows after this sign row, 4 unless the last
    IndexRow<kKind, kVecs, 0>(p, w.prefetch_bytes, signs, tables, acc);
    if (rows_here > 1) IndexRow<kKind, kVecs, 1>(p, w.prefetch_bytes, signs, tables + kPairTableBytes, acc);
    if (rows_here > 2) IndexRow<kKind, kVecs, 2>(p, w.prefetch_bytes, signs, tables + 2 * kPairTableBytes, acc);
    if (rows_here > 3) IndexRow<kKind, kVecs, 3>(p, w.prefetch_bytes, signs, tables + 3 * kPairTableBytes, acc);
  }
  static_assert(kTl2PairsPerSignByte == 4, "one IndexRow per sign slot above");

  alignas(64) int32_t sums[kRows] = {};
  for (int v = 0; v < kVecs; ++v) Ops::AccumulateRows(acc[v][0], acc[v][1], 0, sums + v * Ops::kBytes);
  alignas(64) float scales[kRows];
  const uint8_t* scale_bytes = block + w.index_bytes;
  for (int i = 0; i < 2 * kRows; i += Ops::kBytes) __builtin_prefetch(scale_bytes + i + w.prefetch_bytes);
  Ops::HalfToFloat(reinterpret_cast<const uint16_t*>(scale_bytes), scales, kRows);
  for (int r = 0; r < kRows; ++r) y[r] += static_cast<float>(sums[r]) * unit * scales[r];
}

template <Tl2Lookup kKind, int kVecs>
void GemvTiles(const Tl2Weights& w, const Tl2Tables& t, int64_t tile_begin, int64_t tile_end, float* y) {
  constexpr int kRows = kVecs * Ops::kBytes;
  const int64_t group_table_bytes = static_cast<int64_t>(2 * w.pairs) * kTableBytes<kKind>;
  for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
    alignas(64) float acc[kRows] = {};
    const uint8_t* block = w.data + tile * w.groups * w.block_bytes;
    for (int64_t g = 0; g < w.groups; ++g, block += w.block_bytes) {
      GemvBlock<kKind, kVecs>(block, w, t.lut + g * group_table_bytes, t.unit[g], acc);
    }
    const int64_t row0 = tile * kRows;
    const int64_t valid = w.rows - row0 < kRows ? w.rows - row0 : kRows;
    std::memcpy(y + row0, acc, static_cast<size_t>(valid) * sizeof(float));
  }
}

template <Tl2Lookup kKind>
void GemvTilesForRows(const Tl2Weights& w, const Tl2Tables& t, int64_t begin, int64_t end, float* y) {
  static_assert(64 % Ops::kBytes == 0, "a 64-row tile must be whole vectors");
  if (w.tile_rows == 64) {
    GemvTiles<kKind, 64 / Ops::kBytes>(w, t, begin, end, y);
  } else {
    GemvTiles<kKind, 128 / Ops::kBytes>(w, t, begin, end, y);
  }
}

inline void GemvTilesAny(const Tl2Weights& w, const Tl2Tables& t, Tl2Lookup kind, int64_t begin, int64_t end,
                         float* y) {
  switch (kind) {
    case Tl2Lookup::kInt8: return GemvTilesForRows<Tl2Lookup::kInt8>(w, t, begin, end, y);
    case Tl2Lookup::kInt16: return GemvTilesForRows<Tl2Lookup::kInt16>(w, t, begin, end, y);
  }
}

inline const Tl2KernelSet kKernelSet = {Ops::kIsa, &BuildTablesF32, &BuildTablesI8, &GemvTilesAny};

}  // namespace tmac::kernels::TMAC_ISA_NS::tl2
