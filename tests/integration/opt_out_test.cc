// Opt-out keywords over the real binary: a subscriber texts STOP to a long code, sends to it are
// refused with 21610 until it texts START; HELP gets the provider's reply; short codes are left
// to the application; opt-outs survive a restart and can be read and set over Accounts.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::HasSubstr;

constexpr const char* kAccount = "AC2222222222222222222222222222abcd";
constexpr const char* kToken = "opt-out-test-auth-token";
constexpr const char* kLongCode = "+12025550100";  // sms_url: the application below
constexpr const char* kOtherLongCode = "+12025550101";
constexpr const char* kShortCode = "55501";
constexpr const char* kSubscriber = "+12025550142";
constexpr const char* kOtherSubscriber = "+12025550143";

int ErrorCode(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find("mmsgate-error-code");
  return it == trailers.end() ? 0 : std::stoi(std::string(it->second.data(), it->second.size()));
}

class OptOutTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(MmsgateProcess::MakeTempDir("opt-out")); }
  void TearDown() override {
    if (gateway_) gateway_->Stop();
    std::filesystem::remove_all(data_dir_);
  }

  void Start(const std::string& data_dir) {
    data_dir_ = data_dir;
    const std::string account = std::string("\"") + kAccount + "\"";
    MmsgateProcess::Options options;
    options.data_dir = data_dir_;
    options.scenario_text =
        "accounts { sid: " + account + " auth_token: \"" + kToken + "\" }\n" +
        "numbers { number: \"" + kLongCode + "\" account_sid: " + account +
        " type: LONG_CODE country: \"US\" capabilities { sms: true mms: true } sms_url: \"" +
        app_.Url("/inbound") + "\" }\n" + "numbers { number: \"" + kOtherLongCode +
        "\" account_sid: " + account +
        " type: LONG_CODE country: \"US\" capabilities { sms: true mms: true } }\n" +
        "numbers { number: \"" + kShortCode + "\" account_sid: " + account +
        " type: SHORT_CODE country: \"US\" capabilities { sms: true } }\n" +
        R"pb(carriers {
               id: "mmsnet"
               country: "US"
               prefixes: "+1202555"
               supports_mms: true
               latency { median_ms: 10 }
             }
             simulation { time_scale: 1.0 seed: 3 disable_sender_rate_limits: true })pb";
    gateway_ = MmsgateProcess::Start(options);
    auto channel = gateway_->Channel();
    messaging_ = v1::Messaging::NewStub(channel);
    simulator_ = v1::Simulator::NewStub(channel);
    accounts_ = v1::Accounts::NewStub(channel);
  }

  void Restart() {
    ASSERT_EQ(gateway_->Stop(), 0) << gateway_->Log();
    gateway_.reset();
    Start(data_dir_);
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    return MmsgateProcess::ContextFor(kAccount, kToken);
  }

  v1::Message HandsetSends(const std::string& from, const std::string& to,
                           const std::string& body) {
    v1::HandsetSend send;
    send.set_from(from);
    send.set_to(to);
    send.set_body(body);
    v1::Message message;
    auto context = Context();
    const grpc::Status status = simulator_->SendFromHandset(context.get(), send, &message);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return message;
  }

  // Sends from `from` to `to`; the gRPC status and the provider code of a refusal.
  std::pair<grpc::Status, int> Send(const std::string& from, const std::string& to,
                                    v1::Message* sent = nullptr) {
    v1::SendMessageRequest request;
    request.set_from(from);
    request.set_to(to);
    request.set_body("a message from the application");
    v1::Message message;
    auto context = Context();
    grpc::Status status = messaging_->SendMessage(context.get(), request, &message);
    if (sent != nullptr) *sent = message;
    return {status, ErrorCode(*context)};
  }

  int StoredOutbound() {
    v1::ListMessagesRequest request;
    request.set_page_size(1000);
    v1::ListMessagesResponse response;
    auto context = Context();
    EXPECT_TRUE(messaging_->ListMessages(context.get(), request, &response).ok());
    int count = 0;
    for (const auto& message : response.messages()) count += message.direction() != v1::INBOUND;
    return count;
  }

  // What the subscriber's phone shows from `from`, waiting (bounded) for at least `count`.
  std::vector<std::string> AwaitTexts(const std::string& number, const std::string& from,
                                      std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::vector<std::string> texts;
    do {
      texts.clear();
      v1::GetHandsetInboxRequest request;
      request.set_number(number);
      v1::HandsetInbox inbox;
      auto context = Context();
      EXPECT_TRUE(simulator_->GetHandsetInbox(context.get(), request, &inbox).ok());
      for (const auto& message : inbox.messages()) {
        if (message.from() == from) texts.push_back(message.text());
      }
      if (texts.size() >= count) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    return texts;
  }

  std::vector<v1::OptOut> ListOptOuts(const std::string& number = "") {
    v1::ListOptOutsRequest request;
    request.set_number(number);
    v1::ListOptOutsResponse response;
    auto context = Context();
    const grpc::Status status = accounts_->ListOptOuts(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.opt_outs().begin(), response.opt_outs().end()};
  }

  v1::Message AwaitFinal(const std::string& sid) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    v1::Message message;
    do {
      v1::GetMessageRequest request;
      request.set_sid(sid);
      auto context = Context();
      EXPECT_TRUE(messaging_->GetMessage(context.get(), request, &message).ok());
      if (message.status() == v1::DELIVERED || message.status() == v1::UNDELIVERED ||
          message.status() == v1::FAILED) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    return message;
  }

  // The application behind kLongCode's sms_url: answers every webhook with a TwiML reply (which
  // a STOP's sender no longer gets).
  RecordingApplication app_{"<Response><Message>Thanks from the app</Message></Response>"};
  std::string data_dir_;
  std::unique_ptr<MmsgateProcess> gateway_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
  std::unique_ptr<v1::Accounts::Stub> accounts_;
};

