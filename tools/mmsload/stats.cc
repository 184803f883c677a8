#include "mmsload/stats.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

namespace mmsload {

namespace {
// 2^10 sub-buckets per power of two: values below 2,048 ns have a bucket each; above, a bucket
// is 1/1,024 of its power of two wide.
constexpr int kSubBucketBits = 10;
constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;

int HighestBit(uint64_t value) { return 63 - std::countl_zero(value | 1); }
}  // namespace

std::size_t LatencyHistogram::BucketOf(uint64_t ns) {
  const int shift = std::max(0, HighestBit(ns) - kSubBucketBits);
  return static_cast<std::size_t>(uint64_t(shift) * kSubBuckets + (ns >> shift));
}

uint64_t LatencyHistogram::LowestOf(std::size_t bucket) {
  if (bucket < 2 * kSubBuckets) return bucket;
  const uint64_t shift = bucket / kSubBuckets - 1;
  const uint64_t sub = bucket - shift * kSubBuckets;  // in [1024, 2048)
  return sub << shift;
}

uint64_t LatencyHistogram::HighestOf(std::size_t bucket) {
  if (bucket < 2 * kSubBuckets) return bucket;
  const uint64_t shift = bucket / kSubBuckets - 1;
  return LowestOf(bucket) + (uint64_t{1} << shift) - 1;
}

void LatencyHistogram::RecordNs(int64_t ns) {
  const uint64_t value = ns < 0 ? 0 : static_cast<uint64_t>(ns);
  ++counts_[BucketOf(value)];
  const auto signed_value = static_cast<int64_t>(value);
  min_ns_ = count_ == 0 ? signed_value : std::min(min_ns_, signed_value);
  max_ns_ = std::max(max_ns_, signed_value);
  ++count_;
}

void LatencyHistogram::Add(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (const auto& [bucket, n] : other.counts_) counts_[bucket] += n;
  min_ns_ = count_ == 0 ? other.min_ns_ : std::min(min_ns_, other.min_ns_);
  max_ns_ = std::max(max_ns_, other.max_ns_);
  count_ += other.count_;
}

int64_t LatencyHistogram::ValueAtQuantileNs(double quantile) const {
  if (count_ == 0) return 0;
  if (quantile <= 0) return min_ns_;
  const auto rank = std::clamp<int64_t>(
      static_cast<int64_t>(std::ceil(quantile * static_cast<double>(count_))), 1, count_);
  int64_t seen = 0;
  for (const auto& [bucket, n] : counts_) {
    seen += n;
    if (seen >= rank) {
      return std::min<int64_t>(static_cast<int64_t>(HighestOf(bucket)), max_ns_);
    }
  }
  return max_ns_;
}

Percentiles LatencyHistogram::Summary() const {
  Percentiles p;
  p.n = static_cast<std::size_t>(count_);
  if (count_ == 0) return p;
  auto ms = [&](double q) { return double(ValueAtQuantileNs(q)) / 1e6; };
  p.p50 = ms(0.50);
  p.p90 = ms(0.90);
  p.p99 = ms(0.99);
  p.p999 = ms(0.999);
  p.max = double(max_ns_) / 1e6;
  return p;
}

std::vector<LatencyHistogram::Step> LatencyHistogram::Distribution() const {
  static constexpr double kLadder[] = {0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100};
  std::vector<Step> steps;
  if (count_ == 0) return steps;
  for (double percentile : kLadder) {
    Step step;
    step.percentile = percentile;
    const int64_t value = ValueAtQuantileNs(percentile / 100);
    step.value_ms = double(value) / 1e6;
    // Samples at or below the value: every bucket up to the value's own.
    const std::size_t last = BucketOf(static_cast<uint64_t>(value));
    for (auto it = counts_.begin(); it != counts_.end() && it->first <= last; ++it) {
      step.count += it->second;
    }
    steps.push_back(step);
  }
  return steps;
}

TimeSeries::Step& TimeSeries::StepAt(int64_t at_ns) {
  const int64_t offset = std::max<int64_t>(0, at_ns - start_ns_);
  last_offset_ns_ = std::max(last_offset_ns_, offset);
  const auto index = static_cast<std::size_t>(offset / step_ns_);
  if (index >= steps_.size()) steps_.resize(index + 1);
  return steps_[index];
}

void TimeSeries::Accepted(int64_t at_ns, int64_t latency_ns) {
  StepAt(at_ns).accepted.RecordNs(latency_ns);
}

void TimeSeries::Delivered(int64_t at_ns, int64_t latency_ns) {
  StepAt(at_ns).delivered.RecordNs(latency_ns);
}

std::string TimeSeries::DataFile() const {
  std::string out =
      "# from_s to_s accepted/s delivered/s admission_p50_ms admission_p99_ms e2e_p50_ms "
      "e2e_p99_ms\n";
  auto ms = [](const LatencyHistogram& h, double q) {
    if (h.count() == 0) return std::string("NaN");
    char text[32];
    std::snprintf(text, sizeof text, "%.3f", double(h.ValueAtQuantileNs(q)) / 1e6);
    return std::string(text);
  };
  char line[256];
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    const auto& step = steps_[i];
    // The last step ends with the run: its rate is over the part of it the run lasted.
    const int64_t begin_ns = static_cast<int64_t>(i) * step_ns_;
    const int64_t width_ns = i + 1 < steps_.size() ? step_ns_
                                                   : std::clamp<int64_t>(last_offset_ns_ - begin_ns,
                                                                         1'000'000, step_ns_);
    const double width_s = double(width_ns) / 1e9;
    std::snprintf(line, sizeof line, "%.6f %.6f %.1f %.1f %s %s %s %s\n", double(begin_ns) / 1e9,
                  double(begin_ns + width_ns) / 1e9, double(step.accepted.count()) / width_s,
                  double(step.delivered.count()) / width_s, ms(step.accepted, 0.5).c_str(),
                  ms(step.accepted, 0.99).c_str(), ms(step.delivered, 0.5).c_str(),
                  ms(step.delivered, 0.99).c_str());
    out += line;
  }
  return out;
}

