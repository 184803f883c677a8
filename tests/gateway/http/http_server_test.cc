#include "gateway/http/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace mmsgate::gateway {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// A blocking client for the test thread. Every operation runs asynchronously on the client's own
// io_context with a deadline, so a server bug fails the test instead of hanging it.
class Client {
 public:
  explicit Client(const tcp::endpoint& endpoint) {
    beast::error_code ec = Run([&](auto done) { stream_.async_connect(endpoint, done); });
    EXPECT_FALSE(ec) << ec.message();
  }
  beast::error_code WriteRaw(const std::string& data) {
    return Run([&](auto done) { net::async_write(stream_, net::buffer(data), done); });
  }
  beast::error_code Send(HttpRequest request) {
    request.prepare_payload();
    return Run([&](auto done) { http::async_write(stream_, request, done); });
  }
  // Reads one response; `head` for the answer to a HEAD request (no body follows).
  beast::error_code Read(HttpResponse* response, bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head);
    beast::error_code ec =
        Run([&](auto done) { http::async_read(stream_, buffer_, parser, done); });
    if (!ec) *response = parser.release();
    return ec;
  }
  // Sends `request` and reads its response; fails the test on any error.
  HttpResponse RoundTrip(HttpRequest request) {
    const bool head = request.method() == http::verb::head;
    HttpResponse response;
    beast::error_code ec = Send(std::move(request));
    EXPECT_FALSE(ec) << ec.message();
    ec = Read(&response, head);
    EXPECT_FALSE(ec) << ec.message();
    return response;
  }

 private:
  template <typename Start>
  beast::error_code Run(Start start) {
    beast::error_code result = net::error::timed_out;
    stream_.expires_after(5s);
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    io_.restart();
    io_.run();
    return result;
  }

  net::io_context io_;
  beast::tcp_stream stream_{io_};
  beast::flat_buffer buffer_;
};

HttpRequest MakeRequest(http::verb method, const std::string& target, bool keep_alive = true) {
  HttpRequest request{method, target, 11};
  request.set(http::field::host, "localhost");
  request.keep_alive(keep_alive);
  return request;
}

HttpResponse TextResponse(http::status status, std::string body) {
  HttpResponse response{status, 11};
  response.set(http::field::content_type, "text/plain");
  response.body() = std::move(body);
  return response;
}

// Waits up to 5 s for `condition`.
bool Eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class HttpServerTest : public ::testing::Test {
 protected:
  // Starts the server on 127.0.0.1 with a free port and runs io_ on a background thread. Without
  // a work guard, so that io_.run() returning after Stop() can be observed.
  void StartServer(HttpHandler handler, HttpServerOptions options = {}) {
    server_ = std::make_unique<HttpServer>(io_, std::move(options), std::move(handler));
    std::string error;
    std::optional<tcp::endpoint> endpoint = server_->Listen("127.0.0.1", 0, &error);
    ASSERT_TRUE(endpoint.has_value()) << error;
    ASSERT_NE(endpoint->port(), 0);
    endpoint_ = *endpoint;
    run_done_ = std::async(std::launch::async, [this] { io_.run(); });
  }

  // Stops the server and reports whether io_.run() returned within 5 s.
  bool StopAndWaitForRun() {
    server_->Stop();
    if (!run_done_.valid()) return true;
    const bool returned = run_done_.wait_for(5s) == std::future_status::ready;
    if (!returned) io_.stop();
    run_done_.get();
    return returned;
  }

  void TearDown() override {
    if (server_ != nullptr) {
      EXPECT_TRUE(StopAndWaitForRun());
    }
  }

  net::io_context io_;
  std::unique_ptr<HttpServer> server_;
  tcp::endpoint endpoint_;
  std::future<void> run_done_;
};

