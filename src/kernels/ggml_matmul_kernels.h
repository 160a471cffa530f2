// The interface between GgmlMatmul (ggml_matmul.cc: validation, activation preparation,
// decoding, threading) and its per-ISA kernels. As for the LUT and dequant kernels, each ISA's
// kernels are one translation unit with its own compiler flags and see only plain data.
#pragma once

#include <cstdint>

#include "tmac/isa.h"

namespace tmac::kernels {

// Float rows and activations are padded with zeros to a multiple of this many columns (the
// widest vector), so the kernels have no tail.
inline constexpr int64_t kGgmlFloatPad = 16;
// Weights per Q8_0 block, and its bytes: an f16 scale, then 32 int8 codes.
inline constexpr int64_t kGgmlQ8Block = 32;
inline constexpr int64_t kGgmlQ8BlockBytes = 34;

// Weights in a float format, read directly from the tensor (or from decoded rows, as kF32).
enum class GgmlFloatType { kF32, kF16, kBF16 };

// Float weights: rows w[0..rows) (any alignment), each `cols` values (cols a multiple of
// kGgmlFloatPad).
struct GgmlFloatRows {
  const uint8_t* const* w = nullptr;
  int rows = 0;
  int64_t cols = 0;
  GgmlFloatType type = GgmlFloatType::kF32;
};

// Float activations: vector n at x + n * stride, `cols` floats.
struct GgmlFloatActivations {
  const float* x = nullptr;
  int64_t stride = 0;
  int64_t batch = 0;
};

// Q8_0 weights: `rows` rows of `blocks` blocks, row r at data + r * row_bytes.
struct GgmlQ8Rows {
  const uint8_t* data = nullptr;
  int64_t row_bytes = 0;
  int64_t rows = 0;
  int64_t blocks = 0;
};

// Activations quantized per 32-block: vector n's codes at q + n * blocks * 32, and its block
// scales (f16-rounded, as llama.cpp stores them) at d + n * blocks.
struct GgmlQ8Activations {
  const int8_t* q = nullptr;
  const float* d = nullptr;
  int64_t batch = 0;
};

// Outputs: y[n * stride + r] for activation vector n and row r of the call.
struct GgmlOutput {
  float* y = nullptr;
  int64_t stride = 0;
};

struct GgmlKernelSet {
  Isa isa;
  // `blocks` blocks at src (any alignment) to floats, bit for bit as DecodeRow: the K-quants that
  // models keep in file format (Q6_K output heads and ffn_down in Q4_K_M files; Q5_K models).
  void (*decode_q4_k)(const uint8_t* src, int64_t blocks, float* out);
  void (*decode_q5_k)(const uint8_t* src, int64_t blocks, float* out);
  void (*decode_q6_k)(const uint8_t* src, int64_t blocks, float* out);
  // Every row times every activation vector.
  void (*float_rows)(const GgmlFloatRows& w, const GgmlFloatActivations& x, const GgmlOutput& y);
  void (*q8_rows)(const GgmlQ8Rows& w, const GgmlQ8Activations& x, const GgmlOutput& y);
};

// Per-ISA entry points; each returns nullptr when this binary was built without that ISA.
const GgmlKernelSet* ScalarGgmlKernels();
const GgmlKernelSet* Avx2GgmlKernels();
const GgmlKernelSet* Avx512GgmlKernels();
const GgmlKernelSet* Avx512VnniGgmlKernels();
const GgmlKernelSet* NeonGgmlKernels();

// The kernels for `isa`; throws tmac::Error when it is not supported here.
const GgmlKernelSet& GgmlKernelsFor(Isa isa);

}  // namespace tmac::kernels
