// Hostile input, table-driven, over REST and gRPC against the real gateway: each case gets a
// clear error with its numeric code, stores nothing, and the gateway keeps serving others.

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
namespace http = boost::beast::http;
using Fields = std::vector<std::pair<std::string, std::string>>;
using ::testing::HasSubstr;

// A media server for the cases: a PNG, an empty body, 6 MB, and redirects to wherever the
// query says (?to=URL).
gateway::HttpHandler MediaServer() {
  return [](gateway::HttpRequest request, std::function<void(gateway::HttpResponse)> respond) {
    const std::string target(request.target());
    gateway::HttpResponse response(http::status::ok, request.version());
    response.set(http::field::content_type, "image/png");
    if (target.starts_with("/redirect?to=")) {
      response.result(http::status::found);
      response.set(http::field::location, target.substr(13));
    } else if (target == "/empty.png") {
      response.body() = "";
    } else if (target == "/huge.png") {
      response.body() = std::string(6 * 1024 * 1024, 'x');
    } else {
      response.body() = std::string("\x89PNG\r\n\x1a\n", 8) + "pixels";
    }
    response.prepare_payload();
    respond(std::move(response));
  };
}

struct RestCase {
  std::string name;
  // Form fields added to a valid From/To/Body create (a field named here replaces that one).
  Fields fields;
  int http_status;
  int code;
  std::string message_part;  // the error message must say this
};

class HostileInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MmsgateProcess::Options options;
    options.scenario_text = TestScenario(0);
    gateway_ = MmsgateProcess::Start(options).release();
    media_ = new LocalHttpServer(MediaServer());
  }
  static void TearDownTestSuite() {
    delete media_;
    EXPECT_EQ(gateway_->Stop(), 0) << gateway_->Log();
    delete gateway_;
    gateway_ = nullptr;
  }

  static std::string MessagesPath() {
    return std::string("/2010-04-01/Accounts/") + kAccountSid + "/Messages.json";
  }
  static std::map<std::string, std::string> Headers() {
    return {{"Authorization",
             "Basic " + absl::Base64Escape(std::string(kAccountSid) + ":" + kAuthToken)},
            {"Content-Type", "application/x-www-form-urlencoded"}};
  }

  static int StoredMessages() {
    auto messaging = v1::Messaging::NewStub(gateway_->Channel());
    v1::ListMessagesRequest request;
    request.set_page_size(1000);
    v1::ListMessagesResponse response;
    EXPECT_TRUE(messaging->ListMessages(gateway_->Context().get(), request, &response).ok());
    return response.messages_size();
  }

  static std::string OwnHttpPort() {
    const std::string address = gateway_->http_address();
    return address.substr(address.rfind(':') + 1);
  }

  // A valid SMS is still accepted: the gateway is up and serving.
  static void ExpectStillServing() {
    const auto response = HttpRequestTo(
        gateway_->http_address(), "POST", MessagesPath(), Headers(),
        FormBody({{"From", kMmsLongCode}, {"To", kUsMmsSubscriber}, {"Body", "still here"}}));
    EXPECT_EQ(response.status, 201) << response.body;
  }

  static void RunRestCases(const std::vector<RestCase>& cases) {
    for (const auto& c : cases) {
      SCOPED_TRACE(c.name);
      Fields params = {{"From", kMmsLongCode}, {"To", kUsMmsSubscriber}, {"Body", "hostile"}};
      for (const auto& [name, value] : c.fields) {
        std::erase_if(params, [&](const auto& p) { return p.first == name && name != "MediaUrl"; });
      }
      params.insert(params.end(), c.fields.begin(), c.fields.end());
      const int before = StoredMessages();
      const auto response = HttpRequestTo(gateway_->http_address(), "POST", MessagesPath(),
                                          Headers(), FormBody(params));
      EXPECT_EQ(response.status, c.http_status) << response.body.substr(0, 300);
      const auto body = nlohmann::json::parse(response.body, nullptr, false);
      ASSERT_FALSE(body.is_discarded()) << response.body.substr(0, 300);
      EXPECT_EQ(body.value("code", 0), c.code) << response.body.substr(0, 300);
      EXPECT_THAT(body.value("message", ""), HasSubstr(c.message_part));
      EXPECT_LE(body.value("message", "").size(), 1000u) << "an error message floods the reply";
      EXPECT_EQ(StoredMessages(), before) << "a refused request stored something";
    }
    ExpectStillServing();
  }

  static MmsgateProcess* gateway_;
  static LocalHttpServer* media_;
};

