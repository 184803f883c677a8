// Every text field on every interface, given bytes that are not UTF-8 (and URL fields given
// spaces or control characters), is refused with the provider's code and a message naming the
// field, and nothing is stored: whatever was stored before stays readable, across a SIGKILL and
// a restart. Regression test for an acknowledged message that became unreadable (and was lost)
// because its StatusCallback held "%FF".

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kBad[] = "\xff";
constexpr char kInboundNumber[] = "+12025550100";

std::string Base() { return std::string("/2010-04-01/Accounts/") + kAccountSid; }

// The answer of a raw unary call: status and the provider code in the trailer.
struct RawAnswer {
  grpc::Status status;
  std::string code;
};

RawAnswer RawUnary(MmsgateProcess& gateway, const std::string& method, const std::string& bytes) {
  grpc::GenericStub generic(gateway.Channel());
  auto context = gateway.Context();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  RawAnswer answer;
  generic.UnaryCall(context.get(), method, grpc::StubOptions(), &request, &response,
                    [&](grpc::Status status) {
                      std::lock_guard lock(mutex);
                      answer.status = status;
                      done = true;
                      done_cv.notify_one();
                    });
  {
    std::unique_lock lock(mutex);
    done_cv.wait(lock, [&] { return done; });
  }
  const auto& trailers = context->GetServerTrailingMetadata();
  if (auto it = trailers.find("mmsgate-error-code"); it != trailers.end()) {
    answer.code = std::string(it->second.data(), it->second.size());
  }
  return answer;
}

