#include "tokenizer/vocab.h"

#include <algorithm>
#include <limits>
#include <span>
#include <variant>

#include "tmac/error.h"
#include "tmac/gguf.h"

namespace tmac::tokenizer {

namespace {

constexpr std::string_view kModelKey = "tokenizer.ggml.model";
constexpr std::string_view kPreKey = "tokenizer.ggml.pre";
constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kScoresKey = "tokenizer.ggml.scores";
constexpr std::string_view kTokenTypeKey = "tokenizer.ggml.token_type";
constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";

// The pre-tokenizer names llama.cpp maps to the expressions tmac implements, and the flags that
// come with them.
struct PreTokenizerName {
  std::string_view name;
  PreTokenizer kind;
  bool llama3_flags;  // ignore_merges, and add BOS by default
};
constexpr PreTokenizerName kPreTokenizers[] = {
    {"default", PreTokenizer::kDefault, false},     {"gpt-2", PreTokenizer::kGpt2, false},
    {"phi-2", PreTokenizer::kGpt2, false},          {"mpt", PreTokenizer::kGpt2, false},
    {"olmo", PreTokenizer::kGpt2, false},           {"jina-v1-en", PreTokenizer::kGpt2, false},
    {"roberta-bpe", PreTokenizer::kGpt2, false},    {"llama3", PreTokenizer::kLlama3, true},
    {"llama-v3", PreTokenizer::kLlama3, true},      {"llama-bpe", PreTokenizer::kLlama3, true},
    {"falcon3", PreTokenizer::kLlama3, true},       {"smollm", PreTokenizer::kStarCoder, false},
    {"starcoder", PreTokenizer::kStarCoder, false}, {"refact", PreTokenizer::kStarCoder, false},
    {"codeshell", PreTokenizer::kStarCoder, false},
};

// Texts llama.cpp recognises as end of turn / end of message, in the order tmac prefers them
// (llama.cpp takes whichever its hash map yields first).
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",         "<|endoftext|>",      "<|end_of_text|>",
    "<EOT>",      "_<EOT>",     "[EOT]",   "<｜end▁of▁sentence｜>", "<end_of_utterance>",
};
constexpr std::string_view kEndOfMessageTexts[] = {"<|eom_id|>"};
// Texts that end generation (llama.cpp's special_eog_ids detection).
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
};

uint8_t AttrOfTokenType(int32_t type) {
  switch (type) {
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return kAttrUndefined;  // 0 (undefined) and unknown types
  }
}

std::string Named(const GgufFile& file, std::string_view key) {
  return file.name() + ": " + std::string(key);
}

// The first `count` token scores: an f32 or i32 array (llama.cpp accepts both), 0 when absent.
std::vector<float> ReadScores(const GgufFile& file, size_t count) {
  const GgufArray* array = file.Find<GgufArray>(kScoresKey);
  if (array == nullptr) return std::vector<float>(count, 0.0f);
  std::vector<float> scores;
  if (const auto* f = std::get_if<std::vector<float>>(&array->elements)) {
    scores = *f;
  } else if (const auto* i = std::get_if<std::vector<int32_t>>(&array->elements)) {
    scores.assign(i->begin(), i->end());
  } else {
    throw Error(Named(file, kScoresKey) + " is an array of " +
                std::string(GgufTypeName(array->element_type())) + ", expected f32 or i32");
  }
  Require(scores.size() >= count, Named(file, kScoresKey) + " has " + std::to_string(scores.size()) +
                                      " entries for " + std::to_string(count) + " tokens");
  scores.resize(count);
  return scores;
}

std::vector<uint8_t> ReadAttrs(const GgufFile& file, size_t count) {
  if (file.FindValue(kTokenTypeKey) == nullptr) return std::vector<uint8_t>(count, kAttrNormal);
  const std::vector<int32_t>& types = file.GetArrayOf<int32_t>(kTokenTypeKey);
  Require(types.size() >= count, Named(file, kTokenTypeKey) + " has " + std::to_string(types.size()) +
                                     " entries for " + std::to_string(count) + " tokens");
  std::vector<uint8_t> attrs(count);
  for (size_t i = 0; i < count; ++i) attrs[i] = AttrOfTokenType(types[i]);
  return attrs;
}

const PreTokenizerName& FindPreTokenizer(const GgufFile& file) {
  const std::string* name = file.Find<std::string>(kPreKey);
  // llama.cpp falls back to "default" (with a warning) when the key is absent or empty.
  const std::string_view wanted = name == nullptr || name->empty() ? "default" : std::string_view(*name);
  for (const PreTokenizerName& entry : kPreTokenizers) {
    if (entry.name == wanted) return entry;
  }
  std::string known;
  for (const PreTokenizerName& entry : kPreTokenizers)
    known += (known.empty() ? "" : ", ") + std::string(entry.name);
  throw Error(Named(file, kPreKey) + " is '" + std::string(wanted) +
              "', a pre-tokenizer tmac does not support (" + known + ")");
}

// Merges are "left right", split at the first space after the first byte (a left part may
// itself be a space); the first rank of a repeated pair wins, as in llama.cpp.
TokenIds ReadMerges(const GgufFile& file) {
  const std::vector<std::string>& merges = file.GetArrayOf<std::string>(kMergesKey);
  TokenIds ranks;
  ranks.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string_view merge = merges[i];
    const size_t space = merge.find(' ', 1);
    const std::string_view left = space == std::string_view::npos ? "" : merge.substr(0, space);
    const std::string_view right = space == std::string_view::npos ? "" : merge.substr(space + 1);
    ranks.try_emplace(MergeKey(left, right), static_cast<int32_t>(i));
  }
  return ranks;
}

