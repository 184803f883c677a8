#include "gateway/core/admission.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "carriers/base/errors.h"
#include "carriers/handsets.h"
#include "carriers/number_plan.h"
#include "fakes/in_memory_stores.h"
#include "gateway/accounts/directory.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr char kAccount[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kOtherAccount[] = "ACfedcba9876543210fedcba9876543210";
constexpr char kMmsLongCode[] = "+12025550100";
constexpr char kSmsOnlyLongCode[] = "+12065550100";
constexpr char kShortCode[] = "55501";
constexpr char kOtherAccountsNumber[] = "+12025550199";

// Destinations, one per carrier.
constexpr char kToMmsCarrier[] = "+12025550123";
constexpr char kToNoMmsCarrier[] = "+12065550123";
constexpr char kToSmallMmsCarrier[] = "+12125550123";
constexpr char kToCanada[] = "+14165550123";
constexpr char kToBritain[] = "+442071838750";
constexpr char kToAustralia[] = "+61291234567";

constexpr char kBaseUrl[] = "http://127.0.0.1:8080";
constexpr char kSha256OfAbc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

v1::Scenario MakeScenario() {
  v1::Scenario scenario;
  auto* account = scenario.add_accounts();
  account->set_sid(kAccount);
  account->set_auth_token("secret-token-1");
  auto* other = scenario.add_accounts();
  other->set_sid(kOtherAccount);
  other->set_auth_token("secret-token-2");

  auto add_number = [&](const std::string& number, const std::string& owner, v1::NumberType type,
                        bool mms) {
    auto* n = scenario.add_numbers();
    n->set_number(number);
    n->set_account_sid(owner);
    n->set_type(type);
    n->set_country("US");
    n->mutable_capabilities()->set_sms(true);
    n->mutable_capabilities()->set_mms(mms);
  };
  add_number(kMmsLongCode, kAccount, v1::LONG_CODE, true);
  add_number(kSmsOnlyLongCode, kAccount, v1::LONG_CODE, false);
  add_number(kShortCode, kAccount, v1::SHORT_CODE, true);
  add_number(kOtherAccountsNumber, kOtherAccount, v1::LONG_CODE, true);

  auto add_carrier = [&](const std::string& id, const std::string& country,
                         const std::string& prefix, bool mms, int64_t max_mms_bytes,
                         bool is_default) {
    auto* c = scenario.add_carriers();
    c->set_id(id);
    c->set_country(country);
    if (!prefix.empty()) c->add_prefixes(prefix);
    c->set_supports_mms(mms);
    c->set_max_mms_bytes(max_mms_bytes);
    c->set_default_for_country(is_default);
  };
  add_carrier("us-mms", "US", "+1202555", true, 0, false);
  add_carrier("us-nomms", "US", "+1206555", false, 0, false);
  add_carrier("us-small", "US", "+1212555", true, 1000, false);
  add_carrier("ca-mms", "CA", "", true, 0, true);
  add_carrier("gb", "GB", "", true, 0, true);
  return scenario;
}

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest()
      : scenario_(MakeScenario()),
        directory_(scenario_, database_, directory_store_),
        plan_({scenario_.carriers().begin(), scenario_.carriers().end()}) {
    context_.directory = &directory_;
    context_.number_plan = &plan_;
    context_.public_base_url = kBaseUrl;
    context_.now_ns = 1'700'000'000'000'000'000;
    account_ = *directory_.FindAccount(kAccount);
  }

  static v1::SendMessageRequest Sms(const std::string& from, const std::string& to,
                                    const std::string& body) {
    v1::SendMessageRequest request;
    request.set_from(from);
    request.set_to(to);
    request.set_body(body);
    return request;
  }

  static v1::SendMessageRequest Mms(const std::string& from, const std::string& to,
                                    const std::string& body, const std::string& bytes,
                                    const std::string& content_type = "image/png") {
    v1::SendMessageRequest request = Sms(from, to, body);
    auto* media = request.add_media();
    media->set_content_type(content_type);
    media->set_data(bytes);
    media->set_filename("picture.png");
    return request;
  }

  absl::StatusOr<AdmittedMessage> Admit(const v1::SendMessageRequest& request) {
    return gateway::Admit(account_, request, context_);
  }

  // Asserts a refusal with provider `code`, whose text starts with "<code>: ".
  static void ExpectRefused(const absl::StatusOr<AdmittedMessage>& result, int code) {
    ASSERT_FALSE(result.ok()) << "expected refusal " << code;
    EXPECT_EQ(ProviderErrorCode(result.status()), code) << result.status();
    EXPECT_THAT(std::string(result.status().message()), StartsWith(std::to_string(code) + ": "));
  }

  v1::Scenario scenario_;
  testing::InMemoryDatabase database_;
  testing::InMemoryDirectoryStore directory_store_{database_};
  Directory directory_;
  carriers::NumberPlan plan_;
  AdmissionContext context_;
  v1::Account account_;
};

