// The directory: what changes at run time is kept across restarts, over the scenario.

#include "gateway/accounts/directory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "carriers/base/errors.h"
#include "fakes/in_memory_stores.h"
#include "gateway/config/scenario.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
constexpr char kAccount[] = "AC0123456789abcdef0123456789abcdef";

v1::Scenario Scenario() {
  return *ParseScenario(
      R"pb(
        accounts { sid: "AC0123456789abcdef0123456789abcdef" auth_token: "token-0123456789" }
        numbers {
          number: "+12025550100"
          account_sid: "AC0123456789abcdef0123456789abcdef"
          type: LONG_CODE
          country: "US"
          capabilities { sms: true mms: true }
        }
        numbers {
          number: "55501"
          account_sid: "AC0123456789abcdef0123456789abcdef"
          type: SHORT_CODE
          country: "US"
          capabilities { sms: true }
        }
      )pb",
      "test");
}

class DirectoryTest : public ::testing::Test {
 protected:
  // A directory as a restart builds it: the scenario, then what the store kept.
  std::unique_ptr<Directory> Restart() {
    return std::make_unique<Directory>(Scenario(), database_, store_);
  }
  testing::InMemoryDatabase database_;
  testing::InMemoryDirectoryStore store_{database_};
};

TEST_F(DirectoryTest, ChangesSurviveARestartAndOverrideTheScenario) {
  auto directory = Restart();
  v1::Number number;
  number.set_number("+12025550177");
  ASSERT_TRUE(directory->Provision(kAccount, number).ok());
  ASSERT_TRUE(
      directory->UpdateWebhooks(kAccount, "+12025550100", "http://127.0.0.1:9/in", "").ok());
  ASSERT_TRUE(directory->Release(kAccount, "55501").ok());
  v1::AccountSettings settings;
  settings.set_disable_international_mms_conversion(true);
  ASSERT_TRUE(directory->SetAccountSettings(kAccount, settings).ok());

  auto restarted = Restart();
  EXPECT_TRUE(restarted->FindNumber("+12025550177").has_value());
  EXPECT_EQ(restarted->FindNumber("+12025550100")->sms_url(), "http://127.0.0.1:9/in");
  EXPECT_FALSE(restarted->FindNumber("55501").has_value()) << "a released scenario number";
  EXPECT_TRUE(restarted->FindAccount(kAccount)->settings().disable_international_mms_conversion());
  // A provisioned number keeps its SID across the restart.
  EXPECT_EQ(restarted->FindNumber("+12025550177")->sid(),
            directory->FindNumber("+12025550177")->sid());
}

TEST_F(DirectoryTest, ShortCodeMmsIsChargedOnceAndAFailedWriteChangesNothing) {
  // A short code that does not have MMS yet.
  auto directory = Restart();
  v1::Number code;
  code.set_number("55502");
  code.set_type(v1::SHORT_CODE);
  code.set_country("US");
  ASSERT_TRUE(directory->Provision(kAccount, code).ok());
  database_.FailNextCommits(1);
  auto failed = directory->EnableShortCodeMms(kAccount, "55502");
  EXPECT_EQ(ProviderErrorCode(failed.status()), 30500);
  EXPECT_FALSE(directory->FindNumber("55502")->capabilities().mms());
  EXPECT_EQ(directory->Usage(kAccount).entries_size(), 0);
  ASSERT_TRUE(directory->EnableShortCodeMms(kAccount, "55502").ok());
  ASSERT_TRUE(directory->EnableShortCodeMms(kAccount, "55502").ok());
  const auto usage = directory->Usage(kAccount);
  ASSERT_EQ(usage.entries_size(), 1);
  EXPECT_EQ(usage.entries(0).count(), 1);
  EXPECT_EQ(usage.entries(0).price_cents(), kShortCodeMmsFeeCents);
  EXPECT_TRUE(Restart()->FindNumber("55502")->capabilities().mms());
}

TEST_F(DirectoryTest, ASidThatNamesAnotherNumberIsRefused) {
  auto directory = Restart();
  const std::string taken = directory->FindNumber("+12025550100")->sid();
  v1::Number number;
  number.set_number("+12025550177");
  number.set_sid(taken);
  auto refused = directory->Provision(kAccount, number);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(directory->FindNumber("+12025550177").has_value());
}

TEST_F(DirectoryTest, AShortCodeProvisionedWithMmsPaysTheFeeInTheSameWrite) {
  auto directory = Restart();
  v1::Number code;
  code.set_number("55503");
  code.set_type(v1::SHORT_CODE);
  code.set_country("US");
  code.mutable_capabilities()->set_sms(true);
  code.mutable_capabilities()->set_mms(true);
  database_.FailNextCommits(1);
  EXPECT_FALSE(directory->Provision(kAccount, code).ok());
  EXPECT_FALSE(directory->FindNumber("55503").has_value());
  EXPECT_EQ(directory->Usage(kAccount).entries_size(), 0);
  ASSERT_TRUE(directory->Provision(kAccount, code).ok());
  const auto usage = Restart()->Usage(kAccount);
  ASSERT_EQ(usage.entries_size(), 1);
  EXPECT_EQ(usage.entries(0).category(), "shortcode-mms-enablement");
  EXPECT_EQ(usage.entries(0).price_cents(), kShortCodeMmsFeeCents);
}

