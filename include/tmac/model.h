// A transformer model loaded from a GGUF file: its hyperparameters and its weights, ready for
// the kernels.
//
// The file stays memory-mapped. Low-bit matrices in a llama.cpp type that tmac repacks without
// loss (Q4_0, Q4_1, Q4_K, Q3_K, Q2_K, TQ1_0, TQ2_0) are repacked into the LUT layout at load;
// matrices that `tmac convert` already packed are read as they are; every other matrix (F32,
// F16, Q8_0, Q6_K, ...: embeddings and output heads, typically) is used in place in the mapping.
// Tensor names and metadata keys are llama.cpp's, so its files load directly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tmac/gguf.h"
#include "tmac/isa.h"

namespace tmac {

enum class Architecture {
  kLlama,       // "llama": Llama 2/3, SmolLM2, TinyLlama
  kBitnet,      // "bitnet": bitnet_b1_58-large/3B as llama.cpp reads it (sub-norms, SiLU)
  kBitnetB158,  // "bitnet-b1.58": BitNet-b1.58-2B-4T (sub-norms, squared ReLU, int8 activations)
};

struct ModelConfig {
  Architecture arch = Architecture::kLlama;
  std::string arch_name;  // general.architecture
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_ff = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // n_embd / n_head
  int64_t n_rot = 0;     // rotated dimensions per head (rope.dimension_count, default head_dim)
  int64_t n_ctx_train = 0;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling
  float rms_eps = 1e-5f;
  bool rope_neox = false;         // RoPE pairs (x[i], x[i + n_rot/2]) instead of (x[2i], x[2i+1])
  bool sub_norms = false;         // RMSNorm before the attention output and FFN down projections
  bool relu_squared = false;      // FFN gate activation: ReLU(x)^2 instead of SiLU(x)
  bool int8_activations = false;  // per-token absmax int8 activations into low-bit matrices

  // Reads and checks the hyperparameters of `file`; throws tmac::Error naming an unsupported
  // architecture or a missing or inconsistent key.
  static ModelConfig FromGguf(const GgufFile& file);
};

class TuneTable;

struct LoadOptions {
  Isa isa = DefaultIsa();
  int threads = 1;  // threads that repack weights at load
  // Called after each weight matrix is ready, with (done, total); e.g. a progress bar.
  std::function<void(int64_t done, int64_t total)> progress;
  // Kernel configurations `tmac tune` chose (include/tmac/tune.h), looked up for `threads`
  // threads; nullptr or no entry: the defaults.
  const TuneTable* tuning = nullptr;
};

class Linear;
struct LayerWeights;

class Model {
 public:
  // Throws tmac::Error for a file that is not a usable model: not GGUF, an unsupported
  // architecture or tensor type, missing tensors or shapes that disagree with the config.
  static std::unique_ptr<Model> Load(const std::filesystem::path& path, const LoadOptions& options = {});
  ~Model();

  const ModelConfig& config() const { return config_; }
  const GgufFile& file() const { return file_; }
  Isa isa() const { return isa_; }

  // Weight bytes one decoded token reads (every matrix once, the embedding row aside): what
  // memory bandwidth divides into a roofline rate.
  int64_t weight_bytes_per_token() const;
  // One line per kind of matrix, e.g. "lut 4-bit g32 (f32 scales): 210 matrices", for `run -v`.
  std::vector<std::string> Describe() const;

  // The graph reads these (src/model/).
  const Linear& token_embedding() const { return *token_embd_; }
  const Linear& output() const { return *output_; }
  const std::vector<float>& output_norm() const { return output_norm_; }
  const std::vector<LayerWeights>& layers() const { return layers_; }
  const std::vector<float>& rope_freq_factors() const { return rope_freq_factors_; }  // empty: none

 private:
  explicit Model(GgufFile file);

  GgufFile file_;
  ModelConfig config_;
  Isa isa_ = Isa::kScalar;
  std::unique_ptr<Linear> token_embd_;
  std::unique_ptr<Linear> output_;  // may view the same tensor as token_embd_ (tied)
  std::vector<float> output_norm_;
  std::vector<LayerWeights> layers_;
  std::vector<float> rope_freq_factors_;
};

}  // namespace tmac
