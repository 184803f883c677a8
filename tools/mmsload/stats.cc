#include "mmsload/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mmsload {

Percentiles ComputePercentiles(std::vector<double> values) {
  Percentiles p;
  p.n = values.size();
  if (values.empty()) return p;
  std::sort(values.begin(), values.end());
  auto rank = [&](double q) {
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    return values[std::clamp<std::size_t>(k, 1, values.size()) - 1];
  };
  p.p50 = rank(0.50);
  p.p90 = rank(0.90);
  p.p99 = rank(0.99);
  p.p999 = rank(0.999);
  p.max = values.back();
  return p;
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
