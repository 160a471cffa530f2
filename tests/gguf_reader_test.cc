// GgufFile: llama.cpp's real files, and hand-assembled images each broken in one place, which must
// fail with a tmac::Error that says what is wrong (never a crash, hang or huge allocation: these
// tests run under ASan too).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gguf/quote.h"
#include "gguf_test_util.h"
#include "tmac/error.h"
#include "tmac/gguf.h"

namespace tmac {
namespace {

namespace fs = std::filesystem;
using gguf_test::ErrorOf;
using gguf_test::ReadAll;
using gguf_test::TempDir;
using gguf_test::WriteAll;

const fs::path kModels = TMAC_MODELS_DIR;

// Skips the test when ../shared/models does not have `relative`.
#define REQUIRE_MODEL_FILE(relative) \
  if (!fs::exists(kModels / (relative))) GTEST_SKIP() << (kModels / (relative)) << " is absent"

std::string ParseError(const std::vector<uint8_t>& bytes) {
  return ErrorOf([&] { GgufFile::Parse(bytes, "image.gguf"); });
}

// llama.cpp's files ------------------------------------------------------------------------------

TEST(GgufReaderRealFiles, Stories260K) {
  REQUIRE_MODEL_FILE("stories260K/stories260K.gguf");
  const GgufFile file = GgufFile::Open(kModels / "stories260K/stories260K.gguf");
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.file_size(), 1185376u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.data_offset(), 14176u);
  EXPECT_EQ(file.metadata().size(), 19u);
  EXPECT_EQ(file.GetString("general.architecture"), "llama");
  EXPECT_EQ(file.GetU32("llama.embedding_length"), 64u);
  EXPECT_EQ(file.GetU32("llama.feed_forward_length"), 172u);
  EXPECT_EQ(file.GetU32("llama.block_count"), 5u);
  EXPECT_EQ(file.GetU32("llama.attention.head_count"), 8u);
  EXPECT_EQ(file.GetU32("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(file.GetU32("tokenizer.ggml.seperator_token_id"), 0xffffffffu);
  EXPECT_FLOAT_EQ(file.GetF32("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  const auto& tokens = file.GetArrayOf<std::string>("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(file.GetArrayOf<float>("tokenizer.ggml.scores").size(), 512u);
  EXPECT_EQ(file.GetArrayOf<int32_t>("tokenizer.ggml.token_type")[0], 2);

  ASSERT_EQ(file.tensors().size(), 48u);  // 5 layers of 9, embeddings, final norm, output
  struct Expected {
    const char* name;
    std::vector<int64_t> shape;
    uint64_t offset;
  };
  const Expected expected[] = {
      {"token_embd.weight", {64, 512}, 0},          {"output_norm.weight", {64}, 131072},
      {"output.weight", {64, 512}, 131328},         {"blk.0.attn_k.weight", {64, 32}, 278784},
      {"blk.0.ffn_down.weight", {172, 64}, 355840}, {"blk.4.ffn_norm.weight", {64}, 1170944},
  };
  int64_t elements = 0;
  for (const GgufTensor& t : file.tensors()) elements += t.elements();
  EXPECT_EQ(elements, 292800);  // 260,032 parameters plus the untied output matrix
  for (const Expected& e : expected) {
    const GgufTensor& t = file.GetTensor(e.name);
    EXPECT_EQ(t.shape, e.shape) << e.name;
    EXPECT_EQ(t.type, GgmlType::kF32) << e.name;
    EXPECT_EQ(t.data.size(), static_cast<size_t>(t.elements()) * 4) << e.name;
    EXPECT_EQ(t.offset, e.offset) << e.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data.data()) % 32, 0u) << e.name;
  }
  // The final norm's weights are the RMSNorm gains: finite and not all zero.
  const GgufTensor& norm = file.GetTensor("output_norm.weight");
  std::vector<float> gains(64);
  std::memcpy(gains.data(), norm.data.data(), norm.data.size());
  EXPECT_TRUE(std::all_of(gains.begin(), gains.end(), [](float g) { return std::isfinite(g); }));
  EXPECT_TRUE(std::any_of(gains.begin(), gains.end(), [](float g) { return g != 0; }));
}

TEST(GgufReaderRealFiles, VocabOnlyFiles) {
  REQUIRE_MODEL_FILE("tokenizer-vectors/ggml-vocab-llama-spm.gguf");
  REQUIRE_MODEL_FILE("tokenizer-vectors/ggml-vocab-gpt-2.gguf");
  // Neither has tensors, and both end before the aligned start of their (empty) data section.
  const GgufFile spm = GgufFile::Open(kModels / "tokenizer-vectors/ggml-vocab-llama-spm.gguf");
  EXPECT_TRUE(spm.tensors().empty());
  EXPECT_EQ(spm.GetString("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(spm.GetArrayOf<std::string>("tokenizer.ggml.tokens").size(), 32000u);
  EXPECT_EQ(spm.GetArrayOf<float>("tokenizer.ggml.scores").size(), 32000u);
  EXPECT_EQ(spm.GetArrayOf<int32_t>("tokenizer.ggml.token_type").size(), 32000u);
  EXPECT_TRUE(spm.Get<bool>("tokenizer.ggml.add_bos_token"));
  EXPECT_FALSE(spm.Get<bool>("tokenizer.ggml.add_eos_token"));

  const GgufFile gpt2 = GgufFile::Open(kModels / "tokenizer-vectors/ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(gpt2.GetString("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(gpt2.GetArrayOf<std::string>("tokenizer.ggml.tokens").size(), 50257u);
  EXPECT_EQ(gpt2.GetArrayOf<int32_t>("tokenizer.ggml.token_type").size(), 50257u);
  const auto& merges = gpt2.GetArrayOf<std::string>("tokenizer.ggml.merges");
  ASSERT_EQ(merges.size(), 50000u);
  EXPECT_EQ(merges[0], "\xc4\xa0 t");  // "Ġ t"
}

TEST(GgufReaderRealFiles, TruncationAtEachSectionBoundaryIsAnError) {
  REQUIRE_MODEL_FILE("stories260K/stories260K.gguf");
  const std::vector<uint8_t> bytes = ReadAll(kModels / "stories260K/stories260K.gguf");
  const GgufFile whole = GgufFile::Parse(bytes, "stories260K.gguf");
  const GgufTensor& last = whole.tensors().back();
  struct Cut {
    size_t length;
    std::string message;
  };
  const std::string first_name = "token_embd.weight";
  const size_t infos =
      std::search(bytes.begin(), bytes.end(), first_name.begin(), first_name.end()) - bytes.begin() - 8;
  const Cut cuts[] = {
      {0, "header: truncated: the magic needs 4 bytes at byte 0 but the file ends at byte 0"},
      {4, "header: truncated: the version"},
      {12, "header: truncated: the tensor count needs 8 bytes at byte 8 but the file ends at byte 12"},
      {16,
       "header: truncated: the metadata entry count needs 8 bytes at byte 16 but the file ends at byte 16"},
      {24,
       "header: truncated or corrupt: 19 metadata entries of at least 13 bytes each cannot fit in the 0 "
       "bytes left after byte 24"},
      {4500, "metadata entry 0 at byte 24 (\"tokenizer.ggml.tokens\"): truncated"},
      {infos, "tensor infos at byte " + std::to_string(infos) +
                  ": truncated or corrupt: 48 tensor infos of at least 32 bytes each cannot fit in the 0 "
                  "bytes left"},
      {infos + 2000,
       "tensor info 34 at byte 13335: truncated or corrupt: the length of the name, 22 bytes, "
       "exceeds the 4 bytes left after byte 13343"},
      {whole.data_offset() - 1,
       "data section: truncated: it starts at byte 14176 but the file ends at byte 14175"},
      {whole.data_offset(), "tensor 0 (\"token_embd.weight\"): truncated or out of range"},
      {bytes.size() - 1,
       "tensor 47 (\"blk.4.ffn_norm.weight\"): truncated or out of range: its 256 bytes at data "
       "offset 1170944 (byte 1185120) pass the end of the file at byte 1185375"},
  };
  EXPECT_EQ(whole.data_offset() + last.offset + last.data.size(), bytes.size());
  TempDir dir;
  for (const Cut& cut : cuts) {
    const fs::path path = dir.path() / "cut.gguf";
    WriteAll(path, std::span(bytes).first(cut.length));
    const std::string error = ErrorOf([&] { GgufFile::Open(path); });
    EXPECT_NE(error.find(path.string() + ": "), std::string::npos) << error;
    EXPECT_NE(error.find(cut.message), std::string::npos) << "cut at " << cut.length << ": " << error;
  }
}

// Hand-assembled images -------------------------------------------------------------------------

// A small valid GGUF v3 image, with the positions of the fields that tests break.
struct Image {
  std::vector<uint8_t> bytes;
  size_t version, tensor_count, metadata_count;
  size_t key0_length, value1_type, value1, array_length, alignment_value;
  size_t tensor0_name_length, tensor0_dims, tensor0_dim0, tensor0_type;
  size_t tensor1_name, tensor1_offset, data;

  template <class T>
  size_t Put(T value) {
    const size_t at = bytes.size();
    bytes.resize(at + sizeof(T));
    std::memcpy(bytes.data() + at, &value, sizeof(T));
    return at;
  }
  size_t PutString(std::string_view text) {
    const size_t at = Put<uint64_t>(text.size());
    bytes.insert(bytes.end(), text.begin(), text.end());
    return at;
  }
  template <class T>
  void Set(size_t at, T value) {
    std::memcpy(bytes.data() + at, &value, sizeof(T));
  }
};

// Metadata: general.architecture = "test", test.u32 = 7, test.names = ["ab", "c"] and
// general.alignment = 32; tensors "a" (F32 4 x 2, 32 bytes at 0) and "b" (Q8_0 32, 34 bytes at 32).
Image ValidImage() {
  Image im;
  im.bytes = {'G', 'G', 'U', 'F'};
  im.version = im.Put<uint32_t>(3);
  im.tensor_count = im.Put<uint64_t>(2);
  im.metadata_count = im.Put<uint64_t>(4);
  im.key0_length = im.PutString("general.architecture");
  im.Put<uint32_t>(uint32_t(GgufType::kString));
  im.PutString("test");
  im.PutString("test.u32");
  im.value1_type = im.Put<uint32_t>(uint32_t(GgufType::kU32));
  im.value1 = im.Put<uint32_t>(7);
  im.PutString("test.names");
  im.Put<uint32_t>(uint32_t(GgufType::kArray));
  im.Put<uint32_t>(uint32_t(GgufType::kString));
  im.array_length = im.Put<uint64_t>(2);
  im.PutString("ab");
  im.PutString("c");
  im.PutString("general.alignment");
  im.Put<uint32_t>(uint32_t(GgufType::kU32));
  im.alignment_value = im.Put<uint32_t>(32);

  im.tensor0_name_length = im.PutString("a");
  im.tensor0_dims = im.Put<uint32_t>(2);
  im.tensor0_dim0 = im.Put<uint64_t>(4);
  im.Put<uint64_t>(2);
  im.tensor0_type = im.Put<uint32_t>(uint32_t(GgmlType::kF32));
  im.Put<uint64_t>(0);
  im.tensor1_name = im.PutString("b");
  im.Put<uint32_t>(1);
  im.Put<uint64_t>(32);
  im.Put<uint32_t>(uint32_t(GgmlType::kQ8_0));
  im.tensor1_offset = im.Put<uint64_t>(32);

  im.bytes.resize((im.bytes.size() + 31) / 32 * 32);
  im.data = im.bytes.size();
  for (int i = 0; i < 32 + 34; ++i) im.bytes.push_back(static_cast<uint8_t>(i));
  return im;
}

TEST(GgufReader, ParsesAValidImage) {
  const Image im = ValidImage();
  const GgufFile file = GgufFile::Parse(im.bytes, "image.gguf");
  EXPECT_EQ(file.name(), "image.gguf");
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.data_offset(), im.data);
  ASSERT_EQ(file.metadata().size(), 4u);
  EXPECT_EQ(file.metadata()[0].key, "general.architecture");
  EXPECT_EQ(file.GetString("general.architecture"), "test");
  EXPECT_EQ(file.GetU32("test.u32"), 7u);
  EXPECT_EQ(file.GetArrayOf<std::string>("test.names"), (std::vector<std::string>{"ab", "c"}));
  EXPECT_EQ(file.GetArray("test.names").element_type(), GgufType::kString);
  ASSERT_EQ(file.tensors().size(), 2u);
  const GgufTensor& a = file.GetTensor("a");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(a.type, GgmlType::kF32);
  EXPECT_EQ(a.data.data(), im.bytes.data() + im.data);
  EXPECT_EQ(a.data.size(), 32u);
  const GgufTensor& b = file.GetTensor("b");
  EXPECT_EQ(b.type, GgmlType::kQ8_0);
  EXPECT_EQ(b.offset, 32u);
  EXPECT_EQ(b.data.size(), 34u);
  EXPECT_EQ(b.data[0], 32);
  EXPECT_EQ(file.FindTensor("c"), nullptr);
}

TEST(GgufReader, AcceptsVersion2) {
  Image im = ValidImage();
  im.Set<uint32_t>(im.version, 2);
  EXPECT_EQ(GgufFile::Parse(im.bytes, "v2.gguf").version(), 2u);
}

TEST(GgufReader, AccessorsNameTheKeyAndTheTypes) {
  const Image im = ValidImage();
  const GgufFile file = GgufFile::Parse(im.bytes, "image.gguf");
  EXPECT_EQ(file.FindValue("absent"), nullptr);
  EXPECT_EQ(file.Find<uint32_t>("absent"), nullptr);
  ASSERT_NE(file.Find<uint32_t>("test.u32"), nullptr);
  EXPECT_EQ(ErrorOf([&] { file.GetString("absent.key"); }), "image.gguf: no metadata key \"absent.key\"");
  EXPECT_EQ(ErrorOf([&] { file.GetString("test.u32"); }),
            "image.gguf: metadata key \"test.u32\" has type u32, expected string");
  EXPECT_EQ(ErrorOf([&] { file.Find<float>("test.u32"); }),
            "image.gguf: metadata key \"test.u32\" has type u32, expected f32");
  EXPECT_EQ(ErrorOf([&] { file.GetArrayOf<float>("test.names"); }),
            "image.gguf: metadata key \"test.names\" has type array of string, expected array of f32");
  EXPECT_EQ(ErrorOf([&] { file.GetTensor("nope"); }), "image.gguf: no tensor named \"nope\"");
}

TEST(GgufReader, TruncationAtEveryByteIsAnError) {
  const Image im = ValidImage();
  for (size_t length = 0; length < im.bytes.size(); ++length) {
    const std::vector<uint8_t> cut(im.bytes.begin(), im.bytes.begin() + length);
    const std::string error = ParseError(cut);
    EXPECT_EQ(error.rfind("image.gguf: ", 0), 0u) << "cut at " << length << ": " << error;
  }
}

TEST(GgufReader, RejectsBadMagicAndVersions) {
  Image im = ValidImage();
  im.bytes[0] = 'P';
  EXPECT_EQ(
      ParseError(im.bytes),
      "image.gguf: header: not a GGUF file: it starts with bytes 50 47 55 46, not \"GGUF\" (47 47 55 46)");
  for (const uint32_t version : {0u, 1u, 4u, 0xffffffffu}) {
    im = ValidImage();
    im.Set<uint32_t>(im.version, version);
    EXPECT_EQ(ParseError(im.bytes), "image.gguf: header: unsupported GGUF version " +
                                        std::to_string(version) + "; versions 2 and 3 are supported");
  }
  im.Set<uint32_t>(im.version, 0x03000000);
  EXPECT_EQ(ParseError(im.bytes),
            "image.gguf: header: a big-endian GGUF file; only little-endian files are supported");
}

TEST(GgufReader, RejectsCountsTheFileCannotHold) {
  for (const uint64_t count : {uint64_t{1} << 40, ~uint64_t{0}}) {
    Image im = ValidImage();
    im.Set<uint64_t>(im.tensor_count, count);
    EXPECT_NE(ParseError(im.bytes).find(": truncated or corrupt: " + std::to_string(count) +
                                        " tensor infos of at least 32 bytes each cannot fit in the"),
              std::string::npos);
    im = ValidImage();
    im.Set<uint64_t>(im.metadata_count, count);
    EXPECT_NE(ParseError(im.bytes).find("header: truncated or corrupt: " + std::to_string(count) +
                                        " metadata entries of at least 13 bytes each"),
              std::string::npos);
    im = ValidImage();
    im.Set<uint64_t>(im.array_length, count);
    EXPECT_NE(ParseError(im.bytes).find("(\"test.names\"): truncated or corrupt: " + std::to_string(count) +
                                        " array elements of at least 8 bytes each"),
              std::string::npos);
  }
}

TEST(GgufReader, RejectsStringLengthsPastTheEnd) {
  Image im = ValidImage();
  im.Set<uint64_t>(im.key0_length, ~uint64_t{0});
  EXPECT_NE(
      ParseError(im.bytes).find("metadata entry 0 at byte 24: truncated or corrupt: the length of the key, "
                                "18446744073709551615 bytes, exceeds the"),
      std::string::npos);
  im = ValidImage();
  im.Set<uint64_t>(im.tensor0_name_length, im.bytes.size());
  EXPECT_NE(ParseError(im.bytes).find("tensor info 0 at byte"), std::string::npos);
}

TEST(GgufReader, RejectsAnArrayOfArraysNestedTooDeep) {
  // One metadata entry: an array of one array of one array ... 100 deep.
  Image im;
  im.bytes = {'G', 'G', 'U', 'F'};
  im.Put<uint32_t>(3);
  im.Put<uint64_t>(0);
  im.Put<uint64_t>(1);
  im.PutString("deep");
  im.Put<uint32_t>(uint32_t(GgufType::kArray));
  for (int i = 0; i < 100; ++i) {
    im.Put<uint32_t>(uint32_t(GgufType::kArray));
    im.Put<uint64_t>(1);
  }
  EXPECT_NE(ParseError(im.bytes).find("arrays nested more than 16 deep"), std::string::npos);
}

TEST(GgufReader, ReadsNestedAndEmptyArrays) {
  Image im;
  im.bytes = {'G', 'G', 'U', 'F'};
  im.Put<uint32_t>(3);
  im.Put<uint64_t>(0);
  im.Put<uint64_t>(2);
  im.PutString("nested");  // [["x", "yz"], []]
  im.Put<uint32_t>(uint32_t(GgufType::kArray));
  im.Put<uint32_t>(uint32_t(GgufType::kArray));
  im.Put<uint64_t>(2);
  im.Put<uint32_t>(uint32_t(GgufType::kString));
  im.Put<uint64_t>(2);
  im.PutString("x");
  im.PutString("yz");
  im.Put<uint32_t>(uint32_t(GgufType::kString));
  im.Put<uint64_t>(0);
  im.PutString("empty");  // an empty i64 array
  im.Put<uint32_t>(uint32_t(GgufType::kArray));
  im.Put<uint32_t>(uint32_t(GgufType::kI64));
  im.Put<uint64_t>(0);
  const GgufFile file = GgufFile::Parse(im.bytes, "nested.gguf");
  const auto& outer = file.GetArrayOf<GgufArray>("nested");
  ASSERT_EQ(outer.size(), 2u);
  EXPECT_EQ(outer[0], (GgufArray{std::vector<std::string>{"x", "yz"}}));
  EXPECT_EQ(outer[1], (GgufArray{std::vector<std::string>{}}));
  EXPECT_TRUE(file.GetArrayOf<int64_t>("empty").empty());
  EXPECT_EQ(file.data_offset(), 32 * ((im.bytes.size() + 31) / 32));  // past the end: no tensors
}

TEST(GgufReader, RejectsUnknownValueTypesAndBadBools) {
  Image im = ValidImage();
  const std::string entry1 = "image.gguf: metadata entry 1 at byte " + std::to_string(im.value1_type - 16);
  im.Set<uint32_t>(im.value1_type, 13);
  EXPECT_EQ(ParseError(im.bytes), entry1 + " (\"test.u32\"): unknown value type 13");
  im = ValidImage();
  im.Set<uint32_t>(im.value1_type, uint32_t(GgufType::kBool));
  im.Set<uint8_t>(im.value1, 2);
  EXPECT_EQ(ParseError(im.bytes),
            entry1 + " (\"test.u32\"): bool at byte " + std::to_string(im.value1) + " is 2, not 0 or 1");
}

TEST(GgufReader, RejectsDuplicateKeysAndTensorNames) {
  Image im;
  im.bytes = {'G', 'G', 'U', 'F'};
  im.Put<uint32_t>(3);
  im.Put<uint64_t>(0);
  im.Put<uint64_t>(2);
  for (const uint8_t value : {1, 2}) {
    im.PutString("key");
    im.Put<uint32_t>(uint32_t(GgufType::kU8));
    im.Put<uint8_t>(value);
  }
  EXPECT_EQ(ParseError(im.bytes),
            "image.gguf: metadata entry 1 at byte 40 (\"key\"): duplicate key, first in "
            "metadata entry 0");
  im = ValidImage();
  im.bytes[im.tensor1_name + 8] = 'a';
  EXPECT_EQ(ParseError(im.bytes), "image.gguf: tensor info 1 at byte " + std::to_string(im.tensor1_name) +
                                      " (\"a\"): duplicate tensor name, first in tensor info 0");
}

TEST(GgufReader, RejectsBadDimensions) {
  const auto error = [](uint32_t dims, uint64_t dim0) {
    Image im = ValidImage();
    im.Set<uint32_t>(im.tensor0_dims, dims);
    im.Set<uint64_t>(im.tensor0_dim0, dim0);
    return ParseError(im.bytes);
  };
  EXPECT_NE(error(0, 4).find("(\"a\"): 0 dimensions; a tensor has 1 to 4"), std::string::npos);
  EXPECT_NE(error(5, 4).find("(\"a\"): 5 dimensions; a tensor has 1 to 4"), std::string::npos);
  EXPECT_NE(error(0xffffffff, 4).find("4294967295 dimensions"), std::string::npos);
  EXPECT_NE(error(2, 0).find("tensor 0 (\"a\"): dimension 0 is 0; dimensions must be positive"),
            std::string::npos);
  EXPECT_NE(error(2, ~uint64_t{0}).find("(\"a\"): dimension 0 is 18446744073709551615"), std::string::npos);
  // 2^40 x 2 floats: representable, but far past the end of the file.
  EXPECT_NE(error(2, uint64_t{1} << 40).find("tensor 0 (\"a\"): truncated or out of range"),
            std::string::npos);
  // 2^62 x 2 floats: the byte size overflows.
  EXPECT_NE(error(2, uint64_t{1} << 62).find("tensor 0 (\"a\"): the tensor's byte size overflows 64 bits"),
            std::string::npos);
}

TEST(GgufReader, RejectsUnknownTensorTypesAndPartialBlocks) {
  for (const uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 42u, 0xffffffffu}) {
    Image im = ValidImage();
    im.Set<uint32_t>(im.tensor0_type, id);
    EXPECT_NE(ParseError(im.bytes).find("(\"a\"): unknown ggml type id " + std::to_string(id)),
              std::string::npos);
  }
  Image im = ValidImage();
  im.Set<uint32_t>(im.tensor0_type, uint32_t(GgmlType::kQ4_0));  // a row of 4 elements: not a block of 32
  EXPECT_NE(
      ParseError(im.bytes).find("tensor 0 (\"a\"): row length 4 is not a multiple of the Q4_0 block size 32"),
      std::string::npos);
}

TEST(GgufReader, RejectsMisplacedTensorData) {
  const auto error = [](uint64_t offset) {
    Image im = ValidImage();
    im.Set<uint64_t>(im.tensor1_offset, offset);
    return ParseError(im.bytes);
  };
  EXPECT_NE(error(33).find("tensor 1 (\"b\"): data offset 33 is not a multiple of the alignment 32"),
            std::string::npos);
  EXPECT_NE(error(64).find("tensor 1 (\"b\"): truncated or out of range: its 34 bytes at data offset 64"),
            std::string::npos);
  EXPECT_NE(error(~uint64_t{0} - 31).find("truncated or out of range"), std::string::npos);
  EXPECT_NE(
      error(0).find("tensor 1 (\"b\"): its data at data offset 0 overlaps tensor 0 (\"a\"), which spans "
                    "data offsets 0 to 32"),
      std::string::npos);
}

TEST(GgufReader, RejectsBadAlignments) {
  Image im = ValidImage();
  im.Set<uint32_t>(im.alignment_value, 48);
  EXPECT_EQ(ParseError(im.bytes), "image.gguf: metadata \"general.alignment\": 48 is not a power of two");
  im.Set<uint32_t>(im.alignment_value, 0);
  EXPECT_EQ(ParseError(im.bytes), "image.gguf: metadata \"general.alignment\": 0 is not a power of two");
  im.Set<uint32_t>(im.alignment_value - 4, uint32_t(GgufType::kI32));
  im.Set<int32_t>(im.alignment_value, 32);
  EXPECT_EQ(ParseError(im.bytes), "image.gguf: metadata \"general.alignment\": has type i32, expected u32");
  // Valid, but the second tensor's offset is not a multiple of it.
  im = ValidImage();
  im.Set<uint32_t>(im.alignment_value, 64);
  EXPECT_EQ(ParseError(im.bytes),
            "image.gguf: tensor 1 (\"b\"): data offset 32 is not a multiple of the alignment 64");
}

TEST(GgufReader, RejectsOverlongTensorNames) {
  Image im;
  im.bytes = {'G', 'G', 'U', 'F'};
  im.Put<uint32_t>(3);
  im.Put<uint64_t>(1);
  im.Put<uint64_t>(0);
  im.PutString(std::string(64, 'n'));
  im.Put<uint32_t>(1);
  im.Put<uint64_t>(1);
  im.Put<uint32_t>(0);
  im.Put<uint64_t>(0);
  im.bytes.resize(128);
  EXPECT_NE(ParseError(im.bytes).find("the name is 64 bytes long; at most 63 are allowed"),
            std::string::npos);
}

TEST(GgufReader, OpenReportsFileErrors) {
  TempDir dir;
  EXPECT_NE(ErrorOf([&] {
              GgufFile::Open(dir.path() / "missing.gguf");
            }).find("missing.gguf: cannot open: No such file"),
            std::string::npos);
  EXPECT_NE(ErrorOf([&] { GgufFile::Open(dir.path()); }).find(": not a regular file"), std::string::npos);
  WriteAll(dir.path() / "empty.gguf", {});
  EXPECT_NE(ErrorOf([&] { GgufFile::Open(dir.path() / "empty.gguf"); }).find("empty.gguf: header: truncated"),
            std::string::npos);
  const Image im = ValidImage();
  WriteAll(dir.path() / "ok.gguf", im.bytes);
  GgufFile file = GgufFile::Open(dir.path() / "ok.gguf");
  fs::remove(dir.path() / "ok.gguf");  // the mapping stays valid
  const GgufFile moved = std::move(file);
  EXPECT_EQ(moved.GetTensor("b").data[33], 65);
}

TEST(GgufReader, QuotesNamesSafelyInMessages) {
  EXPECT_EQ(gguf::Quoted("blk.0 \"q\"\\"), "\"blk.0 \\\"q\\\"\\\\\"");
  EXPECT_EQ(gguf::Quoted("\xe2\x96\x81the\n\t\x01\x7f"), "\"\xe2\x96\x81the\\n\\t\\x01\\x7f\"");
  // Bytes that are not UTF-8: a stray continuation byte, a cut-off sequence, an invalid lead.
  EXPECT_EQ(gguf::Quoted("\x80"
                         "a\xe2\x96\xff"),
            "\"\\x80a\\xe2\\x96\\xff\"");
  EXPECT_EQ(gguf::Quoted(std::string(100, 'x'), 10), "\"xxxxxxxxxx\"...");
  EXPECT_EQ(gguf::Quoted("abc", 3), "\"abc\"");
}

// The ggml type table ---------------------------------------------------------------------------

TEST(GgmlTypes, TableIsConsistent) {
  uint32_t known = 0;
  for (uint32_t id = 0; id < 64; ++id) {
    const GgmlTypeInfo* info = FindGgmlType(id);
    if (info == nullptr) continue;
    ++known;
    EXPECT_EQ(uint32_t(info->type), id);
    EXPECT_EQ(&GgmlTypeInfoOf(info->type), info);
    EXPECT_GT(info->block_size, 0);
    EXPECT_GT(info->type_size, 0);
  }
  EXPECT_EQ(known, GgmlTypes().size());
  EXPECT_EQ(known, 34u);
  EXPECT_EQ(FindGgmlType(4), nullptr);
  EXPECT_THROW(GgmlTypeInfoOf(static_cast<GgmlType>(4)), Error);
  EXPECT_EQ(GgmlTypeInfoOf(GgmlType::kQ4_K).name, "Q4_K");
  EXPECT_EQ(GgmlTypeInfoOf(GgmlType::kQ4_K).type_size, 144);
  EXPECT_EQ(GgmlTypeInfoOf(GgmlType::kTQ2_0).type_size, 66);
}

TEST(GgmlTypes, TensorBytes) {
  EXPECT_EQ(GgmlTensorBytes(std::vector<int64_t>{4096, 4096}, GgmlType::kQ4_0), 4096 / 32 * 18 * 4096);
  EXPECT_EQ(GgmlTensorBytes(std::vector<int64_t>{256, 3, 2, 1}, GgmlType::kQ6_K), 210 * 6);
  EXPECT_EQ(GgmlTensorBytes(std::vector<int64_t>{7}, GgmlType::kBF16), 14);
  EXPECT_THROW(GgmlTensorBytes(std::vector<int64_t>{}, GgmlType::kF32), Error);
  EXPECT_THROW(GgmlTensorBytes(std::vector<int64_t>{1, 1, 1, 1, 1}, GgmlType::kF32), Error);
  EXPECT_THROW(GgmlTensorBytes(std::vector<int64_t>{-32}, GgmlType::kF32), Error);
  EXPECT_THROW(GgmlTensorBytes(std::vector<int64_t>{int64_t{1} << 62, 4}, GgmlType::kF32), Error);
}

}  // namespace
}  // namespace tmac
