// GgmlMatmul: validation, activation preparation (padded floats, or int8 per 32-block for
// Q8_0), decoding of the other types into a small float buffer, and the split of rows across
// threads. The per-ISA kernels (ggml_matmul_kernel-inl.h) do the products.
#include "tmac/ggml_matmul.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "formats/half.h"
#include "kernels/ggml_matmul_kernels.h"
#include "runtime/aligned_buffer.h"
#include "tmac/error.h"
#include "tmac/thread_pool.h"

namespace tmac {

namespace kernels {

// Builds for one architecture compile only its kernels; the others report absence.
#if !TMAC_HAVE_X86
const GgmlKernelSet* Avx2GgmlKernels() { return nullptr; }
const GgmlKernelSet* Avx512GgmlKernels() { return nullptr; }
const GgmlKernelSet* Avx512VnniGgmlKernels() { return nullptr; }
#endif
#if !TMAC_HAVE_NEON
const GgmlKernelSet* NeonGgmlKernels() { return nullptr; }
#endif

const GgmlKernelSet& GgmlKernelsFor(Isa isa) {
  Require(IsaSupported(isa), std::string("ISA ") + IsaName(isa) + " is not supported on this machine");
  switch (isa) {
    case Isa::kAvx2: return *Avx2GgmlKernels();
    case Isa::kAvx512: return *Avx512GgmlKernels();
    case Isa::kAvx512Vnni: return *Avx512VnniGgmlKernels();
    case Isa::kNeon: return *NeonGgmlKernels();
    case Isa::kScalar: break;
  }
  return *ScalarGgmlKernels();
}

}  // namespace kernels

namespace {

using kernels::kGgmlFloatPad;
using kernels::kGgmlQ8Block;

// Rows are handed to threads in multiples of this (a multiple of every kernel's row tile).
constexpr int64_t kRowUnit = 16;
// Activation vectors multiplied in one pass over a thread's rows take at most this many bytes
// (at least one kernel tile's worth), so they stay in L2 while the weights stream past.
constexpr int64_t kBatchBlockBytes = 1 << 20;
// Rows decoded at once take about this many float bytes: L1 for a GEMV, where each decoded
// weight is read once; L2 for a GEMM, where each is read by every vector of a batch block.
constexpr int64_t kGemvDecodeBytes = 32 << 10;
constexpr int64_t kGemmDecodeBytes = 256 << 10;
constexpr int64_t kMaxBatchTile = 4;

int64_t RoundUp(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// Throws unless w is a non-empty matrix of a supported type whose rows are whole blocks.
int64_t ValidatedRowBytes(const GgmlMatrixView& w) {
  Require(w.rows >= 1 && w.cols >= 1, "ggml matrix of " + std::to_string(w.rows) + " x " + std::to_string(w.cols) +
                                          ": rows and cols must be at least 1");
  Require(w.data != nullptr, "ggml matrix without data");
  return GgmlRowBytes(w.type, w.cols);  // throws for an unsupported type or partial blocks
}

// Vectors per pass over the rows when each takes `bytes`.
int64_t BatchBlock(int64_t bytes) { return std::max(kMaxBatchTile, kBatchBlockBytes / bytes); }

// Calls fn(begin, end) on row ranges [begin, end) that split [0, rows) across the pool.
void ForRowParts(int64_t rows, ThreadPool* pool, const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t units = (rows + kRowUnit - 1) / kRowUnit;
  const std::function<void(int64_t, int64_t)> run = [&](int64_t begin, int64_t end) {
    fn(begin * kRowUnit, std::min(end * kRowUnit, rows));
  };
  ThreadPool::RunOn(pool, units, run);
}

// x quantized as llama.cpp's quantize_row_q8_0 does: per 32-block, d = max|x| / 127,
// q = round(x / d) (via the reciprocal, half away from zero), and d stored as f16.
void QuantizeQ8(const float* x, int64_t cols, int8_t* q, float* d) {
  for (int64_t b = 0; b < cols / kGgmlQ8Block; ++b) {
    const float* xb = x + b * kGgmlQ8Block;
    float amax = 0.f;
    for (int64_t k = 0; k < kGgmlQ8Block; ++k) amax = std::max(amax, std::fabs(xb[k]));
    const float scale = amax / 127.f;
    const float inverse = scale != 0.f ? 1.f / scale : 0.f;
    for (int64_t k = 0; k < kGgmlQ8Block; ++k) {
      // |x * inverse| <= 127 for finite x; a NaN (from NaN or infinite activations) becomes 0
      // rather than an undefined conversion.
      const float r = std::round(xb[k] * inverse);
      q[b * kGgmlQ8Block + k] = static_cast<int8_t>(r >= -127.f && r <= 127.f ? r : 0.f);
    }
    d[b] = RoundToHalf(scale);
  }
}

void Q8Matmul(const GgmlMatrixView& w, int64_t row_bytes, const float* x, int64_t batch, float* y,
              const MatmulOptions& options) {
  const auto& ks = kernels::GgmlKernelsFor(options.isa);
  const int64_t blocks = w.cols / kGgmlQ8Block;
  const auto buffer = AllocateAligned(static_cast<size_t>(batch * (w.cols + blocks * 4)));
  float* d = reinterpret_cast<float*>(buffer.get());
  int8_t* q = reinterpret_cast<int8_t*>(d + batch * blocks);
  for (int64_t n = 0; n < batch; ++n) QuantizeQ8(x + n * w.cols, w.cols, q + n * w.cols, d + n * blocks);

  const int64_t batch_block = BatchBlock(w.cols + blocks * 4);
  ForRowParts(w.rows, options.pool, [&](int64_t begin, int64_t end) {
    const kernels::GgmlQ8Rows rows{w.data + begin * row_bytes, row_bytes, end - begin, blocks};
    for (int64_t n0 = 0; n0 < batch; n0 += batch_block) {
      const kernels::GgmlQ8Activations acts{q + n0 * w.cols, d + n0 * blocks, std::min(batch_block, batch - n0)};
      ks.q8_rows(rows, acts, {y + n0 * w.rows + begin, w.rows});
    }
  });
}

// The float format whose rows the kernels read straight from the tensor: F32, F16 and BF16 rows
// that need no padding.
std::optional<kernels::GgmlFloatType> DirectFloatType(const GgmlMatrixView& w) {
  if (w.cols % kGgmlFloatPad != 0) return std::nullopt;
  switch (w.type) {
    case GgmlType::kF32: return kernels::GgmlFloatType::kF32;
    case GgmlType::kF16: return kernels::GgmlFloatType::kF16;
    case GgmlType::kBF16: return kernels::GgmlFloatType::kBF16;
    default: return std::nullopt;
  }
}

// The kernels' decoder for `type`, or nullptr where DecodeRow serves.
using BlockDecoder = void (*)(const uint8_t* src, int64_t blocks, float* out);
BlockDecoder KernelDecoder(const kernels::GgmlKernelSet& ks, GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_K: return ks.decode_q4_k;
    case GgmlType::kQ5_K: return ks.decode_q5_k;
    case GgmlType::kQ6_K: return ks.decode_q6_k;
    default: return nullptr;
  }
}

// Rows [begin, end) of w as floats, `cols` apart (the padding after each row left as it is).
void DecodeRows(const kernels::GgmlKernelSet& ks, const GgmlMatrixView& w, int64_t row_bytes, int64_t begin,
                int64_t end, int64_t cols, float* out) {
  const BlockDecoder decoder = KernelDecoder(ks, w.type);
  const int64_t blocks = w.cols / GgmlBlock(w.type).block_size;
  for (int64_t m = begin; m < end; ++m) {
    const uint8_t* src = w.data + m * row_bytes;
    float* dst = out + (m - begin) * cols;
    if (decoder != nullptr) {
      decoder(src, blocks, dst);
    } else {
      DecodeRow(w.type, src, w.cols, dst);
    }
  }
}

void FloatMatmul(const GgmlMatrixView& w, int64_t row_bytes, const float* x, int64_t batch, float* y,
                 const MatmulOptions& options) {
  const auto& ks = kernels::GgmlKernelsFor(options.isa);
  // Activations padded with zeros to whole vectors; so are the decoded rows, below.
  const int64_t cols = RoundUp(w.cols, kGgmlFloatPad);
  const auto x_buffer = AllocateAligned(static_cast<size_t>(batch * cols) * sizeof(float));
  float* xp = reinterpret_cast<float*>(x_buffer.get());
  for (int64_t n = 0; n < batch; ++n) {
    std::memcpy(xp + n * cols, x + n * w.cols, static_cast<size_t>(w.cols) * sizeof(float));
  }

  const std::optional<kernels::GgmlFloatType> direct = DirectFloatType(w);
  const int64_t decode_bytes = batch == 1 ? kGemvDecodeBytes : kGemmDecodeBytes;
  const int64_t decode_rows =
      RoundUp(std::max<int64_t>(1, decode_bytes / (cols * static_cast<int64_t>(sizeof(float)))), 4);
  const int64_t batch_block = BatchBlock(cols * static_cast<int64_t>(sizeof(float)));

  ForRowParts(w.rows, options.pool, [&](int64_t begin, int64_t end) {
    const auto buffer = AllocateAligned(direct ? 0 : static_cast<size_t>(decode_rows * cols) * sizeof(float));
    const uint8_t* decoded = buffer.get();
    std::vector<const uint8_t*> row_ptrs(static_cast<size_t>(decode_rows));
    for (int64_t n0 = 0; n0 < batch; n0 += batch_block) {
      const kernels::GgmlFloatActivations acts{xp + n0 * cols, cols, std::min(batch_block, batch - n0)};
      for (int64_t m0 = begin; m0 < end; m0 += decode_rows) {
        const int64_t m1 = std::min(m0 + decode_rows, end);
        if (direct) {
          for (int64_t m = m0; m < m1; ++m) row_ptrs[m - m0] = w.data + m * row_bytes;
        } else {
          DecodeRows(ks, w, row_bytes, m0, m1, cols, reinterpret_cast<float*>(buffer.get()));
          for (int64_t m = m0; m < m1; ++m) row_ptrs[m - m0] = decoded + (m - m0) * cols * sizeof(float);
        }
        const kernels::GgmlFloatRows rows{row_ptrs.data(), static_cast<int>(m1 - m0), cols,
                                          direct.value_or(kernels::GgmlFloatType::kF32)};
        ks.float_rows(rows, acts, {y + n0 * w.rows + m0, w.rows});
      }
    }
  });
}

}  // namespace

bool GgmlMatmulSupports(GgmlType type) { return IsDecodable(type); }

void GgmlMatmul(const GgmlMatrixView& w, const float* x, int64_t batch, float* y, const MatmulOptions& options) {
  const int64_t row_bytes = ValidatedRowBytes(w);
  Require(batch >= 1, "batch must be at least 1, got " + std::to_string(batch));
  Require(x != nullptr && y != nullptr, "null activations or output");
  if (w.type == GgmlType::kQ8_0) return Q8Matmul(w, row_bytes, x, batch, y, options);
  FloatMatmul(w, row_bytes, x, batch, y, options);
}

void GgmlGetRow(const GgmlMatrixView& w, int64_t row, float* out) {
  const int64_t row_bytes = ValidatedRowBytes(w);
  Require(row >= 0 && row < w.rows,
          "row " + std::to_string(row) + " out of range for a matrix of " + std::to_string(w.rows) + " rows");
  Require(out != nullptr, "null output row");
  DecodeRow(w.type, w.data + row * row_bytes, w.cols, out);
}

}  // namespace tmac
