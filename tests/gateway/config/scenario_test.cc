#include "gateway/config/scenario.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::HasSubstr;

constexpr char kAccountSid[] = "AC0123456789abcdef0123456789abcdef";

// A valid scenario text with one account, one carrier and the given extra number records.
std::string ScenarioWith(const std::string& extra, const std::string& account_sid = kAccountSid) {
  return "accounts { sid: \"" + account_sid +
         "\" auth_token: \"0123456789abcdef\" }\n"
         "carriers { id: \"northwind\" country: \"US\" prefixes: \"+1202555\" supports_mms: true "
         "}\n" +
         extra;
}

std::string NumberRecord(const std::string& number, const std::string& type,
                         const std::string& country, bool mms,
                         const std::string& account_sid = kAccountSid) {
  return "numbers { number: \"" + number + "\" account_sid: \"" + account_sid + "\" type: " + type +
         " country: \"" + country + "\" capabilities { sms: true mms: " + (mms ? "true" : "false") +
         " } }\n";
}

TEST(Scenario, MinimalScenarioParses) {
  auto scenario =
      ParseScenario(ScenarioWith(NumberRecord("+12025550100", "LONG_CODE", "US", true)), "test");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  ASSERT_EQ(scenario->numbers_size(), 1);
  EXPECT_EQ(scenario->numbers(0).type(), v1::LONG_CODE);
  EXPECT_TRUE(scenario->numbers(0).capabilities().mms());
}

TEST(Scenario, DefaultScenarioParsesAndValidates) {
  auto scenario = ParseScenario(DefaultScenarioText(), "built-in");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  EXPECT_TRUE(ValidateScenario(*scenario).ok());
  EXPECT_GE(scenario->accounts_size(), 1);
}

TEST(Scenario, DefaultScenarioHasTheNumbersTestsNeed) {
  auto scenario = ParseScenario(DefaultScenarioText(), "built-in");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  const auto& numbers = scenario->numbers();
  auto any_number = [&](auto predicate) {
    return std::any_of(numbers.begin(), numbers.end(), predicate);
  };
  EXPECT_TRUE(any_number([](const v1::Number& n) {
    return n.type() == v1::LONG_CODE && n.country() == "US" && n.capabilities().mms() &&
           n.capabilities().sms();
  })) << "no MMS-capable US long code";
  EXPECT_TRUE(any_number([](const v1::Number& n) {
    return n.type() == v1::SHORT_CODE && n.country() == "US" && n.capabilities().mms();
  })) << "no MMS-capable US short code";
  EXPECT_TRUE(any_number([](const v1::Number& n) {
    return n.type() == v1::LONG_CODE && n.country() == "CA" && n.number().starts_with("+1");
  })) << "no Canadian long code";
  EXPECT_TRUE(any_number([](const v1::Number& n) {
    return n.capabilities().sms() && !n.capabilities().mms();
  })) << "no SMS-only number";
  // Every number belongs to a listed account.
  for (const auto& number : numbers) {
    EXPECT_TRUE(std::any_of(scenario->accounts().begin(), scenario->accounts().end(),
                            [&](const v1::Account& a) { return a.sid() == number.account_sid(); }))
        << number.number();
  }
}

TEST(Scenario, DefaultScenarioHasCarriersWithAndWithoutMms) {
  auto scenario = ParseScenario(DefaultScenarioText(), "built-in");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  const auto& carriers = scenario->carriers();
  auto any_carrier = [&](const std::string& country, bool mms) {
    return std::any_of(carriers.begin(), carriers.end(), [&](const v1::Carrier& c) {
      return c.country() == country && c.supports_mms() == mms;
    });
  };
  EXPECT_TRUE(any_carrier("US", true)) << "no US carrier with MMS";
  EXPECT_TRUE(any_carrier("US", false)) << "no US carrier without MMS";
  EXPECT_TRUE(any_carrier("CA", true)) << "no CA carrier with MMS";
  EXPECT_TRUE(any_carrier("CA", false)) << "no CA carrier without MMS";
  EXPECT_TRUE(std::any_of(carriers.begin(), carriers.end(), [](const v1::Carrier& c) {
    return c.country() != "US" && c.country() != "CA";
  })) << "no carrier outside the US and Canada";
}

TEST(Scenario, UnknownFieldIsRejectedNamingTheLine) {
  const std::string text =
      ScenarioWith("numbers {\n  number: \"+12025550100\"\n  bogus_field: 1\n}\n");
  // The record starts on line 3; bogus_field is on line 5.
  auto scenario = ParseScenario(text, "bad.txtpb");
  ASSERT_FALSE(scenario.ok());
  EXPECT_EQ(scenario.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(scenario.status().message());
  EXPECT_THAT(message, HasSubstr("line 5"));
  EXPECT_THAT(message, HasSubstr("bogus_field"));
  EXPECT_THAT(message, HasSubstr("bad.txtpb"));
}

TEST(Scenario, NumberOfUnknownAccountIsRejected) {
  const std::string stranger = "ACffffffffffffffffffffffffffffffff";
  auto scenario = ParseScenario(
      ScenarioWith(NumberRecord("+12025550100", "LONG_CODE", "US", false, stranger)), "test");
  ASSERT_FALSE(scenario.ok());
  EXPECT_THAT(std::string(scenario.status().message()), HasSubstr(stranger));
  EXPECT_THAT(std::string(scenario.status().message()), HasSubstr("+12025550100"));
}

TEST(Scenario, MmsOnBritishLongCodeIsRejected) {
  auto scenario =
      ParseScenario(ScenarioWith(NumberRecord("+442071838750", "LONG_CODE", "GB", true)), "test");
  ASSERT_FALSE(scenario.ok());
  EXPECT_THAT(std::string(scenario.status().message()), HasSubstr("+442071838750"));
  EXPECT_THAT(std::string(scenario.status().message()), HasSubstr("MMS"));

  // Without MMS the same number is fine.
  EXPECT_TRUE(
      ParseScenario(ScenarioWith(NumberRecord("+442071838750", "LONG_CODE", "GB", false)), "test")
          .ok());
}

TEST(Scenario, MmsOnCanadianShortCodeIsRejected) {
  auto scenario =
      ParseScenario(ScenarioWith(NumberRecord("55501", "SHORT_CODE", "CA", true)), "test");
  ASSERT_FALSE(scenario.ok());
  EXPECT_THAT(std::string(scenario.status().message()), HasSubstr("55501"));

  // A US short code may have MMS.
  EXPECT_TRUE(
      ParseScenario(ScenarioWith(NumberRecord("55501", "SHORT_CODE", "US", true)), "test").ok());
}

TEST(Scenario, MmsOnTollFreeIsRejected) {
  EXPECT_FALSE(
      ParseScenario(ScenarioWith(NumberRecord("+18445550100", "TOLL_FREE", "US", true)), "test")
          .ok());
}

TEST(Scenario, BadAccountSidIsRejected) {
  for (const std::string bad :
       {"AC123", "ACZZ23456789abcdef0123456789abcdef", "AC0123456789ABCDEF0123456789ABCDEF",
        "XX0123456789abcdef0123456789abcdef"}) {
    auto scenario = ParseScenario(ScenarioWith("", bad), "test");
    ASSERT_FALSE(scenario.ok()) << bad;
    EXPECT_THAT(std::string(scenario.status().message()), HasSubstr(bad));
  }
}

}  // namespace
}  // namespace mmsgate::gateway
