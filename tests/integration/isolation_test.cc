// Account isolation and the admin token, over every interface of the real gateway: account B
// can neither read nor change account A's messages, media, numbers or handset traffic; a
// foreign SID or number answers exactly as a missing one; shared state (carriers, account
// changes) needs the admin token.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::HasSubstr;

constexpr const char* kMissingMessage = "MM00000000000000000000000000000000";
constexpr const char* kMissingMedia = "ME00000000000000000000000000000000";

// A gRPC refusal as a client sees it, with `foreign` (a SID or number) replaced by `missing`,
// so the answers to a foreign and a missing resource can be compared whole.
std::string Seen(const grpc::Status& status, const std::string& foreign = "",
                 const std::string& missing = "") {
  std::string message = status.error_message();
  if (!foreign.empty()) message = absl::StrReplaceAll(message, {{foreign, missing}});
  return std::to_string(status.error_code()) + " " + message;
}

std::string Seen(const HttpResult& result, const std::string& foreign = "",
                 const std::string& missing = "") {
  std::string body = result.body;
  if (!foreign.empty()) body = absl::StrReplaceAll(body, {{foreign, missing}});
  return std::to_string(result.status) + " " + body;
}

class IsolationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MmsgateProcess::Options options;
    options.scenario_text = TestScenario(0);
    gateway_ = MmsgateProcess::Start(options).release();
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(gateway_->Stop(), 0) << gateway_->Log();
    delete gateway_;
    gateway_ = nullptr;
  }

  static std::unique_ptr<grpc::ClientContext> A() { return gateway_->Context(); }
  static std::unique_ptr<grpc::ClientContext> B() {
    return MmsgateProcess::ContextFor(kNoConversionAccountSid, kNoConversionAuthToken);
  }
  static std::map<std::string, std::string> BasicB() {
    return {{"Authorization", "Basic " + absl::Base64Escape(std::string(kNoConversionAccountSid) +
                                                            ":" + kNoConversionAuthToken)}};
  }

  static v1::Message AwaitFinal(v1::Messaging::Stub& messaging, const std::string& sid) {
    v1::Message message;
    for (int i = 0; i < 300; ++i) {
      v1::GetMessageRequest request;
      request.set_sid(sid);
      EXPECT_TRUE(messaging.GetMessage(A().get(), request, &message).ok());
      if (message.status() == v1::DELIVERED || message.status() == v1::UNDELIVERED ||
          message.status() == v1::FAILED) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return message;
  }

  static MmsgateProcess* gateway_;
};

MmsgateProcess* IsolationTest::gateway_ = nullptr;

