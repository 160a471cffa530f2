// The ggml matrix product kernels, written once and compiled per instruction set.
//
// Include from a translation unit that first defines TMAC_ISA_NS (a namespace name) and declares
// tmac::kernels::TMAC_ISA_NS::GgmlOps, the primitives that differ between ISAs
// (ggml_matmul_scalar.cc has the reference meaning of each). Everything here is in the per-ISA
// namespace under names no other kernel uses, so copies compiled with different flags never meet
// at link time.
//
// Both products work on register tiles of kRows weight rows x kBatch activation vectors: each
// weight vector loaded feeds kBatch products, each activation vector kRows. Every (row, vector)
// pair sees the same operations in the same order whatever tile it falls in, so results do not
// depend on how rows are split between threads.
#ifndef TMAC_ISA_NS
#error "define TMAC_ISA_NS before including ggml_matmul_kernel-inl.h"
#endif

#include <cstdint>
#include <cstring>

#include "kernels/ggml_matmul_kernels.h"

namespace tmac::kernels::TMAC_ISA_NS {

static_assert(kGgmlFloatPad % GgmlOps::kLanes == 0, "float rows are padded to whole vectors");

// The tile for the last `remaining` (1..kBatch) vectors.
template <int kRows, int kBatch, typename Tile>
void GgmlBatchRemainder(Tile& tile, int64_t r0, int64_t n0, int64_t remaining) {
  if constexpr (kBatch >= 1) {
    if (remaining == kBatch) return tile.template operator()<kRows, kBatch>(r0, n0);
    GgmlBatchRemainder<kRows, kBatch - 1>(tile, r0, n0, remaining);
  }
}

// Tiles of kMaxBatch vectors for rows [r0, r0 + kRows), then one tile of the remaining ones.
template <int kRows, int kMaxBatch, typename Tile>
void GgmlRowTile(Tile& tile, int64_t r0, int64_t batch) {
  int64_t n0 = 0;
  for (; n0 + kMaxBatch <= batch; n0 += kMaxBatch) tile.template operator()<kRows, kMaxBatch>(r0, n0);
  if (n0 < batch) GgmlBatchRemainder<kRows, kMaxBatch - 1>(tile, r0, n0, batch - n0);
}

// Calls tile.operator()<kRows, kBatch>(r0, n0) to cover [0, rows) x [0, batch): rows in tiles
// of kGemvRows for a GEMV, which take more rows (each activation load feeds more of them), or of
// kGemmRows, which take fewer (the accumulators of kMaxBatch vectors share the registers); the
// last rows one at a time.
template <int kGemvRows, int kGemmRows, int kMaxBatch, typename Tile>
void GgmlForEachTile(Tile& tile, int64_t rows, int64_t batch) {
  int64_t r = 0;
  if (batch == 1) {
    for (; r + kGemvRows <= rows; r += kGemvRows) tile.template operator()<kGemvRows, 1>(r, 0);
  } else {
    for (; r + kGemmRows <= rows; r += kGemmRows) GgmlRowTile<kGemmRows, kMaxBatch>(tile, r, batch);
  }
  for (; r < rows; ++r) GgmlRowTile<1, kMaxBatch>(tile, r, batch);
}

// Distance ahead at which weights are prefetched while streaming them (rows in a GEMV, Q6_K blocks
// being decoded): the hardware prefetchers hide little on the target machines.
inline constexpr int64_t kGgmlPrefetchBytes = 1024;

// Float weights ---------------------------------------------------------------------------------

template <GgmlFloatType kType>
inline constexpr int64_t kGgmlValueBytes = kType == GgmlFloatType::kF32 ? 4 : 2;

// Values k .. k + kLanes - 1 of a row stored as kType, as floats.
template <GgmlFloatType kType>
GgmlOps::F32 GgmlLoadWeights(const uint8_t* row, int64_t k) {
  if constexpr (kType == GgmlFloatType::kF32) return GgmlOps::LoadF32(row + 4 * k);
  if constexpr (kType == GgmlFloatType::kF16) return GgmlOps::LoadF16(row + 2 * k);
  if constexpr (kType == GgmlFloatType::kBF16) return GgmlOps::LoadBf16(row + 2 * k);
}

template <GgmlFloatType kType>
void GgmlFloatRowsOf(const GgmlFloatRows& w, const GgmlFloatActivations& x, const GgmlOutput& y) {
  using F32 = GgmlOps::F32;
  auto tile = [&]<int kRows, int kBatch>(int64_t r0, int64_t n0) {
    const uint8_t* wr[kRows];
    const float* xn[kBatch];
    for (int r = 0; r < kRows; ++r) wr[r] = w.w[r0 + r];
    for (int n = 0; n < kBatch; ++n) xn[n] = x.x + (n0 + n) * x.stride;
    F32 acc[kBatch][kRows];
    for (int n = 0; n < kBatch; ++n) {
      for (int r = 0; r < kRows; ++r) acc[n][r] = GgmlOps::Zero();
    }
    for (int64_t k = 0; k < w.cols; k += GgmlOps::kLanes) {
      if (kBatch == 1) {  // a GEMV streams the rows (from DRAM when they are a tensor's)
        for (int r = 0; r < kRows; ++r) __builtin_prefetch(wr[r] + k * kGgmlValueBytes<kType> + kGgmlPrefetchBytes);
      }
      F32 wv[kRows];
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) wv[r] = GgmlLoadWeights<kType>(wr[r], k);
#pragma GCC unroll 8
      for (int n = 0; n < kBatch; ++n) {
        const F32 xv = GgmlOps::Load(xn[n] + k);
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r) acc[n][r] = GgmlOps::Fma(wv[r], xv, acc[n][r]);
      }
    }
    for (int n = 0; n < kBatch; ++n) {
      for (int r = 0; r < kRows; ++r) y.y[(n0 + n) * y.stride + r0 + r] = GgmlOps::ReduceAdd(acc[n][r]);
    }
  };
  GgmlForEachTile<GgmlOps::kFloatGemvRows, GgmlOps::kFloatGemmRows, GgmlOps::kMaxBatch>(tile, w.rows, x.batch);
}

