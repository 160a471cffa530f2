// The tuning cache file (src/cli/tune_cache.h): where it lives, round trips, and every way a bad
// file is ignored with one warning instead of a crash. Never touches the real home directory.
#include "cli/tune_cache.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <optional>
#include <string>

#include "gguf_test_util.h"
#include "tmac/error.h"

namespace tmac::cli {
namespace {

using gguf_test::TempDir;

// Sets an environment variable for one scope, restoring it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

void WriteText(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

TuneTable SampleTable() {
  TuneTable table;
  table.Set({Isa::kAvx2, PackedFormat::kLut, 4, 32, 4096, 11008, 2}, {128, IndexOrder::kChunkPairs, {1024, 4}});
  table.Set({Isa::kAvx512Vnni, PackedFormat::kLut, 2, 128, 11008, 4096, 1}, {64, IndexOrder::kChunkQuads, {0, 0}});
  table.Set({Isa::kNeon, PackedFormat::kTl2, 2, 256, 3200, 8640, 4}, {128, IndexOrder::kChunkPairs, {1536, 1}});
  return table;
}

// A valid file's text with `entry` as its one entry.
std::string FileWithEntry(const std::string& entry, int version = kTuneCacheVersion) {
  return R"({"format": "tmac-tune", "version": )" + std::to_string(version) + R"(, "entries": [)" + entry + "]}";
}
const std::string kGoodEntry =
    R"({"isa": "avx2", "format": "lut", "bits": 4, "group": 32, "rows": 64, "cols": 64, "threads": 1,
        "tile_rows": 128, "order": "pairs", "prefetch_bytes": 512, "tiles_per_item": 0})";

TEST(TuneCacheTest, PathFollowsTheEnvironment) {
  const ScopedEnv no_override("TMAC_TUNE_CACHE", nullptr);
  {
    const ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(TuneCachePath("Intel(R) Xeon(R) Processor", Isa::kAvx512Vnni),
              std::filesystem::path("/xdg/tmac/tune-intel-r-xeon-r-processor-avx512vnni.json"));
  }
  {
    const ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
    const ScopedEnv home("HOME", "/home/someone");
    EXPECT_EQ(TuneCachePath("  Neoverse-N1 ", Isa::kNeon),
              std::filesystem::path("/home/someone/.cache/tmac/tune-neoverse-n1-neon.json"));
    EXPECT_EQ(TuneCachePath("", Isa::kScalar), std::filesystem::path("/home/someone/.cache/tmac/tune-unknown-scalar.json"));
    const ScopedEnv no_home("HOME", nullptr);
    EXPECT_EQ(TuneCachePath("cpu", Isa::kScalar), std::nullopt);
  }
  {
    const ScopedEnv file("TMAC_TUNE_CACHE", "/tmp/x/tune.json");
    EXPECT_EQ(TuneCachePath("cpu", Isa::kAvx2), std::filesystem::path("/tmp/x/tune.json"));
  }
  const ScopedEnv off("TMAC_TUNE_CACHE", "off");
  EXPECT_EQ(TuneCachePath("cpu", Isa::kAvx2), std::nullopt);
}

TEST(TuneCacheTest, RoundTripsEveryField) {
  TempDir dir;
  const auto path = dir / "sub" / "dir" / "tune.json";  // directories are created
  const TuneTable table = SampleTable();
  WriteTuneCache(path, table, "Some CPU");
  std::string warning;
  const TuneTable back = ReadTuneCache(path, &warning);
  EXPECT_EQ(warning, "");
  EXPECT_EQ(back.entries(), table.entries());
  // Rewriting replaces the file, leaving no temporary behind.
  WriteTuneCache(path, TuneTable{}, "Some CPU");
  EXPECT_TRUE(ReadTuneCache(path, &warning).empty());
  EXPECT_EQ(warning, "");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(path.parent_path()), {}), 1);
}

TEST(TuneCacheTest, AMissingFileIsAnEmptyTableWithoutWarning) {
  TempDir dir;
  std::string warning;
  EXPECT_TRUE(ReadTuneCache(dir / "none.json", &warning).empty());
  EXPECT_EQ(warning, "");
}

TEST(TuneCacheTest, ABadFileIsIgnoredWithOneWarning) {
  TempDir dir;
  const auto path = dir / "tune.json";
  const auto expect_ignored = [&](const std::string& text, const std::string& why) {
    WriteText(path, text);
    std::string warning;
    EXPECT_TRUE(ReadTuneCache(path, &warning).empty()) << text;
    EXPECT_NE(warning.find("ignoring the tuning cache " + path.string()), std::string::npos) << warning;
    EXPECT_NE(warning.find(why), std::string::npos) << warning;
    EXPECT_EQ(warning.find('\n'), std::string::npos);
  };
  WriteText(path, FileWithEntry(kGoodEntry));
  std::string no_warning;
  ASSERT_EQ(ReadTuneCache(path, &no_warning).entries().size(), 1u);
  ASSERT_EQ(no_warning, "");
  expect_ignored("", "not valid JSON");
  expect_ignored("{\"format\": \"tmac-tune\", \"version\": 1, \"entries\": [", "not valid JSON");
  expect_ignored("[1, 2]", "not valid JSON");
  expect_ignored(R"({"format": "other", "version": 1, "entries": []})", "not a tmac tune file");
  expect_ignored(R"({"format": "tmac-tune", "entries": []})", "not a tmac tune file");
  expect_ignored(FileWithEntry(kGoodEntry, kTuneCacheVersion + 1), "another version");
  expect_ignored(R"({"format": "tmac-tune", "version": 1})", "invalid entry");
  expect_ignored(R"({"format": "tmac-tune", "version": 1, "entries": 5})", "invalid entry");
  // One bad entry spoils the file: it is never trusted in part.
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string entry = kGoodEntry;
    entry.replace(entry.find(from), from.size(), to);
    return FileWithEntry(kGoodEntry + ", " + entry);
  };
  expect_ignored(with("\"tile_rows\": 128", "\"tile_rows\": 96"), "invalid entry");
  expect_ignored(with("\"tile_rows\": 128", "\"tile_rows\": \"128\""), "invalid entry");
  expect_ignored(with("\"order\": \"pairs\"", "\"order\": \"triples\""), "invalid entry");
  expect_ignored(with("\"isa\": \"avx2\"", "\"isa\": \"sse2\""), "invalid entry");
  expect_ignored(with("\"format\": \"lut\"", "\"format\": \"tl1\""), "invalid entry");
  expect_ignored(with("\"prefetch_bytes\": 512", "\"prefetch_bytes\": -5"), "invalid entry");
  expect_ignored(with("\"tiles_per_item\": 0", "\"tiles_per_item\": -1"), "invalid entry");
  expect_ignored(with("\"bits\": 4", "\"bits\": 9"), "invalid entry");
  expect_ignored(with("\"group\": 32", "\"group\": 48"), "invalid entry");
  expect_ignored(with("\"threads\": 1", "\"threads\": 0"), "invalid entry");
  expect_ignored(with("\"rows\": 64, ", ""), "invalid entry");
  // Quads need groups of 32 or more.
  std::string quads16 = with("\"group\": 32", "\"group\": 16");
  quads16.replace(quads16.rfind("\"pairs\""), 7, "\"quads\"");
  expect_ignored(quads16, "invalid entry");
}

}  // namespace
}  // namespace tmac::cli
