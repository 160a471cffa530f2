// GgufWriter: what it writes reads back identically, and a file is written all or nothing.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "gguf_test_util.h"
#include "tmac/error.h"
#include "tmac/gguf.h"

namespace tmac {
namespace {

using gguf_test::ErrorOf;
using gguf_test::ReadAll;
using gguf_test::TempDir;
using gguf_test::WriteAll;

// One value of every type, including nested, empty and extreme ones.
std::vector<GgufKeyValue> EveryValueType() {
  return {
      {"general.architecture", std::string("llama")},
      {"u8", uint8_t{255}},
      {"i8", int8_t{-128}},
      {"u16", uint16_t{65535}},
      {"i16", int16_t{-32768}},
      {"u32", uint32_t{4294967295u}},
      {"i32", int32_t{-2147483647 - 1}},
      {"f32", 0.1f},
      {"bool.true", true},
      {"bool.false", false},
      {"string", std::string("h\xc3\xa9llo \"quoted\"\n\t")},
      {"string.empty", std::string()},
      {"u64", std::numeric_limits<uint64_t>::max()},
      {"i64", std::numeric_limits<int64_t>::min()},
      {"f64", -1e300},
      {"array.u8", GgufArray{std::vector<uint8_t>{0, 1, 255}}},
      {"array.i8", GgufArray{std::vector<int8_t>{-1, 2}}},
      {"array.u16", GgufArray{std::vector<uint16_t>{7}}},
      {"array.i16", GgufArray{std::vector<int16_t>{-7, 7}}},
      {"array.u32", GgufArray{std::vector<uint32_t>{1, 2, 3}}},
      {"array.i32", GgufArray{std::vector<int32_t>{-1, 0, 1}}},
      {"array.f32", GgufArray{std::vector<float>{0.5f, -2.25f}}},
      {"array.bool", GgufArray{std::vector<bool>{true, false, true}}},
      {"array.string", GgufArray{std::vector<std::string>{"<unk>", "", "\xe2\x96\x81the"}}},
      {"array.u64", GgufArray{std::vector<uint64_t>{1ull << 63}}},
      {"array.i64", GgufArray{std::vector<int64_t>{-(1ll << 62)}}},
      {"array.f64", GgufArray{std::vector<double>{1.0 / 3}}},
      {"array.empty", GgufArray{std::vector<float>{}}},
      {"array.nested", GgufArray{std::vector<GgufArray>{GgufArray{std::vector<std::string>{"a", "b"}},
                                                        GgufArray{std::vector<int32_t>{1}},
                                                        GgufArray{std::vector<double>{}}}}},
  };
}

std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(seed + 31 * i);
  return bytes;
}

TEST(GgufWriter, WritesWhatTheReaderReadsBack) {
  TempDir dir;
  const std::vector<uint8_t> f32 = Bytes(4 * 3 * 2, 1), q4 = Bytes(18 * 2 * 3, 2), tq2 = Bytes(66, 3);
  GgufWriter writer;
  for (const GgufKeyValue& kv : EveryValueType()) writer.Add(kv.key, kv.value);
  writer.Add("general.alignment", uint32_t{64});
  writer.AddTensor("f32", {3, 2}, GgmlType::kF32, f32);
  writer.AddTensor("q4", {64, 3}, GgmlType::kQ4_0, q4);
  writer.AddTensor("tq2", {256, 1, 1, 1}, GgmlType::kTQ2_0, tq2);
  writer.Write(dir / "out.gguf");
  EXPECT_EQ(dir.Entries(), std::vector<std::string>{"out.gguf"});  // no temporary file left

  const GgufFile file = GgufFile::Open(dir / "out.gguf");
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 64u);
  EXPECT_EQ(file.data_offset() % 64, 0u);
  const std::vector<GgufKeyValue> expected = EveryValueType();
  ASSERT_EQ(file.metadata().size(), expected.size() + 1);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(file.metadata()[i].key, expected[i].key);
    EXPECT_TRUE(file.metadata()[i].value == expected[i].value) << expected[i].key;
  }
  EXPECT_EQ(file.GetU32("general.alignment"), 64u);

  ASSERT_EQ(file.tensors().size(), 3u);
  const std::vector<uint8_t>* data[] = {&f32, &q4, &tq2};
  const uint64_t offsets[] = {0, 64, 192};  // 24, 108 and 66 bytes, each padded to 64
  for (size_t i = 0; i < 3; ++i) {
    const GgufTensor& t = file.tensors()[i];
    EXPECT_EQ(t.offset, offsets[i]) << t.name;
    EXPECT_EQ(std::vector<uint8_t>(t.data.begin(), t.data.end()), *data[i]) << t.name;
  }
  EXPECT_EQ(file.tensors()[1].shape, (std::vector<int64_t>{64, 3}));
  EXPECT_EQ(file.tensors()[2].type, GgmlType::kTQ2_0);
  EXPECT_EQ(file.file_size(), file.data_offset() + 192 + 128);  // the last tensor is padded too
}

