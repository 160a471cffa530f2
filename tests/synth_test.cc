// Random ggml tensors (tmac/ggml_random.h) decode, through DecodeRow, to weights of the intended
// spread, reproducibly; synthetic models (tmac/synth.h) hold what llama.cpp's loader reads.
#include "tmac/synth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "expect_error.h"
#include "gguf_test_util.h"
#include "tmac/error.h"
#include "tmac/ggml_random.h"
#include "tmac/ggml_types.h"
#include "tmac/gguf.h"
#include "tmac/thread_pool.h"

namespace tmac {

// Test names and messages show the type's name (found by argument-dependent lookup in tmac).
void PrintTo(GgmlType type, std::ostream* os) { *os << GgmlTypeName(type); }

namespace {

using gguf_test::TempDir;
using testing::ExpectError;

constexpr GgmlType kTypes[] = {GgmlType::kF32,  GgmlType::kF16,   GgmlType::kBF16, GgmlType::kQ8_0,
                               GgmlType::kQ4_0, GgmlType::kQ4_1,  GgmlType::kQ5_0, GgmlType::kQ5_1,
                               GgmlType::kQ2_K, GgmlType::kQ3_K,  GgmlType::kQ4_K, GgmlType::kQ5_K,
                               GgmlType::kQ6_K, GgmlType::kTQ1_0, GgmlType::kTQ2_0};

std::vector<uint8_t> RandomRows(GgmlType type, int64_t k, int64_t rows, float std, uint64_t seed,
                                int64_t first_row = 0) {
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * GgmlRowBytes(type, k)));
  RandomGgmlRows(type, k, std, seed, first_row, rows, bytes.data());
  return bytes;
}

std::vector<float> Decode(GgmlType type, const std::vector<uint8_t>& bytes, int64_t k) {
  const int64_t row_bytes = GgmlRowBytes(type, k), rows = static_cast<int64_t>(bytes.size()) / row_bytes;
  std::vector<float> w(static_cast<size_t>(rows * k));
  for (int64_t r = 0; r < rows; ++r) DecodeRow(type, bytes.data() + r * row_bytes, k, w.data() + r * k);
  return w;
}

class RandomRowsTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(RandomRowsTest, DecodeToTheIntendedSpread) {
  const GgmlType type = GetParam();
  const int64_t k = 1024, rows = 128;
  const float std = 1.f / 32;  // 1 / sqrt(k)
  const std::vector<float> w = Decode(type, RandomRows(type, k, rows, std, 42), k);
  double sum = 0, squares = 0;
  for (const float x : w) {
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    squares += static_cast<double>(x) * x;
  }
  const double n = static_cast<double>(w.size()), mean = sum / n;
  const double sd = std::sqrt(squares / n - mean * mean);
  EXPECT_NEAR(sd / std, 1.0, 0.03);
  EXPECT_LT(std::fabs(mean), 0.03 * std);
  // Not a constant: even ternary blocks take three values.
  EXPECT_GE(std::set<float>(w.begin(), w.begin() + 256).size(), 3u);
}

TEST_P(RandomRowsTest, AreReproducibleAndDependOnTheSeed) {
  const GgmlType type = GetParam();
  const int64_t k = 512;
  const std::vector<uint8_t> whole = RandomRows(type, k, 8, 0.05f, 3);
  EXPECT_EQ(RandomRows(type, k, 8, 0.05f, 3), whole);
  EXPECT_NE(RandomRows(type, k, 8, 0.05f, 4), whole);
  // Rows made in pieces, as the threads of tmac synth make them, are the same rows.
  std::vector<uint8_t> pieces = RandomRows(type, k, 3, 0.05f, 3);
  const std::vector<uint8_t> rest = RandomRows(type, k, 5, 0.05f, 3, /*first_row=*/3);
  pieces.insert(pieces.end(), rest.begin(), rest.end());
  EXPECT_EQ(pieces, whole);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, RandomRowsTest, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return GgmlTypeName(info.param); });

