// Sizes of the LUT layout's pieces, and the plain view of a LutMatrix that kernels read.
#pragma once

#include <cstdint>

#include "kernels/lut_kernels.h"
#include "tmac/lut.h"

namespace tmac {

// A block is one tile's rows over one group: its index bytes, then the scales, then as many bytes
// of biases (or mins) when the matrix stores them. With kTwoLevel scales a block spans a
// super-group instead: a header of f16 super-scales [tile_rows] (and super-mins), then one
// sub-block per group laid out as a one-level block with int8 factors for scales (and mins), so
// that the kernels read every block front to back.
struct LutGeometry {
  int64_t tiles = 0;
  int64_t groups = 0;        // per row
  int64_t sub_groups = 1;    // groups per block
  int64_t blocks = 0;        // per tile: groups / sub_groups
  int64_t header_bytes = 0;  // the super-values at the start of a block (kTwoLevel), else 0
  int64_t index_bytes = 0;   // per (tile, group)
  int64_t param_bytes = 0;   // the scales of one group (its biases take as many again)
  int64_t sub_bytes = 0;     // index bytes, scales and biases of one group
  int64_t block_bytes = 0;
  int64_t total_bytes = 0;

  // Where the block holding group g of a tile begins (its super-values with kTwoLevel), and where
  // the group's own bytes begin: its indices, then its scales and biases.
  int64_t BlockOffset(int64_t tile, int64_t g) const { return (tile * blocks + g / sub_groups) * block_bytes; }
  int64_t GroupOffset(int64_t tile, int64_t g) const {
    return BlockOffset(tile, g) + header_bytes + (g % sub_groups) * sub_bytes;
  }
};

inline LutGeometry GeometryOf(const LutMatrix& w) {
  const LutLayout& l = w.layout();
  const int64_t rows = l.tile_rows, params = w.bias().stored() ? 2 : 1;
  LutGeometry g;
  g.tiles = w.tiles();
  g.groups = w.cols() / l.group;
  g.index_bytes = static_cast<int64_t>(l.group / kernels::kPair) * l.bits * rows;
  switch (l.scale_type) {
    case ScaleType::kF16: g.param_bytes = 2 * rows; break;
    case ScaleType::kF32: g.param_bytes = 4 * rows; break;
    case ScaleType::kTwoLevel:
      g.sub_groups = l.super_group / l.group;
      g.header_bytes = 2 * rows * params;
      g.param_bytes = rows;
      break;
  }
  g.blocks = g.groups / g.sub_groups;
  g.sub_bytes = g.index_bytes + g.param_bytes * params;
  g.block_bytes = g.header_bytes + g.sub_groups * g.sub_bytes;
  g.total_bytes = g.tiles * g.blocks * g.block_bytes;
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
  v.two_level = w.layout().scale_type == ScaleType::kTwoLevel;
  v.sub_groups = static_cast<int>(geo.sub_groups);
  v.has_bias = w.bias().stored();
  v.bias_is_min = w.bias().form == BiasForm::kMin;
  v.bias_per_scale = w.bias().per_scale;
  v.quads = w.layout().order == IndexOrder::kChunkQuads;
  v.index_bytes = geo.index_bytes;
  v.header_bytes = geo.header_bytes;
  v.param_bytes = geo.param_bytes;
  v.sub_bytes = geo.sub_bytes;
  v.block_bytes = geo.block_bytes;
  v.prefetch_bytes = w.tuning().prefetch_bytes;
  return v;
}

}  // namespace tmac
