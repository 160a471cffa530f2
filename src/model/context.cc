// The forward pass of the llama and BitNet graphs (llama.cpp's src/models/llama.cpp and
// bitnet.cpp compute the same functions):
//
//   x = token_embd[token]
//   per layer:  h = RmsNorm(x) * attn_norm
//               q, k, v = Wq h, Wk h, Wv h;  RoPE(q, k);  a = causal attention over the cache
//               [BitNet] a = RmsNorm(a) * attn_sub_norm
//               x += Wo a
//               h = RmsNorm(x) * ffn_norm
//               f = act(Wgate h) * (Wup h)          act: SiLU, or ReLU^2 for bitnet-b1.58
//               [BitNet] f = RmsNorm(f) * ffn_sub_norm
//               x += Wdown f
//   logits = output(RmsNorm(x) * output_norm)
//
// A pass takes up to n_batch tokens, so each weight matrix is read once per pass.
#include "tmac/context.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "formats/half.h"
#include "model/layer_weights.h"
#include "model/linear.h"
#include "model/llama_cpp_numerics.h"
#include "model/ops.h"
#include "tmac/error.h"
#include "tmac/ggml_matmul.h"
#include "tmac/thread_pool.h"
#include "util/str_cat.h"

namespace tmac {
namespace {

constexpr int64_t kDefaultMaxContext = 4096;

size_t Size(int64_t n) { return static_cast<size_t>(n); }

}  // namespace

struct Context::LlamaCppState {
  std::unordered_map<const Linear*, llama_cpp::Q4_1Matrix> matrices;  // every matrix of every layer
};

namespace {

// The layers' matrices in llama.cpp's Q4_1 blocks, from their lossless LUT repacks. Throws
// tmac::Error for a model or option the llama.cpp numerics do not reproduce.
std::unordered_map<const Linear*, llama_cpp::Q4_1Matrix> LlamaCppMatrices(const Model& model,
                                                                          const ContextOptions& options) {
  const ModelConfig& c = model.config();
  Require(options.kv_type == KvType::kF16,
          "--numerics llama.cpp needs the f16 KV cache, llama.cpp's default");
  Require(!c.int8_activations && !c.sub_norms && !c.relu_squared,
          "--numerics llama.cpp reproduces llama models only, not BitNet");
  std::unordered_map<const Linear*, llama_cpp::Q4_1Matrix> matrices;
  for (size_t layer = 0; layer < model.layers().size(); ++layer) {
    const LayerWeights& l = model.layers()[layer];
    const std::pair<const Linear*, const char*> named[] = {
        {&l.wq, "attn_q"},       {&l.wk, "attn_k"},   {&l.wv, "attn_v"},      {&l.wo, "attn_output"},
        {&l.w_gate, "ffn_gate"}, {&l.w_up, "ffn_up"}, {&l.w_down, "ffn_down"}};
    for (const auto& [w, name] : named) {
      const std::string tensor = StrCat("blk.", layer, ".", name, ".weight");
      const std::optional<QuantMatrix> codes = w->UnpackLut();
      Require(codes.has_value(),
              StrCat("--numerics llama.cpp reproduces llama.cpp's Q4_1 products only, and ", tensor,
                     " is stored as ", w->Describe()));
      matrices.emplace(w, llama_cpp::Q4_1Matrix::FromQuant(*codes, tensor));
    }
  }
  return matrices;
}

}  // namespace

Context::Context(const Model& model, const ContextOptions& options) : model_(model), options_(options) {
  const ModelConfig& c = model.config();
  Require(options.n_ctx >= 0, StrCat("context size ", options.n_ctx, " is negative"));
  Require(options.threads >= 1, StrCat("thread count ", options.threads, " must be at least 1"));
  Require(options.n_batch >= 1, StrCat("batch size ", options.n_batch, " must be at least 1"));
  n_ctx_ = options.n_ctx > 0 ? options.n_ctx : std::min(c.n_ctx_train, kDefaultMaxContext);
  pool_ = std::make_unique<ThreadPool>(options.threads);
  matmul_ = MatmulOptions{options.table_mode, model.isa(), pool_.get()};

  const int64_t value_bytes = options.kv_type == KvType::kF16 ? 2 : 4;
  kv_head_bytes_ = n_ctx_ * c.head_dim * value_bytes;
  const int64_t kv_bytes = c.n_layer * c.n_head_kv * kv_head_bytes_;
  k_cache_.resize(Size(kv_bytes));
  v_cache_.resize(Size(kv_bytes));

  const int64_t b = options.n_batch;
  x_.resize(Size(b * c.n_embd));
  h_.resize(Size(b * c.n_embd));
  q_.resize(Size(b * c.n_head * c.head_dim));
  attn_.resize(Size(b * c.n_head * c.head_dim));
  k_.resize(Size(b * c.n_head_kv * c.head_dim));
  v_.resize(Size(b * c.n_head_kv * c.head_dim));
  gate_.resize(Size(b * c.n_ff));
  up_.resize(Size(b * c.n_ff));
  if (options.numerics == Numerics::kLlamaCpp) {
    llama_cpp_ = std::make_unique<LlamaCppState>(LlamaCppState{LlamaCppMatrices(model, options)});
  }
}

Context::~Context() = default;

int64_t Context::kv_cache_bytes() const { return static_cast<int64_t>(k_cache_.size() + v_cache_.size()); }

std::span<const float> Context::logits(int64_t i) const {
  const int64_t n_vocab = model_.config().n_vocab;
  if (i < 0) i = n_logits_ - 1;
  Require(i >= 0 && i < n_logits_, StrCat("no logits for token ", i, " of the last evaluation"));
  return {logits_.data() + i * n_vocab, Size(n_vocab)};
}

void Context::Rewind(int64_t n_past) {
  Require(n_past >= 0 && n_past <= n_past_,
          StrCat("cannot rewind to position ", n_past, ": the cache holds ", n_past_, " positions"));
  n_past_ = n_past;
  n_logits_ = 0;
}

int64_t Context::Eval(std::span<const int32_t> tokens, bool all_logits, const std::function<bool()>& stop) {
  const ModelConfig& c = model_.config();
  const int64_t n = static_cast<int64_t>(tokens.size());
  Require(n > 0, "nothing to evaluate: no tokens");
  Require(n_past_ + n <= n_ctx_,
          StrCat(n, " tokens after ", n_past_, " do not fit in the context of ", n_ctx_, " tokens"));
  for (const int32_t token : tokens) {
    Require(token >= 0 && token < c.n_vocab,
            StrCat("token id ", token, " is not in the vocabulary of ", c.n_vocab, " tokens"));
  }
  n_logits_ = all_logits ? n : 1;
  logits_.resize(Size(n_logits_ * c.n_vocab));
  for (int64_t start = 0; start < n; start += options_.n_batch) {
    if (stop && stop()) {
      n_logits_ = 0;  // not even those of the finished passes: the call did not finish
      return start;
    }
    const int64_t count = std::min(options_.n_batch, n - start);
    const bool last_pass = start + count == n;
    float* out = all_logits ? logits_.data() + start * c.n_vocab : (last_pass ? logits_.data() : nullptr);
    EvalBatch(tokens.subspan(Size(start), Size(count)), all_logits, out);
  }
  return n;
}

void Context::EvalBatch(std::span<const int32_t> tokens, bool all_logits, float* logits_out) {
  const ModelConfig& c = model_.config();
  const int64_t batch = static_cast<int64_t>(tokens.size());
  const int64_t d = c.n_embd, q_rows = c.n_head * c.head_dim, kv_rows = c.n_head_kv * c.head_dim;

  // A projection's input, quantized once however many matrices read it (q, k, v; gate, up): to
  // int8 per token row when the model asks for it (BitNet b1.58), to llama.cpp's Q8_1 blocks with
  // its numerics.
  struct Input {
    const float* x;
    std::optional<Int8Activations> int8;
    std::vector<llama_cpp::Q8_1Block> q8_1;
  };
  const auto prepare = [&](const float* in, int64_t cols) {
    Input input{in, std::nullopt, {}};
    if (llama_cpp_) {
      input.q8_1.resize(Size(batch * cols / llama_cpp::kBlock));
      llama_cpp::QuantizeQ8_1(in, batch * cols, input.q8_1.data());
    } else if (c.int8_activations) {
      input.int8 = QuantizeActivations(in, batch, cols);
    }
    return input;
  };
  // W x for every row of the batch.
  const auto project = [&](const Linear& w, const Input& in, float* out) {
    if (llama_cpp_) {
      llama_cpp_->matrices.at(&w).Multiply(in.q8_1.data(), batch, out, pool_.get());
    } else if (in.int8) {
      w.ForwardInt8(*in.int8, out, matmul_);
    } else {
      w.Forward(in.x, batch, out, matmul_);
    }
  };
  const auto norm_rows = [&](const float* in, const std::vector<float>& weight, int64_t width, float* out) {
    for (int64_t t = 0; t < batch; ++t)
      ops::RmsNorm(in + t * width, weight.data(), width, c.rms_eps, out + t * width, llama_cpp_ != nullptr);
  };
  const ops::Rope rope{c.head_dim,
                       c.n_rot,
                       c.rope_freq_base,
                       c.rope_freq_scale,
                       model_.rope_freq_factors(),
                       c.rope_neox,
                       /*fused=*/llama_cpp_ != nullptr};

  for (int64_t t = 0; t < batch; ++t) model_.token_embedding().GetRow(tokens[Size(t)], x_.data() + t * d);

  for (int64_t layer = 0; layer < c.n_layer; ++layer) {
    const LayerWeights& l = model_.layers()[Size(layer)];
    norm_rows(x_.data(), l.attn_norm, d, h_.data());
    const Input attn_in = prepare(h_.data(), d);
    project(l.wq, attn_in, q_.data());
    project(l.wk, attn_in, k_.data());
    project(l.wv, attn_in, v_.data());
    for (int64_t t = 0; t < batch; ++t) {
      rope.Apply(q_.data() + t * q_rows, c.n_head, n_past_ + t);
      rope.Apply(k_.data() + t * kv_rows, c.n_head_kv, n_past_ + t);
    }
    AppendKv(layer, batch);
    if (llama_cpp_) {
      AttentionLlamaCpp(layer, batch);
    } else {
      Attention(layer, batch);
    }
    if (c.sub_norms) norm_rows(attn_.data(), l.attn_sub_norm, q_rows, attn_.data());
    project(l.wo, prepare(attn_.data(), q_rows), h_.data());
    for (int64_t i = 0; i < batch * d; ++i) x_[Size(i)] += h_[Size(i)];

    norm_rows(x_.data(), l.ffn_norm, d, h_.data());
    const Input ffn_in = prepare(h_.data(), d);
    project(l.w_gate, ffn_in, gate_.data());
    project(l.w_up, ffn_in, up_.data());
    if (llama_cpp_) {
      for (int64_t t = 0; t < batch; ++t) {
        float* g = gate_.data() + t * c.n_ff;
        llama_cpp::SwiGlu(g, up_.data() + t * c.n_ff, c.n_ff, g);
      }
    } else {
      for (int64_t i = 0; i < batch * c.n_ff; ++i) {
        const float g = gate_[Size(i)];
        gate_[Size(i)] = (c.relu_squared ? ops::ReluSquared(g) : ops::Silu(g)) * up_[Size(i)];
      }
    }
    if (c.sub_norms) norm_rows(gate_.data(), l.ffn_sub_norm, c.n_ff, gate_.data());
    project(l.w_down, prepare(gate_.data(), c.n_ff), h_.data());
    for (int64_t i = 0; i < batch * d; ++i) x_[Size(i)] += h_[Size(i)];
  }
  n_past_ += batch;

  if (logits_out == nullptr) return;
  // Only the rows whose logits are wanted go through the output head, the largest matrix.
  const int64_t first = all_logits ? 0 : batch - 1, rows = batch - first;
  for (int64_t t = first; t < batch; ++t) {
    ops::RmsNorm(x_.data() + t * d, model_.output_norm().data(), d, c.rms_eps, h_.data() + (t - first) * d,
                 llama_cpp_ != nullptr);
  }
  model_.output().Forward(h_.data(), rows, logits_out, matmul_);
}

uint8_t* Context::KvSlab(std::vector<uint8_t>& cache, int64_t layer, int64_t kv_head) {
  return cache.data() + (layer * model_.config().n_head_kv + kv_head) * kv_head_bytes_;
}

void Context::AppendKv(int64_t layer, int64_t batch) {
  const ModelConfig& c = model_.config();
  const int64_t hd = c.head_dim, kv_rows = c.n_head_kv * hd;
  const bool f16 = options_.kv_type == KvType::kF16;
  const int64_t value_bytes = f16 ? 2 : 4;
  for (int64_t t = 0; t < batch; ++t) {
    for (int64_t kvh = 0; kvh < c.n_head_kv; ++kvh) {
      const int64_t offset = (n_past_ + t) * hd * value_bytes;
      const float* k = k_.data() + t * kv_rows + kvh * hd;
      const float* v = v_.data() + t * kv_rows + kvh * hd;
      uint8_t* k_dst = KvSlab(k_cache_, layer, kvh) + offset;
      uint8_t* v_dst = KvSlab(v_cache_, layer, kvh) + offset;
      if (f16) {
        for (int64_t i = 0; i < hd; ++i) {
          const uint16_t kh = FloatToHalf(k[i]), vh = FloatToHalf(v[i]);
          std::memcpy(k_dst + 2 * i, &kh, 2);
          std::memcpy(v_dst + 2 * i, &vh, 2);
        }
      } else {
        std::memcpy(k_dst, k, Size(hd * 4));
        std::memcpy(v_dst, v, Size(hd * 4));
      }
    }
  }
}

void Context::Attention(int64_t layer, int64_t batch) {
  const ModelConfig& c = model_.config();
  const int64_t hd = c.head_dim, q_rows = c.n_head * hd;
  const int64_t group = c.n_head / c.n_head_kv;  // query heads per KV head
  const bool f16 = options_.kv_type == KvType::kF16;
  const int64_t value_bytes = f16 ? 2 : 4;
  const GgmlType kv_type = f16 ? GgmlType::kF16 : GgmlType::kF32;

  // One work item per (token, KV head): its `group` query heads read the same keys and values,
  // so the scores are one small matrix product over the cached keys.
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const MatmulOptions single{options_.table_mode, model_.isa(), nullptr};
  pool_->Run(batch * c.n_head_kv, [&](int64_t begin, int64_t end) {
    std::vector<float> scores, values, query(Size(group * hd));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / c.n_head_kv, kvh = item % c.n_head_kv;
      const int64_t n = n_past_ + t + 1;  // causal: positions 0 .. n_past + t
      scores.resize(Size(group * n));
      // With an f16 cache, queries and attention weights are rounded to f16 as llama.cpp rounds
      // the operands of its f16 products: its logits are the reference, and they are sensitive
      // to that rounding.
      const float* q = q_.data() + t * q_rows + kvh * group * hd;
      for (int64_t i = 0; i < group * hd; ++i) query[Size(i)] = f16 ? RoundToHalf(q[i]) : q[i];
      GgmlMatmul(GgmlMatrixView{kv_type, n, hd, KvSlab(k_cache_, layer, kvh)}, query.data(), group,
                 scores.data(), single);
      for (int64_t g = 0; g < group; ++g) {
        float* s = scores.data() + g * n;
        for (int64_t p = 0; p < n; ++p) s[p] *= scale;
        ops::Softmax(s, n);
        if (f16) {
          for (int64_t p = 0; p < n; ++p) s[p] = RoundToHalf(s[p]);
        }
      }
      float* out = attn_.data() + t * q_rows + kvh * group * hd;
      std::fill(out, out + group * hd, 0.0f);
      // Values in blocks of positions decoded to f32 once for all the group's heads.
      constexpr int64_t kBlock = 64;
      values.resize(Size(kBlock * hd));
      const uint8_t* v_slab = KvSlab(v_cache_, layer, kvh);
      for (int64_t p0 = 0; p0 < n; p0 += kBlock) {
        const int64_t count = std::min(kBlock, n - p0);
        DecodeRow(kv_type, v_slab + p0 * hd * value_bytes, count * hd, values.data());
        for (int64_t g = 0; g < group; ++g) {
          const float* weights = scores.data() + g * n + p0;
          float* o = out + g * hd;
          for (int64_t p = 0; p < count; ++p) {
            const float w = weights[p];
            const float* row = values.data() + p * hd;
            for (int64_t i = 0; i < hd; ++i) o[i] += w * row[i];
          }
        }
      }
    }
  });
}

