// Inbound messages, webhooks, TwiML replies, status callbacks and the Accounts service over the
// real binary, with the application played by a local webhook receiver inside the test.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/asio/steady_timer.hpp>
#include <map>
#include <thread>

#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
namespace http = boost::beast::http;
using ::testing::HasSubstr;
using Params = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kAccount = "AC1111111111111111111111111111abcd";
constexpr const char* kToken = "inbound-test-auth-token";
constexpr const char* kAppNumber = "+12025550100";          // sms_url: /inbound
constexpr const char* kBadTwimlNumber = "+12025550111";     // sms_url: /bad-twiml
constexpr const char* kSlowNumber = "+12025550122";         // sms_url: /slow
constexpr const char* kSmsOnlyAppNumber = "+12025550133";   // no MMS; sms_url: /inbound
constexpr const char* kSubscriber = "+12025550188";         // on an MMS carrier
constexpr const char* kSmsOnlySubscriber = "+12065550188";  // on a carrier without MMS
constexpr const char* kCanadianSubscriber = "+14165550188";
constexpr const char* kUkSubscriber = "+447400123456";

// Independent of the gateway's code: the form decoding and signature a receiving application
// would do (the provider's algorithm, from its documentation).
std::string PercentDecode(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

Params ParseForm(const std::string& body) {
  Params params;
  std::size_t start = 0;
  while (start <= body.size() && !body.empty()) {
    const auto amp = body.find('&', start);
    const std::string pair =
        body.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    const auto eq = pair.find('=');
    params.emplace_back(PercentDecode(pair.substr(0, eq)),
                        eq == std::string::npos ? "" : PercentDecode(pair.substr(eq + 1)));
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return params;
}

std::string ExpectedSignature(const std::string& url, Params params) {
  std::sort(params.begin(), params.end());
  std::string data = url;
  for (const auto& [key, value] : params) data += key + value;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha1(), kToken, static_cast<int>(std::strlen(kToken)),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &length);
  std::string encoded(4 * ((length + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), mac,
                                static_cast<int>(length));
  encoded.resize(static_cast<std::size_t>(n));
  return encoded;
}

std::string Param(const Params& params, const std::string& key) {
  for (const auto& [k, v] : params) {
    if (k == key) return v;
  }
  return "<absent>";
}

struct Received {
  std::string path;
  std::string signature;
  std::string content_type;
  Params params;
};

// The application: records every request; answers /inbound with the TwiML the test sets.
class Application {
 public:
  Application()
      : server_([this](gateway::HttpRequest request,
                       std::function<void(gateway::HttpResponse)> respond) {
          Handle(std::move(request), std::move(respond));
        }) {}
  ~Application() {
    timer_guard_.reset();
    timer_io_.stop();
    if (timer_thread_.joinable()) timer_thread_.join();
  }

  std::string Url(const std::string& path) const { return server_.base_url() + path; }
  void SetTwiml(std::string twiml) {
    std::lock_guard lock(mutex_);
    twiml_ = std::move(twiml);
  }
  std::vector<Received> Requests(const std::string& path) {
    std::lock_guard lock(mutex_);
    std::vector<Received> matching;
    for (const auto& request : received_) {
      if (request.path == path) matching.push_back(request);
    }
    return matching;
  }
  // Waits (bounded) for `count` requests on `path`.
  std::vector<Received> AwaitRequests(const std::string& path, std::size_t count,
                                      int seconds = 20) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (Requests(path).size() < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Requests(path);
  }
  const std::string& png() const { return png_; }
  const std::string& jpeg() const { return jpeg_; }

 private:
  void Handle(gateway::HttpRequest request, std::function<void(gateway::HttpResponse)> respond) {
    const std::string path(request.target());
    gateway::HttpResponse response(http::status::ok, request.version());
    if (request.method() == http::verb::post) {
      std::lock_guard lock(mutex_);
      received_.push_back({path, std::string(request["X-Twilio-Signature"]),
                           std::string(request[http::field::content_type]),
                           ParseForm(request.body())});
    }
    if (path == "/inbound") {
      std::lock_guard lock(mutex_);
      response.set(http::field::content_type, "text/xml");
      response.body() = twiml_;
    } else if (path == "/bad-twiml") {
      response.set(http::field::content_type, "text/xml");
      response.body() = "<Response><Message>unclosed";
    } else if (path == "/slow") {
      auto timer = std::make_shared<boost::asio::steady_timer>(timer_io_, std::chrono::seconds(5));
      response.body() = "<Response/>";
      response.prepare_payload();
      timer->async_wait([timer, respond, response](const boost::system::error_code&) mutable {
        respond(std::move(response));
      });
      return;
    } else if (path == "/media/a.png") {
      response.set(http::field::content_type, "image/png");
      response.body() = png_;
    } else if (path == "/media/b.jpg") {
      response.set(http::field::content_type, "image/jpeg");
      response.body() = jpeg_;
    }
    response.prepare_payload();
    respond(std::move(response));
  }

  std::string png_ = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(3000, 'p');
  std::string jpeg_ = std::string("\xff\xd8\xff", 3) + std::string(5000, 'j');
  std::mutex mutex_;
  std::string twiml_ = "<Response/>";
  std::vector<Received> received_;
  LocalHttpServer server_;
  boost::asio::io_context timer_io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> timer_guard_ =
      boost::asio::make_work_guard(timer_io_);
  std::thread timer_thread_{[this] { timer_io_.run(); }};
};

class InboundTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string account = std::string("\"") + kAccount + "\"";
    auto number = [&](const std::string& e164, const std::string& path, bool mms) {
      return "numbers { number: \"" + e164 + "\" account_sid: " + account +
             " type: LONG_CODE country: \"US\" capabilities { sms: true mms: " +
             (mms ? "true" : "false") + " } sms_url: \"" + app_.Url(path) + "\" }\n";
    };
    MmsgateProcess::Options options;
    options.scenario_text =
        "accounts { sid: " + account + " auth_token: \"" + kToken + "\" }\n" +
        R"pb(carriers {
               id: "mmsnet"
               country: "US"
               prefixes: "+1202555"
               supports_mms: true
               latency { median_ms: 10 }
             }
             carriers {
               id: "plainnet"
               country: "US"
               prefixes: "+1206555"
               supports_mms: false
               latency { median_ms: 10 }
             }
             carriers {
               id: "maple"
               country: "CA"
               default_for_country: true
               supports_mms: true
               latency { median_ms: 10 }
             }
             carriers {
               id: "albion"
               country: "GB"
               default_for_country: true
               supports_mms: true
               latency { median_ms: 10 }
             }
        )pb" +
        number(kAppNumber, "/inbound", true) + number(kBadTwimlNumber, "/bad-twiml", true) +
        number(kSlowNumber, "/slow", true) + number(kSmsOnlyAppNumber, "/inbound", false) +
        "numbers { number: \"55501\" account_sid: " + account +
        " type: SHORT_CODE country: \"US\" capabilities { sms: true } }\n"
        "simulation { time_scale: 10 seed: 1 disable_sender_rate_limits: true "
        "webhook_timeout_ms: 300 }\n";
    gateway_ = MmsgateProcess::Start(options);
    channel_ = gateway_->Channel();
    messaging_ = v1::Messaging::NewStub(channel_);
    simulator_ = v1::Simulator::NewStub(channel_);
    accounts_ = v1::Accounts::NewStub(channel_);
  }
  void TearDown() override {
    messaging_.reset();
    simulator_.reset();
    accounts_.reset();
    channel_.reset();
    EXPECT_EQ(gateway_->Stop(), 0) << gateway_->Log();
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    return MmsgateProcess::ContextFor(kAccount, kToken);
  }

  grpc::Status HandsetSends(const std::string& from, const std::string& to, const std::string& body,
                            std::vector<std::pair<std::string, std::string>> media,
                            v1::Message* message) {
    v1::HandsetSend send;
    send.set_from(from);
    send.set_to(to);
    send.set_body(body);
    for (auto& [type, data] : media) {
      auto* item = send.add_media();
      item->set_content_type(type);
      item->set_data(data);
    }
    auto context = Context();
    return simulator_->SendFromHandset(context.get(), send, message);
  }

  v1::Message Get(const std::string& sid) {
    v1::GetMessageRequest request;
    request.set_sid(sid);
    v1::Message message;
    auto context = Context();
    EXPECT_TRUE(messaging_->GetMessage(context.get(), request, &message).ok());
    return message;
  }

  // Polls the message until `done` holds (bounded).
  v1::Message AwaitMessage(const std::string& sid, std::function<bool(const v1::Message&)> done,
                           int seconds = 20) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    v1::Message message = Get(sid);
    while (!done(message) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      message = Get(sid);
    }
    return message;
  }

  std::vector<v1::HandsetMessage> AwaitInbox(const std::string& number, std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    v1::HandsetInbox inbox;
    do {
      v1::GetHandsetInboxRequest request;
      request.set_number(number);
      auto context = Context();
      EXPECT_TRUE(simulator_->GetHandsetInbox(context.get(), request, &inbox).ok());
      if (static_cast<std::size_t>(inbox.messages_size()) >= count) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    return {inbox.messages().begin(), inbox.messages().end()};
  }

  Application app_;
  std::unique_ptr<MmsgateProcess> gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
  std::unique_ptr<v1::Accounts::Stub> accounts_;
};

