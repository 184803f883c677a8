#include "gateway/core/metrics.h"

#include <cmath>
#include <cstdio>

namespace mmsgate::gateway {

namespace {
std::string Number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}
}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void RenderSample(std::string& out, const std::string& name, const std::string& help,
                  const std::string& type, double value, const std::string& labels) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name +
         (labels.empty() ? "" : "{" + labels + "}") + " " + Number(value) + "\n";
}

void LabeledCounter::Add(const std::vector<std::string>& values, int64_t by) {
  std::lock_guard lock(mutex_);
  series_[values] += by;
}

int64_t LabeledCounter::Value(const std::vector<std::string>& values) const {
  std::lock_guard lock(mutex_);
  const auto it = series_.find(values);
  return it == series_.end() ? 0 : it->second;
}

void LabeledCounter::Render(std::string& out) const {
  out += "# HELP " + name_ + " " + help_ + "\n# TYPE " + name_ + " counter\n";
  std::lock_guard lock(mutex_);
  for (const auto& [values, count] : series_) {
    std::string labels;
    for (std::size_t i = 0; i < labels_.size() && i < values.size(); ++i) {
      labels += (i == 0 ? "" : ",") + labels_[i] + "=\"" + EscapeLabelValue(values[i]) + "\"";
    }
    out += name_ + "{" + labels + "} " + std::to_string(count) + "\n";
  }
}

LatencyHistogram::LatencyHistogram(std::string name, std::string help, std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      bounds_(std::move(bounds)),
      buckets_(bounds_.size()) {}

void LatencyHistogram::Observe(double seconds) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (seconds <= bounds_[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  sum_ns_.fetch_add(static_cast<int64_t>(seconds * 1e9), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void LatencyHistogram::Render(std::string& out) const {
  out += "# HELP " + name_ + " " + help_ + "\n# TYPE " + name_ + " histogram\n";
  int64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out +=
        name_ + "_bucket{le=\"" + Number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  const int64_t count = count_.load(std::memory_order_relaxed);
  out += name_ + "_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  out += name_ + "_sum " + Number(double(sum_ns_.load(std::memory_order_relaxed)) / 1e9) + "\n";
  out += name_ + "_count " + std::to_string(count) + "\n";
}

absl::Status CountingAttemptLog::StageAttempt(storage::Batch& batch, const std::string& sid,
                                              const mmsgate::v1::WebhookAttempt& attempt) {
  const int http_status = attempt.http_status();
  const std::string result =
      http_status >= 100 && http_status < 600 ? std::to_string(http_status / 100) + "xx" : "error";
  metrics_.webhook_attempts.Add({mmsgate::v1::WebhookAttempt::Kind_Name(attempt.kind()), result});
  return inner_.StageAttempt(batch, sid, attempt);
}

}  // namespace mmsgate::gateway