void Context::AttentionLlamaCpp(int64_t layer, int64_t batch) {
  const ModelConfig& c = model_.config();
  const int64_t hd = c.head_dim, q_rows = c.n_head * hd;
  const int64_t group = c.n_head / c.n_head_kv;
  const int64_t filled = n_past_ + batch;
  // llama.cpp attends over all the cells of its padded span, the masked ones with weight 0.
  const int64_t n_kv = llama_cpp::KvSpan(n_ctx_, filled);
  // A batch of tokens goes through tinyBLAS, where its shapes allow (rows a multiple of 4, the
  // sum a multiple of 16); a single token through ggml_vec_dot_f16.
  using llama_cpp::DotOrder;
  const DotOrder scores_order = batch >= 2 && hd % 16 == 0 ? DotOrder::kBatch : DotOrder::kSingle;
  const DotOrder values_order = batch >= 2 && hd % 4 == 0 ? DotOrder::kBatch : DotOrder::kSingle;
  // Weight 0 adds nothing to a sum, so a value product may stop after the last attended cell: at
  // whole vectors of its order, where the rest of llama.cpp's span is all zeros.
  const int64_t vector = values_order == DotOrder::kBatch ? 16 : 64;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  // Each KV head's keys as floats, and its values transposed as llama.cpp keeps them (row i:
  // dimension i over the cells), once for all the pass's tokens.
  std::vector<std::vector<float>> keys(Size(c.n_head_kv)), columns(Size(c.n_head_kv));
  pool_->Run(c.n_head_kv, [&](int64_t begin, int64_t end) {
    std::vector<float> values(Size(filled * hd));
    for (int64_t kvh = begin; kvh < end; ++kvh) {
      keys[Size(kvh)].resize(Size(filled * hd));
      DecodeRow(GgmlType::kF16, KvSlab(k_cache_, layer, kvh), filled * hd, keys[Size(kvh)].data());
      DecodeRow(GgmlType::kF16, KvSlab(v_cache_, layer, kvh), filled * hd, values.data());
      std::vector<float>& t = columns[Size(kvh)];
      t.assign(Size(hd * n_kv), 0.0f);
      for (int64_t p = 0; p < filled; ++p) {
        for (int64_t i = 0; i < hd; ++i) t[Size(i * n_kv + p)] = values[Size(p * hd + i)];
      }
    }
  });

  pool_->Run(batch * c.n_head_kv, [&](int64_t begin, int64_t end) {
    std::vector<float> query(Size(hd)), scores(Size(n_kv));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / c.n_head_kv, kvh = item % c.n_head_kv;
      const int64_t n = n_past_ + t + 1;  // causal: positions 0 .. n_past + t
      const int64_t span = std::min(n_kv, (n + vector - 1) / vector * vector);
      for (int64_t g = 0; g < group; ++g) {
        const int64_t head = kvh * group + g;
        const float* q = q_.data() + t * q_rows + head * hd;
        for (int64_t i = 0; i < hd; ++i) query[Size(i)] = RoundToHalf(q[i]);  // f16 operands
        for (int64_t p = 0; p < n; ++p) {
          scores[Size(p)] = llama_cpp::Dot(keys[Size(kvh)].data() + p * hd, query.data(), hd, scores_order);
        }
        llama_cpp::SoftMax(scores.data(), n_kv, n, scale);
        for (float& w : scores) w = RoundToHalf(w);
        float* out = attn_.data() + t * q_rows + head * hd;
        for (int64_t i = 0; i < hd; ++i) {
          out[i] = llama_cpp::Dot(columns[Size(kvh)].data() + i * n_kv, scores.data(), span, values_order);
        }
      }
    }
  });
}

}  // namespace tmac
