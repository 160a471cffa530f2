#include "tmac/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "expect_error.h"
#include "sampling/portable_random.h"

namespace tmac {
namespace {

using testing::ExpectError;

constexpr float kInf = std::numeric_limits<float>::infinity();

// Every filter off, temperature 1: the plain softmax.
SamplingParams Plain() {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

std::string Describe(const SamplingParams& p) {
  return "temperature=" + std::to_string(p.temperature) + " top_k=" + std::to_string(p.top_k) +
         " top_p=" + std::to_string(p.top_p) + " min_p=" + std::to_string(p.min_p) +
         " repeat_penalty=" + std::to_string(p.repeat_penalty) +
         " repeat_last_n=" + std::to_string(p.repeat_last_n);
}

// llama.cpp's default chain written out step by step, in its order (penalties, top-k, top-p,
// min-p, temperature), with a full sort and std::exp: the distribution the sampler must draw from.
std::vector<TokenProbability> Reference(std::vector<float> logits, const SamplingParams& p,
                                        const std::vector<int32_t>& history) {
  if (p.repeat_penalty != 1.0f && p.repeat_last_n > 0) {
    const size_t first = history.size() - std::min(history.size(), static_cast<size_t>(p.repeat_last_n));
    std::set<int32_t> repeated(history.begin() + static_cast<ptrdiff_t>(first), history.end());
    for (int32_t t : repeated) {
      logits[t] = logits[t] > 0 ? logits[t] / p.repeat_penalty : logits[t] * p.repeat_penalty;
    }
  }
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  const double max_logit = logits[order[0]];
  if (p.temperature <= 0) return {{order[0], 1.0}};
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < order.size()) order.resize(p.top_k);

  auto softmax = [&](double temperature) {
    std::vector<double> probs;
    for (int32_t t : order) probs.push_back(std::exp((logits[t] - max_logit) / temperature));
    const double total = std::accumulate(probs.begin(), probs.end(), 0.0);
    for (double& x : probs) x /= total;
    return probs;
  };
  if (p.top_p < 1.0f) {
    const std::vector<double> probs = softmax(1.0);
    double cumulative = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      cumulative += probs[i];
      if (cumulative >= p.top_p) {
        order.resize(i + 1);
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    const std::vector<double> probs = softmax(1.0);
    size_t kept = 0;
    while (kept < order.size() && probs[kept] >= p.min_p * probs[0]) ++kept;
    order.resize(kept);
  }
  const std::vector<double> probs = softmax(p.temperature);
  std::vector<TokenProbability> result;
  for (size_t i = 0; i < order.size(); ++i) result.push_back({order[i], probs[i]});
  return result;
}

// A distribution without its tokens of probability 0 (-inf logits), which either side may list.
std::vector<TokenProbability> NonZero(std::vector<TokenProbability> d) {
  std::erase_if(d, [](const TokenProbability& x) { return x.probability == 0.0; });
  return d;
}

void ExpectSameDistribution(const std::vector<TokenProbability>& actual,
                            const std::vector<TokenProbability>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].token, expected[i].token) << "rank " << i;
    EXPECT_NEAR(actual[i].probability, expected[i].probability, 1e-12) << "rank " << i;
  }
}

// Probabilities {0.5, 0.3, 0.15, 0.05} as logits.
const std::vector<float> kFourTokens = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};

// The tokens of a distribution, in its order.
std::vector<int32_t> Tokens(const std::vector<TokenProbability>& d) {
  std::vector<int32_t> tokens;
  for (const auto& x : d) tokens.push_back(x.token);
  return tokens;
}

TEST(PortableRandom, SplitMix64MatchesTheReferenceSequence) {
  // The published reference outputs of SplitMix64 for seeds 0 and 1234567.
  sampling::SplitMix64 zero(0);
  EXPECT_EQ(zero.Next(), 0xe220a8397b1dcdafu);
  EXPECT_EQ(zero.Next(), 0x6e789e6aa1b965f4u);
  EXPECT_EQ(zero.Next(), 0x06c45d188009454fu);
  sampling::SplitMix64 other(1234567);
  EXPECT_EQ(other.Next(), 0x599ed017fb08fc85u);
  EXPECT_EQ(other.Next(), 0x2c73f08458540fa5u);
  EXPECT_EQ(other.Next(), 0x883ebce5a3f27c77u);
}

