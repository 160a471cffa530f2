// Synthetic models (tmac/synth.h): the shapes, the tensor list and metadata llama.cpp's loader
// reads for the llama and bitnet architectures (src/models/llama.cpp, bitnet.cpp there), and the
// tokenizer copied from a vocab file.
#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "tmac/error.h"
#include "tmac/ggml_random.h"
#include "tmac/synth.h"
#include "tmac/thread_pool.h"

namespace tmac {

namespace {

constexpr std::string_view kSpmVocab = "ggml-vocab-llama-spm.gguf";  // 32000 tokens
constexpr std::string_view kGpt2Vocab = "ggml-vocab-gpt-2.gguf";     // 50257 tokens

// The real models' hyperparameters, from their config.json files.
constexpr ModelShape kShapes[] = {
    {"llama-2-7b", "llama", 4096, 11008, 32, 32, 32, 32000, 4096, 10000.f, false, kSpmVocab, ""},
    {"llama-3-8b", "llama", 4096, 14336, 32, 32, 8, 128256, 8192, 500000.f, false, kGpt2Vocab, ""},
    {"bitnet-b1.58-3b", "bitnet", 3200, 8640, 26, 32, 32, 32002, 2048, 10000.f, true, kSpmVocab,
     "bitnet-b1.58-3b-pad256"},
    // BitNet 3B widened so that llama.cpp's 256-weight super-block types fit its rows.
    {"bitnet-b1.58-3b-pad256", "bitnet", 3328, 8704, 26, 32, 32, 32002, 2048, 10000.f, true, kSpmVocab, ""},
    // bitnet.cpp's architecture name for BitNet b1.58 2B4T (squared-ReLU FFN); llama.cpp lacks it.
    {"bitnet-b1.58-2b4t", "bitnet-b1.58", 2560, 6912, 30, 20, 5, 128256, 4096, 500000.f, true, kGpt2Vocab,
     ""},
    // Small models for tests, with rows of 256 or more weights so that every type fits. tiny-bitnet
    // has BitNet 3B's vocabulary of 32002 tokens, so that its vocab file is padded as that one's.
    {"tiny-llama", "llama", 256, 768, 2, 4, 2, 0, 256, 10000.f, false, kSpmVocab, ""},
    {"tiny-bitnet", "bitnet", 256, 512, 2, 4, 4, 32002, 256, 10000.f, true, kSpmVocab, ""},
    // 2B4T's form in small: bitnet-b1.58, grouped-query attention, rope base 500000, gpt-2 vocab.
    {"tiny-bitnet-b1.58", "bitnet-b1.58", 256, 512, 2, 4, 2, 0, 256, 500000.f, true, kGpt2Vocab, ""},
};

constexpr float kRmsEpsilon = 1e-5f;
constexpr int32_t kNormalTokenType = 1;    // llama.cpp's LLAMA_TOKEN_TYPE_NORMAL
constexpr int32_t kUnusedTokenType = 5;    // LLAMA_TOKEN_TYPE_UNUSED
constexpr int64_t kPieceBytes = 16 << 20;  // made at once on the pool, then written

// llama.cpp's llama_ftype for a model whose matmul weights are all `type` (the K-quants' "_S"
// variants, which keep one type throughout).
uint32_t FileType(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: return 0;
    case GgmlType::kF16: return 1;
    case GgmlType::kQ4_0: return 2;
    case GgmlType::kQ4_1: return 3;
    case GgmlType::kQ8_0: return 7;
    case GgmlType::kQ5_0: return 8;
    case GgmlType::kQ5_1: return 9;
    case GgmlType::kQ2_K: return 10;
    case GgmlType::kQ3_K: return 11;
    case GgmlType::kQ4_K: return 14;
    case GgmlType::kQ5_K: return 16;
    case GgmlType::kQ6_K: return 18;
    case GgmlType::kBF16: return 32;
    case GgmlType::kTQ1_0: return 36;
    case GgmlType::kTQ2_0: return 37;
    default: break;
  }
  throw Error("cannot make random " + GgmlTypeName(type) + " weights (not a type tmac decodes)");
}

// Throws, naming a shape that fits, when `type`'s blocks do not divide rows of k weights.
void CheckFits(const ModelShape& s, std::string_view role, GgmlType type, int64_t k,
               std::string_view dimension) {
  const int64_t block = GgmlBlock(type).block_size;
  if (k % block == 0) return;
  const std::string small_blocks = "a type with 32-weight blocks such as Q4_0 or Q8_0";
  std::string fix = "use " + small_blocks;
  if (!s.padded.empty()) {
    const ModelShape& p = FindModelShape(s.padded);
    fix = "use the shape " + std::string(p.name) + " (n_embd " + std::to_string(p.n_embd) + ", n_ff " +
          std::to_string(p.n_ff) + "), or " + small_blocks;
  }
  throw Error(std::string(role) + " " + GgmlTypeName(type) + ": its " + std::to_string(block) +
              "-weight blocks do not divide the " + std::to_string(k) + "-weight rows (" +
              std::string(dimension) + ") of " + std::string(s.name) + "; " + fix);
}

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // ggml order: {K} for norms, {K, rows} for matrices
  GgmlType type;
  bool norm;  // F32 ones; otherwise random weights of standard deviation 1/sqrt(K)
};

