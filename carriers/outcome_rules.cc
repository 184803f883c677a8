#include "carriers/outcome_rules.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "carriers/base/errors.h"

namespace mmsgate::carriers {
namespace {
namespace v1 = mmsgate::v1;

absl::Status Invalid(int index, const std::string& what) {
  return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                       "outcome_rules[" + std::to_string(index) + "]: " + what);
}
}  // namespace

absl::Status ValidateOutcomeRule(const v1::OutcomeRule& rule, int index) {
  const std::string& prefix = rule.to_prefix();
  const bool digits = prefix.size() >= 2 && prefix.size() <= 16 && prefix[0] == '+' &&
                      std::all_of(prefix.begin() + 1, prefix.end(),
                                  [](unsigned char c) { return std::isdigit(c) != 0; });
  if (!digits) {
    return Invalid(index, "to_prefix \"" + prefix.substr(0, 20) +
                              "\" must be \"+\" and 1 to 15 digits, e.g. \"+1415555019\"");
  }
  switch (rule.status()) {
    case v1::DELIVERED:
      if (rule.error_code() != 0) {
        return Invalid(index, "a DELIVERED rule has no error_code (got " +
                                  std::to_string(rule.error_code()) + ")");
      }
      break;
    case v1::UNDELIVERED:
    case v1::FAILED:
      if (rule.error_code() < 30000 || rule.error_code() > 30999) {
        return Invalid(index, "an " + v1::MessageStatus_Name(rule.status()) +
                                  " rule needs an error_code from 30000 to 30999 (a delivery "
                                  "error such as 30003 or 30006), got " +
                                  std::to_string(rule.error_code()));
      }
      break;
    default:
      return Invalid(index, "status must be DELIVERED, UNDELIVERED or FAILED, not " +
                                v1::MessageStatus_Name(rule.status()));
  }
  if (rule.after_ms() < 0 || rule.after_ms() > 86'400'000) {
    return Invalid(index, "after_ms " + std::to_string(rule.after_ms()) +
                              " must be 0 to 86400000 (a simulated day)");
  }
  return absl::OkStatus();
}

void OutcomeRuleBook::Set(std::vector<v1::OutcomeRule> rules) {
  auto shared = std::make_shared<const std::vector<v1::OutcomeRule>>(std::move(rules));
  std::lock_guard lock(mutex_);
  any_.store(!shared->empty(), std::memory_order_release);
  rules_ = std::move(shared);
}

std::vector<v1::OutcomeRule> OutcomeRuleBook::Get() const {
  std::lock_guard lock(mutex_);
  return rules_ ? *rules_ : std::vector<v1::OutcomeRule>();
}

std::optional<v1::OutcomeRule> OutcomeRuleBook::Match(std::string_view to) const {
  if (!any_.load(std::memory_order_acquire)) return std::nullopt;  // the usual case: no rules
  std::shared_ptr<const std::vector<v1::OutcomeRule>> rules;
  {
    std::lock_guard lock(mutex_);
    rules = rules_;
  }
  for (const auto& rule : *rules) {
    if (to.substr(0, rule.to_prefix().size()) == rule.to_prefix()) return rule;
  }
  return std::nullopt;
}

}  // namespace mmsgate::carriers