TEST(PortableRandom, UniformIsTheTop53BitsInZeroOne) {
  sampling::SplitMix64 bits(7), uniform(7);
  for (int i = 0; i < 1000; ++i) {
    const double u = uniform.NextUniform();
    EXPECT_EQ(u, std::ldexp(static_cast<double>(bits.Next() >> 11), -53));
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(PortableRandom, ExpMatchesLibm) {
  for (double x = -750.0; x <= 0.0; x += 0.0137) {
    const double expected = std::exp(x);
    EXPECT_NEAR(sampling::ExpNonPositive(x), expected, 4e-16 * expected + 1e-320) << "x=" << x;
  }
  EXPECT_EQ(sampling::ExpNonPositive(0.0), 1.0);
  EXPECT_EQ(sampling::ExpNonPositive(-std::numeric_limits<double>::infinity()), 0.0);
}

TEST(Sampler, GreedyPicksTheHighestLogitAndTheLowestIdOnTies) {
  for (float temperature : {0.0f, -1.0f}) {
    SamplingParams p;
    p.temperature = temperature;
    Sampler sampler(p, 6);
    EXPECT_EQ(sampler.Sample(std::vector<float>{0.5f, -1, 3, 2.9f, 3, -kInf}), 2);
    EXPECT_EQ(sampler.Sample(std::vector<float>{-kInf, -5, -4, -4, -6, -kInf}), 2);
    EXPECT_EQ(sampler.Sample(std::vector<float>{1, 1, 1, 1, 1, 1}), 0);
    ExpectSameDistribution(sampler.Distribution(std::vector<float>{0, 0, 7, 0, 0, 0}), {{2, 1.0}});
  }
}

TEST(Sampler, TopKKeepsTheKHighestLogits) {
  SamplingParams p = Plain();
  p.top_k = 2;
  Sampler sampler(p, 5);
  const double e5 = std::exp(5.0), e4 = std::exp(4.0);
  ExpectSameDistribution(sampler.Distribution(std::vector<float>{1, 5, 3, 4, 2}),
                         {{1, e5 / (e5 + e4)}, {3, e4 / (e5 + e4)}});
  // Ties at the cut go to the lower ids.
  EXPECT_EQ(Tokens(sampler.Distribution(std::vector<float>{2, 7, 2, 2, 1})), (std::vector<int32_t>{1, 0}));
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingTheMass) {
  const std::vector<std::pair<float, std::vector<int32_t>>> cases = {
      {0.4f, {0}}, {0.75f, {0, 1}}, {0.81f, {0, 1, 2}}, {0.99f, {0, 1, 2, 3}}, {1.0f, {0, 1, 2, 3}}};
  for (const auto& [top_p, kept] : cases) {
    SamplingParams p = Plain();
    p.top_p = top_p;
    Sampler sampler(p, 4);
    const auto d = sampler.Distribution(kFourTokens);
    EXPECT_EQ(Tokens(d), kept) << "top_p=" << top_p;
    const double mass = std::accumulate(kept.begin(), kept.end(), 0.0,
                                        [](double s, int32_t t) { return s + std::exp(kFourTokens[t]); });
    for (const auto& x : d) EXPECT_NEAR(x.probability, std::exp(kFourTokens[x.token]) / mass, 1e-7);
  }
  // Reaching the mass exactly is enough: two of four equal tokens make 0.5.
  SamplingParams p = Plain();
  p.top_p = 0.5f;
  EXPECT_EQ(Tokens(Sampler(p, 4).Distribution(std::vector<float>(4, 1.0f))), (std::vector<int32_t>{0, 1}));
}

TEST(Sampler, MinPIsRelativeToTheMostLikelyToken) {
  const std::vector<std::pair<float, std::vector<int32_t>>> cases = {
      {0.05f, {0, 1, 2, 3}}, {0.25f, {0, 1, 2}}, {0.55f, {0, 1}}, {0.65f, {0}}, {1.0f, {0}}};
  for (const auto& [min_p, kept] : cases) {
    SamplingParams p = Plain();
    p.min_p = min_p;
    Sampler sampler(p, 4);
    EXPECT_EQ(Tokens(sampler.Distribution(kFourTokens)), kept) << "min_p=" << min_p;
  }
  // As likely as the most likely token is enough, even for min_p = 1.
  SamplingParams p = Plain();
  p.min_p = 1.0f;
  EXPECT_EQ(Tokens(Sampler(p, 4).Distribution(std::vector<float>{2, 3, 1, 3})), (std::vector<int32_t>{1, 3}));
}

TEST(Sampler, TemperatureReshapesWhatTheFiltersKept) {
  SamplingParams p = Plain();
  p.temperature = 2.0f;
  p.top_k = 3;
  Sampler sampler(p, 4);
  // Kept at temperature 1: the top three; then weights 0.5^(1/2), 0.3^(1/2), 0.15^(1/2).
  const double a = std::sqrt(0.5), b = std::sqrt(0.3), c = std::sqrt(0.15);
  const auto d = sampler.Distribution(kFourTokens);
  ASSERT_EQ(Tokens(d), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_NEAR(d[0].probability, a / (a + b + c), 1e-7);
  EXPECT_NEAR(d[1].probability, b / (a + b + c), 1e-7);
  EXPECT_NEAR(d[2].probability, c / (a + b + c), 1e-7);
  // min-p judges at temperature 1: 0.05 / 0.5 < 0.2 drops token 3 although at temperature 10
  // it would be ~0.8 times as likely as token 0.
  p = Plain();
  p.temperature = 10.0f;
  p.min_p = 0.2f;
  EXPECT_EQ(Tokens(Sampler(p, 4).Distribution(kFourTokens)), (std::vector<int32_t>{0, 1, 2}));
}

TEST(Sampler, MatchesTheReferenceOnRandomLogitsAndParameters) {
  std::mt19937 rng(1);
  for (int round = 0; round < 300; ++round) {
    const int vocab = round % 10 == 0 ? 5000 : 1 + static_cast<int>(rng() % 300);
    SamplingParams p;
    p.temperature = std::vector<float>{0.0f, 0.3f, 0.8f, 1.0f, 1.7f}[rng() % 5];
    p.top_k = std::vector<int>{0, 1, 5, 40, 1000}[rng() % 5];
    p.top_p = std::vector<float>{0.2f, 0.7f, 0.95f, 1.0f}[rng() % 4];
    p.min_p = std::vector<float>{0.0f, 0.05f, 0.1f, 0.3f}[rng() % 4];
    p.repeat_penalty = std::vector<float>{1.0f, 1.1f, 1.5f, 0.8f}[rng() % 4];
    p.repeat_last_n = std::vector<int>{0, 3, 64}[rng() % 3];
    SCOPED_TRACE("vocab=" + std::to_string(vocab) + " " + Describe(p));
    // Half the rounds on a coarse grid (many ties), half spread out; a few banned tokens.
    std::vector<float> logits(vocab);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    const bool grid = round % 2 == 0;
    for (float& x : logits) x = grid ? static_cast<float>(static_cast<int>(rng() % 12)) / 2 - 3 : normal(rng);
    for (int i = 0; i < vocab / 20; ++i) logits[rng() % vocab] = -kInf;
    logits[rng() % vocab] = 1.0f;  // at least one finite
    std::vector<int32_t> history;
    for (int i = 0; i < 10; ++i) history.push_back(static_cast<int32_t>(rng() % vocab));

    Sampler sampler(p, vocab);
    for (int32_t t : history) sampler.Accept(t);
    ExpectSameDistribution(NonZero(sampler.Distribution(logits)), NonZero(Reference(logits, p, history)));
  }
}

TEST(Sampler, LargeVocabularyMatchesTheReference) {
  const int vocab = 128256;
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 2.5f);
  std::vector<float> logits(vocab);
  for (float& x : logits) x = normal(rng);
  SamplingParams defaults;
  SamplingParams top_p_alone = Plain();  // top-p over the whole vocabulary: the incremental sort
  top_p_alone.top_p = 0.9f;
  SamplingParams nothing = Plain();
  for (const SamplingParams& p : {defaults, top_p_alone, nothing}) {
    SCOPED_TRACE(Describe(p));
    Sampler sampler(p, vocab);
    ExpectSameDistribution(NonZero(sampler.Distribution(logits)), NonZero(Reference(logits, p, {})));
  }
}

TEST(Sampler, EmpiricalFrequenciesMatchTheDistribution) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 5;
  p.top_p = 0.97f;
  p.min_p = 0.02f;
  p.seed = 2024;
  const std::vector<float> logits = {1.0f, 2.5f, 0.2f, -1.0f, 2.0f, 1.5f, -3.0f, 0.9f};
  const auto expected = Reference(logits, p, {});
  ASSERT_GE(expected.size(), 3u);

  Sampler sampler(p, static_cast<int>(logits.size()));
  const int draws = 200000;
  std::vector<int> counts(logits.size());
  for (int i = 0; i < draws; ++i) counts[sampler.Sample(logits)]++;
  int kept_draws = 0;
  for (const auto& [token, probability] : expected) {
    // Five standard deviations of a binomial count: the seed is fixed, so this is deterministic,
    // and a wrong distribution (off by 1% of a probability) would miss it by far.
    const double sigma = std::sqrt(draws * probability * (1 - probability));
    EXPECT_NEAR(counts[token], draws * probability, 5 * sigma) << "token " << token;
    kept_draws += counts[token];
  }
  EXPECT_EQ(kept_draws, draws) << "a filtered-out token was drawn";
}

TEST(Sampler, EqualWeightsMapTheDrawToAToken) {
  // Eight equal logits, no filter: token = floor(8 u) = the draw's top three bits. The expected
  // tokens are SplitMix64(12345)'s outputs shifted right by 61, computed separately.
  SamplingParams p = Plain();
  p.seed = 12345;
  Sampler sampler(p, 8);
  const std::vector<int32_t> expected = {1, 1, 0, 1, 4, 2, 0, 3, 3, 6, 1, 3, 6, 7, 7, 3, 6, 4, 6, 3};
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < expected.size(); ++i) tokens.push_back(sampler.Sample(std::vector<float>(8, 0.25f)));
  EXPECT_EQ(tokens, expected);
}

