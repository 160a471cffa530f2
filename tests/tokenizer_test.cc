// The tokenizer against llama.cpp's own test vectors (../shared/models/tokenizer-vectors), against
// a plain re-implementation of llama2.c's encoder reading stories260K's tok512.bin, and on
// special tokens, invalid UTF-8, round trips and malformed vocabularies.
#include "tmac/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "expect_error.h"
#include "gguf_test_util.h"
#include "tmac/gguf.h"
#include "tokenizer/pretokenizer.h"

namespace tmac {
namespace {

namespace fs = std::filesystem;
using testing::ExpectError;

const fs::path kModels = TMAC_MODELS_DIR;
const fs::path kVectors = kModels / "tokenizer-vectors";

#define SKIP_IF_ABSENT(path) \
  if (!fs::exists(path)) GTEST_SKIP() << (path) << " is absent"

Tokenizer Load(const fs::path& path) { return Tokenizer::FromGguf(GgufFile::Open(path)); }

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct Vector {
  std::string input;
  std::vector<int32_t> expected;
};

// llama.cpp's tests/test-tokenizer-0.cpp format: inputs separated by "\n__ggml_vocab_test__\n"
// (so an input's own last newline belongs to the separator), one line of ids per input.
std::vector<Vector> ReadVectors(const fs::path& vocab) {
  const std::string inputs = ReadText(vocab.string() + ".inp");
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<Vector> vectors;
  for (size_t pos = 0; pos < inputs.size();) {
    size_t next = inputs.find(separator, pos);
    if (next == std::string::npos) next = inputs.size();
    vectors.push_back({inputs.substr(pos, next - pos), {}});
    pos = next + separator.size();
  }
  std::ifstream outputs(vocab.string() + ".out");
  size_t i = 0;
  for (std::string line; std::getline(outputs, line); ++i) {
    if (i >= vectors.size()) break;
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) vectors[i].expected.push_back(id);
  }
  EXPECT_EQ(i, vectors.size()) << "one line of ids per input";
  return vectors;
}

class LlamaVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(LlamaVectors, MatchLlamaCppExactly) {
  const fs::path vocab = kVectors / GetParam();
  SKIP_IF_ABSENT(vocab);
  const Tokenizer tokenizer = Load(vocab);
  const std::vector<Vector> vectors = ReadVectors(vocab);
  ASSERT_EQ(vectors.size(), 46u);
  for (const Vector& v : vectors) {
    // As test-tokenizer-0: no BOS, special tokens not parsed.
    EXPECT_EQ(tokenizer.Encode(v.input, /*add_special=*/false, /*parse_special=*/false), v.expected)
        << "input: '" << v.input << "'";
  }
}

TEST_P(LlamaVectors, DecodeRestoresTheText) {
  const fs::path vocab = kVectors / GetParam();
  SKIP_IF_ABSENT(vocab);
  const Tokenizer tokenizer = Load(vocab);
  for (const Vector& v : ReadVectors(vocab)) {
    EXPECT_EQ(tokenizer.Decode(v.expected), v.input);
    EXPECT_EQ(tokenizer.Decode(tokenizer.Encode(v.input, /*add_special=*/true, false)), v.input);
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, LlamaVectors,
                         ::testing::Values("ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"));

TEST(Tokenizer, VocabularyFlagsFollowLlamaCpp) {
  SKIP_IF_ABSENT(kVectors / "ggml-vocab-llama-spm.gguf");
  const Tokenizer spm = Load(kVectors / "ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(spm.kind(), Tokenizer::Kind::kSentencePiece);
  EXPECT_EQ(spm.size(), 32000);
  EXPECT_EQ(spm.bos(), 1);
  EXPECT_EQ(spm.eos(), 2);
  EXPECT_TRUE(spm.add_bos());
  EXPECT_FALSE(spm.add_eos());
  EXPECT_TRUE(spm.IsEndOfGeneration(2));
  EXPECT_FALSE(spm.IsEndOfGeneration(1));
  // " Hello" with the space SentencePiece puts first, after BOS.
  EXPECT_EQ(spm.Encode("Hello", true, false), (std::vector<int32_t>{1, 15043}));

  const Tokenizer gpt2 = Load(kVectors / "ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(gpt2.kind(), Tokenizer::Kind::kByteLevelBpe);
  EXPECT_EQ(gpt2.bos(), 50256);
  EXPECT_FALSE(gpt2.add_bos());  // GPT-2 BPE adds no BOS unless the file says so
  EXPECT_TRUE(gpt2.IsEndOfGeneration(50256));
  EXPECT_EQ(gpt2.Encode("Hello world", true, false), gpt2.Encode("Hello world", false, false));
}

TEST(Tokenizer, ControlTokensAreParsedOnlyWhenAsked) {
  SKIP_IF_ABSENT(kVectors / "ggml-vocab-llama-spm.gguf");
  const Tokenizer tokenizer = Load(kVectors / "ggml-vocab-llama-spm.gguf");
  const std::vector<int32_t> parsed = tokenizer.Encode("<s>Hi</s>", false, /*parse_special=*/true);
  ASSERT_GE(parsed.size(), 3u);
  EXPECT_EQ(parsed.front(), 1);
  EXPECT_EQ(parsed.back(), 2);
  // After a special token SentencePiece starts a new text with a space, as llama.cpp does.
  const std::vector<int32_t> hi = tokenizer.Encode("Hi", false, false);
  EXPECT_EQ(std::vector<int32_t>(parsed.begin() + 1, parsed.end() - 1), hi);

  const std::vector<int32_t> plain = tokenizer.Encode("<s>Hi</s>", false, /*parse_special=*/false);
  for (const int32_t id : plain) EXPECT_TRUE(id != 1 && id != 2) << id;
  EXPECT_EQ(tokenizer.Decode(plain), "<s>Hi</s>");
  // Control tokens render empty unless asked for.
  EXPECT_EQ(tokenizer.TokenToPiece(1), "");
  EXPECT_EQ(tokenizer.TokenToPiece(1, /*special=*/true), "<s>");
  EXPECT_TRUE(tokenizer.IsControl(1));
}

TEST(Tokenizer, InvalidUtf8IsTokenizedNotRejected) {
  SKIP_IF_ABSENT(kVectors / "ggml-vocab-gpt-2.gguf");
  const std::string inputs[] = {
      "\xff",
      "\xc3",
      "a\xc3",
      "\x80\x80 b",
      "\xe4\xb8",
      "\xf0\x9f\x98",
      "\xf5\x80\x80\x80",
      "\xed\xa0\x80",
      std::string("nul\0byte", 8),
      "ok \xc0\xaf end \xfe\xff",
  };
  const Tokenizer spm = Load(kVectors / "ggml-vocab-llama-spm.gguf");
  for (const std::string& text : inputs) {
    // SentencePiece falls back to byte tokens, so every byte comes back.
    EXPECT_EQ(spm.Decode(spm.Encode(text, false, false)), text);
  }
  const Tokenizer gpt2 = Load(kVectors / "ggml-vocab-gpt-2.gguf");
  // Byte-level BPE sees an invalid byte as U+FFFD, as llama.cpp's unicode_cpts_from_utf8 does.
  EXPECT_EQ(gpt2.Decode(gpt2.Encode("a\xff"
                                    "b",
                                    false, false)),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(gpt2.Decode(gpt2.Encode("\xe4\xb8", false, false)), "\xef\xbf\xbd\xef\xbf\xbd");
  for (const std::string& text : inputs) EXPECT_FALSE(gpt2.Encode(text, false, false).empty());
}

TEST(Tokenizer, ArbitraryBytesRoundTripThroughSentencePiece) {
  SKIP_IF_ABSENT(kVectors / "ggml-vocab-llama-spm.gguf");
  const Tokenizer spm = Load(kVectors / "ggml-vocab-llama-spm.gguf");
  const Tokenizer gpt2 = Load(kVectors / "ggml-vocab-gpt-2.gguf");
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string text(rng() % 40, '\0');
    for (char& c : text) c = static_cast<char>(rng() % 4 == 0 ? 'a' + rng() % 3 : rng());
    // A space is written as the three bytes of "\xe2\x96\x81" first, and an invalid lead byte
    // before it takes some of them into its character (llama.cpp splits the same way), so only
    // space-free texts come back byte for byte.
    std::replace(text.begin(), text.end(), ' ', '_');
    const std::vector<int32_t> ids = spm.Encode(text, true, true);
    EXPECT_EQ(spm.Decode(ids), text);
    for (const int32_t id : gpt2.Encode(text, true, true)) EXPECT_TRUE(id >= 0 && id < gpt2.size());
  }
}

TEST(Tokenizer, RejectsIdsOutsideTheVocabulary) {
  SKIP_IF_ABSENT(kVectors / "ggml-vocab-gpt-2.gguf");
  const Tokenizer tokenizer = Load(kVectors / "ggml-vocab-gpt-2.gguf");
  ExpectError([&] { tokenizer.TokenToPiece(-1); }, "outside the vocabulary");
  ExpectError([&] { tokenizer.TokenToPiece(50257); }, "outside the vocabulary");
  const int32_t ids[] = {15496, 99999};
  ExpectError([&] { tokenizer.Decode(ids); }, "token id 99999");
}

// Pre-tokenizers on texts whose splits follow from their expressions by hand (the oracle test
// compares them with llama.cpp on many more).
using Words = std::vector<std::string>;

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(tokenizer::PreTokenize("Hello, y'all! I'VE 1234  x\n\n", tokenizer::PreTokenizer::kGpt2),
            (Words{"Hello", ",", " y", "'", "all", "!", " I", "'", "VE", " 1234", " ", " x", "\n\n"}));
}

TEST(PreTokenizer, Llama3) {
  EXPECT_EQ(tokenizer::PreTokenize("Hello, y'all! I'VE 333333 \n\n  x", tokenizer::PreTokenizer::kLlama3),
            (Words{"Hello", ",", " y", "'all", "!", " I", "'VE", " ", "333", "333", " \n\n", " ", " x"}));
}

TEST(PreTokenizer, StarCoderIsolatesDigits) {
  EXPECT_EQ(tokenizer::PreTokenize("ab 123c", tokenizer::PreTokenizer::kStarCoder),
            (Words{"ab", " ", "1", "2", "3", "c"}));
}

TEST(PreTokenizer, DefaultSplitsPunctuationNumbersAndDigitTriples) {
  EXPECT_EQ(tokenizer::PreTokenize("a+=b 12345,x", tokenizer::PreTokenizer::kDefault),
            (Words{"a", "+=", "b", " ", "123", "45", ",", "x"}));
}

TEST(PreTokenizer, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(tokenizer::PreTokenize("a\xff\xc3", tokenizer::PreTokenizer::kGpt2),
            (Words{"a", "\xef\xbf\xbd\xef\xbf\xbd"}));
}

// llama2.c's tokenizer file: max token length, then per token its score, length and bytes.
struct Llama2cVocab {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::map<std::string, int32_t> ids;
};

Llama2cVocab ReadLlama2cVocab(const fs::path& path, int32_t size) {
  std::ifstream in(path, std::ios::binary);
  Llama2cVocab v;
  int32_t max_length = 0;
  in.read(reinterpret_cast<char*>(&max_length), 4);
  for (int32_t i = 0; i < size; ++i) {
    float score = 0;
    int32_t length = 0;
    in.read(reinterpret_cast<char*>(&score), 4);
    in.read(reinterpret_cast<char*>(&length), 4);
    std::string piece(static_cast<size_t>(length), '\0');
    in.read(piece.data(), length);
    v.pieces.push_back(piece);
    v.scores.push_back(score);
    v.ids.emplace(piece, i);
  }
  EXPECT_TRUE(in.good());
  return v;
}

// llama2.c's run.c encode: a space before the text, one token per UTF-8 character (bytes + 3
// when it has none), then merge the best-scoring adjacent pair, leftmost first, until none
// merges. Its pieces hold spaces where GGUF holds "▁".
std::vector<int32_t> Llama2cEncode(const Llama2cVocab& v, const std::string& text) {
  const std::string spaced = " " + text;
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < spaced.size();) {
    size_t n = 1;
    while (i + n < spaced.size() && (static_cast<uint8_t>(spaced[i + n]) & 0xC0) == 0x80 && n < 4) ++n;
    const auto it = v.ids.find(spaced.substr(i, n));
    if (it != v.ids.end()) {
      tokens.push_back(it->second);
    } else {
      for (size_t j = 0; j < n; ++j) tokens.push_back(static_cast<uint8_t>(spaced[i + j]) + 3);
    }
    i += n;
  }
  for (;;) {
    float best_score = -1e10f;
    int best_id = -1;
    size_t best_at = 0;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      const auto it = v.ids.find(v.pieces[tokens[i]] + v.pieces[tokens[i + 1]]);
      if (it != v.ids.end() && v.scores[it->second] > best_score) {
        best_score = v.scores[it->second], best_id = it->second, best_at = i;
      }
    }
    if (best_id < 0) return tokens;
    tokens[best_at] = best_id;
    tokens.erase(tokens.begin() + static_cast<ptrdiff_t>(best_at) + 1);
  }
}

TEST(Tokenizer, Stories260KMatchesLlama2c) {
  const fs::path gguf = kModels / "stories260K" / "stories260K.gguf";
  SKIP_IF_ABSENT(gguf);
  const Tokenizer tokenizer = Load(gguf);
  ASSERT_EQ(tokenizer.size(), 512);
  const Llama2cVocab reference = ReadLlama2cVocab(kModels / "stories260K" / "tok512.bin", 512);
  const std::string prompts[] = {
      "Once upon a time",
      "Zoo",
      "Lily and Tom went to the park. They saw a big, red ball!",
      "\"Mom,\" said Ben, \"can we go?\"  Yes.\nThe end.",
      "caf\xc3\xa9 \xe2\x98\x95 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac",  // byte fallback
  };
  for (const std::string& prompt : prompts) {
    const std::vector<int32_t> ids = tokenizer.Encode(prompt, /*add_special=*/true, false);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), 1);
    EXPECT_EQ(std::vector<int32_t>(ids.begin() + 1, ids.end()), Llama2cEncode(reference, prompt)) << prompt;
    EXPECT_EQ(tokenizer.Decode(ids), prompt);
  }
}

