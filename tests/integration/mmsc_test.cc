// The MMSC stage over the real binary: media fetched from a local HTTP server, MMS delivered
// intact, SMS-plus-link fallbacks whose links really work, de-duplication, retention, and
// every media error with its code and nothing stored.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <random>
#include <regex>
#include <thread>

#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
namespace http = boost::beast::http;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string RandomBytes(std::size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string bytes(size, '\0');
  for (auto& b : bytes) b = static_cast<char>(random());
  return bytes;
}

// The test's own media server: fixed files, redirects, errors, a slow path and a lying size.
class MediaServer {
 public:
  MediaServer()
      : png_(RandomBytes(120 * 1024, 11)),
        jpeg_(RandomBytes(64 * 1024, 12)),
        server_([this](gateway::HttpRequest request,
                       std::function<void(gateway::HttpResponse)> respond) {
          Handle(std::move(request), std::move(respond));
        }) {}

  ~MediaServer() {
    timer_guard_.reset();
    timer_io_.stop();
    if (timer_thread_.joinable()) timer_thread_.join();
  }

  std::string Url(const std::string& path) const { return server_.base_url() + path; }
  const std::string& png() const { return png_; }
  const std::string& jpeg() const { return jpeg_; }
  int requests() const { return requests_.load(); }

 private:
  void Handle(gateway::HttpRequest request, std::function<void(gateway::HttpResponse)> respond) {
    ++requests_;
    const std::string target(request.target());
    auto reply = [&](http::status status, const std::string& type, std::string body) {
      gateway::HttpResponse response(status, request.version());
      if (!type.empty()) response.set(http::field::content_type, type);
      response.body() = std::move(body);
      response.prepare_payload();
      return response;
    };
    if (target == "/cat.png") return respond(reply(http::status::ok, "image/png", png_));
    if (target == "/dog.jpg") {
      return respond(reply(http::status::ok, "image/jpeg; charset=binary", jpeg_));
    }
    if (target == "/moved.png") {
      auto response = reply(http::status::found, "text/plain", "");
      response.set(http::field::location, "/cat.png");
      return respond(std::move(response));
    }
    if (target == "/loop") {
      auto response = reply(http::status::found, "text/plain", "");
      response.set(http::field::location, "/loop");
      return respond(std::move(response));
    }
    if (target == "/page.html") {
      return respond(reply(http::status::ok, "text/html", "<html></html>"));
    }
    if (target == "/big.jpg") {
      return respond(reply(http::status::ok, "image/jpeg", std::string(6 * 1024 * 1024, 'b')));
    }
    if (target == "/slow.png") {
      // Answers long after the gateway's fetch timeout.
      auto timer = std::make_shared<boost::asio::steady_timer>(timer_io_);
      timer->expires_after(std::chrono::seconds(5));
      timer->async_wait(
          [timer, respond, response = reply(http::status::ok, "image/png", png_)](
              const boost::system::error_code&) mutable { respond(std::move(response)); });
      return;
    }
    respond(reply(http::status::not_found, "text/plain", "no such file"));
  }

  std::string png_;
  std::string jpeg_;
  std::atomic<int> requests_{0};
  LocalHttpServer server_;
  // Declared after the server so it is destroyed first: its pending handlers hold connections
  // of the server's io_context and must go while that still exists.
  boost::asio::io_context timer_io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> timer_guard_ =
      boost::asio::make_work_guard(timer_io_);
  std::thread timer_thread_{[this] { timer_io_.run(); }};
};

std::string ScenarioWithRetention(int retention_seconds) {
  std::string text = TestScenario();
  const std::string from = "simulation { time_scale: 1.0 seed: 7 }";
  const std::string to =
      "simulation { time_scale: 1.0 seed: 7 media_fetch_timeout_ms: 1500 " +
      (retention_seconds > 0 ? "media_retention_seconds: " + std::to_string(retention_seconds) + " "
                             : std::string()) +
      "}";
  text.replace(text.find(from), from.size(), to);
  return text;
}

