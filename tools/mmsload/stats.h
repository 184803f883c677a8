#pragma once
// Small helpers of the load harness: percentiles, counters and formatting.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mmsload {

struct Percentiles {  // milliseconds
  std::size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

// An HDR-style latency histogram, after Gil Tene's HdrHistogram (Debian packages it only for
// Java and Go): log-linear buckets of nanoseconds, 1,024 per power of two, so every value is kept
// to within 1/1,024 (0.1%) of itself, in memory bounded by the buckets in use (at most ~40,000 for
// anything under an hour) however many samples a run records.
class LatencyHistogram {
 public:
  // Negative durations (clocks of two hosts) count as 0.
  void RecordNs(int64_t ns);
  void RecordMs(double ms) { RecordNs(static_cast<int64_t>(ms * 1e6)); }
  void Add(const LatencyHistogram& other);

  int64_t count() const { return count_; }
  int64_t min_ns() const { return count_ == 0 ? 0 : min_ns_; }
  int64_t max_ns() const { return max_ns_; }
  // Nearest rank: the value at or below which at least `quantile` of the samples lie, reported
  // as the highest value its bucket stands for (as HdrHistogram does), never above the maximum.
  int64_t ValueAtQuantileNs(double quantile) const;
  // p50/p90/p99/p99.9/max in milliseconds.
  struct Percentiles Summary() const;

  // One step of the percentile ladder: the value at `percentile`, and how many samples lie at or
  // below it.
  struct Step {
    double percentile = 0;
    double value_ms = 0;
    int64_t count = 0;
  };
  // Every step of the ladder 0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100 (min to max).
  std::vector<Step> Distribution() const;

  // Bucket arithmetic, public for tests: a value's bucket, and the values a bucket stands for.
  static std::size_t BucketOf(uint64_t ns);
  static uint64_t LowestOf(std::size_t bucket);
  static uint64_t HighestOf(std::size_t bucket);

 private:
  std::map<std::size_t, int64_t> counts_;  // bucket -> samples; only buckets that have any
  int64_t count_ = 0;
  int64_t min_ns_ = 0, max_ns_ = 0;
};

// The distribution as a table: "  value ms  percentile  count" lines under `title`.
std::string FormatDistribution(const std::string& title, const LatencyHistogram& histogram,
                               int decimals = 3);
// [{"percentile":50,"value_ms":1.2,"count":500}, ...].
nlohmann::json DistributionJson(const LatencyHistogram& histogram);

// --rate's open-loop schedule: message i is due `i / rate` after the start, fixed in advance
// whatever the gateway does. A client that waits for the due time (not for the previous reply)
// and times each call from its due time keeps a stall visible in the latency of every message
// it delayed, instead of hiding it (coordinated omission).
class OpenLoopSchedule {
 public:
  // rate <= 0: unpaced, every message is due at once.
  explicit OpenLoopSchedule(double rate) : period_ns_(rate > 0 ? 1e9 / rate : 0) {}
  bool paced() const { return period_ns_ > 0; }
  // Computed from i, not by adding periods, so a long run does not drift.
  int64_t DueNs(int64_t i) const { return static_cast<int64_t>(period_ns_ * double(i)); }

 private:
  double period_ns_;
};

// What happened in each step (a second) of a run since its first send, for --plot: messages
// accepted and delivered, and the latency of those.
class TimeSeries {
 public:
  explicit TimeSeries(int64_t start_ns, int64_t step_ns = 1'000'000'000)
      : start_ns_(start_ns), step_ns_(step_ns) {}
  // A reply that accepted a message at `at_ns`, `latency_ns` after its call started.
  void Accepted(int64_t at_ns, int64_t latency_ns);
  // A DELIVERED at `at_ns`, `latency_ns` after its call started.
  void Delivered(int64_t at_ns, int64_t latency_ns);
  std::size_t steps() const { return steps_.size(); }
  // gnuplot data: a header comment, then one row per step from the first to the last with
  // anything in it (the last step ends at the last sample, and its rates are over that part):
  // "from-s to-s accepted/s delivered/s admission-p50 admission-p99 e2e-p50 e2e-p99"
  // (ms; "NaN" where the step has no samples, which gnuplot leaves out of the line).
  std::string DataFile() const;

 private:
  struct Step {
    LatencyHistogram accepted, delivered;
  };
  Step& StepAt(int64_t at_ns);
  int64_t start_ns_, step_ns_;
  int64_t last_offset_ns_ = 0;
  std::vector<Step> steps_;
};

// The gnuplot script that draws DataFile() from `data_path` into a PNG at `png_path`: throughput
// above, latency (log scale) below.
std::string PlotScript(const std::string& data_path, const std::string& png_path,
                       const std::string& title);

// "p50 12.3  p90 20.1  p99 40.2  p99.9 51.0  max 55.0  (n=2000)", or "no samples".
std::string FormatPercentiles(const Percentiles& p, int decimals = 1);

// {"n":2000,"p50":12.3,"p90":20.1,"p99":40.2,"p99_9":51.0,"max":55.0}; {"n":0} when empty.
nlohmann::json PercentilesJson(const Percentiles& p);

// "30003 x 12, 30008 x 8"; code 0 is written as `zero_name`.
std::string FormatCodeCounts(const std::map<int, int64_t>& counts,
                             const std::string& zero_name = "no code");

// The provider code at the start of a gRPC status message ("21211: ..."), or 0.
int LeadingErrorCode(const std::string& message);

// "OK", "INVALID_ARGUMENT", ... for a numeric gRPC status code.
std::string GrpcCodeName(int code);

}  // namespace mmsload