TEST(RandomRows, TernaryWeightsAreThirdsOfMinusZeroPlusScale) {
  const int64_t k = 256, rows = 64;
  for (const GgmlType type : {GgmlType::kTQ1_0, GgmlType::kTQ2_0}) {
    const std::vector<float> w = Decode(type, RandomRows(type, k, rows, 0.0625f, 9), k);
    int zeros = 0;
    for (int64_t b = 0; b < rows; ++b) {  // one block per row
      float d = 0;
      for (int64_t i = 0; i < k; ++i) d = std::max(d, std::fabs(w[b * k + i]));
      for (int64_t i = 0; i < k; ++i) {
        const float x = w[b * k + i];
        EXPECT_TRUE(x == 0 || x == d || x == -d) << GgmlTypeName(type) << " " << x << " " << d;
        zeros += x == 0;
      }
    }
    EXPECT_NEAR(zeros / static_cast<double>(rows * k), 1.0 / 3, 0.02) << GgmlTypeName(type);
  }
  // Both draw the same trits and scales, so TQ1_0's base-3 packing decodes to TQ2_0's 2-bit one.
  EXPECT_EQ(Decode(GgmlType::kTQ1_0, RandomRows(GgmlType::kTQ1_0, 1024, 16, 0.1f, 5), 1024),
            Decode(GgmlType::kTQ2_0, RandomRows(GgmlType::kTQ2_0, 1024, 16, 0.1f, 5), 1024));
}

TEST(RandomRows, RejectsWhatTheyCannotMake) {
  uint8_t out[1024];
  ExpectError([&] { RandomGgmlRows(GgmlType::kIQ2_XXS, 256, 1.f, 1, 0, 1, out); }, "IQ2_XXS");
  ExpectError([&] { RandomGgmlRows(GgmlType::kQ4_K, 128, 1.f, 1, 0, 1, out); },
              "128 weights are not a whole number of 256-weight blocks");
  ExpectError([&] { RandomGgmlRows(GgmlType::kQ4_0, 0, 1.f, 1, 0, 1, out); }, "rows of 0 weights");
}

// Synthetic models ------------------------------------------------------------------------------

// A vocab file of `n` tokens of the SentencePiece kind.
void WriteVocab(const std::filesystem::path& path, int n) {
  GgufWriter writer;
  writer.Add("general.architecture", std::string("llama"));
  writer.Add("tokenizer.ggml.model", std::string("llama"));
  std::vector<std::string> tokens;
  for (int i = 0; i < n; ++i) tokens.push_back("t" + std::to_string(i));
  writer.Add("tokenizer.ggml.tokens", GgufArray{tokens});
  writer.Add("tokenizer.ggml.scores", GgufArray{std::vector<float>(n, -1.f)});
  writer.Add("tokenizer.ggml.token_type", GgufArray{std::vector<int32_t>(n, 1)});
  writer.Add("tokenizer.ggml.bos_token_id", uint32_t{1});
  writer.Write(path);
}

class SynthModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteVocab(dir_ / "vocab.gguf", 1000);
    vocab_ = std::make_unique<GgufFile>(GgufFile::Open(dir_ / "vocab.gguf"));
  }
  SynthOptions Options(std::string_view shape, GgmlType type) {
    SynthOptions o;
    o.shape = &FindModelShape(shape);
    o.type = type;
    o.pool = &pool_;
    return o;
  }
  TempDir dir_;
  std::unique_ptr<GgufFile> vocab_;
  ThreadPool pool_{2};
};

