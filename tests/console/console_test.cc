// The console's HTTP surface without a browser: sign-in, the cookie, CSRF, and the event stream
// under concurrent publishing (run under ThreadSanitizer too). The pages themselves are tested
// in a real browser by console_browser_test.py.

#include "gateway/console/console.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <future>
#include <regex>
#include <thread>

#include "fakes/test_gateway.h"
#include "gateway/api/rest/form_encoding.h"

namespace mmsgate::gateway {
namespace {

using testing::kTestAccount;
using testing::kTestToken;

// Calls the console's handler and waits for its answer (which may come from another thread).
HttpResponse Call(const HttpHandler& handler, HttpRequest request) {
  std::promise<HttpResponse> answer;
  auto future = answer.get_future();
  auto once = std::make_shared<std::once_flag>();
  handler(std::move(request), [&answer, once](HttpResponse response) {
    std::call_once(*once, [&] { answer.set_value(std::move(response)); });
  });
  return future.get();
}

HttpRequest Request(http::verb verb, const std::string& target, const std::string& cookie = "",
                    const std::string& body = "") {
  HttpRequest request(verb, target, 11);
  if (!cookie.empty()) request.set(http::field::cookie, cookie);
  request.body() = body;
  request.prepare_payload();
  return request;
}

class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  void TearDown() override {
    console_.reset();
    work_.reset();
    for (auto& thread : threads_) thread.join();
  }

  void MakeConsole(std::chrono::milliseconds event_wait) {
    ConsoleDependencies deps;
    deps.io = &io_;
    deps.directory = &gateway_.directory;
    deps.events = &gateway_.events;
    deps.media_content = [](HttpRequest request, std::function<void(HttpResponse)> respond) {
      respond(HttpResponse(http::status::not_found, request.version()));
    };
    deps.event_wait = event_wait;
    console_ = std::make_unique<Console>(std::move(deps));
    handler_ = console_->handler();
  }

  // Signs in; the cookie ("mmsgate_console=…") and the CSRF token.
  std::pair<std::string, std::string> SignIn() {
    auto response = Call(
        handler_, Request(http::verb::post, "/console/login", "",
                          FormEncode({{"account_sid", kTestAccount}, {"auth_token", kTestToken}})));
    EXPECT_EQ(response.result(), http::status::see_other);
    const std::string set_cookie(response[http::field::set_cookie]);
    const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
    auto session = Call(handler_, Request(http::verb::get, "/console/api/session", cookie));
    std::smatch match;
    EXPECT_TRUE(
        std::regex_search(session.body(), match, std::regex("\"csrf_token\":\"([0-9a-f]{64})\"")));
    return {cookie, match[1]};
  }

  void Publish(int sequence) {
    mmsgate::v1::Message message;
    message.set_sid("SM" + std::to_string(sequence));
    message.set_account_sid(kTestAccount);
    message.set_status(mmsgate::v1::QUEUED);
    gateway_.events.PublishStatus(message);
  }

