#include "model/llama_cpp_numerics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "formats/half.h"
#include "tmac/error.h"
#include "tmac/thread_pool.h"
#include "util/str_cat.h"

namespace tmac::llama_cpp {
namespace {

// The hot loops are compiled twice on x86-64, for FMA (with AVX) and for the baseline, and the CPU
// picks at load: std::fma is one instruction with FMA and a libm call without. Both give the
// same bits, since every operation here is a single IEEE one whatever the instruction set.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TMAC_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define TMAC_FMA_CLONES
#endif
#define TMAC_INLINE inline __attribute__((always_inline))

// hsum_float_8: the upper four lanes added to the lower four, then pairs, then the two left.
float Sum8(const float* v) {
  const float a0 = v[0] + v[4], a1 = v[1] + v[5], a2 = v[2] + v[6], a3 = v[3] + v[7];
  return (a0 + a2) + (a1 + a3);
}

}  // namespace

void QuantizeQ8_1(const float* x, int64_t n, Q8_1Block* out) {
  if (n % kBlock != 0) throw Error(StrCat("Q8_1 rows are whole blocks of 32; got ", n, " values"));
  for (int64_t b = 0; b < n / kBlock; ++b) {
    const float* v = x + b * kBlock;
    float max = 0.f;  // a max over |v| in any order: max is exact
    for (int i = 0; i < kBlock; ++i) max = std::max(max, std::fabs(v[i]));
    const float d = max / 127.f;
    const float id = max != 0.f ? 127.f / max : 0.f;
    Q8_1Block& block = out[b];
    int sum = 0;
    for (int i = 0; i < kBlock; ++i) {
      // Round half to even; the clamp changes nothing for finite activations (|v * id| <= 127)
      // and keeps a NaN or inf from a broken model out of the int conversion.
      const int q = static_cast<int>(std::fmin(std::fmax(std::nearbyint(v[i] * id), -127.f), 127.f));
      block.q[i] = static_cast<int8_t>(q);
      sum += q;
    }
    block.d = RoundToHalf(d);
    block.s = RoundToHalf(d * static_cast<float>(sum));  // the unrounded d, as ggml
  }
}

namespace {

TMAC_INLINE float DotBlocks(const Q4_1Block* w, const Q8_1Block* x, int64_t blocks) {
  float lanes[8] = {};
  float mins = 0.f;
  for (int64_t b = 0; b < blocks; ++b) {
    const float scale = w[b].d * x[b].d;
    mins = std::fma(w[b].m, x[b].s, mins);
    // Products fit int16 (15 * 127); the lanes' integer sums are exact in any order. Written as
    // three flat loops, so that each vectorizes.
    int16_t products[kBlock];
    for (int i = 0; i < kBlock; ++i) products[i] = static_cast<int16_t>(w[b].q[i] * x[b].q[i]);
    int32_t sums[8];
    for (int l = 0; l < 8; ++l) {
      sums[l] = products[4 * l] + products[4 * l + 1] + products[4 * l + 2] + products[4 * l + 3];
    }
    for (int l = 0; l < 8; ++l) lanes[l] = std::fma(scale, static_cast<float>(sums[l]), lanes[l]);
  }
  return Sum8(lanes) + mins;
}

// The matrix products, where the time goes, also get an AVX2 + FMA version: ggml's own
// instructions (VPMADDUBSW then VPMADDWD sum each lane's four products as integers, exactly), so
// the same bits as DotBlocks, about 4x faster.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TMAC_LLAMA_CPP_AVX2 1
__attribute__((target("avx2,fma"))) void MultiplyRowsAvx2(const Q4_1Block* w, int64_t rows, int64_t blocks,
                                                          const Q8_1Block* x, int64_t batch, float* y,
                                                          int64_t begin, int64_t end) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t r = begin; r < end; ++r) {
    const Q4_1Block* row = w + r * blocks;
    for (int64_t n = 0; n < batch; ++n) {
      const Q8_1Block* v = x + n * blocks;
      __m256 acc = _mm256_setzero_ps();
      float mins = 0.f;
      for (int64_t b = 0; b < blocks; ++b) {
        mins = std::fma(row[b].m, v[b].s, mins);
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row[b].q));
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v[b].q));
        const __m256i sums =
            _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), ones);  // |2 * 15 * 127| fits int16
        acc = _mm256_fmadd_ps(_mm256_set1_ps(row[b].d * v[b].d), _mm256_cvtepi32_ps(sums), acc);
      }
      float lanes[8];
      _mm256_storeu_ps(lanes, acc);
      y[n * rows + r] = Sum8(lanes) + mins;
    }
  }
}
#endif

void MultiplyRows(const Q4_1Block* w, int64_t rows, int64_t blocks, const Q8_1Block* x, int64_t batch,
                  float* y, int64_t begin, int64_t end) {
#ifdef TMAC_LLAMA_CPP_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) return MultiplyRowsAvx2(w, rows, blocks, x, batch, y, begin, end);
#endif
  for (int64_t r = begin; r < end; ++r) {
    for (int64_t n = 0; n < batch; ++n) y[n * rows + r] = DotBlocks(w + r * blocks, x + n * blocks, blocks);
  }
}

