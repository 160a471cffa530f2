// `tmac synth --shape NAME --type TYPE -o OUT.gguf`: a model with random weights at a real model's
// shape, which llama.cpp loads and runs (tmac/synth.h), with a progress bar; Ctrl-C stops it
// between tensors and leaves no file behind.
//
// The tokenizer comes from --vocab, by default from the shape's llama.cpp test vocabulary
// (ggml-vocab-llama-spm.gguf, or ggml-vocab-gpt-2.gguf for the 128256-token shapes) in the
// directory configured at build time, TMAC_VOCAB_DIR (../shared/models/tokenizer-vectors next to
// the repository); when that file is absent, --vocab is required.
#include "tmac/synth.h"

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "cli/progress.h"
#include "tmac/error.h"
#include "tmac/ggml_types.h"
#include "tmac/gguf.h"
#include "tmac/thread_pool.h"

namespace tmac::cli {

namespace {

struct SynthFlags {
  std::string shape, type, out, vocab;
  std::string embd_type = "Q8_0", output_type;
  uint64_t seed = 1;
  int threads = 0;
  bool force = false;
};

// A type tmac decodes (so it makes random tensors of it), by its name in any case.
GgmlType ParseType(const std::string& flag, const std::string& name) {
  std::string upper = name, known;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  for (const GgmlTypeInfo& info : GgmlTypes()) {
    try {
      GgmlBlock(info.type);
    } catch (const Error&) {
      continue;  // not one DecodeRow reads
    }
    if (info.name == upper) return info.type;
    known += (known.empty() ? "" : ", ") + std::string(info.name);
  }
  throw Error(flag + " " + name + ": not a type tmac makes; expected one of " + known);
}

std::filesystem::path VocabPath(const SynthFlags& f, const ModelShape& shape) {
  if (!f.vocab.empty()) {
    Require(std::filesystem::exists(f.vocab), "--vocab " + f.vocab + ": no such file");
    return f.vocab;
  }
  const std::filesystem::path path = std::filesystem::path(TMAC_VOCAB_DIR) / shape.vocab_file;
  Require(std::filesystem::exists(path), path.string() + ", the default vocab of " + std::string(shape.name) +
                                             ", does not exist; pass --vocab FILE.gguf (any GGUF file with "
                                             "tokenizer.* metadata)");
  return path;
}

// Set by SIGINT while the file is written, so that a stopped run removes its temporary file.
std::atomic<bool> g_interrupted{false};

class InterruptGuard {
 public:
  InterruptGuard() : previous_(std::signal(SIGINT, [](int) { g_interrupted = true; })) {
    g_interrupted = false;
  }
  ~InterruptGuard() { std::signal(SIGINT, previous_); }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  void (*previous_)(int);
};

void Synth(const SynthFlags& f) {
  // Arguments first, so that a mistake costs no work.
  SynthOptions options;
  try {
    options.shape = &FindModelShape(f.shape);
  } catch (const Error& e) {
    throw Error("--shape: " + std::string(e.what()));
  }
  const ModelShape& shape = *options.shape;
  options.type = ParseType("--type", f.type);
  options.embd_type = ParseType("--embd-type", f.embd_type);
  if (!f.output_type.empty()) options.output_type = ParseType("--output-type", f.output_type);
  options.seed = f.seed;
  Require(f.force || !std::filesystem::exists(f.out), f.out + " exists; pass --force to overwrite it");
  const GgufFile vocab = GgufFile::Open(VocabPath(f, shape));

  ThreadPool pool(f.threads > 0 ? f.threads
                                : std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
  options.pool = &pool;
  std::optional<Progress> progress;
  options.on_tensor = [&](size_t index, size_t count, std::string_view what) {
    Require(!g_interrupted, "interrupted; " + f.out + " was not written");
    if (index == 0) progress.emplace(count);
    progress->Step(what);
  };
  const InterruptGuard interrupt_guard;
  const auto start = std::chrono::steady_clock::now();
  const SynthSummary summary = WriteSynthModel(options, vocab, f.out, f.force);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.reset();
  fmt::print(
      "{}: {} with {} matmul weights, {} token_embd{}: {} tensors, {} tokens, {:.3f} B weights, {} bytes "
      "({:.2f} GiB), {:.1f} s\n",
      f.out, shape.name, GgmlTypeName(options.type), GgmlTypeName(options.embd_type),
      shape.bitnet ? " (tied output)"
                   : ", " + GgmlTypeName(options.output_type.value_or(GgmlType::kQ8_0)) + " output",
      summary.tensors, summary.n_vocab, static_cast<double>(summary.weights) / 1e9, summary.bytes,
      static_cast<double>(summary.bytes) / (1 << 30), seconds);
}

std::string ShapeNames() {
  std::string names;
  for (const ModelShape& s : ModelShapes()) names += (names.empty() ? "" : ", ") + std::string(s.name);
  return names;
}

}  // namespace

void RegisterSynth(CLI::App& app) {
  auto f = std::make_shared<SynthFlags>();
  CLI::App* cmd = app.add_subcommand("synth", "Write a model with random weights at a real model's shape");
  cmd->add_option("--shape", f->shape, "Model shape: " + ShapeNames())->required();
  cmd->add_option(
         "--type", f->type,
         "Type of the blk.* matmul weights: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, "
         "Q4_K, Q5_K, Q6_K, TQ1_0 or TQ2_0")
      ->required();
  cmd->add_option("-o,--output", f->out, "Output GGUF file")->required();
  cmd->add_option("--seed", f->seed, "Random seed; the same seed gives the same file")->capture_default_str();
  cmd->add_option("--vocab", f->vocab,
                  "GGUF file whose tokenizer.* metadata the model gets (default: the shape's llama.cpp test "
                  "vocabulary in " TMAC_VOCAB_DIR ")");
  cmd->add_option("--embd-type", f->embd_type, "Type of token_embd")->capture_default_str();
  cmd->add_option("--output-type", f->output_type,
                  "Type of output.weight (default Q8_0; BitNet shapes have none)");
  cmd->add_option("-t,--threads", f->threads, "Threads making the weights (default: one per CPU)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--force", f->force, "Overwrite the output file if it exists");
  cmd->callback([f] { Synth(*f); });
}

}  // namespace tmac::cli