  testing::TestGateway gateway_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  std::vector<std::thread> threads_;
  std::unique_ptr<Console> console_;
  HttpHandler handler_;
};

TEST_F(ConsoleTest, SignInSetsAStrictExpiringCookieAndWrongCredentialsAre20003) {
  MakeConsole(std::chrono::seconds(15));
  auto refused =
      Call(handler_, Request(http::verb::post, "/console/login?next=%2Fconsole%2Fcarriers", "",
                             "account_sid=" + std::string(kTestAccount) + "&auth_token=wrong"));
  EXPECT_EQ(refused.result(), http::status::unauthorized);
  EXPECT_NE(refused.body().find("20003:"), std::string::npos);
  EXPECT_EQ(refused.count(http::field::set_cookie), 0u);

  auto accepted = Call(
      handler_, Request(http::verb::post, "/console/login?next=%2Fconsole%2Fcarriers", "",
                        FormEncode({{"account_sid", kTestAccount}, {"auth_token", kTestToken}})));
  EXPECT_EQ(accepted.result(), http::status::see_other);
  EXPECT_EQ(accepted[http::field::location], "/console/carriers");
  const std::string cookie(accepted[http::field::set_cookie]);
  EXPECT_TRUE(std::regex_search(cookie, std::regex("^mmsgate_console=[0-9a-f]{64}; ")));
  EXPECT_NE(cookie.find("; HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("; SameSite=Strict"), std::string::npos);
  EXPECT_NE(cookie.find("; Max-Age=28800"), std::string::npos);
  EXPECT_EQ(console_->session_count(), 1u);

  // A `next` outside the console is not followed.
  auto elsewhere = Call(
      handler_, Request(http::verb::post, "/console/login?next=%2F%2Fevil.example%2F", "",
                        FormEncode({{"account_sid", kTestAccount}, {"auth_token", kTestToken}})));
  EXPECT_EQ(elsewhere[http::field::location], "/console/");
}

TEST_F(ConsoleTest, StateChangesNeedTheSessionsCsrfToken) {
  MakeConsole(std::chrono::seconds(15));
  auto [cookie, csrf] = SignIn();
  auto without = Request(http::verb::post, "/console/api/rpc/Messaging/ListMessages", cookie, "{}");
  auto refused = Call(handler_, without);
  EXPECT_EQ(refused.result(), http::status::forbidden);
  EXPECT_NE(refused.body().find("\"code\":20403"), std::string::npos);

  auto wrong = without;
  wrong.set("X-CSRF-Token", std::string(64, '0'));
  EXPECT_EQ(Call(handler_, wrong).result(), http::status::forbidden);

  // With the token the call goes on; no gRPC target was set, so it is refused as "starting".
  auto with = without;
  with.set("X-CSRF-Token", csrf);
  auto starting = Call(handler_, with);
  EXPECT_EQ(starting.result(), http::status::service_unavailable);
  EXPECT_NE(starting.body().find("\"code\":20503"), std::string::npos);

  auto streaming = with;
  streaming.target("/console/api/rpc/Messaging/WatchEvents");
  EXPECT_EQ(Call(handler_, streaming).result(), http::status::not_found);
  auto bad_json = with;
  bad_json.body() = "{\"page_size\": \"lots\"}";
  auto refused_json = Call(handler_, bad_json);
  EXPECT_EQ(refused_json.result(), http::status::bad_request);
  EXPECT_NE(refused_json.body().find("\"code\":21200"), std::string::npos);

  // Sign-out ends the session.
  auto logout = Request(http::verb::post, "/console/logout", cookie);
  logout.set("X-CSRF-Token", csrf);
  EXPECT_EQ(Call(handler_, logout).result(), http::status::ok);
  EXPECT_EQ(Call(handler_, Request(http::verb::get, "/console/api/session", cookie)).result(),
            http::status::unauthorized);
}

// Every id in an event-stream answer, in order.
std::vector<uint64_t> EventIds(const std::string& body) {
  std::vector<uint64_t> ids;
  static const std::regex kId("(^|\n)id: ([0-9]+)\n");
  for (auto it = std::sregex_iterator(body.begin(), body.end(), kId); it != std::sregex_iterator();
       ++it) {
    ids.push_back(std::stoull((*it)[2]));
  }
  return ids;
}

TEST_F(ConsoleTest, EventsPublishedConcurrentlyArriveInOrderWithNoneLost) {
  MakeConsole(std::chrono::milliseconds(200));
  auto [cookie, csrf] = SignIn();
  constexpr int kEvents = 1500;  // fewer than a session keeps, so a slow reader loses nothing
  std::atomic<bool> published{false};
  std::thread publisher([this, &published] {
    for (int i = 1; i <= kEvents; ++i) Publish(i);
    published = true;
  });
  std::vector<uint64_t> seen;
  // Reads until an answer after the last publish brings nothing more (its timer answered it).
  for (bool done = false; !done;) {
    const bool all_published = published;
    auto request = Request(http::verb::get, "/console/api/events?after=0", cookie);
    if (!seen.empty()) request.set("Last-Event-ID", std::to_string(seen.back()));
    auto answer = Call(handler_, request);
    ASSERT_EQ(answer.result(), http::status::ok);
    ASSERT_EQ(answer[http::field::content_type], "text/event-stream");
    ASSERT_EQ(answer.body().find("event: gap"), std::string::npos);
    const auto ids = EventIds(answer.body());
    seen.insert(seen.end(), ids.begin(), ids.end());
    done = all_published && ids.empty();
  }
  publisher.join();
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) ASSERT_EQ(seen[i], static_cast<uint64_t>(i + 1));
}

TEST_F(ConsoleTest, AnIdleEventRequestIsAnsweredEmptyByItsTimer) {
  MakeConsole(std::chrono::milliseconds(50));
  auto [cookie, csrf] = SignIn();
  auto answer = Call(handler_, Request(http::verb::get, "/console/api/events", cookie));
  EXPECT_EQ(answer.result(), http::status::ok);
  EXPECT_TRUE(EventIds(answer.body()).empty());
  EXPECT_NE(answer.body().find("retry: "), std::string::npos);
}

TEST_F(ConsoleTest, StopAnswersAWaitingEventRequestAndRefusesLaterOnes) {
  MakeConsole(std::chrono::minutes(10));
  auto [cookie, csrf] = SignIn();
  std::promise<HttpResponse> answer;
  handler_(Request(http::verb::get, "/console/api/events", cookie),
           [&answer](HttpResponse response) { answer.set_value(std::move(response)); });
  console_->Stop();
  EXPECT_EQ(answer.get_future().get().result(), http::status::unauthorized);
  EXPECT_EQ(Call(handler_, Request(http::verb::get, "/console/api/session", cookie)).result(),
            http::status::service_unavailable);
  EXPECT_EQ(console_->session_count(), 0u);
}

TEST_F(ConsoleTest, PagesWithoutASessionLeadToTheSignInForm) {
  MakeConsole(std::chrono::seconds(15));
  auto root = Call(handler_, Request(http::verb::get, "/"));
  EXPECT_EQ(root.result(), http::status::see_other);
  EXPECT_EQ(root[http::field::location], "/console/");
  auto page = Call(handler_, Request(http::verb::get, "/console/messages/SM123"));
  EXPECT_EQ(page[http::field::location], "/console/login?next=%2Fconsole%2Fmessages%2FSM123");
  auto form = Call(handler_, Request(http::verb::get, "/console/login"));
  EXPECT_EQ(form.result(), http::status::ok);
  EXPECT_NE(form.body().find("name=\"account_sid\""), std::string::npos);
  EXPECT_NE(std::string(form["Content-Security-Policy"]).find("script-src 'self'"),
            std::string::npos);
  EXPECT_EQ(Call(handler_, Request(http::verb::get, "/console/assets/app.js")).result(),
            http::status::ok);
  EXPECT_EQ(Call(handler_, Request(http::verb::get, "/console/assets/nope.js")).result(),
            http::status::not_found);
}

}  // namespace
}  // namespace mmsgate::gateway