TEST_F(InboundTest, InboundMmsReachesTheWebhookSignedWithWorkingMediaUrls) {
  v1::Message received;
  ASSERT_TRUE(
      HandsetSends(kSubscriber, kAppNumber, "hello app ✓", {{"image/png", app_.png()}}, &received)
          .ok());
  EXPECT_EQ(received.status(), v1::RECEIVED);
  EXPECT_EQ(received.direction(), v1::INBOUND);
  EXPECT_THAT(received.sid(), ::testing::MatchesRegex("MM[0-9a-f]{32}"));

  const auto hooks = app_.AwaitRequests("/inbound", 1);
  ASSERT_EQ(hooks.size(), 1u);
  const Received& hook = hooks[0];
  EXPECT_THAT(hook.content_type, ::testing::StartsWith("application/x-www-form-urlencoded"));
  EXPECT_EQ(Param(hook.params, "MessageSid"), received.sid());
  EXPECT_EQ(Param(hook.params, "AccountSid"), kAccount);
  EXPECT_EQ(Param(hook.params, "From"), kSubscriber);
  EXPECT_EQ(Param(hook.params, "To"), kAppNumber);
  EXPECT_EQ(Param(hook.params, "Body"), "hello app ✓");
  EXPECT_EQ(Param(hook.params, "NumMedia"), "1");
  EXPECT_EQ(Param(hook.params, "NumSegments"), "1");
  EXPECT_EQ(Param(hook.params, "FromCountry"), "US");
  EXPECT_EQ(Param(hook.params, "ToCountry"), "US");
  EXPECT_EQ(Param(hook.params, "MediaContentType0"), "image/png");
  // The signature verifies with the application's own HMAC-SHA1.
  EXPECT_EQ(hook.signature, ExpectedSignature(app_.Url("/inbound"), hook.params));
  // MediaUrl0 serves the bytes the handset sent.
  HttpResult media = HttpGetUrl(Param(hook.params, "MediaUrl0"));
  EXPECT_EQ(media.status, 200);
  EXPECT_EQ(media.headers["content-type"], "image/png");
  EXPECT_EQ(media.body, app_.png());
  // The attempt is on record.
  const auto stored = AwaitMessage(
      received.sid(), [](const v1::Message& m) { return m.webhook_attempts_size() > 0; });
  ASSERT_EQ(stored.webhook_attempts_size(), 1);
  EXPECT_EQ(stored.webhook_attempts(0).http_status(), 200);
  EXPECT_EQ(stored.webhook_attempts(0).kind(), v1::WebhookAttempt::INBOUND_WEBHOOK);
}

