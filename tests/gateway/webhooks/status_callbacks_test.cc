// Status callbacks of one message go out one after another in status order, even when the
// application answers the first one slowly; each attempt is recorded in order.

#include "gateway/webhooks/status_callbacks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fakes/in_memory_stores.h"
#include "gateway/config/scenario.h"
#include "gateway/http/http_server.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::ElementsAre;

TEST(StatusCallbacksTest, PostsForOneMessageGoOutInStatusOrder) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread thread([&io] { io.run(); });

  // The application: answers the first post after a while, the others at once.
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> received;
  std::vector<std::string> bodies;
  HttpServer application(
      io, HttpServerOptions{}, [&](HttpRequest request, std::function<void(HttpResponse)> respond) {
        const std::string body = request.body();
        const auto at = body.find("MessageStatus=");
        const std::string status = body.substr(at + 14, body.find('&', at) - at - 14);
        bool first = false;
        {
          std::lock_guard lock(mutex);
          first = received.empty();
          received.push_back(status);
          bodies.push_back(body);
          changed.notify_all();
        }
        HttpResponse response(http::status::ok, 11);
        if (!first) return respond(std::move(response));
        auto timer =
            std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(300));
        timer->async_wait([timer, respond, response](const boost::system::error_code&) mutable {
          respond(std::move(response));
        });
      });
  std::string error;
  auto endpoint = application.Listen("127.0.0.1", 0, &error);
  ASSERT_TRUE(endpoint) << error;

  const auto scenario = *ParseScenario(
      R"pb(
        accounts { sid: "AC0123456789abcdef0123456789abcdef" auth_token: "token-0123456789" }
      )pb",
      "test");
  testing::InMemoryDatabase database;
  testing::InMemoryDirectoryStore directory_store(database);
  testing::InMemoryAttemptLog attempts(database);
  Directory directory(scenario, database, directory_store);
  RealClock clock;
  WebhookSender webhooks(io, clock);
  StatusCallbacks callbacks(io, webhooks, directory, database, attempts,
                            std::chrono::milliseconds(5000));
  v1::Message message;
  message.set_sid("SM0123456789abcdef0123456789abcdef");
  message.set_account_sid("AC0123456789abcdef0123456789abcdef");
  message.set_status_callback("http://127.0.0.1:" + std::to_string(endpoint->port()) + "/status");
  message.mutable_date_updated()->set_seconds(1'700'000'000);  // 2023-11-14T22:13:20Z
  for (auto status : {v1::QUEUED, v1::SENDING, v1::SENT, v1::DELIVERED}) {
    message.set_status(status);
    callbacks.OnStatus(message);
  }
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(
        changed.wait_for(lock, std::chrono::seconds(20), [&] { return received.size() == 4; }));
    EXPECT_THAT(received, ElementsAre("queued", "sending", "sent", "delivered"));
    // The provider's full field set; the delivery report's time only once there is one.
    for (const char* field : {"MessageSid=", "SmsSid=", "SmsStatus=", "AccountSid=", "From=", "To=",
                              "ApiVersion=2010-04-01"}) {
      EXPECT_THAT(bodies[3], ::testing::HasSubstr(field));
    }
    EXPECT_THAT(bodies[3], ::testing::HasSubstr("RawDlrDoneDate=2311142213"));
    EXPECT_THAT(bodies[1], ::testing::Not(::testing::HasSubstr("RawDlrDoneDate")));
  }
  for (int i = 0; i < 1000 && callbacks.pending() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<v1::MessageStatus> recorded;
  for (const auto& attempt : attempts.List(message.sid())) {
    recorded.push_back(attempt.reported_status());
  }
  EXPECT_THAT(recorded, ElementsAre(v1::QUEUED, v1::SENDING, v1::SENT, v1::DELIVERED));

  application.Stop();
  work.reset();
  io.stop();
  thread.join();
}

}  // namespace
}  // namespace mmsgate::gateway