TEST_F(SynthModelTest, TinyLlamaHasLlamasTensorsAndKeys) {
  SynthOptions o = Options("tiny-llama", GgmlType::kQ4_K);
  o.output_type = GgmlType::kQ6_K;
  size_t announced = 0;
  o.on_tensor = [&](size_t index, size_t count, std::string_view) {
    EXPECT_EQ(index, announced++);
    EXPECT_EQ(count, 21u);
  };
  const SynthSummary summary = WriteSynthModel(o, *vocab_, dir_ / "m.gguf", false);
  EXPECT_EQ(announced, 21u);
  EXPECT_EQ(summary.n_vocab, 1000);

  const GgufFile f = GgufFile::Open(dir_ / "m.gguf");
  EXPECT_EQ(f.GetString("general.architecture"), "llama");
  EXPECT_EQ(f.GetU32("general.file_type"), 14u);  // LLAMA_FTYPE_MOSTLY_Q4_K_S
  EXPECT_EQ(f.GetU32("llama.embedding_length"), 256u);
  EXPECT_EQ(f.GetU32("llama.feed_forward_length"), 768u);
  EXPECT_EQ(f.GetU32("llama.block_count"), 2u);
  EXPECT_EQ(f.GetU32("llama.attention.head_count"), 4u);
  EXPECT_EQ(f.GetU32("llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(f.GetU32("llama.rope.dimension_count"), 64u);
  EXPECT_EQ(f.GetU32("llama.vocab_size"), 1000u);
  EXPECT_EQ(f.GetF32("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_EQ(f.GetArrayOf<std::string>("tokenizer.ggml.tokens"),
            vocab_->GetArrayOf<std::string>("tokenizer.ggml.tokens"));
  EXPECT_EQ(f.GetU32("tokenizer.ggml.bos_token_id"), 1u);

  ASSERT_EQ(f.tensors().size(), 21u);
  EXPECT_EQ(f.GetTensor("token_embd.weight").shape, (std::vector<int64_t>{256, 1000}));
  EXPECT_EQ(f.GetTensor("token_embd.weight").type, GgmlType::kQ8_0);
  EXPECT_EQ(f.GetTensor("output.weight").type, GgmlType::kQ6_K);
  EXPECT_EQ(f.GetTensor("blk.1.attn_k.weight").shape, (std::vector<int64_t>{256, 128}));  // 2 kv heads of 64
  EXPECT_EQ(f.GetTensor("blk.1.ffn_down.weight").shape, (std::vector<int64_t>{768, 256}));
  EXPECT_EQ(f.GetTensor("blk.0.ffn_gate.weight").type, GgmlType::kQ4_K);
  EXPECT_EQ(f.FindTensor("blk.0.attn_sub_norm.weight"), nullptr);
  const GgufTensor& norm = f.GetTensor("blk.0.ffn_norm.weight");
  ASSERT_EQ(norm.type, GgmlType::kF32);
  std::vector<float> ones(256);
  DecodeRow(GgmlType::kF32, norm.data.data(), 256, ones.data());
  EXPECT_EQ(ones, std::vector<float>(256, 1.f));

  // The weights are RandomGgmlRows's with standard deviation 1/sqrt(K): decoded, they spread so.
  const GgufTensor& down = f.GetTensor("blk.1.ffn_down.weight");
  double squares = 0;
  for (const float x : Decode(down.type, {down.data.begin(), down.data.end()}, 768)) squares += x * x;
  EXPECT_NEAR(std::sqrt(squares / (768 * 256)) * std::sqrt(768.0), 1.0, 0.05);
}

TEST_F(SynthModelTest, TinyBitnetPadsTheVocabAndTiesTheOutput) {
  WriteSynthModel(Options("tiny-bitnet", GgmlType::kTQ2_0), *vocab_, dir_ / "m.gguf", false);
  const GgufFile f = GgufFile::Open(dir_ / "m.gguf");
  EXPECT_EQ(f.GetString("general.architecture"), "bitnet");
  EXPECT_EQ(f.GetU32("general.file_type"), 37u);  // LLAMA_FTYPE_MOSTLY_TQ2_0
  EXPECT_EQ(f.GetU32("bitnet.vocab_size"), 32002u);
  const auto& tokens = f.GetArrayOf<std::string>("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 32002u);
  EXPECT_EQ(tokens[999], "t999");
  EXPECT_EQ(tokens[1000], "<|reserved_0|>");
  EXPECT_EQ(tokens[32001], "<|reserved_31001|>");
  const auto& types = f.GetArrayOf<int32_t>("tokenizer.ggml.token_type");
  ASSERT_EQ(types.size(), 32002u);
  EXPECT_EQ(types[999], 1);
  EXPECT_EQ(types[1000], 5);  // unused
  EXPECT_EQ(f.GetArrayOf<float>("tokenizer.ggml.scores").size(), 32002u);
  EXPECT_EQ(f.GetTensor("token_embd.weight").shape, (std::vector<int64_t>{256, 32002}));
  EXPECT_EQ(f.FindTensor("output.weight"), nullptr);
  EXPECT_EQ(f.GetTensor("blk.1.ffn_sub_norm.weight").shape, (std::vector<int64_t>{512}));
  EXPECT_EQ(f.GetTensor("blk.1.attn_sub_norm.weight").shape, (std::vector<int64_t>{256}));
  EXPECT_EQ(f.tensors().size(), 2 + 2 * 11u);
}

TEST_F(SynthModelTest, SeedsMakeTheFile) {
  SynthOptions o = Options("tiny-llama", GgmlType::kQ2_K);
  WriteSynthModel(o, *vocab_, dir_ / "a.gguf", false);
  o.pool = nullptr;  // one thread makes the same bytes
  WriteSynthModel(o, *vocab_, dir_ / "b.gguf", false);
  o.seed = 2;
  WriteSynthModel(o, *vocab_, dir_ / "c.gguf", false);
  const auto data = [&](const char* name) {
    const GgufFile f = GgufFile::Open(dir_ / name);
    const GgufTensor& t = f.GetTensor("blk.0.attn_q.weight");
    return std::vector<uint8_t>(t.data.begin(), t.data.end());
  };
  EXPECT_EQ(gguf_test::ReadAll(dir_ / "a.gguf"), gguf_test::ReadAll(dir_ / "b.gguf"));
  EXPECT_NE(data("a.gguf"), data("c.gguf"));
  EXPECT_NE(data("a.gguf"), [&] {  // and every tensor has its own weights
    const GgufFile f = GgufFile::Open(dir_ / "a.gguf");
    const GgufTensor& t = f.GetTensor("blk.1.attn_q.weight");
    return std::vector<uint8_t>(t.data.begin(), t.data.end());
  }());
}

TEST_F(SynthModelTest, RejectsWhatDoesNotFitAndWritesNothing) {
  ExpectError([] { FindModelShape("llama-4"); },
              "unknown model shape \"llama-4\"; the shapes are llama-2-7b, ");
  // K-quants at BitNet 3B's 3200-weight rows: the error names the padded shape.
  ExpectError(
      [&] { WriteSynthModel(Options("bitnet-b1.58-3b", GgmlType::kQ4_K), *vocab_, dir_ / "m.gguf", false); },
      "matmul weight type Q4_K: its 256-weight blocks do not divide the 3200-weight rows (n_embd) of "
      "bitnet-b1.58-3b; use the shape bitnet-b1.58-3b-pad256 (n_embd 3328, n_ff 8704), or a type with "
      "32-weight blocks");
  SynthOptions o = Options("bitnet-b1.58-3b", GgmlType::kTQ2_0);
  ExpectError([&] { WriteSynthModel(o, *vocab_, dir_ / "m.gguf", false); }, "matmul weight type TQ2_0");
  o = Options("bitnet-b1.58-3b", GgmlType::kQ4_0);
  o.embd_type = GgmlType::kQ6_K;
  ExpectError([&] { WriteSynthModel(o, *vocab_, dir_ / "m.gguf", false); }, "token_embd type Q6_K");
  o = Options("tiny-bitnet", GgmlType::kTQ1_0);
  o.output_type = GgmlType::kQ8_0;
  ExpectError([&] { WriteSynthModel(o, *vocab_, dir_ / "m.gguf", false); },
              "tiny-bitnet has no output matrix");
  ExpectError(
      [&] { WriteSynthModel(Options("tiny-llama", GgmlType::kIQ4_NL), *vocab_, dir_ / "m.gguf", false); },
      "cannot make random IQ4_NL weights");
  WriteVocab(dir_ / "big.gguf", 40000);
  ExpectError(
      [&] {
        WriteSynthModel(Options("tiny-bitnet", GgmlType::kTQ1_0), GgufFile::Open(dir_ / "big.gguf"),
                        dir_ / "m.gguf", false);
      },
      "40000 tokens, more than the 32002 of the model");
  // A failure while the tensors are made (here: the progress callback stops it) leaves nothing.
  o = Options("tiny-llama", GgmlType::kQ4_0);
  o.on_tensor = [](size_t index, size_t, std::string_view) { Require(index < 5, "stopped"); };
  ExpectError([&] { WriteSynthModel(o, *vocab_, dir_ / "m.gguf", false); }, "stopped");
  EXPECT_EQ(dir_.Entries(), (std::vector<std::string>{"big.gguf", "vocab.gguf"}));
  // An existing file is kept unless overwriting is asked for.
  WriteSynthModel(Options("tiny-llama", GgmlType::kQ4_0), *vocab_, dir_ / "m.gguf", false);
  ExpectError(
      [&] { WriteSynthModel(Options("tiny-llama", GgmlType::kQ4_1), *vocab_, dir_ / "m.gguf", false); },
      "already exists");
  WriteSynthModel(Options("tiny-llama", GgmlType::kQ4_1), *vocab_, dir_ / "m.gguf", true);
  EXPECT_EQ(GgufFile::Open(dir_ / "m.gguf").GetU32("general.file_type"), 3u);
}

}  // namespace
}  // namespace tmac
