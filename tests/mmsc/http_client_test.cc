// The HTTP client against a raw Beast server on 127.0.0.1 that answers with bytes the test
// chooses, so that malformed, huge and never-finished answers can be produced too.

#include "mmsc/http_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mmsgate::mmsc {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

using ServerRequest = http::request<http::string_body>;

// What the server sends back: raw bytes, then either a close or silence until the test ends.
struct Reply {
  std::string raw;
  bool hang = false;
};

// A complete HTTP/1.1 response as bytes.
std::string Response(int status, const std::vector<std::pair<std::string, std::string>>& headers,
                     const std::string& body) {
  http::response<http::string_body> response(static_cast<http::status>(status), 11);
  for (const auto& [name, value] : headers) response.insert(name, value);
  response.body() = body;
  response.prepare_payload();
  std::ostringstream out;
  out << response;
  return out.str();
}

class TestServer {
 public:
  using Handler = std::function<Reply(const ServerRequest&)>;

  explicit TestServer(Handler handler) : handler_(std::move(handler)) {
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  // Stops the thread; held connections close as their sockets are destroyed.
  ~TestServer() {
    io_.stop();
    thread_.join();
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  std::vector<ServerRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  struct Connection {
    explicit Connection(tcp::socket s) : socket(std::make_shared<tcp::socket>(std::move(s))) {}
    std::shared_ptr<tcp::socket> socket;
    beast::flat_buffer buffer;
    ServerRequest request;
    std::string out;
  };

  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      auto connection = std::make_shared<Connection>(std::move(socket));
      http::async_read(*connection->socket, connection->buffer, connection->request,
                       [this, connection](beast::error_code ec, std::size_t) {
                         if (ec) return;
                         OnRequest(connection);
                       });
      Accept();
    });
  }

  void OnRequest(const std::shared_ptr<Connection>& connection) {
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(connection->request);
    }
    Reply reply = handler_(connection->request);
    connection->out = std::move(reply.raw);
    if (reply.hang) held_.push_back(connection->socket);
    net::async_write(*connection->socket, net::buffer(connection->out),
                     [connection, hang = reply.hang](beast::error_code, std::size_t) {
                       if (hang) return;
                       beast::error_code ignored;
                       connection->socket->shutdown(tcp::socket::shutdown_both, ignored);
                       connection->socket->close(ignored);
                     });
  }

  Handler handler_;
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> guard_ = net::make_work_guard(io_);
  tcp::acceptor acceptor_{io_};
  std::vector<std::shared_ptr<tcp::socket>> held_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<ServerRequest> requests_;
  std::thread thread_;
};

// Runs one fetch on a private io_context to completion; checks `done` ran exactly once and that
// nothing was left pending on the io_context once it had.
absl::StatusOr<HttpClientResponse> Fetch(HttpClientRequest request) {
  net::io_context io;
  int calls = 0;
  std::optional<absl::StatusOr<HttpClientResponse>> result;
  HttpFetch(io, std::move(request), [&](absl::StatusOr<HttpClientResponse> response) {
    ++calls;
    result = std::move(response);
  });
  EXPECT_EQ(calls, 0) << "done must not be called inside HttpFetch";
  io.run_for(20s);
  EXPECT_TRUE(io.stopped()) << "work left pending after done";
  EXPECT_EQ(calls, 1);
  if (!result) return absl::InternalError("done was never called");
  return *std::move(result);
}

std::string HeaderOf(const ServerRequest& request, http::field field) {
  return std::string(request[field]);
}

TEST(HttpClientTest, GetReturnsStatusHeadersAndBody) {
  TestServer server([](const ServerRequest&) {
    return Reply{Response(200, {{"Content-Type", "text/plain"}, {"X-Thing", "1"}}, "hello")};
  });
  HttpClientRequest request;
  request.url = server.Url("/hello?x=1#fragment");
  auto response = Fetch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello");
  EXPECT_EQ(response->Header("content-type"), "text/plain");
  EXPECT_EQ(response->Header("X-THING"), "1");
  EXPECT_EQ(response->Header("absent"), "");
  EXPECT_EQ(response->final_url, server.Url("/hello?x=1#fragment"));
  EXPECT_FALSE(response->truncated);

  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method(), http::verb::get);
  EXPECT_EQ(std::string(seen[0].target()), "/hello?x=1");
  EXPECT_EQ(HeaderOf(seen[0], http::field::host), server.Url("").substr(7));
  EXPECT_EQ(HeaderOf(seen[0], http::field::connection), "close");
  EXPECT_TRUE(seen[0].body().empty());
}