TEST_F(AdmissionTest, SmsGetsSmSidAndIsDeliveredAsSms) {
  auto admitted = Admit(Sms(kMmsLongCode, kToMmsCarrier, "hello"));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  const v1::Message& m = admitted->message;
  EXPECT_THAT(m.sid(), MatchesRegex("SM[0-9a-f]{32}"));
  EXPECT_EQ(m.sid().size(), 34u);
  EXPECT_EQ(m.account_sid(), kAccount);
  EXPECT_EQ(m.from(), kMmsLongCode);
  EXPECT_EQ(m.to(), kToMmsCarrier);
  EXPECT_EQ(m.body(), "hello");
  EXPECT_EQ(m.status(), v1::ACCEPTED);
  EXPECT_EQ(m.direction(), v1::OUTBOUND_API);
  EXPECT_EQ(m.delivered_as(), v1::SMS);
  EXPECT_EQ(m.fallback_reason(), v1::NONE);
  EXPECT_EQ(m.carrier_id(), "us-mms");
  EXPECT_EQ(m.num_media(), 0);
  EXPECT_EQ(m.num_segments(), 1);
  EXPECT_EQ(m.delivered_text(), "hello");
  EXPECT_TRUE(m.link_url().empty());
  EXPECT_TRUE(admitted->link_token.empty());
  EXPECT_EQ(m.validity_period_seconds(), kDefaultValidityPeriodSeconds);
}

TEST_F(AdmissionTest, LongSmsCountsSegments) {
  // 161 GSM-7 characters do not fit one segment (160): two 153-character parts.
  auto admitted = Admit(Sms(kMmsLongCode, kToMmsCarrier, std::string(161, 'a')));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->message.num_segments(), 2);
}

TEST_F(AdmissionTest, NationalDestinationIsStoredInE164) {
  auto admitted = Admit(Sms(kMmsLongCode, "2025550123", "hi"));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->message.to(), "+12025550123");
}

TEST_F(AdmissionTest, MmsToMmsCarrierIsDeliveredAsMmsWithMediaRecords) {
  auto admitted = Admit(Mms(kMmsLongCode, kToMmsCarrier, "look", "abc"));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  const v1::Message& m = admitted->message;
  EXPECT_THAT(m.sid(), MatchesRegex("MM[0-9a-f]{32}"));
  EXPECT_EQ(m.delivered_as(), v1::MMS);
  EXPECT_EQ(m.fallback_reason(), v1::NONE);
  EXPECT_EQ(m.carrier_id(), "us-mms");
  EXPECT_EQ(m.num_media(), 1);
  EXPECT_EQ(m.num_segments(), 1);
  EXPECT_EQ(m.delivered_text(), "look");
  EXPECT_TRUE(m.link_url().empty());
  EXPECT_TRUE(admitted->link_token.empty());
  ASSERT_EQ(m.media_size(), 1);
  const v1::Media& media = m.media(0);
  EXPECT_THAT(media.sid(), MatchesRegex("ME[0-9a-f]{32}"));
  EXPECT_EQ(media.parent_sid(), m.sid());
  EXPECT_EQ(media.content_type(), "image/png");
  EXPECT_EQ(media.size(), 3);
  EXPECT_EQ(media.sha256(), kSha256OfAbc);
  EXPECT_EQ(media.filename(), "picture.png");
  ASSERT_EQ(admitted->media.size(), 1u);
  EXPECT_EQ(admitted->media[0].content_type, "image/png");
  ASSERT_NE(admitted->media[0].data, nullptr);
  EXPECT_EQ(*admitted->media[0].data, "abc");
}

TEST_F(AdmissionTest, MmsFromUsShortCodeIsDeliveredAsMms) {
  auto admitted = Admit(Mms(kShortCode, kToMmsCarrier, "from a short code", "abc"));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->message.from(), kShortCode);
  EXPECT_EQ(admitted->message.delivered_as(), v1::MMS);
}