// Malformed vocabularies ------------------------------------------------------------------------

using Metadata = std::vector<std::pair<std::string, GgufValue>>;

GgufArray Strings(std::vector<std::string> items) { return GgufArray{std::move(items)}; }

// A small byte-level BPE vocabulary with the merges that build "ab" and a control token.
Metadata TinyGpt2() {
  return {{"tokenizer.ggml.model", std::string("gpt2")},
          {"tokenizer.ggml.pre", std::string("gpt-2")},
          {"tokenizer.ggml.tokens", Strings({"a", "b", "ab", "<|im_end|>", "\xc4\xa0",
                                             "\xc4\xa0"
                                             "ab"})},
          {"tokenizer.ggml.token_type", GgufArray{std::vector<int32_t>{1, 1, 1, 3, 1, 1}}},
          {"tokenizer.ggml.merges", Strings({"a b", "\xc4\xa0 ab"})},
          {"tokenizer.ggml.eos_token_id", uint32_t{3}}};
}

class VocabFile {
 public:
  explicit VocabFile(const Metadata& metadata) {
    GgufWriter writer;
    for (const auto& [key, value] : metadata) writer.Add(key, value);
    writer.Write(dir_ / "vocab.gguf");
    file_ = std::make_unique<GgufFile>(GgufFile::Open(dir_ / "vocab.gguf"));
  }
  const GgufFile& file() const { return *file_; }

