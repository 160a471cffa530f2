// llama.cpp's arithmetic (src/model/llama_cpp_numerics.h): each function against a plain double
// reference, and known answers that only the order ggml sums in gives. That the whole forward
// pass equals llama.cpp's bit for bit is checked against llama.cpp itself
// (tests/oracle/llama_conformance.py, ctest llama_conformance_smollm2_exact).
#include "model/llama_cpp_numerics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "expect_error.h"
#include "formats/half.h"
#include "tmac/thread_pool.h"

namespace tmac::llama_cpp {
namespace {

constexpr float k2p24 = 16777216.0f;  // 2^24: adding 1 to it rounds back to it

std::vector<float> RandomFloats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(QuantizeQ8_1, ScalesByAbsmaxRoundsHalfToEvenAndRecordsTheSum) {
  std::vector<float> x(64, 0.0f);
  x[0] = -127.0f;  // absmax 127: d = 1, the values are their own codes
  x[1] = 2.5f;     // ties go to even
  x[2] = 3.5f;
  x[3] = -0.5f;
  for (int i = 32; i < 64; ++i) x[i] = 0.01f * static_cast<float>(i - 40);
  Q8_1Block blocks[2];
  QuantizeQ8_1(x.data(), 64, blocks);
  EXPECT_EQ(blocks[0].d, 1.0f);
  EXPECT_EQ(blocks[0].q[0], -127);
  EXPECT_EQ(blocks[0].q[1], 2);
  EXPECT_EQ(blocks[0].q[2], 4);
  EXPECT_EQ(blocks[0].q[3], 0);
  EXPECT_EQ(blocks[0].s, -121.0f);  // d * (-127 + 2 + 4)
  const float max = 0.23f;          // |x[63]|
  EXPECT_EQ(blocks[1].d, RoundToHalf(max / 127.0f));
  int sum = 0;
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(blocks[1].q[i], static_cast<int>(std::nearbyint(x[32 + i] * (127.0f / max)))) << i;
    sum += blocks[1].q[i];
  }
  EXPECT_EQ(blocks[1].s, RoundToHalf(max / 127.0f * static_cast<float>(sum)));
}

TEST(QuantizeQ8_1, ZeroBlockAndBadLength) {
  std::vector<float> zeros(32, 0.0f);
  Q8_1Block block;
  QuantizeQ8_1(zeros.data(), 32, &block);
  EXPECT_EQ(block.d, 0.0f);
  EXPECT_EQ(block.s, 0.0f);
  for (int8_t q : block.q) EXPECT_EQ(q, 0);
  testing::ExpectError([&] { QuantizeQ8_1(zeros.data(), 31, &block); }, "whole blocks of 32");
}

// A Q4_1 row and Q8_1 activations with random codes and f16 scales.
struct DotCase {
  std::vector<Q4_1Block> w;
  std::vector<Q8_1Block> x;
};

DotCase RandomDotCase(int blocks, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, 15), act(-127, 127);
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  DotCase c{std::vector<Q4_1Block>(static_cast<size_t>(blocks)),
            std::vector<Q8_1Block>(static_cast<size_t>(blocks))};
  for (int b = 0; b < blocks; ++b) {
    Q4_1Block& w = c.w[static_cast<size_t>(b)];
    Q8_1Block& x = c.x[static_cast<size_t>(b)];
    w.d = RoundToHalf(scale(rng));
    w.m = RoundToHalf(-8.0f * scale(rng));
    x.d = RoundToHalf(scale(rng));
    int sum = 0;
    for (int i = 0; i < kBlock; ++i) {
      w.q[i] = static_cast<uint8_t>(code(rng));
      x.q[i] = static_cast<int8_t>(act(rng));
      sum += x.q[i];
    }
    x.s = RoundToHalf(x.d * static_cast<float>(sum));
  }
  return c;
}

TEST(DotQ4_1Q8_1, EqualsTheDecodedProductToRounding) {
  const DotCase c = RandomDotCase(48, 7);
  double want = 0.0;
  for (size_t b = 0; b < c.w.size(); ++b) {
    for (int i = 0; i < kBlock; ++i) {
      want += (static_cast<double>(c.w[b].d) * c.w[b].q[i]) * (static_cast<double>(c.x[b].d) * c.x[b].q[i]);
    }
    want += static_cast<double>(c.w[b].m) * c.x[b].s;  // m * d * sum(q), with s rounded as stored
  }
  const float got = DotQ4_1Q8_1(c.w.data(), c.x.data(), 48);
  EXPECT_NEAR(got, want, 1e-5 * (1.0 + std::fabs(want)));
}