TEST(HttpClientTest, PostSendsBodyAndHeaders) {
  TestServer server([](const ServerRequest&) { return Reply{Response(201, {}, "made")}; });
  HttpClientRequest request;
  request.method = "POST";
  request.url = server.Url("/inbound");
  request.body = "a=1&b=h%C3%A9";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"User-Agent", "TwilioProxy/1.1"},
                     {"X-Repeated", "one"},
                     {"X-Repeated", "two"}};
  auto response = Fetch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "made");

  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method(), http::verb::post);
  EXPECT_EQ(seen[0].body(), "a=1&b=h%C3%A9");
  EXPECT_EQ(HeaderOf(seen[0], http::field::content_type), "application/x-www-form-urlencoded");
  EXPECT_EQ(HeaderOf(seen[0], http::field::content_length), "13");
  // The caller's User-Agent replaced the default rather than being added to it.
  EXPECT_EQ(seen[0].count(http::field::user_agent), 1u);
  EXPECT_EQ(HeaderOf(seen[0], http::field::user_agent), "TwilioProxy/1.1");
  EXPECT_EQ(seen[0].count("X-Repeated"), 2u);
}

TEST(HttpClientTest, EmptyPostStillSendsContentLength) {
  TestServer server([](const ServerRequest&) { return Reply{Response(204, {}, "")}; });
  HttpClientRequest request;
  request.method = "POST";
  request.url = server.Url("/empty");
  auto response = Fetch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 204);
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(HeaderOf(seen[0], http::field::content_length), "0");
}

TEST(HttpClientTest, NonSuccessStatusIsAResponseNotAnError) {
  TestServer server([](const ServerRequest& request) {
    if (request.target() == "/missing") return Reply{Response(404, {}, "no such thing")};
    return Reply{Response(503, {{"Retry-After", "1"}}, "busy")};
  });
  HttpClientRequest request;
  request.url = server.Url("/missing");
  auto missing = Fetch(request);
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "no such thing");

  request.url = server.Url("/busy");
  auto busy = Fetch(request);
  ASSERT_TRUE(busy.ok()) << busy.status();
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->Header("Retry-After"), "1");
}

TEST(HttpClientTest, RedirectsAreFollowedOnlyWhenAllowed) {
  TestServer server([](const ServerRequest& request) {
    if (request.target() == "/old") return Reply{Response(302, {{"Location", "/new"}}, "")};
    if (request.target() == "/loop") return Reply{Response(301, {{"Location", "/loop"}}, "")};
    return Reply{Response(200, {{"Content-Type", "text/plain"}}, "new place")};
  });
  HttpClientRequest request;
  request.url = server.Url("/old");

  // max_redirects == 0: the redirect itself is the answer.
  auto unfollowed = Fetch(request);
  ASSERT_TRUE(unfollowed.ok()) << unfollowed.status();
  EXPECT_EQ(unfollowed->status, 302);
  EXPECT_EQ(unfollowed->Header("Location"), "/new");

  request.max_redirects = 3;
  auto followed = Fetch(request);
  ASSERT_TRUE(followed.ok()) << followed.status();
  EXPECT_EQ(followed->status, 200);
  EXPECT_EQ(followed->body, "new place");
  EXPECT_EQ(followed->final_url, server.Url("/new"));

  request.url = server.Url("/loop");
  request.max_redirects = 2;
  auto looping = Fetch(request);
  ASSERT_FALSE(looping.ok());
  EXPECT_EQ(HttpFetchErrorOf(looping.status()), HttpFetchError::kRedirect);
  EXPECT_EQ(HttpFetchErrorReason(looping.status()), "redirected more than 2 times");
  EXPECT_THAT(std::string(looping.status().message()), HasSubstr(server.Url("/loop")));
}