TEST_F(AdmissionTest, MmsToCanadianMmsCarrierIsDeliveredAsMms) {
  auto admitted = Admit(Mms(kMmsLongCode, kToCanada, "eh", "abc"));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->message.carrier_id(), "ca-mms");
  EXPECT_EQ(admitted->message.delivered_as(), v1::MMS);
}

TEST_F(AdmissionTest, UsCarrierWithoutMmsFallsBackToSmsWithLink) {
  auto admitted = Admit(Mms(kMmsLongCode, kToNoMmsCarrier, "see this", "abc"));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  const v1::Message& m = admitted->message;
  EXPECT_THAT(m.sid(), MatchesRegex("MM[0-9a-f]{32}"));
  EXPECT_EQ(m.carrier_id(), "us-nomms");
  EXPECT_EQ(m.delivered_as(), v1::SMS_WITH_LINK);
  EXPECT_EQ(m.fallback_reason(), v1::CARRIER_NO_MMS);
  EXPECT_THAT(m.link_url(), MatchesRegex("http://127\\.0\\.0\\.1:8080/m/[0-9a-f]{40}"));
  EXPECT_EQ(m.link_url(), std::string(kBaseUrl) + "/m/" + admitted->link_token);
  EXPECT_EQ(m.delivered_text(), "see this\n" + m.link_url());
  // The media records are kept so the link can serve them.
  ASSERT_EQ(m.media_size(), 1);
  EXPECT_EQ(m.media(0).sha256(), kSha256OfAbc);
  EXPECT_GE(m.num_segments(), 1);
}

TEST_F(AdmissionTest, LinkTokensAreFreshPerMessageAndUnrelatedToSids) {
  auto first = Admit(Mms(kMmsLongCode, kToNoMmsCarrier, "one", "abc"));
  auto second = Admit(Mms(kMmsLongCode, kToNoMmsCarrier, "two", "abc"));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->link_token.size(), 40u);
  EXPECT_NE(first->link_token, second->link_token);
  EXPECT_NE(first->message.link_url(), second->message.link_url());
  for (const auto* admitted : {&*first, &*second}) {
    const std::string sid_hex = admitted->message.sid().substr(2);
    EXPECT_THAT(admitted->link_token, ::testing::Not(HasSubstr(sid_hex)));
    EXPECT_THAT(admitted->message.link_url(), ::testing::Not(HasSubstr(admitted->message.sid())));
    EXPECT_THAT(admitted->message.link_url(), ::testing::Not(HasSubstr(sid_hex)));
  }
}

TEST_F(AdmissionTest, MmsOverCarrierSizeLimitFallsBackToSmsWithLink) {
  auto admitted = Admit(Mms(kMmsLongCode, kToSmallMmsCarrier, "big", std::string(1001, 'x')));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->message.carrier_id(), "us-small");
  EXPECT_EQ(admitted->message.delivered_as(), v1::SMS_WITH_LINK);
  EXPECT_EQ(admitted->message.fallback_reason(), v1::OVER_CARRIER_SIZE_LIMIT);
  EXPECT_FALSE(admitted->link_token.empty());
}

TEST_F(AdmissionTest, MmsExactlyAtCarrierSizeLimitStaysMms) {
  auto admitted = Admit(Mms(kMmsLongCode, kToSmallMmsCarrier, "fits", std::string(1000, 'x')));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->message.delivered_as(), v1::MMS);
  EXPECT_EQ(admitted->message.fallback_reason(), v1::NONE);
}

TEST_F(AdmissionTest, MmsAbroadIsConvertedToSmsWithLink) {
  auto admitted = Admit(Mms(kMmsLongCode, kToBritain, "hello London", "abc"));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->message.carrier_id(), "gb");
  EXPECT_EQ(admitted->message.delivered_as(), v1::SMS_WITH_LINK);
  EXPECT_EQ(admitted->message.fallback_reason(), v1::INTERNATIONAL);
  EXPECT_EQ(admitted->message.delivered_text(), "hello London\n" + admitted->message.link_url());
}

