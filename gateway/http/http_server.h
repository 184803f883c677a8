#pragma once
// A small HTTP/1.1 server on Boost.Beast: media links (`/m/<token>`), the REST facade and health
// checks all sit behind one `HttpHandler`.
//
// Threading: every connection runs on its own strand of the io_context the server was given, so
// the io_context may be run by any number of threads. Nothing in the server blocks that
// io_context; handlers must not block it either.
//
// What the server does itself, so handlers need not:
//   * Limits and timeouts from `HttpServerOptions`; a header over `max_header_bytes` is answered
//     431, a body over `max_body_bytes` 413, a malformed request (bad method, target, version,
//     header field, chunking, Content-Length) 400.
//   * Framing as RFC 9112 §6 requires, so that a proxy in front cannot read a request's end
//     differently (request smuggling): 400 for Transfer-Encoding that does not end in chunked
//     (gzip, identity, "chunked, identity", xchunked, an empty value), chunked applied twice,
//     Transfer-Encoding on HTTP/1.0, Transfer-Encoding with Content-Length, repeated or listed
//     or signed Content-Length, whitespace before a field's colon, a NUL in a field, a chunk size
//     that is not plain hex or overflows; 501 for a coding before chunked ("gzip, chunked").
//     A folded field line (obs-fold) is unfolded, as §5.2 allows. Those answers carry a JSON body
//     `{"code":<status>,"message":"...","status":<status>}` and `Connection: close`; a timeout
//     just closes the connection.
//   * Keep-alive per HTTP/1.1 (`Connection`, HTTP/1.0 defaults), one request at a time;
//     pipelined requests are read and answered in order.
//   * `Expect: 100-continue` is answered before the body is read.
//   * On every handler response: the HTTP version and keep-alive of the request (a handler may
//     still force `Connection: close`), a `Server` header unless the handler set one, and the
//     framing (`prepare_payload()`), except for HEAD as described below.
//
// HEAD: the response to a HEAD request carries the Content-Length the GET response would have,
// and no body. A handler may either
//   * answer HEAD exactly like GET: the server sets Content-Length from the body and then drops
//     the body, or
//   * call `PrepareHeadResponse(res, n)` when it knows the size without building the body (a
//     stored media object): the server then keeps that Content-Length and sends no body.
// Any response to HEAD that already has a Content-Length is sent with that Content-Length and
// without its body.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mmsgate::gateway {

namespace http = boost::beast::http;

namespace http_server_internal {
class ServerState;  // defined in http_server.cc
}  // namespace http_server_internal

using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

// Called for each request on the connection's strand. Must not block. Must call `respond` exactly
// once, now or later, from any thread (the server posts back to the connection's strand). Calls
// after the first are ignored. If the handler throws before responding, the client gets 500.
// If every copy of `respond` is destroyed without being called, the connection is closed.
using HttpHandler =
    std::function<void(HttpRequest request, std::function<void(HttpResponse)> respond)>;

struct HttpServerOptions {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds header_timeout{10000};   // to receive a complete header
  std::chrono::milliseconds request_timeout{30000};  // to receive a complete request
  // Keep-alive idle: from the end of a response to the first byte of the next request. Also the
  // time a response has to be written completely.
  std::chrono::milliseconds idle_timeout{60000};
  std::size_t max_connections = 10000;  // connections beyond this are closed on accept
  // Connections one client address may hold open; beyond it that address's new connections are
  // closed on accept, so one client (a slowloris, a leaky pool) cannot take every slot. 0: no cap.
  std::size_t max_connections_per_address = 0;
  std::string server_name = "mmsgate";  // the `Server` header
  // Told (on the accept strand, once per spell) when accepting fails for want of descriptors or
  // memory; accepting resumes by itself shortly after.
  std::function<void(const std::string& reason)> on_descriptors_exhausted;
};

// Turns `res` into the answer to a HEAD request whose GET would carry `content_length` body
// bytes: the body is cleared and Content-Length set, and the server sends it as it is.
void PrepareHeadResponse(HttpResponse& res, std::size_t content_length);

// The segments of a request path: "/a/b/c" -> {"a", "b", "c"}; "/a//b/" -> {"a", "", "b", ""}.
// No decoding: a segment is as the client sent it.
std::vector<std::string> PathSegments(const std::string& path);

// Owns the listening socket and knows every open connection. Connections share state with the
// server, not the server object itself, so the server may be destroyed while the io_context
// still holds connection handlers (they are closed by the destructor's Stop()).
// All methods are thread-safe.
class HttpServer {
 public:
  // `io` must outlive the server and every handler the server has queued on it (normally:
  // destroy the server, let io.run() return, then destroy io). `handler` is kept in state shared
  // with the connections and called on their strands until the last connection ends.
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, HttpHandler handler);
  // Calls Stop(). Does not wait for connections to finish closing.
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `host` (an IP address literal such as "127.0.0.1", "0.0.0.0" or "::") and `port`
  // (0 picks a free port) and starts accepting. Returns the bound endpoint, or nullopt with a
  // description in `*error` (if non-null). May be called once; fails after Stop().
  std::optional<boost::asio::ip::tcp::endpoint> Listen(const std::string& host, uint16_t port,
                                                       std::string* error);
  // Listen in two steps: Bind takes the address (so that its port is known) without accepting,
  // and StartAccepting begins serving (connections made before wait in the backlog).
  std::optional<boost::asio::ip::tcp::endpoint> Bind(const std::string& host, uint16_t port,
                                                     std::string* error);
  void StartAccepting();

  // Stops accepting and closes every open connection (without waiting for responses in
  // progress); afterwards io.run() returns once nothing else is pending on it. Safe to call from
  // any thread, including from a handler; idempotent; does not block on the io_context.
  void Stop();

  // Connections open now (for stats/tests). A closed connection stops counting once its last
  // pending operation has finished.
  std::size_t open_connections() const;

 private:
  std::shared_ptr<http_server_internal::ServerState> state_;
};

}  // namespace mmsgate::gateway
