#include "tmac/sampler.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "sampling/portable_random.h"
#include "tmac/error.h"

namespace tmac {
namespace {

std::string Number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// The order every filter keeps a prefix of: higher logit first, ties by lower id. A strict total
// order (NaN is rejected before), so the kept sets and the order of every sum do not depend on
// how the standard library implements nth_element or sort.
template <typename Candidate>
bool Before(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Sets each weight to exp((logit - max_logit) / temperature) and returns their sum, taken in
// candidate order.
template <typename Candidate>
double SetWeights(Candidate* c, size_t count, double max_logit, double temperature) {
  double total = 0.0;
  for (size_t i = 0; i < count; ++i) {
    c[i].weight = sampling::ExpNonPositive((static_cast<double>(c[i].logit) - max_logit) / temperature);
    total += c[i].weight;
  }
  return total;
}

// Moves to the front, sorted, a set of the most likely candidates whose weight surely reaches
// `target`, and returns its size; so top-p sorts about what it keeps rather than the vocabulary.
// A histogram of the weight by logit below the maximum (bins of 1/8, the last one open) finds the
// bin where the mass is reached; the set is everything down to that bin. The histogram is aimed
// at a slightly larger target so that summing in another order cannot leave the set short: the
// rounding of a sum of n weights is below n * 2^-53 of it, far below 1e-9 for any vocabulary.
template <typename Candidate>
size_t SortTopPCandidates(Candidate* c, size_t count, double max_logit, double target) {
  constexpr int kBins = 256;
  constexpr double kBinsPerUnit = 8.0;
  const auto bin = [&](const Candidate& x) {
    return static_cast<int>(std::min((max_logit - x.logit) * kBinsPerUnit, kBins - 1.0));
  };
  std::array<double, kBins> mass{};
  for (size_t i = 0; i < count; ++i) mass[bin(c[i])] += c[i].weight;
  const double safe_target = target * (1.0 + 1e-9);
  int last = 0;
  for (double cumulative = mass[0]; cumulative < safe_target && last < kBins - 1;) cumulative += mass[++last];
  Candidate* end = std::partition(c, c + count, [&](const Candidate& x) { return bin(x) <= last; });
  std::sort(c, end, Before<Candidate>);
  return static_cast<size_t>(end - c);
}

// The highest logit is -inf only when every one is: then no token can be drawn.
void RequireSomeFinite(double max_logit) {
  Require(max_logit > -std::numeric_limits<double>::infinity(), "sampler: every logit is -inf");
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, int vocab_size) : params_(params) {
  Require(vocab_size >= 1, "sampler: vocabulary size must be at least 1, got " + std::to_string(vocab_size));
  Require(std::isfinite(params.temperature),
          "sampler: temperature must be finite, got " + Number(params.temperature));
  Require(params.top_p > 0.0f, "sampler: top_p must be > 0 (>= 1 turns it off), got " + Number(params.top_p));
  Require(params.min_p <= 1.0f,
          "sampler: min_p must be <= 1 (<= 0 turns it off), got " + Number(params.min_p));
  Require(std::isfinite(params.repeat_penalty) && params.repeat_penalty > 0.0f,
          "sampler: repeat_penalty must be finite and > 0 (1 turns it off), got " +
              Number(params.repeat_penalty));
  Require(params.repeat_last_n >= 0, "sampler: repeat_last_n must be >= 0 (0 turns it off), got " +
                                         std::to_string(params.repeat_last_n));
  candidates_.resize(static_cast<size_t>(vocab_size));
  Reset();
}

void Sampler::Reset() {
  history_.clear();
  history_next_ = 0;
  rng_state_ = params_.seed;
}

void Sampler::Accept(int32_t token) {
  Require(token >= 0 && token < vocab_size(), "sampler: token " + std::to_string(token) +
                                                  " is outside the vocabulary of " +
                                                  std::to_string(vocab_size()));
  if (!penalizes()) return;
  // Until the ring is full it grows; then the oldest slot is overwritten. The penalty treats the
  // history as a set, so the order inside the ring does not matter.
  if (history_.size() < static_cast<size_t>(params_.repeat_last_n)) {
    history_.push_back(token);
  } else {
    history_[history_next_] = token;
    history_next_ = (history_next_ + 1) % history_.size();
  }
}

int32_t Sampler::Sample(std::span<const float> logits) {
  const size_t count = Filter(logits);
  int32_t token = candidates_[0].id;
  if (!greedy()) {
    // Exactly one draw per call, whatever the filters kept, so the stream of draws stays aligned.
    sampling::SplitMix64 rng(rng_state_);
    const double draw = rng.NextUniform();
    rng_state_ = rng.state();
    double total = 0.0;
    for (size_t i = 0; i < count; ++i) total += candidates_[i].weight;
    // The first candidate whose cumulative weight exceeds draw * total; strictly, so a weight of 0
    // is never picked. If rounding leaves the target unreached, the last candidate of non-zero
    // weight is the one the draw was closest to.
    const double target = draw * total;
    double cumulative = 0.0;
    for (size_t i = 0; i < count; ++i) {
      if (candidates_[i].weight == 0.0) continue;
      token = candidates_[i].id;
      cumulative += candidates_[i].weight;
      if (cumulative > target) break;
    }
  }
  Accept(token);
  return token;
}

std::vector<TokenProbability> Sampler::Distribution(std::span<const float> logits) {
  const size_t count = Filter(logits);
  std::sort(candidates_.begin(), candidates_.begin() + static_cast<ptrdiff_t>(count), Before<Candidate>);
  double total = 0.0;
  for (size_t i = 0; i < count; ++i) total += candidates_[i].weight;
  std::vector<TokenProbability> distribution(count);
  for (size_t i = 0; i < count; ++i) distribution[i] = {candidates_[i].id, candidates_[i].weight / total};
  return distribution;
}

size_t Sampler::Filter(std::span<const float> logits) {
  CopyLogits(logits);
  if (penalizes()) ApplyRepetitionPenalty();
  Candidate* c = candidates_.data();
  const size_t vocab = candidates_.size();
  if (greedy()) {
    std::swap(c[0], *std::min_element(c, c + vocab, Before<Candidate>));
    RequireSomeFinite(c[0].logit);
    c[0].weight = 1.0;
    return 1;
  }

  // After top-k (if it cut anything) the candidates are sorted, the most likely first; otherwise
  // they are in id order. Either way a deterministic order, which every sum below follows.
  size_t count = KeepTopK();
  const bool sorted = count < vocab;
  const double max_logit = (sorted ? c : std::min_element(c, c + count, Before<Candidate>))->logit;
  RequireSomeFinite(max_logit);

  // top-p and min-p judge the distribution at temperature 1. min-p goes first: both keep a prefix
  // of the same order, judged on what top-k left (llama.cpp's min-p compares logits with the
  // maximum, which top-p keeps), so either order keeps the shorter prefix, and dropping the many
  // unlikely tokens first leaves top-p less to sort. remove_if keeps the order of what it keeps.
  const bool by_probability = params_.min_p > 0.0f || params_.top_p < 1.0f;
  if (by_probability) {
    const double total_weight = SetWeights(c, count, max_logit, 1.0);
    if (params_.min_p > 0.0f) {
      const double min_weight = params_.min_p;  // relative to the most likely token's weight of 1
      count = static_cast<size_t>(
          std::remove_if(c, c + count, [&](const Candidate& x) { return x.weight < min_weight; }) - c);
    }
    if (params_.top_p < 1.0f) count = KeepTopP(count, max_logit, params_.top_p * total_weight, sorted);
  }
  if (!by_probability || params_.temperature != 1.0f) SetWeights(c, count, max_logit, params_.temperature);
  return count;
}

void Sampler::CopyLogits(std::span<const float> logits) {
  Require(logits.size() == candidates_.size(), "sampler: got " + std::to_string(logits.size()) +
                                                   " logits for a vocabulary of " +
                                                   std::to_string(candidates_.size()));
  for (size_t i = 0; i < logits.size(); ++i) {
    // NaN and +inf have no place in a softmax; -inf is a token that can never be picked.
    if (!(logits[i] < std::numeric_limits<float>::infinity())) {
      throw Error("sampler: logit of token " + std::to_string(i) + " is " + Number(logits[i]));
    }
    candidates_[i] = {logits[i], static_cast<int32_t>(i), 0.0};
  }
}

void Sampler::ApplyRepetitionPenalty() {
  // Once per distinct token, however often it occurs (as llama.cpp's repeat penalty).
  repeated_.assign(history_.begin(), history_.end());
  std::sort(repeated_.begin(), repeated_.end());
  repeated_.erase(std::unique(repeated_.begin(), repeated_.end()), repeated_.end());
  // Dividing positive logits and multiplying the others both make the token less likely when
  // the penalty is above 1; dividing a negative logit would make it more likely.
  for (int32_t token : repeated_) {
    float& logit = candidates_[static_cast<size_t>(token)].logit;  // candidates_ is in id order here
    logit = logit > 0.0f ? logit / params_.repeat_penalty : logit * params_.repeat_penalty;
  }
}

size_t Sampler::KeepTopK() {
  const size_t count = candidates_.size();
  if (params_.top_k <= 0 || static_cast<size_t>(params_.top_k) >= count) return count;
  const size_t k = static_cast<size_t>(params_.top_k);
  // One pass that keeps at the front only what beats the k-th best seen so far: when that
  // buffer fills up it is cut back to its k best, which raises the bar. On a large vocabulary
  // almost every token fails the one comparison, instead of taking part in an nth_element.
  const size_t buffer = std::max<size_t>(4 * k, 1024);
  Candidate* c = candidates_.data();
  size_t kept = 0;
  bool cut = false;  // once true, c[k - 1] is the k-th best so far: the bar
  for (size_t i = 0; i < count; ++i) {
    if (cut && !Before(c[i], c[k - 1])) continue;
    c[kept++] = c[i];  // kept <= i: only slots already read are overwritten
    if (kept == buffer) {
      std::nth_element(c, c + (k - 1), c + kept, Before<Candidate>);
      kept = k;
      cut = true;
    }
  }
  std::nth_element(c, c + (k - 1), c + kept, Before<Candidate>);
  std::sort(c, c + k, Before<Candidate>);
  return k;
}

size_t Sampler::KeepTopP(size_t count, double max_logit, double target, bool sorted) {
  // The smallest prefix whose weight reaches the target (at least one token).
  Candidate* c = candidates_.data();
  const size_t candidates = sorted ? count : SortTopPCandidates(c, count, max_logit, target);
  double cumulative = 0.0;
  for (size_t i = 0; i < candidates; ++i) {
    cumulative += c[i].weight;
    if (cumulative >= target) return i + 1;
  }
  return candidates;  // all of them (the histogram's last bin): rounding fell short of the target
}

}  // namespace tmac