TEST(Sampler, KnownSequenceOnEveryMachine) {
  // Computed with a separate Python implementation of the same specification (numpy float32
  // penalties, math.exp, SplitMix64 draws, cumulative walk over the sorted kept tokens). The same
  // tokens must come out on x86-64 and AArch64.
  SamplingParams p;  // the defaults, with a penalty
  p.repeat_penalty = 1.3f;
  p.repeat_last_n = 8;
  p.seed = 99;
  std::vector<float> logits(64);
  for (int i = 0; i < 64; ++i) logits[i] = static_cast<float>((i * 37) % 64) / 8.0f - 4.0f;
  Sampler sampler(p, 64);
  sampler.Accept(5);
  std::vector<int32_t> tokens;
  for (int i = 0; i < 24; ++i) tokens.push_back(sampler.Sample(logits));
  const std::vector<int32_t> expected = {38, 19, 55, 57, 31, 50, 36, 5,  62, 57, 24, 5,
                                         38, 31, 19, 24, 50, 43, 19, 57, 43, 38, 12, 38};
  EXPECT_EQ(tokens, expected);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  std::vector<float> logits(1000);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& x : logits) x = normal(rng);
  auto run = [&](uint64_t seed) {
    SamplingParams p = Plain();
    p.seed = seed;
    Sampler sampler(p, 1000);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 50; ++i) tokens.push_back(sampler.Sample(logits));
    return tokens;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(Sampler, ResetRestartsTheGeneratorAndForgetsTheHistory) {
  SamplingParams p;
  p.repeat_penalty = 1.5f;
  p.seed = 5;
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[i] = static_cast<float>(i % 7) * 0.3f;
  Sampler sampler(p, 100);
  auto run = [&] {
    std::vector<int32_t> tokens;
    for (int i = 0; i < 30; ++i) tokens.push_back(sampler.Sample(logits));
    return tokens;
  };
  const auto first = run();
  sampler.Reset();
  EXPECT_EQ(run(), first);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOnce) {
  SamplingParams p = Plain();
  p.repeat_penalty = 2.0f;
  Sampler sampler(p, 3);
  for (int32_t t : {0, 1, 0, 0}) sampler.Accept(t);  // repeats count once
  // {2, -2, 1} becomes {1, -4, 1}.
  const double e1 = std::exp(1.0), e4 = std::exp(-4.0);
  ExpectSameDistribution(sampler.Distribution(std::vector<float>{2, -2, 1}),
                         {{0, e1 / (2 * e1 + e4)}, {2, e1 / (2 * e1 + e4)}, {1, e4 / (2 * e1 + e4)}});
}