inline void GgmlFloatRowsKernel(const GgmlFloatRows& w, const GgmlFloatActivations& x, const GgmlOutput& y) {
  switch (w.type) {
    case GgmlFloatType::kF32: return GgmlFloatRowsOf<GgmlFloatType::kF32>(w, x, y);
    case GgmlFloatType::kF16: return GgmlFloatRowsOf<GgmlFloatType::kF16>(w, x, y);
    case GgmlFloatType::kBF16: return GgmlFloatRowsOf<GgmlFloatType::kBF16>(w, x, y);
  }
}

// K-quant decoding ------------------------------------------------------------------------------
//
// DecodeRow's decoders (formats/ggml_decode.cc) for the K-quants that stay in file format,
// restated as constant-length loops over bytes that the compiler vectorizes with this translation
// unit's instruction set, and StoreCodes16: the same float operations, so the same bits.

// Q4_K (kHighBit false) and Q5_K: 8 sub-blocks of 32, (d * sc) * q - dmin * m with 6-bit sc and m.
template <bool kHighBit>
void GgmlDecodeQ45K(const uint8_t* src, int64_t blocks, float* out) {
  // The block: f16 d and dmin, 12 bytes of scales and mins, [32 bytes of bit 4], 128 of nibbles.
  constexpr int kScales = 4, kQh = 16, kQs = kHighBit ? 48 : 16, kBytes = kHighBit ? 176 : 144;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = src + b * kBytes;
    for (int line = 0; line < kBytes; line += 64) __builtin_prefetch(block + kGgmlPrefetchBytes + line);
    uint16_t d_bits[2];
    std::memcpy(d_bits, block, sizeof(d_bits));
    const float d = GgmlOps::HalfToFloat(d_bits[0]), dmin = GgmlOps::HalfToFloat(d_bits[1]);
    // Sub-block j's scale and min: for j < 4 the low 6 bits of bytes j and j + 4; for j >= 4 the
    // nibbles of byte j + 4, with the top 2 bits of bytes j - 4 and j above them.
    const uint8_t* s = block + kScales;
    float scale[8], min[8];
    for (int j = 0; j < 8; ++j) {
      const int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
      const int m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | (s[j] >> 6) << 4;
      scale[j] = d * static_cast<float>(sc);
      min[j] = dmin * static_cast<float>(m);
    }
    // Weights 64p .. 64p + 31 are the low nibbles of bytes 32p .. 32p + 31, the next 32 the high
    // ones; Q5_K's bit 4 of weight 32j + i is bit j of byte i.
    const uint8_t* qs = block + kQs;
    int8_t code[256];
    for (int p = 0; p < 4; ++p) {
      for (int i = 0; i < 32; ++i) code[64 * p + i] = static_cast<int8_t>(qs[32 * p + i] & 0xF);
      for (int i = 0; i < 32; ++i) code[64 * p + 32 + i] = static_cast<int8_t>(qs[32 * p + i] >> 4);
    }
    if constexpr (kHighBit) {
      const uint8_t* qh = block + kQh;
      for (int j = 0; j < 8; ++j) {
        for (int i = 0; i < 32; ++i) code[32 * j + i] = static_cast<int8_t>(code[32 * j + i] | ((qh[i] >> j) & 1) << 4);
      }
    }
    for (int j = 0; j < 16; ++j) GgmlOps::StoreCodes16(code + 16 * j, scale[j / 2], min[j / 2], out + b * 256 + 16 * j);
  }
}

