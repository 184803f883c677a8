#pragma once
// The test kit for C++ suites (docs/testing.md, "A fixture for GoogleTest"): one mmsgate per
// suite, started on port 0 with its own data directory; an account per test, made with
// Accounts.CreateAccount, so tests that run side by side never see each other's messages; and
// statuses awaited through WatchEvents instead of polling.
//
//   class MyTest : public mmsgate::testing::GatewayTest {};
//   TEST_F(MyTest, Delivers) {
//     v1::SendMessageRequest send;
//     send.set_from(account().number);
//     ...
//     auto sent = Send(send);
//     EXPECT_EQ(AwaitFinal(sent.sid()).status(), v1::DELIVERED);
//   }

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "integration/mmsgate_process.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"

namespace mmsgate::testing {

// An account made for one test: its credentials and its US long code (SMS and MMS).
struct TestAccount {
  std::string sid;
  std::string auth_token;
  std::string number;

  std::unique_ptr<grpc::ClientContext> Context(int deadline_seconds = 30) const {
    return MmsgateProcess::ContextFor(sid, auth_token, deadline_seconds);
  }
};

// The provider code a refused call carried (its `mmsgate-error-code` trailer), or 0.
inline int ErrorCodeOf(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find("mmsgate-error-code");
  return it == trailers.end() ? 0 : std::stoi(std::string(it->second.data(), it->second.size()));
}

// Makes an account with a number (CreateAccount with provision_defaults). `admin_token` is
// needed when the gateway was started with --admin-token. Fails the test when refused.
inline TestAccount CreateTestAccount(const std::shared_ptr<grpc::Channel>& channel,
                                     const std::string& friendly_name,
                                     const std::string& admin_token = "") {
  auto accounts = mmsgate::v1::Accounts::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!admin_token.empty()) context.AddMetadata("x-admin-token", admin_token);
  mmsgate::v1::CreateAccountRequest request;
  request.set_friendly_name(friendly_name);
  request.set_provision_defaults(true);
  mmsgate::v1::CreateAccountResponse created;
  const grpc::Status status = accounts->CreateAccount(&context, request, &created);
  EXPECT_TRUE(status.ok()) << "CreateAccount: " << status.error_message();
  TestAccount account{created.account().sid(), created.account().auth_token(), ""};
  if (created.numbers_size() > 0) account.number = created.numbers(0).number();
  return account;
}

// The message once `reached` holds for it (by default: a final status), read from a WatchEvents
// stream that starts with the message's current state, so no change can slip between a read
// and the watch. Gives up after `timeout` and answers the last state seen (or an empty message).
inline mmsgate::v1::Message AwaitStatus(
    const std::shared_ptr<grpc::Channel>& channel, const TestAccount& account,
    const std::string& sid,
    const std::function<bool(const mmsgate::v1::Message&)>& reached =
        [](const mmsgate::v1::Message& message) {
          const auto status = message.status();
          return status == mmsgate::v1::DELIVERED || status == mmsgate::v1::UNDELIVERED ||
                 status == mmsgate::v1::FAILED || status == mmsgate::v1::CANCELED;
        },
    std::chrono::seconds timeout = std::chrono::seconds(120)) {
  auto messaging = mmsgate::v1::Messaging::NewStub(channel);
  auto context = account.Context(static_cast<int>(timeout.count()));
  mmsgate::v1::WatchEventsRequest request;
  request.add_message_sids(sid);
  request.set_send_current(true);
  auto stream = messaging->WatchEvents(context.get(), request);
  mmsgate::v1::Event event;
  mmsgate::v1::Message last;
  while (stream->Read(&event)) {
    if (event.kind() != mmsgate::v1::Event::STATUS_CHANGED) continue;
    last = event.message();
    if (reached(last)) break;
  }
  context->TryCancel();
  (void)stream->Finish();
  return last;
}

// One mmsgate for the whole suite (SetUpTestSuite), a fresh account for every test (SetUp).
// Override Options() in a subclass to give a scenario or flags.
class GatewayTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() { StartGateway(MmsgateProcess::Options{}); }
  static void TearDownTestSuite() {
    if (gateway_) gateway_->Stop();
    gateway_.reset();
  }

 protected:
  static void StartGateway(MmsgateProcess::Options options) {
    gateway_ = MmsgateProcess::Start(std::move(options));
  }
  void SetUp() override {
    ASSERT_TRUE(gateway_) << "the gateway did not start";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // Named after the test (friendly names hold at most 64 characters).
    const std::string name = std::string(info->test_suite_name()) + "." + info->name();
    account_ = CreateTestAccount(gateway_->Channel(), name.substr(0, 64));
    ASSERT_FALSE(account_.sid.empty());
    messaging_ = mmsgate::v1::Messaging::NewStub(gateway_->Channel());
  }

  static MmsgateProcess& gateway() { return *gateway_; }
  const TestAccount& account() const { return account_; }
  mmsgate::v1::Messaging::Stub& messaging() { return *messaging_; }

  // Sends as this test's account; the status is the call's, the message what it answered.
  grpc::Status Send(const mmsgate::v1::SendMessageRequest& request, mmsgate::v1::Message* sent) {
    auto context = account_.Context();
    return messaging_->SendMessage(context.get(), request, sent);
  }
  mmsgate::v1::Message AwaitFinal(const std::string& sid) {
    return AwaitStatus(gateway_->Channel(), account_, sid);
  }

  static inline std::unique_ptr<MmsgateProcess> gateway_;

 private:
  TestAccount account_;
  std::unique_ptr<mmsgate::v1::Messaging::Stub> messaging_;
};

}  // namespace mmsgate::testing