TEST(GgufWriter, WritesAFileWithoutTensors) {
  TempDir dir;
  GgufWriter writer;
  writer.Add("general.architecture", std::string("llama"));
  writer.Write(dir / "vocab.gguf");
  const GgufFile file = GgufFile::Open(dir / "vocab.gguf");
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_EQ(file.file_size(), file.data_offset());
}

TEST(GgufWriter, RefusesToOverwriteUnlessTold) {
  TempDir dir;
  const std::vector<uint8_t> old_bytes = {'o', 'l', 'd'};
  WriteAll(dir / "model.gguf", old_bytes);
  GgufWriter writer;
  writer.Add("general.architecture", std::string("llama"));
  EXPECT_EQ(ErrorOf([&] { writer.Write(dir / "model.gguf"); }),
            (dir / "model.gguf").string() + ": already exists; not overwriting it unless told to");
  EXPECT_EQ(ReadAll(dir / "model.gguf"), old_bytes);
  EXPECT_EQ(dir.Entries(), std::vector<std::string>{"model.gguf"});

  writer.Write(dir / "model.gguf", /*overwrite=*/true);
  EXPECT_EQ(GgufFile::Open(dir / "model.gguf").GetString("general.architecture"), "llama");
  EXPECT_EQ(dir.Entries(), std::vector<std::string>{"model.gguf"});
}

// Restores the file size limit and SIGXFSZ's disposition at the end of a test that lowers them.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    saved_handler_ = std::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &lowered);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, saved_handler_);
  }

 private:
  rlimit saved_;
  void (*saved_handler_)(int);
};

TEST(GgufWriter, FailedWriteLeavesNothingBehindAndTheOldFileIntact) {
  TempDir dir;
  const std::vector<uint8_t> old_bytes = {'o', 'l', 'd'};
  WriteAll(dir / "model.gguf", old_bytes);
  const std::vector<uint8_t> big = Bytes(1 << 20, 5);
  GgufWriter writer;
  writer.AddTensor("big", {1 << 18}, GgmlType::kF32, big);
  std::string error;
  {
    const FileSizeLimit limit(64 << 10);
    error = ErrorOf([&] { writer.Write(dir / "model.gguf", /*overwrite=*/true); });
  }
  EXPECT_EQ(error, (dir / "model.gguf").string() + ": write failed: File too large");
  EXPECT_EQ(dir.Entries(), std::vector<std::string>{"model.gguf"});
  EXPECT_EQ(ReadAll(dir / "model.gguf"), old_bytes);
}

TEST(GgufWriter, FailedRenameLeavesNothingBehind) {
  TempDir dir;
  std::filesystem::create_directory(dir / "model.gguf");  // rename() cannot replace a directory
  GgufWriter writer;
  writer.Add("general.architecture", std::string("llama"));
  EXPECT_NE(ErrorOf([&] {
              writer.Write(dir / "model.gguf", /*overwrite=*/true);
            }).find("model.gguf: cannot rename the temporary file onto it: Is a directory"),
            std::string::npos);
  EXPECT_EQ(dir.Entries(), std::vector<std::string>{"model.gguf"});
}

TEST(GgufWriter, ReportsAMissingDirectory) {
  TempDir dir;
  GgufWriter writer;
  EXPECT_EQ(ErrorOf([&] { writer.Write(dir / "no/such/dir/model.gguf"); }),
            (dir / "no/such/dir/model.gguf").string() +
                ": cannot create a temporary file in its directory: No such file or directory");
}