 private:
  gguf_test::TempDir dir_;
  std::unique_ptr<GgufFile> file_;
};

Metadata With(Metadata metadata, const std::string& key, GgufValue value) {
  for (auto& [k, v] : metadata) {
    if (k == key) {
      v = std::move(value);
      return metadata;
    }
  }
  metadata.emplace_back(key, std::move(value));
  return metadata;
}

Metadata Without(Metadata metadata, const std::string& key) {
  std::erase_if(metadata, [&](const auto& kv) { return kv.first == key; });
  return metadata;
}

TEST(Tokenizer, SmallVocabularyMergesAndParsesSpecialTokens) {
  const VocabFile vocab(TinyGpt2());
  const Tokenizer tokenizer = Tokenizer::FromGguf(vocab.file());
  EXPECT_EQ(tokenizer.Encode("ab ab", false, false), (std::vector<int32_t>{2, 5}));
  EXPECT_EQ(tokenizer.Encode("ab<|im_end|>", false, true), (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(tokenizer.eot(), 3);
  EXPECT_TRUE(tokenizer.IsEndOfGeneration(3));
  EXPECT_EQ(tokenizer.TokenToPiece(5), " ab");
}

TEST(Tokenizer, RejectsBadMetadata) {
  const auto error_of = [](const Metadata& metadata) {
    const VocabFile vocab(metadata);
    return gguf_test::ErrorOf([&] { Tokenizer::FromGguf(vocab.file()); });
  };
  const auto expect = [&](const Metadata& metadata, const std::string& part) {
    const std::string message = error_of(metadata);
    EXPECT_NE(message.find(part), std::string::npos) << message;
  };
  expect(With(TinyGpt2(), "tokenizer.ggml.model", std::string("bert")),
         "'bert', a tokenizer tmac does not support");
  expect(With(TinyGpt2(), "tokenizer.ggml.pre", std::string("qwen2")), "'qwen2', a pre-tokenizer");
  expect(Without(TinyGpt2(), "tokenizer.ggml.model"), "no metadata key \"tokenizer.ggml.model\"");
  expect(Without(TinyGpt2(), "tokenizer.ggml.tokens"), "tokenizer.ggml.tokens");
  expect(Without(TinyGpt2(), "tokenizer.ggml.merges"), "tokenizer.ggml.merges");
  expect(With(TinyGpt2(), "tokenizer.ggml.tokens", GgufArray{std::vector<int32_t>{1, 2}}), "array of i32");
  expect(With(TinyGpt2(), "tokenizer.ggml.model", uint32_t{2}), "has type u32, expected string");
  expect(With(TinyGpt2(), "tokenizer.ggml.token_type", GgufArray{std::vector<int32_t>{1}}),
         "has 1 entries for 6");
  expect(With(TinyGpt2(), "tokenizer.ggml.scores", GgufArray{std::vector<std::string>{"x"}}),
         "tokenizer.ggml.scores is an array of string");
  expect(With(TinyGpt2(), "tokenizer.ggml.eos_token_id", int32_t{3}), "has type i32, expected u32");
  expect(With(TinyGpt2(), "tokenizer.ggml.tokens", Strings({})), "is empty");
}

TEST(Tokenizer, IgnoresOutOfRangeSpecialIdsAndFallsBackToUnknown) {
  // A SentencePiece vocabulary of three tokens and no byte tokens.
  Metadata spm = {{"tokenizer.ggml.model", std::string("llama")},
                  {"tokenizer.ggml.tokens", Strings({"<unk>", "\xe2\x96\x81", "a"})},
                  {"tokenizer.ggml.bos_token_id", uint32_t{0xFFFFFFFF}}};
  // 0xFFFFFFFF is out of range and ignored, so the default BOS id 1 stays.
  const VocabFile vocab(spm);
  const Tokenizer tokenizer = Tokenizer::FromGguf(vocab.file());
  EXPECT_EQ(tokenizer.bos(), 1);
  EXPECT_EQ(tokenizer.Encode("a", false, false), (std::vector<int32_t>{1, 2}));
  // "b" has no token and there are no byte tokens: the unknown token stands in.
  EXPECT_EQ(tokenizer.Encode("b", false, false), (std::vector<int32_t>{1, 0}));
}

}  // namespace
}  // namespace tmac
