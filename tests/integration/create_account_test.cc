// Accounts made at run time (Accounts.CreateAccount), over the real binary through the test kit
// (integration/gateway_fixture.h): each test owns an account, and two accounts never see each
// other's messages, media, events or numbers, over gRPC or the REST facade. Accounts persist
// across a restart, and CreateAccount needs the admin token when the gateway has one.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "integration/gateway_fixture.h"
#include "integration/http_client.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using nlohmann::json;
using ::testing::HasSubstr;

std::string Basic(const TestAccount& account) {
  return "Basic " + Base64(account.sid + ":" + account.auth_token);
}

class CreateAccountTest : public GatewayTest {
 protected:
  v1::Message SendMms(const TestAccount& from, const std::string& to) {
    auto messaging = v1::Messaging::NewStub(gateway().Channel());
    v1::SendMessageRequest request;
    request.set_from(from.number);
    request.set_to(to);
    request.set_body("for " + from.sid + " only");
    auto* media = request.add_media();
    media->set_content_type("text/plain");
    media->set_data("media of " + from.sid);
    v1::Message sent;
    auto context = from.Context();
    const grpc::Status status = messaging->SendMessage(context.get(), request, &sent);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return sent;
  }
};

TEST_F(CreateAccountTest, AnAccountComesWithItsOwnCredentialsAndAnMmsLongCode) {
  auto accounts = v1::Accounts::NewStub(gateway().Channel());
  v1::Account got;
  auto context = account().Context();
  ASSERT_TRUE(accounts->GetAccount(context.get(), v1::GetAccountRequest(), &got).ok());
  EXPECT_EQ(got.sid(), account().sid);
  EXPECT_TRUE(got.auth_token().empty()) << "GetAccount never shows the token";
  EXPECT_THAT(got.friendly_name(), HasSubstr("CreateAccountTest.AnAccountComes"));

  v1::ListNumbersResponse numbers;
  auto list_context = account().Context();
  ASSERT_TRUE(accounts->ListNumbers(list_context.get(), v1::ListNumbersRequest(), &numbers).ok());
  ASSERT_EQ(numbers.numbers_size(), 1);
  EXPECT_EQ(numbers.numbers(0).number(), account().number);
  EXPECT_EQ(numbers.numbers(0).type(), v1::LONG_CODE);
  EXPECT_EQ(numbers.numbers(0).country(), "US");
  EXPECT_TRUE(numbers.numbers(0).capabilities().mms());

  // It can send, and the message is delivered as MMS.
  const v1::Message sent = SendMms(account(), "+12025550142");
  EXPECT_EQ(AwaitFinal(sent.sid()).status(), v1::DELIVERED);

  // A wrong token for the new SID is refused like any other.
  TestAccount impostor = account();
  impostor.auth_token = "0123456789abcdef0123456789abcdef";
  auto wrong = impostor.Context();
  EXPECT_EQ(accounts->GetAccount(wrong.get(), v1::GetAccountRequest(), &got).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(CreateAccountTest, TwoAccountsNeverSeeEachOthersMessagesMediaEventsOrNumbers) {
  const TestAccount& a = account();
  const TestAccount b = CreateTestAccount(gateway().Channel(), "B");
  ASSERT_NE(a.sid, b.sid);
  ASSERT_NE(a.number, b.number);
  auto messaging = v1::Messaging::NewStub(gateway().Channel());

  // B watches every event of its account from before A sends.
  auto b_watch_context = b.Context(120);
  auto b_stream = messaging->WatchEvents(b_watch_context.get(), v1::WatchEventsRequest());
  b_stream->WaitForInitialMetadata();  // subscribed from here on
  std::vector<v1::Event> b_events;
  std::thread b_reader([&] {
    v1::Event event;
    while (b_stream->Read(&event)) {
      b_events.push_back(event);
      // B's own delivery marks the end: every event of A came before it.
      if (event.message().account_sid() == b.sid && event.message().status() == v1::DELIVERED) {
        break;
      }
    }
  });

  const v1::Message a_sent = SendMms(a, "+12025550142");
  const v1::Message a_final = AwaitStatus(gateway().Channel(), a, a_sent.sid());
  ASSERT_EQ(a_final.status(), v1::DELIVERED);
  ASSERT_EQ(a_final.media_size(), 1);
  const v1::Message b_sent = SendMms(b, "+12025550143");
  ASSERT_EQ(AwaitStatus(gateway().Channel(), b, b_sent.sid()).status(), v1::DELIVERED);
  b_reader.join();
  b_watch_context->TryCancel();
  (void)b_stream->Finish();
  ASSERT_FALSE(b_events.empty());
  for (const auto& event : b_events) {
    EXPECT_EQ(event.message().account_sid(), b.sid)
        << "B's stream showed " << event.message().sid();
    EXPECT_NE(event.message().sid(), a_sent.sid());
  }

  // ListMessages, GetMessage, ListMedia: B sees only its own.
  v1::ListMessagesRequest list;
  list.set_page_size(1000);
  v1::ListMessagesResponse b_list;
  auto list_context = b.Context();
  ASSERT_TRUE(messaging->ListMessages(list_context.get(), list, &b_list).ok());
  ASSERT_EQ(b_list.messages_size(), 1);
  EXPECT_EQ(b_list.messages(0).sid(), b_sent.sid());

  v1::GetMessageRequest get;
  get.set_sid(a_sent.sid());
  v1::Message got;
  auto get_context = b.Context();
  const grpc::Status get_status = messaging->GetMessage(get_context.get(), get, &got);
  EXPECT_EQ(get_status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ErrorCodeOf(*get_context), 20404);

  v1::ListMediaRequest media;
  media.set_message_sid(a_sent.sid());
  v1::ListMediaResponse media_list;
  auto media_context = b.Context();
  EXPECT_EQ(messaging->ListMedia(media_context.get(), media, &media_list).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(media_list.media_size(), 0);

  // B cannot send from A's number.
  v1::SendMessageRequest stolen;
  stolen.set_from(a.number);
  stolen.set_to("+12025550144");
  stolen.set_body("not mine");
  v1::Message refused;
  auto send_context = b.Context();
  EXPECT_FALSE(messaging->SendMessage(send_context.get(), stolen, &refused).ok());

  // The REST facade: B's credentials reach neither A's resources nor A's media through B's own
  // path, and B's list holds only B's message.
  const std::string& http = gateway().http_address();
  const std::map<std::string, std::string> b_auth = {{"authorization", Basic(b)}};
  const std::string a_base = "/2010-04-01/Accounts/" + a.sid;
  const std::string b_base = "/2010-04-01/Accounts/" + b.sid;
  EXPECT_EQ(HttpRequestTo(http, "GET", a_base + "/Messages.json", b_auth).status, 404);
  EXPECT_EQ(
      HttpRequestTo(http, "GET", b_base + "/Messages/" + a_sent.sid() + ".json", b_auth).status,
      404);
  EXPECT_EQ(HttpRequestTo(http, "GET", b_base + "/Messages/" + a_sent.sid() + "/Media.json", b_auth)
                .status,
            404);
  const auto b_rest_list = HttpRequestTo(http, "GET", b_base + "/Messages.json", b_auth);
  ASSERT_EQ(b_rest_list.status, 200) << b_rest_list.body;
  const json listed = json::parse(b_rest_list.body);
  ASSERT_EQ(listed["messages"].size(), 1u);
  EXPECT_EQ(listed["messages"][0]["sid"], b_sent.sid());

  // A's media content: under A's path it is served; under B's path, with B's credentials, not.
  const std::string media_sid = a_final.media(0).sid();
  const std::string a_media = a_base + "/Messages/" + a_sent.sid() + "/Media/" + media_sid;
  const std::string b_media = b_base + "/Messages/" + a_sent.sid() + "/Media/" + media_sid;
  const auto own = HttpRequestTo(http, "GET", a_media, {{"authorization", Basic(a)}});
  EXPECT_EQ(own.status, 200);
  EXPECT_EQ(own.body, "media of " + a.sid);
  EXPECT_EQ(HttpRequestTo(http, "GET", b_media, b_auth).status, 404);
}

TEST_F(CreateAccountTest, AFriendlyNameOverSixtyFourCharactersIsRefusedAndNothingIsMade) {
  auto accounts = v1::Accounts::NewStub(gateway().Channel());
  v1::CreateAccountRequest request;
  request.set_friendly_name(std::string(65, 'x'));
  v1::CreateAccountResponse created;
  grpc::ClientContext context;
  const grpc::Status status = accounts->CreateAccount(&context, request, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ErrorCodeOf(context), 21200);
  EXPECT_THAT(status.error_message(), HasSubstr("64 characters"));
  EXPECT_TRUE(created.account().sid().empty());
}

TEST(CreateAccount, AnAccountAndItsNumberSurviveARestart) {
  const std::string data_dir = MmsgateProcess::MakeTempDir("create-account-restart");
  MmsgateProcess::Options options;
  options.data_dir = data_dir;
  auto gateway = MmsgateProcess::Start(options);
  const TestAccount made = CreateTestAccount(gateway->Channel(), "kept");
  ASSERT_FALSE(made.number.empty());
  ASSERT_EQ(gateway->Stop(), 0);

  gateway = MmsgateProcess::Start(options);
  auto accounts = v1::Accounts::NewStub(gateway->Channel());
  v1::ListNumbersResponse numbers;
  auto context = made.Context();
  const grpc::Status status =
      accounts->ListNumbers(context.get(), v1::ListNumbersRequest(), &numbers);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(numbers.numbers_size(), 1);
  EXPECT_EQ(numbers.numbers(0).number(), made.number);
  // The next account gets another number: the kept one is still in use.
  const TestAccount next = CreateTestAccount(gateway->Channel(), "next");
  EXPECT_NE(next.number, made.number);
  gateway->Stop();
  std::filesystem::remove_all(data_dir);
}

TEST(CreateAccount, NeedsTheAdminTokenWhenTheGatewayHasOne) {
  MmsgateProcess::Options options;
  options.extra_args = {"--admin-token", "kit-admin-secret"};
  auto gateway = MmsgateProcess::Start(options);
  auto accounts = v1::Accounts::NewStub(gateway->Channel());
  v1::CreateAccountResponse created;
  grpc::ClientContext without;
  const grpc::Status refused =
      accounts->CreateAccount(&without, v1::CreateAccountRequest(), &created);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.error_message(), HasSubstr("x-admin-token"));
  const TestAccount made = CreateTestAccount(gateway->Channel(), "admin-made", "kit-admin-secret");
  EXPECT_FALSE(made.sid.empty());
  gateway->Stop();
}

TEST(CreateAccount, AScenarioNumberPoolIsHandedOutInOrderUntilItRunsOut) {
  MmsgateProcess::Options options;
  options.scenario_text =
      R"pb(accounts { sid: "AC99999999999999999999999999999999" auth_token: "pool-token" }
           number_pool: "+12125550181"
           number_pool: "+12125550182"
           carriers { id: "us" country: "US" default_for_country: true supports_mms: true })pb";
  auto gateway = MmsgateProcess::Start(options);
  EXPECT_EQ(CreateTestAccount(gateway->Channel(), "first").number, "+12125550181");
  EXPECT_EQ(CreateTestAccount(gateway->Channel(), "second").number, "+12125550182");
  auto accounts = v1::Accounts::NewStub(gateway->Channel());
  v1::CreateAccountRequest request;
  request.set_provision_defaults(true);
  v1::CreateAccountResponse created;
  grpc::ClientContext context;
  const grpc::Status exhausted = accounts->CreateAccount(&context, request, &created);
  EXPECT_EQ(exhausted.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ErrorCodeOf(context), 21422);
  EXPECT_THAT(exhausted.error_message(), HasSubstr("number_pool"));
  gateway->Stop();
}

}  // namespace
}  // namespace mmsgate::testing
