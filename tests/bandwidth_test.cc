#include "runtime/bandwidth.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tmac/error.h"

namespace tmac {
namespace {

// A cache-sized buffer keeps the test fast; the number only has to be a sane rate.
TEST(Bandwidth, ReturnsAPositiveFiniteRate) {
  for (int threads : {1, 2}) {
    const double gbps = MeasureReadBandwidth(threads, size_t{1} << 20, 3);
    EXPECT_TRUE(std::isfinite(gbps)) << threads << " threads";
    EXPECT_GT(gbps, 0.0) << threads << " threads";
  }
}

TEST(Bandwidth, HandlesARegionThatIsNotAWholeNumberOfPrefetchDistances) {
  EXPECT_GT(MeasureReadBandwidth(1, 64 * 7 + 5, 1), 0.0);
}

TEST(Bandwidth, RejectsBadArguments) {
  EXPECT_THROW(MeasureReadBandwidth(0, 1 << 20), Error);
  EXPECT_THROW(MeasureReadBandwidth(1, 32), Error);
  EXPECT_THROW(MeasureReadBandwidth(1, 1 << 20, 0), Error);
}

}  // namespace
}  // namespace tmac
