// Messaging Services over the real binary: senders picked from the pool (sticky over 50
// recipients), the create answering ACCEPTED with QUEUED's callback to the service's URL,
// inbound to a pool number going to the service's URL, a STOP covering the whole pool, and the
// Accounts calls that manage services, kept across a restart.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
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

constexpr const char* kAccount = "AC4444444444444444444444444444abcd";
constexpr const char* kToken = "service-test-auth-token";
constexpr const char* kService = "MG0123456789abcdef0123456789abcdef";
const std::set<std::string> kUsPool = {"+12025550100", "+12025550101", "+12125550100"};
constexpr const char* kCanadianSender = "+14165550100";
constexpr const char* kOutsider = "+12025550199";  // the account's, in no pool

class MessagingServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(MmsgateProcess::MakeTempDir("service")); }
  void TearDown() override {
    if (gateway_) gateway_->Stop();
    std::filesystem::remove_all(data_dir_);
  }

  void Start(const std::string& data_dir) {
    data_dir_ = data_dir;
    const std::string account = std::string("\"") + kAccount + "\"";
    auto number = [&](const std::string& e164, const std::string& country,
                      const std::string& extra = "") {
      return "numbers { number: \"" + e164 + "\" account_sid: " + account +
             " type: LONG_CODE country: \"" + country + "\" capabilities { sms: true mms: true } " +
             extra + " }\n";
    };
    MmsgateProcess::Options options;
    options.data_dir = data_dir_;
    options.scenario_text =
        "accounts { sid: " + account + " auth_token: \"" + kToken + "\" }\n" +
        number("+12025550100", "US", "sms_url: \"" + app_.Url("/number-inbound") + "\"") +
        number("+12025550101", "US") + number("+12125550100", "US") +
        number(kCanadianSender, "CA") + number(kOutsider, "US") + "messaging_services { sid: \"" +
        kService + "\" account_sid: " + account +
        " friendly_name: \"alerts\" numbers: \"+12025550100\" numbers: \"+12025550101\" "
        "numbers: \"+12125550100\" numbers: \"" +
        kCanadianSender + "\" sticky_sender: true inbound_request_url: \"" +
        app_.Url("/service-inbound") + "\" status_callback: \"" + app_.Url("/service-status") +
        "\" }\n" +
        R"pb(carriers {
               id: "usnet"
               country: "US"
               default_for_country: true
               supports_mms: true
               latency { median_ms: 5 }
             }
             carriers {
               id: "maple"
               country: "CA"
               default_for_country: true
               supports_mms: true
               latency { median_ms: 5 }
             }
             simulation { time_scale: 1.0 seed: 9 disable_sender_rate_limits: true })pb";
    gateway_ = MmsgateProcess::Start(options);
    auto channel = gateway_->Channel();
    messaging_ = v1::Messaging::NewStub(channel);
    simulator_ = v1::Simulator::NewStub(channel);
    accounts_ = v1::Accounts::NewStub(channel);
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    return MmsgateProcess::ContextFor(kAccount, kToken);
  }

  grpc::Status SendVia(const std::string& to, v1::Message* sent, const std::string& from = "",
                       const std::string& service = kService) {
    v1::SendMessageRequest request;
    request.set_messaging_service_sid(service);
    request.set_from(from);
    request.set_to(to);
    request.set_body("from the pool");
    auto context = Context();
    return messaging_->SendMessage(context.get(), request, sent);
  }

  RecordingApplication app_;
  std::string data_dir_;
  std::unique_ptr<MmsgateProcess> gateway_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
  std::unique_ptr<v1::Accounts::Stub> accounts_;
};

TEST_F(MessagingServiceTest, EachOf50RecipientsKeepsItsStickySenderFromTheCountrysNumbers) {
  std::map<std::string, std::string> first;
  std::set<std::string> used;
  for (int i = 0; i < 50; ++i) {
    const std::string to = "+1310555" + std::to_string(1000 + i);
    v1::Message sent;
    const grpc::Status status = SendVia(to, &sent);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(sent.status(), v1::ACCEPTED) << "a service's create answers accepted";
    EXPECT_EQ(sent.messaging_service_sid(), kService);
    EXPECT_TRUE(kUsPool.contains(sent.from())) << sent.from() << " is not a US number of the pool";
    first[to] = sent.from();
    used.insert(sent.from());
  }
  EXPECT_GT(used.size(), 1u) << "50 recipients are spread over the pool";
  for (const auto& [to, sender] : first) {
    v1::Message again;
    ASSERT_TRUE(SendVia(to, &again).ok());
    EXPECT_EQ(again.from(), sender) << to;
  }
  // Canada gets the Canadian number; the stored message records the service.
  v1::Message canadian;
  ASSERT_TRUE(SendVia("+14165550142", &canadian).ok());
  EXPECT_EQ(canadian.from(), kCanadianSender);
  v1::GetMessageRequest get;
  get.set_sid(canadian.sid());
  v1::Message stored;
  auto context = Context();
  ASSERT_TRUE(messaging_->GetMessage(context.get(), get, &stored).ok());
  EXPECT_EQ(stored.messaging_service_sid(), kService);
  EXPECT_EQ(stored.from(), kCanadianSender);
}