MmsgateProcess* HostileInputTest::gateway_ = nullptr;
LocalHttpServer* HostileInputTest::media_ = nullptr;

TEST_F(HostileInputTest, RestFieldsMissingEmptyHugeOrMalformed) {
  Fields ten_thousand_media;
  for (int i = 0; i < 10000; ++i) ten_thousand_media.emplace_back("MediaUrl", media_->base_url());
  std::vector<RestCase> cases = {
      {"missing To", {{"To", ""}}, 400, 21604, "'To'"},
      {"missing From", {{"From", ""}}, 400, 21603, "'From'"},
      {"no body, no media", {{"Body", ""}}, 400, 21602, "body"},
      {"100 KB body", {{"Body", std::string(100 * 1024, 'a')}}, 400, 21617, "1600"},
      // Over the facade's request limit: refused by the HTTP layer before it is decoded.
      {"1 MB body", {{"Body", std::string(1 << 20, 'a')}}, 413, 413, "limit of 1048576 bytes"},
      {"10,000 MediaUrl", ten_thousand_media, 400, 21623, "at most 10"},
      {"100 KB phone number", {{"To", "+1" + std::string(100 * 1024, '2')}}, 400, 21211, "'To'"},
      {"invalid UTF-8 body", {{"Body", "caf\xc3"}}, 400, 21200, "UTF-8"},
      {"NUL in To", {{"To", std::string("+12025550142\0", 13)}}, 400, 21211, "'To'"},
      {"control characters in To", {{"To", "+1202\x01\x02"}}, 400, 21211, "'To'"},
      {"wrong type: ValidityPeriod", {{"ValidityPeriod", "soon"}}, 400, 90007, "ValidityPeriod"},
      {"status callback not a URL",
       {{"StatusCallback", "ftp://x/y"}},
       400,
       21609,
       "StatusCallback"},
  };
  RunRestCases(cases);
}

