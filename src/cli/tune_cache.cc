#include "cli/tune_cache.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gguf/atomic_file.h"
#include "tmac/error.h"

namespace tmac::cli {

namespace {

using nlohmann::json;

constexpr const char* kFormatName = "tmac-tune";

// "Intel(R) Xeon(R) Processor" -> "intel-r-xeon-r-processor": safe in any file system.
std::string FileNamePart(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "unknown" : out;
}

const char* OrderName(IndexOrder order) { return order == IndexOrder::kChunkQuads ? "quads" : "pairs"; }

IndexOrder ParseOrder(const std::string& name) {
  if (name == "pairs") return IndexOrder::kChunkPairs;
  Require(name == "quads", "unknown index order '" + name + "'");
  return IndexOrder::kChunkQuads;
}

PackedFormat ParseFormat(const std::string& name) {
  if (name == "lut") return PackedFormat::kLut;
  Require(name == "tl2", "unknown format '" + name + "'");
  return PackedFormat::kTl2;
}

// One entry, checked as strictly as packing would check it.
void ReadEntry(const json& e, TuneTable& table) {
  TuneKey key;
  key.isa = ParseIsa(e.at("isa").get<std::string>());
  key.format = ParseFormat(e.at("format").get<std::string>());
  key.bits = e.at("bits").get<int>();
  key.group = e.at("group").get<int>();
  key.rows = e.at("rows").get<int64_t>();
  key.cols = e.at("cols").get<int64_t>();
  key.threads = e.at("threads").get<int>();
  Require(key.bits >= kMinBits && key.bits <= kMaxBits && IsSupportedGroup(key.group) && key.rows > 0 &&
              key.cols > 0 && key.threads >= 1,
          "an entry's matrix kind is out of range");
  TunedConfig config;
  config.tile_rows = e.at("tile_rows").get<int>();
  config.order = ParseOrder(e.at("order").get<std::string>());
  config.runtime.prefetch_bytes = e.at("prefetch_bytes").get<int>();
  config.runtime.tiles_per_item = e.at("tiles_per_item").get<int>();
  Require(config.tile_rows == 64 || config.tile_rows == 128, "an entry's tile_rows is not 64 or 128");
  Require(config.order == IndexOrder::kChunkPairs || (key.format == PackedFormat::kLut && key.group % 32 == 0),
          "an entry's index order does not fit its matrix");
  CheckTuning(config.runtime);
  table.Set(key, config);
}

}  // namespace

std::optional<std::filesystem::path> TuneCachePath(std::string_view cpu_model, Isa best_isa) {
  if (const char* env = std::getenv("TMAC_TUNE_CACHE"); env != nullptr && *env != '\0') {
    if (std::string_view(env) == "off") return std::nullopt;
    return std::filesystem::path(env);
  }
  std::filesystem::path dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
    dir = xdg;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    dir = std::filesystem::path(home) / ".cache";
  } else {
    return std::nullopt;
  }
  return dir / "tmac" / ("tune-" + FileNamePart(cpu_model) + "-" + IsaName(best_isa) + ".json");
}

TuneTable ReadTuneCache(const std::filesystem::path& path, std::string* warning) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  const std::string ignored = "ignoring the tuning cache " + path.string() + ": ";
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    *warning = ignored + "cannot read it";
    return {};
  }
  const json doc = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    *warning = ignored + "not valid JSON (run `tmac tune` again)";
    return {};
  }
  if (doc.value("format", "") != kFormatName || !doc.contains("version") || !doc["version"].is_number_integer()) {
    *warning = ignored + "not a tmac tune file";
    return {};
  }
  if (doc["version"].get<int>() != kTuneCacheVersion) {
    *warning = ignored + "written by another version of tmac (run `tmac tune` again)";
    return {};
  }
  TuneTable table;
  try {
    for (const json& entry : doc.at("entries")) ReadEntry(entry, table);
  } catch (const std::exception& e) {  // json type or range errors, tmac::Error from the checks
    *warning = ignored + "an invalid entry (" + e.what() + "; run `tmac tune` again)";
    return {};
  }
  return table;
}

void WriteTuneCache(const std::filesystem::path& path, const TuneTable& table, std::string_view cpu_model) {
  json entries = json::array();
  for (const auto& [key, config] : table.entries()) {
    entries.push_back({{"isa", IsaName(key.isa)},
                       {"format", PackedFormatName(key.format)},
                       {"bits", key.bits},
                       {"group", key.group},
                       {"rows", key.rows},
                       {"cols", key.cols},
                       {"threads", key.threads},
                       {"tile_rows", config.tile_rows},
                       {"order", OrderName(config.order)},
                       {"prefetch_bytes", config.runtime.prefetch_bytes},
                       {"tiles_per_item", config.runtime.tiles_per_item}});
  }
  const json doc = {{"format", kFormatName},
                    {"version", kTuneCacheVersion},
                    {"cpu", std::string(cpu_model)},
                    {"entries", std::move(entries)}};
  const std::string text = doc.dump(1) + "\n";
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  Require(!ec, "cannot create " + path.parent_path().string() + ": " + ec.message());
  AtomicFile file(path, /*overwrite=*/true);
  file.Write({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  file.Commit();
}

}  // namespace tmac::cli