TEST(GgufWriter, StreamsProducedTensorsInPieces) {
  TempDir dir;
  const std::vector<uint8_t> q8 = Bytes(34 * 5, 4), f32 = Bytes(4 * 3, 6);
  GgufWriter writer;
  int calls = 0;
  writer.AddTensor("q8", {32, 5}, GgmlType::kQ8_0, [&](const GgufWriter::TensorSink& sink) {
    ++calls;
    const std::span<const uint8_t> all(q8);
    sink(all.subspan(0, 7));  // pieces need not follow block or row boundaries
    sink(all.subspan(7, 0));
    sink(all.subspan(7));
  });
  writer.AddTensor("f32", {3}, GgmlType::kF32, f32);
  EXPECT_EQ(calls, 0);  // nothing is produced before Write
  writer.Write(dir / "out.gguf");
  EXPECT_EQ(calls, 1);

  const GgufFile file = GgufFile::Open(dir / "out.gguf");
  const GgufTensor& t = file.GetTensor("q8");
  EXPECT_EQ(std::vector<uint8_t>(t.data.begin(), t.data.end()), q8);
  EXPECT_EQ(file.tensors()[1].offset, 192u);  // 170 bytes padded to 32
  const GgufTensor& u = file.GetTensor("f32");
  EXPECT_EQ(std::vector<uint8_t>(u.data.begin(), u.data.end()), f32);
}

TEST(GgufWriter, WrongSizedProductsLeaveNothingBehind) {
  TempDir dir;
  const std::vector<uint8_t> q8 = Bytes(34 * 2, 4);
  for (const size_t size : {size_t{34}, size_t{68 + 1}}) {
    GgufWriter writer;
    writer.AddTensor("q8", {32, 2}, GgmlType::kQ8_0, [&](const GgufWriter::TensorSink& sink) {
      sink(std::span<const uint8_t>(q8).subspan(0, std::min(size, q8.size())));
      if (size > q8.size()) sink(std::span<const uint8_t>(q8).subspan(0, size - q8.size()));
    });
    EXPECT_EQ(ErrorOf([&] { writer.Write(dir / "out.gguf"); }),
              size < q8.size()
                  ? "GGUF tensor \"q8\": the producer gave 34 bytes; its shape and type need 68"
                  : "GGUF tensor \"q8\": the producer gave more bytes; its shape and type need 68");
    EXPECT_TRUE(dir.Entries().empty());
  }
}

TEST(GgufWriter, RejectsInvalidEntries) {
  GgufWriter writer;
  writer.Add("key", uint8_t{1});
  EXPECT_EQ(ErrorOf([&] { writer.Add("key", uint8_t{2}); }), "GGUF metadata key \"key\" added twice");
  EXPECT_EQ(ErrorOf([&] { writer.Add("general.alignment", int32_t{32}); }),
            "general.alignment must be a u32 power of two");
  EXPECT_EQ(ErrorOf([&] { writer.Add("general.alignment", uint32_t{24}); }),
            "general.alignment must be a u32 power of two");

  const std::vector<uint8_t> q8 = Bytes(34, 0);
  writer.AddTensor("t", {32}, GgmlType::kQ8_0, q8);
  EXPECT_EQ(ErrorOf([&] { writer.AddTensor("t", {32}, GgmlType::kQ8_0, q8); }),
            "GGUF tensor \"t\": added twice");
  EXPECT_EQ(ErrorOf([&] { writer.AddTensor("u", {64}, GgmlType::kQ8_0, q8); }),
            "GGUF tensor \"u\": has 34 bytes of data; its shape and type need 68");
  EXPECT_EQ(ErrorOf([&] { writer.AddTensor("u", {16}, GgmlType::kQ8_0, q8); }),
            "GGUF tensor \"u\": row length 16 is not a multiple of the Q8_0 block size 32");
  EXPECT_EQ(ErrorOf([&] {
              writer.AddTensor("u", {32, 0}, GgmlType::kQ8_0, q8);
            }),
            "GGUF tensor \"u\": dimension 1 is 0; dimensions must be positive");
  EXPECT_EQ(ErrorOf([&] {
              writer.AddTensor("u", {32, 1, 1, 1, 1}, GgmlType::kQ8_0, q8);
            }),
            "GGUF tensor \"u\": 5 dimensions; a tensor has 1 to 4");
  EXPECT_EQ(ErrorOf([&] { writer.AddTensor(std::string(64, 'n'), {32}, GgmlType::kQ8_0, q8); }),
            "GGUF tensor \"" + std::string(64, 'n') + "\": the name is longer than 63 bytes");
  EXPECT_EQ(ErrorOf([&] { writer.AddTensor("u", {32}, static_cast<GgmlType>(31), q8); }),
            "GGUF tensor \"u\": unknown ggml type id 31");
}

}  // namespace
}  // namespace tmac
