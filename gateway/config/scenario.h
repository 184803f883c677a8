#pragma once
// Loading and checking scenarios (text-format mmsgate.v1.Scenario).

#include <string>

#include "absl/status/statusor.h"
#include "mmsgate/v1/scenario.pb.h"

namespace mmsgate::gateway {

// The scenario mmsgate runs when no --scenario is given (compiled in).
const std::string& DefaultScenarioText();

// Parses text-format protobuf, rejecting unknown fields, then validates it. The error names the
// line and column, or the offending record.
[[nodiscard]] absl::StatusOr<mmsgate::v1::Scenario> ParseScenario(const std::string& text,
                                                                  const std::string& origin);

// Reads and parses a scenario file.
[[nodiscard]] absl::StatusOr<mmsgate::v1::Scenario> LoadScenarioFile(const std::string& path);

// The largest sending rate and burst a number may be given.
inline constexpr double kMaxNumberMps = 10000;
inline constexpr int kMaxNumberBurst = 100000;

// Checks one number on its own: type, shape, that its country is the one its digits belong to,
// mps and burst within bounds, webhook URLs, and rule 1 (MMS only on US/CA long codes and US
// short codes). InvalidArgument naming it.
[[nodiscard]] absl::Status ValidateNumber(const mmsgate::v1::Number& number);

// Checks one carrier fault (from SetCarrierFault or a scenario's scheduled_faults): a kind, a
// positive duration, extra_latency_ms >= 0 and extra_loss within 0..1. InvalidArgument.
[[nodiscard]] absl::Status ValidateFault(const mmsgate::v1::CarrierFault& fault);

// Checks references and value ranges: unique ids, numbers owned by existing accounts, SIDs of
// the documented shape, rates within 0..1, MMS capability only where rule 1 allows it.
[[nodiscard]] absl::Status ValidateScenario(const mmsgate::v1::Scenario& scenario);

}  // namespace mmsgate::gateway
