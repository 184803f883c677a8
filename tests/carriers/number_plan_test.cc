#include "carriers/number_plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "carriers/phone_numbers.h"

namespace mmsgate::carriers {
namespace {

mmsgate::v1::Carrier MakeCarrier(const std::string& id, const std::string& country,
                                 std::vector<std::string> prefixes, bool is_default = false) {
  mmsgate::v1::Carrier carrier;
  carrier.set_id(id);
  carrier.set_country(country);
  for (const auto& prefix : prefixes) carrier.add_prefixes(prefix);
  carrier.set_default_for_country(is_default);
  return carrier;
}

TEST(NumberPlan, LongestPrefixWinsOverShorterOne) {
  // The short prefix is listed first so that order cannot explain the result.
  NumberPlan plan(
      {MakeCarrier("broad", "US", {"+1202"}), MakeCarrier("narrow", "US", {"+1202555"})});

  const auto* carrier = plan.CarrierFor("+12025550123", "US");
  ASSERT_NE(carrier, nullptr);
  EXPECT_EQ(carrier->id(), "narrow");

  // A number under the short prefix only still goes to the broad carrier.
  carrier = plan.CarrierFor("+12024440123", "US");
  ASSERT_NE(carrier, nullptr);
  EXPECT_EQ(carrier->id(), "broad");
}

TEST(NumberPlan, LongestPrefixWinsWhenListedInEitherOrder) {
  NumberPlan plan(
      {MakeCarrier("narrow", "US", {"+1202555"}), MakeCarrier("broad", "US", {"+1202"})});
  const auto* carrier = plan.CarrierFor("+12025550123", "US");
  ASSERT_NE(carrier, nullptr);
  EXPECT_EQ(carrier->id(), "narrow");
}

TEST(NumberPlan, NoPrefixMatchFallsBackToCountryDefault) {
  NumberPlan plan({MakeCarrier("first-us", "US", {"+1202555"}),
                   MakeCarrier("default-us", "US", {"+1206555"}, /*is_default=*/true),
                   MakeCarrier("other-us", "US", {"+1503555"})});
  const auto* carrier = plan.CarrierFor("+13105550123", "US");
  ASSERT_NE(carrier, nullptr);
  EXPECT_EQ(carrier->id(), "default-us");
}

TEST(NumberPlan, WithoutDefaultFlagFirstCarrierOfCountryServesIt) {
  NumberPlan plan({MakeCarrier("gb-first", "GB", {}), MakeCarrier("us-first", "US", {"+1202555"}),
                   MakeCarrier("gb-second", "GB", {}),
                   MakeCarrier("us-second", "US", {"+1206555"})});
  const auto* carrier = plan.CarrierFor("+13105550123", "US");
  ASSERT_NE(carrier, nullptr);
  EXPECT_EQ(carrier->id(), "us-first");

  carrier = plan.CarrierFor("+442071838750", "GB");
  ASSERT_NE(carrier, nullptr);
  EXPECT_EQ(carrier->id(), "gb-first");
}

TEST(NumberPlan, UnknownRegionHasNoCarrier) {
  NumberPlan plan({MakeCarrier("us", "US", {"+1202555"}), MakeCarrier("gb", "GB", {}, true)});
  EXPECT_EQ(plan.CarrierFor("+61291234567", "AU"), nullptr);
  EXPECT_EQ(plan.CarrierFor("+61291234567", "ZZ"), nullptr);
}

TEST(NumberPlan, FindCarrierById) {
  NumberPlan plan({MakeCarrier("us", "US", {"+1202555"}), MakeCarrier("gb", "GB", {}, true)});
  ASSERT_NE(plan.FindCarrier("gb"), nullptr);
  EXPECT_EQ(plan.FindCarrier("gb")->country(), "GB");
  EXPECT_EQ(plan.FindCarrier("nope"), nullptr);
  EXPECT_EQ(plan.carriers().size(), 2u);
}

TEST(ParseValidNumber, AcceptsUsE164WithRegionUs) {
  auto parsed = ParseValidNumber("+12025550123");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->e164, "+12025550123");
  EXPECT_EQ(parsed->region, "US");
}

TEST(ParseValidNumber, AcceptsCanadianE164WithRegionCa) {
  auto parsed = ParseValidNumber("+14165550123");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->e164, "+14165550123");
  EXPECT_EQ(parsed->region, "CA");
}

