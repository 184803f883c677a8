// Test credentials over the real binary: every magic number answers with the provider's code,
// +15005550006 is answered `queued` with nothing stored, delivered or reported, and an account
// without test credentials is unaffected.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::HasSubstr;

constexpr const char* kTestAccount = "AC7777777777777777777777777777abcd";
constexpr const char* kTestToken = "test-credentials-token";
constexpr const char* kTestAccountNumber = "+12025550170";
constexpr const char* kLiveAccount = "AC8888888888888888888888888888abcd";
constexpr const char* kLiveToken = "live-credentials-token";
constexpr const char* kLiveNumber = "+12025550180";
constexpr const char* kSubscriber = "+12025550199";

class TestCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = MmsgateProcess::MakeTempDir("test-credentials");
    MmsgateProcess::Options options;
    options.data_dir = data_dir_;
    std::string test_account =
        ScenarioAccountWithLongCode(kTestAccount, kTestToken, kTestAccountNumber);
    test_account.replace(test_account.find(" }"), 2, " test_credentials: true }");
    options.scenario_text = test_account +
                            ScenarioAccountWithLongCode(kLiveAccount, kLiveToken, kLiveNumber) +
                            R"pb(carriers {
                                   id: "usnet"
                                   country: "US"
                                   default_for_country: true
                                   supports_mms: true
                                   latency { median_ms: 5 }
                                 }
                                 simulation { seed: 4 disable_sender_rate_limits: true })pb";
    gateway_ = MmsgateProcess::Start(options);
    messaging_ = v1::Messaging::NewStub(gateway_->Channel());
    simulator_ = v1::Simulator::NewStub(gateway_->Channel());
  }
  void TearDown() override {
    if (gateway_) gateway_->Stop();
    std::filesystem::remove_all(data_dir_);
  }

  grpc::Status Send(const std::string& from, const std::string& to, v1::Message* sent,
                    const std::string& callback = "", const char* account = kTestAccount,
                    const char* token = kTestToken) {
    v1::SendMessageRequest request;
    request.set_from(from);
    request.set_to(to);
    request.set_body("testing, testing");
    request.set_status_callback(callback);
    auto context = MmsgateProcess::ContextFor(account, token);
    return messaging_->SendMessage(context.get(), request, sent);
  }

  RecordingApplication app_;
  std::string data_dir_;
  std::unique_ptr<MmsgateProcess> gateway_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
};

TEST_F(TestCredentialsTest, EveryMagicNumberAnswersWithTheProvidersCode) {
  struct Row {
    const char* from;
    const char* to;
    grpc::StatusCode status;
    const char* code;
  };
  const Row rows[] = {
      {"+15005550001", kSubscriber, grpc::StatusCode::INVALID_ARGUMENT, "21212"},
      {"+15005550007", kSubscriber, grpc::StatusCode::INVALID_ARGUMENT, "21606"},
      {"+15005550008", kSubscriber, grpc::StatusCode::RESOURCE_EXHAUSTED, "21611"},
      {"+15005550006", "+15005550001", grpc::StatusCode::INVALID_ARGUMENT, "21211"},
      {"+15005550006", "+15005550002", grpc::StatusCode::FAILED_PRECONDITION, "21612"},
      {"+15005550006", "+15005550003", grpc::StatusCode::FAILED_PRECONDITION, "21408"},
      {"+15005550006", "+15005550004", grpc::StatusCode::FAILED_PRECONDITION, "21610"},
      {"+15005550006", "+15005550009", grpc::StatusCode::INVALID_ARGUMENT, "21614"},
      // A magic From comes before a magic To.
      {"+15005550001", "+15005550009", grpc::StatusCode::INVALID_ARGUMENT, "21212"},
  };
  for (const auto& row : rows) {
    v1::Message refused;
    const grpc::Status status = Send(row.from, row.to, &refused);
    EXPECT_EQ(status.error_code(), row.status) << row.from << " -> " << row.to;
    EXPECT_THAT(status.error_message(), HasSubstr(std::string(row.code) + ":"))
        << row.from << " -> " << row.to;
  }
}

TEST_F(TestCredentialsTest, AValidSendIsAnsweredQueuedWithNothingStoredDeliveredOrReported) {
  for (const char* from : {"+15005550006", kTestAccountNumber}) {
    v1::Message sent;
    const grpc::Status status = Send(from, kSubscriber, &sent, app_.Url("/test-status"));
    ASSERT_TRUE(status.ok()) << from << ": " << status.error_message();
    EXPECT_EQ(sent.status(), v1::QUEUED);
    EXPECT_THAT(sent.sid(), ::testing::MatchesRegex("SM[0-9a-f]{32}"));
    EXPECT_EQ(sent.from(), from);
    EXPECT_EQ(sent.account_sid(), kTestAccount);
    v1::GetMessageRequest get;
    get.set_sid(sent.sid());
    v1::Message stored;
    auto context = MmsgateProcess::ContextFor(kTestAccount, kTestToken);
    EXPECT_EQ(messaging_->GetMessage(context.get(), get, &stored).error_code(),
              grpc::StatusCode::NOT_FOUND)
        << "nothing stored";
  }
  // Real checks still apply: an invalid To, and a number of another account as From.
  v1::Message refused;
  EXPECT_THAT(Send("+15005550006", "+1555", &refused).error_message(), HasSubstr("21211:"));
  EXPECT_THAT(Send(kLiveNumber, kSubscriber, &refused).error_message(), HasSubstr("21606:"));

  // A live account's message to the same callback URL is delivered and reported; by the time
  // its callbacks have all come, one for the test message would have too.
  v1::Message live;
  ASSERT_TRUE(
      Send(kLiveNumber, kSubscriber, &live, app_.Url("/live-status"), kLiveAccount, kLiveToken)
          .ok());
  EXPECT_EQ(app_.Await("/live-status", 3).size(), 3u) << "sending, sent, delivered";
  EXPECT_TRUE(app_.Await("/test-status", 0).empty()) << "no status callback for test credentials";
  v1::ListMessagesRequest list;
  v1::ListMessagesResponse listed;
  auto context = MmsgateProcess::ContextFor(kTestAccount, kTestToken);
  ASSERT_TRUE(messaging_->ListMessages(context.get(), list, &listed).ok());
  EXPECT_EQ(listed.messages_size(), 0);
  v1::GetHandsetInboxRequest inbox_request;
  inbox_request.set_number(kSubscriber);
  v1::HandsetInbox inbox;
  auto inbox_context = MmsgateProcess::ContextFor(kLiveAccount, kLiveToken);
  ASSERT_TRUE(simulator_->GetHandsetInbox(inbox_context.get(), inbox_request, &inbox).ok());
  ASSERT_EQ(inbox.messages_size(), 1) << "only the live account's message reached the phone";
  EXPECT_EQ(inbox.messages(0).message_sid(), live.sid());
}

}  // namespace
}  // namespace mmsgate::testing
