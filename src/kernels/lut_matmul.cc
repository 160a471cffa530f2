// LutMatmul: table construction per activation row, then the tiles split across threads.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "formats/lut_view.h"
#include "kernels/group_int8.h"
#include "kernels/lut_kernels.h"
#include "runtime/tile_split.h"
#include "tmac/error.h"
#include "tmac/lut.h"
#include "tmac/thread_pool.h"

namespace tmac {

namespace {

using kernels::LookupKind;

// Tables for `batch` activation rows, one contiguous slab each.
struct TableSet {
  int64_t table_bytes = 0, groups = 0;
  std::vector<uint8_t> lut;
  std::vector<float> unit, act_sum;

  TableSet(int64_t batch, int64_t cols, int group, LookupKind kind)
      : table_bytes(cols / kernels::kChunk * kernels::kTableEntries * (kind == LookupKind::kInt16 ? 2 : 1)),
        groups(cols / group),
        lut(static_cast<size_t>(batch * table_bytes)),
        unit(static_cast<size_t>(batch * groups)),
        act_sum(static_cast<size_t>(batch * groups)) {}

  kernels::LutTables Row(int64_t n) const {
    return {lut.data() + n * table_bytes, unit.data() + n * groups, act_sum.data() + n * groups};
  }
  uint8_t* LutRow(int64_t n) { return lut.data() + n * table_bytes; }
  float* UnitRow(int64_t n) { return unit.data() + n * groups; }
  float* SumRow(int64_t n) { return act_sum.data() + n * groups; }
};

void CheckMatrix(const LutMatrix& w, int64_t batch) {
  Require(w.data() != nullptr, "matrix product with an empty LutMatrix");
  Require(batch >= 1, "batch must be at least 1, got " + std::to_string(batch));
}

// Every tile for every activation row: a thread takes whole tiles (split as the matrix's
// KernelTuning says) and runs all rows on each tile while its weights are still in cache.
void RunTiles(const LutMatrix& w, const TableSet& tables, int64_t batch, LookupKind kind,
              const kernels::LutKernelSet& ks, ThreadPool* pool, float* y) {
  const kernels::LutWeights view = ViewOf(w);
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

// The lookup the kernels run for `mode` on w: quads merge chunk pairs exactly in VPDPBUSD, so
// the averaging shortcut does not apply to them.
LookupKind KindFor(const LutMatrix& w, TableMode mode) {
  return mode == TableMode::kInt8Fast && w.layout().order == IndexOrder::kChunkPairs ? LookupKind::kInt8Avg
                                                                                     : LookupKind::kInt8;
}

const kernels::LutKernelSet& KernelsFor(const LutMatrix& w, Isa isa) {
  Require(IsaReadsOrder(isa, w.layout().order),
          std::string("this matrix is packed in chunk quads, which the ") + IsaName(isa) +
              " kernels cannot read; pack it with DefaultLutLayout(bits, group, isa)");
  return kernels::LutKernelsFor(isa);
}

// Exact int16 tables for one activation row rounded to int8 group by group: the int8 tables'
// builder run once per group, each with its own scale. (A group's tables are contiguous in the
// int16 layout because a group holds a whole number of four-chunk blocks.)
void BuildGroupInt8Tables(const kernels::LutKernelSet& ks, const float* x, int64_t k, int group, int8_t* q,
                          uint8_t* lut, float* unit, float* act_sum) {
  static_assert(16 % (kernels::kChunk * kernels::kInt16TableBlock) == 0);
  for (int64_t g = 0; g < k / group; ++g) {
    const float scale = kernels::QuantizeGroupInt8(x + g * group, group, q);
    ks.build_tables_i8(q, scale, group, group,
                       lut + kernels::TableOffset(LookupKind::kInt16, g * group / kernels::kChunk), unit + g,
                       act_sum + g);
  }
}

}  // namespace

bool IsaReadsOrder(Isa isa, IndexOrder order) {
  return order == IndexOrder::kChunkPairs || kernels::LutKernelsFor(isa).reads_quads;
}

LutLayout DefaultLutLayout(int bits, int group, Isa isa) {
  LutLayout layout;
  layout.bits = bits;
  layout.group = group;
  // Quads need VPERMB + VPDPBUSD to pay off; the scalar path reads them only as a reference.
  const bool quads = isa != Isa::kScalar && group % 32 == 0 && IsaReadsOrder(isa, IndexOrder::kChunkQuads);
  layout.order = quads ? IndexOrder::kChunkQuads : IndexOrder::kChunkPairs;
  return layout;
}

void LutMatmul(const LutMatrix& w, const float* x, int64_t batch, float* y, const MatmulOptions& options) {
  CheckMatrix(w, batch);
  const auto& ks = KernelsFor(w, options.isa);
  const int group = w.layout().group;
  const LookupKind kind = options.mode == TableMode::kInt16 ? LookupKind::kInt16 : KindFor(w, options.mode);
  TableSet tables(batch, w.cols(), group, kind);
  ThreadPool::RunOn(batch > 1 ? options.pool : nullptr, batch, [&](int64_t begin, int64_t end) {
    std::vector<int8_t> q(kind == LookupKind::kInt16 ? static_cast<size_t>(group) : 0);
    for (int64_t n = begin; n < end; ++n) {
      if (kind == LookupKind::kInt16) {
        BuildGroupInt8Tables(ks, x + n * w.cols(), w.cols(), group, q.data(), tables.LutRow(n),
                             tables.UnitRow(n), tables.SumRow(n));
      } else {
        ks.build_tables_f32(x + n * w.cols(), w.cols(), group, kind, tables.LutRow(n), tables.UnitRow(n),
                            tables.SumRow(n));
      }
    }
  });
  RunTiles(w, tables, batch, kind, ks, options.pool, y);
}

Int8Activations QuantizeActivations(const float* x, int64_t batch, int64_t cols) {
  Require(batch >= 1 && cols >= 1, "empty activations");
  Int8Activations out;
  out.batch = batch;
  out.cols = cols;
  out.q.resize(static_cast<size_t>(batch * cols));
  out.scale.resize(static_cast<size_t>(batch));
  for (int64_t n = 0; n < batch; ++n) {
    const float* row = x + n * cols;
    float absmax = 0.f;
    for (int64_t k = 0; k < cols; ++k) absmax = std::max(absmax, std::fabs(row[k]));
    const float scale = absmax > 0.f ? absmax / 127.f : 1.f;
    const float inv = 1.f / scale;
    for (int64_t k = 0; k < cols; ++k) {
      const float q = std::nearbyint(row[k] * inv);
      out.q[static_cast<size_t>(n * cols + k)] = static_cast<int8_t>(std::clamp(q, -127.f, 127.f));
    }
    out.scale[static_cast<size_t>(n)] = scale;
  }
  return out;
}

void LutMatmulInt8(const LutMatrix& w, const Int8Activations& x, float* y, const MatmulOptions& options) {
  CheckMatrix(w, x.batch);
  Require(x.cols == w.cols(),
          "activations have " + std::to_string(x.cols) + " columns, the matrix " + std::to_string(w.cols()));
  const auto& ks = KernelsFor(w, options.isa);
  TableSet tables(x.batch, w.cols(), w.layout().group, LookupKind::kInt16);
  for (int64_t n = 0; n < x.batch; ++n) {
    ks.build_tables_i8(x.q.data() + n * x.cols, x.scale[static_cast<size_t>(n)], w.cols(), w.layout().group,
                       tables.LutRow(n), tables.UnitRow(n), tables.SumRow(n));
  }
  RunTiles(w, tables, x.batch, LookupKind::kInt16, ks, options.pool, y);
}

}  // namespace tmac
