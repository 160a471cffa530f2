#include "tmac/ggml_matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "expect_error.h"
#include "formats/ggml_blocks.h"
#include "formats/half.h"
#include "kernels/ggml_matmul_kernels.h"
#include "reference.h"
#include "tmac/thread_pool.h"

namespace tmac {
namespace {

struct Case {
  GgmlType type;
  int64_t rows, cols, batch;
};

std::string Name(const Case& c) {
  return GgmlTypeName(c.type) + "_m" + std::to_string(c.rows) + "_k" + std::to_string(c.cols) + "_n" +
         std::to_string(c.batch);
}

// Readable parameters in test logs (gtest would dump the struct's bytes, padding included).
void PrintTo(const Case& c, std::ostream* os) { *os << Name(c); }

// Byte offsets of a block's f16 scale fields (d, and m or dmin where the type has one).
std::vector<size_t> ScaleOffsets(GgmlType type) {
  using namespace ggml;
  switch (type) {
    case GgmlType::kQ4_0: return {offsetof(BlockQ4_0, d)};
    case GgmlType::kQ4_1: return {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)};
    case GgmlType::kQ5_0: return {offsetof(BlockQ5_0, d)};
    case GgmlType::kQ5_1: return {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)};
    case GgmlType::kQ8_0: return {offsetof(BlockQ8_0, d)};
    case GgmlType::kQ2_K: return {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)};
    case GgmlType::kQ3_K: return {offsetof(BlockQ3_K, d)};
    case GgmlType::kQ4_K: return {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)};
    case GgmlType::kQ5_K: return {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)};
    case GgmlType::kQ6_K: return {offsetof(BlockQ6_K, d)};
    case GgmlType::kTQ1_0: return {offsetof(BlockTQ1_0, d)};
    case GgmlType::kTQ2_0: return {offsetof(BlockTQ2_0, d)};
    default: return {};
  }
}

// A random rows x cols tensor of `type`: random code bytes, with every f16 scale a finite value of
// either sign in [1e-3, 0.1) so the weights stay moderate; F32/F16/BF16 hold values in (-1, 1).
std::vector<uint8_t> RandomTensor(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t bytes = rows * GgmlRowBytes(type, cols);
  std::vector<uint8_t> data(static_cast<size_t>(bytes));
  std::uniform_real_distribution<float> value(-1.f, 1.f), magnitude(1e-3f, 0.1f);
  const auto put16 = [&](size_t at, uint16_t v) { std::memcpy(data.data() + at, &v, sizeof(v)); };
  switch (type) {
    case GgmlType::kF32:
      for (size_t i = 0; i < data.size(); i += 4) {
        const float v = value(rng);
        std::memcpy(data.data() + i, &v, sizeof(v));
      }
      return data;
    case GgmlType::kF16:
      for (size_t i = 0; i < data.size(); i += 2) put16(i, FloatToHalf(value(rng)));
      return data;
    case GgmlType::kBF16:
      for (size_t i = 0; i < data.size(); i += 2) {
        const float v = value(rng);
        uint32_t bits;
        std::memcpy(&bits, &v, sizeof(bits));
        put16(i, static_cast<uint16_t>(bits >> 16));
      }
      return data;
    default: break;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : data) b = static_cast<uint8_t>(byte(rng));
  const size_t block_bytes = static_cast<size_t>(GgmlBlock(type).type_size);
  for (size_t block = 0; block < data.size(); block += block_bytes) {
    for (size_t offset : ScaleOffsets(type)) {
      const float s = magnitude(rng) * (byte(rng) % 2 ? 1.f : -1.f);
      put16(block + offset, FloatToHalf(s));
    }
  }
  return data;
}

