// Sizes of the LUT layout's pieces, and the plain view of a LutMatrix that kernels read.
#pragma once

#include <cstdint>

#include "kernels/lut_kernels.h"
#include "tmac/lut.h"

namespace tmac {

struct LutGeometry {
  int64_t tiles = 0;
  int64_t groups = 0;        // per row
  int64_t index_bytes = 0;   // per (tile, group) block
  int64_t param_bytes = 0;   // scales of one block (biases take as many again)
  int64_t block_bytes = 0;
  int64_t total_bytes = 0;
};

inline LutGeometry GeometryOf(const LutMatrix& w) {
  const LutLayout& l = w.layout();
  LutGeometry g;
  g.tiles = w.tiles();
  g.groups = w.cols() / l.group;
  g.index_bytes = static_cast<int64_t>(l.group / kernels::kPair) * l.bits * l.tile_rows;
  g.param_bytes = static_cast<int64_t>(l.tile_rows) * (l.scale_type == ScaleType::kF16 ? 2 : 4);
  g.block_bytes = g.index_bytes + g.param_bytes * (w.bias().stored() ? 2 : 1);
  g.total_bytes = g.tiles * g.groups * g.block_bytes;
  return g;
}

// Where the index byte for (row r, plane p, byte j of the row's G/8 bytes) sits in a block, and
// which two chunks of the group its low and high nibbles hold (docs/kernels.md).
struct IndexSlot {
  int64_t offset;
  int chunk_lo, chunk_hi;
};
inline IndexSlot SlotOf(const LutLayout& l, int j, int p, int r) {
  if (l.order == IndexOrder::kChunkQuads) {
    const int octet = j / 4, k = j % 4;
    return {((static_cast<int64_t>(octet) * l.bits + p) * l.tile_rows + r) * 4 + k, 8 * octet + k, 8 * octet + 4 + k};
  }
  return {(static_cast<int64_t>(j) * l.bits + p) * l.tile_rows + r, 2 * j, 2 * j + 1};
}

inline kernels::LutWeights ViewOf(const LutMatrix& w) {
  const LutGeometry geo = GeometryOf(w);
  kernels::LutWeights v;
  v.data = w.data();
  v.rows = w.rows();
  v.groups = geo.groups;
  v.bits = w.layout().bits;
  v.group = w.layout().group;
  v.tile_rows = w.layout().tile_rows;
  v.f16_scales = w.layout().scale_type == ScaleType::kF16;
  v.has_bias = w.bias().stored();
  v.bias_is_min = w.bias().form == BiasForm::kMin;
  v.bias_per_scale = w.bias().per_scale;
  v.quads = w.layout().order == IndexOrder::kChunkQuads;
  v.index_bytes = geo.index_bytes;
  v.block_bytes = geo.block_bytes;
  v.prefetch_bytes = w.tuning().prefetch_bytes;
  return v;
}

}  // namespace tmac