TEST_F(HostileInputTest, RestMediaUrlsThatMustNotBeFetched) {
  const std::string port = OwnHttpPort();
  const std::string own_metrics = "http://127.0.0.1:" + port + "/metrics";
  std::vector<RestCase> cases = {
      {"file:// scheme", {{"MediaUrl", "file:///etc/passwd"}}, 400, 21620, "http://"},
      {"ftp:// scheme", {{"MediaUrl", "ftp://127.0.0.1/a.png"}}, 400, 21620, "http://"},
      {"gopher:// scheme", {{"MediaUrl", "gopher://127.0.0.1:70/_x"}}, 400, 21620, "http://"},
      {"cloud metadata",
       {{"MediaUrl", "http://169.254.169.254/latest/meta-data/"}},
       400,
       21620,
       "metadata"},
      {"link-local", {{"MediaUrl", "http://169.254.10.10/a.png"}}, 400, 21620, "link-local"},
      {"own /metrics", {{"MediaUrl", own_metrics}}, 400, 21620, "own listener"},
      {"own listener as 0x7f000001",
       {{"MediaUrl", "http://0x7f000001:" + port + "/metrics"}},
       400,
       21620,
       "own listener"},
      {"own listener as 2130706433",
       {{"MediaUrl", "http://2130706433:" + port + "/metrics"}},
       400,
       21620,
       "own listener"},
      {"own listener as 127.1",
       {{"MediaUrl", "http://127.1:" + port + "/metrics"}},
       400,
       21620,
       "own listener"},
      {"own listener as localhost",
       {{"MediaUrl", "http://localhost:" + port + "/metrics"}},
       400,
       21620,
       "own listener"},
      {"own listener as [::ffff:127.0.0.1]",
       {{"MediaUrl", "http://[::ffff:127.0.0.1]:" + port + "/metrics"}},
       400,
       21620,
       "own listener"},
      {"unspecified address",
       {{"MediaUrl", "http://0.0.0.0:" + port + "/metrics"}},
       400,
       21620,
       "not a destination"},
      {"redirect to own /metrics",
       {{"MediaUrl", media_->base_url() + "/redirect?to=" + own_metrics}},
       400,
       21620,
       "was redirected to"},
      {"redirect to metadata",
       {{"MediaUrl", media_->base_url() + "/redirect?to=http://169.254.169.254/"}},
       400,
       21620,
       "metadata"},
      {"redirect to file://",
       {{"MediaUrl", media_->base_url() + "/redirect?to=file:///etc/passwd"}},
       400,
       21620,
       "redirect"},
      {"0-byte media", {{"MediaUrl", media_->base_url() + "/empty.png"}}, 400, 21620, "empty"},
      {"oversize media", {{"MediaUrl", media_->base_url() + "/huge.png"}}, 400, 11751, "5 MB"},
  };
  RunRestCases(cases);
  // A media URL on the media server itself is fine: loopback stays allowed.
  const auto ok = HttpRequestTo(gateway_->http_address(), "POST", MessagesPath(), Headers(),
                                FormBody({{"From", kMmsLongCode},
                                          {"To", kUsMmsSubscriber},
                                          {"MediaUrl", media_->base_url() + "/a.png"}}));
  EXPECT_EQ(ok.status, 201) << ok.body;
}

TEST_F(HostileInputTest, GrpcMediaUrlsPointingBackAreRefusedToo) {
  auto messaging = v1::Messaging::NewStub(gateway_->Channel());
  const std::string grpc_port =
      gateway_->grpc_address().substr(gateway_->grpc_address().rfind(':') + 1);
  for (const std::string& url :
       {"http://127.0.0.1:" + OwnHttpPort() + "/metrics", "http://127.0.0.1:" + grpc_port + "/",
        std::string("http://169.254.169.254/")}) {
    SCOPED_TRACE(url);
    const int before = StoredMessages();
    v1::SendMessageRequest request;
    request.set_from(kMmsLongCode);
    request.set_to(kUsMmsSubscriber);
    request.add_media_url(url);
    v1::Message message;
    auto context = gateway_->Context();
    const auto status = messaging->SendMessage(context.get(), request, &message);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("21620: media URL " + url));
    EXPECT_EQ(StoredMessages(), before);
  }
}

TEST_F(HostileInputTest, RestAuthenticationAndEncodingOfTheRequestItself) {
  struct Case {
    std::string name;
    std::map<std::string, std::string> headers;
    std::string body;
    int http_status;
    int code;
  };
  const auto form = Headers().at("Content-Type");
  const std::string valid =
      FormBody({{"From", kMmsLongCode}, {"To", kUsMmsSubscriber}, {"Body", "x"}});
  const std::vector<Case> cases = {
      {"no credentials", {{"Content-Type", form}}, valid, 401, 20003},
      {"Basic with no colon",
       {{"Authorization", "Basic " + absl::Base64Escape("nocolon")}, {"Content-Type", form}},
       valid,
       401,
       20003},
      {"Basic that is not base64",
       {{"Authorization", "Basic !!!***"}, {"Content-Type", form}},
       valid,
       401,
       20003},
      {"a different scheme",
       {{"Authorization", "Bearer abc"}, {"Content-Type", form}},
       valid,
       401,
       20003},
      {"malformed percent-escape", Headers(), valid + "&Body=%G1", 400, 21200},
      {"truncated percent-escape", Headers(), valid + "&Body=%4", 400, 21200},
      {"JSON body",
       {{"Authorization", Headers().at("Authorization")}, {"Content-Type", "application/json"}},
       R"({"From":"+12025550100"})",
       400,
       21200},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const int before = StoredMessages();
    const auto response =
        HttpRequestTo(gateway_->http_address(), "POST", MessagesPath(), c.headers, c.body);
    EXPECT_EQ(response.status, c.http_status) << response.body;
    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << response.body;
    EXPECT_EQ(body.value("code", 0), c.code) << response.body;
    EXPECT_EQ(StoredMessages(), before);
  }
  ExpectStillServing();
}

