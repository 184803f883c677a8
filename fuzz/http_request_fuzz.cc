// Whole HTTP requests, as bytes on a real loopback connection, into mmsgate's HTTP server and
// its routes (health, metrics, media links, media content, the REST facade, the web console)
// over the gateway's
// core on in-memory stores. Each input is one client's bytes: the server must answer with
// well-formed HTTP responses or close the connection, never crash, and keep serving.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <thread>

#include "fakes/test_gateway.h"
#include "gateway/accounts/authority.h"
#include "gateway/api/rest/rest_facade.h"
#include "gateway/console/console.h"
#include "gateway/http/http_routes.h"
#include "gateway/http/http_server.h"

namespace {

using mmsgate::gateway::HttpRequest;
using mmsgate::gateway::HttpResponse;

// The gateway, built once and served by one io_context thread for the whole run.
struct Served {
  mmsgate::testing::TestGateway core;
  mmsgate::gateway::Authority authority{core.directory, ""};
  mmsgate::gateway::ApiChaos chaos{core.clock, 1};
  mmsgate::gateway::HttpHandler rest = mmsgate::gateway::MakeRestFacade(
      core.directory, authority, core.sender, core.messages, chaos, core.io.get_executor());
  // The console without a gRPC target: its RPCs answer 503, everything before them is served.
  mmsgate::gateway::Console console{mmsgate::gateway::ConsoleDependencies{
      &core.io, &core.directory, &core.events,
      mmsgate::gateway::MakeHttpRoutes(core.directory, core.messages, core.media_store,
                                       core.io.get_executor(), [] { return std::string(); }),
      std::chrono::milliseconds(100)}};
  mmsgate::gateway::HttpServer server{
      core.io, mmsgate::gateway::RestFacadeServerOptions(),
      mmsgate::gateway::MakeHttpRoutes(
          core.directory, core.messages, core.media_store, core.io.get_executor(),
          [] { return std::string("mmsgate_up 1\n"); },
          [this](HttpRequest request, std::function<void(HttpResponse)> respond) {
            rest(std::move(request), std::move(respond));
          },
          console.handler())};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(core.io);
  sockaddr_in address{};
  std::thread thread;

  Served() {
    std::string error;
    const auto endpoint = server.Listen("127.0.0.1", 0, &error);
    if (!endpoint) std::abort();
    address.sin_family = AF_INET;
    address.sin_port = htons(endpoint->port());
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    thread = std::thread([this] { core.io.run(); });
  }
};

Served& TheServer() {
  static Served* served = new Served();  // never destroyed: the thread serves until exit
  return *served;
}

// The server's first answer must be a whole, well-formed HTTP/1 response header (Beast's own
// parser judges it); nothing may precede it. Later pipelined answers are not checked: a HEAD
// answer's body length cannot be told without parsing the requests as well.
void CheckResponses(std::string_view answer) {
  if (answer.empty()) return;  // closed without answering (a timeout or a refused connection)
  boost::beast::http::response_parser<boost::beast::http::empty_body> parser;
  parser.header_limit(std::numeric_limits<std::uint32_t>::max());
  boost::beast::error_code error;
  parser.put(boost::asio::buffer(answer.data(), answer.size()), error);
  if (error || !parser.is_header_done()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Served& served = TheServer();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) std::abort();
  if (::connect(fd, reinterpret_cast<sockaddr*>(&served.address), sizeof served.address) != 0) {
    std::perror("connect to the server under test");
    std::abort();  // the server stopped accepting
  }
  // A request the server holds open (waiting for a body, a fetch) is not a finding; give up on
  // it after a while rather than hang the run.
  timeval limit{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  std::size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed early (an error answer), which is allowed
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);  // the end of the client's bytes
  std::string answer;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  // Everything the server sent is read, so an abortive close loses nothing, and this side keeps
  // no TIME_WAIT: it shut down first, and at ~700 connections a second the TIME_WAITs of a
  // normal close used up the ephemeral ports within minutes (connect then failed with
  // EADDRNOTAVAIL, which is the harness's limit, not the server's).
  linger abortive{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  ::close(fd);
  CheckResponses(answer);
  return 0;
}
