// The state of one generation: the KV cache and the forward pass of a Model over new tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "tmac/lut.h"
#include "tmac/model.h"

namespace tmac {

class ThreadPool;

enum class KvType { kF16, kF32 };

// Whose arithmetic the forward pass follows.
enum class Numerics {
  // tmac's: LUT kernels with T-MAC tables. As close to llama.cpp as llama.cpp is to itself under
  // a one-ulp change of the model (docs/engine.md), and fast.
  kFast,
  // llama.cpp's CPU arithmetic step for step (src/model/llama_cpp_numerics.h): on llama models
  // with Q4_1 weights, llama.cpp's logits bit for bit, hence its tokens; slower than kFast.
  // Needs an f16 KV cache (llama.cpp's default); a pass is one of llama.cpp's batches (a single
  // token and a batch multiply in different orders there).
  kLlamaCpp,
};

struct ContextOptions {
  int64_t n_ctx = 0;  // positions the KV cache holds; 0: the model's training context, at most 4096
  KvType kv_type = KvType::kF16;
  int threads = 1;
  int64_t n_batch = 64;  // prompt tokens per forward pass (the weights are read once per pass)
  TableMode table_mode = TableMode::kInt8;
  Numerics numerics = Numerics::kFast;
};

class Context {
 public:
  // Throws tmac::Error for options out of range.
  Context(const Model& model, const ContextOptions& options);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Runs `tokens` at positions n_past() .. n_past() + size - 1, in passes of n_batch tokens, and
  // returns how many it ran. Afterwards logits(i) holds the next-token logits after tokens[i]: for
  // every i when `all_logits`, else only for the last. Throws tmac::Error when the tokens do not
  // fit in the context or an id is not in the vocabulary (the cache is left as before the call).
  //
  // `stop`, when given, is asked before each pass (never inside one, so a long prompt can be
  // interrupted within a pass's time): when it returns true, Eval returns at once the number of
  // tokens its whole passes ran, fewer than the size. The cache then holds exactly those tokens
  // (n_past() grew by the count, and a later Eval continues from there with the logits an
  // uninterrupted call gives), and there are no logits: logits() throws until the next Eval.
  int64_t Eval(std::span<const int32_t> tokens, bool all_logits = false,
               const std::function<bool()>& stop = nullptr);

  // Logits after the i-th token of the last Eval (i < its size with all_logits, else i = -1
  // for the last token).
  std::span<const float> logits(int64_t i = -1) const;

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  // Forgets the positions from `n_past` on (0 <= n_past <= n_past(), else tmac::Error), and with
  // them the last Eval's logits: the next Eval starts at position n_past, so a caller can drop
  // what it evaluated after a point it remembered (the earlier positions are never rewritten).
  void Rewind(int64_t n_past);
  // Forgets every position: the next Eval starts at position 0.
  void Reset() { Rewind(0); }
  int64_t kv_cache_bytes() const;
  const Model& model() const { return model_; }

 private:
  void EvalBatch(std::span<const int32_t> tokens, bool all_logits, float* logits_out);
  // Appends the pass's keys and values to the cache, then attends: Attention with tmac's
  // kernels, AttentionLlamaCpp in llama.cpp's order.
  void AppendKv(int64_t layer, int64_t batch);
  // The cache slab of one (layer, KV head): n_ctx rows of head_dim values.
  uint8_t* KvSlab(std::vector<uint8_t>& cache, int64_t layer, int64_t kv_head);
  void Attention(int64_t layer, int64_t batch);
  void AttentionLlamaCpp(int64_t layer, int64_t batch);

  const Model& model_;
  ContextOptions options_;
  int64_t n_ctx_ = 0;
  int64_t n_past_ = 0;
  std::unique_ptr<ThreadPool> pool_;
  MatmulOptions matmul_;

  // KV cache, per layer and KV head: n_ctx rows of head_dim values (f16 or f32).
  std::vector<uint8_t> k_cache_, v_cache_;
  int64_t kv_head_bytes_ = 0;  // bytes of one (layer, KV head) slab

  // Activations of one pass, n_batch rows each.
  std::vector<float> x_, h_, q_, k_, v_, attn_, gate_, up_, ffn_;
  std::vector<float> logits_;

  // Numerics::kLlamaCpp: the layers' matrices in llama.cpp's Q4_1 blocks.
  struct LlamaCppState;
  std::unique_ptr<LlamaCppState> llama_cpp_;
  int64_t n_logits_ = 0;
};

}  // namespace tmac
