// The dequantization kernel body, written once and compiled per instruction set.
//
// Include from a translation unit that first defines TMAC_ISA_NS (a namespace name) and declares
// tmac::kernels::TMAC_ISA_NS::DequantOps, the few primitives that differ between ISAs
// (dequant_scalar.cc has the reference meaning of each). Everything here is in the per-ISA
// namespace, under names the LUT kernels do not use, so copies compiled with different flags
// never meet at link time.
//
// For a block of kRows rows and kBatch activation rows, per group (vector lanes, FMAs):
//     acc[n][r]    = sum over the group of float(code << field bit) * x'_n
//     total[n][r] += acc[n][r] * scale + zero_term * (sum of x_n over the group, in lane 0)
// (for a symmetric matrix, acc starts from -(2^bits - 1) / 2 * that sum instead), and at the end
// y = the sum of total's lanes. Each (row, activation row) sees the same
// operations in the same order whatever the blocking, so results do not depend on how rows are
// split between threads.
#ifndef TMAC_ISA_NS
#error "define TMAC_ISA_NS before including dequant_kernel-inl.h"
#endif

#include <cstdint>
#include <cstring>

#include "kernels/dequant_kernels.h"

namespace tmac::kernels::TMAC_ISA_NS {

// Distance ahead of the current read at which each row's weights are prefetched: the target
// machine's hardware prefetchers hide little, so streaming from DRAM needs this. (Measured on
// 4096 x 4096 GEMVs: 512 B to 2 KiB per row stream are equally good, none is ~30% slower.)
inline constexpr int64_t kDequantPrefetchBytes = 1024;

// Vectors per 32-weight block, and mask vectors per 16-weight half-block.
inline constexpr int kDequantSlices = kDequantBlock / DequantOps::kLanes;
inline constexpr int kDequantMaskVectors = 16 / DequantOps::kLanes;
static_assert(DequantOps::kLanes <= 16 && 16 % DequantOps::kLanes == 0, "lanes must divide a half-block");

// acc[n][r] += one block's plane of width kWidth times the pre-scaled activations: words[r] is
// the plane in row r, x[n] the block's activations of row n for this plane.
template <int kWidth, int kRows, int kBatch>
inline void DequantPlaneBlock(const uint8_t* const* words, const float* const* x,
                              const DequantOps::I32* masks, DequantOps::F32 (&acc)[kBatch][kRows]) {
#pragma GCC unroll 8
  for (int q = 0; q < kDequantSlices; ++q) {
    // The high half-block's fields are in the words' high 16 bits: read from 2 bytes on.
    const int half_offset = 2 * (q * DequantOps::kLanes / 16);
    const DequantOps::I32 mask = masks[q % kDequantMaskVectors];
    DequantOps::F32 w[kRows];
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      w[r] = DequantOps::Decode(DequantOps::LoadWords<kWidth>(words[r] + half_offset), mask);
    }
#pragma GCC unroll 8
    for (int n = 0; n < kBatch; ++n) {
      const DequantOps::F32 xv = DequantOps::Load(x[n] + q * DequantOps::kLanes);
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) acc[n][r] = DequantOps::Fma(w[r], xv, acc[n][r]);
    }
  }
}

// Prefetch byte `offset` of a row's stream; past the row's end the stream continues with the
// same row of the next block of kRows rows (past the matrix, a prefetch is a harmless no-op).
template <int kRows>
inline void DequantPrefetch(const uint8_t* row, int64_t offset, int64_t row_bytes) {
  __builtin_prefetch(offset < row_bytes ? row + offset : row + (kRows - 1) * row_bytes + offset);
}

inline uint16_t DequantLoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Groups whose parameters are converted to float ahead of their products (per row).
inline constexpr int kDequantParamGroups = 8;

// out[2i] and out[2i + 1]: the f16 pair at p + i * stride as floats, for i < count: one row's
// scales and zero terms of `count` consecutive groups (for a symmetric matrix the second of each
// pair is the next group's first code bytes, unused). Converted ahead, eight at a time with a
// gather where the ISA has one, the products read each scale with a broadcast load: converting
// and broadcasting it from a register in the product loop costs as much as a 32-weight block.
inline void DequantLoadParams(const uint8_t* p, int64_t stride, int count, float* out) {
  int i = 0;
  while (i + 8 <= count && DequantOps::GatherParams8(p + i * stride, stride, out + 2 * i)) i += 8;
  for (; i < count; ++i) {
    out[2 * i] = DequantOps::HalfToFloat(DequantLoadU16(p + i * stride));
    out[2 * i + 1] = DequantOps::HalfToFloat(DequantLoadU16(p + i * stride + 2));
  }
}