class MmscTest : public ::testing::Test {
 protected:
  void StartGateway(int retention_seconds = 0) {
    MmsgateProcess::Options options;
    options.scenario_text = ScenarioWithRetention(retention_seconds);
    gateway_ = MmsgateProcess::Start(options);
    channel_ = gateway_->Channel();
    messaging_ = v1::Messaging::NewStub(channel_);
    simulator_ = v1::Simulator::NewStub(channel_);
  }
  void SetUp() override { StartGateway(); }
  void TearDown() override {
    messaging_.reset();
    simulator_.reset();
    channel_.reset();
    if (gateway_) {
      EXPECT_EQ(gateway_->Stop(), 0) << gateway_->Log();
    }
  }

  grpc::Status Send(const v1::SendMessageRequest& request, v1::Message* message,
                    std::unique_ptr<grpc::ClientContext> context = nullptr) {
    if (!context) context = gateway_->Context();
    return messaging_->SendMessage(context.get(), request, message);
  }

  v1::Message SendOk(const v1::SendMessageRequest& request) {
    v1::Message message;
    grpc::Status status = Send(request, &message);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return message;
  }

  static v1::SendMessageRequest Mms(const std::string& to, std::vector<std::string> urls,
                                    const std::string& body = "media!") {
    v1::SendMessageRequest request;
    request.set_from(kMmsLongCode);
    request.set_to(to);
    request.set_body(body);
    for (auto& url : urls) request.add_media_url(url);
    return request;
  }

  // Waits until the message is final; returns it.
  v1::Message AwaitFinal(const std::string& sid) {
    v1::WatchEventsRequest watch;
    watch.add_message_sids(sid);
    watch.set_send_current(true);
    auto context = gateway_->Context(60);
    auto reader = messaging_->WatchEvents(context.get(), watch);
    v1::Event event;
    v1::Message last;
    while (reader->Read(&event)) {
      last = event.message();
      if (last.status() == v1::DELIVERED || last.status() == v1::UNDELIVERED ||
          last.status() == v1::FAILED) {
        break;
      }
    }
    context->TryCancel();
    return last;
  }

  std::vector<v1::HandsetMessage> Inbox(const std::string& number) {
    v1::GetHandsetInboxRequest request;
    request.set_number(number);
    v1::HandsetInbox inbox;
    auto context = gateway_->Context();
    EXPECT_TRUE(simulator_->GetHandsetInbox(context.get(), request, &inbox).ok());
    return {inbox.messages().begin(), inbox.messages().end()};
  }

  int StoredMessages() {
    v1::ListMessagesRequest request;
    request.set_page_size(1000);
    v1::ListMessagesResponse response;
    auto context = gateway_->Context();
    EXPECT_TRUE(messaging_->ListMessages(context.get(), request, &response).ok());
    return response.messages_size();
  }

  // A metric from /metrics.
  long Metric(const std::string& name) {
    HttpResult result = HttpRequestTo(gateway_->http_address(), "GET", "/metrics");
    std::smatch match;
    std::regex line("\n" + name + " ([0-9]+)");
    if (!std::regex_search(result.body, match, line)) return -1;
    return std::stol(match[1]);
  }

  void ExpectRefused(const v1::SendMessageRequest& request, int code, const std::string& mentions) {
    const int before = StoredMessages();
    const long blobs_before = Metric("mmsgate_media_blobs");
    v1::Message message;
    grpc::Status status = Send(request, &message);
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(status.error_message(), StartsWith(std::to_string(code) + ": "));
    EXPECT_THAT(status.error_message(), HasSubstr(mentions));
    EXPECT_EQ(StoredMessages(), before);
    EXPECT_EQ(Metric("mmsgate_media_blobs"), blobs_before);
  }

