// Requantization: float weights (e.g. a decoded GGUF tensor) to tmac's b-bit and ternary forms.
//
// All functions take rows x cols row-major weights, group along K (cols) as QuantMatrix does, and
// throw tmac::Error for a shape or format no QuantMatrix can hold or for non-finite weights.
#pragma once

#include <cstdint>

#include "tmac/quant.h"

namespace tmac {

class ThreadPool;

// Round to nearest on each group's range. Asymmetric: the grid spans [min, max] with a float zero
// point, scale = (max - min) / (2^bits - 1), zero = -min / scale. Symmetric (zeros empty): the
// grid spans [-max|w|, max|w|] around the fixed zero (2^bits - 1) / 2. With a pool, the groups are
// split over its threads (the result is the same).
QuantMatrix QuantizeRtn(const float* w, int64_t rows, int64_t cols, int bits, int group, bool symmetric,
                        ThreadPool* pool = nullptr);

// Like QuantizeRtn, but each group's range is shrunk by the factor (1.0, 0.98, ..., 0.6) whose
// grid gives the least squared error of the dequantized group: clipping a few outliers buys a
// finer step for the rest. Factor 1.0 is RTN itself and wins ties, so no group is ever worse.
QuantMatrix QuantizeMse(const float* w, int64_t rows, int64_t cols, int bits, int group, bool symmetric,
                        ThreadPool* pool = nullptr);

// BitNet b1.58's absmean recipe: one scale s = mean(|w|) for the whole tensor (at least 1e-5),
// weights round(w / s) clamped to {-1, 0, 1}. `group` only sets the layout (s repeats per group).
QuantMatrix QuantizeTernaryAbsmean(const float* w, int64_t rows, int64_t cols, int group);

struct QuantError {
  double mse = 0;      // mean of (w - dequantized)^2
  double max_abs = 0;  // largest |w - dequantized|
};

// How far q's weights are from w (q.rows * q.cols values).
QuantError MeasureError(const float* w, const QuantMatrix& q);

}  // namespace tmac