TEST(DotQ4_1Q8_1, SumsEightLanesOfFourPairwise) {
  // Block 0, scale 2^20: lane 0 (weights 0-3) sums 16 -> 2^24, lane 1 (weights 4-7) -16 -> -2^24.
  // Block 1, scale 1: lane 4 (weight 16) sums 1. hsum_float_8 adds lane 4 to lane 0 first, where
  // the 1 is lost: 0. In weight order the 1 would survive: 1.
  Q4_1Block w[2] = {};
  Q8_1Block x[2] = {};
  w[0].d = x[0].d = 1024.0f;
  for (int i = 0; i < 4; ++i) {
    w[0].q[i] = 4;
    x[0].q[i] = 1;
    w[0].q[4 + i] = 4;
    x[0].q[4 + i] = -1;
  }
  w[1].d = x[1].d = 1.0f;
  w[1].q[16] = 1;
  x[1].q[16] = 1;
  EXPECT_EQ(DotQ4_1Q8_1(w, x, 2), 0.0f);
  // The mins come last, after the lanes: m * s of both blocks.
  w[0].m = 0.5f;
  x[0].s = 2.0f;
  EXPECT_EQ(DotQ4_1Q8_1(w, x, 2), 1.0f);
}

TEST(Q4_1Matrix, MultipliesEveryRowOnAnyPool) {
  constexpr int64_t kRows = 37, kCols = 96, kBatch = 3;
  QuantMatrix q;
  q.rows = kRows;
  q.cols = kCols;
  q.bits = 4;
  q.group = 32;
  std::mt19937 rng(11);
  for (int64_t i = 0; i < kRows * kCols; ++i) q.codes.push_back(static_cast<uint8_t>(rng() % 16));
  for (int64_t i = 0; i < kRows * 3; ++i) {
    q.scales.push_back(RoundToHalf(0.01f + 0.001f * static_cast<float>(i % 7)));
    q.mins.push_back(RoundToHalf(0.05f * static_cast<float>(i % 5)));
  }
  const Q4_1Matrix m = Q4_1Matrix::FromQuant(q, "test");
  const std::vector<float> act = RandomFloats(kBatch * kCols, 5);
  std::vector<Q8_1Block> x(kBatch * kCols / kBlock);
  QuantizeQ8_1(act.data(), kBatch * kCols, x.data());
  std::vector<float> y(kBatch * kRows), y2(kBatch * kRows);
  m.Multiply(x.data(), kBatch, y.data(), nullptr);
  ThreadPool pool(2);
  m.Multiply(x.data(), kBatch, y2.data(), &pool);
  EXPECT_EQ(y, y2);
  for (int64_t r = 0; r < kRows; ++r) {
    Q4_1Block row[3];
    for (int g = 0; g < 3; ++g) {
      row[g].d = q.scales[static_cast<size_t>(r * 3 + g)];
      row[g].m = -q.mins[static_cast<size_t>(r * 3 + g)];
      for (int i = 0; i < kBlock; ++i) row[g].q[i] = q.code(r, g * kBlock + i);
    }
    for (int64_t n = 0; n < kBatch; ++n) {
      EXPECT_EQ(y[static_cast<size_t>(n * kRows + r)], DotQ4_1Q8_1(row, x.data() + n * 3, 3))
          << r << " " << n;
    }
  }
}

TEST(Q4_1Matrix, RejectsOtherFormsNamingTheTensor) {
  QuantMatrix q;
  q.rows = 1;
  q.cols = 32;
  q.bits = 4;
  q.group = 32;
  q.codes.assign(32, 0);
  q.scales.assign(1, 1.0f);  // symmetric: Q4_0's form, not Q4_1's
  testing::ExpectError([&] { Q4_1Matrix::FromQuant(q, "blk.3.attn_q.weight"); },
                       "blk.3.attn_q.weight is not Q4_1");
  q.mins.assign(1, 0.0f);
  q.bits = 3;
  testing::ExpectError([&] { Q4_1Matrix::FromQuant(q, "w"); }, "3-bit");
}

TEST(Exp, IsWithinThreeUlpOfExpAndSaturates) {
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    const float got = Exp(x);
    const double ulp = std::ldexp(1.0, std::ilogb(want) - 23);
    EXPECT_LE(std::fabs(got - want), 3 * ulp) << x;  // ggml: 1.45 ulp + 0.5 of rounding
  }
  EXPECT_EQ(Exp(0.0f), 1.0f);
  EXPECT_EQ(Exp(-std::numeric_limits<float>::infinity()), 0.0f);  // masked attention scores
  EXPECT_EQ(Exp(-200.0f), 0.0f);
  EXPECT_EQ(Exp(200.0f), std::numeric_limits<float>::infinity());
  EXPECT_GT(Exp(-100.0f), 0.0f);  // subnormal, not flushed
}