TEST_F(AdmissionTest, MmsAbroadIsRefusedWhenAccountDisabledInternationalConversion) {
  account_.mutable_settings()->set_disable_international_mms_conversion(true);
  auto admitted = Admit(Mms(kMmsLongCode, kToBritain, "hello London", "abc"));
  ExpectRefused(admitted, 30011);
  EXPECT_EQ(admitted.status().code(), absl::StatusCode::kFailedPrecondition);

  // An SMS abroad is unaffected by the setting.
  auto sms = Admit(Sms(kMmsLongCode, kToBritain, "hello London"));
  ASSERT_TRUE(sms.ok()) << sms.status();
  EXPECT_EQ(sms->message.delivered_as(), v1::SMS);
}

TEST_F(AdmissionTest, RefusesEmptyTo) { ExpectRefused(Admit(Sms(kMmsLongCode, "", "hi")), 21604); }

TEST_F(AdmissionTest, RefusesEmptyFrom) {
  ExpectRefused(Admit(Sms("", kToMmsCarrier, "hi")), 21603);
}

TEST_F(AdmissionTest, RefusesElevenMedia) {
  auto request = Sms(kMmsLongCode, kToMmsCarrier, "many");
  for (int i = 0; i < 11; ++i) {
    auto* media = request.add_media();
    media->set_content_type("image/png");
    media->set_data("abc");
  }
  auto admitted = Admit(request);
  ExpectRefused(admitted, 21623);
  EXPECT_THAT(std::string(admitted.status().message()), HasSubstr("11"));

  // Ten are allowed.
  request.mutable_media()->RemoveLast();
  auto ten = Admit(request);
  ASSERT_TRUE(ten.ok()) << ten.status();
  EXPECT_EQ(ten->message.num_media(), 10);
  EXPECT_EQ(ten->message.media_size(), 10);
}

TEST_F(AdmissionTest, RefusesEmptyBodyWithoutMedia) {
  ExpectRefused(Admit(Sms(kMmsLongCode, kToMmsCarrier, "")), 21602);
}

TEST_F(AdmissionTest, AcceptsEmptyBodyWithMedia) {
  auto admitted = Admit(Mms(kMmsLongCode, kToMmsCarrier, "", "abc"));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
}

TEST_F(AdmissionTest, BodyOf1600CharactersIsAcceptedAnd1601Refused) {
  auto ok = Admit(Sms(kMmsLongCode, kToMmsCarrier, std::string(1600, 'a')));
  ASSERT_TRUE(ok.ok()) << ok.status();
  ExpectRefused(Admit(Sms(kMmsLongCode, kToMmsCarrier, std::string(1601, 'a'))), 21617);
}

TEST_F(AdmissionTest, TenMegabyteBodyIsRefusedWithShortMessage) {
  auto admitted = Admit(Sms(kMmsLongCode, kToMmsCarrier, std::string(10 * 1024 * 1024, 'a')));
  ExpectRefused(admitted, 21617);
  EXPECT_LT(admitted.status().message().size(), 1000u);
}

TEST_F(AdmissionTest, RefusesInvalidTo) {
  auto admitted = Admit(Sms(kMmsLongCode, "+1555", "hi"));
  ExpectRefused(admitted, 21211);
  EXPECT_THAT(std::string(admitted.status().message()), HasSubstr("+1555"));
}

TEST_F(AdmissionTest, RefusesFromNotOwnedByAccount) {
  ExpectRefused(Admit(Sms(kOtherAccountsNumber, kToMmsCarrier, "hi")), 21606);
  ExpectRefused(Admit(Sms("+12025550177", kToMmsCarrier, "hi")), 21606);
}

TEST_F(AdmissionTest, RefusesMediaFromSmsOnlyNumber) {
  ExpectRefused(Admit(Mms(kSmsOnlyLongCode, kToMmsCarrier, "pic", "abc")), 21621);
  // The same number sends plain SMS.
  auto sms = Admit(Sms(kSmsOnlyLongCode, kToMmsCarrier, "text"));
  ASSERT_TRUE(sms.ok()) << sms.status();
}

TEST_F(AdmissionTest, RefusesUnsupportedContentTypeNamingIt) {
  auto admitted =
      Admit(Mms(kMmsLongCode, kToMmsCarrier, "exe", "MZ...", "application/x-msdownload"));
  ExpectRefused(admitted, 12300);
  EXPECT_THAT(std::string(admitted.status().message()), HasSubstr("application/x-msdownload"));
}

TEST_F(AdmissionTest, RefusesMediaTotalOverFiveMegabytes) {
  auto request = Sms(kMmsLongCode, kToMmsCarrier, "big");
  for (int i = 0; i < 2; ++i) {
    auto* media = request.add_media();
    media->set_content_type("image/jpeg");
    media->set_data(std::string(3 * 1024 * 1024, 'x'));
  }
  ExpectRefused(Admit(request), 11751);
}