TEST_F(MessagingServiceTest, TheServicesCallbackHearsQueuedAfterTheAcceptedAnswer) {
  v1::Message sent;
  ASSERT_TRUE(SendVia("+13105550177", &sent).ok());
  const auto callbacks = app_.Await("/service-status", 4);
  std::vector<std::string> statuses;
  for (const auto& body : callbacks) {
    const auto at = body.find("MessageStatus=");
    statuses.push_back(body.substr(at + 14, body.find('&', at) - at - 14));
  }
  EXPECT_THAT(statuses, ::testing::ElementsAre("queued", "sending", "sent", "delivered"));
  // The provider's fields: the service, and the delivery report's time once there is one.
  ASSERT_EQ(callbacks.size(), 4u);
  EXPECT_THAT(callbacks[0], HasSubstr(std::string("MessagingServiceSid=") + kService));
  EXPECT_THAT(callbacks[0], ::testing::Not(HasSubstr("RawDlrDoneDate=")));
  EXPECT_THAT(callbacks[3], ::testing::ContainsRegex("RawDlrDoneDate=[0-9]{10}(&|$)"));
  EXPECT_THAT(callbacks[3], HasSubstr("SmsStatus=delivered"));
  // Unknown services are refused, nothing stored.
  v1::Message refused;
  const grpc::Status unknown = SendVia("+13105550177", &refused, "", "MG" + std::string(32, 'f'));
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(unknown.error_message(), HasSubstr("21705"));
}

TEST_F(MessagingServiceTest, InboundGoesToTheServiceAndAStopCoversTheWholePool) {
  v1::HandsetSend send;
  send.set_from("+13105550188");
  send.set_to("+12025550100");  // has its own sms_url; the service's URL comes first
  send.set_body("stop");
  v1::Message received;
  {
    auto context = Context();
    ASSERT_TRUE(simulator_->SendFromHandset(context.get(), send, &received).ok());
  }
  EXPECT_EQ(received.messaging_service_sid(), kService);
  const auto hooks = app_.Await("/service-inbound", 1);
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_THAT(hooks[0], HasSubstr(std::string("MessagingServiceSid=") + kService));
  EXPECT_TRUE(app_.Await("/number-inbound", 0).empty());

  // Through the service, from another pool number, and from the one texted: all refused.
  for (const std::string& from :
       {std::string(), std::string("+12125550100"), std::string("+12025550100")}) {
    v1::Message refused;
    const grpc::Status status = SendVia("+13105550188", &refused, from);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << from;
    EXPECT_THAT(status.error_message(), HasSubstr("21610")) << from;
  }
  // A number outside the pool may still send to it.
  v1::SendMessageRequest direct;
  direct.set_from(kOutsider);
  direct.set_to("+13105550188");
  direct.set_body("not from the service");
  v1::Message sent;
  auto context = Context();
  EXPECT_TRUE(messaging_->SendMessage(context.get(), direct, &sent).ok());

  v1::ListOptOutsRequest list;
  v1::ListOptOutsResponse opt_outs;
  auto list_context = Context();
  ASSERT_TRUE(accounts_->ListOptOuts(list_context.get(), list, &opt_outs).ok());
  ASSERT_EQ(opt_outs.opt_outs_size(), 1);
  EXPECT_EQ(opt_outs.opt_outs(0).messaging_service_sid(), kService);
  EXPECT_EQ(opt_outs.opt_outs(0).number(), "+12025550100");
}

TEST_F(MessagingServiceTest, ServicesAreCreatedChangedAndDeletedOverAccountsAndKept) {
  v1::MessagingService wanted;
  wanted.set_friendly_name("second");
  v1::MessagingService created;
  {
    auto context = Context();
    const grpc::Status status = accounts_->CreateMessagingService(context.get(), wanted, &created);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_THAT(created.sid(), ::testing::MatchesRegex("MG[0-9a-f]{32}"));
  v1::Message refused;
  EXPECT_THAT(SendVia("+13105550142", &refused, "", created.sid()).error_message(),
              HasSubstr("21704"));
  v1::ServiceNumberRequest add;
  add.set_messaging_service_sid(created.sid());
  add.set_number(kOutsider);
  v1::MessagingService changed;
  {
    auto context = Context();
    ASSERT_TRUE(accounts_->AddServiceNumber(context.get(), add, &changed).ok());
  }
  EXPECT_THAT(changed.numbers(), ::testing::ElementsAre(kOutsider));
  add.set_number("+12025550101");  // in the scenario's service already
  {
    auto context = Context();
    EXPECT_EQ(accounts_->AddServiceNumber(context.get(), add, &changed).error_code(),
              grpc::StatusCode::ALREADY_EXISTS);
  }
  v1::Message sent;
  ASSERT_TRUE(SendVia("+13105550142", &sent, "", created.sid()).ok());
  EXPECT_EQ(sent.from(), kOutsider);

  ASSERT_EQ(gateway_->Stop(), 0) << gateway_->Log();
  gateway_.reset();
  Start(data_dir_);
  v1::ListMessagingServicesResponse listed;
  {
    auto context = Context();
    ASSERT_TRUE(
        accounts_->ListMessagingServices(context.get(), v1::ListMessagingServicesRequest(), &listed)
            .ok());
  }
  ASSERT_EQ(listed.services_size(), 2);
  v1::DeleteMessagingServiceRequest remove;
  remove.set_messaging_service_sid(created.sid());
  v1::DeleteMessagingServiceResponse removed;
  {
    auto context = Context();
    ASSERT_TRUE(accounts_->DeleteMessagingService(context.get(), remove, &removed).ok());
  }
  EXPECT_THAT(SendVia("+13105550142", &refused, "", created.sid()).error_message(),
              HasSubstr("21705"));
}

}  // namespace
}  // namespace mmsgate::testing
