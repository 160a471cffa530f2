// Sizes of the TL2 layout's pieces (include/tmac/ternary.h draws it), and the plain view of a
// Tl2Matrix that kernels read. The only place these sizes are computed.
#pragma once

#include <cstdint>

#include "kernels/tl2_kernels.h"
#include "tmac/ternary.h"

namespace tmac {

struct Tl2Geometry {
  int64_t tiles = 0;
  int64_t groups = 0;       // per row
  int triples = 0;          // per group
  int pairs = 0;            // index rows per block
  int sign_rows = 0;        // per block
  int64_t index_bytes = 0;  // per block: index and sign rows
  int64_t block_bytes = 0;  // index_bytes plus the f16 scales
  int64_t total_bytes = 0;
};

inline Tl2Geometry Tl2GeometryOf(int64_t rows, int64_t cols, int group, int tile_rows) {
  Tl2Geometry g;
  g.tiles = (rows + tile_rows - 1) / tile_rows;
  g.groups = cols / group;
  g.triples = group / kernels::kTl2TripleWeights;
  const int chunks = g.triples + 1;  // the fallback chunk
  g.pairs = (chunks + 1) / 2;
  g.sign_rows = (g.pairs + kernels::kTl2PairsPerSignByte - 1) / kernels::kTl2PairsPerSignByte;
  g.index_bytes = static_cast<int64_t>(g.pairs + g.sign_rows) * tile_rows;
  g.block_bytes = g.index_bytes + static_cast<int64_t>(tile_rows) * 2;
  g.total_bytes = g.tiles * g.groups * g.block_bytes;
  return g;
}

// Offsets inside a block: sign row s precedes the index rows of chunk pairs 4s..4s+3.
inline int64_t Tl2SignRowOffset(int sign_row, int tile_rows) {
  return static_cast<int64_t>(sign_row) * (kernels::kTl2PairsPerSignByte + 1) * tile_rows;
}
inline int64_t Tl2IndexRowOffset(int pair, int tile_rows) {
  return static_cast<int64_t>(pair + pair / kernels::kTl2PairsPerSignByte + 1) * tile_rows;
}

inline Tl2Geometry Tl2GeometryOf(const Tl2Matrix& w) {
  return Tl2GeometryOf(w.rows(), w.cols(), w.group(), w.layout().tile_rows);
}

inline kernels::Tl2Weights ViewOf(const Tl2Matrix& w) {
  const Tl2Geometry geo = Tl2GeometryOf(w);
  kernels::Tl2Weights v;
  v.data = w.data();
  v.rows = w.rows();
  v.groups = geo.groups;
  v.group = w.group();
  v.triples = geo.triples;
  v.pairs = geo.pairs;
  v.tile_rows = w.layout().tile_rows;
  v.index_bytes = geo.index_bytes;
  v.block_bytes = geo.block_bytes;
  v.prefetch_bytes = w.tuning().prefetch_bytes;
  return v;
}

}  // namespace tmac
