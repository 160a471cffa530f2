// What every command that runs a model shares: its flags (-m, -t, --ctx, --kv-type, --batch,
// --tables, --numerics)
// and loading with a progress line and the load time.
#pragma once

#include <memory>
#include <string>

#include "cli/commands.h"
#include "tmac/context.h"
#include "tmac/model.h"
#include "tmac/tune.h"

namespace CLI {
class App;
class Option;
}

namespace tmac::cli {

struct ModelOptions {
  std::string model_path;
  int threads = 1;
  int64_t n_ctx = 0;
  std::string kv_type = "f16";
  int64_t n_batch = 64;
  std::string tables = "int8";
  std::string numerics = "fast";
  // llama.cpp's own batch (n_ubatch), the default pass with --numerics llama.cpp: where a pass
  // ends decides the order of llama.cpp's attention sums.
  static constexpr int64_t kLlamaCppBatch = 512;
  const CLI::Option* batch_flag = nullptr;  // whether --batch was given, once parsed

  // Adds the flags to `command`; -m is required.
  void AddFlags(CLI::App& command);
  // The same without -t, for a command with its own (bench takes a list of thread counts).
  void AddFlagsExceptThreads(CLI::App& command);
  ContextOptions ToContextOptions() const;
};

// A loaded model and how long loading took.
struct LoadedModel {
  std::unique_ptr<Model> model;
  double load_seconds = 0;
};

// Loads the model (repacking on options.threads threads, with a progress line on stderr).
LoadedModel LoadModel(const ModelOptions& options, const GlobalOptions& global);

// The tuning cache of this machine (cli/tune_cache.h): empty when there is none, it is off
// (TMAC_TUNE_CACHE=off), or it is unusable, which prints one warning line on stderr.
TuneTable ReadMachineTuneCache();

// The process's peak resident set size in bytes.
int64_t PeakRssBytes();

}  // namespace tmac::cli
