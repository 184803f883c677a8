#include "gateway/webhooks/webhooks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/api/rest/form_encoding.h"
#include "gateway/http/http_server.h"

namespace mmsgate::gateway {
namespace {

namespace net = boost::asio;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using namespace std::chrono_literals;

// A copy of shared/testdata/webhook-signature-vectors.json (answers produced by the provider's
// own helper library), kept in the repository so the test never depends on what sits beside it.
std::filesystem::path VectorsPath() {
  return std::filesystem::path(MMSGATE_TEST_DATA_DIR) / "webhook-signature-vectors.json";
}

TEST(TwilioSignatureTest, MatchesEveryKnownAnswer) {
  const auto path = VectorsPath();
  std::ifstream file(path);
  ASSERT_TRUE(file) << "no signature vectors at " << path;
  const auto document = nlohmann::json::parse(file);
  const auto& vectors = document.at("vectors");
  ASSERT_FALSE(vectors.empty());
  for (const auto& vector : vectors) {
    const std::string name = vector.at("name");
    FormParams params;
    for (const auto& [key, value] : vector.at("params").items()) {
      if (value.is_array()) {
        for (const auto& item : value) params.emplace_back(key, item.get<std::string>());
      } else {
        params.emplace_back(key, value.get<std::string>());
      }
    }
    const std::string url = vector.at("url");
    const std::string token = vector.at("auth_token");
    if (vector.contains("hmac_input")) {
      EXPECT_EQ(TwilioSignatureInput(url, params), vector.at("hmac_input").get<std::string>())
          << name;
    }
    EXPECT_EQ(TwilioSignature(token, url, params), vector.at("signature").get<std::string>())
        << name;
    // The order the parameters come in does not matter.
    std::reverse(params.begin(), params.end());
    EXPECT_EQ(TwilioSignature(token, url, params), vector.at("signature").get<std::string>())
        << name << " (reversed)";
  }
}

TEST(TwilioSignatureTest, SortsNamesAndDeduplicatesRepeatedValues) {
  const FormParams params = {{"b", "2"}, {"a", "z"}, {"a", "y"}, {"a", "z"}, {"B", "0"}};
  EXPECT_EQ(TwilioSignatureInput("http://h/x?q=1", params), "http://h/x?q=1B0ayazb2");
  EXPECT_EQ(TwilioSignatureInput("http://h/", {}), "http://h/");
  // Anything in the URL changes the signature: it is signed verbatim.
  EXPECT_NE(TwilioSignature("t", "http://h/x", params),
            TwilioSignature("t", "http://h/x/", params));
  EXPECT_NE(TwilioSignature("t", "http://h/x", params), TwilioSignature("u", "http://h/x", params));
}

// A webhook receiver on 127.0.0.1 with its own io_context thread. `answer` is called with the
// request's index (0 for the first) and returns the response, or nullopt to never answer.
class Receiver {
 public:
  using Answer = std::function<std::optional<HttpResponse>(int index, const HttpRequest&)>;

