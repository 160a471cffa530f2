// `tmac run`: generate text from a prompt, streaming it to stdout, then report speed on stderr.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "runtime/timer.h"
#include "tmac/context.h"
#include "tmac/error.h"
#include "tmac/sampler.h"
#include "tmac/tokenizer.h"

namespace tmac::cli {
namespace {

struct RunOptions {
  ModelOptions model;
  std::string prompt;
  int64_t n_predict = 128;
  SamplingParams sampling;
  bool verbose = false;
};

void Write(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void Run(const RunOptions& o, const GlobalOptions& global) {
  const LoadedModel loaded = LoadModel(o.model, global);
  const Model& model = *loaded.model;
  const Tokenizer tokenizer = Tokenizer::FromGguf(model.file());
  Context context(model, o.model.ToContextOptions());
  Sampler sampler(o.sampling, static_cast<int>(model.config().n_vocab));
  if (o.verbose) {
    for (const std::string& line : model.Describe()) fmt::print(stderr, "{}\n", line);
  }

  std::vector<int32_t> prompt = tokenizer.Encode(o.prompt, /*add_special=*/true, /*parse_special=*/true);
  if (prompt.empty()) {
    // An empty prompt starts from BOS alone, as llama2.c does.
    Require(tokenizer.bos() >= 0, "the prompt is empty and the vocabulary has no BOS token to start from");
    prompt.push_back(tokenizer.bos());
  }
  Require(static_cast<int64_t>(prompt.size()) <= context.n_ctx(),
          fmt::format("the prompt is {} tokens, longer than the context of {} tokens (see --ctx)",
                      prompt.size(), context.n_ctx()));
  for (const int32_t token : prompt) sampler.Accept(token);

  Write(o.prompt);
  Stopwatch watch;
  context.Eval(prompt);
  const double prompt_seconds = watch.Seconds();

  watch.Restart();
  int64_t generated = 0;
  while (generated < o.n_predict && context.n_past() < context.n_ctx()) {
    const int32_t token = sampler.Sample(context.logits());
    ++generated;
    if (tokenizer.IsEndOfGeneration(token)) break;
    Write(tokenizer.TokenToPiece(token));
    if (generated < o.n_predict && context.n_past() < context.n_ctx()) context.Eval({&token, 1});
  }
  const double gen_seconds = watch.Seconds();
  Write("\n");

  const auto rate = [](int64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
  fmt::print(stderr, "load: {:.2f} s\n", loaded.load_seconds);
  fmt::print(stderr, "prompt: {} tokens in {:.3f} s, {:.2f} tokens/s\n", prompt.size(), prompt_seconds,
             rate(static_cast<int64_t>(prompt.size()), prompt_seconds));
  fmt::print(stderr, "generation: {} tokens in {:.3f} s, {:.2f} tokens/s\n", generated, gen_seconds,
             rate(generated, gen_seconds));
  fmt::print(stderr, "peak RSS: {:.1f} MiB\n", static_cast<double>(PeakRssBytes()) / (1 << 20));
}

}  // namespace

void RegisterRun(CLI::App& app, const GlobalOptions& global) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt");
  o->model.AddFlags(*cmd);
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text (empty: start from BOS alone)");
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--temp", o->sampling.temperature, "Temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-k", o->sampling.top_k, "Top-k (0: off)")->capture_default_str();
  cmd->add_option("--top-p", o->sampling.top_p, "Top-p (1: off)")->capture_default_str();
  cmd->add_option("--min-p", o->sampling.min_p, "Min-p (0: off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", o->sampling.repeat_penalty, "Repetition penalty (1: off)")
      ->capture_default_str();
  cmd->add_option("--repeat-last-n", o->sampling.repeat_last_n, "Tokens the penalty looks back on")
      ->capture_default_str();
  cmd->add_option("--seed", o->sampling.seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("-v,--verbose", o->verbose, "Describe how each weight matrix is stored");
  cmd->callback([o, &global] { Run(*o, global); });
}

}  // namespace tmac::cli