// Q6_K: 16 sub-blocks of 16, (d * sc) * (q - 32) with int8 sc.
inline void GgmlDecodeQ6K(const uint8_t* src, int64_t blocks, float* out) {
  // The block: 128 bytes of low nibbles, 64 of high bit pairs, 16 int8 scales, f16 d.
  constexpr int kQl = 0, kQh = 128, kScales = 192, kD = 208, kBytes = 210;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = src + b * kBytes;
    for (int line = 0; line < kBytes; line += 64) __builtin_prefetch(block + kGgmlPrefetchBytes + line);
    uint16_t d_bits;
    std::memcpy(&d_bits, block + kD, sizeof(d_bits));
    const float d = GgmlOps::HalfToFloat(d_bits);
    float scale[16];
    for (int j = 0; j < 16; ++j) scale[j] = d * static_cast<float>(static_cast<int8_t>(block[kScales + j]));
    float* y = out + b * 256;
    // Each half of 128 weights: weight i's low 4 bits are the low nibble of byte i of 64 for
    // i < 64, the high nibble of byte i - 64 after; its high 2 bits are bits 2 * (i / 32) of
    // byte i % 32 of 32. Separate constant-length loops, so that each vectorizes.
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = block + kQl + 64 * half;
      const uint8_t* qh = block + kQh + 32 * half;
      uint8_t low[128];
      for (int i = 0; i < 64; ++i) low[i] = ql[i] & 0xF;
      for (int i = 0; i < 64; ++i) low[64 + i] = ql[i] >> 4;
      int8_t q[128];
      for (int part = 0; part < 4; ++part) {
        for (int i = 0; i < 32; ++i) {
          q[32 * part + i] = static_cast<int8_t>((low[32 * part + i] | ((qh[i] >> (2 * part)) & 3) << 4) - 32);
        }
      }
      for (int j = 0; j < 8; ++j) GgmlOps::StoreCodes16(q + 16 * j, scale[8 * half + j], 0.f, y + 128 * half + 16 * j);
    }
  }
}

// Q8_0 weights ----------------------------------------------------------------------------------

inline void GgmlQ8RowsKernel(const GgmlQ8Rows& w, const GgmlQ8Activations& x, const GgmlOutput& y) {
  using Q8F = GgmlOps::Q8F;
  auto tile = [&]<int kRows, int kBatch>(int64_t r0, int64_t n0) {
    const uint8_t* wr[kRows];
    for (int r = 0; r < kRows; ++r) wr[r] = w.data + (r0 + r) * w.row_bytes;
    Q8F acc[kBatch][kRows];
    for (int n = 0; n < kBatch; ++n) {
      for (int r = 0; r < kRows; ++r) acc[n][r] = GgmlOps::ZeroQ8();
    }
    for (int64_t b = 0; b < w.blocks; ++b) {
      const int64_t offset = b * kGgmlQ8BlockBytes;
      if (kBatch == 1) {
        for (int r = 0; r < kRows; ++r) __builtin_prefetch(wr[r] + offset + kGgmlPrefetchBytes);
      }
      GgmlOps::Q8W wv[kRows];
      float dw[kRows];
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
        uint16_t d;
        std::memcpy(&d, wr[r] + offset, sizeof(d));
        dw[r] = GgmlOps::HalfToFloat(d);
        wv[r] = GgmlOps::LoadQ8W(wr[r] + offset + 2);
      }
#pragma GCC unroll 8
      for (int n = 0; n < kBatch; ++n) {
        const int64_t v = n0 + n;
        const GgmlOps::Q8X xv = GgmlOps::LoadQ8X(x.q + (v * w.blocks + b) * kGgmlQ8Block);
        const float dx = x.d[v * w.blocks + b];
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r) {
          // As llama.cpp: the product of the two scales, times the block's integer dot product.
          acc[n][r] = GgmlOps::AccumulateQ8(GgmlOps::DotQ8(wv[r], xv), dw[r] * dx, acc[n][r]);
        }
      }
    }
    for (int n = 0; n < kBatch; ++n) {
      for (int r = 0; r < kRows; ++r) y.y[(n0 + n) * y.stride + r0 + r] = GgmlOps::ReduceQ8(acc[n][r]);
    }
  };
  GgmlForEachTile<GgmlOps::kQ8GemvRows, GgmlOps::kQ8GemmRows, GgmlOps::kMaxBatch>(tile, w.rows, x.batch);
}

inline const GgmlKernelSet kGgmlKernelSet = {GgmlOps::kIsa,        &GgmlDecodeQ45K<false>, &GgmlDecodeQ45K<true>,
                                             &GgmlDecodeQ6K,       &GgmlFloatRowsKernel,   &GgmlQ8RowsKernel};

}  // namespace tmac::kernels::TMAC_ISA_NS
