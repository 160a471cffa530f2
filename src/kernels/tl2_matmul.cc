// Tl2Matmul and Tl2MatmulInt8: tables per activation row, then the tiles split across threads.
#include <algorithm>
#include <string>
#include <vector>

#include "formats/tl2_view.h"
#include "kernels/group_int8.h"
#include "kernels/tl2_kernels.h"
#include "runtime/tile_split.h"
#include "tmac/error.h"
#include "tmac/ternary.h"
#include "tmac/thread_pool.h"

namespace tmac {

namespace {

using kernels::Tl2Lookup;

// Tables for `batch` activation rows, one contiguous slab each.
struct Tl2TableSet {
  int64_t table_bytes = 0, groups = 0;
  std::vector<uint8_t> lut;
  std::vector<float> unit;

  Tl2TableSet(const kernels::Tl2Weights& w, int64_t batch, Tl2Lookup kind)
      : table_bytes(w.groups * 2 * w.pairs * kernels::kTl2TableEntries * (kind == Tl2Lookup::kInt16 ? 2 : 1)),
        groups(w.groups),
        lut(static_cast<size_t>(batch * table_bytes)),
        unit(static_cast<size_t>(batch * groups)) {}

  kernels::Tl2Tables Row(int64_t n) const { return {lut.data() + n * table_bytes, unit.data() + n * groups}; }
  uint8_t* LutRow(int64_t n) { return lut.data() + n * table_bytes; }
  float* UnitRow(int64_t n) { return unit.data() + n * groups; }
};

void CheckMatrix(const Tl2Matrix& w, int64_t batch) {
  Require(w.data() != nullptr, "matrix product with an empty Tl2Matrix");
  Require(batch >= 1, "batch must be at least 1, got " + std::to_string(batch));
}

// Every tile for every activation row: a thread takes whole tiles (split as the matrix's
// KernelTuning says) and runs all rows on each tile while its weights are still in cache. Each
// output is computed by one thread, in one order, so the thread count never changes a bit.
void RunTiles(const Tl2Matrix& w, const kernels::Tl2Weights& view, const Tl2TableSet& tables, int64_t batch,
              Tl2Lookup kind, const kernels::Tl2KernelSet& ks, ThreadPool* pool, float* y) {
  ForEachTileRange(pool, w.tiles(), w.tuning().tiles_per_item, [&](int64_t begin, int64_t end) {
    if (batch == 1) {
      ks.gemv_tiles(view, tables.Row(0), kind, begin, end, y);
      return;
    }
    for (int64_t tile = begin; tile < end; ++tile) {
      for (int64_t n = 0; n < batch; ++n)
        ks.gemv_tiles(view, tables.Row(n), kind, tile, tile + 1, y + n * w.rows());
    }
  });
}

// TableMode::kInt16: the activations rounded to int8 group by group, each group's exact tables
// built with its own scale (the exact builder run on a one-group view of w).
void BuildGroupInt8Tables(const kernels::Tl2KernelSet& ks, const kernels::Tl2Weights& view, const float* x,
                          int8_t* q, uint8_t* lut, float* unit) {
  kernels::Tl2Weights one_group = view;
  one_group.groups = 1;
  const int64_t group_table_bytes = 2 * view.pairs * 2 * kernels::kTl2TableEntries;
  for (int64_t g = 0; g < view.groups; ++g) {
    const float scale = kernels::QuantizeGroupInt8(x + g * view.group, view.group, q);
    ks.build_tables_i8(one_group, q, scale, lut + g * group_table_bytes, unit + g);
  }
}

}  // namespace

void Tl2Matmul(const Tl2Matrix& w, const float* x, int64_t batch, float* y, const MatmulOptions& options) {
  CheckMatrix(w, batch);
  Require(options.mode != TableMode::kInt8Fast, "Tl2Matmul has no TableMode::kInt8Fast");
  const auto& ks = kernels::Tl2KernelsFor(options.isa);
  const kernels::Tl2Weights view = ViewOf(w);
  const Tl2Lookup kind = options.mode == TableMode::kInt16 ? Tl2Lookup::kInt16 : Tl2Lookup::kInt8;
  Tl2TableSet tables(view, batch, kind);
  ThreadPool::RunOn(batch > 1 ? options.pool : nullptr, batch, [&](int64_t begin, int64_t end) {
    std::vector<int8_t> q(kind == Tl2Lookup::kInt16 ? static_cast<size_t>(w.group()) : 0);
    for (int64_t n = begin; n < end; ++n) {
      if (kind == Tl2Lookup::kInt16) {
        BuildGroupInt8Tables(ks, view, x + n * w.cols(), q.data(), tables.LutRow(n), tables.UnitRow(n));
      } else {
        ks.build_tables_f32(view, x + n * w.cols(), tables.LutRow(n), tables.UnitRow(n));
      }
    }
  });
  RunTiles(w, view, tables, batch, kind, ks, options.pool, y);
}

void Tl2MatmulInt8(const Tl2Matrix& w, const Int8Activations& x, float* y, const MatmulOptions& options) {
  CheckMatrix(w, x.batch);
  Require(x.cols == w.cols(),
          "activations have " + std::to_string(x.cols) + " columns, the matrix " + std::to_string(w.cols()));
  Require(
      x.q.size() == static_cast<size_t>(x.batch * x.cols) && x.scale.size() == static_cast<size_t>(x.batch),
      "Int8Activations sizes do not match batch x cols");
  // The exact tables and int16 sums have room for |q| <= 127 (as QuantizeActivations makes), not -128.
  Require(std::find(x.q.begin(), x.q.end(), int8_t{-128}) == x.q.end(),
          "Int8Activations hold -128; expected |q| <= 127");
  const auto& ks = kernels::Tl2KernelsFor(options.isa);
  const kernels::Tl2Weights view = ViewOf(w);
  Tl2TableSet tables(view, x.batch, Tl2Lookup::kInt16);
  for (int64_t n = 0; n < x.batch; ++n) {
    ks.build_tables_i8(view, x.q.data() + n * x.cols, x.scale[static_cast<size_t>(n)], tables.LutRow(n),
                       tables.UnitRow(n));
  }
  RunTiles(w, view, tables, x.batch, Tl2Lookup::kInt16, ks, options.pool, y);
}

}  // namespace tmac