TEST_F(DirectoryTest, RatesAndBurstsOutsideTheirBoundsAreRefused) {
  auto directory = Restart();
  for (const auto& [mps, burst] : std::vector<std::pair<double, int>>{
           {1e9, 0}, {-1, 0}, {std::nan(""), 0}, {1, 2000000000}, {1, -1}}) {
    v1::Number number;
    number.set_number("+12025550178");
    number.set_mps(mps);
    number.set_burst(burst);
    const auto refused = directory->Provision(kAccount, number);
    EXPECT_EQ(ProviderErrorCode(refused.status()), 21200) << mps << " " << burst;
    EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("must be within"));
  }
  EXPECT_FALSE(directory->FindNumber("+12025550178").has_value());
  v1::Number fast;
  fast.set_number("+12025550178");
  fast.set_mps(10000);
  fast.set_burst(100000);
  EXPECT_TRUE(directory->Provision(kAccount, fast).ok());
}

TEST_F(DirectoryTest, AnOptOutHoldsAcrossARestartUntilTheSubscriberOptsBackIn) {
  auto directory = Restart();
  EXPECT_FALSE(directory->IsOptedOut("+12025550100", "+12025550142"));
  // The subscriber may be written any way a person would; it is kept in E.164.
  auto stopped =
      directory->SetOptOut(kAccount, "+12025550100", "", "+1 (202) 555-0142", true, "api", 42);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->subscriber(), "+12025550142");
  EXPECT_TRUE(directory->IsOptedOut("+12025550100", "+12025550142"));
  EXPECT_FALSE(directory->IsOptedOut("+12025550100", "+12025550143"));

  auto restarted = Restart();
  EXPECT_TRUE(restarted->IsOptedOut("+12025550100", "+12025550142"));
  const auto listed = restarted->OptOutsOf(kAccount, "", "");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].keyword(), "api");
  EXPECT_EQ(listed[0].date_updated().nanos(), 42);
  EXPECT_TRUE(restarted->OptOutsOf("ACffffffffffffffffffffffffffffffff", "", "").empty());

  ASSERT_TRUE(restarted->SetOptOut(kAccount, "+12025550100", "", "+12025550142", false, "api", 43).ok());
  EXPECT_FALSE(restarted->IsOptedOut("+12025550100", "+12025550142"));
  EXPECT_FALSE(Restart()->IsOptedOut("+12025550100", "+12025550142"));
}

TEST_F(DirectoryTest, OptOutsOfShortCodesForeignNumbersAndInvalidSubscribersAreRefused) {
  auto directory = Restart();
  auto code = directory->SetOptOut(kAccount, "55501", "", "+12025550142", true, "api", 0);
  EXPECT_EQ(code.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ProviderErrorCode(code.status()), 21200);
  EXPECT_THAT(std::string(code.status().message()), ::testing::HasSubstr("short code"));
  auto foreign = directory->SetOptOut("ACffffffffffffffffffffffffffffffff", "+12025550100", "",
                                      "+12025550142", true, "api", 0);
  EXPECT_EQ(ProviderErrorCode(foreign.status()), 20404);
  auto invalid = directory->SetOptOut(kAccount, "+12025550100", "", "not a number", true, "api", 0);
  EXPECT_EQ(ProviderErrorCode(invalid.status()), 21200);
  database_.FailNextCommits(1);
  auto failed = directory->SetOptOut(kAccount, "+12025550100", "", "+12025550142", true, "api", 0);
  EXPECT_EQ(ProviderErrorCode(failed.status()), 30500);
  EXPECT_FALSE(directory->IsOptedOut("+12025550100", "+12025550142"))
      << "an opt-out that was not stored is not applied";
  EXPECT_TRUE(directory->OptOutsOf(kAccount, "", "").empty());
}


// Numbers for the Messaging Service tests: two US area codes (one without MMS) and Canada.
void ProvisionPool(Directory& directory) {
  for (const auto& [e164, mms] : {std::pair{"+12125550101", false}, std::pair{"+12125550102", true},
                                  std::pair{"+14165550101", true}}) {
    v1::Number number;
    number.set_number(e164);
    number.mutable_capabilities()->set_sms(true);
    number.mutable_capabilities()->set_mms(mms);
    ASSERT_TRUE(directory.Provision(kAccount, number).ok()) << e164;
  }
}