TMAC_INLINE float ExpInline(float x) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;  // round(x / ln 2)
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  if (std::fabs(n) > 192.f) return n <= 0.f ? 0.f : std::numeric_limits<float>::infinity();
  const float u = b * b;
  const float j = std::fma(
      std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
      u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  return std::ldexp(j, static_cast<int>(n));  // _mm512_scalef_ps, correctly rounded
}

TMAC_INLINE float SiluInline(float x) { return x / (1.f + ExpInline(0.f - x)); }

}  // namespace

float DotQ4_1Q8_1(const Q4_1Block* w, const Q8_1Block* x, int64_t blocks) { return DotBlocks(w, x, blocks); }

Q4_1Matrix Q4_1Matrix::FromQuant(const QuantMatrix& w, std::string_view name) {
  Require(
      w.bits == 4 && w.group == kBlock && !w.mins.empty() && w.factors.empty(),
      StrCat("--numerics llama.cpp reproduces llama.cpp's Q4_1 products only, and ", name, " is not Q4_1 (",
             w.bits, "-bit, groups of ", w.group, w.mins.empty() ? ", no mins" : "", ")"));
  Q4_1Matrix m;
  m.rows_ = w.rows;
  m.cols_ = w.cols;
  const int64_t groups = w.groups_per_row();
  m.blocks_.resize(static_cast<size_t>(w.rows * groups));
  for (int64_t r = 0; r < w.rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      Q4_1Block& block = m.blocks_[static_cast<size_t>(r * groups + g)];
      block.d = w.scale(r, g);
      block.m = -w.mins[static_cast<size_t>(r * groups + g)];  // w = s*q - min = d*q + m
      for (int i = 0; i < kBlock; ++i) block.q[i] = w.code(r, g * kBlock + i);
    }
  }
  return m;
}

void Q4_1Matrix::Multiply(const Q8_1Block* x, int64_t batch, float* y, ThreadPool* pool) const {
  const int64_t blocks = cols_ / kBlock;
  ThreadPool::RunOn(pool, rows_, [&](int64_t begin, int64_t end) {
    MultiplyRows(blocks_.data(), rows_, blocks, x, batch, y, begin, end);
  });
}

float Exp(float x) { return ExpInline(x); }

float Silu(float x) { return SiluInline(x); }

TMAC_FMA_CLONES void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  const int64_t whole = n - n % 16;
  for (int64_t i = 0; i < whole; ++i) out[i] = SiluInline(gate[i]) * up[i];
  for (int64_t i = whole; i < n; ++i) out[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
}

float Sum16(const float* v) {
  float half[8], quarter[4];
  for (int i = 0; i < 8; ++i) half[i] = v[i + 8] + v[i];
  for (int i = 0; i < 4; ++i) quarter[i] = half[i + 4] + half[i];
  return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
}

TMAC_FMA_CLONES float Dot(const float* x, const float* y, int64_t n, DotOrder order) {
  if (order == DotOrder::kBatch) {
    if (n % 16 != 0) throw Error(StrCat("a batched attention product spans whole vectors of 16; got ", n));
    float acc[16] = {};
    for (int64_t k = 0; k < n; k += 16) {
      for (int l = 0; l < 16; ++l) acc[l] = std::fma(x[k + l], y[k + l], acc[l]);
    }
    return Sum16(acc);
  }
  float acc[4][16] = {};
  const int64_t whole = n - n % 64;
  for (int64_t k = 0; k < whole; k += 64) {
    for (int j = 0; j < 4; ++j) {
      for (int l = 0; l < 16; ++l) acc[j][l] = std::fma(x[k + 16 * j + l], y[k + 16 * j + l], acc[j][l]);
    }
  }
  for (int l = 0; l < 16; ++l) {
    acc[0][l] += acc[2][l];
    acc[1][l] += acc[3][l];
  }
  for (int l = 0; l < 16; ++l) acc[0][l] += acc[1][l];
  double sum = Sum16(acc[0]);
  for (int64_t k = whole; k < n; ++k) sum += static_cast<double>(x[k] * y[k]);
  return static_cast<float>(sum);
}

TMAC_FMA_CLONES void SoftMax(float* x, int64_t n_kv, int64_t n_valid, float scale) {
  constexpr float kMasked = -std::numeric_limits<float>::infinity();
  float max = kMasked;
  for (int64_t i = 0; i < n_kv; ++i) {
    x[i] = i < n_valid ? x[i] * scale : kMasked;
    max = std::max(max, x[i]);
  }
  double sum = 0.0;
  int64_t i = 0;
  for (; i + 16 <= n_kv; i += 16) {
    for (int l = 0; l < 16; ++l) x[i + l] = ExpInline(x[i + l] - max);
    sum += static_cast<double>(Sum16(x + i));
  }
  for (; i < n_kv; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += static_cast<double>(x[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (i = 0; i < n_kv; ++i) x[i] *= inv;
}

int64_t KvSpan(int64_t n_ctx, int64_t used) {
  const auto pad = [](int64_t v) { return (v + 255) / 256 * 256; };
  return std::min(pad(n_ctx), std::max<int64_t>(256, pad(used)));
}

}  // namespace tmac::llama_cpp
