// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit counter through a fixed mixing function. Fast,
// every seed (however regular) starts a well-mixed stream, and the output is the published
// reference sequence, so any implementation on any machine reproduces it.
#pragma once

#include <cstdint>

namespace tmac {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() { return Mix(state_ += 0x9e3779b97f4a7c15u); }

  // The mixing function alone: a well-spread hash of one 64-bit value (e.g. to derive seeds).
  static uint64_t Mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1): the top 53 bits as a multiple of 2^-53, so every value is exact.
  double NextUniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  uint64_t state() const { return state_; }

 private:
  uint64_t state_;
};

}  // namespace tmac
