// llama.cpp's CPU arithmetic, restated in portable C++: Numerics::kLlamaCpp (include/tmac/context.h).
//
// With quantized weights a forward pass is chaotic: llama.cpp rounds every matrix product's input
// to int8 (Q8_1 blocks), so a difference in the last bit of any value flips roundings that cascade
// through the layers (docs/engine.md measures it). Agreeing with llama.cpp token for token
// therefore takes the same floats at every step, not merely close ones. These functions compute
// exactly what ggml's x86 kernels compute, in the same order, for the operations of a llama
// graph with Q4_1 weights: the Q8_1 activation blocks, the Q4_1 x Q8_1 dot product, the f16
// products of attention (ggml_vec_dot_f16 for one token, llamafile's tinyBLAS for a batch),
// softmax and SiLU with ggml's AVX-512 exp. Every step is a single IEEE operation (std::fma where
// ggml fuses), so the results are the same bits on any CPU.
//
// The reference build is llama-cpp-python 0.3.36 compiled with GCC for an AVX-512 CPU without
// AVX512-FP16 and with its extra weight buffers (CPU_REPACK) off, as tests/oracle/llama_reference.py
// loads it; other builds of ggml sum in other orders.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tmac/quant.h"

namespace tmac {
class ThreadPool;
}

namespace tmac::llama_cpp {

inline constexpr int kBlock = 32;  // values per Q4_1 / Q8_1 block

// One block of activations as ggml's x86 quantize_row_q8_1 writes it: d = absmax / 127 and
// s = d * sum(q), both rounded to f16 (kept here as the floats they decode to).
struct Q8_1Block {
  float d = 0.f, s = 0.f;
  int8_t q[kBlock] = {};
};

// x[0, n) as n / 32 blocks (n a multiple of 32).
void QuantizeQ8_1(const float* x, int64_t n, Q8_1Block* out);

// One block of Q4_1 weights: w = d * q + m, with d and m f16 values and q in [0, 15].
struct Q4_1Block {
  float d = 0.f, m = 0.f;
  uint8_t q[kBlock] = {};
};

// The dot product of one row of Q4_1 blocks with Q8_1 activations, as ggml_vec_dot_q4_1_q8_1:
// each block's 32 products go to 8 lanes of 4 consecutive ones (exact integers), each lane is
// accumulated across blocks by fma with d_w * d_x, the lanes are summed pairwise (hsum_float_8),
// and the blocks' m_w * s_x, summed by fma, are added last.
float DotQ4_1Q8_1(const Q4_1Block* w, const Q8_1Block* x, int64_t blocks);

// A matrix in Q4_1 form, row-major blocks.
class Q4_1Matrix {
 public:
  // From a QuantMatrix holding Q4_1 exactly (4 bits, groups of 32, scale and min with w = s*q - min:
  // what a lossless Q4_1 repack unpacks to). Throws tmac::Error naming `name` otherwise.
  static Q4_1Matrix FromQuant(const QuantMatrix& w, std::string_view name);

  // y[n][r] = DotQ4_1Q8_1(row r, x[n]) for n < batch; x holds cols / 32 blocks per vector and y
  // rows floats per vector. Rows are split over `pool` (nullptr: the calling thread).
  void Multiply(const Q8_1Block* x, int64_t batch, float* y, ThreadPool* pool) const;

 private:
  int64_t rows_ = 0, cols_ = 0;
  std::vector<Q4_1Block> blocks_;
};

// ggml_v_expf, the AVX-512 form ggml's softmax and SiLU use: a degree-5 polynomial after range
// reduction, scaled by 2^n; 0 below and inf above |n| > 192.
float Exp(float x);
// ggml_v_silu: x / (1 + Exp(-x)).
float Silu(float x);
// out[i] = silu(gate[i]) * up[i] as ggml_vec_swiglu_f32: Silu for whole vectors of 16, libm's
// expf for the rest.
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);

// _mm512_reduce_add_ps as GCC implements it: halves added, then quarters, then pairs.
float Sum16(const float* v);

// The dot product of two rows of n floats (f16 values already decoded), in the order of ggml's
// attention matrix products:
//   kBatch:  llamafile's tinyBLAS (a batch of two or more tokens): 16 lanes accumulated by fma
//            across the row, then Sum16; n a multiple of 16.
//   kSingle: ggml_vec_dot_f16 (one token): four 16-lane accumulators over steps of 64, added
//            pairwise, then Sum16, then the last n % 64 products added in double.
enum class DotOrder { kBatch, kSingle };
float Dot(const float* x, const float* y, int64_t n, DotOrder order);

// In place over the n_kv scores of one query, as ggml's soft_max with its mask: x * scale for the
// first n_valid, -inf (masked) after; exp(x - max) by Exp in vectors of 16 (expf for the rest),
// their sum in double (each vector's by Sum16), then each times (float)(1 / sum).
void SoftMax(float* x, int64_t n_kv, int64_t n_valid, float scale);

// The number of KV cells llama.cpp's attention spans when `used` positions are filled in a cache
// made for n_ctx tokens: cells are padded to 256.
int64_t KvSpan(int64_t n_ctx, int64_t used);

}  // namespace tmac::llama_cpp