// A server-streaming call made raw: the status it ends with.
grpc::Status RawWatch(MmsgateProcess& gateway, const std::string& bytes) {
  grpc::GenericStub generic(gateway.Channel());
  grpc::CompletionQueue cq;
  auto context = gateway.Context();
  auto call = generic.PrepareCall(context.get(), "/mmsgate.v1.Messaging/WatchEvents", &cq);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  call->WriteLast(request, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

class TextFieldsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    webhook_ = std::make_unique<LocalHttpServer>(
        [this](gateway::HttpRequest request, std::function<void(gateway::HttpResponse)> respond) {
          // Each inbound message's body picks the TwiML the application answers with.
          std::string twiml = "<Response/>";
          const std::string& form = request.body();
          if (form.find("Body=not-utf8") != std::string::npos) {
            twiml = std::string("<Response><Message statusCallback=\"http://127.0.0.1/") + kBad +
                    "\">reply</Message></Response>";
          } else if (form.find("Body=spaced-url") != std::string::npos) {
            twiml =
                "<Response><Message statusCallback=\"http://127.0.0.1/a b\">reply</Message>"
                "</Response>";
          } else if (form.find("Body=bad-element") != std::string::npos) {
            twiml =
                std::string("<Response><Mess") + kBad + "age>x</Mess" + kBad + "age></Response>";
          }
          gateway::HttpResponse response(boost::beast::http::status::ok, request.version());
          response.set(boost::beast::http::field::content_type, "text/xml");
          response.body() = twiml;
          respond(std::move(response));
        });
    MmsgateProcess::Options options;
    options.scenario_text = TestScenario();
    options.data_dir = MmsgateProcess::MakeTempDir("text-fields");
    data_dir_ = options.data_dir;
    gateway_ = MmsgateProcess::Start(options);
  }
  void TearDown() override {
    gateway_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(data_dir_, ignored);
  }

  void Restart(bool kill) {
    if (kill) {
      gateway_->Kill();
    } else {
      gateway_->Stop();
    }
    MmsgateProcess::Options options;
    options.scenario_text = TestScenario();
    options.data_dir = data_dir_;
    gateway_ = MmsgateProcess::Start(options);
  }

  HttpResult Rest(const std::string& method, const std::string& target,
                  const std::string& form = "") {
    std::map<std::string, std::string> headers = {
        {"Authorization", "Basic " + Base64(std::string(kAccountSid) + ":" + kAuthToken)}};
    if (!form.empty()) headers["Content-Type"] = "application/x-www-form-urlencoded";
    return HttpRequestTo(gateway_->http_address(), method, target, headers, form);
  }

  std::vector<std::string> StoredSids() {
    auto messaging = v1::Messaging::NewStub(gateway_->Channel());
    v1::ListMessagesRequest request;
    request.set_page_size(1000);
    v1::ListMessagesResponse response;
    auto context = gateway_->Context();
    const grpc::Status status = messaging->ListMessages(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> sids;
    for (const auto& message : response.messages()) sids.push_back(message.sid());
    std::sort(sids.begin(), sids.end());
    return sids;
  }

  std::vector<std::string> NumberList() {
    auto accounts = v1::Accounts::NewStub(gateway_->Channel());
    v1::ListNumbersResponse response;
    auto context = gateway_->Context();
    const grpc::Status status =
        accounts->ListNumbers(context.get(), v1::ListNumbersRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> numbers;
    for (const auto& number : response.numbers()) {
      numbers.push_back(number.number() + " " + number.sms_url() + " " + number.status_callback());
    }
    return numbers;
  }

  v1::Message GetMessage(const std::string& sid) {
    auto messaging = v1::Messaging::NewStub(gateway_->Channel());
    v1::GetMessageRequest request;
    request.set_sid(sid);
    v1::Message message;
    auto context = gateway_->Context();
    const grpc::Status status = messaging->GetMessage(context.get(), request, &message);
    EXPECT_TRUE(status.ok()) << sid << ": " << status.error_message();
    return message;
  }

  // Polls (bounded) until the inbound message carries an error code, i.e. its webhook and
  // TwiML were handled.
  v1::Message AwaitInboundError(const std::string& sid) {
    v1::Message message;
    for (int i = 0; i < 500; ++i) {
      message = GetMessage(sid);
      if (message.error_code() != 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return message;
  }

  std::string SendFromHandset(const std::string& body) {
    auto simulator = v1::Simulator::NewStub(gateway_->Channel());
    v1::HandsetSend send;
    send.set_from(kUsMmsSubscriber);
    send.set_to(kInboundNumber);
    send.set_body(body);
    v1::Message message;
    auto context = gateway_->Context();
    const grpc::Status status = simulator->SendFromHandset(context.get(), send, &message);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return message.sid();
  }

  std::unique_ptr<LocalHttpServer> webhook_;
  std::unique_ptr<MmsgateProcess> gateway_;
  std::string data_dir_;
};

TEST_F(TextFieldsTest, EveryTextFieldRefusesInvalidUtf8AndStoresNothing) {
  // What is stored before the hostile requests, and must stay readable.
  const std::string create = Base() + "/Messages.json";
  const std::string good_form = "From=%2B12025550100&To=%2B12025550142&Body=kept";
  HttpResult first = Rest("POST", create, good_form);
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string kept_sid = json::parse(first.body)["sid"];
  HttpResult provisioned =
      Rest("POST", Base() + "/IncomingPhoneNumbers.json",
           "PhoneNumber=%2B12025550177&SmsUrl=http%3A%2F%2F127.0.0.1%3A9%2Fin");
  ASSERT_EQ(provisioned.status, 201) << provisioned.body;
  const std::string number_sid = json::parse(provisioned.body)["sid"];
  const auto sids_before = StoredSids();
  const auto numbers_before = NumberList();

  // REST: each field of each resource, with the code the provider gives for it.
  struct RestCase {
    std::string method, target, form;
    int code;
    std::string names;  // what the message must mention
  };
  const std::string number = Base() + "/IncomingPhoneNumbers/" + number_sid + ".json";
  const std::vector<RestCase> rest_cases = {
      {"POST", create, "From=%2B12025550100&To=%2B12025550142%FF&Body=x", 21211, "To"},
      {"POST", create, "From=%2B12025550100%FF&To=%2B12025550142&Body=x", 21212, "From"},
      {"POST", create, "From=%2B12025550100&To=%2B12025550142&Body=x%FF", 21200, "Body"},
      {"POST", create,
       "From=%2B12025550100&To=%2B12025550142&Body=x&StatusCallback=http%3A%2F%2F127.0.0.1%3A"
       "18081%2Fcb%FF",
       21609, "StatusCallback"},
      {"POST", create,
       "From=%2B12025550100&To=%2B12025550142&Body=x&MediaUrl=http%3A%2F%2F127.0.0.1%3A9%2Fa%FF",
       21620, "MediaUrl"},
      {"POST", create, "From=%2B12025550100&To=%2B12025550142&Body=x&ValidityPeriod=6%FF", 21200,
       "ValidityPeriod"},
      {"POST", create, "To=%2B12025550142&Body=x&MessagingServiceSid=MG%FF", 21200,
       "MessagingServiceSid"},
      {"POST", create, "From=%2B12025550100&To=%2B12025550142&Body=x&Unknown=%FF", 21200,
       "Unknown"},
      {"POST", create, "From=%2B12025550100&To=%2B12025550142&Body=x&%FF=1", 21200,
       "parameter name"},
      // URL fields: a space or a control character is not a URL either.
      {"POST", create,
       "From=%2B12025550100&To=%2B12025550142&Body=x&StatusCallback=http%3A%2F%2F127.0.0.1%2F"
       "a%20b",
       21609, "status_callback"},
      {"POST", create,
       "From=%2B12025550100&To=%2B12025550142&Body=x&StatusCallback=http%3A%2F%2F127.0.0.1%2F"
       "a%0D%0AX-Injected%3A%201",
       21609, "status_callback"},
      {"POST", Base() + "/IncomingPhoneNumbers.json",
       "PhoneNumber=%2B12025550178&SmsUrl=http%3A%2F%2F127.0.0.1%3A18081%2F%FF", 21200, "SmsUrl"},
      {"POST", Base() + "/IncomingPhoneNumbers.json",
       "PhoneNumber=%2B12025550178&StatusCallback=http%3A%2F%2F127.0.0.1%2F%FF", 21609,
       "StatusCallback"},
      {"POST", Base() + "/IncomingPhoneNumbers.json", "PhoneNumber=%2B12025550178%FF", 21200,
       "PhoneNumber"},
      {"POST", Base() + "/IncomingPhoneNumbers.json",
       "PhoneNumber=%2B12025550178&SmsUrl=http%3A%2F%2F127.0.0.1%2Fa%09b", 21200, "SmsUrl"},
      {"POST", number, "SmsUrl=http%3A%2F%2F127.0.0.1%3A18081%2F%FF", 21200, "SmsUrl"},
      {"POST", number, "StatusCallback=http%3A%2F%2F127.0.0.1%2F%FF", 21609, "StatusCallback"},
      {"GET", create + "?To=%FF", "", 21211, "To"},
      {"GET", Base() + "/IncomingPhoneNumbers.json?PhoneNumber=%FF", "", 21200, "PhoneNumber"},
  };
  for (const auto& c : rest_cases) {
    SCOPED_TRACE(c.method + " " + c.target + " " + c.form);
    HttpResult result = Rest(c.method, c.target, c.form);
    EXPECT_EQ(result.status, 400) << result.body;
    const json body = json::parse(result.body, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(body.is_object()) << result.body;
    EXPECT_EQ(body.value("code", 0), c.code) << result.body;
    EXPECT_THAT(body.value("message", ""), HasSubstr(c.names));
  }

  // gRPC: requests encoded by hand, as a client with a bug (or a hostile one) sends them.
  auto bytes = [](const google::protobuf::Message& message) {
    return message.SerializePartialAsString();
  };
  v1::SendMessageRequest send;
  send.set_from(kMmsLongCode);
  send.set_to(kUsMmsSubscriber);
  send.set_body("x");
  struct GrpcCase {
    std::string method;
    std::string request;
    std::string names;
  };
  std::vector<GrpcCase> grpc_cases;
  const std::string send_method = "/mmsgate.v1.Messaging/SendMessage";
  {
    auto r = send;
    r.set_to(std::string(kUsMmsSubscriber) + kBad);
    grpc_cases.push_back({send_method, bytes(r), "SendMessageRequest.to"});
    r = send;
    r.set_from(std::string(kMmsLongCode) + kBad);
    grpc_cases.push_back({send_method, bytes(r), "SendMessageRequest.from"});
    r = send;
    r.set_body(std::string("x") + kBad);
    grpc_cases.push_back({send_method, bytes(r), "SendMessageRequest.body"});
    r = send;
    r.add_media_url(std::string("http://127.0.0.1:9/a") + kBad);
    grpc_cases.push_back({send_method, bytes(r), "SendMessageRequest.media_url[0]"});
    r = send;
    r.set_status_callback(std::string("http://127.0.0.1:18081/cb") + kBad);
    grpc_cases.push_back({send_method, bytes(r), "SendMessageRequest.status_callback"});
    r = send;
    auto* media = r.add_media();
    media->set_content_type("image/png");
    media->set_data("png");
    media->set_filename(std::string("a") + kBad + ".png");
    grpc_cases.push_back({send_method, bytes(r), "SendMessageRequest.media[0].filename"});
    r.mutable_media(0)->set_filename("a.png");
    r.mutable_media(0)->set_content_type(std::string("image/") + kBad);
    grpc_cases.push_back({send_method, bytes(r), "SendMessageRequest.media[0].content_type"});
  }
  {
    v1::GetMessageRequest r;
    r.set_sid(std::string("SM") + kBad);
    grpc_cases.push_back({"/mmsgate.v1.Messaging/GetMessage", bytes(r), "GetMessageRequest.sid"});
    v1::ListMessagesRequest list;
    list.set_to(kBad);
    grpc_cases.push_back(
        {"/mmsgate.v1.Messaging/ListMessages", bytes(list), "ListMessagesRequest.to"});
    v1::ListMediaRequest media;
    media.set_message_sid(kBad);
    grpc_cases.push_back(
        {"/mmsgate.v1.Messaging/ListMedia", bytes(media), "ListMediaRequest.message_sid"});
    v1::HandsetSend handset;
    handset.set_from(kUsMmsSubscriber);
    handset.set_to(kInboundNumber);
    handset.set_body(std::string("hi") + kBad);
    grpc_cases.push_back(
        {"/mmsgate.v1.Simulator/SendFromHandset", bytes(handset), "HandsetSend.body"});
    v1::GetHandsetInboxRequest inbox;
    inbox.set_number(kBad);
    grpc_cases.push_back(
        {"/mmsgate.v1.Simulator/GetHandsetInbox", bytes(inbox), "GetHandsetInboxRequest.number"});
    v1::SetCarrierFaultRequest fault;
    fault.set_carrier_id(kBad);
    grpc_cases.push_back({"/mmsgate.v1.Simulator/SetCarrierFault", bytes(fault),
                          "SetCarrierFaultRequest.carrier_id"});
    v1::UpsertCarrierRequest carrier;
    carrier.mutable_carrier()->set_name(kBad);
    grpc_cases.push_back({"/mmsgate.v1.Simulator/UpsertCarrier", bytes(carrier),
                          "UpsertCarrierRequest.carrier.name"});
    v1::ProvisionNumberRequest provision;
    provision.mutable_number()->set_number("+12025550179");
    provision.mutable_number()->set_sms_url(std::string("http://127.0.0.1/") + kBad);
    grpc_cases.push_back({"/mmsgate.v1.Accounts/ProvisionNumber", bytes(provision),
                          "ProvisionNumberRequest.number.sms_url"});
    v1::UpdateNumberRequest update;
    update.set_number(kMmsLongCode);
    update.set_status_callback(std::string("http://127.0.0.1/") + kBad);
    grpc_cases.push_back({"/mmsgate.v1.Accounts/UpdateNumber", bytes(update),
                          "UpdateNumberRequest.status_callback"});
    v1::ReleaseNumberRequest release;
    release.set_number(kBad);
    grpc_cases.push_back(
        {"/mmsgate.v1.Accounts/ReleaseNumber", bytes(release), "ReleaseNumberRequest.number"});
    v1::EnableShortCodeMmsRequest enable;
    enable.set_number(kBad);
    grpc_cases.push_back({"/mmsgate.v1.Accounts/EnableShortCodeMms", bytes(enable),
                          "EnableShortCodeMmsRequest.number"});
  }
  for (const auto& c : grpc_cases) {
    SCOPED_TRACE(c.method + " " + c.names);
    const RawAnswer answer = RawUnary(*gateway_, c.method, c.request);
    EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << answer.status.error_message();
    EXPECT_THAT(answer.status.error_message(), HasSubstr("21200"));
    EXPECT_THAT(answer.status.error_message(), HasSubstr(c.names));
    EXPECT_EQ(answer.code, "21200");
  }
  {
    v1::WatchEventsRequest watch;
    watch.add_message_sids(kBad);
    const grpc::Status status = RawWatch(*gateway_, bytes(watch));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("WatchEventsRequest.message_sids[0]"));
  }
  // Well-formed UTF-8 that still is no URL, or no file name, over gRPC.
  {
    auto messaging = v1::Messaging::NewStub(gateway_->Channel());
    auto r = send;
    r.set_status_callback("http://127.0.0.1/a b");
    v1::Message ignored;
    auto context = gateway_->Context();
    grpc::Status status = messaging->SendMessage(context.get(), r, &ignored);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("21609"));
    r = send;
    auto* media = r.add_media();
    media->set_content_type("image/png");
    media->set_data("png");
    media->set_filename("a\nb.png");
    context = gateway_->Context();
    status = messaging->SendMessage(context.get(), r, &ignored);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("media[0].filename"));
    auto accounts = v1::Accounts::NewStub(gateway_->Channel());
    v1::UpdateNumberRequest update;
    update.set_number(kMmsLongCode);
    update.set_sms_url("http://127.0.0.1/in\r\nbound");
    v1::Number number;
    context = gateway_->Context();
    status = accounts->UpdateNumber(context.get(), update, &number);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("sms_url"));
  }

  // Nothing of the above was stored.
  EXPECT_EQ(StoredSids(), sids_before);
  EXPECT_EQ(NumberList(), numbers_before);

  // TwiML: the application answers with bytes that are not UTF-8, or with a URL that is not
  // one. The inbound message records why no reply went out, and stays readable.
  auto accounts = v1::Accounts::NewStub(gateway_->Channel());
  v1::UpdateNumberRequest webhook;
  webhook.set_number(kInboundNumber);
  webhook.set_sms_url(webhook_->base_url() + "/inbound");
  v1::Number updated;
  auto context = gateway_->Context();
  ASSERT_TRUE(accounts->UpdateNumber(context.get(), webhook, &updated).ok());
  const std::string not_utf8 = SendFromHandset("not-utf8");
  const std::string spaced_url = SendFromHandset("spaced-url");
  const std::string bad_element = SendFromHandset("bad-element");
  EXPECT_EQ(AwaitInboundError(not_utf8).error_code(), 12100);
  const v1::Message spaced = AwaitInboundError(spaced_url);
  EXPECT_EQ(spaced.error_code(), 21609);
  EXPECT_THAT(spaced.error_message(), HasSubstr("status_callback"));
  EXPECT_EQ(AwaitInboundError(bad_element).error_code(), 12100);

  // A crash and a restart: everything stored is still there and readable.
  Restart(/*kill=*/true);
  auto expected = sids_before;
  expected.insert(expected.end(), {not_utf8, spaced_url, bad_element});
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(StoredSids(), expected);
  EXPECT_EQ(GetMessage(kept_sid).body(), "kept");
  EXPECT_EQ(GetMessage(not_utf8).error_code(), 12100);
  auto numbers_after = NumberList();
  EXPECT_EQ(numbers_after.size(), numbers_before.size());
  HttpResult fetched = Rest("GET", Base() + "/Messages/" + kept_sid + ".json");
  EXPECT_EQ(fetched.status, 200) << fetched.body;
  HttpResult metrics = HttpRequestTo(gateway_->http_address(), "GET", "/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("mmsgate_store_quarantined_records 0"));
  EXPECT_THAT(gateway_->Log(), ::testing::Not(HasSubstr("cannot be read")));
}

TEST(TextFieldsScenarioTest, ScenarioWithInvalidUtf8DoesNotStartAndNamesTheField) {
  MmsgateProcess::Options options;
  options.scenario_text = R"pb(
    accounts {
      sid: "AC0123456789abcdef0123456789abcdef"
      auth_token: "test-auth-token-0123456789"
      friendly_name: "caf\351"
    }
  )pb";
  try {
    auto gateway = MmsgateProcess::Start(options);
    FAIL() << "mmsgate started on a scenario that is not UTF-8";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("accounts[0].friendly_name"));
    EXPECT_THAT(e.what(), HasSubstr("UTF-8"));
  }
}

}  // namespace
}  // namespace mmsgate::testing