// Raw bytes on a socket: what no well-behaved client library would send.
std::string RawExchange(const std::string& host_port, const std::string& bytes) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  const auto colon = host_port.rfind(':');
  boost::asio::ip::tcp::resolver resolver(io);
  boost::asio::connect(socket,
                       resolver.resolve(host_port.substr(0, colon), host_port.substr(colon + 1)));
  boost::asio::write(socket, boost::asio::buffer(bytes));
  socket.shutdown(boost::asio::ip::tcp::socket::shutdown_send);
  std::string answer;
  boost::system::error_code ec;
  boost::asio::read(socket, boost::asio::dynamic_buffer(answer), ec);
  return answer;
}

TEST_F(HostileInputTest, RestHugeHeadersAndTruncatedBodies) {
  const std::string auth = Headers().at("Authorization");
  const int before = StoredMessages();
  // 64 KB of header: refused before any of it is believed.
  const std::string huge_header = RawExchange(
      gateway_->http_address(),
      "POST " + MessagesPath() + " HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') +
          "\r\nAuthorization: " + auth + "\r\nContent-Length: 0\r\n\r\n");
  EXPECT_THAT(huge_header, HasSubstr("HTTP/1.1 431"));
  EXPECT_THAT(huge_header, HasSubstr("\"code\":431"));
  // A body shorter than its Content-Length, then the client goes away: nothing is created.
  const std::string body =
      FormBody({{"From", kMmsLongCode}, {"To", kUsMmsSubscriber}, {"Body", "cut short"}});
  const std::string truncated =
      RawExchange(gateway_->http_address(),
                  "POST " + MessagesPath() + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth +
                      "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
                      std::to_string(body.size() + 50) + "\r\n\r\n" + body);
  EXPECT_THAT(truncated, ::testing::Not(HasSubstr("201 Created")));
  EXPECT_EQ(StoredMessages(), before);
  ExpectStillServing();
}

// Raw bytes to a method by name, as a hand-written client would send them.
grpc::Status RawCall(MmsgateProcess& gateway, const std::string& method, const std::string& bytes) {
  grpc::GenericStub generic(gateway.Channel());
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  auto context = gateway.Context();
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(context.get(), method, grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      std::lock_guard lock(mutex);
                      status = s;
                      done = true;
                      cv.notify_one();
                    });
  std::unique_lock lock(mutex);
  cv.wait(lock, [&] { return done; });
  return status;
}