TEST(Sampler, RepetitionPenaltyCoversOnlyTheLastTokensAndSampledOnes) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 1;
  Sampler sampler(p, 2);
  // Only the previous token is penalised: 3 -> 1.5 < 2.5 and 2.5 -> 1.25 < 3, so greedy alternates,
  // which also shows that Sample records what it picks.
  std::vector<int32_t> tokens;
  for (int i = 0; i < 6; ++i) tokens.push_back(sampler.Sample(std::vector<float>{3.0f, 2.5f}));
  EXPECT_EQ(tokens, (std::vector<int32_t>{0, 1, 0, 1, 0, 1}));
  // With a longer window both are penalised after two steps, and token 0 wins again each time.
  p.repeat_last_n = 64;
  Sampler longer(p, 2);
  tokens.clear();
  for (int i = 0; i < 4; ++i) tokens.push_back(longer.Sample(std::vector<float>{3.0f, 2.5f}));
  EXPECT_EQ(tokens, (std::vector<int32_t>{0, 1, 0, 0}));
}

TEST(Sampler, SmallTemperatureApproachesGreedy) {
  SamplingParams p = Plain();
  p.temperature = 1e-3f;
  Sampler sampler(p, 4);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sampler.Sample(std::vector<float>{1.0f, 1.1f, 0.9f, 1.09f}), 1);
  // Tied at the top: shared between the tied tokens, where greedy always takes the lower id.
  std::set<int32_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(sampler.Sample(std::vector<float>{1.0f, 2.0f, 2.0f, 1.99f}));
  EXPECT_EQ(seen, (std::set<int32_t>{1, 2}));
}