v1::MessagingService Pool(bool sticky) {
  v1::MessagingService service;
  service.set_friendly_name("pool");
  service.set_sticky_sender(sticky);
  for (const char* number : {"+12025550100", "+12125550101", "+12125550102", "+14165550101"}) {
    service.add_numbers(number);
  }
  return service;
}

TEST_F(DirectoryTest, AServicePicksASenderOfTheAreaCodeThenTheCountryThenAny) {
  auto directory = Restart();
  ProvisionPool(*directory);
  auto service = directory->CreateService(kAccount, Pool(/*sticky=*/false));
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_THAT(service->sid(), ::testing::MatchesRegex("MG[0-9a-f]{32}"));
  auto pick = [&](const std::string& to, const std::string& region, bool mms = false) {
    auto picked = directory->PickSender(*service, to, region, mms);
    EXPECT_TRUE(picked.ok()) << picked.status();
    return picked.ok() ? picked->number : "";
  };
  std::set<std::string> manhattan, us, anywhere;
  for (int i = 0; i < 20; ++i) {
    manhattan.insert(pick("+12125550142", "US"));
    us.insert(pick("+13105550142", "US"));
    anywhere.insert(pick("+447400123456", "GB"));
  }
  EXPECT_THAT(manhattan, ::testing::UnorderedElementsAre("+12125550101", "+12125550102"));
  EXPECT_THAT(us, ::testing::UnorderedElementsAre("+12025550100", "+12125550101", "+12125550102"));
  EXPECT_EQ(pick("+14165550142", "CA"), "+14165550101");
  EXPECT_EQ(anywhere.size(), 4u) << "no country match: the whole pool";
  // MMS only from MMS-capable numbers.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(pick("+12125550142", "US", true), "+12125550102");

  v1::MessagingService empty;
  auto created = directory->CreateService(kAccount, empty);
  ASSERT_TRUE(created.ok());
  auto none = directory->PickSender(*created, "+12125550142", "US", false);
  EXPECT_EQ(ProviderErrorCode(none.status()), 21704);
}

TEST_F(DirectoryTest, AStickyServiceKeepsEachRecipientsFirstSenderAcrossARestart) {
  auto directory = Restart();
  ProvisionPool(*directory);
  auto service = directory->CreateService(kAccount, Pool(/*sticky=*/true));
  ASSERT_TRUE(service.ok());
  std::map<std::string, std::string> first;
  std::set<std::string> senders;
  for (int i = 0; i < 50; ++i) {
    const std::string to = "+1310555" + std::to_string(1000 + i);
    auto picked = directory->PickSender(*service, to, "US", false);
    ASSERT_TRUE(picked.ok());
    EXPECT_TRUE(picked->new_sticky);
    first[to] = picked->number;
    senders.insert(picked->number);
    auto batch = database_.NewBatch();
    directory->StageStickySender(*batch, service->sid(), to, picked->number);
    ASSERT_TRUE(database_.CommitNow(std::move(batch)).ok());
  }
  EXPECT_GT(senders.size(), 1u) << "50 recipients spread over the pool";
  auto restarted = Restart();
  auto kept = restarted->FindService(service->sid());
  ASSERT_TRUE(kept.has_value()) << "a created service survives the restart";
  for (const auto& [to, sender] : first) {
    auto again = restarted->PickSender(*kept, to, "US", false);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->number, sender) << to;
    EXPECT_FALSE(again->new_sticky);
  }
}

TEST_F(DirectoryTest, AServiceOptOutCoversEveryNumberOfThePool) {
  auto directory = Restart();
  ProvisionPool(*directory);
  auto service = directory->CreateService(kAccount, Pool(/*sticky=*/false));
  ASSERT_TRUE(service.ok());
  ASSERT_TRUE(
      directory->SetOptOut(kAccount, "", service->sid(), "+12025550142", true, "api", 0).ok());
  for (const auto& number : service->numbers()) {
    EXPECT_TRUE(directory->IsOptedOut(number, "+12025550142")) << number;
  }
  // A number taken out of the pool is no longer covered.
  ASSERT_TRUE(directory->RemoveServiceNumber(kAccount, service->sid(), "+14165550101").ok());
  EXPECT_FALSE(directory->IsOptedOut("+14165550101", "+12025550142"));
  EXPECT_TRUE(Restart()->IsOptedOut("+12025550100", "+12025550142"));
  // A number is in one pool at most; unknown services and foreign numbers are refused.
  v1::MessagingService second;
  second.add_numbers("+12025550100");
  EXPECT_EQ(directory->CreateService(kAccount, second).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ProviderErrorCode(
                directory->AddServiceNumber(kAccount, "MG" + std::string(32, '0'), "+14165550101")
                    .status()),
            21705);
  ASSERT_TRUE(directory->DeleteService(kAccount, service->sid()).ok());
  EXPECT_FALSE(Restart()->FindService(service->sid()).has_value());
}

}  // namespace
}  // namespace mmsgate::gateway