std::vector<TensorSpec> Tensors(const ModelShape& s, int64_t n_vocab, const SynthOptions& o,
                                GgmlType output) {
  const int64_t n_embd_kv = s.n_embd / s.n_head * s.n_head_kv;
  std::vector<TensorSpec> t;
  const auto matrix = [&](std::string name, int64_t k, int64_t rows, GgmlType type) {
    t.push_back({std::move(name), {k, rows}, type, false});
  };
  const auto norm = [&](std::string name, int64_t k) {
    t.push_back({std::move(name), {k}, GgmlType::kF32, true});
  };
  matrix("token_embd.weight", s.n_embd, n_vocab, o.embd_type);
  for (int64_t i = 0; i < s.n_layer; ++i) {
    const std::string blk = "blk." + std::to_string(i) + ".";
    norm(blk + "attn_norm.weight", s.n_embd);
    matrix(blk + "attn_q.weight", s.n_embd, s.n_embd, o.type);
    matrix(blk + "attn_k.weight", s.n_embd, n_embd_kv, o.type);
    matrix(blk + "attn_v.weight", s.n_embd, n_embd_kv, o.type);
    if (s.bitnet) norm(blk + "attn_sub_norm.weight", s.n_embd);
    matrix(blk + "attn_output.weight", s.n_embd, s.n_embd, o.type);
    norm(blk + "ffn_norm.weight", s.n_embd);
    matrix(blk + "ffn_gate.weight", s.n_embd, s.n_ff, o.type);
    matrix(blk + "ffn_up.weight", s.n_embd, s.n_ff, o.type);
    if (s.bitnet) norm(blk + "ffn_sub_norm.weight", s.n_ff);
    matrix(blk + "ffn_down.weight", s.n_ff, s.n_embd, o.type);
  }
  norm("output_norm.weight", s.n_embd);
  if (!s.bitnet) matrix("output.weight", s.n_embd, n_vocab, output);
  return t;
}

// The vocab file's tokenizer.* entries, with its token list (and the per-token scores and types)
// padded with unused placeholder tokens "<|reserved_N|>" up to n_vocab tokens.
std::vector<GgufKeyValue> Tokenizer(const GgufFile& vocab, int64_t n_vocab) {
  constexpr std::string_view kTokens = "tokenizer.ggml.tokens", kScores = "tokenizer.ggml.scores",
                             kTypes = "tokenizer.ggml.token_type";
  const std::vector<std::string>& tokens = vocab.GetArrayOf<std::string>(kTokens);
  const int64_t have = static_cast<int64_t>(tokens.size());
  Require(have <= n_vocab, vocab.name() + ": " + std::to_string(have) + " tokens, more than the " +
                               std::to_string(n_vocab) + " of the model");
  std::vector<std::string> all = tokens;
  const std::set<std::string_view> existing(tokens.begin(), tokens.end());
  for (int64_t i = 0; i < n_vocab - have; ++i) {
    all.push_back("<|reserved_" + std::to_string(i) + "|>");
    Require(!existing.contains(all.back()), vocab.name() + ": already has a token " + all.back());
  }
  const auto padded = [&]<class T>(std::vector<T> items, T fill) {
    items.resize(static_cast<size_t>(n_vocab), fill);
    return GgufValue(GgufArray{std::move(items)});
  };

  std::vector<GgufKeyValue> entries;
  for (const GgufKeyValue& kv : vocab.metadata()) {
    if (!kv.key.starts_with("tokenizer.")) continue;
    if (kv.key == kTokens) {
      entries.push_back({kv.key, GgufArray{all}});
    } else if (kv.key == kScores) {
      entries.push_back({kv.key, padded(vocab.GetArrayOf<float>(kScores), 0.f)});
    } else if (kv.key == kTypes) {
      entries.push_back({kv.key, padded(vocab.GetArrayOf<int32_t>(kTypes), kUnusedTokenType)});
    } else {
      entries.push_back(kv);
    }
  }
  if (vocab.FindValue(kTypes) == nullptr && n_vocab > have) {  // mark the placeholders unused
    entries.push_back({std::string(kTypes),
                       padded(std::vector<int32_t>(tokens.size(), kNormalTokenType), kUnusedTokenType)});
  }
  return entries;
}