// W as DecodeRow gives it: the definition every product is checked against.
std::vector<float> Decoded(const GgmlMatrixView& w) {
  std::vector<float> out(static_cast<size_t>(w.rows * w.cols));
  const int64_t row_bytes = GgmlRowBytes(w.type, w.cols);
  for (int64_t m = 0; m < w.rows; ++m) DecodeRow(w.type, w.data + m * row_bytes, w.cols, out.data() + m * w.cols);
  return out;
}

constexpr double kUnit = 0x1p-24;  // float rounding unit

// The allowed error of output (n, m), derived:
// * Float path: every product and sum rounds once (less with FMA), in an order of cols + 2
//   operations at most deep, so |error| <= (cols + 2) u sum_k |w_k x_k|.
// * Q8_0: x_k is replaced by dx_b q_k for its 32-block b, with s = max|x| / 127 computed in
//   float, q = round(x * (1 / s)) (off from x / s by 1/2 plus 3 roundings of a value <= 127, i.e.
//   127 * 3u) and dx = s rounded to f16 (relative 2^-11, |q| <= 127), so
//       |x_k - dx_b q_k| <= s_b (1/2 + 381 u + 127 * 2^-11) < 0.5625 s_b.
//   The block's integer sum is exact; its float epilogue (dw * dx, times the sum, added to a
//   running sum over the blocks) adds (blocks + 3) u of sum |w_k dx q_k|.
double Bound(GgmlType type, const float* w, const float* x, int64_t cols) {
  double abs_dot = 0, quantization = 0;
  for (int64_t k = 0; k < cols; ++k) abs_dot += std::fabs(static_cast<double>(w[k]) * x[k]);
  if (type != GgmlType::kQ8_0) return (cols + 2) * kUnit * abs_dot + 1e-30;
  for (int64_t b = 0; b < cols / 32; ++b) {
    double amax = 0, abs_w = 0;
    for (int64_t k = 32 * b; k < 32 * (b + 1); ++k) {
      amax = std::max(amax, std::fabs(static_cast<double>(x[k])));
      abs_w += std::fabs(static_cast<double>(w[k]));
    }
    quantization += 0.5625 * amax / 127 * abs_w;
  }
  return quantization + (cols / 32 + 3) * kUnit * (abs_dot + quantization) * 1.01 + 1e-30;
}

class GgmlMatmulTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case c = GetParam();
    const uint32_t seed = static_cast<uint32_t>(c.type) * 1000 + static_cast<uint32_t>(c.rows + c.cols);
    data_ = RandomTensor(c.type, c.rows, c.cols, seed);
    w_ = {c.type, c.rows, c.cols, data_.data()};
    decoded_ = Decoded(w_);
    x_ = testing::RandomVector(c.batch * c.cols, seed + 1);
  }
  std::vector<float> Run(Isa isa, ThreadPool* pool = nullptr) const {
    std::vector<float> y(static_cast<size_t>(GetParam().batch * GetParam().rows), -1.f);
    MatmulOptions options;
    options.isa = isa;
    options.pool = pool;
    GgmlMatmul(w_, x_.data(), GetParam().batch, y.data(), options);
    return y;
  }

  std::vector<uint8_t> data_;
  GgmlMatrixView w_{};
  std::vector<float> decoded_, x_;
};

TEST_P(GgmlMatmulTest, EveryIsaStaysWithinTheDerivedBoundOfTheDoubleReference) {
  const Case c = GetParam();
  for (Isa isa : SupportedIsas()) {
    const std::vector<float> y = Run(isa);
    for (int64_t n = 0; n < c.batch; ++n) {
      const float* x = x_.data() + n * c.cols;
      for (int64_t m = 0; m < c.rows; ++m) {
        const float* w = decoded_.data() + m * c.cols;
        double ref = 0;
        for (int64_t k = 0; k < c.cols; ++k) ref += static_cast<double>(w[k]) * x[k];
        ASSERT_NEAR(y[static_cast<size_t>(n * c.rows + m)], ref, Bound(c.type, w, x, c.cols))
            << IsaName(isa) << " row " << m << " vector " << n;
      }
    }
  }
}