TEST_F(OptOutTest, StopRefusesSendsWith21610UntilStartAndEachGetsTheProvidersConfirmation) {
  const v1::Message stop = HandsetSends(kSubscriber, kLongCode, "  Stop \n");
  EXPECT_EQ(stop.status(), v1::RECEIVED) << "a STOP is still an inbound message";
  // The provider's confirmation reaches the phone, although it has just opted out.
  auto texts = AwaitTexts(kSubscriber, kLongCode, 1);
  ASSERT_GE(texts.size(), 1u);
  EXPECT_THAT(texts[0], HasSubstr("You have successfully been unsubscribed"));

  const auto opt_outs = ListOptOuts();
  ASSERT_EQ(opt_outs.size(), 1u);
  EXPECT_EQ(opt_outs[0].number(), kLongCode);
  EXPECT_EQ(opt_outs[0].subscriber(), kSubscriber);
  EXPECT_EQ(opt_outs[0].keyword(), "STOP");
  EXPECT_TRUE(opt_outs[0].opted_out());

  const int stored_before = StoredOutbound();
  auto [refused, code] = Send(kLongCode, kSubscriber);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(code, 21610);
  EXPECT_THAT(refused.error_message(), HasSubstr("opted out"));
  EXPECT_THAT(refused.error_message(), HasSubstr("START"));
  EXPECT_EQ(StoredOutbound(), stored_before) << "a refused send stores nothing";
  // The opt-out is of this number only, and of this subscriber only.
  EXPECT_TRUE(Send(kOtherLongCode, kSubscriber).first.ok());
  EXPECT_TRUE(Send(kLongCode, kOtherSubscriber).first.ok());

  HandsetSends(kSubscriber, kLongCode, "start");
  texts = AwaitTexts(kSubscriber, kLongCode, 2);
  ASSERT_GE(texts.size(), 2u);
  EXPECT_THAT(texts[1], HasSubstr("re-subscribed"));
  EXPECT_TRUE(ListOptOuts().empty());
  v1::Message sent;
  ASSERT_TRUE(Send(kLongCode, kSubscriber, &sent).first.ok());
  EXPECT_EQ(AwaitFinal(sent.sid()).status(), v1::DELIVERED);
}

