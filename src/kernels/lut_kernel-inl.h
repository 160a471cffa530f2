// The LUT kernel body, written once and compiled per instruction set.
//
// Include from a translation unit that first defines TMAC_ISA_NS (a namespace name) and
// includes the ISA's ops header, which declares tmac::kernels::TMAC_ISA_NS::Ops. The ops are the
// few primitives that differ between ISAs (see ops_scalar.h for their exact meaning); loops,
// blocking and the float epilogue live here. Everything is in the per-ISA namespace so the
// copies compiled with different flags never meet at link time.
//
// Byte layout read here (docs/kernels.md draws it): for tile t and group g, a block of
//   indices  kChunkPairs: [G/8 chunk pairs][bits planes][tile_rows], one byte per row: low
//            nibble = the row's plane bits for the pair's first chunk, high nibble = second.
//            kChunkQuads: [G/32 octets][bits planes][tile_rows][4], byte k of a row: low
//            nibble = chunk 8o+k, high nibble = chunk 8o+4+k.
//   scales   [tile_rows]  (f16 or f32)
//   biases   [tile_rows]  (only when the matrix has zero points)
// With kTwoLevel scales a block spans a super-group: f16 super-scales [tile_rows] (and super-mins),
// then per group the indices, int8 scale factors [tile_rows] (and int8 min factors).
#ifndef TMAC_ISA_NS
#error "define TMAC_ISA_NS before including lut_kernel-inl.h"
#endif

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/lut_kernels.h"