// Rows [row0, row0 + kRows) for activation rows [n0, n0 + kBatch). `prefetch` on the first pass
// over these rows' weights (later passes find them in cache).
template <int kBits, int kRows, int kBatch>
void DequantRowBlock(const DequantWeights& w, const DequantActivations& a, int64_t row0, int64_t n0,
                     bool prefetch, float* y) {
  using F32 = DequantOps::F32;
  using I32 = DequantOps::I32;
  constexpr DequantPlanes kPlanes = kDequantPlanes[kBits];
  constexpr int kBlockBytes = DequantBlockBytes(kBits);

  I32 masks[kPlanes.count][kDequantMaskVectors];
  for (int p = 0; p < kPlanes.count; ++p) {
    for (int v = 0; v < kDequantMaskVectors; ++v) {
      masks[p][v] = DequantOps::LoadMask(kDequantLaneMasks[kPlanes.plane[p].width].lane + v * DequantOps::kLanes);
    }
  }
  const uint8_t* row[kRows];
  for (int r = 0; r < kRows; ++r) row[r] = w.data + (row0 + r) * w.row_bytes;
  const float* xrow[kBatch];
  const float* sums[kBatch];
  for (int n = 0; n < kBatch; ++n) {
    xrow[n] = a.x + (n0 + n) * a.x_stride;
    sums[n] = a.sums + (n0 + n) * w.groups;
  }

  F32 total[kBatch][kRows];
  for (int n = 0; n < kBatch; ++n) {
    for (int r = 0; r < kRows; ++r) total[n][r] = DequantOps::Zero();
  }
  // Prefetch this far ahead of the products: the parameter gather reads a chunk of groups ahead.
  const int64_t prefetch_ahead = kDequantPrefetchBytes + kDequantParamGroups * w.group_bytes;
  int64_t next_prefetch = prefetch_ahead;
  const int blocks = w.group / kDequantBlock;

  alignas(64) float params[kRows][kDequantParamGroups][2];
  for (int64_t g0 = 0; g0 < w.groups; g0 += kDequantParamGroups) {
    const int count = w.groups - g0 < kDequantParamGroups ? static_cast<int>(w.groups - g0) : kDequantParamGroups;
    for (int r = 0; r < kRows; ++r) {
      DequantLoadParams(row[r] + g0 * w.group_bytes + w.code_bytes, w.group_bytes, count, params[r][0]);
    }

    for (int pg = 0; pg < count; ++pg) {
      const int64_t g = g0 + pg;
      const int64_t group_offset = g * w.group_bytes;
      if (prefetch) {
        for (const int64_t end = group_offset + w.group_bytes + prefetch_ahead; next_prefetch < end;
             next_prefetch += 64) {
          for (int r = 0; r < kRows; ++r) DequantPrefetch<kRows>(row[r], next_prefetch, w.row_bytes);
        }
      }

      // The group's activation sum in lane 0: a symmetric matrix's sums come multiplied by
      // -(2^bits - 1) / 2 and start its accumulators, so the zero term rides along with the scale.
      F32 sum_lane0[kBatch];
      F32 acc[kBatch][kRows];
      for (int n = 0; n < kBatch; ++n) {
        sum_lane0[n] = DequantOps::LoadFirst(sums[n] + g);
        const F32 init = w.has_zero ? DequantOps::Zero() : sum_lane0[n];
        for (int r = 0; r < kRows; ++r) acc[n][r] = init;
      }
      for (int b = 0; b < blocks; ++b) {
        const int64_t block_offset = group_offset + static_cast<int64_t>(b) * kBlockBytes;
        const int64_t k = g * w.group + static_cast<int64_t>(b) * kDequantBlock;
        const uint8_t* words[kRows];
        const float* x[kBatch];
        for (int r = 0; r < kRows; ++r) words[r] = row[r] + block_offset + kPlanes.plane[0].offset;
        for (int n = 0; n < kBatch; ++n) x[n] = xrow[n] + k;
        DequantPlaneBlock<kPlanes.plane[0].width, kRows, kBatch>(words, x, masks[0], acc);
        if constexpr (kPlanes.count > 1) {
          for (int r = 0; r < kRows; ++r) words[r] = row[r] + block_offset + kPlanes.plane[1].offset;
          for (int n = 0; n < kBatch; ++n) x[n] = xrow[n] + w.cols + k;
          DequantPlaneBlock<kPlanes.plane[1].width, kRows, kBatch>(words, x, masks[1], acc);
        }
      }

      // The parameters are read with broadcast loads from the converted copy.
      for (int r = 0; r < kRows; ++r) {
        const F32 scale = DequantOps::Set1(params[r][pg][0]);
        for (int n = 0; n < kBatch; ++n) total[n][r] = DequantOps::Fma(acc[n][r], scale, total[n][r]);
      }
      if (w.has_zero) {
        for (int r = 0; r < kRows; ++r) {
          const F32 zero_term = DequantOps::Set1(params[r][pg][1]);
          for (int n = 0; n < kBatch; ++n) total[n][r] = DequantOps::Fma(zero_term, sum_lane0[n], total[n][r]);
        }
      }
    }
  }

  for (int n = 0; n < kBatch; ++n) {
    for (int r = 0; r < kRows; ++r) y[(n0 + n) * w.rows + row0 + r] = DequantOps::ReduceAdd(total[n][r]);
  }
}