void AddHyperparameters(GgufWriter& writer, const ModelShape& s, int64_t n_vocab, const SynthOptions& o) {
  const std::string arch(s.arch);
  const auto key = [&](std::string_view name) { return arch + "." + std::string(name); };
  const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  writer.Add("general.architecture", arch);
  writer.Add("general.name", "tmac synth " + std::string(s.name));
  writer.Add("general.file_type", FileType(o.type));
  writer.Add("general.quantization_version", uint32_t{2});  // ggml's current quantized formats
  writer.Add(key("context_length"), s.n_ctx);
  writer.Add(key("embedding_length"), u32(s.n_embd));
  writer.Add(key("block_count"), u32(s.n_layer));
  writer.Add(key("feed_forward_length"), u32(s.n_ff));
  writer.Add(key("attention.head_count"), u32(s.n_head));
  writer.Add(key("attention.head_count_kv"), u32(s.n_head_kv));
  writer.Add(key("attention.layer_norm_rms_epsilon"), kRmsEpsilon);
  writer.Add(key("rope.freq_base"), s.rope_base);
  writer.Add(key("rope.dimension_count"), u32(s.n_embd / s.n_head));
  writer.Add(key("vocab_size"), u32(n_vocab));
  writer.Add("tmac.synth.shape", std::string(s.name));
  writer.Add("tmac.synth.seed", o.seed);
}

// A seed of its own for every tensor: the name's FNV-1a hash mixed with the model's seed.
uint64_t TensorSeed(uint64_t seed, std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return h ^ (seed * 0x9e3779b97f4a7c15ull);
}

// Passes the tensor's bytes to `sink`, made kPieceBytes at a time on the pool.
void Produce(const TensorSpec& t, uint64_t seed, ThreadPool* pool, const GgufWriter::TensorSink& sink) {
  const int64_t k = t.shape[0];
  if (t.norm) {
    const std::vector<float> ones(static_cast<size_t>(k), 1.f);
    sink({reinterpret_cast<const uint8_t*>(ones.data()), ones.size() * sizeof(float)});
    return;
  }
  const int64_t rows = t.shape[1], row_bytes = GgmlRowBytes(t.type, k);
  const int64_t piece_rows = std::max<int64_t>(1, kPieceBytes / row_bytes);
  const float std = 1.f / std::sqrt(static_cast<float>(k));
  const uint64_t tensor_seed = TensorSeed(seed, t.name);
  std::vector<uint8_t> piece(static_cast<size_t>(std::min(rows, piece_rows) * row_bytes));
  for (int64_t first = 0; first < rows; first += piece_rows) {
    const int64_t n = std::min(piece_rows, rows - first);
    const auto make = [&](int64_t begin, int64_t end) {
      RandomGgmlRows(t.type, k, std, tensor_seed, first + begin, end - begin,
                     piece.data() + begin * row_bytes);
    };
    ThreadPool::RunOn(pool, n, make);
    sink({piece.data(), static_cast<size_t>(n * row_bytes)});
  }
}

}  // namespace

std::span<const ModelShape> ModelShapes() { return kShapes; }

const ModelShape& FindModelShape(std::string_view name) {
  std::string names;
  for (const ModelShape& s : kShapes) {
    if (s.name == name) return s;
    names += (names.empty() ? "" : ", ") + std::string(s.name);
  }
  throw Error("unknown model shape \"" + std::string(name) + "\"; the shapes are " + names);
}

SynthSummary WriteSynthModel(const SynthOptions& o, const GgufFile& vocab, const std::filesystem::path& out,
                             bool overwrite) {
  Require(o.shape != nullptr, "no model shape given");
  const ModelShape& s = *o.shape;
  Require(!s.bitnet || !o.output_type,
          std::string(s.name) + " has no output matrix (its logits come from token_embd)");
  const GgmlType output = o.output_type.value_or(GgmlType::kQ8_0);
  for (const GgmlType type : {o.type, o.embd_type, output}) FileType(type);  // a type RandomGgmlRows makes
  CheckFits(s, "matmul weight type", o.type, s.n_embd, "n_embd");
  CheckFits(s, "matmul weight type", o.type, s.n_ff, "n_ff");
  CheckFits(s, "token_embd type", o.embd_type, s.n_embd, "n_embd");
  if (!s.bitnet) CheckFits(s, "output type", output, s.n_embd, "n_embd");
  const int64_t n_vocab =
      s.n_vocab > 0 ? s.n_vocab
                    : static_cast<int64_t>(vocab.GetArrayOf<std::string>("tokenizer.ggml.tokens").size());

  GgufWriter writer;
  AddHyperparameters(writer, s, n_vocab, o);
  for (GgufKeyValue& kv : Tokenizer(vocab, n_vocab)) writer.Add(std::move(kv.key), std::move(kv.value));

  const std::vector<TensorSpec> tensors = Tensors(s, n_vocab, o, output);
  SynthSummary summary{tensors.size(), n_vocab, 0, 0};
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec& t = tensors[i];
    summary.weights += static_cast<uint64_t>(t.shape[0] * (t.norm ? 1 : t.shape[1]));
    summary.bytes += static_cast<uint64_t>(GgmlTensorBytes(t.shape, t.type));
    writer.AddTensor(t.name, t.shape, t.type, [&, i](const GgufWriter::TensorSink& sink) {
      if (o.on_tensor) {
        std::string what = t.name + " " + GgmlTypeName(t.type) + " " + std::to_string(t.shape[0]);
        if (!t.norm) what += " x " + std::to_string(t.shape[1]);
        o.on_tensor(i, tensors.size(), what);
      }
      Produce(t, o.seed, o.pool, sink);
    });
  }
  writer.Write(out, overwrite);
  return summary;
}

}  // namespace tmac