namespace tmac::kernels::TMAC_ISA_NS {

// Tables from fp32 activations. Per group: one table scale (the largest chunk |x0|+|x1|+|x2|+|x3|
// maps to 127, so no entry overflows int8) and the activation sum. The ops fix the order of
// every float operation, so all ISAs produce the same bits (ops_scalar.h defines it).
inline void BuildTablesF32(const float* x, int64_t k, int group, LookupKind kind, uint8_t* lut,
                           float* unit, float* act_sum) {
  const int chunks = group / kChunk;
  const bool biased = kind == LookupKind::kInt8Avg;
  for (int64_t g = 0; g < k / group; ++g) {
    const float* xg = x + g * group;
    const float max_abs_sum = Ops::MaxChunkAbsSum(xg, chunks);
    const float scale = max_abs_sum > 0.f ? max_abs_sum / 127.f : 1.f;
    unit[g] = 0.5f * scale;
    act_sum[g] = Ops::Sum(xg, group);
    Ops::ChunkTables(xg, chunks, 1.f / scale, biased, lut + TableOffset(kind, g * chunks));
  }
}

// Exact int16 tables from int8 activations: entries are sums of 4 int8 values, |entry| <= 508,
// stored as a low-byte and a high-byte plane (see TableOffset).
inline void BuildTablesI8(const int8_t* q, float scale, int64_t k, int group, uint8_t* lut,
                          float* unit, float* act_sum) {
  for (int64_t g = 0; g < k / group; ++g) {
    const int8_t* qg = q + g * group;
    int32_t sum = 0;
    for (int i = 0; i < group; ++i) sum += qg[i];
    unit[g] = 0.5f * scale;
    act_sum[g] = scale * static_cast<float>(sum);
  }
  for (int64_t c = 0; c < k / kChunk; ++c) {
    const int8_t* qc = q + c * kChunk;
    uint8_t* low = lut + TableOffset(LookupKind::kInt16, c);
    uint8_t* high = low + kHighPlaneOffset;
    for (int p = 0; p < 8; ++p) {  // mirror consolidation, as in the fp32 tables
      const int e = (((p & 1) ? qc[0] : -qc[0]) + ((p & 2) ? qc[1] : -qc[1]) + ((p & 4) ? qc[2] : -qc[2])) - qc[3];
      low[p] = static_cast<uint8_t>(e & 0xFF);
      low[15 - p] = static_cast<uint8_t>(-e & 0xFF);
      high[p] = static_cast<uint8_t>((e >> 8) & 0xFF);
      high[15 - p] = static_cast<uint8_t>((-e >> 8) & 0xFF);
    }
  }
}

// y[r] += (I[r] * unit) * s[r] + term(r, s[r]) * act_sum over a group's rows, in one pass that
// keeps every value in registers. Separate multiplies and adds (the build disables FMA
// contraction) so that every ISA and the reference round identically.
template <int kRows, class Scale, class Term>
inline void AccumulateGroup(const int32_t* sums, float unit, float act_sum, const Scale& scale, const Term& term,
                            float* y) {
  for (int r = 0; r < kRows; ++r) {
    const float s = scale(r);
    y[r] += static_cast<float>(sums[r]) * unit * s + term(r, s) * act_sum;
  }
}
template <int kRows, class Scale>
inline void AccumulateGroup(const int32_t* sums, float unit, const Scale& scale, float* y) {
  for (int r = 0; r < kRows; ++r) y[r] += static_cast<float>(sums[r]) * unit * scale(r);
}

// The epilogue of one (tile, group) for scales given as scale(r) and stored bias values (terms
// or mins, LutBias) as stored(r): the bias term is stored, computed from a stored min as
// s * mid - min, or s * bias_per_scale, each rounded as Pack computes it.
template <int kRows, class Scale, class Stored>
inline void Epilogue(const int32_t* sums, const LutWeights& w, float unit, float act_sum, const Scale& scale,
                     const Stored& stored, float* y) {
  if (w.has_bias && w.bias_is_min) {
    const float mid = 0.5f * static_cast<float>((1 << w.bits) - 1);
    AccumulateGroup<kRows>(sums, unit, act_sum, scale, [&](int r, float s) { return s * mid - stored(r); }, y);
  } else if (w.has_bias) {
    AccumulateGroup<kRows>(sums, unit, act_sum, scale, [&](int r, float) { return stored(r); }, y);
  } else if (w.bias_per_scale != 0.f) {
    const float per_scale = w.bias_per_scale;
    AccumulateGroup<kRows>(sums, unit, act_sum, scale, [&](int, float s) { return s * per_scale; }, y);
  } else {
    AccumulateGroup<kRows>(sums, unit, scale, y);
  }
}

// The epilogue with the group's scales (and stored bias values) read from `params`, the bytes
// after its indices. `super` and `super_stored` hold the block's f16 super-values as floats
// (two_level only): a scale is super * factor, the product the K-quant decoders compute.
template <int kRows>
inline void GroupEpilogue(const int32_t* sums, const uint8_t* params, const LutWeights& w, const float* super,
                          const float* super_stored, float unit, float act_sum, float* y) {
  if (w.two_level) {
    const auto* factors = reinterpret_cast<const int8_t*>(params);
    const auto* stored_factors = factors + w.param_bytes;
    Epilogue<kRows>(
        sums, w, unit, act_sum, [&](int r) { return super[r] * static_cast<float>(factors[r]); },
        [&](int r) { return super_stored[r] * static_cast<float>(stored_factors[r]); }, y);
    return;
  }
  alignas(64) float scales[kRows];
  alignas(64) float stored[kRows];
  if (w.f16_scales) {
    Ops::HalfToFloat(reinterpret_cast<const uint16_t*>(params), scales, kRows);
    if (w.has_bias) Ops::HalfToFloat(reinterpret_cast<const uint16_t*>(params + w.param_bytes), stored, kRows);
  } else {
    std::memcpy(scales, params, sizeof(scales));
    if (w.has_bias) std::memcpy(stored, params + w.param_bytes, sizeof(stored));
  }
  Epilogue<kRows>(
      sums, w, unit, act_sum, [&](int r) { return scales[r]; }, [&](int r) { return stored[r]; }, y);
}

// Weight bytes are prefetched `prefetch` bytes ahead of each load (LutWeights::prefetch_bytes):
// the machine's hardware prefetchers hide little, so streaming from DRAM needs this
// (docs/kernels.md, "Tuning").

// kChunkPairs: integer sums I[r] = sum_p 2^p * sum_c T_c[nibble] for one (tile, group) block,
// accumulated per plane in int16 and merged at the end.
template <int kBits, LookupKind kKind, int kRows>
inline void PairSums(const uint8_t* idx, int group, int64_t prefetch, const uint8_t* lut, int32_t* sums) {
  using I16 = typename Ops::I16;
  constexpr int kVecs = kRows / Ops::kBytes;
  I16 acc[kBits][kVecs][2];
  for (int p = 0; p < kBits; ++p) {
    for (int v = 0; v < kVecs; ++v) acc[p][v][0] = acc[p][v][1] = Ops::Zero();
  }
  const int pairs = group / kPair;
  for (int cp = 0; cp < pairs; ++cp) {
    const uint8_t* t0 = lut + TableOffset(kKind, 2 * cp);
    const uint8_t* t1 = lut + TableOffset(kKind, 2 * cp + 1);
    const auto tlo = Ops::LoadTable(t0);
    const auto thi = Ops::LoadTable(t1);
    typename Ops::U8 tlo_high{}, thi_high{};
    if constexpr (kKind == LookupKind::kInt16) {
      tlo_high = Ops::LoadTable(t0 + kHighPlaneOffset);
      thi_high = Ops::LoadTable(t1 + kHighPlaneOffset);
    }
    for (int p = 0; p < kBits; ++p) {
      for (int v = 0; v < kVecs; ++v) {
        __builtin_prefetch(idx + prefetch);
        const auto x = Ops::Load(idx);
        I16 a, b;
        if constexpr (kKind == LookupKind::kInt16) {
          Ops::LookupI16(x, tlo, tlo_high, thi, thi_high, a, b);
        } else if constexpr (kKind == LookupKind::kInt8Avg) {
          Ops::LookupAvg(x, tlo, thi, a, b);
        } else {
          Ops::LookupI8(x, tlo, thi, a, b);
        }
        acc[p][v][0] = Ops::Add(acc[p][v][0], a);
        acc[p][v][1] = Ops::Add(acc[p][v][1], b);
        idx += Ops::kBytes;
      }
    }
  }

  // Weighted plane sum: in int16 while it cannot overflow (one pair adds at most kPairMax per
  // plane), else each plane is widened to int32 first.
  constexpr int kPairMax = kKind == LookupKind::kInt16 ? 2 * 508 : (kKind == LookupKind::kInt8Avg ? 255 : 2 * 127);
  if (((1 << kBits) - 1) * kPairMax * pairs <= 32767) {
    for (int v = 0; v < kVecs; ++v) {
      I16 a = acc[0][v][0], b = acc[0][v][1];
      for (int p = 1; p < kBits; ++p) {
        a = Ops::Add(a, Ops::ShiftLeft(acc[p][v][0], p));
        b = Ops::Add(b, Ops::ShiftLeft(acc[p][v][1], p));
      }
      Ops::AccumulateRows(a, b, 0, sums + v * Ops::kBytes);
    }
  } else {
    for (int p = 0; p < kBits; ++p) {
      for (int v = 0; v < kVecs; ++v) Ops::AccumulateRows(acc[p][v][0], acc[p][v][1], p, sums + v * Ops::kBytes);
    }
  }
  if constexpr (kKind == LookupKind::kInt8Avg) {
    // Each lookup pair was stored as round((a + b) / 2) + 128: undo the offset, then the halving.
    const int32_t offset = 128 * pairs * ((1 << kBits) - 1);
    for (int r = 0; r < kRows; ++r) sums[r] = 2 * (sums[r] - offset);
  }
}

// kChunkQuads: one int32 accumulator per row for all planes; each index vector holds 4 bytes
// per row, and one lookup-dot adds the row's 8 lookups, weighted 2^p, into it.
// O is Ops, as a template parameter so that the quad ops are only looked up where they exist.
template <int kBits, LookupKind kKind, int kRows, class O = Ops>
inline void QuadSums(const uint8_t* idx, int group, int64_t prefetch, const uint8_t* lut, int32_t* sums) {
  if constexpr (!O::kReadsQuads) {
    (void)idx, (void)group, (void)prefetch, (void)lut, (void)sums;  // never dispatched here (reads_quads is false)
  } else {
    using I32 = typename O::I32;
    constexpr int kVecs = kRows * 4 / O::kBytes;
    constexpr int kQuadTableBytes = 4 * kTableEntries * (kKind == LookupKind::kInt16 ? 2 : 1);
    I32 acc[kVecs], acc_high[kVecs];
    for (int v = 0; v < kVecs; ++v) acc[v] = acc_high[v] = O::ZeroI32();
    for (int o = 0; o < group / 32; ++o) {
      const uint8_t* t = lut + 2 * o * kQuadTableBytes;
      const auto tlo = O::LoadTables4(t), thi = O::LoadTables4(t + kQuadTableBytes);
      for (int p = 0; p < kBits; ++p) {
        for (int v = 0; v < kVecs; ++v) {
          __builtin_prefetch(idx + prefetch);
          const auto x = O::Load(idx);
          if constexpr (kKind == LookupKind::kInt16) {
            O::QuadDotI16(x, tlo, O::LoadTables4(t + kHighPlaneOffset), thi,
                            O::LoadTables4(t + kQuadTableBytes + kHighPlaneOffset), p, acc[v], acc_high[v]);
          } else {
            acc[v] = O::QuadDotI8(acc[v], x, tlo, thi, p);
          }
          idx += O::kBytes;
        }
      }
    }
    for (int v = 0; v < kVecs; ++v) {
      // int16 tables: entry = 256 * high + low byte, summed separately.
      if constexpr (kKind == LookupKind::kInt16) acc[v] = O::AddI32(acc[v], O::ShiftLeftI32(acc_high[v], 8));
      O::StoreI32(acc[v], sums + v * (O::kBytes / 4));
    }
  }
}

template <int kBits, LookupKind kKind, int kRows>
void GemvTiles(const LutWeights& w, const LutTables& t, int64_t tile_begin, int64_t tile_end, float* y) {
  const int64_t group_table_bytes = TableOffset(kKind, w.group / kChunk);
  const int64_t blocks = w.groups / w.sub_groups;
  for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
    alignas(64) float acc[kRows] = {};
    const uint8_t* block = w.data + tile * blocks * w.block_bytes;
    for (int64_t b = 0; b < blocks; ++b, block += w.block_bytes) {
      alignas(64) float super_scales[kRows], super_stored[kRows];
      if (w.two_level) {
        Ops::HalfToFloat(reinterpret_cast<const uint16_t*>(block), super_scales, kRows);
        if (w.has_bias) Ops::HalfToFloat(reinterpret_cast<const uint16_t*>(block + 2 * kRows), super_stored, kRows);
      }
      const uint8_t* idx = block + w.header_bytes;
      for (int sub = 0; sub < w.sub_groups; ++sub, idx += w.sub_bytes) {
        const int64_t g = b * w.sub_groups + sub;
        alignas(64) int32_t sums[kRows] = {};
        const uint8_t* lut = t.lut + g * group_table_bytes;
        if (w.quads) {
          QuadSums<kBits, kKind, kRows>(idx, w.group, w.prefetch_bytes, lut, sums);
        } else {
          PairSums<kBits, kKind, kRows>(idx, w.group, w.prefetch_bytes, lut, sums);
        }
        GroupEpilogue<kRows>(sums, idx + w.index_bytes, w, super_scales, super_stored, t.unit[g], t.act_sum[g], acc);
      }
    }
    const int64_t row0 = tile * kRows;
    const int64_t valid = w.rows - row0 < kRows ? w.rows - row0 : kRows;
    std::memcpy(y + row0, acc, static_cast<size_t>(valid) * sizeof(float));
  }
}