  MediaServer media_;
  std::unique_ptr<MmsgateProcess> gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
};

TEST_F(MmscTest, MmsByUrlReachesUsAndCanadianMmsHandsetsWithIdenticalBytes) {
  for (const std::string to : {kUsMmsSubscriber, kCaMmsSubscriber}) {
    const v1::Message sent = SendOk(Mms(to, {media_.Url("/cat.png"), media_.Url("/dog.jpg")}));
    EXPECT_EQ(sent.delivered_as(), v1::MMS) << to;
    EXPECT_EQ(AwaitFinal(sent.sid()).status(), v1::DELIVERED);
    const auto inbox = Inbox(to);
    ASSERT_EQ(inbox.size(), 1u) << to;
    EXPECT_EQ(inbox[0].kind(), v1::HandsetMessage::MMS);
    ASSERT_EQ(inbox[0].media_size(), 2);
    EXPECT_EQ(inbox[0].media(0).content_type(), "image/png");
    EXPECT_EQ(inbox[0].media(0).sha256(), Sha256Hex(media_.png()));
    EXPECT_EQ(inbox[0].media(1).content_type(), "image/jpeg");
    EXPECT_EQ(inbox[0].media(1).sha256(), Sha256Hex(media_.jpeg()));
  }
}

TEST_F(MmscTest, SmsOnlyCarrierGetsSmsWithAWorkingLink) {
  const v1::Message sent = SendOk(Mms(kUsSmsOnlySubscriber, {media_.Url("/cat.png")}, "Look"));
  EXPECT_EQ(sent.delivered_as(), v1::SMS_WITH_LINK);
  EXPECT_EQ(sent.fallback_reason(), v1::CARRIER_NO_MMS);
  EXPECT_EQ(AwaitFinal(sent.sid()).status(), v1::DELIVERED);
  const auto inbox = Inbox(kUsSmsOnlySubscriber);
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0].kind(), v1::HandsetMessage::SMS);
  // Body, newline, absolute link; the link is what the message record says.
  const std::string& text = inbox[0].text();
  ASSERT_THAT(text, StartsWith("Look\nhttp://"));
  const std::string link = text.substr(text.find('\n') + 1);
  EXPECT_EQ(link, sent.link_url());
  EXPECT_EQ(link.find(sent.sid().substr(2)), std::string::npos) << "the token leaks the SID";

  // The link really works: the bytes and their type, HEAD with the length, and ranges.
  HttpResult got = HttpGetUrl(link);
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.headers["content-type"], "image/png");
  EXPECT_EQ(Sha256Hex(got.body), Sha256Hex(media_.png()));
  const std::string target = link.substr(link.find("/m/"));
  HttpResult head = HttpRequestTo(gateway_->http_address(), "HEAD", target);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["content-length"], std::to_string(media_.png().size()));
  EXPECT_TRUE(head.body.empty());
  HttpResult part = HttpGetUrl(link, {{"Range", "bytes=10-19"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, media_.png().substr(10, 10));
  EXPECT_EQ(part.headers["content-range"], "bytes 10-19/" + std::to_string(media_.png().size()));
  HttpResult tail = HttpGetUrl(link, {{"Range", "bytes=-5"}});
  EXPECT_EQ(tail.body, media_.png().substr(media_.png().size() - 5));
  HttpResult beyond = HttpGetUrl(link, {{"Range", "bytes=999999999-"}});
  EXPECT_EQ(beyond.status, 416);

  // Unknown tokens reveal nothing.
  std::string wrong = target;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  HttpResult unknown = HttpRequestTo(gateway_->http_address(), "GET", wrong);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.body.find("MM"), std::string::npos);
}