TEST(ParseValidNumber, AcceptsBritishE164WithRegionGb) {
  auto parsed = ParseValidNumber("+442071838750");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->e164, "+442071838750");
  EXPECT_EQ(parsed->region, "GB");
}

TEST(ParseValidNumber, NationalUsNumberBecomesE164) {
  auto parsed = ParseValidNumber("2025550123");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->e164, "+12025550123");
  EXPECT_EQ(parsed->region, "US");
}

// What a number becomes must parse to itself, or one subscriber would be stored under two
// numbers. libphonenumber strips Mexico's retired mobile "1" once per parse (the phone fuzzer
// found +52 1 1 471…); every spelling ends at the modern +52 and ten digits.
TEST(ParseValidNumber, TheE164FormIsAFixedPoint) {
  for (const char* text : {"+52114716185636", "+5214716185636", "+524716185636", "+52 1 \xd9\xa6",
                           "+12025550123", "+442071838750"}) {
    SCOPED_TRACE(text);
    auto parsed = ParseValidNumber(text);
    if (!parsed) continue;
    auto again = ParseValidNumber(parsed->e164);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->e164, parsed->e164);
    EXPECT_EQ(again->region, parsed->region);
  }
  EXPECT_EQ(ParseValidNumber("+52114716185636")->e164, "+524716185636");
  EXPECT_EQ(ParseValidNumber("+5214716185636")->e164, "+524716185636");
  EXPECT_EQ(ParseValidNumber("+524716185636")->region, "MX");
}

TEST(ParseValidNumber, RejectsEmptyGarbageTruncatedAndOverlongNumbers) {
  EXPECT_FALSE(ParseValidNumber("").has_value());
  EXPECT_FALSE(ParseValidNumber("abc").has_value());
  EXPECT_FALSE(ParseValidNumber("+1").has_value());
  EXPECT_FALSE(ParseValidNumber("+1202555012345678").has_value());
  EXPECT_FALSE(ParseValidNumber("+1555").has_value());
}

TEST(IsUsOrCanada, OnlyUsAndCa) {
  EXPECT_TRUE(IsUsOrCanada("US"));
  EXPECT_TRUE(IsUsOrCanada("CA"));
  EXPECT_FALSE(IsUsOrCanada("GB"));
  EXPECT_FALSE(IsUsOrCanada("ZZ"));
  EXPECT_FALSE(IsUsOrCanada(""));
}

TEST(LooksLikeShortCode, FiveOrSixDigitsOnly) {
  EXPECT_TRUE(LooksLikeShortCode("55501"));
  EXPECT_TRUE(LooksLikeShortCode("555012"));
  EXPECT_FALSE(LooksLikeShortCode("5550"));
  EXPECT_FALSE(LooksLikeShortCode("5550123"));
  EXPECT_FALSE(LooksLikeShortCode("+55501"));
  EXPECT_FALSE(LooksLikeShortCode("5550a"));
  EXPECT_FALSE(LooksLikeShortCode(""));
  EXPECT_FALSE(LooksLikeShortCode("+12025550123"));
}

}  // namespace
}  // namespace mmsgate::carriers

namespace mmsgate::carriers {
namespace {

TEST(PhoneNumbersTest, TollFreeNumbersAreToldApartByLibphonenumber) {
  EXPECT_TRUE(ParseValidNumber("+18445550100")->toll_free);
  EXPECT_TRUE(ParseValidNumber("+18005550199")->toll_free);
  EXPECT_FALSE(ParseValidNumber("+12025550100")->toll_free);
  EXPECT_FALSE(ParseValidNumber("+447400123456")->toll_free);
}

}  // namespace
}  // namespace mmsgate::carriers