TEST(HttpClientTest, SeeOtherTurnsAPostIntoAGetWithoutBody) {
  TestServer server([](const ServerRequest& request) {
    if (request.target() == "/form") return Reply{Response(303, {{"Location", "/done"}}, "")};
    return Reply{Response(200, {}, "ok")};
  });
  HttpClientRequest request;
  request.method = "POST";
  request.url = server.Url("/form");
  request.body = "x=1";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  request.max_redirects = 1;
  auto response = Fetch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method(), http::verb::post);
  EXPECT_EQ(seen[1].method(), http::verb::get);
  EXPECT_TRUE(seen[1].body().empty());
  EXPECT_EQ(seen[1].count(http::field::content_type), 0u);
}

TEST(HttpClientTest, SilentServerTimesOut) {
  TestServer server([](const ServerRequest&) { return Reply{"", /*hang=*/true}; });
  HttpClientRequest request;
  request.url = server.Url("/silent");
  request.total_timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  auto response = Fetch(request);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(HttpFetchErrorOf(response.status()), HttpFetchError::kTimeout);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(response.status().message()), HasSubstr("timed out"));
  EXPECT_THAT(std::string(response.status().message()), HasSubstr(server.Url("/silent")));
  // The timer cannot fire early. No upper bound: the server never answers, so only the timer
  // can have ended the fetch (the error says so), and a hang is ctest's timeout to catch; a
  // loaded machine may run the timer late.
  EXPECT_GE(elapsed, 250ms);
}