TEST_F(InboundTest, TwimlReplyWithBodyAndTwoMediaComesBackAsMmsOrSmsWithLink) {
  app_.SetTwiml("<Response><Message><Body>Here you go</Body><Media>" + app_.Url("/media/a.png") +
                "</Media><Media>" + app_.Url("/media/b.jpg") + "</Media></Message></Response>");
  v1::Message received;
  ASSERT_TRUE(HandsetSends(kSubscriber, kAppNumber, "send pics", {}, &received).ok());
  auto inbox = AwaitInbox(kSubscriber, 1);
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0].kind(), v1::HandsetMessage::MMS);
  EXPECT_EQ(inbox[0].text(), "Here you go");
  EXPECT_EQ(inbox[0].from(), kAppNumber);
  ASSERT_EQ(inbox[0].media_size(), 2);
  EXPECT_EQ(inbox[0].media(0).sha256(), Sha256Hex(app_.png()));
  EXPECT_EQ(inbox[0].media(1).sha256(), Sha256Hex(app_.jpeg()));
  const auto reply = Get(inbox[0].message_sid());
  EXPECT_EQ(reply.direction(), v1::OUTBOUND_REPLY);
  EXPECT_EQ(reply.reply_to_sid(), received.sid());

  // A subscriber whose carrier lacks MMS gets the same reply as an SMS with a working link.
  ASSERT_TRUE(HandsetSends(kSmsOnlySubscriber, kAppNumber, "send pics", {}, &received).ok());
  inbox = AwaitInbox(kSmsOnlySubscriber, 1);
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0].kind(), v1::HandsetMessage::SMS);
  ASSERT_THAT(inbox[0].text(), ::testing::StartsWith("Here you go\nhttp://"));
  const std::string link = inbox[0].text().substr(inbox[0].text().find('\n') + 1);
  HttpResult page = HttpGetUrl(link);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(HttpGetUrl(link + "/1").body, app_.jpeg());
}

