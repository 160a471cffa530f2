// The two pieces of sampling arithmetic the standard library does not pin down, written out so
// that a seed and a set of logits give the same token on every machine: the random generator
// (std::uniform_real_distribution and friends differ between standard libraries) and exp (libm's
// results differ between CPUs and FMA and non-FMA code paths). Both use only IEEE operations that
// are exactly specified: + - * / on doubles without contraction (the build passes -ffp-contract=off),
// and integer arithmetic.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <utility>

#include "runtime/splitmix64.h"

namespace tmac::sampling {

using tmac::SplitMix64;  // the generator (src/runtime/splitmix64.h)

// 1 / n! for n = 0..13, folded at compile time (IEEE division, so the same on every target).
inline constexpr auto kInverseFactorials = [] {
  std::array<double, 14> table{};
  double factorial = 1.0;
  for (int n = 0; n < 14; ++n) {
    if (n > 0) factorial *= n;
    table[n] = 1.0 / factorial;
  }
  return table;
}();

// e^x for x <= 0 (including -infinity, giving 0), within a few units in the last place of a double.
// Cody-Waite reduction x = k ln2 + r with |r| <= ln2 / 2, a degree-13 Taylor polynomial for e^r
// (truncation error below 1e-17), and a scaling by 2^k that is exact unless the result is
// subnormal (then it rounds once, as ldexp would). No libm call: this runs once per token of the
// vocabulary when top-k is off.
inline double ExpNonPositive(double x) {
  if (!(x >= -746.0)) return 0.0;  // e^-746 is below half the smallest subnormal double
  constexpr double kLog2E = 1.4426950408889634;
  // ln 2 split so that k * kLn2High is exact for |k| < 2^11 (the low bits of kLn2High are zero).
  constexpr double kLn2High = 6.93147180369123816490e-01;
  constexpr double kLn2Low = 1.90821492927058770002e-10;
  // k = x log2(e) rounded to nearest: adding and subtracting 1.5 * 2^52 drops the fraction bits.
  constexpr double kRound = 0x1.8p52;
  const double k = (x * kLog2E + kRound) - kRound;  // in [-1076, 0]
  const double r = (x - k * kLn2High) - k * kLn2Low;
  // Horner's rule for sum r^n / n!, written out (a fold) so the compiler overlaps neighbouring calls.
  const double poly = [r]<size_t... n>(std::index_sequence<n...>) {
    double sum = 0.0;
    ((sum = sum * r + kInverseFactorials[kInverseFactorials.size() - 1 - n]), ...);
    return sum;
  }
  (std::make_index_sequence<kInverseFactorials.size()>());
  const auto power_of_two = [](int64_t e) {
    return std::bit_cast<double>(static_cast<uint64_t>(e + 1023) << 52);
  };
  const int64_t e = static_cast<int64_t>(k);
  if (e < -1020) return poly * power_of_two(e + 1000) * power_of_two(-1000);
  return poly * power_of_two(e);
}

}  // namespace tmac::sampling