  explicit Receiver(Answer answer) : answer_(std::move(answer)) {
    server_ = std::make_unique<HttpServer>(
        io_, HttpServerOptions{},
        [this](HttpRequest request, std::function<void(HttpResponse)> respond) {
          int index;
          {
            std::lock_guard lock(mutex_);
            index = static_cast<int>(requests_.size());
            requests_.push_back(request);
          }
          auto response = answer_(index, request);
          if (!response) {
            std::lock_guard lock(mutex_);
            held_.push_back(std::move(respond));
            return;
          }
          respond(std::move(*response));
        });
    std::string error;
    auto endpoint = server_->Listen("127.0.0.1", 0, &error);
    EXPECT_TRUE(endpoint) << error;
    if (endpoint) port_ = endpoint->port();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~Receiver() {
    server_->Stop();
    io_.stop();
    thread_.join();
    held_.clear();
    server_.reset();
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  Answer answer_;
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> guard_ = net::make_work_guard(io_);
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<HttpRequest> requests_;
  std::vector<std::function<void(HttpResponse)>> held_;
  std::thread thread_;
};

HttpResponse Reply(http::status status, const std::string& type, std::string body) {
  HttpResponse response(status, 11);
  if (!type.empty()) response.set(http::field::content_type, type);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

// Posts on a private io_context and runs it until the Post is done; checks `done` came once.
WebhookResult PostAndWait(WebhookRequest request, double time_scale = 100.0) {
  net::io_context io;
  RealClock clock(time_scale);
  WebhookSender sender(io, clock);
  int calls = 0;
  WebhookResult result;
  sender.Post(std::move(request), [&](WebhookResult r) {
    ++calls;
    result = std::move(r);
  });
  EXPECT_EQ(calls, 0) << "done must not run inside Post";
  io.run_for(30s);
  EXPECT_EQ(calls, 1);
  return result;
}

const FormParams kParams = {{"MessageSid", "MM0123456789abcdef0123456789abcdef"},
                            {"From", "+12025550142"},
                            {"To", "+12025550100"},
                            {"Body", "héllo & good=bye + 👍"},
                            {"NumMedia", "2"},
                            {"MediaUrl0", "http://127.0.0.1:8080/m/abc?x=1&y=2"},
                            {"MediaUrl0", "repeated"}};
const std::string kToken = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";

TEST(WebhookSenderTest, PostsASignedFormTheReceiverCanVerify) {
  Receiver receiver([](int, const HttpRequest&) {
    return Reply(http::status::ok, "text/xml; charset=utf-8", "<Response/>");
  });
  WebhookRequest request;
  request.url = receiver.Url("/inbound?run=7&x=%20y");
  request.params = kParams;
  request.auth_token = kToken;
  const auto before = std::chrono::system_clock::now();
  WebhookResult result = PostAndWait(request);

  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.response_body, "<Response/>");
  EXPECT_EQ(result.response_content_type, "text/xml; charset=utf-8");
  EXPECT_FALSE(result.response_truncated);
  ASSERT_THAT(result.attempts, SizeIs(1));
  EXPECT_EQ(result.attempts[0].http_status, 200);
  EXPECT_EQ(result.attempts[0].error, "");
  EXPECT_GE(result.attempts[0].started_at, before);
  EXPECT_GE(result.attempts[0].duration_ms, 0);

  auto seen = receiver.requests();
  ASSERT_THAT(seen, SizeIs(1));
  const HttpRequest& got = seen[0];
  EXPECT_EQ(got.method(), http::verb::post);
  EXPECT_EQ(std::string(got.target()), "/inbound?run=7&x=%20y");
  EXPECT_EQ(std::string(got[http::field::content_type]), "application/x-www-form-urlencoded");
  EXPECT_EQ(std::string(got[http::field::user_agent]), "TwilioProxy/1.1");
  EXPECT_GE(std::string(got["I-Twilio-Idempotency-Token"]).size(), 32u);
  auto params = FormDecode(got.body());
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(*params, kParams);
  // What a receiver does: sign the URL it is configured with and the params it decoded.
  EXPECT_EQ(std::string(got["X-Twilio-Signature"]),
            TwilioSignature(kToken, receiver.Url("/inbound?run=7&x=%20y"), *params));
}

TEST(WebhookSenderTest, RetriesAfterAServerErrorThenSucceeds) {
  Receiver receiver([](int index, const HttpRequest&) {
    if (index == 0) return Reply(http::status::internal_server_error, "text/plain", "oops");
    return Reply(http::status::ok, "", "");
  });
  WebhookRequest request;
  request.url = receiver.Url("/status");
  request.params = {{"MessageStatus", "delivered"}};
  request.auth_token = kToken;
  // time_scale 100: the 1 s backoff lasts 10 ms.
  WebhookResult result = PostAndWait(request, 100.0);

  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.http_status, 200);
  ASSERT_THAT(result.attempts, SizeIs(2));
  EXPECT_EQ(result.attempts[0].http_status, 500);
  EXPECT_EQ(result.attempts[0].error, "HTTP 500");
  EXPECT_EQ(result.attempts[1].http_status, 200);
  EXPECT_EQ(result.attempts[1].error, "");
  EXPECT_GE(result.attempts[1].started_at - result.attempts[0].started_at, 10ms);

  auto seen = receiver.requests();
  ASSERT_THAT(seen, SizeIs(2));
  // A retry is the same event: same token, same signature, same body.
  EXPECT_EQ(seen[0]["I-Twilio-Idempotency-Token"], seen[1]["I-Twilio-Idempotency-Token"]);
  EXPECT_EQ(seen[0]["X-Twilio-Signature"], seen[1]["X-Twilio-Signature"]);
  EXPECT_EQ(seen[0].body(), seen[1].body());
}

TEST(WebhookSenderTest, EachPostHasItsOwnIdempotencyToken) {
  Receiver receiver([](int, const HttpRequest&) { return Reply(http::status::ok, "", ""); });
  WebhookRequest request;
  request.url = receiver.Url("/status");
  request.auth_token = kToken;
  PostAndWait(request);
  PostAndWait(request);
  auto seen = receiver.requests();
  ASSERT_THAT(seen, SizeIs(2));
  EXPECT_NE(seen[0]["I-Twilio-Idempotency-Token"], seen[1]["I-Twilio-Idempotency-Token"]);
}

TEST(WebhookSenderTest, GivesUpAfterMaxAttemptsOfServerErrors) {
  Receiver receiver([](int, const HttpRequest&) {
    return Reply(http::status::service_unavailable, "text/plain", "down");
  });
  WebhookRequest request;
  request.url = receiver.Url("/status");
  request.auth_token = kToken;
  request.max_attempts = 3;
  WebhookResult result = PostAndWait(request, 100.0);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.http_status, 503);
  EXPECT_EQ(result.response_body, "down");
  ASSERT_THAT(result.attempts, SizeIs(3));
  // Backoff doubles: 10 ms, then 20 ms at time_scale 100.
  EXPECT_GE(result.attempts[2].started_at - result.attempts[1].started_at, 20ms);
  EXPECT_THAT(receiver.requests(), SizeIs(3));
}

TEST(WebhookSenderTest, DoesNotRetryAClientError) {
  Receiver receiver([](int, const HttpRequest&) {
    return Reply(http::status::not_found, "text/html", "<h1>no</h1>");
  });
  WebhookRequest request;
  request.url = receiver.Url("/nowhere");
  request.auth_token = kToken;
  WebhookResult result = PostAndWait(request);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.http_status, 404);
  EXPECT_EQ(result.response_body, "<h1>no</h1>");
  EXPECT_EQ(result.response_content_type, "text/html");
  ASSERT_THAT(result.attempts, SizeIs(1));
  EXPECT_EQ(result.attempts[0].error, "HTTP 404");
  EXPECT_THAT(receiver.requests(), SizeIs(1));
}

TEST(WebhookSenderTest, TimeoutIsRetriedThenFails) {
  Receiver receiver([](int, const HttpRequest&) { return std::optional<HttpResponse>(); });
  WebhookRequest request;
  request.url = receiver.Url("/slow");
  request.auth_token = kToken;
  request.max_attempts = 2;
  request.timeout = 200ms;
  WebhookResult result = PostAndWait(request, 100.0);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.http_status, 0);
  ASSERT_THAT(result.attempts, SizeIs(2));
  for (const auto& attempt : result.attempts) {
    EXPECT_EQ(attempt.http_status, 0);
    EXPECT_THAT(attempt.error, HasSubstr("timed out"));
    EXPECT_THAT(attempt.error, HasSubstr(receiver.Url("/slow")));
    EXPECT_GE(attempt.duration_ms, 190);
    EXPECT_LT(attempt.duration_ms, 5000);
  }
  EXPECT_THAT(receiver.requests(), SizeIs(2));
}