TEST_P(GgmlMatmulTest, ThreadCountDoesNotChangeTheBits) {
  ThreadPool two(2), three(3);
  for (Isa isa : SupportedIsas()) {
    const std::vector<float> expected = Run(isa);
    EXPECT_EQ(Run(isa, &two), expected) << IsaName(isa) << " on 2 threads";
    EXPECT_EQ(Run(isa, &three), expected) << IsaName(isa) << " on 3 threads";
  }
}

// Each (row, vector) pair sees the same operations in any tile, so a prompt's vectors multiplied
// together (prefill) give the bits they give one at a time (decode).
TEST_P(GgmlMatmulTest, VectorsAloneGiveTheBitsOfTheBatch) {
  const Case c = GetParam();
  for (Isa isa : SupportedIsas()) {
    const std::vector<float> together = Run(isa);
    MatmulOptions options;
    options.isa = isa;
    for (int64_t n = 0; n < c.batch; n += std::max<int64_t>(1, c.batch / 4)) {
      std::vector<float> alone(static_cast<size_t>(c.rows));
      GgmlMatmul(w_, x_.data() + n * c.cols, 1, alone.data(), options);
      ASSERT_EQ(0, std::memcmp(alone.data(), together.data() + n * c.rows, alone.size() * sizeof(float)))
          << IsaName(isa) << " vector " << n;
    }
  }
}

TEST_P(GgmlMatmulTest, GetRowIsDecodeRow) {
  const Case c = GetParam();
  std::vector<float> row(static_cast<size_t>(c.cols));
  for (int64_t m : {int64_t{0}, c.rows - 1}) {
    GgmlGetRow(w_, m, row.data());
    EXPECT_EQ(0, std::memcmp(row.data(), decoded_.data() + m * c.cols, row.size() * sizeof(float))) << "row " << m;
  }
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  // Plain floats: padded (37) and unpadded (64) rows; batches 1, a partial tile and more.
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    for (int64_t cols : {37, 64}) {
      for (int64_t batch : {1, 3, 9}) cases.push_back({type, 37, cols, batch});
    }
  }
  // Q8_0 (integer path) on odd shapes, and everything else DecodeRow decodes.
  for (int64_t batch : {1, 2, 5}) cases.push_back({GgmlType::kQ8_0, 37, 96, batch});
  cases.push_back({GgmlType::kQ8_0, 1, 32, 1});
  for (GgmlType type : {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1}) {
    for (int64_t batch : {1, 3}) cases.push_back({type, 21, 96, batch});
  }
  for (GgmlType type : {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K,
                        GgmlType::kTQ1_0, GgmlType::kTQ2_0}) {
    for (int64_t batch : {1, 3}) cases.push_back({type, 19, 512, batch});
  }
  // Wide rows: several decode blocks and batch blocks per thread (GEMM decodes 16 rows of 4096
  // floats at a time and takes 64 vectors of them per pass), and the Q8_0 GEMV's prefetch.
  cases.push_back({GgmlType::kF16, 37, 4096, 70});
  cases.push_back({GgmlType::kQ6_K, 21, 4096, 66});
  cases.push_back({GgmlType::kQ8_0, 40, 4096, 1});
  cases.push_back({GgmlType::kQ8_0, 21, 4096, 230});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, GgmlMatmulTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return Name(info.param); });

