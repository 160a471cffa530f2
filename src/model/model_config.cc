// Hyperparameters from GGUF metadata, under llama.cpp's key names ("<arch>.block_count", ...).

#include <optional>
#include <string>

#include "tmac/error.h"
#include "tmac/model.h"
#include "util/str_cat.h"

namespace tmac {
namespace {

// Reads `<arch>.<name>` keys, accepting any integer or float width a converter may have used.
class ArchKeys {
 public:
  ArchKeys(const GgufFile& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

  std::optional<int64_t> FindInt(std::string_view name) const {
    const std::string key = Key(name);
    const GgufValue* value = file_.FindValue(key);
    if (value == nullptr) return std::nullopt;
    return std::visit(
        [&](const auto& v) -> int64_t {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
            return static_cast<int64_t>(v);
          } else {
            throw Error(StrCat(file_.name(), ": ", key, " is a ", GgufTypeName(TypeOf(*value)),
                               ", expected an integer"));
          }
        },
        *value);
  }
  int64_t GetInt(std::string_view name) const {
    const std::optional<int64_t> value = FindInt(name);
    Require(value.has_value(), StrCat(file_.name(), ": missing metadata key ", Key(name)));
    return *value;
  }
  std::optional<float> FindFloat(std::string_view name) const {
    const std::string key = Key(name);
    const GgufValue* value = file_.FindValue(key);
    if (value == nullptr) return std::nullopt;
    if (const float* f = std::get_if<float>(value)) return *f;
    if (const double* d = std::get_if<double>(value)) return static_cast<float>(*d);
    throw Error(
        StrCat(file_.name(), ": ", key, " is a ", GgufTypeName(TypeOf(*value)), ", expected a float"));
  }
  const std::string* FindString(std::string_view name) const { return file_.Find<std::string>(Key(name)); }

 private:
  std::string Key(std::string_view name) const { return arch_ + "." + std::string(name); }
  const GgufFile& file_;
  std::string arch_;
};

}  // namespace

ModelConfig ModelConfig::FromGguf(const GgufFile& file) {
  ModelConfig c;
  c.arch_name = file.GetString("general.architecture");
  if (c.arch_name == "llama") {
    c.arch = Architecture::kLlama;
  } else if (c.arch_name == "bitnet") {
    c.arch = Architecture::kBitnet;
    c.rope_neox = true;  // llama.cpp's rope type for bitnet: its converter keeps the HF row order
    c.sub_norms = true;
  } else if (c.arch_name == "bitnet-b1.58") {
    c.arch = Architecture::kBitnetB158;
    c.rope_neox = true;
    c.sub_norms = true;
    c.relu_squared = true;
    c.int8_activations = true;
  } else {
    throw Error(StrCat(file.name(), ": unsupported architecture '", c.arch_name,
                       "' (tmac runs llama, bitnet and bitnet-b1.58)"));
  }

  const ArchKeys keys(file, c.arch_name);
  c.n_embd = keys.GetInt("embedding_length");
  c.n_ff = keys.GetInt("feed_forward_length");
  c.n_layer = keys.GetInt("block_count");
  c.n_head = keys.GetInt("attention.head_count");
  c.n_head_kv = keys.FindInt("attention.head_count_kv").value_or(c.n_head);
  c.n_ctx_train = keys.FindInt("context_length").value_or(2048);
  c.rms_eps = keys.FindFloat("attention.layer_norm_rms_epsilon").value_or(1e-5f);
  c.rope_freq_base = keys.FindFloat("rope.freq_base").value_or(10000.0f);

  const auto check = [&](bool ok, const std::string& what) {
    Require(ok, StrCat(file.name(), ": inconsistent hyperparameters: ", what));
  };
  check(c.n_embd > 0 && c.n_embd <= (1 << 16), StrCat("embedding_length ", c.n_embd));
  check(c.n_ff > 0 && c.n_ff <= (1 << 18), StrCat("feed_forward_length ", c.n_ff));
  check(c.n_layer > 0 && c.n_layer <= 1024, StrCat("block_count ", c.n_layer));
  check(c.n_head > 0 && c.n_embd % c.n_head == 0,
        StrCat("head_count ", c.n_head, " does not divide embedding_length ", c.n_embd));
  check(c.n_head_kv > 0 && c.n_head % c.n_head_kv == 0,
        StrCat("head_count_kv ", c.n_head_kv, " does not divide head_count ", c.n_head));
  check(c.n_ctx_train > 0, StrCat("context_length ", c.n_ctx_train));
  check(c.rms_eps > 0 && c.rope_freq_base > 0, "non-positive rms epsilon or rope base");
  c.head_dim = c.n_embd / c.n_head;
  c.n_rot = keys.FindInt("rope.dimension_count").value_or(c.head_dim);
  check(c.n_rot > 0 && c.n_rot <= c.head_dim && c.n_rot % 2 == 0,
        StrCat("rope.dimension_count ", c.n_rot, " with head size ", c.head_dim));

  if (const std::string* scaling = keys.FindString("rope.scaling.type")) {
    const float factor = keys.FindFloat("rope.scaling.factor").value_or(1.0f);
    if (*scaling == "linear") {
      check(factor > 0, "rope.scaling.factor must be positive");
      c.rope_freq_scale = 1.0f / factor;
    } else if (*scaling != "none" && !(*scaling == "yarn" && factor == 1.0f)) {
      throw Error(StrCat(file.name(), ": unsupported rope scaling '", *scaling, "'"));
    }
  }

  const GgufTensor& embd = file.GetTensor("token_embd.weight");
  check(embd.shape.size() == 2 && embd.shape[0] == c.n_embd,
        StrCat("token_embd.weight's rows are not embedding_length ", c.n_embd, " long"));
  c.n_vocab = embd.shape[1];
  return c;
}

}  // namespace tmac