TEST_F(AdmissionTest, RefusesUnroutableDestination) {
  auto admitted = Admit(Sms(kMmsLongCode, kToAustralia, "g'day"));
  ExpectRefused(admitted, 21612);
  EXPECT_THAT(std::string(admitted.status().message()), HasSubstr(kToAustralia));
}

TEST_F(AdmissionTest, RefusesNonHttpStatusCallback) {
  auto request = Sms(kMmsLongCode, kToMmsCarrier, "hi");
  request.set_status_callback("ftp://x");
  ExpectRefused(Admit(request), 21609);

  request.set_status_callback("http://127.0.0.1:9000/status");
  auto ok = Admit(request);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->message.status_callback(), "http://127.0.0.1:9000/status");
}

TEST_F(AdmissionTest, RefusesSendingToTheFromNumberItself) {
  ExpectRefused(Admit(Sms(kMmsLongCode, kMmsLongCode, "me")), 21266);
}

TEST_F(AdmissionTest, RefusesInvalidUtf8Body) {
  ExpectRefused(Admit(Sms(kMmsLongCode, kToMmsCarrier, "bad \xff\xfe bytes")), 21200);
}

TEST_F(AdmissionTest, ValidityPeriodOutOfRangeIsRefusedAndGivenOneIsKept) {
  auto request = Sms(kMmsLongCode, kToMmsCarrier, "hi");
  request.set_validity_period_seconds(kMaxValidityPeriodSeconds + 1);
  ExpectRefused(Admit(request), 90007);
  request.set_validity_period_seconds(-1);
  ExpectRefused(Admit(request), 90007);
  request.set_validity_period_seconds(60);
  auto ok = Admit(request);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->message.validity_period_seconds(), 60);
}

TEST_F(AdmissionTest, ContentTypeIsNormalized) {
  auto admitted = Admit(Mms(kMmsLongCode, kToMmsCarrier, "pic", "abc", "Image/PNG; name=x"));
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->message.media(0).content_type(), "image/png");
  EXPECT_EQ(admitted->media[0].content_type, "image/png");
}

TEST(Route, UsCarrierWithoutMmsFallsBackToSmsWithLink) {
  const auto scenario = MakeScenario();
  carriers::NumberPlan plan({scenario.carriers().begin(), scenario.carriers().end()});
  auto decision = Route(plan, scenario.accounts(0), kToNoMmsCarrier, "US", true, 100);
  ASSERT_TRUE(decision.ok()) << decision.status();
  ASSERT_NE(decision->carrier, nullptr);
  EXPECT_EQ(decision->carrier->id(), "us-nomms");
  EXPECT_EQ(decision->delivered_as, v1::SMS_WITH_LINK);
  EXPECT_EQ(decision->fallback_reason, v1::CARRIER_NO_MMS);
}

TEST(Route, SmsToCarrierWithoutMmsIsPlainSms) {
  const auto scenario = MakeScenario();
  carriers::NumberPlan plan({scenario.carriers().begin(), scenario.carriers().end()});
  auto decision = Route(plan, scenario.accounts(0), kToNoMmsCarrier, "US", false, 0);
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_EQ(decision->delivered_as, v1::SMS);
  EXPECT_EQ(decision->fallback_reason, v1::NONE);
}

TEST(Route, UnprefixedUsNumberGoesToFirstUsCarrier) {
  const auto scenario = MakeScenario();
  carriers::NumberPlan plan({scenario.carriers().begin(), scenario.carriers().end()});
  auto decision = Route(plan, scenario.accounts(0), "+13105550123", "US", true, 100);
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_EQ(decision->carrier->id(), "us-mms");
  EXPECT_EQ(decision->delivered_as, v1::MMS);
}

TEST(Route, NoCarrierForRegionIs21612) {
  const auto scenario = MakeScenario();
  carriers::NumberPlan plan({scenario.carriers().begin(), scenario.carriers().end()});
  auto decision = Route(plan, scenario.accounts(0), kToAustralia, "AU", false, 0);
  ASSERT_FALSE(decision.ok());
  EXPECT_EQ(ProviderErrorCode(decision.status()), 21612);
  EXPECT_THAT(std::string(decision.status().message()), StartsWith("21612: "));
}

}  // namespace
}  // namespace mmsgate::gateway