// Every RPC of every service: bytes protobuf cannot parse, and an enum number no value names,
// get INVALID_ARGUMENT with 21200 and a message saying what is wrong.
TEST_F(HostileInputTest, GrpcGarbageAndUnknownEnumValuesGetACodeOnEveryMethod) {
  const int before = StoredMessages();
  int methods = 0;
  for (const auto* service :
       {v1::SendMessageRequest::descriptor()->file()->FindServiceByName("Messaging"),
        v1::UpsertCarrierRequest::descriptor()->file()->FindServiceByName("Simulator"),
        v1::ProvisionNumberRequest::descriptor()->file()->FindServiceByName("Accounts")}) {
    ASSERT_NE(service, nullptr);
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string method = "/" + service->full_name() + "/" + service->method(i)->name();
      SCOPED_TRACE(method);
      ++methods;
      // Field 1 declared 200 bytes long, then the buffer ends.
      const auto status = RawCall(*gateway_, method,
                                  std::string("\x0a\xc8\x01"
                                              "abc",
                                              6));
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_THAT(status.error_message(), HasSubstr("21200: the request is not a valid"));
    }
  }
  EXPECT_EQ(methods, 34);
  // ListMessagesRequest.status (field 3) = 99.
  auto status =
      RawCall(*gateway_, "/mmsgate.v1.Messaging/ListMessages", std::string("\x18\x63", 2));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("21200: ListMessagesRequest.status = 99 is not a value of its enum"));
  // The same through the generated stub, nested: a number's type in ProvisionNumber.
  auto accounts = v1::Accounts::NewStub(gateway_->Channel());
  v1::ProvisionNumberRequest provision;
  provision.mutable_number()->set_number("+12025550188");
  provision.mutable_number()->set_type(static_cast<v1::NumberType>(42));
  v1::Number number;
  auto context = gateway_->Context();
  status = accounts->ProvisionNumber(context.get(), provision, &number);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("ProvisionNumberRequest.number.type = 42"));
  EXPECT_EQ(StoredMessages(), before);
  ExpectStillServing();
}

// The provider's "Enforce HTTP Auth on Media URLs": off, a media item's content URL is public
// (its SIDs are unguessable); on, only the owning account's credentials read it.
TEST_F(HostileInputTest, MediaContentNeedsTheAccountsCredentialsWhenItEnforcesMediaAuth) {
  auto messaging = v1::Messaging::NewStub(gateway_->Channel());
  auto accounts = v1::Accounts::NewStub(gateway_->Channel());
  v1::SendMessageRequest mms;
  mms.set_from(kMmsLongCode);
  mms.set_to(kUsMmsSubscriber);
  auto* media = mms.add_media();
  media->set_content_type("image/png");
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + "private picture";
  media->set_data(png);
  v1::Message sent;
  ASSERT_TRUE(messaging->SendMessage(gateway_->Context().get(), mms, &sent).ok());
  ASSERT_EQ(sent.media_size(), 1);
  const std::string content = std::string("/2010-04-01/Accounts/") + kAccountSid + "/Messages/" +
                              sent.sid() + "/Media/" + sent.media(0).sid();
  const auto basic = [](const std::string& sid, const std::string& token) {
    return std::map<std::string, std::string>{
        {"Authorization", "Basic " + absl::Base64Escape(sid + ":" + token)}};
  };
  const auto set_media_auth = [&](bool on) {
    v1::UpdateAccountSettingsRequest request;
    request.mutable_settings()->set_enforce_media_auth(on);
    v1::Account account;
    ASSERT_TRUE(accounts->UpdateAccountSettings(gateway_->Context().get(), request, &account).ok());
    EXPECT_EQ(account.settings().enforce_media_auth(), on);
  };

  auto response = HttpRequestTo(gateway_->http_address(), "GET", content);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, png);

  set_media_auth(true);
  response = HttpRequestTo(gateway_->http_address(), "GET", content);
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.headers["www-authenticate"], "Basic realm=\"mmsgate\"");
  EXPECT_EQ(nlohmann::json::parse(response.body).value("code", 0), 20003);
  EXPECT_THAT(response.body, ::testing::Not(HasSubstr("private picture")));
  // Another account's valid credentials are not this account's.
  response = HttpRequestTo(gateway_->http_address(), "GET", content,
                           basic(kNoConversionAccountSid, kNoConversionAuthToken));
  EXPECT_EQ(response.status, 401);
  response =
      HttpRequestTo(gateway_->http_address(), "GET", content, basic(kAccountSid, "wrong-token"));
  EXPECT_EQ(response.status, 401);
  response =
      HttpRequestTo(gateway_->http_address(), "GET", content, basic(kAccountSid, kAuthToken));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, png);

  set_media_auth(false);
  EXPECT_EQ(HttpRequestTo(gateway_->http_address(), "GET", content).status, 200);
}

}  // namespace
}  // namespace mmsgate::testing