TEST_F(InboundTest, EveryRefusedReplyIsRecordedEvenWhenTheyAreRefusedAtOnce) {
  // Ten replies from a number the account does not own: each is refused (21606), and each
  // refusal is added to the inbound message's record. They used to be written by concurrent
  // read-modify-writes of the same record, and some were lost.
  std::string twiml = "<Response>";
  for (int i = 0; i < 10; ++i) {
    twiml += "<Message from=\"+12025550177\">reply " + std::to_string(i) + "</Message>";
  }
  app_.SetTwiml(twiml + "</Response>");
  v1::Message received;
  ASSERT_TRUE(HandsetSends(kSubscriber, kAppNumber, "many replies", {}, &received).ok());
  auto count = [](const v1::Message& m) {
    int n = 0;
    for (auto at = m.error_message().find("was refused"); at != std::string::npos;
         at = m.error_message().find("was refused", at + 1)) {
      ++n;
    }
    return n;
  };
  const auto recorded = AwaitMessage(
      received.sid(), [&](const v1::Message& m) { return count(m) >= 10; }, 10);
  EXPECT_EQ(count(recorded), 10) << recorded.error_message();
  EXPECT_EQ(recorded.error_code(), 21606);
  for (int i = 1; i <= 10; ++i) {
    EXPECT_THAT(recorded.error_message(), HasSubstr("reply " + std::to_string(i) + " was refused"));
  }
}

TEST_F(InboundTest, ShortCodeSendersAreRefused) {
  v1::Message received;
  grpc::Status status = HandsetSends("55599", kAppNumber, "from a short code", {}, &received);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("short code"));
  EXPECT_TRUE(app_.Requests("/inbound").empty());
}

TEST_F(InboundTest, MmsFromAbroadIsRecordedWith30011AndItsMediaAreNotDelivered) {
  v1::Message received;
  ASSERT_TRUE(HandsetSends(kUkSubscriber, kAppNumber, "photo from London",
                           {{"image/png", app_.png()}}, &received)
                  .ok());
  EXPECT_EQ(received.error_code(), 30011);
  EXPECT_EQ(received.num_media(), 0);
  const auto hooks = app_.AwaitRequests("/inbound", 1);
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(Param(hooks[0].params, "NumMedia"), "0");
  EXPECT_EQ(Param(hooks[0].params, "Body"), "photo from London");
  EXPECT_EQ(Param(hooks[0].params, "FromCountry"), "GB");
  EXPECT_EQ(Param(hooks[0].params, "MediaUrl0"), "<absent>");
  // A Canadian long code's MMS does arrive with its media.
  ASSERT_TRUE(HandsetSends(kCanadianSubscriber, kAppNumber, "from Toronto",
                           {{"image/png", app_.png()}}, &received)
                  .ok());
  EXPECT_EQ(received.num_media(), 1);
  EXPECT_EQ(received.error_code(), 0);
}

TEST_F(InboundTest, StatusCallbacksArriveSignedAndInOrder) {
  v1::SendMessageRequest request;
  request.set_from(kAppNumber);
  request.set_to(kSubscriber);
  request.set_body("tracked");
  request.set_status_callback(app_.Url("/status?run=1"));
  v1::Message sent;
  auto context = Context();
  ASSERT_TRUE(messaging_->SendMessage(context.get(), request, &sent).ok());
  const auto callbacks = app_.AwaitRequests("/status?run=1", 3);
  std::vector<std::string> statuses;
  for (const auto& callback : callbacks) {
    EXPECT_EQ(Param(callback.params, "MessageSid"), sent.sid());
    EXPECT_EQ(callback.signature, ExpectedSignature(app_.Url("/status?run=1"), callback.params));
    statuses.push_back(Param(callback.params, "MessageStatus"));
  }
  EXPECT_THAT(statuses, ::testing::ElementsAre("sending", "sent", "delivered"));
}