TEST(WebhookSenderTest, ConnectFailureIsRetried) {
  WebhookRequest request;
  request.url = "http://127.0.0.1:1/nothing-listens";
  request.auth_token = kToken;
  request.max_attempts = 3;
  WebhookResult result = PostAndWait(request, 1000.0);
  EXPECT_FALSE(result.ok);
  ASSERT_THAT(result.attempts, SizeIs(3));
  for (const auto& attempt : result.attempts) {
    EXPECT_EQ(attempt.http_status, 0);
    EXPECT_THAT(attempt.error, HasSubstr("connect failed"));
  }
}

TEST(WebhookSenderTest, BadUrlIsNotRetried) {
  WebhookRequest request;
  request.url = "https://example.com/hook";
  request.auth_token = kToken;
  WebhookResult result = PostAndWait(request);
  EXPECT_FALSE(result.ok);
  ASSERT_THAT(result.attempts, SizeIs(1));
  EXPECT_THAT(result.attempts[0].error, HasSubstr("https"));
}

TEST(WebhookSenderTest, LongResponseBodyIsCappedAt64Kilobytes) {
  Receiver receiver([](int, const HttpRequest&) {
    return Reply(http::status::ok, "text/xml", std::string(200 * 1024, 'r'));
  });
  WebhookRequest request;
  request.url = receiver.Url("/big");
  request.auth_token = kToken;
  WebhookResult result = PostAndWait(request);
  EXPECT_TRUE(result.ok);
  EXPECT_TRUE(result.response_truncated);
  EXPECT_EQ(result.response_body.size(), kMaxWebhookResponseBytes);
}

}  // namespace
}  // namespace mmsgate::gateway
