// The per-machine file of `tmac tune`'s results: a JSON document under the user's cache
// directory, read by every command that loads a model (docs/kernels.md, "Tuning").
//
// Plain JSON (nlohmann), no fmt, so that the unit test builds it without the rest of the CLI.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "tmac/isa.h"
#include "tmac/tune.h"

namespace tmac::cli {

// Bumped whenever an entry's meaning changes; files of another version are ignored.
inline constexpr int kTuneCacheVersion = 1;

// Where the cache lives: $TMAC_TUNE_CACHE when set ("off": nowhere, nullopt), else
// $XDG_CACHE_HOME/tmac/ (default ~/.cache/tmac/) with a file name made of the CPU model and the
// best ISA here, e.g. tune-intel-r-xeon-r-processor-avx512vnni.json. nullopt when neither
// XDG_CACHE_HOME nor HOME is set.
std::optional<std::filesystem::path> TuneCachePath(std::string_view cpu_model, Isa best_isa);

// The entries of the file at `path`. A missing file is an empty table. A file that cannot be
// read or parsed, or of another version, or with any invalid entry, is an empty table too, and
// `warning` says why in one line (the file is never trusted in part).
TuneTable ReadTuneCache(const std::filesystem::path& path, std::string* warning);

// Writes `table` to `path` all or nothing (a temporary file renamed into place), creating the
// directory. Throws tmac::Error when it cannot.
void WriteTuneCache(const std::filesystem::path& path, const TuneTable& table, std::string_view cpu_model);

}  // namespace tmac::cli
