// The outcome rule book: first match wins, a swap is whole, and each rule is checked with the
// field it gets wrong named.

#include "carriers/outcome_rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mmsgate::carriers {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::HasSubstr;

v1::OutcomeRule Rule(const std::string& prefix, v1::MessageStatus status, int code = 0,
                     int64_t after_ms = 0) {
  v1::OutcomeRule rule;
  rule.set_to_prefix(prefix);
  rule.set_status(status);
  rule.set_error_code(code);
  rule.set_after_ms(after_ms);
  return rule;
}

TEST(OutcomeRuleBookTest, TheFirstMatchingRuleWins) {
  OutcomeRuleBook book;
  EXPECT_FALSE(book.Match("+14155550190").has_value()) << "no rules: nothing matches";
  book.Set({Rule("+1415555019", v1::UNDELIVERED, 30006), Rule("+1415", v1::FAILED, 30008)});
  EXPECT_EQ(book.Match("+14155550190")->error_code(), 30006);
  EXPECT_EQ(book.Match("+14155550180")->error_code(), 30008);
  EXPECT_FALSE(book.Match("+12025550100").has_value());
  book.Set({});
  EXPECT_FALSE(book.Match("+14155550190").has_value());
  EXPECT_TRUE(book.Get().empty());
}

TEST(OutcomeRuleBookTest, EachRuleIsCheckedAndTheFaultNamed) {
  EXPECT_TRUE(ValidateOutcomeRule(Rule("+1415555019", v1::UNDELIVERED, 30006), 0).ok());
  EXPECT_TRUE(ValidateOutcomeRule(Rule("+1", v1::DELIVERED, 0, 60000), 0).ok());
  const struct {
    v1::OutcomeRule rule;
    const char* says;
  } bad[] = {
      {Rule("1415", v1::DELIVERED), "to_prefix"},
      {Rule("+", v1::DELIVERED), "to_prefix"},
      {Rule("+1415x", v1::DELIVERED), "to_prefix"},
      {Rule("+1415", v1::QUEUED), "status must be"},
      {Rule("+1415", v1::DELIVERED, 30003), "no error_code"},
      {Rule("+1415", v1::UNDELIVERED, 0), "30000 to 30999"},
      {Rule("+1415", v1::FAILED, 21211), "30000 to 30999"},
      {Rule("+1415", v1::DELIVERED, 0, -1), "after_ms"},
  };
  for (const auto& [rule, says] : bad) {
    const absl::Status status = ValidateOutcomeRule(rule, 3);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << says;
    EXPECT_THAT(status.message(), HasSubstr("outcome_rules[3]")) << says;
    EXPECT_THAT(status.message(), HasSubstr(says));
  }
}

}  // namespace
}  // namespace mmsgate::carriers
