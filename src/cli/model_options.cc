#include "cli/model_options.h"

#include <fmt/core.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>

#include "cli/machine_info.h"
#include "cli/progress.h"
#include "cli/tune_cache.h"
#include "runtime/timer.h"
#include "tmac/error.h"

namespace tmac::cli {

void ModelOptions::AddFlags(CLI::App& command) {
  AddFlagsExceptThreads(command);
  command.add_option("-t,--threads", threads, "Threads")->capture_default_str()->check(CLI::Range(1, 1024));
}

void ModelOptions::AddFlagsExceptThreads(CLI::App& command) {
  command.add_option("-m,--model", model_path, "GGUF model file")->required();
  command.add_option("--ctx", n_ctx, "Context size in tokens (0: the model's, at most 4096)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  command.add_option("--kv-type", kv_type, "KV cache type")
      ->capture_default_str()
      ->check(CLI::IsMember({"f16", "f32"}));
  batch_flag =
      command
          .add_option("--batch", n_batch, "Prompt tokens per forward pass (512 with --numerics llama.cpp)")
          ->capture_default_str()
          ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  command
      .add_option(
          "--tables", tables,
          "LUT tables: int8 (int8 tables from float activations, T-MAC's method) or int16 (activations "
          "rounded to int8 per weight group as llama.cpp does, then exact tables: twice the lookups)")
      ->capture_default_str()
      ->check(CLI::IsMember({"int8", "int16"}));
  command
      .add_option(
          "--numerics", numerics,
          "fast (tmac's LUT kernels) or llama.cpp (llama.cpp's CPU arithmetic step for step: its logits "
          "bit for bit on Q4_1 llama models, for checking against it; slower)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fast", "llama.cpp"}));
}

ContextOptions ModelOptions::ToContextOptions() const {
  ContextOptions o;
  o.n_ctx = n_ctx;
  o.kv_type = kv_type == "f32" ? KvType::kF32 : KvType::kF16;
  o.threads = threads;
  o.table_mode = tables == "int8" ? TableMode::kInt8 : TableMode::kInt16;
  o.numerics = numerics == "llama.cpp" ? Numerics::kLlamaCpp : Numerics::kFast;
  const bool batch_given = batch_flag != nullptr && batch_flag->count() > 0;
  o.n_batch = o.numerics == Numerics::kLlamaCpp && !batch_given ? kLlamaCppBatch : n_batch;
  return o;
}

LoadedModel LoadModel(const ModelOptions& options, const GlobalOptions& global) {
  std::error_code ec;
  Require(std::filesystem::exists(options.model_path, ec), options.model_path + ": no such file");
  LoadOptions load;
  load.isa = SelectedIsa(global);
  load.threads = options.threads;
  // `tmac tune`'s results for this machine, when it ran; a bad file costs one warning line.
  const TuneTable tuning = ReadMachineTuneCache();
  load.tuning = &tuning;
  // The shared progress bar, on a terminal only: one line per matrix would flood a log.
  std::unique_ptr<Progress> progress;
  if (isatty(fileno(stderr)) != 0) {
    load.progress = [&progress](int64_t, int64_t total) {
      if (!progress) progress = std::make_unique<Progress>(static_cast<size_t>(total));
      progress->Step("weight matrices loaded");
    };
  }
  Stopwatch watch;
  LoadedModel loaded{Model::Load(options.model_path, load), 0};
  loaded.load_seconds = watch.Seconds();
  progress.reset();  // ends the bar's line
  return loaded;
}

TuneTable ReadMachineTuneCache() {
  const std::optional<std::filesystem::path> path = TuneCachePath(CpuModel(), DefaultIsa());
  if (!path) return {};
  std::string warning;
  TuneTable table = ReadTuneCache(*path, &warning);
  if (!warning.empty()) fmt::print(stderr, "tmac: warning: {}\n", warning);
  return table;
}

int64_t PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace tmac::cli
