#pragma once
// Small helpers of the load harness: percentiles, counters and formatting.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mmsload {

struct Percentiles {
  std::size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

// Nearest-rank percentiles; sorts `values`.
Percentiles ComputePercentiles(std::vector<double> values);

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