std::string PlotScript(const std::string& data_path, const std::string& png_path,
                       const std::string& title) {
  // gnuplot strings in single quotes take everything literally except a doubled quote.
  auto quoted = [](const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  };
  std::string script;
  script += "set terminal pngcairo size 1200,800 enhanced font 'sans,10'\n";
  script += "set output " + quoted(png_path) + "\n";
  script += "set datafile missing 'NaN'\n";
  script += "set multiplot layout 2,1 title " + quoted(title) + "\n";
  script += "set grid\nset key top left opaque\nset xlabel 'seconds since the first send'\n";
  script += "set xrange [0:*]\n";
  script += "set ylabel 'messages per second'\nset yrange [0:*]\n";
  script += "plot " + quoted(data_path) +
            " using 1:3:($2-$1):(0) with vectors nohead lw 3 title 'accepted/s', '' using "
            "1:4:($2-$1):(0) with vectors nohead lw 2 dt 2 title 'DELIVERED/s'\n";
  script += "set ylabel 'latency ms'\nset logscale y\nset yrange [*:*]\n";
  script += "plot " + quoted(data_path) +
            " using (($1+$2)/2):5 with linespoints pt 7 ps 0.5 title 'admission p50', '' using "
            "(($1+$2)/2):6 with linespoints pt 7 ps 0.5 title 'admission p99', '' using "
            "(($1+$2)/2):7 with linespoints pt 5 ps 0.5 title 'send to DELIVERED p50', '' using "
            "(($1+$2)/2):8 with linespoints pt 5 ps 0.5 title 'send to DELIVERED p99'\n";
  script += "unset multiplot\n";
  return script;
}

std::string FormatDistribution(const std::string& title, const LatencyHistogram& histogram,
                               int decimals) {
  std::string out = title + "\n";
  if (histogram.count() == 0) return out + "  no samples\n";
  char line[128];
  std::snprintf(line, sizeof line, "  %12s  %10s  %12s\n", "value ms", "percentile", "count");
  out += line;
  for (const auto& step : histogram.Distribution()) {
    std::snprintf(line, sizeof line, "  %12.*f  %10.3f  %12lld\n", decimals, step.value_ms,
                  step.percentile, static_cast<long long>(step.count));
    out += line;
  }
  return out;
}

nlohmann::json DistributionJson(const LatencyHistogram& histogram) {
  auto out = nlohmann::json::array();
  for (const auto& step : histogram.Distribution()) {
    out.push_back(
        {{"percentile", step.percentile}, {"value_ms", step.value_ms}, {"count", step.count}});
  }
  return out;
}

std::string FormatPercentiles(const Percentiles& p, int decimals) {
  if (p.n == 0) return "no samples";
  char buffer[256];
  std::snprintf(buffer, sizeof buffer,
                "p50 %.*f  p90 %.*f  p99 %.*f  p99.9 %.*f  max %.*f  (n=%zu)", decimals, p.p50,
                decimals, p.p90, decimals, p.p99, decimals, p.p999, decimals, p.max, p.n);
  return buffer;
}

nlohmann::json PercentilesJson(const Percentiles& p) {
  if (p.n == 0) return {{"n", 0}};
  return {{"n", p.n},     {"p50", p.p50},    {"p90", p.p90},
          {"p99", p.p99}, {"p99_9", p.p999}, {"max", p.max}};
}

std::string FormatCodeCounts(const std::map<int, int64_t>& counts, const std::string& zero_name) {
  std::string out;
  for (const auto& [code, count] : counts) {
    if (!out.empty()) out += ", ";
    out += (code == 0 ? zero_name : std::to_string(code)) + " x " + std::to_string(count);
  }
  return out;
}

int LeadingErrorCode(const std::string& message) {
  std::size_t i = 0;
  int code = 0;
  while (i < message.size() && i < 9 && message[i] >= '0' && message[i] <= '9') {
    code = code * 10 + (message[i] - '0');
    ++i;
  }
  if (i == 0 || i >= message.size() || message[i] != ':') return 0;
  return code;
}

std::string GrpcCodeName(int code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(std::size(kNames))) return kNames[code];
  return "CODE_" + std::to_string(code);
}

}  // namespace mmsload
