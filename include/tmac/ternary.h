// Ternary weights in bitnet.cpp's TL2 spirit: 3 weights per 5 bits (1.67 bits per weight).
//
// Three weights w0, w1, w2 in {-1, 0, 1} become v = 9 w0 + 3 w1 + w2 in [-13, 13], stored as a
// 4-bit index |v| and a sign bit. For every 3 activations the kernels build one table with
// entry i = the dot product of the triple whose v is +i with the activations, look |v| up and
// negate the result when the sign bit is set: one lookup replaces three multiply-adds.
//
// Groups (32, 64, 128 or 256 weights) are not multiples of 3: each holds group / 3 triples
// followed by one 2-weight fallback chunk with index 3 w0 + w1 + 4 in 0..8 and no sign (when
// one weight is left over it pairs with a zero weight). Its 9-entry table takes the place of a
// triple's, so the kernels treat every chunk alike.
//
// Layout, for tiles of R = tile_rows rows and one block per (tile, group), blocks in (tile,
// group) order (docs/kernels.md draws it):
//   P = ceil((group / 3 + 1) / 2) index rows of R bytes: byte r of index row c holds row r's
//       index of chunk 2c (low nibble) and 2c + 1 (high nibble), so one SIMD load feeds one
//       lookup for 16 to 64 rows; a chunk past the fallback is padding (index 0).
//   ceil(P / 4) sign rows of R bytes: bit i of byte r of sign row s = the sign of row r's
//       chunk 8s + i, set when v < 0; sign row s comes just before index rows 4s..4s+3, so a
//       block is read as one stream and one sign load serves the next 4 index loads.
//   R f16 scales.
// Bytes per row and group, scale included: 10 / 16 / 30 / 56 for groups 32 / 64 / 128 / 256,
// i.e. 2.5 / 2.0 / 1.875 / 1.75 bits per weight (2.0 / 1.75 / 1.75 / 1.69 without the scale).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "tmac/lut.h"
#include "tmac/quant.h"

namespace tmac {

struct Tl2Layout {
  int tile_rows = 64;  // rows interleaved in one tile: 64 or 128
};

// What Tl2Matrix runs with until told otherwise (KernelTuning, include/tmac/lut.h). Measured
// streaming 3200 x 8640 from DRAM: a 1.5 KiB prefetch distance beat 1 and 2 KiB by up to 10%.
inline constexpr KernelTuning kDefaultTl2Tuning{1536, 0};

// A ternary matrix in the TL2 layout. Movable, not copyable; the storage is 64-byte aligned.
class Tl2Matrix {
 public:
  Tl2Matrix();
  ~Tl2Matrix();
  Tl2Matrix(Tl2Matrix&&) noexcept;
  Tl2Matrix& operator=(Tl2Matrix&&) noexcept;

  // `ternary` must be ternary as MakeTernary returns it: 2-bit codes in {0, 1, 2} with every
  // zero point 1. Throws tmac::Error otherwise, or when it is invalid or the layout unsupported.
  static Tl2Matrix Pack(const QuantMatrix& ternary, const Tl2Layout& layout = {});
  // The inverse of Pack: the same codes, zero points 1, and the scales as stored (f16-rounded).
  QuantMatrix Unpack() const;
  // A deep copy (benchmarks rotate over many copies to stream from DRAM).
  Tl2Matrix Clone() const;
  // A rows x cols matrix in groups of `group` whose packed bytes are a copy of `bytes`, as data()
  // returns them. Throws tmac::Error for an unsupported group or layout, cols not a multiple of
  // the group, or a byte count other than the layout's.
  static Tl2Matrix FromBytes(int64_t rows, int64_t cols, int group, const Tl2Layout& layout,
                             std::span<const uint8_t> bytes);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int group() const { return group_; }
  const Tl2Layout& layout() const { return layout_; }
  int64_t tiles() const;
  // Bytes one product reads: indices, signs and scales.
  int64_t bytes() const { return bytes_; }
  const uint8_t* data() const { return data_; }
  // How the kernels run on this matrix (kDefaultTl2Tuning unless set; Clone copies it).
  const KernelTuning& tuning() const { return tuning_; }
  void set_tuning(const KernelTuning& tuning);

 private:
  int64_t rows_ = 0, cols_ = 0;
  int group_ = 0;
  Tl2Layout layout_;
  KernelTuning tuning_ = kDefaultTl2Tuning;
  int64_t bytes_ = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> storage_;
  const uint8_t* data_ = nullptr;
};

// y[n][m] = sum_k W[m][k] * x[n][k] for n in [0, batch), x batch x K and y batch x M, both
// row-major. TableMode::kInt8: int8 tables with one scale per group, so the result is within a
// bound of the exact product (docs/kernels.md). kInt16: the activations rounded to int8 per group,
// then exact tables, as LutMatmul does. kInt8Fast is rejected.
void Tl2Matmul(const Tl2Matrix& w, const float* x, int64_t batch, float* y,
               const MatmulOptions& options = {});

// The int8-activation product (BitNet's per-token absmax activations). Tables hold exact entries,
// so the integer part is exact and the result is bit-identical on every ISA and thread count.
void Tl2MatmulInt8(const Tl2Matrix& w, const Int8Activations& x, float* y, const MatmulOptions& options = {});

}  // namespace tmac