template <int kBits, LookupKind kKind>
void GemvTilesForRows(const LutWeights& w, const LutTables& t, int64_t begin, int64_t end, float* y) {
  static_assert(64 % Ops::kBytes == 0, "a 64-row tile must be whole vectors");
  if (w.tile_rows == 64) {
    GemvTiles<kBits, kKind, 64>(w, t, begin, end, y);
  } else {
    GemvTiles<kBits, kKind, 128>(w, t, begin, end, y);
  }
}

template <LookupKind kKind>
void GemvTilesForKind(const LutWeights& w, const LutTables& t, int64_t begin, int64_t end, float* y) {
  switch (w.bits) {
    case 1: return GemvTilesForRows<1, kKind>(w, t, begin, end, y);
    case 2: return GemvTilesForRows<2, kKind>(w, t, begin, end, y);
    case 3: return GemvTilesForRows<3, kKind>(w, t, begin, end, y);
    default: return GemvTilesForRows<4, kKind>(w, t, begin, end, y);
  }
}

inline void GemvTilesAny(const LutWeights& w, const LutTables& t, LookupKind kind, int64_t begin, int64_t end,
                         float* y) {
  switch (kind) {
    case LookupKind::kInt8: return GemvTilesForKind<LookupKind::kInt8>(w, t, begin, end, y);
    case LookupKind::kInt8Avg: return GemvTilesForKind<LookupKind::kInt8Avg>(w, t, begin, end, y);
    case LookupKind::kInt16: return GemvTilesForKind<LookupKind::kInt16>(w, t, begin, end, y);
  }
}

inline const LutKernelSet kKernelSet = {Ops::kIsa, Ops::kReadsQuads, &BuildTablesF32, &BuildTablesI8, &GemvTilesAny};

}  // namespace tmac::kernels::TMAC_ISA_NS
