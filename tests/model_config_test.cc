// ModelConfig::FromGguf: llama.cpp's keys in, hyperparameters out, and a clear error for what
// tmac does not run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "expect_error.h"
#include "tmac/gguf.h"
#include "tmac/model.h"

namespace tmac {
namespace {

// A GGUF with a llama-style header (`arch` keys) and a 64 x 10 token embedding.
class ModelConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ =
        std::filesystem::temp_directory_path() / ("tmac_model_config_" + std::to_string(getpid()) + ".gguf");
  }
  void TearDown() override { std::filesystem::remove(path_); }

  // `extra` entries replace the default ones of the same key.
  GgufFile Write(const std::string& arch, const std::vector<GgufKeyValue>& extra = {},
                 bool drop_heads = false) {
    std::vector<GgufKeyValue> kvs = {{"general.architecture", arch},
                                     {arch + ".embedding_length", uint32_t{64}},
                                     {arch + ".feed_forward_length", uint32_t{128}},
                                     {arch + ".block_count", uint32_t{2}},
                                     {arch + ".attention.head_count_kv", uint32_t{2}},
                                     {arch + ".rope.freq_base", 500000.0f}};
    if (!drop_heads) kvs.push_back({arch + ".attention.head_count", uint32_t{4}});
    GgufWriter w;
    for (const GgufKeyValue& kv : kvs) {
      bool replaced = false;
      for (const GgufKeyValue& e : extra) replaced |= e.key == kv.key;
      if (!replaced) w.Add(kv.key, kv.value);
    }
    for (const GgufKeyValue& e : extra) w.Add(e.key, e.value);
    w.AddTensor("token_embd.weight", {64, 10}, GgmlType::kF32, embd_);
    w.Write(path_, /*overwrite=*/true);
    return GgufFile::Open(path_);
  }

  std::filesystem::path path_;
  std::vector<uint8_t> embd_ = std::vector<uint8_t>(64 * 10 * 4);
};

TEST_F(ModelConfigTest, ReadsLlamaCppKeys) {
  const ModelConfig c = ModelConfig::FromGguf(Write("llama", {{"llama.rope.dimension_count", uint32_t{8}}}));
  EXPECT_EQ(c.arch, Architecture::kLlama);
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.n_ff, 128);
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.n_rot, 8);
  EXPECT_EQ(c.n_vocab, 10);
  EXPECT_EQ(c.rope_freq_base, 500000.0f);
  EXPECT_EQ(c.rms_eps, 1e-5f);  // llama.cpp's default when the key is absent
  EXPECT_FALSE(c.sub_norms);
  EXPECT_FALSE(c.rope_neox);
}

TEST_F(ModelConfigTest, BitnetFormsTurnOnTheirOperations) {
  const ModelConfig bitnet = ModelConfig::FromGguf(Write("bitnet"));
  EXPECT_TRUE(bitnet.sub_norms);
  EXPECT_TRUE(bitnet.rope_neox);
  EXPECT_FALSE(bitnet.relu_squared);
  EXPECT_FALSE(bitnet.int8_activations);
  const ModelConfig b158 = ModelConfig::FromGguf(Write("bitnet-b1.58"));
  EXPECT_TRUE(b158.sub_norms);
  EXPECT_TRUE(b158.relu_squared);
  EXPECT_TRUE(b158.int8_activations);
}

TEST_F(ModelConfigTest, LinearRopeScaling) {
  const ModelConfig c = ModelConfig::FromGguf(Write(
      "llama", {{"llama.rope.scaling.type", std::string("linear")}, {"llama.rope.scaling.factor", 4.0f}}));
  EXPECT_EQ(c.rope_freq_scale, 0.25f);
}

TEST_F(ModelConfigTest, ClearErrors) {
  testing::ExpectError([&] { ModelConfig::FromGguf(Write("gpt2")); }, "unsupported architecture 'gpt2'");
  testing::ExpectError([&] { ModelConfig::FromGguf(Write("llama", {}, /*drop_heads=*/true)); },
                       "missing metadata key llama.attention.head_count");
  testing::ExpectError(
      [&] {
        ModelConfig::FromGguf(Write("llama", {{"llama.attention.head_count_kv", uint32_t{3}}}));
      },
      "head_count_kv");
  testing::ExpectError(
      [&] {
        ModelConfig::FromGguf(Write("llama", {{"llama.rope.scaling.type", std::string("yarn")},
                                              {"llama.rope.scaling.factor", 8.0f}}));
      },
      "unsupported rope scaling 'yarn'");
  testing::ExpectError(
      [&] {
        ModelConfig::FromGguf(Write("llama", {{"llama.block_count", std::string("two")}}));
      },
      "expected an integer");
}

}  // namespace
}  // namespace tmac