TEST(PathSegments, SplitsOnSlashesKeepingEmptySegments) {
  using V = std::vector<std::string>;
  EXPECT_EQ(PathSegments("/"), V({""}));
  EXPECT_EQ(PathSegments("/a"), V({"a"}));
  EXPECT_EQ(PathSegments("/2010-04-01/Accounts/AC1/Messages.json"),
            V({"2010-04-01", "Accounts", "AC1", "Messages.json"}));
  EXPECT_EQ(PathSegments("/a//b/"), V({"a", "", "b", ""}));
  EXPECT_EQ(PathSegments("/a%2Fb"), V({"a%2Fb"}));
}

TEST_F(HttpServerTest, GetReturnsTheHandlersStatusAndBody) {
  StartServer([](HttpRequest request, std::function<void(HttpResponse)> respond) {
    respond(TextResponse(http::status::created, "hello " + std::string(request.target())));
  });
  Client client(endpoint_);
  HttpResponse response = client.RoundTrip(MakeRequest(http::verb::get, "/m/abc"));
  EXPECT_EQ(response.result(), http::status::created);
  EXPECT_EQ(response.body(), "hello /m/abc");
  EXPECT_EQ(response[http::field::server], "mmsgate");
  EXPECT_EQ(response[http::field::content_length], "12");
  EXPECT_TRUE(response.keep_alive());
}

TEST_F(HttpServerTest, HandlerMayRespondLaterFromAnotherThread) {
  net::io_context other_io;
  auto work = net::make_work_guard(other_io);
  std::thread other_thread([&other_io] { other_io.run(); });
  std::atomic<std::thread::id> respond_thread;
  StartServer([&](HttpRequest, std::function<void(HttpResponse)> respond) {
    auto timer = std::make_shared<net::steady_timer>(other_io, 50ms);
    timer->async_wait([timer, &respond_thread, respond](const beast::error_code&) {
      respond_thread = std::this_thread::get_id();
      respond(TextResponse(http::status::ok, "later"));
    });
  });
  Client client(endpoint_);
  HttpResponse response = client.RoundTrip(MakeRequest(http::verb::get, "/later"));
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response.body(), "later");
  EXPECT_EQ(respond_thread.load(), other_thread.get_id());
  work.reset();
  other_thread.join();
}

TEST_F(HttpServerTest, SecondRespondCallIsIgnored) {
  StartServer([](HttpRequest, std::function<void(HttpResponse)> respond) {
    respond(TextResponse(http::status::ok, "first"));
    respond(TextResponse(http::status::ok, "second"));
  });
  Client client(endpoint_);
  EXPECT_EQ(client.RoundTrip(MakeRequest(http::verb::get, "/a")).body(), "first");
  EXPECT_EQ(client.RoundTrip(MakeRequest(http::verb::get, "/b")).body(), "first");
}