// Special id `key` from the file when present and in range (llama.cpp ignores, with a warning,
// ids past the vocabulary, such as the 0xFFFFFFFF some converters write for "none").
void ReadSpecialId(const GgufFile& file, std::string_view key, int32_t& id, int32_t vocab_size) {
  if (id >= vocab_size) id = kNoToken;  // a default the vocabulary is too small for
  if (const uint32_t* value = file.Find<uint32_t>(key)) {
    if (*value < static_cast<uint32_t>(vocab_size)) id = static_cast<int32_t>(*value);
  }
}

void ReadFlag(const GgufFile& file, std::string_view key, bool& flag) {
  if (const bool* value = file.Find<bool>(key)) flag = *value;
}

}  // namespace

std::string MergeKey(std::string_view left, std::string_view right) {
  std::string key = std::to_string(left.size());
  key += ':';
  key += left;
  key += right;
  return key;
}

int32_t Vocab::MergeRank(std::string_view left, std::string_view right) const {
  const auto it = merge_ranks.find(MergeKey(left, right));
  return it == merge_ranks.end() ? -1 : it->second;
}

int32_t Vocab::ByteToken(uint8_t byte) const {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const char name[] = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
  int32_t id = Find(std::string_view(name, sizeof(name)));
  if (id == kNoToken) id = Find(std::string_view(reinterpret_cast<const char*>(&byte), 1));
  return id == kNoToken ? unk : id;
}

Vocab Vocab::FromGguf(const GgufFile& file) {
  Vocab v;
  const std::string& model = file.GetString(kModelKey);
  if (model == "llama") {
    v.kind = Tokenizer::Kind::kSentencePiece;
    v.bos = 1, v.eos = 2, v.unk = 0;
    v.add_bos = true;
    v.add_space_prefix = true;
  } else if (model == "gpt2") {
    v.kind = Tokenizer::Kind::kByteLevelBpe;
    const PreTokenizerName& pre = FindPreTokenizer(file);
    v.pre = pre.kind;
    v.bos = 11, v.eos = 11;  // llama.cpp's defaults for BPE vocabularies
    v.add_bos = pre.llama3_flags;
    v.ignore_merges = pre.llama3_flags;
    v.merge_ranks = ReadMerges(file);
  } else {
    throw Error(Named(file, kModelKey) + " is '" + model +
                "', a tokenizer tmac does not support (llama, gpt2)");
  }
  ReadFlag(file, "tokenizer.ggml.add_space_prefix", v.add_space_prefix);

  v.texts = file.GetArrayOf<std::string>(kTokensKey);
  Require(!v.texts.empty(), Named(file, kTokensKey) + " is empty");
  Require(v.texts.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
          Named(file, kTokensKey) + " has too many tokens");
  const size_t count = v.texts.size();
  v.scores = ReadScores(file, count);
  v.attrs = ReadAttrs(file, count);
  v.ids.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (v.texts[i].empty()) v.texts[i] = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp does
    v.ids[v.texts[i]] = static_cast<int32_t>(i);
  }

  const int32_t n = v.size();
  ReadSpecialId(file, "tokenizer.ggml.bos_token_id", v.bos, n);
  ReadSpecialId(file, "tokenizer.ggml.eos_token_id", v.eos, n);
  ReadSpecialId(file, "tokenizer.ggml.eot_token_id", v.eot, n);
  ReadSpecialId(file, "tokenizer.ggml.eom_token_id", v.eom, n);
  ReadSpecialId(file, "tokenizer.ggml.unknown_token_id", v.unk, n);
  ReadFlag(file, "tokenizer.ggml.add_bos_token", v.add_bos);
  ReadFlag(file, "tokenizer.ggml.add_eos_token", v.add_eos);

  // Tokens llama.cpp recognises by their text become control tokens (so that they are cut out
  // of text only with parse_special, and render empty).
  const auto mark_control = [&](int32_t id) { v.attrs[static_cast<size_t>(id)] |= kAttrControl; };
  const auto detect = [&](int32_t& id, std::span<const std::string_view> texts) {
    if (id != kNoToken) return;
    for (std::string_view text : texts) {
      if ((id = v.Find(text)) != kNoToken) break;
    }
    if (id != kNoToken) mark_control(id);
  };
  detect(v.eot, kEndOfTurnTexts);
  detect(v.eom, kEndOfMessageTexts);
  for (std::string_view text : kEndOfGenerationTexts) {
    if (const int32_t id = v.Find(text); id != kNoToken) {
      v.end_of_generation.insert(id);
      mark_control(id);
    }
  }
  for (const int32_t id : {v.eos, v.eot, v.eom}) {
    if (id != kNoToken) v.end_of_generation.insert(id);
  }

  for (int32_t id = 0; id < n; ++id) {
    if (v.Has(id, kAttrControl | kAttrUserDefined | kAttrUnknown)) {
      v.special_by_length.push_back(id);
    }
  }
  std::stable_sort(v.special_by_length.begin(), v.special_by_length.end(), [&](int32_t a, int32_t b) {
    return v.texts[static_cast<size_t>(a)].size() > v.texts[static_cast<size_t>(b)].size();
  });
  return v;
}

}  // namespace tmac::tokenizer