TEST(Silu, IsXTimesTheLogistic) {
  for (float x = -20.0f; x <= 20.0f; x += 0.25f) {
    const double want = x / (1.0 + std::exp(-static_cast<double>(x)));
    EXPECT_NEAR(Silu(x), want, 1e-6 * (1.0 + std::fabs(want))) << x;
  }
  const std::vector<float> gate = RandomFloats(40, 3), up = RandomFloats(40, 4);
  std::vector<float> out(40);
  SwiGlu(gate.data(), up.data(), 40, out.data());
  for (int i = 0; i < 40; ++i) {
    EXPECT_NEAR(out[static_cast<size_t>(i)], Silu(gate[static_cast<size_t>(i)]) * up[static_cast<size_t>(i)],
                1e-6)
        << i;  // the last 8 through expf
  }
}

TEST(Sum16, AddsHalvesThenQuartersThenPairs) {
  float v[16] = {};
  v[0] = k2p24;
  v[8] = 1.0f;  // meets v[0] first and is lost
  v[4] = -k2p24;
  EXPECT_EQ(Sum16(v), 0.0f);
  float w[16] = {};
  w[0] = k2p24;
  w[1] = 1.0f;  // reaches the sum after w[0] and w[4] have cancelled: kept
  w[4] = -k2p24;
  EXPECT_EQ(Sum16(w), 1.0f);
}

TEST(Dot, BatchAndSingleOrdersDifferAsTinyBlasAndVecDot) {
  // 64 values: tinyBLAS runs one 16-lane accumulator through x[0], x[16], x[32] in order (the 1
  // is lost against 2^24); ggml_vec_dot_f16 keeps four accumulators and adds the first to the third.
  std::vector<float> x(64, 0.0f), y(64, 1.0f);
  x[0] = k2p24;
  x[16] = 1.0f;
  x[32] = -k2p24;
  EXPECT_EQ(Dot(x.data(), y.data(), 64, DotOrder::kBatch), 0.0f);
  EXPECT_EQ(Dot(x.data(), y.data(), 64, DotOrder::kSingle), 1.0f);
  testing::ExpectError([&] { Dot(x.data(), y.data(), 40, DotOrder::kBatch); }, "whole vectors of 16");
}

TEST(Dot, EqualsTheDoubleDotToRounding) {
  for (int64_t n : {16, 64, 80, 256, 517}) {
    const std::vector<float> x = RandomFloats(static_cast<size_t>(n), 1),
                             y = RandomFloats(static_cast<size_t>(n), 2);
    double want = 0.0;
    for (int64_t i = 0; i < n; ++i)
      want += static_cast<double>(x[static_cast<size_t>(i)]) * y[static_cast<size_t>(i)];
    EXPECT_NEAR(Dot(x.data(), y.data(), n, DotOrder::kSingle), want, 1e-4) << n;
    if (n % 16 == 0) {
      EXPECT_NEAR(Dot(x.data(), y.data(), n, DotOrder::kBatch), want, 1e-4) << n;
    }
  }
}

TEST(SoftMax, ScalesMasksAndNormalizes) {
  for (int64_t n_kv : {256, 40}) {  // whole vectors of 16, and a tail through expf
    const int64_t valid = 23;
    std::vector<float> x = RandomFloats(static_cast<size_t>(n_kv), 9, 4.0f);
    const std::vector<float> in = x;
    SoftMax(x.data(), n_kv, valid, 0.125f);
    double norm = 0.0;
    for (int64_t i = 0; i < valid; ++i) norm += std::exp(0.125 * in[static_cast<size_t>(i)]);
    for (int64_t i = 0; i < n_kv; ++i) {
      if (i < valid) {
        EXPECT_NEAR(x[static_cast<size_t>(i)], std::exp(0.125 * in[static_cast<size_t>(i)]) / norm, 1e-6)
            << i;
      } else {
        EXPECT_EQ(x[static_cast<size_t>(i)], 0.0f) << i;
      }
    }
  }
}

TEST(KvSpan, PadsToWholeCellsOf256WithinTheCache) {
  EXPECT_EQ(KvSpan(512, 5), 256);
  EXPECT_EQ(KvSpan(512, 256), 256);
  EXPECT_EQ(KvSpan(512, 257), 512);
  EXPECT_EQ(KvSpan(64, 5), 256);  // llama.cpp's cache itself is padded to 256 cells
  EXPECT_EQ(KvSpan(4096, 700), 768);
}

}  // namespace
}  // namespace tmac::llama_cpp
