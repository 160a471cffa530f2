// `tmac perplexity`: perplexity over a text file, computed the way llama.cpp's perplexity tool
// computes it, so the numbers compare:
//   - the whole text is tokenized once, with BOS when the vocabulary adds one;
//   - it is cut into floor(tokens / ctx) chunks of ctx tokens; each chunk is evaluated from an
//     empty cache with its first token replaced by BOS (when the vocabulary adds one);
//   - only the second half of each chunk is scored: the negative log-likelihood of token j + 1
//     given the logits after token j, for j in [ctx/2, ctx - 1);
//   - PPL = exp(mean NLL), with the error estimate exp(mean) * sqrt(var / (count - 1)).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "gguf/atomic_file.h"
#include "runtime/timer.h"
#include "tmac/context.h"
#include "tmac/error.h"
#include "tmac/tokenizer.h"

namespace tmac::cli {
namespace {

struct PerplexityOptions {
  ModelOptions model;
  std::string text_path;
  int64_t chunks = -1;  // -1: all
  std::string logits_path;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Require(in.good(), path + ": cannot open");
  std::stringstream contents;
  contents << in.rdbuf();
  Require(!in.bad(), path + ": read error");
  return contents.str();
}

// -log softmax(logits)[token], in double as llama.cpp's log_softmax does.
double NegativeLogLikelihood(std::span<const float> logits, int32_t token) {
  float max = logits[0];
  for (const float v : logits) max = std::max(max, v);
  double sum = 0.0;
  for (const float v : logits) sum += std::exp(v - max);
  return -(static_cast<double>(logits[static_cast<size_t>(token)] - max) - std::log(sum));
}

// The scored positions' logits as a NumPy .npy file (float32, shape [positions, vocab]), for
// comparing with another engine's.
class NpyWriter {
 public:
  NpyWriter(std::string path, int64_t rows, int64_t cols)
      : path_(std::move(path)), rows_(rows), cols_(cols) {}
  void Append(std::span<const float> row) { data_.insert(data_.end(), row.begin(), row.end()); }
  void Write() const {
    std::string header =
        fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows_, cols_);
    const size_t unpadded = 10 + header.size() + 1;
    header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
    const uint16_t length = static_cast<uint16_t>(header.size());
    const uint8_t magic[] = {0x93,
                             'N',
                             'U',
                             'M',
                             'P',
                             'Y',
                             1,
                             0,
                             static_cast<uint8_t>(length & 0xFF),
                             static_cast<uint8_t>(length >> 8)};
    AtomicFile file(path_, /*overwrite=*/true);
    file.Write(magic);
    file.Write(std::span(reinterpret_cast<const uint8_t*>(header.data()), header.size()));
    file.Write(std::span(reinterpret_cast<const uint8_t*>(data_.data()), data_.size() * sizeof(float)));
    file.Commit();
  }

 private:
  std::string path_;
  int64_t rows_, cols_;
  std::vector<float> data_;
};

void Perplexity(const PerplexityOptions& o, const GlobalOptions& global) {
  const std::string text = ReadFile(o.text_path);
  const LoadedModel loaded = LoadModel(o.model, global);
  const Model& model = *loaded.model;
  const Tokenizer tokenizer = Tokenizer::FromGguf(model.file());
  Context context(model, o.model.ToContextOptions());
  const int64_t n_ctx = context.n_ctx();
  Require(n_ctx >= 4, fmt::format("--ctx {} is too small for perplexity", n_ctx));

  const std::vector<int32_t> tokens = tokenizer.Encode(text, /*add_special=*/true, /*parse_special=*/false);
  const int64_t n_tokens = static_cast<int64_t>(tokens.size());
  Require(n_tokens >= 2 * n_ctx,
          fmt::format("{} tokenizes to {} tokens; perplexity with a context of {} needs at least {}",
                      o.text_path, n_tokens, n_ctx, 2 * n_ctx));
  const int64_t max_chunks = n_tokens / n_ctx;
  const int64_t n_chunks = o.chunks < 0 ? max_chunks : std::min(o.chunks, max_chunks);
  const int64_t first = n_ctx / 2;
  fmt::print(stderr, "perplexity: {} tokens, {} chunks of {}, scoring the last {} tokens of each\n", n_tokens,
             n_chunks, n_ctx, n_ctx - 1 - first);

  std::unique_ptr<NpyWriter> logits_out;
  if (!o.logits_path.empty()) {
    logits_out =
        std::make_unique<NpyWriter>(o.logits_path, n_chunks * (n_ctx - 1 - first), model.config().n_vocab);
  }
  double nll = 0.0, nll2 = 0.0;
  int64_t count = 0;
  Stopwatch watch;
  for (int64_t chunk = 0; chunk < n_chunks; ++chunk) {
    std::vector<int32_t> input(tokens.begin() + chunk * n_ctx, tokens.begin() + (chunk + 1) * n_ctx);
    if (tokenizer.add_bos()) input[0] = tokenizer.bos();
    context.Reset();
    context.Eval(input, /*all_logits=*/true);
    for (int64_t j = first; j < n_ctx - 1; ++j) {
      const double v = NegativeLogLikelihood(context.logits(j), input[static_cast<size_t>(j + 1)]);
      nll += v;
      nll2 += v * v;
      if (logits_out) logits_out->Append(context.logits(j));
    }
    count += n_ctx - 1 - first;
    fmt::print("[{}]{:.4f},", chunk + 1, std::exp(nll / static_cast<double>(count)));
    std::fflush(stdout);
  }
  fmt::print("\n");
  const double seconds = watch.Seconds();

  const double mean = nll / static_cast<double>(count);
  const double ppl = std::exp(mean);
  const double variance = nll2 / static_cast<double>(count) - mean * mean;
  const double error =
      variance > 0 && count > 1 ? std::sqrt(variance / static_cast<double>(count - 1)) * ppl : 0.0;
  fmt::print("Final estimate: PPL = {:.4f} +/- {:.5f}\n", ppl, error);
  if (logits_out) logits_out->Write();
  fmt::print(stderr, "load: {:.2f} s; evaluation: {:.2f} s, {:.2f} tokens/s; peak RSS: {:.1f} MiB\n",
             loaded.load_seconds, seconds, static_cast<double>(n_chunks * n_ctx) / seconds,
             static_cast<double>(PeakRssBytes()) / (1 << 20));
}

}  // namespace

void RegisterPerplexity(CLI::App& app, const GlobalOptions& global) {
  auto o = std::make_shared<PerplexityOptions>();
  o->model.n_ctx = 512;
  CLI::App* cmd =
      app.add_subcommand("perplexity", "Perplexity of a model over a text, as llama.cpp computes it");
  o->model.AddFlags(*cmd);
  cmd->add_option("-f,--file", o->text_path, "Text file")->required();
  cmd->add_option("--chunks", o->chunks, "Chunks to evaluate (-1: all)")->capture_default_str();
  cmd->add_option("--save-logits", o->logits_path,
                  "Write the scored positions' logits to this .npy file (float32, positions x vocab)");
  cmd->callback([o, &global] { Perplexity(*o, global); });
}

}  // namespace tmac::cli