// Activation rows whose prepared activations take this many bytes are multiplied together with
// each block of rows: they stay in L2 while the weights stream past.
inline constexpr int64_t kDequantBatchBlockBytes = 512 * 1024;

// The last `remaining` (1..kBatch) activation rows for rows [row0, row0 + kRows).
template <int kBits, int kRows, int kBatch>
void DequantBatchRemainder(const DequantWeights& w, const DequantActivations& a, int64_t row0, int64_t n0,
                           int64_t remaining, bool prefetch, float* y) {
  if constexpr (kBatch >= 1) {
    if (remaining == kBatch) return DequantRowBlock<kBits, kRows, kBatch>(w, a, row0, n0, prefetch, y);
    DequantBatchRemainder<kBits, kRows, kBatch - 1>(w, a, row0, n0, remaining, prefetch, y);
  }
}

// Activation rows [n_begin, n_end) for rows [row0, row0 + kRows): chunks of kMaxBatch, then the
// rest.
template <int kBits, int kRows>
void DequantRowBlockBatch(const DequantWeights& w, const DequantActivations& a, int64_t row0, int64_t n_begin,
                          int64_t n_end, float* y) {
  constexpr int kMaxBatch = DequantOps::kMaxBatch;
  int64_t n0 = n_begin;
  for (; n0 + kMaxBatch <= n_end; n0 += kMaxBatch) {
    DequantRowBlock<kBits, kRows, kMaxBatch>(w, a, row0, n0, n0 == n_begin, y);
  }
  if (n0 < n_end) DequantBatchRemainder<kBits, kRows, kMaxBatch - 1>(w, a, row0, n0, n_end - n0, n0 == n_begin, y);
}

template <int kBits, int kRows>
void DequantMatmulRowsForBlock(const DequantWeights& w, const DequantActivations& a, int64_t begin,
                               int64_t end, float* y) {
  const int64_t row_bytes = a.x_stride * static_cast<int64_t>(sizeof(float));
  int64_t batch_block = kDequantBatchBlockBytes / row_bytes / DequantOps::kMaxBatch * DequantOps::kMaxBatch;
  batch_block = batch_block > DequantOps::kMaxBatch ? batch_block : DequantOps::kMaxBatch;
  for (int64_t n_begin = 0; n_begin < a.batch; n_begin += batch_block) {
    const int64_t n_end = a.batch - n_begin < batch_block ? a.batch : n_begin + batch_block;
    int64_t m = begin;
    for (; m + kRows <= end; m += kRows) DequantRowBlockBatch<kBits, kRows>(w, a, m, n_begin, n_end, y);
    for (; m < end; ++m) DequantRowBlockBatch<kBits, 1>(w, a, m, n_begin, n_end, y);
  }
}

// GEMV takes more rows per block (each activation load feeds more rows), GEMM fewer (the
// accumulators of kMaxBatch activation rows share the registers).
template <int kBits>
void DequantMatmulRowsForBits(const DequantWeights& w, const DequantActivations& a, int64_t begin,
                              int64_t end, float* y) {
  if (a.batch == 1) return DequantMatmulRowsForBlock<kBits, DequantOps::kGemvRows>(w, a, begin, end, y);
  DequantMatmulRowsForBlock<kBits, DequantOps::kGemmRows>(w, a, begin, end, y);
}

inline void DequantMatmulRows(const DequantWeights& w, const DequantActivations& a, int64_t begin,
                              int64_t end, float* y) {
  switch (w.bits) {
    case 1: return DequantMatmulRowsForBits<1>(w, a, begin, end, y);
    case 2: return DequantMatmulRowsForBits<2>(w, a, begin, end, y);
    case 3: return DequantMatmulRowsForBits<3>(w, a, begin, end, y);
    default: return DequantMatmulRowsForBits<4>(w, a, begin, end, y);
  }
}

inline const DequantKernelSet kDequantKernelSet = {DequantOps::kIsa, &DequantMatmulRows};

}  // namespace tmac::kernels::TMAC_ISA_NS