TEST(Sampler, EdgeCases) {
  // A vocabulary of one.
  for (float temperature : {0.0f, 1.0f}) {
    SamplingParams p;
    p.temperature = temperature;
    Sampler one(p, 1);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(one.Sample(std::vector<float>{-3.0f}), 0);
  }
  // All equal: uniform over what top-k keeps, the lowest ids.
  SamplingParams p = Plain();
  p.top_k = 10;
  const auto d = Sampler(p, 100).Distribution(std::vector<float>(100, 0.5f));
  ASSERT_EQ(d.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(d[i].token, i);
    EXPECT_DOUBLE_EQ(d[i].probability, 0.1);
  }
  // -inf never comes out, even when top-k keeps it.
  p = Plain();
  p.top_k = 3;
  Sampler banned(p, 4);
  for (int i = 0; i < 500; ++i) {
    ASSERT_EQ(banned.Sample(std::vector<float>{-kInf, 0.0f, -kInf, -kInf}), 1);
  }
}

TEST(Sampler, RejectsBadParameters) {
  auto with = [](auto change) {
    SamplingParams p;
    change(p);
    return p;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ExpectError([] { Sampler(SamplingParams{}, 0); }, "vocabulary size");
  ExpectError([&] { Sampler(with([&](auto& p) { p.temperature = nan; }), 4); }, "temperature");
  ExpectError([&] { Sampler(with([&](auto& p) { p.temperature = kInf; }), 4); }, "temperature");
  ExpectError([&] { Sampler(with([](auto& p) { p.top_p = 0.0f; }), 4); }, "top_p");
  ExpectError([&] { Sampler(with([&](auto& p) { p.top_p = nan; }), 4); }, "top_p");
  ExpectError([&] { Sampler(with([](auto& p) { p.min_p = 1.5f; }), 4); }, "min_p");
  ExpectError([&] { Sampler(with([&](auto& p) { p.min_p = nan; }), 4); }, "min_p");
  ExpectError([&] { Sampler(with([](auto& p) { p.repeat_penalty = 0.0f; }), 4); }, "repeat_penalty");
  ExpectError([&] { Sampler(with([&](auto& p) { p.repeat_penalty = kInf; }), 4); }, "repeat_penalty");
  ExpectError([&] { Sampler(with([](auto& p) { p.repeat_last_n = -1; }), 4); }, "repeat_last_n");
}

TEST(Sampler, RejectsBadLogitsAndTokens) {
  for (float temperature : {0.0f, 0.8f}) {
    SamplingParams p;
    p.temperature = temperature;
    Sampler sampler(p, 3);
    ExpectError([&] { sampler.Sample(std::vector<float>{1, 2}); }, "2 logits for a vocabulary of 3");
    ExpectError([&] { sampler.Sample(std::vector<float>{1, std::nanf(""), 2}); }, "token 1 is nan");
    ExpectError([&] { sampler.Sample(std::vector<float>{1, 2, kInf}); }, "token 2 is inf");
    ExpectError([&] { sampler.Sample(std::vector<float>{-kInf, -kInf, -kInf}); }, "every logit is -inf");
    ExpectError([&] { sampler.Distribution(std::vector<float>{1, 2, 3, 4}); }, "4 logits");
    ExpectError([&] { sampler.Accept(3); }, "token 3 is outside the vocabulary of 3");
    ExpectError([&] { sampler.Accept(-1); }, "token -1");
    EXPECT_EQ(sampler.Sample(std::vector<float>{0, 5, 0}), 1);  // still usable
  }
}

}  // namespace
}  // namespace tmac
