// The forward pass (Context) on small synthetic models: invariances that must hold whatever the
// weights (batching, threads, ISA, cache type), and errors. Agreement with independent engines is
// checked in tests/oracle/ (llama.cpp, llama2.c, a numpy BitNet reference).
#include "tmac/context.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "expect_error.h"
#include "tmac/error.h"
#include "tmac/gguf.h"
#include "tmac/model.h"
#include "tmac/synth.h"

namespace tmac {
namespace {

const std::filesystem::path kVocab =
    std::filesystem::path(TMAC_MODELS_DIR) / "tokenizer-vectors" / "ggml-vocab-llama-spm.gguf";

// A synthetic model in a temporary file of this process's (ctest runs tests in parallel).
std::filesystem::path SynthModel(std::string_view shape, GgmlType type) {
  const auto path =
      std::filesystem::temp_directory_path() / ("tmac_context_test_" + std::to_string(getpid()) + "_" +
                                                std::string(shape) + "_" + GgmlTypeName(type) + ".gguf");
  SynthOptions o;
  o.shape = &FindModelShape(shape);
  o.type = type;
  o.seed = 3;
  WriteSynthModel(o, GgufFile::Open(kVocab), path, /*overwrite=*/true);
  return path;
}

std::vector<int32_t> Tokens(int n) {
  std::vector<int32_t> tokens;
  for (int i = 0; i < n; ++i) tokens.push_back(1 + (i * 7919) % 31000);
  return tokens;
}

// The logits after each of the last Eval's `count` tokens (it asked for all of them), in a row.
std::vector<float> LogitRows(const Context& context, size_t count) {
  std::vector<float> out;
  for (size_t i = 0; i < count; ++i) {
    const auto row = context.logits(static_cast<int64_t>(i));
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

// Logits after every token, evaluated in one call.
std::vector<float> AllLogits(const Model& model, const ContextOptions& options,
                             const std::vector<int32_t>& tokens) {
  Context context(model, options);
  context.Eval(tokens, /*all_logits=*/true);
  return LogitRows(context, tokens.size());
}

class ContextTest : public ::testing::TestWithParam<GgmlType> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kVocab)) GTEST_SKIP() << kVocab << " is missing";
    path_ = SynthModel("tiny-llama", GetParam());
    model_ = Model::Load(path_);
  }
  void TearDown() override {
    model_.reset();
    if (!path_.empty()) std::filesystem::remove(path_);
  }
  std::filesystem::path path_;
  std::unique_ptr<Model> model_;
};

TEST_P(ContextTest, BatchSizeAndThreadsDoNotChangeTheLogits) {
  const std::vector<int32_t> tokens = Tokens(19);
  ContextOptions base;
  base.n_ctx = 64;
  base.n_batch = 64;
  const std::vector<float> expected = AllLogits(*model_, base, tokens);
  for (int64_t batch : {1, 5}) {
    ContextOptions o = base;
    o.n_batch = batch;
    EXPECT_EQ(AllLogits(*model_, o, tokens), expected) << "batch " << batch;
  }
  ContextOptions two = base;
  two.threads = 2;
  EXPECT_EQ(AllLogits(*model_, two, tokens), expected) << "2 threads";
}

TEST_P(ContextTest, IncrementalDecodingEqualsOnePass) {
  const std::vector<int32_t> tokens = Tokens(12);
  ContextOptions o;
  o.n_ctx = 32;
  const std::vector<float> expected = AllLogits(*model_, o, tokens);
  Context context(*model_, o);
  const int64_t vocab = model_->config().n_vocab;
  for (size_t i = 0; i < tokens.size(); ++i) {
    context.Eval({&tokens[i], 1});
    const auto row = context.logits();
    const std::vector<float> want(expected.begin() + static_cast<int64_t>(i) * vocab,
                                  expected.begin() + static_cast<int64_t>(i + 1) * vocab);
    ASSERT_EQ(std::vector<float>(row.begin(), row.end()), want) << "token " << i;
  }
  EXPECT_EQ(context.n_past(), 12);
}

TEST_P(ContextTest, AStoppedEvalKeepsItsWholePassesAndContinuesExactly) {
  const std::vector<int32_t> tokens = Tokens(19);
  ContextOptions o;
  o.n_ctx = 32;
  o.n_batch = 4;
  const std::vector<float> expected = AllLogits(*model_, o, tokens);
  const int64_t vocab = model_->config().n_vocab;
  const auto rows_from = [&](int64_t first) {
    return std::vector<float>(expected.begin() + first * vocab, expected.end());
  };
  Context context(*model_, o);
  int64_t passes = 0;
  const auto after_two_passes = [&] { return passes++ == 2; };
  EXPECT_EQ(context.Eval(tokens, /*all_logits=*/true, after_two_passes), 8);
  EXPECT_EQ(passes, 3);  // asked before each pass, not again after stopping
  EXPECT_EQ(context.n_past(), 8);
  testing::ExpectError([&] { context.logits(0); }, "no logits");

  // The rest from where it stopped: the logits of an uninterrupted call, bit for bit, whether
  // all rows or the last one only are asked for.
  const std::span<const int32_t> rest = std::span(tokens).subspan(8);
  const auto never = [] { return false; };
  EXPECT_EQ(context.Eval(rest, /*all_logits=*/true, never), 11);
  EXPECT_EQ(context.n_past(), 19);
  EXPECT_EQ(LogitRows(context, rest.size()), rows_from(8));

  // Rewound to a point before the stop (as the chat drops an interrupted message), the cache
  // goes on from there as if nothing had been evaluated after it.
  context.Rewind(4);
  testing::ExpectError([&] { context.logits(); }, "no logits");
  EXPECT_EQ(context.Eval(std::span(tokens).subspan(4)), 15);
  const auto last = context.logits();
  EXPECT_EQ(std::vector<float>(last.begin(), last.end()), rows_from(18));

  // Told to stop before the first pass, nothing runs.
  const auto always = [] { return true; };
  context.Rewind(0);
  EXPECT_EQ(context.Eval(tokens, /*all_logits=*/false, always), 0);
  EXPECT_EQ(context.n_past(), 0);
  testing::ExpectError([&] { context.Rewind(1); }, "cannot rewind to position 1");
}

