#include "cli/generate.h"

#include <fmt/core.h>

#include <algorithm>
#include <vector>

#include "cli/model_options.h"
#include "runtime/timer.h"

namespace tmac::cli {

namespace {

// The length of the longest prefix of `text` that does not end inside a UTF-8 character: a lead
// byte among the last three bytes announcing more bytes than follow it starts an incomplete one.
// Invalid bytes count as complete characters (they are printed, not held forever).
size_t CompletePrefix(std::string_view text) {
  const size_t n = text.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto byte = static_cast<unsigned char>(text[n - back]);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: the lead byte is further back
    const size_t length = byte >= 0xF8 ? 1 : byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
    return length > back ? n - back : n;
  }
  return n;
}

double Rate(int64_t tokens, double seconds) { return seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0; }

}  // namespace

void Utf8Stream::Write(std::string_view text) {
  held_ += text;
  const size_t complete = CompletePrefix(held_);
  std::fwrite(held_.data(), 1, complete, file_);
  std::fflush(file_);
  held_.erase(0, complete);
}

void Utf8Stream::Flush() {
  std::fwrite(held_.data(), 1, held_.size(), file_);
  std::fflush(file_);
  held_.clear();
}

void GenerationStats::Print(double load_seconds) const {
  fmt::print(stderr, "load: {:.2f} s\n", load_seconds);
  fmt::print(stderr, "prompt: {} tokens in {:.3f} s, {:.2f} tokens/s\n", prompt_tokens, prompt_seconds,
             Rate(prompt_tokens, prompt_seconds));
  fmt::print(stderr, "generation: {} tokens in {:.3f} s, {:.2f} tokens/s\n", generated_tokens,
             generation_seconds, Rate(generated_tokens, generation_seconds));
  fmt::print(stderr, "peak RSS: {:.1f} MiB\n", static_cast<double>(PeakRssBytes()) / (1 << 20));
}

bool Generator::Feed(std::span<const int32_t> tokens, const std::function<bool()>& stop) {
  // The printed token the cache still lacks goes first, in the same pass.
  std::vector<int32_t> batch;
  if (unevaluated_) batch.push_back(*unevaluated_);
  batch.insert(batch.end(), tokens.begin(), tokens.end());
  const int64_t n_past = context_.n_past(), carried = unevaluated_ ? 1 : 0;
  Stopwatch watch;
  const int64_t evaluated = context_.Eval(batch, /*all_logits=*/false, stop);
  stats_.prompt_seconds += watch.Seconds();
  stats_.prompt_tokens += std::max<int64_t>(evaluated - carried, 0);
  if (evaluated < static_cast<int64_t>(batch.size())) {
    context_.Rewind(n_past);
    return false;
  }
  unevaluated_.reset();
  begins_text_ = n_past == 0 && batch.size() == 1 && batch[0] == tokenizer_.bos();
  for (const int32_t token : tokens) sampler_.Accept(token);
  return true;
}

Reply Generator::Generate(int64_t n_predict, Utf8Stream& out, const std::function<bool()>& stop) {
  Reply reply;
  Stopwatch watch;
  int64_t sampled = 0;
  while (true) {
    if (stop && stop()) {
      reply.stop = StopReason::kInterrupted;
      break;
    }
    if (sampled == n_predict) {
      reply.stop = StopReason::kTokenLimit;
      break;
    }
    if (unevaluated_) {
      if (context_.n_past() == context_.n_ctx()) {
        reply.stop = StopReason::kContextFull;
        break;
      }
      context_.Eval({&*unevaluated_, 1});
      unevaluated_.reset();
    }
    const int32_t token = sampler_.Sample(context_.logits());
    ++sampled;
    if (tokenizer_.IsEndOfGeneration(token)) {
      reply.stop = StopReason::kEndOfGeneration;
      break;
    }
    const std::string piece = begins_text_ ? tokenizer_.Decode({&token, 1}) : tokenizer_.TokenToPiece(token);
    begins_text_ = false;
    out.Write(piece);
    reply.text += piece;
    unevaluated_ = token;
  }
  out.Flush();
  stats_.generation_seconds += watch.Seconds();
  stats_.generated_tokens += sampled;
  return reply;
}

void Generator::Reset() {
  context_.Reset();
  unevaluated_.reset();
  begins_text_ = false;
}

}  // namespace tmac::cli
