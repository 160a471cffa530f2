// Picks the next token from a model's logits, the way llama.cpp's default sampler chain does:
// repetition penalty -> top-k -> top-p -> min-p -> temperature -> draw from the distribution.
//
// The filters see the distribution at temperature 1 (as in llama.cpp, temperature comes last and
// only reshapes what they kept), and each keeps a prefix of the tokens ordered by logit, highest
// first, ties by lower id; each always keeps at least the most likely token. The result is a pure
// function of (params, the accepted tokens, the logits, how many tokens were sampled since the
// seed): the generator, the exp and every sum are specified here rather than left to the standard
// library, so x86-64 and AArch64 give the same tokens.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tmac {

struct SamplingParams {
  // <= 0: greedy, the token with the highest (penalised) logit, ties to the lowest id; the
  // filters and the generator are then not used. Must be finite.
  float temperature = 0.8f;
  // Keep the top_k most likely tokens; <= 0 (or >= vocab size): off.
  int top_k = 40;
  // Keep the smallest set of most likely tokens whose probability sums to at least top_p;
  // >= 1: off. Must be > 0.
  float top_p = 0.95f;
  // Keep the tokens at least min_p times as likely as the most likely one; <= 0: off. Must be <= 1.
  float min_p = 0.05f;
  // Logits of tokens among the last repeat_last_n recorded ones are divided by repeat_penalty when
  // positive and multiplied by it otherwise, once however often the token occurs. 1: off; must be
  // finite and > 0 (below 1 favours repeats).
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;  // >= 0; 0: off
  // Seeds the generator (SplitMix64, one draw per non-greedy Sample); every value is a valid seed.
  uint64_t seed = 0;
};

// One entry of the distribution a Sampler draws from.
struct TokenProbability {
  int32_t token;
  double probability;
};

class Sampler {
 public:
  // Throws tmac::Error when a parameter is out of range or vocab_size < 1.
  Sampler(const SamplingParams& params, int vocab_size);

  // Draws the next token and records it for the repetition penalty. logits must hold vocab_size
  // values, each finite or -infinity (a token that can never be picked), at least one finite;
  // anything else (wrong size, NaN, +infinity, all -infinity) throws tmac::Error.
  int32_t Sample(std::span<const float> logits);

  // The distribution Sample would draw from for these logits, most likely first (ties by lower
  // id), probabilities summing to 1; tokens of probability 0 (-infinity logits) may be included.
  // Neither draws from the generator nor records a token. Same errors as Sample.
  std::vector<TokenProbability> Distribution(std::span<const float> logits);

  // Records a token (e.g. of the prompt) for the repetition penalty; 0 <= token < vocab size.
  void Accept(int32_t token);

  // Forgets the recorded tokens and restarts the generator from the seed: afterwards the sampler
  // behaves as a newly constructed one.
  void Reset();

  const SamplingParams& params() const { return params_; }
  int vocab_size() const { return static_cast<int>(candidates_.size()); }

 private:
  struct Candidate {
    float logit;
    int32_t id;
    double weight;  // unnormalised probability, exp((logit - max logit) / temperature)
  };

  bool greedy() const { return params_.temperature <= 0.0f; }
  bool penalizes() const { return params_.repeat_penalty != 1.0f && params_.repeat_last_n > 0; }

  // Copies the logits into candidates_, applies the penalty and filters, and returns how many
  // candidates remain at the front of candidates_ with their weights set (greedy: one).
  size_t Filter(std::span<const float> logits);
  void CopyLogits(std::span<const float> logits);
  void ApplyRepetitionPenalty();
  size_t KeepTopK();
  size_t KeepTopP(size_t count, double max_logit, double target, bool sorted);

  SamplingParams params_;
  std::vector<Candidate> candidates_;  // vocab_size entries, reused by every call
  std::vector<int32_t> history_;       // ring of the last repeat_last_n recorded tokens
  size_t history_next_ = 0;            // slot the next token overwrites once history_ is full
  std::vector<int32_t> repeated_;      // scratch: the distinct tokens of history_
  uint64_t rng_state_ = 0;
};

}  // namespace tmac
