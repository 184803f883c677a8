#pragma once
// Prometheus metrics of the message pipeline: counters by label and latency histograms, rendered
// in the text exposition format (version 0.0.4) by GET /metrics.
//
// Thread-safe: counters take a short lock (one map lookup); histograms are atomics.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/storage/attempt_log.h"

namespace mmsgate::gateway {

// A counter family: one series per set of label values.
class LabeledCounter {
 public:
  LabeledCounter(std::string name, std::string help, std::vector<std::string> labels)
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)) {}
  void Add(const std::vector<std::string>& values, int64_t by = 1);
  int64_t Value(const std::vector<std::string>& values) const;
  void Render(std::string& out) const;

 private:
  const std::string name_, help_;
  const std::vector<std::string> labels_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, int64_t> series_;
};

// A histogram of durations in seconds with fixed bucket bounds.
class LatencyHistogram {
 public:
  LatencyHistogram(std::string name, std::string help, std::vector<double> bounds);
  void Observe(double seconds);
  int64_t count() const { return count_.load(std::memory_order_relaxed); }
  void Render(std::string& out) const;

 private:
  const std::string name_, help_;
  const std::vector<double> bounds_;
  std::vector<std::atomic<int64_t>> buckets_;  // per bound, not cumulative; +Inf is count_
  std::atomic<int64_t> count_{0};
  std::atomic<int64_t> sum_ns_{0};
};

// Writes one gauge or counter sample with its HELP and TYPE lines.
void RenderSample(std::string& out, const std::string& name, const std::string& help,
                  const std::string& type, double value, const std::string& labels = "");

// Escapes a label value for the text format.
std::string EscapeLabelValue(const std::string& value);

// The pipeline's own figures.
struct PipelineMetrics {
  LabeledCounter statuses{"mmsgate_message_status_changes_total",
                          "Status changes stored, by status, delivered_as and carrier.",
                          {"status", "delivered_as", "carrier"}};
  LabeledCounter fallbacks{
      "mmsgate_mms_fallbacks_total", "MMS sent as SMS with a link, by reason.", {"reason"}};
  LabeledCounter refusals{
      "mmsgate_refusals_total", "Sends refused at admission, by provider error code.", {"code"}};
  LabeledCounter webhook_attempts{
      "mmsgate_webhook_attempts_total",
      "Inbound webhook and status callback attempts, by kind and result (2xx, 3xx, 4xx, 5xx, "
      "or error: no HTTP answer).",
      {"kind", "result"}};
  LatencyHistogram admission{
      "mmsgate_admission_seconds",
      "From a send's arrival to its durable acceptance (or refusal).",
      {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
  LatencyHistogram end_to_end{
      "mmsgate_end_to_end_seconds",
      "From date_created to the final status, in simulated seconds.",
      {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400}};
};

// An AttemptLog that counts every attempt it stages into `metrics` (by kind and result) and
// hands it on to the log that stores it.
class CountingAttemptLog final : public AttemptLog {
 public:
  CountingAttemptLog(AttemptLog& inner, PipelineMetrics& metrics)
      : inner_(inner), metrics_(metrics) {}
  [[nodiscard]] absl::Status StageAttempt(storage::Batch& batch, const std::string& sid,
                                          const mmsgate::v1::WebhookAttempt& attempt) override;
  [[nodiscard]] std::vector<mmsgate::v1::WebhookAttempt> List(
      const std::string& sid) const override {
    return inner_.List(sid);
  }
  void StageRemoveAll(storage::Batch& batch, const std::string& sid) override {
    inner_.StageRemoveAll(batch, sid);
  }

 private:
  AttemptLog& inner_;
  PipelineMetrics& metrics_;
};

}  // namespace mmsgate::gateway