TEST_F(IsolationTest, AnotherAccountsDataAnswersAsIfItDidNotExist) {
  auto messaging = v1::Messaging::NewStub(gateway_->Channel());
  auto accounts = v1::Accounts::NewStub(gateway_->Channel());
  auto simulator = v1::Simulator::NewStub(gateway_->Channel());

  // B watches its whole account before A sends anything.
  auto watch_context = B();
  watch_context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto watch = messaging->WatchEvents(watch_context.get(), v1::WatchEventsRequest());
  watch->WaitForInitialMetadata();

  // A sends an MMS abroad (it becomes SMS + link) and one at home.
  v1::SendMessageRequest mms;
  mms.set_from(kMmsLongCode);
  mms.set_to(kGbSubscriber);
  mms.set_body("A's picture");
  auto* media = mms.add_media();
  media->set_content_type("image/png");
  media->set_data(std::string("\x89PNG\r\n\x1a\n", 8) + "A's pixels");
  v1::Message a_mms;
  ASSERT_TRUE(messaging->SendMessage(A().get(), mms, &a_mms).ok());
  ASSERT_EQ(a_mms.media_size(), 1);
  const std::string a_sid = a_mms.sid();
  const std::string a_media = a_mms.media(0).sid();
  EXPECT_EQ(AwaitFinal(*messaging, a_sid).status(), v1::DELIVERED);

  // gRPC reads: a foreign SID answers exactly as a missing one.
  {
    v1::GetMessageRequest foreign, missing;
    foreign.set_sid(a_sid);
    missing.set_sid(kMissingMessage);
    v1::Message out;
    const auto f = messaging->GetMessage(B().get(), foreign, &out);
    const auto m = messaging->GetMessage(B().get(), missing, &out);
    EXPECT_EQ(f.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(Seen(f, a_sid, kMissingMessage), Seen(m));
  }
  {
    v1::ListMediaRequest foreign, missing;
    foreign.set_message_sid(a_sid);
    missing.set_message_sid(kMissingMessage);
    v1::ListMediaResponse out;
    const auto f = messaging->ListMedia(B().get(), foreign, &out);
    const auto m = messaging->ListMedia(B().get(), missing, &out);
    EXPECT_FALSE(f.ok());
    EXPECT_EQ(Seen(f, a_sid, kMissingMessage), Seen(m));
  }
  {
    v1::ListMessagesRequest request;
    request.set_page_size(1000);
    v1::ListMessagesResponse page;
    ASSERT_TRUE(messaging->ListMessages(B().get(), request, &page).ok());
    for (const auto& message : page.messages()) EXPECT_NE(message.sid(), a_sid);
  }
  // WatchEvents: B's stream carries B's own message first, none of A's.
  {
    v1::SendMessageRequest own;
    own.set_from(kStrictLongCode);
    own.set_to(kUsMmsSubscriber);
    own.set_body("B's own");
    v1::Message b_message;
    ASSERT_TRUE(messaging->SendMessage(B().get(), own, &b_message).ok());
    v1::Event event;
    ASSERT_TRUE(watch->Read(&event));
    EXPECT_EQ(event.message().sid(), b_message.sid());
    watch_context->TryCancel();
  }

  // Numbers: A's number answers to B as a number B does not have.
  {
    v1::UpdateNumberRequest foreign, missing;
    foreign.set_number(kMmsLongCode);
    foreign.set_sms_url("http://127.0.0.1:9/steal");
    missing = foreign;
    missing.set_number("+12025550199");
    v1::Number out;
    const auto f = accounts->UpdateNumber(B().get(), foreign, &out);
    const auto m = accounts->UpdateNumber(B().get(), missing, &out);
    EXPECT_FALSE(f.ok());
    EXPECT_EQ(Seen(f, kMmsLongCode, "+12025550199"), Seen(m));
    v1::ReleaseNumberRequest release_foreign, release_missing;
    release_foreign.set_number(kMmsLongCode);
    release_missing.set_number("+12025550199");
    v1::ReleaseNumberResponse released;
    const auto rf = accounts->ReleaseNumber(B().get(), release_foreign, &released);
    const auto rm = accounts->ReleaseNumber(B().get(), release_missing, &released);
    EXPECT_FALSE(rf.ok());
    EXPECT_EQ(Seen(rf, kMmsLongCode, "+12025550199"), Seen(rm));
    v1::EnableShortCodeMmsRequest enable_foreign, enable_missing;
    enable_foreign.set_number(kShortCode);
    enable_missing.set_number("55599");
    const auto ef = accounts->EnableShortCodeMms(B().get(), enable_foreign, &out);
    const auto em = accounts->EnableShortCodeMms(B().get(), enable_missing, &out);
    EXPECT_FALSE(ef.ok());
    EXPECT_EQ(Seen(ef, kShortCode, "55599"), Seen(em));
    v1::ListNumbersResponse numbers;
    ASSERT_TRUE(accounts->ListNumbers(B().get(), v1::ListNumbersRequest(), &numbers).ok());
    for (const auto& number : numbers.numbers()) {
      EXPECT_EQ(number.account_sid(), kNoConversionAccountSid);
    }
  }

  // Handsets: B cannot text A's numbers, and sees only its own traffic in a shared inbox.
  {
    v1::HandsetSend foreign, missing;
    foreign.set_from(kUsMmsSubscriber);
    foreign.set_to(kMmsLongCode);
    foreign.set_body("injected");
    missing = foreign;
    missing.set_to("+12025550199");
    v1::Message out;
    const auto f = simulator->SendFromHandset(B().get(), foreign, &out);
    const auto m = simulator->SendFromHandset(B().get(), missing, &out);
    EXPECT_EQ(f.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(Seen(f, kMmsLongCode, "+12025550199"), Seen(m));

    v1::GetHandsetInboxRequest request;
    request.set_number(kGbSubscriber);
    v1::HandsetInbox as_a, as_b;
    ASSERT_TRUE(simulator->GetHandsetInbox(A().get(), request, &as_a).ok());
    ASSERT_TRUE(simulator->GetHandsetInbox(B().get(), request, &as_b).ok());
    ASSERT_EQ(as_a.messages_size(), 1);
    EXPECT_EQ(as_a.messages(0).message_sid(), a_sid);
    EXPECT_EQ(as_b.messages_size(), 0) << "B reads A's SMS + link";
    // The link A's subscriber got carries at least 128 random bits.
    std::smatch token;
    const std::string text = as_a.messages(0).text();
    ASSERT_TRUE(std::regex_search(text, token, std::regex("/m/([A-Za-z0-9_-]+)"))) << text;
    EXPECT_GE(token[1].length(), 22u) << "a link token under 128 bits: " << token[1];
  }

  // Carriers are shared: with two accounts and no admin token, nobody may change them.
  {
    v1::SetCarrierFaultRequest fault;
    fault.set_carrier_id("mmsnet");
    fault.mutable_fault()->set_kind(v1::CarrierFault::OUTAGE);
    fault.mutable_fault()->set_duration_seconds(60);
    v1::CarrierState state;
    const auto status = simulator->SetCarrierFault(A().get(), fault, &state);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(status.error_message(), HasSubstr("20003: 2 scenario accounts share this gateway"));
    v1::ListCarriersResponse carriers;
    ASSERT_TRUE(simulator->ListCarriers(B().get(), v1::ListCarriersRequest(), &carriers).ok());
  }

  // REST: the same answers for foreign and missing, under B's own account and under A's.
  const std::string b_base = std::string("/2010-04-01/Accounts/") + kNoConversionAccountSid;
  const std::string a_base = std::string("/2010-04-01/Accounts/") + kAccountSid;
  const auto http = gateway_->http_address();
  for (const auto& [method, suffix] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/Messages/{SID}.json"},
           {"DELETE", "/Messages/{SID}.json"},
           {"GET", "/Messages/{SID}/Media.json"},
           {"GET", "/Messages/{SID}/Media/{ME}.json"},
           {"DELETE", "/Messages/{SID}/Media/{ME}.json"}}) {
    SCOPED_TRACE(method + " " + suffix);
    const auto path = [&](const std::string& base, const std::string& sid, const std::string& me) {
      return base + absl::StrReplaceAll(suffix, {{"{SID}", sid}, {"{ME}", me}});
    };
    const auto foreign = HttpRequestTo(http, method, path(b_base, a_sid, a_media), BasicB());
    const auto missing =
        HttpRequestTo(http, method, path(b_base, kMissingMessage, kMissingMedia), BasicB());
    EXPECT_EQ(foreign.status, 404);
    EXPECT_EQ(
        absl::StrReplaceAll(Seen(foreign), {{a_sid, kMissingMessage}, {a_media, kMissingMedia}}),
        Seen(missing));
    const auto under_a = HttpRequestTo(http, method, path(a_base, a_sid, a_media), BasicB());
    EXPECT_EQ(under_a.status, 404);
  }
  // Media content by URL: B's account in the URL does not reach A's media.
  const auto content =
      HttpRequestTo(http, "GET", b_base + "/Messages/" + a_sid + "/Media/" + a_media);
  const auto missing_content = HttpRequestTo(
      http, "GET", b_base + "/Messages/" + kMissingMessage + "/Media/" + kMissingMedia);
  EXPECT_EQ(Seen(content), Seen(missing_content));
  // A's message is untouched by all of that.
  v1::GetMessageRequest get;
  get.set_sid(a_sid);
  v1::Message still;
  ASSERT_TRUE(messaging->GetMessage(A().get(), get, &still).ok());
  EXPECT_EQ(still.media_size(), 1);
}

// A gateway started with an admin token (read from a file): carrier control and account
// changes need it, and it sees every handset.
TEST(AdminTokenTest, ControlsSharedStateAndIsReadFromAFile) {
  const std::string dir = MmsgateProcess::MakeTempDir("admin");
  const std::string token_file = dir + "/admin-token";
  std::ofstream(token_file) << "s3cret-admin-token\n";
  MmsgateProcess::Options options;
  options.scenario_text = TestScenario(0);
  options.extra_args = {"--admin-token-file", token_file};
  auto gateway = MmsgateProcess::Start(options);
  EXPECT_THAT(gateway->Log(), ::testing::Not(HasSubstr("s3cret-admin-token")));
  auto simulator = v1::Simulator::NewStub(gateway->Channel());
  auto accounts = v1::Accounts::NewStub(gateway->Channel());
  const auto with_token = [&](const std::string& token) {
    auto context = gateway->Context();
    if (!token.empty()) context->AddMetadata("x-admin-token", token);
    return context;
  };

  v1::SetCarrierFaultRequest fault;
  fault.set_carrier_id("mmsnet");
  fault.mutable_fault()->set_kind(v1::CarrierFault::EXTRA_LATENCY);
  fault.mutable_fault()->set_extra_latency_ms(100);
  fault.mutable_fault()->set_duration_seconds(1);
  v1::CarrierState state;
  for (const char* token : {"", "wrong", "s3cret-admin-token-but-longer"}) {
    const auto status = simulator->SetCarrierFault(with_token(token).get(), fault, &state);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << token;
    EXPECT_THAT(status.error_message(), HasSubstr("20003"));
  }
  EXPECT_TRUE(
      simulator->SetCarrierFault(with_token("s3cret-admin-token").get(), fault, &state).ok());

  // Account changes, over gRPC and REST.
  v1::ProvisionNumberRequest provision;
  provision.mutable_number()->set_number("+12025550166");
  v1::Number number;
  EXPECT_EQ(accounts->ProvisionNumber(with_token("").get(), provision, &number).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(
      accounts->ProvisionNumber(with_token("s3cret-admin-token").get(), provision, &number).ok());
  v1::UpdateAccountSettingsRequest settings;
  v1::Account account;
  EXPECT_EQ(accounts->UpdateAccountSettings(with_token("").get(), settings, &account).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Reads stay open to the account.
  EXPECT_TRUE(accounts->GetAccount(with_token("").get(), v1::GetAccountRequest(), &account).ok());
  const std::string numbers_path =
      std::string("/2010-04-01/Accounts/") + kAccountSid + "/IncomingPhoneNumbers.json";
  std::map<std::string, std::string> headers = {
      {"Authorization", "Basic " + absl::Base64Escape(std::string(kAccountSid) + ":" + kAuthToken)},
      {"Content-Type", "application/x-www-form-urlencoded"}};
  const std::string form = FormBody({{"PhoneNumber", "+12025550167"}});
  auto refused = HttpRequestTo(gateway->http_address(), "POST", numbers_path, headers, form);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(nlohmann::json::parse(refused.body).value("code", 0), 20003);
  EXPECT_EQ(HttpRequestTo(gateway->http_address(), "GET", numbers_path, headers).status, 200);
  headers["X-Admin-Token"] = "s3cret-admin-token";
  auto created = HttpRequestTo(gateway->http_address(), "POST", numbers_path, headers, form);
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(gateway->Stop(), 0);
}

TEST(AdminTokenTest, AnEmptyTokenFileIsRefusedAtStart) {
  const std::string dir = MmsgateProcess::MakeTempDir("admin-empty");
  std::ofstream(dir + "/empty") << "\n";
  MmsgateProcess::Options options;
  options.extra_args = {"--admin-token-file", dir + "/empty"};
  try {
    MmsgateProcess::Start(options);
    ADD_FAILURE() << "started with an empty admin token file";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("holds no token"));
  }
}

}  // namespace
}  // namespace mmsgate::testing