TEST(HttpClientTest, HalfAnsweredBodyTimesOut) {
  TestServer server([](const ServerRequest&) {
    std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part";
    return Reply{raw, /*hang=*/true};
  });
  HttpClientRequest request;
  request.url = server.Url("/half");
  request.total_timeout = 300ms;
  auto response = Fetch(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(HttpFetchErrorOf(response.status()), HttpFetchError::kTimeout);
}

TEST(HttpClientTest, ConnectRefusedIsAConnectError) {
  HttpClientRequest request;
  request.url = "http://127.0.0.1:1/nothing-listens";
  auto response = Fetch(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(HttpFetchErrorOf(response.status()), HttpFetchError::kConnect);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(response.status().message()),
              HasSubstr("GET http://127.0.0.1:1/nothing-listens: connect failed"));
  EXPECT_THAT(HttpFetchErrorReason(response.status()), HasSubstr("connect failed ("));
}

TEST(HttpClientTest, BadUrlsAreRefusedBeforeAnyConnection) {
  for (const std::string url :
       {"ftp://127.0.0.1/a", "https://127.0.0.1/a", "http://127.0.0.1:99999/", "http:///path",
        "http://user@127.0.0.1/", "http://127.0.0.1/a b"}) {
    HttpClientRequest request;
    request.url = url;
    auto response = Fetch(request);
    ASSERT_FALSE(response.ok()) << url;
    EXPECT_EQ(HttpFetchErrorOf(response.status()), HttpFetchError::kBadUrl) << url;
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_THAT(std::string(response.status().message()), HasSubstr(url));
  }
}

TEST(HttpClientTest, DeclaredLengthOverTheLimitFailsWithoutReadingTheBody) {
  // Declares 50 MB, sends a little, then nothing: only refusing on the header ends this fast.
  TestServer server([](const ServerRequest&) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n" + std::string(1024, 'x'),
                 /*hang=*/true};
  });
  HttpClientRequest request;
  request.url = server.Url("/huge");
  request.max_response_bytes = 1 << 20;
  request.total_timeout = 10s;
  const auto start = std::chrono::steady_clock::now();
  auto response = Fetch(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(HttpFetchErrorOf(response.status()), HttpFetchError::kTooLarge);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(HttpFetchErrorReason(response.status()), HasSubstr("52428800"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(HttpClientTest, ChunkedBodyOverTheLimitStopsBeingRead) {
  // No Content-Length: a 2 MB chunk against a 1 MB limit, and the rest never comes.
  TestServer server([](const ServerRequest&) {
    std::ostringstream raw;
    raw << "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        << std::hex << (2 << 20) << "\r\n"
        << std::string(2 << 20, 'y') << "\r\n";
    return Reply{raw.str(), /*hang=*/true};
  });
  HttpClientRequest request;
  request.url = server.Url("/chunked");
  request.max_response_bytes = 1 << 20;
  request.total_timeout = 10s;
  const auto start = std::chrono::steady_clock::now();
  auto response = Fetch(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(HttpFetchErrorOf(response.status()), HttpFetchError::kTooLarge);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(HttpClientTest, HeaderHookSeesTheHeaderAndSetsTheLimit) {
  TestServer server([](const ServerRequest&) {
    return Reply{Response(200, {{"Content-Type", "image/png"}}, std::string(1000, 'p'))};
  });
  HttpClientRequest request;
  request.url = server.Url("/img");
  int hook_calls = 0;
  request.on_header = [&](const HttpClientResponse& header, uint64_t* limit) {
    ++hook_calls;
    EXPECT_EQ(header.status, 200);
    EXPECT_EQ(header.Header("Content-Type"), "image/png");
    EXPECT_EQ(header.Header("Content-Length"), "1000");
    EXPECT_TRUE(header.body.empty());
    EXPECT_EQ(*limit, request.max_response_bytes);
    *limit = 999;
    return absl::OkStatus();
  };
  auto response = Fetch(request);
  EXPECT_EQ(hook_calls, 1);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(HttpFetchErrorOf(response.status()), HttpFetchError::kTooLarge);

  // A refusal from the hook comes back as it was given.
  request.on_header = [](const HttpClientResponse&, uint64_t*) {
    return absl::PermissionDeniedError("not a picture I like");
  };
  response = Fetch(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status(), absl::PermissionDeniedError("not a picture I like"));
  EXPECT_EQ(HttpFetchErrorOf(response.status()), HttpFetchError::kNone);

  request.on_header = [](const HttpClientResponse&, uint64_t* limit) {
    *limit = 1000;
    return absl::OkStatus();
  };
  response = Fetch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body.size(), 1000u);
}

TEST(HttpClientTest, TruncatingKeepsTheFirstBytesAndStopsReading) {
  TestServer server([](const ServerRequest&) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 10000000\r\n\r\n" +
                     std::string(200 * 1024, 'z'),
                 /*hang=*/true};
  });
  HttpClientRequest request;
  request.url = server.Url("/twiml");
  request.max_response_bytes = 64 * 1024;
  request.truncate_body = true;
  request.total_timeout = 10s;
  const auto start = std::chrono::steady_clock::now();
  auto response = Fetch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(response->truncated);
  EXPECT_EQ(response->body, std::string(64 * 1024, 'z'));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(HttpClientTest, GarbageAnswerIsAProtocolError) {
  TestServer server([](const ServerRequest&) { return Reply{"SMTP ready\r\n\r\n"}; });
  HttpClientRequest request;
  request.url = server.Url("/what");
  auto response = Fetch(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(HttpFetchErrorOf(response.status()), HttpFetchError::kProtocol);
  EXPECT_THAT(std::string(response.status().message()), HasSubstr("bad response header"));
}

TEST(HttpClientTest, ManyConcurrentFetchesOnThreads) {
  TestServer server([](const ServerRequest& request) {
    return Reply{Response(200, {}, std::string(request.target()))};
  });
  net::io_context io;
  std::atomic<int> ok{0};
  std::atomic<int> calls{0};
  constexpr int kFetches = 40;
  for (int i = 0; i < kFetches; ++i) {
    HttpClientRequest request;
    request.url = server.Url("/n" + std::to_string(i));
    HttpFetch(io, request, [&, i](absl::StatusOr<HttpClientResponse> response) {
      ++calls;
      if (response.ok() && response->body == "/n" + std::to_string(i)) ++ok;
    });
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io.run_for(20s); });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(calls.load(), kFetches);
  EXPECT_EQ(ok.load(), kFetches);
}

TEST(HttpClientTest, SplitHttpUrl) {
  auto url = SplitHttpUrl("http://[::1]:8080/a?b=c#d");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, "8080");
  EXPECT_EQ(url->target, "/a?b=c");
  url = SplitHttpUrl("http://example.com");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->port, "80");
  EXPECT_EQ(url->target, "/");
  url = SplitHttpUrl("http://example.com?q=1");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->target, "/?q=1");
  EXPECT_EQ(SplitHttpUrl("http://h:0/").status().message(), "has a malformed port");
}

}  // namespace
}  // namespace mmsgate::mmsc
