// The generate-and-stream loop `tmac run` shares between its one-shot and chat modes: feed
// tokens into a Context, sample a reply token by token, print it as it comes, and add up how long
// the prompt and generation phases took.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tmac/context.h"
#include "tmac/sampler.h"
#include "tmac/tokenizer.h"

namespace tmac::cli {

// Writes text to a stdio stream as it arrives, holding back the bytes of a UTF-8 character whose
// remaining bytes have not arrived yet: a token's piece may end in the middle of a character, and a
// terminal shows the halves printed separately as two replacement characters.
class Utf8Stream {
 public:
  explicit Utf8Stream(std::FILE* file) : file_(file) {}
  void Write(std::string_view text);
  // Writes whatever is held back (an incomplete character the text ended with, as is).
  void Flush();

 private:
  std::FILE* file_;
  std::string held_;
};

// Tokens and seconds of the two phases, summed over every Feed and Generate.
struct GenerationStats {
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0;
  int64_t generated_tokens = 0;
  double generation_seconds = 0;

  // The speed summary on stderr: load time, prompt and generation rates, peak RSS.
  void Print(double load_seconds) const;
};

enum class StopReason {
  kEndOfGeneration,  // the model sampled an end-of-generation token (not part of the reply)
  kTokenLimit,       // n_predict tokens were sampled
  kContextFull,      // the last sampled token has no position left in the context
  kInterrupted,      // the caller's stop() said so
};

struct Reply {
  std::string text;  // the bytes printed
  StopReason stop = StopReason::kEndOfGeneration;
};

class Generator {
 public:
  Generator(Context& context, Sampler& sampler, const Tokenizer& tokenizer)
      : context_(context), sampler_(sampler), tokenizer_(tokenizer) {}

  // Evaluates `tokens` after what the cache holds and records them for the repetition penalty.
  // The caller checks that they fit (n_cached() + size <= n_ctx()). `stop` is asked before each
  // pass of n_batch tokens: when it says so, Feed returns false and leaves the cache and the
  // sampler's record as they were before the call (only the stats count the passes it ran).
  bool Feed(std::span<const int32_t> tokens, const std::function<bool()>& stop);

  // Samples up to n_predict tokens after what was fed, streaming each token's piece to `out`,
  // until one of the StopReasons; `stop` is asked before every token. The last printed token is
  // evaluated by the next Feed or Generate only (a one-shot run never pays for it), but it counts
  // as cached: the cache then holds exactly the text fed and printed so far.
  Reply Generate(int64_t n_predict, Utf8Stream& out, const std::function<bool()>& stop);

  // Forgets everything cached: the next Feed starts at position 0.
  void Reset();

  // Positions the text fed and printed so far takes, counting a printed token not yet evaluated.
  int64_t n_cached() const { return context_.n_past() + (unevaluated_ ? 1 : 0); }
  int64_t n_ctx() const { return context_.n_ctx(); }
  const GenerationStats& stats() const { return stats_; }

 private:
  Context& context_;
  Sampler& sampler_;
  const Tokenizer& tokenizer_;
  std::optional<int32_t> unevaluated_;  // the last printed token, until it is evaluated
  // The cache holds BOS alone: the next token begins the text, and SentencePiece drops the space
  // it put before it, as llama2.c and Tokenizer::Decode do.
  bool begins_text_ = false;
  GenerationStats stats_;
};

}  // namespace tmac::cli
