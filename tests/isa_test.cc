#include "tmac/isa.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "tmac/error.h"

namespace tmac {
namespace {

TEST(Isa, NamesRoundTrip) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni, Isa::kNeon}) {
    EXPECT_EQ(ParseIsa(IsaName(isa)), isa);
  }
  EXPECT_THROW(ParseIsa("AVX2"), Error);
  EXPECT_THROW(ParseIsa(""), Error);
}

TEST(Isa, ScalarFirstAndTheArchitecturesSimdPresent) {
  const auto isas = SupportedIsas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::kScalar);
#if defined(__aarch64__)
  EXPECT_EQ(isas.back(), Isa::kNeon);  // the NEON tests really run NEON
#endif
  EXPECT_FALSE(IsaSupported(Isa::kAvx512Vnni) && !IsaSupported(Isa::kAvx512));
}

TEST(Isa, EnvironmentForcesTheDefault) {
  ASSERT_EQ(setenv("TMAC_ISA", "scalar", 1), 0);
  EXPECT_EQ(DefaultIsa(), Isa::kScalar);
  ASSERT_EQ(setenv("TMAC_ISA", "bogus", 1), 0);
  EXPECT_THROW(DefaultIsa(), Error);
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni, Isa::kNeon}) {
    if (IsaSupported(isa)) continue;
    ASSERT_EQ(setenv("TMAC_ISA", IsaName(isa), 1), 0);
    EXPECT_THROW(DefaultIsa(), Error) << IsaName(isa);
  }
  ASSERT_EQ(unsetenv("TMAC_ISA"), 0);
  EXPECT_EQ(DefaultIsa(), SupportedIsas().back());
}

}  // namespace
}  // namespace tmac
