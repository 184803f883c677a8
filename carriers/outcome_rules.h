#pragma once
// Deterministic outcomes by destination (scenario `outcome_rules`, Simulator.SetOutcomeRules):
// a test suite makes any final status happen on demand. The first rule whose to_prefix starts
// the destination decides the message's final status and error code, and optionally how long it
// stays SENT; no random draw applies to it.
//
// Thread-safe: the rules are an immutable list swapped whole; Match takes no lock while no rule
// is set.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "mmsgate/v1/scenario.pb.h"

namespace mmsgate::carriers {

// One rule's checks (21200 with the field named): to_prefix "+" and 1-15 digits; status
// DELIVERED, UNDELIVERED or FAILED; error_code 0 for DELIVERED and 30000-30999 otherwise (a
// delivery error the provider reports); after_ms 0 to 86,400,000 (a simulated day).
[[nodiscard]] absl::Status ValidateOutcomeRule(const mmsgate::v1::OutcomeRule& rule, int index);

class OutcomeRuleBook {
 public:
  // Replaces the rules (validated by the caller).
  void Set(std::vector<mmsgate::v1::OutcomeRule> rules);
  [[nodiscard]] std::vector<mmsgate::v1::OutcomeRule> Get() const;
  // The first rule matching `to` (E.164), if any.
  [[nodiscard]] std::optional<mmsgate::v1::OutcomeRule> Match(std::string_view to) const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<mmsgate::v1::OutcomeRule>> rules_;
  std::atomic<bool> any_{false};
};

}  // namespace mmsgate::carriers