TEST_P(ContextTest, AnF32CacheStaysCloseToTheF16One) {
  const std::vector<int32_t> tokens = Tokens(16);
  ContextOptions f16;
  f16.n_ctx = 32;
  ContextOptions f32 = f16;
  f32.kv_type = KvType::kF32;
  const std::vector<float> a = AllLogits(*model_, f16, tokens), b = AllLogits(*model_, f32, tokens);
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(a[i] - b[i])));
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(b[i])));
  }
  EXPECT_GT(max_abs, 0.1);
  EXPECT_LT(max_diff, 0.05 * max_abs);  // f16 rounding of keys, values and weights only
}

TEST_P(ContextTest, RejectsWhatDoesNotFit) {
  ContextOptions o;
  o.n_ctx = 8;
  Context context(*model_, o);
  testing::ExpectError([&] { context.Eval(Tokens(9)); }, "do not fit in the context of 8");
  const std::vector<int32_t> bad = {1, static_cast<int32_t>(model_->config().n_vocab)};
  testing::ExpectError([&] { context.Eval(bad); }, "not in the vocabulary");
  testing::ExpectError([&] { context.Eval({}); }, "no tokens");
  EXPECT_EQ(context.n_past(), 0);  // failed calls leave the cache as it was
  context.Eval(Tokens(8));
  testing::ExpectError([&] { context.Eval(Tokens(1)); }, "do not fit");
  context.Reset();
  context.Eval(Tokens(1));
  EXPECT_EQ(context.n_past(), 1);
}

// F32 weights run on GgmlMatmul, Q4_0 and TQ2_0 are repacked into the LUT layout at load.
INSTANTIATE_TEST_SUITE_P(Types, ContextTest,
                         ::testing::Values(GgmlType::kF32, GgmlType::kQ4_0, GgmlType::kTQ2_0),
                         [](const auto& info) { return GgmlTypeName(info.param); });

// Numerics::kLlamaCpp (llama.cpp's arithmetic; tests/oracle/ checks it against llama.cpp bit for
// bit): results independent of the thread count, near tmac's own, and errors for what it does
// not reproduce.
TEST(LlamaCppNumerics, ThreadsDoNotChangeTheLogitsAndTheyStayNearTheFastOnes) {
  if (!std::filesystem::exists(kVocab)) GTEST_SKIP() << kVocab << " is missing";
  const auto path = SynthModel("tiny-llama", GgmlType::kQ4_1);
  const auto model = Model::Load(path);
  const std::vector<int32_t> tokens = Tokens(17);
  ContextOptions o;
  o.n_ctx = 32;
  o.numerics = Numerics::kLlamaCpp;
  const std::vector<float> one = AllLogits(*model, o, tokens);
  o.threads = 2;
  EXPECT_EQ(AllLogits(*model, o, tokens), one);
  o.numerics = Numerics::kFast;
  const std::vector<float> fast = AllLogits(*model, o, tokens);
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < one.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(one[i] - fast[i])));
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(one[i])));
  }
  EXPECT_GT(max_abs, 0.1);
  EXPECT_LT(max_diff, 0.05 * max_abs);  // activation-rounding noise only
  std::filesystem::remove(path);
}

TEST(LlamaCppNumerics, RejectsWhatItDoesNotReproduce) {
  if (!std::filesystem::exists(kVocab)) GTEST_SKIP() << kVocab << " is missing";
  ContextOptions o;
  o.n_ctx = 32;
  o.numerics = Numerics::kLlamaCpp;
  const auto q4_0 = SynthModel("tiny-llama", GgmlType::kQ4_0);
  testing::ExpectError([&] { Context(*Model::Load(q4_0), o); }, "blk.0.attn_q.weight is not Q4_1");
  std::filesystem::remove(q4_0);
  const auto f32 = SynthModel("tiny-llama", GgmlType::kF32);
  testing::ExpectError([&] { Context(*Model::Load(f32), o); }, "blk.0.attn_q.weight is stored as F32");
  std::filesystem::remove(f32);
  const auto q4_1 = SynthModel("tiny-llama", GgmlType::kQ4_1);
  o.kv_type = KvType::kF32;
  testing::ExpectError([&] { Context(*Model::Load(q4_1), o); }, "needs the f16 KV cache");
  std::filesystem::remove(q4_1);
}

TEST(ModelTest, DescribesItsMatrices) {
  if (!std::filesystem::exists(kVocab)) GTEST_SKIP() << kVocab << " is missing";
  const auto path = SynthModel("tiny-llama", GgmlType::kQ4_0);
  const auto model = Model::Load(path);
  const std::vector<std::string> lines = model->Describe();
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("lut 4-bit g32"), std::string::npos) << lines[0];
  EXPECT_GT(model->weight_bytes_per_token(), 0);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tmac
