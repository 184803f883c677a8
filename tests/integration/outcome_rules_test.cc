// Outcome rules over the real binary: messages to a matching destination end exactly as the
// first matching rule says, over a carrier that otherwise loses half its messages at random;
// after_ms holds a message at SENT for exactly that long on the simulated schedule; and
// Simulator.SetOutcomeRules replaces the rules at run time (an invalid list changes nothing).

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "integration/await_message.h"
#include "integration/mmsgate_process.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;

constexpr const char* kAccount = "AC1212121212121212121212121212abcd";
constexpr const char* kToken = "outcome-rules-token";
constexpr const char* kSender = "+13105550120";

class OutcomeRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = MmsgateProcess::MakeTempDir("outcome-rules");
    MmsgateProcess::Options options;
    options.data_dir = data_dir_;
    // A carrier that loses half its messages at random; the rules must not care.
    options.scenario_text =
        ScenarioAccountWithLongCode(kAccount, kToken, kSender) +
        R"pb(carriers {
               id: "flaky"
               country: "US"
               default_for_country: true
               supports_mms: true
               failure_rate: 0.5
               latency { median_ms: 20 p99_ms: 400 }
             }
             outcome_rules { to_prefix: "+1202555019" status: UNDELIVERED error_code: 30006 }
             outcome_rules { to_prefix: "+1202555018" status: FAILED error_code: 30008 }
             outcome_rules { to_prefix: "+1202555017" status: DELIVERED }
             outcome_rules { to_prefix: "+1202555016" status: DELIVERED after_ms: 3000000 }
             outcome_rules { to_prefix: "+120255501" status: UNDELIVERED error_code: 30003 }
             simulation { time_scale: 600 seed: 8 disable_sender_rate_limits: true })pb";
    gateway_ = MmsgateProcess::Start(options);
    messaging_ = v1::Messaging::NewStub(gateway_->Channel());
    simulator_ = v1::Simulator::NewStub(gateway_->Channel());
  }
  void TearDown() override {
    if (gateway_) gateway_->Stop();
    std::filesystem::remove_all(data_dir_);
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    return MmsgateProcess::ContextFor(kAccount, kToken);
  }

  std::string Send(const std::string& to) {
    v1::SendMessageRequest request;
    request.set_from(kSender);
    request.set_to(to);
    request.set_body("outcome?");
    v1::Message sent;
    auto context = Context();
    const grpc::Status status = messaging_->SendMessage(context.get(), request, &sent);
    EXPECT_TRUE(status.ok()) << to << ": " << status.error_message();
    return sent.sid();
  }

  v1::Message AwaitFinal(const std::string& sid) {
    return AwaitMessage(*messaging_, kAccount, kToken, sid);
  }

  grpc::Status SetRules(const v1::OutcomeRules& rules, v1::OutcomeRules* now) {
    auto context = Context();
    return simulator_->SetOutcomeRules(context.get(), rules, now);
  }

  std::string data_dir_;
  std::unique_ptr<MmsgateProcess> gateway_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
};

TEST_F(OutcomeRulesTest, TwoHundredMessagesEndExactlyAsTheirFirstMatchingRuleSays) {
  // Prefix -> the status and code every message to it must end with.
  const std::map<std::string, std::pair<v1::MessageStatus, int>> expected = {
      {"+1202555019", {v1::UNDELIVERED, 30006}},
      {"+1202555018", {v1::FAILED, 30008}},
      {"+1202555017", {v1::DELIVERED, 0}},
      {"+1202555015", {v1::UNDELIVERED, 30003}},  // only the broader "+120255501" matches
  };
  std::vector<std::pair<std::string, std::string>> sent;  // prefix, SID
  for (int i = 0; i < 200; ++i) {
    auto it = std::next(expected.begin(), i % static_cast<int>(expected.size()));
    sent.emplace_back(it->first, Send(it->first + std::to_string(i % 10)));
  }
  for (const auto& [prefix, sid] : sent) {
    const v1::Message final_message = AwaitFinal(sid);
    const auto& [status, code] = expected.at(prefix);
    EXPECT_EQ(final_message.status(), status) << sid << " to " << final_message.to();
    EXPECT_EQ(final_message.error_code(), code) << sid << " to " << final_message.to();
    if (code != 0) {
      EXPECT_THAT(final_message.error_message(), HasSubstr("outcome rule")) << sid;
    }
  }
}

TEST_F(OutcomeRulesTest, AfterMsHoldsTheMessageAtSentForExactlyThatLongOnTheSimulatedSchedule) {
  const v1::Message delivered = AwaitFinal(Send("+12025550161"));
  ASSERT_EQ(delivered.status(), v1::DELIVERED);
  EXPECT_EQ(TimeUtil::TimestampToNanoseconds(delivered.date_updated()) -
                TimeUtil::TimestampToNanoseconds(delivered.date_sent()),
            int64_t{3000000} * 1000000)
      << "SENT for exactly after_ms (50 simulated minutes)";
}

TEST_F(OutcomeRulesTest, SetOutcomeRulesReplacesThemAtRunTimeAndAnInvalidListChangesNothing) {
  v1::OutcomeRules rules;
  auto* rule = rules.add_rules();
  rule->set_to_prefix("+1310555");
  rule->set_status(v1::UNDELIVERED);
  rule->set_error_code(30005);
  v1::OutcomeRules now;
  ASSERT_TRUE(SetRules(rules, &now).ok());
  ASSERT_EQ(now.rules_size(), 1) << "the scenario's five are replaced";
  EXPECT_EQ(now.rules(0).to_prefix(), "+1310555");

  v1::OutcomeRules invalid;
  invalid.add_rules()->set_to_prefix("1310");  // no "+", no status
  v1::OutcomeRules unchanged;
  const grpc::Status refused = SetRules(invalid, &unchanged);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("outcome_rules[0]: to_prefix"));
  v1::OutcomeRules bad_code;
  auto* delivered_with_code = bad_code.add_rules();
  delivered_with_code->set_to_prefix("+1");
  delivered_with_code->set_status(v1::FAILED);
  delivered_with_code->set_error_code(21211);
  EXPECT_THAT(SetRules(bad_code, &unchanged).error_message(), HasSubstr("30000 to 30999"));

  const v1::Message undelivered = AwaitFinal(Send("+13105550199"));
  EXPECT_EQ(undelivered.status(), v1::UNDELIVERED);
  EXPECT_EQ(undelivered.error_code(), 30005);
  // The scenario's rules are gone: +1202555018 is no longer forced to FAILED 30008.
  const v1::Message random = AwaitFinal(Send("+12025550181"));
  EXPECT_NE(random.error_code(), 30008);
}

}  // namespace
}  // namespace mmsgate::testing
