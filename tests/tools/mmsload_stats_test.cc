// mmsload's percentiles and report formats: what a load test's reader relies on.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "mmsload/stats.h"

namespace mmsload {
namespace {

using ::testing::HasSubstr;

// Within the histogram's precision: 1/1,024 of the value.
void ExpectNear(double value, double expected) {
  EXPECT_NEAR(value, expected, expected / 1024 + 1e-9) << "expected about " << expected;
}

TEST(LatencyHistogram, BucketsCoverEveryValueContiguouslyWithinATenthOfAPercent) {
  for (std::size_t bucket = 0; bucket < 40'000; ++bucket) {
    ASSERT_EQ(LatencyHistogram::HighestOf(bucket) + 1, LatencyHistogram::LowestOf(bucket + 1))
        << bucket;
    const uint64_t low = LatencyHistogram::LowestOf(bucket);
    const uint64_t high = LatencyHistogram::HighestOf(bucket);
    ASSERT_EQ(LatencyHistogram::BucketOf(low), bucket);
    ASSERT_EQ(LatencyHistogram::BucketOf(high), bucket);
    ASSERT_LE(double(high - low), double(low) / 1024) << bucket;
  }
  // Values below 2,048 ns are exact.
  for (uint64_t ns = 0; ns < 2048; ++ns)
    ASSERT_EQ(LatencyHistogram::HighestOf(LatencyHistogram::BucketOf(ns)), ns);
  // An hour in nanoseconds still has a bucket, and the bucket is tight.
  const uint64_t hour = 3'600'000'000'000;
  const auto bucket = LatencyHistogram::BucketOf(hour);
  EXPECT_LE(LatencyHistogram::LowestOf(bucket), hour);
  EXPECT_GE(LatencyHistogram::HighestOf(bucket), hour);
}

TEST(LatencyHistogram, PercentilesAreNearestRankWithinItsPrecision) {
  std::vector<double> values(1000);
  std::iota(values.begin(), values.end(), 1.0);  // 1..1000 ms
  std::reverse(values.begin(), values.end());    // order does not matter
  LatencyHistogram histogram;
  for (double ms : values) histogram.RecordMs(ms);
  const Percentiles p = histogram.Summary();
  EXPECT_EQ(p.n, 1000u);
  ExpectNear(p.p50, 500);
  ExpectNear(p.p90, 900);
  ExpectNear(p.p99, 990);
  ExpectNear(p.p999, 999);
  EXPECT_EQ(p.max, 1000);  // The maximum is exact.
  EXPECT_EQ(histogram.min_ns(), 1'000'000);
}

TEST(LatencyHistogram, FewSamplesGiveTheirOwnValuesNotInterpolations) {
  LatencyHistogram histogram;
  for (double ms : {3.0, 1.0, 2.0}) histogram.RecordMs(ms);
  const Percentiles p = histogram.Summary();
  ExpectNear(p.p50, 2);
  EXPECT_EQ(p.p90, 3);  // capped at the maximum, never above it
  EXPECT_EQ(p.p999, 3);
  EXPECT_EQ(p.max, 3);
  EXPECT_EQ(LatencyHistogram().Summary().n, 0u);
}

TEST(LatencyHistogram, ExactBelowTwoMicrosecondsAndNegativeCountsAsZero) {
  LatencyHistogram histogram;
  for (int64_t ns = 1; ns <= 1000; ++ns) histogram.RecordNs(ns);
  EXPECT_EQ(histogram.ValueAtQuantileNs(0.5), 500);
  EXPECT_EQ(histogram.ValueAtQuantileNs(0.999), 999);
  EXPECT_EQ(histogram.ValueAtQuantileNs(0), 1);
  histogram.RecordNs(-5);
  EXPECT_EQ(histogram.min_ns(), 0);
  EXPECT_EQ(histogram.count(), 1001);
}

TEST(LatencyHistogram, AddMergesCountsMinimumAndMaximum) {
  LatencyHistogram a, b;
  for (int64_t ns = 1; ns <= 500; ++ns) a.RecordNs(ns);
  for (int64_t ns = 501; ns <= 1000; ++ns) b.RecordNs(ns);
  a.Add(b);
  EXPECT_EQ(a.count(), 1000);
  EXPECT_EQ(a.min_ns(), 1);
  EXPECT_EQ(a.max_ns(), 1000);
  EXPECT_EQ(a.ValueAtQuantileNs(0.5), 500);
  EXPECT_EQ(a.ValueAtQuantileNs(0.9), 900);
}

TEST(LatencyHistogram, DistributionClimbsTheLadderToEverySample) {
  LatencyHistogram histogram;
  for (int64_t ns = 1; ns <= 2000; ++ns) histogram.RecordNs(ns);
  const auto steps = histogram.Distribution();
  ASSERT_EQ(steps.size(), 11u);
  EXPECT_EQ(steps.front().percentile, 0);
  EXPECT_EQ(steps.front().count, 1);  // the minimum
  EXPECT_EQ(steps[1].percentile, 50);
  EXPECT_EQ(steps[1].count, 1000);
  EXPECT_EQ(steps[1].value_ms, 1000 / 1e6);
  EXPECT_EQ(steps.back().percentile, 100);
  EXPECT_EQ(steps.back().count, 2000);
  EXPECT_EQ(steps.back().value_ms, 2000 / 1e6);
  for (std::size_t i = 1; i < steps.size(); ++i) {
    EXPECT_GE(steps[i].value_ms, steps[i - 1].value_ms);
    EXPECT_GE(steps[i].count, steps[i - 1].count);
  }
  const auto json = DistributionJson(histogram);
  ASSERT_EQ(json.size(), 11u);
  EXPECT_EQ(json[1]["percentile"], 50.0);
  EXPECT_EQ(json[1]["count"], 1000);
  EXPECT_EQ(DistributionJson(LatencyHistogram()).dump(), "[]");
}

TEST(FormatDistribution, IsATableOfValuePercentileAndCount) {
  LatencyHistogram histogram;
  for (int64_t ns = 1'000'000; ns <= 4'000'000; ns += 1'000'000) histogram.RecordNs(ns);
  const std::string text = FormatDistribution("SendMessage latency distribution", histogram);
  EXPECT_EQ(text.substr(0, text.find('\n')), "SendMessage latency distribution");
  EXPECT_THAT(text, HasSubstr("      value ms  percentile         count\n"));
  EXPECT_THAT(text, HasSubstr("         1.000       0.000             1\n"));
  EXPECT_THAT(text, HasSubstr("         4.000     100.000             4\n"));
  EXPECT_EQ(FormatDistribution("x", LatencyHistogram()), "x\n  no samples\n");
}

TEST(FormatPercentiles, PrintsEveryPercentileAndTheCount) {
  Percentiles p;
  p.n = 1000;
  p.p50 = 500;
  p.p90 = 900;
  p.p99 = 990;
  p.p999 = 999;
  p.max = 1000;
  EXPECT_EQ(FormatPercentiles(p),
            "p50 500.0  p90 900.0  p99 990.0  p99.9 999.0  max 1000.0  (n=1000)");
  EXPECT_EQ(FormatPercentiles(Percentiles()), "no samples");
}

TEST(PercentilesJson, HasTheSameFigures) {
  LatencyHistogram histogram;
  for (double ms : {1.0, 2.0, 3.0, 4.0}) histogram.RecordMs(ms);
  const auto json = PercentilesJson(histogram.Summary());
  EXPECT_EQ(json["n"], 4);
  ExpectNear(json["p50"].get<double>(), 2.0);
  EXPECT_EQ(json["p99_9"], 4.0);
  EXPECT_EQ(json["max"], 4.0);
  EXPECT_EQ(PercentilesJson(Percentiles()).dump(), R"({"n":0})");
}

TEST(OpenLoopSchedule, DueTimesAreFixedInAdvanceAndDoNotDrift) {
  const OpenLoopSchedule schedule(3);  // a period of 333,333,333.3 ns
  EXPECT_TRUE(schedule.paced());
  EXPECT_EQ(schedule.DueNs(0), 0);
  EXPECT_EQ(schedule.DueNs(3), 1'000'000'000);
  // Adding a rounded period would be 1 ns short per message: 3,000,000 messages later, the
  // schedule is still exact.
  EXPECT_EQ(schedule.DueNs(3'000'000), 1'000'000'000'000'000);
  EXPECT_FALSE(OpenLoopSchedule(0).paced());
  EXPECT_EQ(OpenLoopSchedule(0).DueNs(1000), 0);
}

// A paced client with one call in flight at 100/s against a server that answers in 1 ms but
// stalls once for a second. Timed from each call's own start, the stall shows in one sample of
// 100: p99 would say all is well. Timed from the schedule, every message the stall delayed
// carries its share of the wait.
TEST(OpenLoopSchedule, TimingFromTheScheduleKeepsAStallInEveryDelayedMessage) {
  const OpenLoopSchedule schedule(100);
  LatencyHistogram from_start, from_schedule;
  int64_t previous_ack = 0;
  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; ++i) {
    const int64_t due = schedule.DueNs(i);
    const int64_t start = std::max(due, previous_ack);  // one call in flight
    const int64_t service = i == 100 ? 1'000'000'000 : 1'000'000;
    const int64_t ack = start + service;
    from_start.RecordNs(ack - start);
    from_schedule.RecordNs(ack - due);
    previous_ack = ack;
  }
  ExpectNear(double(from_start.ValueAtQuantileNs(0.99)), 1e6);  // the stall hides
  EXPECT_EQ(from_start.max_ns(), 1'000'000'000);
  // The stall delayed the next ~100 messages by up to a second: about 10% of the run.
  EXPECT_GT(from_schedule.ValueAtQuantileNs(0.95), 400'000'000);
  EXPECT_EQ(from_schedule.max_ns(), 1'000'000'000);
  ExpectNear(double(from_schedule.ValueAtQuantileNs(0.5)), 1e6);
}

TEST(TimeSeries, CountsEachSecondAndItsLatencies) {
  const int64_t start = 5'000'000'000;
  TimeSeries series(start);
  series.Accepted(start + 100'000'000, 1'000'000);  // second 1
  series.Accepted(start + 900'000'000, 3'000'000);
  series.Delivered(start + 2'500'000'000, 40'000'000);  // second 3
  ASSERT_EQ(series.steps(), 3u);
  EXPECT_EQ(series.DataFile(),
            "# from_s to_s accepted/s delivered/s admission_p50_ms admission_p99_ms e2e_p50_ms "
            "e2e_p99_ms\n"
            "0.000000 1.000000 2.0 0.0 1.000 3.000 NaN NaN\n"
            "1.000000 2.000000 0.0 0.0 NaN NaN NaN NaN\n"
            "2.000000 2.500000 0.0 2.0 NaN NaN 40.000 40.000\n");  // the run ended half way into second 3
}

TEST(PlotScript, DrawsBothPanelsFromTheDataIntoThePng) {
  const std::string script = PlotScript("/tmp/it's.dat", "/tmp/out.png", "run 1");
  EXPECT_THAT(script, HasSubstr("set terminal pngcairo"));
  EXPECT_THAT(script, HasSubstr("set output '/tmp/out.png'\n"));
  EXPECT_THAT(script, HasSubstr("plot '/tmp/it''s.dat' using 1:3"));  // quote doubled
  EXPECT_THAT(script, HasSubstr("title 'DELIVERED/s'"));
  EXPECT_THAT(script, HasSubstr("set logscale y"));
  EXPECT_THAT(script, HasSubstr("title 'send to DELIVERED p99'"));
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