TEST_F(MmscTest, SeveralMediaBehindOneLinkGetAPageListingEach) {
  const v1::Message sent =
      SendOk(Mms(kUsSmsOnlySubscriber, {media_.Url("/cat.png"), media_.Url("/dog.jpg")}, ""));
  EXPECT_EQ(AwaitFinal(sent.sid()).status(), v1::DELIVERED);
  const auto inbox = Inbox(kUsSmsOnlySubscriber);
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0].text(), sent.link_url()) << "an empty body leaves just the link";
  HttpResult page = HttpGetUrl(sent.link_url());
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.headers["content-type"], StartsWith("text/html"));
  const std::string token_path = sent.link_url().substr(sent.link_url().find("/m/"));
  EXPECT_THAT(page.body, HasSubstr("href=\"" + token_path + "/0\""));
  EXPECT_THAT(page.body, HasSubstr("href=\"" + token_path + "/1\""));
  HttpResult first = HttpGetUrl(sent.link_url() + "/0");
  EXPECT_EQ(first.headers["content-type"], "image/png");
  EXPECT_EQ(Sha256Hex(first.body), Sha256Hex(media_.png()));
  HttpResult second = HttpGetUrl(sent.link_url() + "/1");
  EXPECT_EQ(second.headers["content-type"], "image/jpeg");
  EXPECT_EQ(Sha256Hex(second.body), Sha256Hex(media_.jpeg()));
  EXPECT_EQ(HttpGetUrl(sent.link_url() + "/2").status, 404);
}

TEST_F(MmscTest, InternationalDestinationGetsSmsWithLink) {
  const v1::Message sent = SendOk(Mms(kGbSubscriber, {media_.Url("/dog.jpg")}, "Cheers"));
  EXPECT_EQ(sent.delivered_as(), v1::SMS_WITH_LINK);
  EXPECT_EQ(sent.fallback_reason(), v1::INTERNATIONAL);
  EXPECT_EQ(AwaitFinal(sent.sid()).status(), v1::DELIVERED);
  const auto inbox = Inbox(kGbSubscriber);
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0].text(), "Cheers\n" + sent.link_url());
  EXPECT_EQ(Sha256Hex(HttpGetUrl(sent.link_url()).body), Sha256Hex(media_.jpeg()));
}

TEST_F(MmscTest, InternationalMmsIsRefusedWhenConversionIsDisabledAndNothingIsFetched) {
  auto request = Mms(kGbSubscriber, {media_.Url("/dog.jpg")});
  request.set_from(kStrictLongCode);
  const int requests_before = media_.requests();
  v1::Message message;
  grpc::Status status =
      Send(request, &message,
           MmsgateProcess::ContextFor(kNoConversionAccountSid, kNoConversionAuthToken));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), StartsWith("30011: "));
  EXPECT_EQ(media_.requests(), requests_before);
  v1::ListMessagesRequest list;
  v1::ListMessagesResponse listed;
  auto context = MmsgateProcess::ContextFor(kNoConversionAccountSid, kNoConversionAuthToken);
  ASSERT_TRUE(messaging_->ListMessages(context.get(), list, &listed).ok());
  EXPECT_EQ(listed.messages_size(), 0);
}

TEST_F(MmscTest, TheSameMediaForTwoMessagesIsStoredOnce) {
  EXPECT_EQ(Metric("mmsgate_media_blobs"), 0);
  const v1::Message first = SendOk(Mms(kUsMmsSubscriber, {media_.Url("/cat.png")}));
  const v1::Message second = SendOk(Mms(kCaMmsSubscriber, {media_.Url("/moved.png")}));
  EXPECT_EQ(first.media(0).sha256(), second.media(0).sha256());
  EXPECT_NE(first.media(0).sid(), second.media(0).sid());
  EXPECT_EQ(Metric("mmsgate_media_blobs"), 1);
  SendOk(Mms(kUsMmsSubscriber, {media_.Url("/dog.jpg")}));
  EXPECT_EQ(Metric("mmsgate_media_blobs"), 2);
}

