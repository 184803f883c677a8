// mmsload's percentiles and report formats: what a load test's reader relies on.

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "mmsload/stats.h"

namespace mmsload {
namespace {

TEST(ComputePercentiles, UsesNearestRank) {
  std::vector<double> values(1000);
  std::iota(values.begin(), values.end(), 1.0);  // 1..1000
  std::reverse(values.begin(), values.end());    // order does not matter
  const Percentiles p = ComputePercentiles(values);
  EXPECT_EQ(p.n, 1000u);
  EXPECT_EQ(p.p50, 500);
  EXPECT_EQ(p.p90, 900);
  EXPECT_EQ(p.p99, 990);
  EXPECT_EQ(p.p999, 999);
  EXPECT_EQ(p.max, 1000);
}

TEST(ComputePercentiles, FewSamplesGiveRealSamplesNotInterpolations) {
  const Percentiles p = ComputePercentiles({3.0, 1.0, 2.0});
  EXPECT_EQ(p.p50, 2);
  EXPECT_EQ(p.p90, 3);
  EXPECT_EQ(p.p999, 3);
  EXPECT_EQ(p.max, 3);
  EXPECT_EQ(ComputePercentiles({}).n, 0u);
}

TEST(FormatPercentiles, PrintsEveryPercentileAndTheCount) {
  std::vector<double> values(1000);
  std::iota(values.begin(), values.end(), 1.0);
  EXPECT_EQ(FormatPercentiles(ComputePercentiles(values)),
            "p50 500.0  p90 900.0  p99 990.0  p99.9 999.0  max 1000.0  (n=1000)");
  EXPECT_EQ(FormatPercentiles(ComputePercentiles({})), "no samples");
}

TEST(PercentilesJson, HasTheSameFigures) {
  const auto json = PercentilesJson(ComputePercentiles({1.0, 2.0, 3.0, 4.0}));
  EXPECT_EQ(json["n"], 4);
  EXPECT_EQ(json["p50"], 2.0);
  EXPECT_EQ(json["p99_9"], 4.0);
  EXPECT_EQ(json["max"], 4.0);
  EXPECT_EQ(PercentilesJson(ComputePercentiles({})).dump(), R"({"n":0})");
}

TEST(LeadingErrorCode, ReadsTheProviderCodeBeforeTheColon) {
  EXPECT_EQ(LeadingErrorCode("21211: 'To' is not a valid phone number"), 21211);
  EXPECT_EQ(LeadingErrorCode("no code here"), 0);
  EXPECT_EQ(LeadingErrorCode("21211 without colon"), 0);
  EXPECT_EQ(LeadingErrorCode(""), 0);
}

TEST(FormatCodeCounts, NamesCodeZero) {
  EXPECT_EQ(FormatCodeCounts({{0, 3}, {30003, 2}}), "no code x 3, 30003 x 2");
  EXPECT_EQ(GrpcCodeName(3), "INVALID_ARGUMENT");
}

}  // namespace
}  // namespace mmsload
