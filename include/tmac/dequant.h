// The dequantize-then-FMA baseline: y = W x with 1..4-bit weights unpacked to float in registers.
//
// Every kernel benchmark measures the LUT kernel (tmac/lut.h) against this product on the same
// b-bit weights, so it is written to be as fast as a plain dequantization kernel reasonably gets:
// codes unpacked with a single mask per 16 (8) weights, converted to float and multiplied-added
// against the activations, several rows at once so each activation load feeds every row, group
// scales and zero terms applied once per group, and weights prefetched in software.
//
// Byte layout. Rows are stored one after another, each row as its K / group groups in order,
// and each group as
//
//     codes   group / 32 blocks of 4 * bits bytes (below)
//     scale   fp16
//     zero    fp16 zero term -scale * zero, only when the matrix has zero points; a symmetric
//             matrix stores none and the kernels use -scale * (2^bits - 1) / 2
//
// followed by 64 bytes of padding at the end of the matrix. A block holds 32 consecutive weights
// in one or two planes of `width` bits each:
//
//     bits 1: one 1-bit plane      bits 2: one 2-bit plane      bits 4: one 4-bit plane
//     bits 3: a 2-bit plane with the code's low two bits, then a 1-bit plane with its high bit
//             (the llama.cpp Q3 split)
//
// A plane of width f is f little-endian 32-bit words, and weight k (0..31) of the block is
// the f bits starting at bit f * (k / f) of word k % f. Read 16 weights at a time, this puts
// weight k's field of the low (k < 16) or high half of the block in the low or high 16 bits of
// word k % f, at bit f * ((k % 16) / f): a SIMD kernel broadcasts the f words to every lane
// (from 2 bytes further on for the high half), so lane i sees word i % f, and one AND with a
// per-lane mask leaves code << f * ((i % 16) / f). The kernels multiply that by activations
// pre-scaled by 2^-(f * ((i % 16) / f)) (exact: a power of two), so no shift is needed.
// kernels/dequant_kernels.h has the constants; formats/dequant_matrix.cc is the writer.
#pragma once

#include <cstdint>
#include <memory>

#include "tmac/lut.h"
#include "tmac/quant.h"

namespace tmac {

// A b-bit matrix in the dequantization layout above. Movable, not copyable; the storage is
// 64-byte aligned (huge-page advised when large).
class DequantMatrix {
 public:
  DequantMatrix();
  ~DequantMatrix();
  DequantMatrix(DequantMatrix&&) noexcept;
  DequantMatrix& operator=(DequantMatrix&&) noexcept;

  // Any bits 1..4 and group 32..256 (IsSupportedGroup). Throws tmac::Error when w is invalid or
  // a scale or zero term does not fit fp16.
  static DequantMatrix Pack(const QuantMatrix& w);
  // The inverse of Pack: the same codes; scales and zeros as stored (scales f16-rounded, zeros
  // recovered from the f16 zero terms as -term / scale; empty for a symmetric matrix).
  QuantMatrix Unpack() const;
  // A deep copy (benchmarks rotate over many copies to stream from DRAM).
  DequantMatrix Clone() const;

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int bits() const { return bits_; }
  int group() const { return group_; }
  bool symmetric() const { return symmetric_; }
  // Bytes one product reads: codes, scales and zero terms (padding excluded).
  int64_t bytes() const { return rows_ * row_bytes_; }
  int64_t row_bytes() const { return row_bytes_; }
  const uint8_t* data() const { return data_; }

 private:
  int64_t rows_ = 0, cols_ = 0;
  int bits_ = 0, group_ = 0;
  bool symmetric_ = true;
  int64_t row_bytes_ = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> storage_;
  const uint8_t* data_ = nullptr;
};

// y[n][m] = sum_k W[m][k] * x[n][k] for n in [0, batch): x is batch x K, y is batch x M, both
// row-major; batch == 1 is the decode GEMV. options.isa picks the kernel, options.pool splits the
// rows; options.mode is ignored. The result does not
// depend on the number of threads. Throws tmac::Error for an empty matrix, batch < 1 or an ISA
// this machine does not support.
void DequantMatmul(const DequantMatrix& w, const float* x, int64_t batch, float* y,
                   const MatmulOptions& options = {});

}  // namespace tmac
