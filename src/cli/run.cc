// `tmac run`: generate text from a prompt, or chat (-i), streaming it to stdout, then report speed
// on stderr.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/chat.h"
#include "cli/commands.h"
#include "cli/generate.h"
#include "cli/model_options.h"
#include "cli/sigint.h"
#include "tmac/chat_template.h"
#include "tmac/context.h"
#include "tmac/error.h"
#include "tmac/gguf.h"
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
  bool interactive = false;
  std::string chat_template;  // a format name forcing the chat format
  std::string system;
};

// Prints the prompt and its continuation; false when Ctrl-C stopped the prompt's evaluation or the
// generation.
bool RunOnce(Generator& generator, const Tokenizer& tokenizer, const RunOptions& o, Utf8Stream& out) {
  const SigintCounter counter;
  std::vector<int32_t> prompt = tokenizer.Encode(o.prompt, /*add_special=*/true, /*parse_special=*/true);
  if (prompt.empty()) {
    // An empty prompt starts from BOS alone, as llama2.c does.
    Require(tokenizer.bos() >= 0, "the prompt is empty and the vocabulary has no BOS token to start from");
    prompt.push_back(tokenizer.bos());
  }
  Require(static_cast<int64_t>(prompt.size()) <= generator.n_ctx(),
          fmt::format("the prompt is {} tokens, longer than the context of {} tokens (see --ctx)",
                      prompt.size(), generator.n_ctx()));
  out.Write(o.prompt);
  const bool finished = generator.Feed(prompt, Interrupted) &&
                        generator.Generate(o.n_predict, out, Interrupted).stop != StopReason::kInterrupted;
  out.Write("\n");
  return finished;
}

void Run(const RunOptions& o, const GlobalOptions& global) {
  std::optional<ChatFormat> chat_format;
  if (o.interactive) {
    // Before the load, which takes seconds for a large model, so a missing template fails at once.
    chat_format = ChatFormatOf(GgufFile::Open(o.model.model_path), o.chat_template);
  }
  const LoadedModel loaded = LoadModel(o.model, global);
  const Model& model = *loaded.model;
  const Tokenizer tokenizer = Tokenizer::FromGguf(model.file());
  std::unique_ptr<Context> context;
  {
    const SigintBlocked blocked;  // Ctrl-C must reach this thread, which counts it, not the workers
    context = std::make_unique<Context>(model, o.model.ToContextOptions());
  }
  Sampler sampler(o.sampling, static_cast<int>(model.config().n_vocab));
  if (o.verbose) {
    for (const std::string& line : model.Describe()) fmt::print(stderr, "{}\n", line);
  }

  Generator generator(*context, sampler, tokenizer);
  Utf8Stream out(stdout);
  bool interrupted = false;
  if (chat_format) {
    RunChat(generator, tokenizer, ChatOptions{*chat_format, o.system, o.n_predict}, out);
  } else {
    interrupted = !RunOnce(generator, tokenizer, o, out);
  }
  generator.stats().Print(loaded.load_seconds);
  // 128 + SIGINT, the status of a process Ctrl-C ended, as llama.cpp's llama-cli exits; the stack
  // unwinds on the way (CLI11 ends the run with this code and no message). Ctrl-C is how a chat
  // ends, so the chat's status stays 0.
  if (interrupted) throw CLI::RuntimeError(130);
}

// Checks --chat-template at parse time with the library's own names.
const CLI::Validator ChatFormatName(
    [](const std::string& name) {
      try {
        ChatFormatFromName(name);
        return std::string();
      } catch (const Error& e) {
        return std::string(e.what());
      }
    },
    "FORMAT");

}  // namespace

void RegisterRun(CLI::App& app, const GlobalOptions& global) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt, or chat with -i");
  o->model.AddFlags(*cmd);
  CLI::Option* prompt =
      cmd->add_option("-p,--prompt", o->prompt, "Prompt text (empty: start from BOS alone); special tokens are parsed");
  CLI::Option* interactive = cmd->add_flag("-i,--interactive", o->interactive,
                "Chat: one user message per line of stdin, answered in the model's chat format, the KV cache "
                "kept across turns; -n limits each reply. Ctrl-C stops a reply, or drops a message still "
                "being evaluated; Ctrl-C at the prompt (or twice) or EOF ends the chat. A turn that does not "
                "fit in the context ends the chat with a notice.")
      ->excludes(prompt);
  cmd->add_option("--chat-template", o->chat_template,
                  "Chat format instead of the model's tokenizer.chat_template (chatml, llama2, llama3, ...)")
      ->check(ChatFormatName)
      ->needs(interactive);
  cmd->add_option("--system", o->system, "System message of the chat")->needs(interactive);
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate (per reply with -i)")
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