TEST_F(OptOutTest, TheStopStillReachesTheWebhookAndTheApplicationsReplyIsRefused) {
  const v1::Message stop = HandsetSends(kSubscriber, kLongCode, "UNSUBSCRIBE");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  const auto hooks = app_.Await("/inbound", 1);
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_THAT(hooks[0], HasSubstr("Body=UNSUBSCRIBE"));
  // The application's TwiML reply goes to an opted-out subscriber: refused, and the refusal
  // is recorded on the inbound message where the application looks.
  v1::Message inbound;
  do {
    v1::GetMessageRequest request;
    request.set_sid(stop.sid());
    auto context = Context();
    ASSERT_TRUE(messaging_->GetMessage(context.get(), request, &inbound).ok());
    if (inbound.error_code() != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(inbound.error_code(), 21610);
  EXPECT_THAT(inbound.error_message(), HasSubstr("opted out"));
  // Only the provider's confirmation reached the phone.
  const auto texts = AwaitTexts(kSubscriber, kLongCode, 1);
  ASSERT_EQ(texts.size(), 1u);
  EXPECT_THAT(texts[0], HasSubstr("unsubscribed"));
}

TEST_F(OptOutTest, HelpGetsTheProvidersReplyAndChangesNothing) {
  HandsetSends(kSubscriber, kOtherLongCode, "help");
  const auto texts = AwaitTexts(kSubscriber, kOtherLongCode, 1);
  ASSERT_EQ(texts.size(), 1u);
  EXPECT_EQ(texts[0], "Reply STOP to unsubscribe. Msg&Data Rates May Apply.");
  EXPECT_TRUE(ListOptOuts().empty());
  EXPECT_TRUE(Send(kOtherLongCode, kSubscriber).first.ok());
}

TEST_F(OptOutTest, ShortCodesLeaveKeywordsToTheApplication) {
  HandsetSends(kSubscriber, kShortCode, "STOP");
  // Something the phone will receive after anything the STOP could have caused.
  HandsetSends(kSubscriber, kOtherLongCode, "HELP");
  ASSERT_EQ(AwaitTexts(kSubscriber, kOtherLongCode, 1).size(), 1u);
  EXPECT_TRUE(AwaitTexts(kSubscriber, kShortCode, 0).empty()) << "no automatic reply";
  EXPECT_TRUE(ListOptOuts().empty());
  EXPECT_TRUE(Send(kShortCode, kSubscriber).first.ok());

  v1::SetOptOutRequest request;
  request.set_number(kShortCode);
  request.set_subscriber(kSubscriber);
  request.set_opted_out(true);
  v1::OptOut answer;
  auto context = Context();
  const grpc::Status status = accounts_->SetOptOut(context.get(), request, &answer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("short code"));
}

TEST_F(OptOutTest, SetOptOutActsLikeTheKeywordsAndOptOutsSurviveARestart) {
  v1::SetOptOutRequest request;
  request.set_number(kOtherLongCode);
  request.set_subscriber("+1 202-555-0143");
  request.set_opted_out(true);
  v1::OptOut answer;
  {
    auto context = Context();
    const grpc::Status status = accounts_->SetOptOut(context.get(), request, &answer);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(answer.subscriber(), kOtherSubscriber);
  EXPECT_EQ(answer.keyword(), "api");
  HandsetSends(kSubscriber, kLongCode, "QUIT");
  ASSERT_EQ(ListOptOuts().size(), 2u);

  Restart();
  const auto kept = ListOptOuts();
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(ListOptOuts(kOtherLongCode).size(), 1u);
  EXPECT_EQ(Send(kOtherLongCode, kOtherSubscriber).second, 21610);
  EXPECT_EQ(Send(kLongCode, kSubscriber).second, 21610);

  request.set_opted_out(false);
  {
    auto context = Context();
    ASSERT_TRUE(accounts_->SetOptOut(context.get(), request, &answer).ok());
  }
  EXPECT_FALSE(answer.opted_out());
  EXPECT_TRUE(Send(kOtherLongCode, kOtherSubscriber).first.ok());
  EXPECT_EQ(ListOptOuts().size(), 1u);

  // A number the account does not have.
  request.set_number("+12025550999");
  auto context = Context();
  EXPECT_EQ(accounts_->SetOptOut(context.get(), request, &answer).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace mmsgate::testing