// Q8_0 against its own definition: the activations quantized as llama.cpp's quantize_row_q8_0
// does, then sum over blocks of (dw * dx) * (integer dot product). Evaluated in double, it leaves
// only the kernels' float epilogue, (blocks + 3) u of the sum of |terms|: a much tighter check
// than the double reference on the unquantized activations.
TEST(GgmlMatmulQ8, MatchesLlamaCppActivationQuantization) {
  const int64_t rows = 13, cols = 256, batch = 2;
  const std::vector<uint8_t> data = RandomTensor(GgmlType::kQ8_0, rows, cols, 7);
  const GgmlMatrixView w{GgmlType::kQ8_0, rows, cols, data.data()};
  std::vector<float> x = testing::RandomVector(batch * cols, 8);
  for (int k = 0; k < 32; ++k) x[static_cast<size_t>(32 + k)] = 0.f;  // an all-zero block: scale 0
  std::vector<double> expected(static_cast<size_t>(batch * rows)), magnitude(expected.size());
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t b = 0; b < cols / 32; ++b) {
      const float* xb = x.data() + n * cols + 32 * b;
      float amax = 0.f;
      for (int k = 0; k < 32; ++k) amax = std::max(amax, std::fabs(xb[k]));
      const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
      const double dx = HalfToFloat(FloatToHalf(d));
      for (int64_t m = 0; m < rows; ++m) {
        const uint8_t* block = data.data() + m * GgmlRowBytes(GgmlType::kQ8_0, cols) + 34 * b;
        uint16_t dw;
        std::memcpy(&dw, block, sizeof(dw));
        int64_t dot = 0;
        for (int k = 0; k < 32; ++k) dot += static_cast<int8_t>(block[2 + k]) * static_cast<int>(std::round(xb[k] * id));
        const double term = HalfToFloat(dw) * dx * static_cast<double>(dot);
        expected[static_cast<size_t>(n * rows + m)] += term;
        magnitude[static_cast<size_t>(n * rows + m)] += std::fabs(term);
      }
    }
  }
  ThreadPool two(2);
  for (Isa isa : SupportedIsas()) {
    std::vector<float> y(expected.size());
    MatmulOptions options;
    options.isa = isa;
    options.pool = &two;
    GgmlMatmul(w, x.data(), batch, y.data(), options);
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_NEAR(y[i], expected[i], (cols / 32 + 3) * kUnit * magnitude[i] + 1e-30) << IsaName(isa) << " output " << i;
    }
  }
}

// Infinite and NaN activations make meaningless outputs but no undefined behaviour (the
// sanitizer build checks the int8 conversion of the Q8_0 activations); rows whose weights meet
// only finite activations stay exact.
TEST(GgmlMatmulQ8, NonFiniteActivationsAreNotUndefined) {
  const int64_t rows = 4, cols = 64;
  const std::vector<uint8_t> data = RandomTensor(GgmlType::kQ8_0, rows, cols, 5);
  std::vector<float> x(2 * cols, 0.25f);
  x[3] = std::numeric_limits<float>::infinity();
  x[40] = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : SupportedIsas()) {
    MatmulOptions options;
    options.isa = isa;
    std::vector<float> y(2 * rows);
    GgmlMatmul({GgmlType::kQ8_0, rows, cols, data.data()}, x.data(), 2, y.data(), options);
    for (int64_t m = 0; m < rows; ++m) {
      EXPECT_TRUE(std::isnan(y[static_cast<size_t>(m)])) << IsaName(isa);  // inf * 0 in block 0
      EXPECT_TRUE(std::isfinite(y[static_cast<size_t>(rows + m)])) << IsaName(isa);
    }
  }
}

// The kernels' own K-quant decoders (Q6_K is the output head of most models) against DecodeRow,
// bit for bit, on every ISA.
TEST(GgmlMatmulKQuants, KernelDecodersAreDecodeRow) {
  const int64_t cols = 256 * 5;
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    const std::vector<uint8_t> data = RandomTensor(type, 1, cols, 11);
    std::vector<float> expected(static_cast<size_t>(cols)), decoded(expected.size());
    DecodeRow(type, data.data(), cols, expected.data());
    for (Isa isa : SupportedIsas()) {
      const kernels::GgmlKernelSet& ks = kernels::GgmlKernelsFor(isa);
      const auto decode = type == GgmlType::kQ4_K ? ks.decode_q4_k : type == GgmlType::kQ5_K ? ks.decode_q5_k : ks.decode_q6_k;
      decode(data.data(), cols / 256, decoded.data());
      EXPECT_EQ(0, std::memcmp(decoded.data(), expected.data(), decoded.size() * sizeof(float)))
          << GgmlTypeName(type) << " " << IsaName(isa);
    }
  }
}