TEST_F(HttpServerTest, KeepAliveAnswersTwoRequestsOnOneConnection) {
  std::atomic<int> calls{0};
  StartServer([&calls](HttpRequest request, std::function<void(HttpResponse)> respond) {
    ++calls;
    respond(TextResponse(http::status::ok, std::string(request.target())));
  });
  {
    Client client(endpoint_);
    EXPECT_EQ(client.RoundTrip(MakeRequest(http::verb::get, "/one")).body(), "/one");
    EXPECT_EQ(server_->open_connections(), 1u);
    HttpResponse second = client.RoundTrip(MakeRequest(http::verb::get, "/two", false));
    EXPECT_EQ(second.body(), "/two");
    EXPECT_FALSE(second.keep_alive());
    EXPECT_EQ(calls.load(), 2);
    HttpResponse none;
    EXPECT_EQ(client.Read(&none), http::error::end_of_stream);
  }
  EXPECT_TRUE(Eventually([this] { return server_->open_connections() == 0; }));
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  net::io_context other_io;
  auto work = net::make_work_guard(other_io);
  std::thread other_thread([&other_io] { other_io.run(); });
  StartServer([&other_io](HttpRequest request, std::function<void(HttpResponse)> respond) {
    std::string target(request.target());
    if (target == "/slow") {
      auto timer = std::make_shared<net::steady_timer>(other_io, 100ms);
      timer->async_wait([timer, respond, target](const beast::error_code&) {
        respond(TextResponse(http::status::ok, target));
      });
    } else {
      respond(TextResponse(http::status::ok, target));
    }
  });
  Client client(endpoint_);
  ASSERT_FALSE(
      client.WriteRaw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                      "POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                      "GET /last HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (const char* expected : {"/slow", "/fast", "/last"}) {
    HttpResponse response;
    ASSERT_FALSE(client.Read(&response));
    EXPECT_EQ(response.body(), expected);
  }
  work.reset();
  other_thread.join();
}

TEST_F(HttpServerTest, HeaderOverTheLimitIs431) {
  std::atomic<int> calls{0};
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  StartServer(
      [&calls](HttpRequest, std::function<void(HttpResponse)> respond) {
        ++calls;
        respond(TextResponse(http::status::ok, "ok"));
      },
      options);
  Client client(endpoint_);
  HttpRequest request = MakeRequest(http::verb::get, "/");
  request.set("X-Big", std::string(4096, 'a'));
  HttpResponse response = client.RoundTrip(std::move(request));
  EXPECT_EQ(response.result(), http::status::request_header_fields_too_large);
  EXPECT_EQ(response[http::field::content_type], "application/json");
  EXPECT_EQ(response.body(),
            R"({"code":431,"message":"the request header is over this server's limit of )" +
                std::to_string(options.max_header_bytes) +
                R"( bytes; send fewer or shorter headers","status":431})");
  EXPECT_FALSE(response.keep_alive());
  HttpResponse none;
  EXPECT_EQ(client.Read(&none), http::error::end_of_stream);
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413) {
  std::atomic<int> calls{0};
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(
      [&calls](HttpRequest request, std::function<void(HttpResponse)> respond) {
        ++calls;
        respond(TextResponse(http::status::ok, std::to_string(request.body().size())));
      },
      options);
  {
    // Exactly at the limit is fine.
    Client client(endpoint_);
    HttpRequest request = MakeRequest(http::verb::post, "/upload");
    request.body() = std::string(1024, 'x');
    EXPECT_EQ(client.RoundTrip(std::move(request)).body(), "1024");
  }
  {
    // Declared by Content-Length: refused from the header alone.
    Client client(endpoint_);
    HttpRequest request = MakeRequest(http::verb::post, "/upload");
    request.body() = std::string(4096, 'x');
    HttpResponse response = client.RoundTrip(std::move(request));
    EXPECT_EQ(response.result(), http::status::payload_too_large);
    EXPECT_EQ(
        response.body(),
        R"json({"code":413,"message":"the request body is over this server's limit of 1024 bytes (a message Body is at most 1600 characters; send media by MediaUrl)","status":413})json");
    EXPECT_FALSE(response.keep_alive());
    HttpResponse none;
    EXPECT_EQ(client.Read(&none), http::error::end_of_stream);
  }
  {
    // Chunked: found out while reading the body.
    Client client(endpoint_);
    std::string chunk(800, 'y');
    ASSERT_FALSE(
        client.WriteRaw("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "320\r\n" +
                        chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n"));
    HttpResponse response;
    ASSERT_FALSE(client.Read(&response));
    EXPECT_EQ(response.result(), http::status::payload_too_large);
  }
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(HttpServerTest, GarbageRequestLineIs400ThenClose) {
  std::atomic<int> calls{0};
  StartServer([&calls](HttpRequest, std::function<void(HttpResponse)> respond) {
    ++calls;
    respond(TextResponse(http::status::ok, "ok"));
  });
  Client client(endpoint_);
  ASSERT_FALSE(client.WriteRaw("BLAH\r\n\r\n"));
  HttpResponse response;
  ASSERT_FALSE(client.Read(&response));
  EXPECT_EQ(response.result(), http::status::bad_request);
  EXPECT_EQ(response.body(), R"({"code":400,"message":"malformed request","status":400})");
  EXPECT_FALSE(response.keep_alive());
  HttpResponse none;
  EXPECT_EQ(client.Read(&none), http::error::end_of_stream);
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(HttpServerTest, BadChunkingIs400) {
  StartServer([](HttpRequest, std::function<void(HttpResponse)> respond) {
    respond(TextResponse(http::status::ok, "ok"));
  });
  Client client(endpoint_);
  ASSERT_FALSE(client.WriteRaw(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"));
  HttpResponse response;
  ASSERT_FALSE(client.Read(&response));
  EXPECT_EQ(response.result(), http::status::bad_request);
}

TEST_F(HttpServerTest, HeadResponseHasTheGetContentLengthAndNoBody) {
  const std::string body = "0123456789abcdef";
  StartServer([body](HttpRequest request, std::function<void(HttpResponse)> respond) {
    HttpResponse response = TextResponse(http::status::ok, body);
    if (request.method() == http::verb::head && request.target() == "/prepared") {
      PrepareHeadResponse(response, body.size());
    }
    respond(std::move(response));
  });
  Client client(endpoint_);
  // "/prepared": the handler sets Content-Length itself; "/plain": it answers as for GET.
  for (const char* target : {"/prepared", "/plain"}) {
    SCOPED_TRACE(target);
    HttpResponse head = client.RoundTrip(MakeRequest(http::verb::head, target));
    EXPECT_EQ(head.result(), http::status::ok);
    EXPECT_EQ(head[http::field::content_length], std::to_string(body.size()));
    EXPECT_TRUE(head.body().empty());
    // Had the server sent body bytes after the HEAD header, this response would be garbled.
    HttpResponse get = client.RoundTrip(MakeRequest(http::verb::get, target));
    EXPECT_EQ(get.result(), http::status::ok);
    EXPECT_EQ(get.body(), body);
  }
}

TEST_F(HttpServerTest, HandlerExceptionIs500) {
  StartServer(
      [](HttpRequest, std::function<void(HttpResponse)>) { throw std::runtime_error("boom"); });
  Client client(endpoint_);
  HttpResponse response = client.RoundTrip(MakeRequest(http::verb::get, "/"));
  EXPECT_EQ(response.result(), http::status::internal_server_error);
}

TEST_F(HttpServerTest, Http10WithoutKeepAliveIsClosedAfterTheResponse) {
  StartServer([](HttpRequest, std::function<void(HttpResponse)> respond) {
    respond(TextResponse(http::status::ok, "ok"));
  });
  Client client(endpoint_);
  ASSERT_FALSE(client.WriteRaw("GET / HTTP/1.0\r\n\r\n"));
  HttpResponse response;
  ASSERT_FALSE(client.Read(&response));
  EXPECT_EQ(response.version(), 10u);
  EXPECT_EQ(response.body(), "ok");
  HttpResponse none;
  EXPECT_EQ(client.Read(&none), http::error::end_of_stream);
}

TEST_F(HttpServerTest, ExpectContinueIsAnswered) {
  StartServer([](HttpRequest request, std::function<void(HttpResponse)> respond) {
    respond(TextResponse(http::status::ok, request.body()));
  });
  Client client(endpoint_);
  ASSERT_FALSE(client.WriteRaw(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  HttpResponse interim;
  ASSERT_FALSE(client.Read(&interim));
  EXPECT_EQ(interim.result(), http::status::continue_);
  ASSERT_FALSE(client.WriteRaw("hello"));
  HttpResponse response;
  ASSERT_FALSE(client.Read(&response));
  EXPECT_EQ(response.body(), "hello");
}

TEST_F(HttpServerTest, StopClosesAnIdleKeepAliveConnectionAndRunReturns) {
  StartServer([](HttpRequest, std::function<void(HttpResponse)> respond) {
    respond(TextResponse(http::status::ok, "ok"));
  });
  Client client(endpoint_);
  EXPECT_EQ(client.RoundTrip(MakeRequest(http::verb::get, "/")).body(), "ok");
  EXPECT_EQ(server_->open_connections(), 1u);
  EXPECT_TRUE(StopAndWaitForRun());
  HttpResponse none;
  EXPECT_EQ(client.Read(&none), http::error::end_of_stream);
  EXPECT_EQ(server_->open_connections(), 0u);
  server_->Stop();  // idempotent
  std::string error;
  EXPECT_FALSE(server_->Listen("127.0.0.1", 0, &error).has_value());
  EXPECT_FALSE(error.empty());
}

TEST_F(HttpServerTest, StopWhileAHandlerIsPendingStillLetsRunReturn) {
  std::function<void(HttpResponse)> held;
  std::promise<void> called;
  StartServer([&](HttpRequest, std::function<void(HttpResponse)> respond) {
    held = std::move(respond);
    called.set_value();
  });
  Client client(endpoint_);
  ASSERT_FALSE(client.Send(MakeRequest(http::verb::get, "/")));
  called.get_future().wait();
  EXPECT_TRUE(StopAndWaitForRun());
  HttpResponse none;
  EXPECT_EQ(client.Read(&none), http::error::end_of_stream);
  // Responding after the connection is gone is harmless; it only queues work on io_.
  held(TextResponse(http::status::ok, "late"));
  held = nullptr;
  io_.restart();
  io_.run();
  EXPECT_EQ(server_->open_connections(), 0u);
}

TEST_F(HttpServerTest, ConnectionsOverTheLimitAreClosed) {
  HttpServerOptions options;
  options.max_connections = 1;
  StartServer(
      [](HttpRequest, std::function<void(HttpResponse)> respond) {
        respond(TextResponse(http::status::ok, "ok"));
      },
      options);
  {
    Client first(endpoint_);
    EXPECT_EQ(first.RoundTrip(MakeRequest(http::verb::get, "/")).body(), "ok");
    Client second(endpoint_);
    HttpResponse none;
    beast::error_code ec = second.Read(&none);
    EXPECT_TRUE(ec == http::error::end_of_stream || ec == net::error::connection_reset)
        << ec.message();
  }
  ASSERT_TRUE(Eventually([this] { return server_->open_connections() == 0; }));
  Client third(endpoint_);
  EXPECT_EQ(third.RoundTrip(MakeRequest(http::verb::get, "/")).body(), "ok");
}

TEST_F(HttpServerTest, TimeoutsCloseTheConnection) {
  HttpServerOptions options;
  options.header_timeout = 200ms;
  options.idle_timeout = 200ms;
  StartServer(
      [](HttpRequest, std::function<void(HttpResponse)> respond) {
        respond(TextResponse(http::status::ok, "ok"));
      },
      options);
  {
    // An incomplete header.
    Client client(endpoint_);
    ASSERT_FALSE(client.WriteRaw("GET / HTTP/1.1\r\nHost: x\r\n"));
    HttpResponse none;
    EXPECT_EQ(client.Read(&none), http::error::end_of_stream);
  }
  {
    // Idle after a keep-alive response.
    Client client(endpoint_);
    EXPECT_EQ(client.RoundTrip(MakeRequest(http::verb::get, "/")).body(), "ok");
    HttpResponse none;
    EXPECT_EQ(client.Read(&none), http::error::end_of_stream);
  }
}

TEST_F(HttpServerTest, ListenRejectsABadAddress) {
  HttpServer server(io_, {}, [](HttpRequest, std::function<void(HttpResponse)>) {});
  std::string error;
  EXPECT_FALSE(server.Listen("not an address", 0, &error).has_value());
  EXPECT_NE(error.find("invalid listen address"), std::string::npos) << error;
}

}  // namespace
}  // namespace mmsgate::gateway

namespace mmsgate::gateway {
namespace {

// Request smuggling: every framing a server and a proxy could read differently is refused with
// the connection closed, and nothing after it is ever read as a request (RFC 9112 §6.1, §6.3).
TEST_F(HttpServerTest, AmbiguousFramingIsRefusedAndNothingIsSmuggled) {
  std::atomic<int> calls{0};
  StartServer([&calls](HttpRequest, std::function<void(HttpResponse)> respond) {
    ++calls;
    respond(TextResponse(http::status::ok, "ok"));
  });
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  static constexpr char kNulInField[] = "POST /front HTTP/1.1\r\nHost: x\r\nX-A: a\0b";
  const std::string chunked_body = "5\r\nhello\r\n0\r\n\r\n";
  struct Case {
    std::string name;
    std::string head;  // request line and fields, without the blank line
    std::string body;
    http::status expected;
  };
  const std::vector<Case> cases = {
      {"gzip", "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip", smuggled,
       http::status::bad_request},
      {"identity", "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity", smuggled,
       http::status::bad_request},
      {"chunked then identity",
       "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity", smuggled,
       http::status::bad_request},
      {"xchunked", "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked", smuggled,
       http::status::bad_request},
      {"chunked as a suffix", "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: notchunked",
       smuggled, http::status::bad_request},
      {"empty", "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ", smuggled,
       http::status::bad_request},
      {"chunked twice", "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked",
       chunked_body + smuggled, http::status::bad_request},
      {"two lines, chunked last",
       "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
       chunked_body + smuggled, http::status::not_implemented},
      {"two lines, chunked first",
       "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip",
       smuggled, http::status::bad_request},
      {"unknown coding before chunked",
       "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked",
       chunked_body + smuggled, http::status::not_implemented},
      {"on HTTP/1.0", "POST /front HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked",
       chunked_body + smuggled, http::status::bad_request},
      {"with Content-Length",
       "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked",
       chunked_body + smuggled, http::status::bad_request},
      {"space before the colon", "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked",
       chunked_body + smuggled, http::status::bad_request},
      {"two Content-Lengths",
       "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5", smuggled,
       http::status::bad_request},
      {"Content-Length list", "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 5", smuggled,
       http::status::bad_request},
      {"signed Content-Length", "POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: +0", smuggled,
       http::status::bad_request},
      {"hex chunk size", "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked",
       "0x5\r\nhello\r\n0\r\n\r\n" + smuggled, http::status::bad_request},
      {"chunk size overflow", "POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked",
       "10000000000000005\r\nhello\r\n0\r\n\r\n" + smuggled, http::status::bad_request},
      // (The length was 43 here, 4 bytes past the literal: AddressSanitizer found it.)
      {"NUL in a field", std::string(kNulInField, sizeof(kNulInField) - 1), smuggled,
       http::status::bad_request},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Client client(endpoint_);
    ASSERT_FALSE(client.WriteRaw(c.head + "\r\n\r\n" + c.body));
    HttpResponse response;
    ASSERT_FALSE(client.Read(&response));
    EXPECT_EQ(response.result(), c.expected);
    EXPECT_FALSE(response.keep_alive());
    HttpResponse none;
    EXPECT_EQ(client.Read(&none), http::error::end_of_stream);
  }
  EXPECT_EQ(calls.load(), 0) << "a refused or smuggled request reached the handler";
}

TEST_F(HttpServerTest, PlainChunkedAndBareLineEndsAreStillServed) {
  std::atomic<int> calls{0};
  std::string seen;
  StartServer([&](HttpRequest request, std::function<void(HttpResponse)> respond) {
    ++calls;
    seen = request.body();
    respond(TextResponse(http::status::ok, "ok"));
  });
  Client client(endpoint_);
  // Case and whitespace do not matter for a lone "chunked", and chunk extensions are allowed.
  ASSERT_FALSE(
      client.WriteRaw("POST /front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  Chunked \r\n\r\n"
                      "5;name=value\r\nhello\r\n0\r\n\r\n"));
  HttpResponse response;
  ASSERT_FALSE(client.Read(&response));
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_TRUE(response.keep_alive());
  EXPECT_EQ(seen, "hello");
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace mmsgate::gateway
