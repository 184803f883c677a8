// InboundHandler over in-memory stores, with an application on a real local HTTP server: the
// inbound message is stored and signed to sms_url, and what goes wrong afterwards (refused TwiML
// replies, an application that does not answer) is recorded on it, none of it lost even when
// many refusals arrive at once on several io threads.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "carriers/fleet.h"
#include "carriers/handsets.h"
#include "fakes/in_memory_stores.h"
#include "fakes/test_gateway.h"
#include "gateway/config/scenario.h"
#include "gateway/core/lifecycle.h"
#include "gateway/core/sender_limits.h"
#include "gateway/http/http_server.h"
#include "gateway/inbound/inbound.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::HasSubstr;

constexpr char kAccount[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kAppNumber[] = "+12025550100";
constexpr char kSubscriber[] = "+12025550142";

// An application answering every webhook with `twiml` (or not at all, when it is empty).
class Application {
 public:
  explicit Application(boost::asio::io_context& io)
      : server_(io, HttpServerOptions{},
                [this](HttpRequest request, std::function<void(HttpResponse)> respond) {
                  std::string twiml;
                  {
                    std::lock_guard lock(mutex_);
                    ++requests_;
                    bodies_.push_back(request.body());
                    twiml = twiml_;
                    if (twiml.empty()) {
                      // Never answers: the webhook times out.
                      held_.push_back(std::move(respond));
                      return;
                    }
                  }
                  HttpResponse response(http::status::ok, 11);
                  response.set(http::field::content_type, "text/xml");
                  response.body() = twiml;
                  response.prepare_payload();
                  respond(std::move(response));
                }) {}

  int Listen() {
    std::string error;
    auto endpoint = server_.Listen("127.0.0.1", 0, &error);
    EXPECT_TRUE(endpoint) << error;
    return endpoint ? endpoint->port() : 0;
  }
  void Stop() {
    {
      std::lock_guard lock(mutex_);
      held_.clear();
    }
    server_.Stop();
  }
  void SetTwiml(std::string twiml) {
    std::lock_guard lock(mutex_);
    twiml_ = std::move(twiml);
  }
  std::vector<std::string> bodies() const {
    std::lock_guard lock(mutex_);
    return bodies_;
  }

 private:
  mutable std::mutex mutex_;
  std::string twiml_;
  int requests_ = 0;
  std::vector<std::string> bodies_;
  std::vector<std::function<void(HttpResponse)>> held_;
  HttpServer server_;
};

// The gateway's inbound side over in-memory stores, io on two threads and the real clock (the
// webhook goes over a real socket; its timeout is real time).
class InboundHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = application_.Listen();
    scenario_ = *ParseScenario(
        "accounts { sid: \"AC0123456789abcdef0123456789abcdef\" auth_token: \"token-0123456789\" "
        "}\n"
        "carriers { id: \"mms\" country: \"US\" prefixes: \"+1202555\" supports_mms: true }\n"
        "numbers { number: \"+12025550100\" account_sid: \"AC0123456789abcdef0123456789abcdef\"\n"
        "  type: LONG_CODE country: \"US\" capabilities { sms: true mms: true }\n"
        "  sms_url: \"http://127.0.0.1:" +
            std::to_string(port_) +
            "/inbound\" }\n"
            "simulation { disable_sender_rate_limits: true }\n",
        "test");
    directory_.emplace(scenario_, database_, directory_store_);
    fleet_.emplace(
        io_, clock_,
        std::vector<v1::Carrier>{scenario_.carriers().begin(), scenario_.carriers().end()},
        carriers::SimulationSettings{1}, handsets_);
    senders_.emplace(io_, clock_, *directory_, true);
    lifecycle_.emplace(io_, clock_, database_, message_store_, *senders_, *fleet_, events_,
                       listener_);
    sender_.emplace(io_, io_.get_executor(), clock_, database_, message_store_, media_store_,
                    *directory_, *fleet_, *senders_, *lifecycle_,
                    SendSettings{"http://127.0.0.1:8080", std::chrono::milliseconds(2000),
                                 std::chrono::hours(1), 0});
    inbound_.emplace(io_, io_.get_executor(), clock_, database_, message_store_, media_store_,
                     attempts_, *directory_, *fleet_, events_, webhooks_, *sender_,
                     InboundSettings{"http://127.0.0.1:8080", webhook_timeout_});
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  void TearDown() override {
    application_.Stop();
    senders_->Stop();
    work_.reset();
    io_.stop();
    for (auto& thread : threads_) thread.join();
  }

  absl::StatusOr<v1::Message> Receive(const std::string& body) {
    v1::HandsetSend send;
    send.set_from(kSubscriber);
    send.set_to(kAppNumber);
    send.set_body(body);
    std::mutex mutex;
    std::condition_variable done;
    std::optional<absl::StatusOr<v1::Message>> result;
    inbound_->Receive(send, [&](absl::StatusOr<v1::Message> got) {
      std::lock_guard lock(mutex);
      result = std::move(got);
      done.notify_all();
    });
    std::unique_lock lock(mutex);
    if (!done.wait_for(lock, std::chrono::seconds(30), [&] { return result.has_value(); })) {
      return absl::DeadlineExceededError("no reply from Receive");
    }
    return *result;
  }

  // The stored record of `sid` once `ready` holds (or after 30 s, as it is then).
  v1::Message AwaitStored(const std::string& sid,
                          const std::function<bool(const v1::Message&)>& ready) {
    absl::StatusOr<v1::Message> stored;
    for (int i = 0; i < 3000; ++i) {
      stored = message_store_.Get(sid);
      if (stored.ok() && ready(*stored)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored.ok() ? *stored : v1::Message();
  }

  static int Occurrences(const std::string& text, const std::string& what) {
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  std::vector<std::thread> threads_;
  // Simulated time 20x real: the webhook's retry backoff (simulated) passes quickly.
  RealClock clock_{20.0};
  Application application_{io_};
  int port_ = 0;
  // Real time: generous, so that a busy machine cannot turn an answer into a timeout.
  std::chrono::milliseconds webhook_timeout_{10000};
  v1::Scenario scenario_;
  testing::InMemoryDatabase database_;
  testing::InMemoryMediaStore media_store_{database_};
  testing::InMemoryMessageStore message_store_{database_};
  testing::InMemoryAttemptLog attempts_{database_};
  testing::InMemoryDirectoryStore directory_store_{database_};
  testing::InMemoryInboxStore inbox_store_{database_};
  carriers::Handsets handsets_{&inbox_store_};
  EventBus events_{clock_};
  testing::RecordingStatusListener listener_;
  WebhookSender webhooks_{io_, clock_};
  std::optional<Directory> directory_;
  std::optional<carriers::CarrierFleet> fleet_;
  std::optional<SenderLimits> senders_;
  std::optional<MessageLifecycle> lifecycle_;
  std::optional<SendService> sender_;
  std::optional<InboundHandler> inbound_;
};

TEST_F(InboundHandlerTest, StoresTheMessageAndSignsItToTheNumbersSmsUrl) {
  application_.SetTwiml("<Response/>");
  auto received = Receive("hello app");
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(received->direction(), v1::INBOUND);
  EXPECT_EQ(received->from(), kSubscriber);
  EXPECT_EQ(received->to(), kAppNumber);
  EXPECT_TRUE(message_store_.Get(received->sid()).ok());
  for (int i = 0; i < 3000 && application_.bodies().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(application_.bodies().size(), 1u);
  EXPECT_THAT(application_.bodies()[0], HasSubstr("Body=hello+app"));
  EXPECT_THAT(application_.bodies()[0], HasSubstr("MessageSid=" + received->sid()));
}

TEST_F(InboundHandlerTest, EveryRefusedReplyIsRecordedWhenManyAreRefusedAtOnce) {
  // Ten replies (the most one response may hold) from a number the account does not own: each
  // is refused (21606), on whichever io thread admission finishes, and each refusal must reach
  // the inbound record.
  std::string twiml = "<Response>";
  for (int i = 0; i < 10; ++i) {
    twiml += "<Message from=\"+12025550177\">reply " + std::to_string(i) + "</Message>";
  }
  application_.SetTwiml(twiml + "</Response>");
  auto received = Receive("many replies");
  ASSERT_TRUE(received.ok()) << received.status();
  const auto recorded = AwaitStored(received->sid(), [](const v1::Message& m) {
    return Occurrences(m.error_message(), "was refused") >= 10;
  });
  EXPECT_EQ(Occurrences(recorded.error_message(), "was refused"), 10) << recorded.error_message();
  EXPECT_EQ(recorded.error_code(), 21606);
}

class SilentApplicationTest : public InboundHandlerTest {
 protected:
  SilentApplicationTest() { webhook_timeout_ = std::chrono::milliseconds(300); }
};

TEST_F(SilentApplicationTest, AnApplicationThatDoesNotAnswerIsRecordedAs11200) {
  application_.SetTwiml("");  // holds every request
  auto received = Receive("anyone there?");
  ASSERT_TRUE(received.ok()) << received.status();
  const auto recorded = AwaitStored(received->sid(), [](const v1::Message& m) {
    return m.error_code() == kWebhookRetrievalFailure;
  });
  EXPECT_EQ(recorded.error_code(), kWebhookRetrievalFailure) << recorded.error_message();
  EXPECT_EQ(recorded.direction(), v1::INBOUND);
}

}  // namespace
}  // namespace mmsgate::gateway