// F32 rows are read straight from the tensor at any alignment.
TEST(GgmlMatmulF32, MisalignedDataGivesTheSameResult) {
  const int64_t rows = 5, cols = 32;
  const std::vector<uint8_t> data = RandomTensor(GgmlType::kF32, rows, cols, 3);
  std::vector<uint8_t> shifted(data.size() + 1);
  std::memcpy(shifted.data() + 1, data.data(), data.size());
  const std::vector<float> x = testing::RandomVector(cols, 4);
  for (Isa isa : SupportedIsas()) {
    MatmulOptions options;
    options.isa = isa;
    std::vector<float> aligned(rows), misaligned(rows);
    GgmlMatmul({GgmlType::kF32, rows, cols, data.data()}, x.data(), 1, aligned.data(), options);
    GgmlMatmul({GgmlType::kF32, rows, cols, shifted.data() + 1}, x.data(), 1, misaligned.data(), options);
    EXPECT_EQ(aligned, misaligned) << IsaName(isa);
  }
}

TEST(GgmlMatmul, SupportsExactlyTheDecodedTypes) {
  for (const GgmlTypeInfo& info : GgmlTypes()) {
    bool decodes = true;
    try {
      GgmlBlock(info.type);
    } catch (const Error&) {
      decodes = false;
    }
    EXPECT_EQ(GgmlMatmulSupports(info.type), decodes) << info.name;
  }
  EXPECT_TRUE(GgmlMatmulSupports(GgmlType::kQ6_K));
  EXPECT_TRUE(GgmlMatmulSupports(GgmlType::kBF16));
  EXPECT_FALSE(GgmlMatmulSupports(GgmlType::kIQ2_XXS));
  EXPECT_FALSE(GgmlMatmulSupports(GgmlType::kTmacLut));
}

TEST(GgmlMatmul, RejectsBadArguments) {
  const std::vector<uint8_t> data = RandomTensor(GgmlType::kQ8_0, 2, 64, 1);
  const GgmlMatrixView w{GgmlType::kQ8_0, 2, 64, data.data()};
  std::vector<float> x(64 * 2), y(4);
  using testing::ExpectError;
  ExpectError([&] { GgmlMatmul({GgmlType::kIQ2_XXS, 2, 256, data.data()}, x.data(), 1, y.data()); },
              "unsupported ggml tensor type IQ2_XXS");
  ExpectError([&] { GgmlMatmul({GgmlType::kQ8_0, 2, 40, data.data()}, x.data(), 1, y.data()); },
              "not a whole number of 32-weight blocks");
  ExpectError([&] { GgmlMatmul({GgmlType::kQ8_0, 0, 64, data.data()}, x.data(), 1, y.data()); }, "at least 1");
  ExpectError([&] { GgmlMatmul({GgmlType::kQ8_0, 2, 64, nullptr}, x.data(), 1, y.data()); }, "without data");
  ExpectError([&] { GgmlMatmul(w, x.data(), 0, y.data()); }, "batch must be at least 1");
  ExpectError([&] { GgmlMatmul(w, nullptr, 1, y.data()); }, "null activations");
  ExpectError([&] { GgmlGetRow(w, 2, y.data()); }, "row 2 out of range");
  ExpectError([&] { GgmlGetRow(w, -1, y.data()); }, "out of range");
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni, Isa::kNeon}) {
    if (IsaSupported(isa)) continue;
    MatmulOptions options;
    options.isa = isa;
    ExpectError([&] { GgmlMatmul(w, x.data(), 1, y.data(), options); }, "not supported on this machine");
  }
}

}  // namespace
}  // namespace tmac
