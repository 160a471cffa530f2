// DequantMatmul: activations pre-scaled once per call, then the rows split across threads.
#include <cstring>
#include <functional>
#include <string>

#include "kernels/dequant_kernels.h"
#include "runtime/aligned_buffer.h"
#include "tmac/dequant.h"
#include "tmac/error.h"
#include "tmac/thread_pool.h"

namespace tmac {

namespace kernels {

// Builds for one architecture compile only its kernels; the others report absence.
#if !TMAC_HAVE_X86
const DequantKernelSet* Avx2DequantKernels() { return nullptr; }
const DequantKernelSet* Avx512DequantKernels() { return nullptr; }
#endif
#if !TMAC_HAVE_NEON
const DequantKernelSet* NeonDequantKernels() { return nullptr; }
#endif

const DequantKernelSet& DequantKernelsFor(Isa isa) {
  Require(IsaSupported(isa), std::string("ISA ") + IsaName(isa) + " is not supported on this machine");
  switch (isa) {
    case Isa::kAvx2: return *Avx2DequantKernels();
    case Isa::kAvx512:
    case Isa::kAvx512Vnni: return *Avx512DequantKernels();  // VBMI/VNNI add nothing to FMA
    case Isa::kNeon: return *NeonDequantKernels();
    case Isa::kScalar: break;
  }
  return *ScalarDequantKernels();
}

}  // namespace kernels

namespace {

// Rows are handed to threads in multiples of this (a multiple of every kernel's row block).
constexpr int64_t kRowUnit = 8;

// The kernels' activations for one row x (see DequantActivations): per plane, x times the power
// of two that undoes its field's bit position, and the sum over each group.
void PrepareActivations(const float* x, int64_t cols, int bits, int group, bool symmetric, float* scaled,
                        float* sums) {
  const kernels::DequantPlanes& planes = kernels::kDequantPlanes[bits];
  for (int p = 0; p < planes.count; ++p) {
    const kernels::DequantPlane& plane = planes.plane[p];
    float factor[16];
    for (int i = 0; i < 16; ++i) {
      // 2^(shift - field bit), exact: the exponent is in [-15, 2].
      const int e = plane.shift - kernels::DequantFieldBit(plane.width, i);
      factor[i] = e >= 0 ? static_cast<float>(1 << e) : 1.f / static_cast<float>(1 << -e);
    }
    float* out = scaled + p * cols;
    for (int64_t k = 0; k < cols; k += 16) {
      for (int i = 0; i < 16; ++i) out[k + i] = x[k + i] * factor[i];
    }
  }
  for (int64_t g = 0; g < cols / group; ++g) {
    const float* xg = x + g * group;
    // Eight running sums, then a fixed tree: quick and deterministic.
    float lanes[8] = {};
    for (int k = 0; k < group; k += 8) {
      for (int i = 0; i < 8; ++i) lanes[i] = lanes[i] + xg[k + i];
    }
    const float sum = ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
    sums[g] = symmetric ? -0.5f * static_cast<float>((1 << bits) - 1) * sum : sum;
  }
}

}  // namespace

void DequantMatmul(const DequantMatrix& w, const float* x, int64_t batch, float* y, const MatmulOptions& options) {
  Require(w.data() != nullptr, "matrix product with an empty DequantMatrix");
  Require(batch >= 1, "batch must be at least 1, got " + std::to_string(batch));
  Require(x != nullptr && y != nullptr, "null activations or output");
  const auto& ks = kernels::DequantKernelsFor(options.isa);

  const int64_t cols = w.cols();
  const int64_t groups = cols / w.group();
  const int planes = kernels::kDequantPlanes[w.bits()].count;
  const int64_t x_stride = planes * cols;
  const auto buffer = AllocateAligned(static_cast<size_t>(batch * (x_stride + groups)) * sizeof(float));
  float* scaled = reinterpret_cast<float*>(buffer.get());
  float* sums = scaled + batch * x_stride;
  for (int64_t n = 0; n < batch; ++n) {
    PrepareActivations(x + n * cols, cols, w.bits(), w.group(), w.symmetric(), scaled + n * x_stride,
                       sums + n * groups);
  }

  kernels::DequantWeights view;
  view.data = w.data();
  view.rows = w.rows();
  view.cols = cols;
  view.groups = groups;
  view.bits = w.bits();
  view.group = w.group();
  view.has_zero = !w.symmetric();
  view.code_bytes = w.group() / kernels::kDequantBlock * kernels::DequantBlockBytes(w.bits());
  view.group_bytes = w.row_bytes() / groups;
  view.row_bytes = w.row_bytes();
  const kernels::DequantActivations acts{scaled, sums, batch, x_stride};

  const int64_t units = (w.rows() + kRowUnit - 1) / kRowUnit;
  const std::function<void(int64_t, int64_t)> run = [&](int64_t begin, int64_t end) {
    const int64_t row_end = end * kRowUnit < w.rows() ? end * kRowUnit : w.rows();
    ks.matmul_rows(view, acts, begin * kRowUnit, row_end, y);
  };
  ThreadPool::RunOn(options.pool, units, run);
}

}  // namespace tmac