TEST_F(MmscTest, DataUrlsAreAccepted) {
  // "hello" as a text/plain data URL, and a PNG signature in base64.
  const v1::Message sent = SendOk(
      Mms(kUsMmsSubscriber, {"data:text/plain,hello", "data:image/png;base64,iVBORw0KGgo="}));
  EXPECT_EQ(AwaitFinal(sent.sid()).status(), v1::DELIVERED);
  const auto inbox = Inbox(kUsMmsSubscriber);
  ASSERT_EQ(inbox.size(), 1u);
  ASSERT_EQ(inbox[0].media_size(), 2);
  EXPECT_EQ(inbox[0].media(0).sha256(), Sha256Hex("hello"));
  EXPECT_EQ(inbox[0].media(1).sha256(), Sha256Hex(std::string("\x89PNG\r\n\x1a\n", 8)));
}

TEST_F(MmscTest, MediaErrorsCarryTheirCodeAndStoreNothing) {
  ExpectRefused(Mms(kUsMmsSubscriber, {media_.Url("/missing.png")}), 21620, "HTTP 404");
  ExpectRefused(Mms(kUsMmsSubscriber, {media_.Url("/loop")}), 21620, "redirected more than");
  ExpectRefused(Mms(kUsMmsSubscriber, {media_.Url("/slow.png")}), 21620, "timed out");
  ExpectRefused(Mms(kUsMmsSubscriber, {"http://127.0.0.1:1/nothing-listens.png"}), 21620,
                "127.0.0.1:1/nothing-listens.png");
  ExpectRefused(Mms(kUsMmsSubscriber, {"ftp://127.0.0.1/a.png"}), 21620, "ftp://127.0.0.1/a.png");
  ExpectRefused(Mms(kUsMmsSubscriber, {"data:image/png;base64,@@@"}), 21620, "base64");
  ExpectRefused(Mms(kUsMmsSubscriber, {media_.Url("/big.jpg")}), 11751, "/big.jpg");
  ExpectRefused(Mms(kUsMmsSubscriber, {media_.Url("/page.html")}), 12300, "text/html");
  // A good URL beside a bad one: the message is refused whole, the good bytes not kept.
  ExpectRefused(Mms(kUsMmsSubscriber, {media_.Url("/dog.jpg"), media_.Url("/missing.png")}), 21620,
                "/missing.png");
  std::vector<std::string> eleven(11, media_.Url("/cat.png"));
  ExpectRefused(Mms(kUsMmsSubscriber, eleven), 21623, "11 media");
  // Two 3 MB items: each fits alone, together they pass the 5 MB limit.
  auto request = Mms(kUsMmsSubscriber, {media_.Url("/cat.png")});
  auto* inline_media = request.add_media();
  inline_media->set_content_type("image/jpeg");
  inline_media->set_data(std::string(5 * 1024 * 1024 - 1000, 'j'));
  ExpectRefused(request, 11751, "/cat.png");
}

class MmscRetentionTest : public MmscTest {
 protected:
  void SetUp() override { StartGateway(/*retention_seconds=*/1); }
};

TEST_F(MmscRetentionTest, ExpiredLinksAnswer404AndTheirMediaAreDeleted) {
  const v1::Message sent = SendOk(Mms(kUsSmsOnlySubscriber, {media_.Url("/cat.png")}));
  EXPECT_EQ(AwaitFinal(sent.sid()).status(), v1::DELIVERED);
  EXPECT_EQ(Metric("mmsgate_media_blobs"), 1);
  // Retention is 1 s and the sweeper runs every 250 ms; allow ample time on a busy machine.
  int status = 200;
  for (int i = 0; i < 100 && status == 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status = HttpGetUrl(sent.link_url()).status;
  }
  EXPECT_EQ(status, 404);
  for (int i = 0; i < 50 && Metric("mmsgate_media_blobs") != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(Metric("mmsgate_media_blobs"), 0);
}

}  // namespace
}  // namespace mmsgate::testing