TEST_F(InboundTest, MalformedTwimlAndATimedOutWebhookLeaveAClearRecord) {
  v1::Message bad;
  ASSERT_TRUE(HandsetSends(kSubscriber, kBadTwimlNumber, "hi", {}, &bad).ok());
  const auto recorded =
      AwaitMessage(bad.sid(), [](const v1::Message& m) { return m.error_code() != 0; });
  EXPECT_EQ(recorded.error_code(), 12100);
  EXPECT_THAT(recorded.error_message(), HasSubstr("TwiML"));

  v1::Message slow;
  ASSERT_TRUE(HandsetSends(kSubscriber, kSlowNumber, "hi", {}, &slow).ok());
  const auto timed_out =
      AwaitMessage(slow.sid(), [](const v1::Message& m) { return m.error_code() != 0; });
  EXPECT_EQ(timed_out.error_code(), 11200);
  EXPECT_THAT(timed_out.error_message(), HasSubstr("/slow"));
  ASSERT_EQ(timed_out.webhook_attempts_size(), 3);
  for (const auto& attempt : timed_out.webhook_attempts()) {
    EXPECT_EQ(attempt.http_status(), 0);
    EXPECT_FALSE(attempt.error().empty());
  }
  // Nothing crashed: the gateway still answers, and nothing was sent back to the subscriber.
  EXPECT_TRUE(AwaitInbox(kSubscriber, 0).empty());
  HttpResult health = HttpRequestTo(gateway_->http_address(), "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
}

TEST_F(InboundTest, ProvisioningFollowsRuleOneAndShortCodeMmsCostsAFee) {
  auto provision = [&](const std::string& number, v1::NumberType type, const std::string& country,
                       bool mms, v1::Number* out) {
    v1::ProvisionNumberRequest request;
    auto* n = request.mutable_number();
    n->set_number(number);
    n->set_type(type);
    n->set_country(country);
    n->mutable_capabilities()->set_sms(true);
    n->mutable_capabilities()->set_mms(mms);
    auto context = Context();
    return accounts_->ProvisionNumber(context.get(), request, out);
  };
  v1::Number number;
  grpc::Status status = provision("66601", v1::SHORT_CODE, "CA", true, &number);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("MMS"));
  status = provision("+447400123457", v1::LONG_CODE, "GB", true, &number);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(provision("+14165550177", v1::LONG_CODE, "CA", true, &number).ok());
  EXPECT_THAT(number.sid(), ::testing::MatchesRegex("PN[0-9a-f]{32}"));

  v1::EnableShortCodeMmsRequest enable;
  enable.set_number("55501");
  auto context = Context();
  ASSERT_TRUE(accounts_->EnableShortCodeMms(context.get(), enable, &number).ok());
  EXPECT_TRUE(number.capabilities().mms());
  v1::Usage usage;
  context = Context();
  ASSERT_TRUE(accounts_->GetUsage(context.get(), {}, &usage).ok());
  int64_t fee = -1;
  for (const auto& entry : usage.entries()) {
    if (entry.category() == "shortcode-mms-enablement") fee = entry.price_cents();
  }
  EXPECT_GT(fee, 0);
  // Enabling it again charges nothing more.
  context = Context();
  ASSERT_TRUE(accounts_->EnableShortCodeMms(context.get(), enable, &number).ok());
  context = Context();
  ASSERT_TRUE(accounts_->GetUsage(context.get(), {}, &usage).ok());
  for (const auto& entry : usage.entries()) {
    if (entry.category() == "shortcode-mms-enablement") {
      EXPECT_EQ(entry.price_cents(), fee);
    }
  }
  // Enabling MMS on a long code is refused.
  enable.set_number(kSmsOnlyAppNumber);
  context = Context();
  EXPECT_EQ(accounts_->EnableShortCodeMms(context.get(), enable, &number).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

}  // namespace
}  // namespace mmsgate::testing
