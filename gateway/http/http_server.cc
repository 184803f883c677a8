#include "gateway/http/http_server.h"

#include <algorithm>
#include <array>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/http/tcp_acceptor.h"

namespace mmsgate::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// After a response that ends the connection we stop sending and keep reading (and discarding)
// for at most this long: closing a socket with unread input makes the kernel send RST, which can
// destroy our own 413/431 before the client has read it.
constexpr std::chrono::milliseconds kLingerTimeout{2000};

// How much the keep-alive wait reads at once; the header parser takes over from there.
constexpr std::size_t kFirstReadBytes = 4096;

constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

// Errors from the request parser that mean the client sent something that is not HTTP/1.x.
// Everything else (EOF, reset, timeout) just closes: there is nobody to answer.
bool IsMalformedRequest(const beast::error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) return false;
  switch (static_cast<http::error>(ec.value())) {
    case http::error::bad_line_ending:
    case http::error::bad_method:
    case http::error::bad_target:
    case http::error::bad_version:
    case http::error::bad_field:
    case http::error::bad_value:
    case http::error::bad_content_length:
    case http::error::bad_transfer_encoding:
    case http::error::bad_chunk:
    case http::error::bad_chunk_extension:
    case http::error::bad_obs_fold:
      return true;
    default:
      return false;
  }
}

// The body of every answer the server gives itself. Messages are our own constants, so they
// need no JSON escaping. There is no provider error code for protocol errors, so `code` repeats
// the HTTP status.
HttpResponse MakeErrorResponse(http::status status, std::string_view message,
                               const std::string& server_name) {
  HttpResponse res{status, 11};
  res.set(http::field::server, server_name);
  res.set(http::field::content_type, "application/json");
  res.keep_alive(false);
  const std::string code = std::to_string(static_cast<unsigned>(status));
  res.body() = "{\"code\":" + code + ",\"message\":\"" + std::string(message) +
               "\",\"status\":" + code + "}";
  res.prepare_payload();
  return res;
}

struct FramingRefusal {
  http::status status;
  std::string message;
};

// Transfer-Encoding as RFC 9112 §6.1 requires a server to read it, so that no framing is
// understood one way here and another way by a proxy in front (request smuggling). Beast only
// recognises a final "chunked" and otherwise reads no body, which would run the body as the
// next request; everything it would misread is refused here, before the body is touched.
// (Content-Length together with Transfer-Encoding, repeated or malformed Content-Length and bad
// chunk sizes are refused by Beast's parser itself.)
std::optional<FramingRefusal> CheckFraming(const HttpRequest& header) {
  std::vector<std::string> codings;
  bool present = false;
  const auto [first, last] = header.equal_range(http::field::transfer_encoding);
  for (auto field = first; field != last; ++field) {
    present = true;
    const std::string_view value = field->value();
    std::size_t start = 0;
    while (start <= value.size()) {
      std::size_t comma = value.find(',', start);
      if (comma == std::string_view::npos) comma = value.size();
      std::string_view element = value.substr(start, comma - start);
      element = element.substr(0, element.find(';'));  // coding parameters
      while (!element.empty() && (element.front() == ' ' || element.front() == '\t')) {
        element.remove_prefix(1);
      }
      while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) {
        element.remove_suffix(1);
      }
      // Empty list elements are allowed and mean nothing (RFC 9110 §5.6.1).
      if (!element.empty()) {
        std::string coding(element);
        for (char& c : coding) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        codings.push_back(std::move(coding));
      }
      start = comma + 1;
    }
  }
  if (!present) return std::nullopt;
  if (header.version() < 11) {
    return FramingRefusal{http::status::bad_request,
                          "Transfer-Encoding is not allowed in an HTTP/1.0 request"};
  }
  if (codings.empty() || codings.back() != "chunked") {
    return FramingRefusal{http::status::bad_request,
                          "Transfer-Encoding must end in chunked; send Content-Length instead"};
  }
  if (std::count(codings.begin(), codings.end(), "chunked") > 1) {
    return FramingRefusal{http::status::bad_request, "chunked is applied more than once"};
  }
  if (codings.size() > 1) {
    return FramingRefusal{http::status::not_implemented,
                          "only the chunked transfer coding is supported"};
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> PathSegments(const std::string& path) {
  std::vector<std::string> parts;
  for (std::size_t start = 1; start <= path.size();) {
    const auto slash = path.find('/', start);
    parts.push_back(
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

void PrepareHeadResponse(HttpResponse& res, std::size_t content_length) {
  res.body().clear();
  res.content_length(content_length);
}

namespace http_server_internal {

class Session;

// Everything the server object, its accept loop and its sessions share. Sessions keep it alive,
// so ~HttpServer does not have to wait for them.
class ServerState : public std::enable_shared_from_this<ServerState> {
 public:
  ServerState(net::io_context& io, HttpServerOptions options, HttpHandler handler)
      : io_(io), options_(std::move(options)), handler_(std::move(handler)) {}

  const HttpServerOptions& options() const { return options_; }
  const HttpHandler& handler() const { return handler_; }

  std::optional<tcp::endpoint> Listen(const std::string& host, uint16_t port, std::string* error,
                                      bool start);
  void StartAccepting() {
    std::lock_guard lock(mutex_);
    if (acceptor_ && !stopped_) acceptor_->Start();
  }
  void Stop();
  std::size_t open_connections() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
  }
  // Called from ~Session, on any thread.
  void Unregister(const Session* session, const net::ip::address& peer) {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
    if (const auto it = per_address_.find(peer); it != per_address_.end() && --it->second == 0) {
      per_address_.erase(it);
    }
  }

 private:
  // On the acceptor's strand: one new connection.
  void OnAccept(tcp::socket socket);

  net::io_context& io_;
  const HttpServerOptions options_;
  const HttpHandler handler_;

  mutable std::mutex mutex_;
  std::shared_ptr<TcpAcceptor> acceptor_;  // guarded by mutex_
  bool listening_ = false;                 // guarded by mutex_
  bool stopped_ = false;                   // guarded by mutex_
  // Weak so that a session's lifetime is decided by its pending operations alone.
  std::unordered_map<const Session*, std::weak_ptr<Session>> sessions_;  // guarded by mutex_
  // Open connections by client address (only addresses with at least one).
  std::map<net::ip::address, std::size_t> per_address_;  // guarded by mutex_
};

// One connection. Every member function except Close() runs on the stream's strand; every
// asynchronous operation holds a shared_ptr to the session, so it lives exactly as long as
// something is pending (or a handler holds `respond`).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<ServerState> server, tcp::socket socket, net::ip::address peer)
      : server_(std::move(server)), stream_(std::move(socket)), peer_(std::move(peer)) {}
  ~Session() { server_->Unregister(this, peer_); }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Any thread: begins reading the first request on the strand.
  void Start() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->StartRequest(); });
  }
  // Any thread: closes the socket on the strand, cancelling whatever is pending.
  void Close() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->CloseNow(); });
  }

 private:
  const HttpServerOptions& options() const { return server_->options(); }

  void StartRequest();
  void ReadHeader();
  void OnHeader(const beast::error_code& ec);
  void ReadBody();
  void OnBody(const beast::error_code& ec);
  void CallHandler();
  void OnResponse(uint64_t serial, HttpResponse res);
  void Write(HttpResponse res);
  void OnWritten(const beast::error_code& ec, bool close);
  void WaitForNextRequest();
  void OnFirstBytes(const beast::error_code& ec, std::size_t bytes);
  void FailRequest(const beast::error_code& ec);
  void SendError(http::status status, std::string_view message);
  void LingeringClose();
  void Drain();
  void CloseNow();

  const std::shared_ptr<ServerState> server_;
  beast::tcp_stream stream_;
  const net::ip::address peer_;  // the client's address, for the per-address cap
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;  // the request being read
  Clock::time_point header_deadline_;
  Clock::time_point request_deadline_;
  uint64_t serial_ = 0;  // of the last request given to the handler
  bool awaiting_response_ = false;
  bool head_request_ = false;
  unsigned request_version_ = 11;
  bool request_keep_alive_ = true;
  HttpResponse response_;  // the response being written; async_write needs it to stay put
  std::array<char, 4096> drain_buffer_;
  bool closed_ = false;
};

void Session::StartRequest() {
  if (closed_) return;
  const Clock::time_point start = Clock::now();
  request_deadline_ = start + options().request_timeout;
  header_deadline_ = std::min(start + options().header_timeout, request_deadline_);
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
      options().max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser_->body_limit(static_cast<std::uint64_t>(options().max_body_bytes));
  ReadHeader();
}

void Session::ReadHeader() {
  stream_.expires_at(header_deadline_);
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
                            self->OnHeader(ec);
                          });
}

void Session::OnHeader(const beast::error_code& ec) {
  if (closed_) return;
  if (ec) {
    FailRequest(ec);
    return;
  }
  if (auto refusal = CheckFraming(parser_->get())) {
    SendError(refusal->status, refusal->message);
    return;
  }
  if (parser_->is_done()) {
    CallHandler();
    return;
  }
  const HttpRequest& header = parser_->get();
  if (header.version() >= 11 && beast::iequals(header[http::field::expect], "100-continue")) {
    // Clients such as curl wait (or give up) until told to send the body.
    stream_.expires_at(request_deadline_);
    net::async_write(stream_, net::buffer(kContinueResponse.data(), kContinueResponse.size()),
                     [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
                       if (self->closed_) return;
                       if (ec) {
                         self->CloseNow();
                         return;
                       }
                       self->ReadBody();
                     });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  stream_.expires_at(request_deadline_);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](const beast::error_code& ec, std::size_t) { self->OnBody(ec); });
}

void Session::OnBody(const beast::error_code& ec) {
  if (closed_) return;
  if (ec) {
    FailRequest(ec);
    return;
  }
  CallHandler();
}

void Session::CallHandler() {
  HttpRequest request = parser_->release();
  parser_.reset();
  head_request_ = request.method() == http::verb::head;
  request_version_ = request.version();
  request_keep_alive_ = request.keep_alive();
  const uint64_t serial = ++serial_;
  awaiting_response_ = true;
  // The serial lets OnResponse drop a second call, or a call that arrives after an exception
  // already answered 500. Posting (never dispatching) keeps a handler that responds at once from
  // re-entering the session while it is still inside CallHandler.
  auto respond = [self = shared_from_this(), executor = stream_.get_executor(),
                  serial](HttpResponse res) {
    net::post(executor, [self, serial, res = std::move(res)]() mutable {
      self->OnResponse(serial, std::move(res));
    });
  };
  try {
    server_->handler()(std::move(request), std::move(respond));
  } catch (const std::exception&) {
    OnResponse(serial, MakeErrorResponse(http::status::internal_server_error, "internal error",
                                         options().server_name));
  } catch (...) {
    OnResponse(serial, MakeErrorResponse(http::status::internal_server_error, "internal error",
                                         options().server_name));
  }
}

void Session::OnResponse(uint64_t serial, HttpResponse res) {
  if (closed_ || !awaiting_response_ || serial != serial_) return;
  awaiting_response_ = false;
  try {
    // keep_alive() depends on the version, so read the handler's wish before changing it.
    const bool handler_keep_alive = res.keep_alive();
    res.version(request_version_);
    res.keep_alive(request_keep_alive_ && handler_keep_alive);
    if (res.find(http::field::server) == res.end()) {
      res.set(http::field::server, options().server_name);
    }
    if (head_request_) {
      // The Content-Length of a HEAD response is the GET body's; the body itself must not be
      // sent, and Beast's serializer would send it.
      if (!res.has_content_length()) res.prepare_payload();
      res.body().clear();
    } else {
      res.prepare_payload();
    }
  } catch (const std::exception&) {
    // prepare_payload() throws for a 1xx/204/304 with a body: a handler bug, not the client's.
    res = MakeErrorResponse(http::status::internal_server_error, "internal error",
                            options().server_name);
  }
  Write(std::move(res));
}

void Session::Write(HttpResponse res) {
  response_ = std::move(res);
  const bool close = response_.need_eof();
  stream_.expires_after(options().idle_timeout);
  http::async_write(stream_, response_,
                    [self = shared_from_this(), close](const beast::error_code& ec, std::size_t) {
                      self->OnWritten(ec, close);
                    });
}

void Session::OnWritten(const beast::error_code& ec, bool close) {
  response_ = {};  // a media body can be large; do not keep it through the idle wait
  if (closed_) return;
  if (ec) {
    CloseNow();
    return;
  }
  if (close) {
    LingeringClose();
    return;
  }
  WaitForNextRequest();
}

void Session::WaitForNextRequest() {
  // A pipelined request already buffered starts at once; otherwise the idle timeout covers the
  // wait for its first byte and the header timeout only starts then.
  if (buffer_.size() > 0) {
    StartRequest();
    return;
  }
  stream_.expires_after(options().idle_timeout);
  stream_.async_read_some(
      buffer_.prepare(kFirstReadBytes),
      [self = shared_from_this()](const beast::error_code& ec, std::size_t bytes) {
        self->OnFirstBytes(ec, bytes);
      });
}

void Session::OnFirstBytes(const beast::error_code& ec, std::size_t bytes) {
  if (closed_) return;
  if (ec) {
    CloseNow();
    return;
  }
  buffer_.commit(bytes);
  StartRequest();
}

void Session::FailRequest(const beast::error_code& ec) {
  if (ec == http::error::header_limit) {
    SendError(http::status::request_header_fields_too_large,
              "the request header is over this server's limit of " +
                  std::to_string(options().max_header_bytes) +
                  " bytes; send fewer or shorter headers");
  } else if (ec == http::error::body_limit) {
    SendError(http::status::payload_too_large,
              "the request body is over this server's limit of " +
                  std::to_string(options().max_body_bytes) +
                  " bytes (a message Body is at most 1600 characters; send media by MediaUrl)");
  } else if (IsMalformedRequest(ec)) {
    SendError(http::status::bad_request, "malformed request");
  } else {
    CloseNow();
  }
}

void Session::SendError(http::status status, std::string_view message) {
  HttpResponse res = MakeErrorResponse(status, message, options().server_name);
  if (parser_ && parser_->is_header_done() && parser_->get().method() == http::verb::head) {
    PrepareHeadResponse(res, res.body().size());
  }
  parser_.reset();
  // The rest of the input cannot be framed any more, so nothing after it is read as a request.
  buffer_.clear();
  Write(std::move(res));
}

void Session::LingeringClose() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    CloseNow();
    return;
  }
  stream_.expires_after(std::min(kLingerTimeout, options().idle_timeout));
  Drain();
}

void Session::Drain() {
  stream_.async_read_some(net::buffer(drain_buffer_),
                          [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
                            if (self->closed_) return;
                            if (ec) {  // EOF from the client, or the linger timeout
                              self->CloseNow();
                              return;
                            }
                            self->Drain();
                          });
}

void Session::CloseNow() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();  // pending operations complete with operation_aborted
}

std::optional<tcp::endpoint> ServerState::Listen(const std::string& host, uint16_t port,
                                                 std::string* error, bool start) {
  auto fail = [error](std::string text) -> std::optional<tcp::endpoint> {
    if (error != nullptr) *error = std::move(text);
    return std::nullopt;
  };
  // Under the mutex so that Stop() either happens entirely before (and we refuse) or stops the
  // acceptor made here.
  std::lock_guard lock(mutex_);
  if (stopped_) return fail("server is stopped");
  if (listening_) return fail("server is already listening");
  // Weak: the acceptor's callback must not keep the server state (and so the acceptor) alive.
  std::weak_ptr<ServerState> weak = shared_from_this();
  auto acceptor = TcpAcceptor::Listen(
      io_, host, port,
      [weak](tcp::socket socket) {
        if (auto self = weak.lock()) self->OnAccept(std::move(socket));
      },
      options_.on_descriptors_exhausted, start);
  if (!acceptor.ok()) return fail(std::string(acceptor.status().message()));
  acceptor_ = std::move(*acceptor);
  listening_ = true;
  return acceptor_->local_endpoint();
}

void ServerState::Stop() {
  // Without this, io.run() on another thread could run out of work (and return) after the
  // acceptor close below but before the session closes are posted, which would then never run.
  const auto keep_running = net::make_work_guard(io_);
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    sessions.reserve(sessions_.size());
    for (const auto& [key, weak] : sessions_) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
  }
  if (acceptor_) acceptor_->Stop();
  for (const auto& session : sessions) session->Close();
  // `sessions` (then `keep_running`) is released here, outside the mutex: a last reference would
  // run ~Session, which takes the mutex.
}

void ServerState::OnAccept(tcp::socket socket) {
  boost::system::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) return;  // already gone
  net::ip::address peer = remote.address();
  if (peer.is_v6() && peer.to_v6().is_v4_mapped()) {
    peer = net::ip::make_address_v4(net::ip::v4_mapped, peer.to_v6());  // one client, whichever way the listener saw it
  }
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;  // `socket` closes on return
    std::size_t& from_peer = per_address_[peer];
    const bool peer_has_room = options_.max_connections_per_address == 0 ||
                               from_peer < options_.max_connections_per_address;
    if (sessions_.size() < options_.max_connections && peer_has_room) {
      ++from_peer;
      session = std::make_shared<Session>(shared_from_this(), std::move(socket), peer);
      sessions_.emplace(session.get(), session);
    } else if (from_peer == 0) {
      per_address_.erase(peer);
    }
  }
  // Over a limit the socket is simply closed (at the end of this function): answering would
  // cost the very resources the limit protects.
  if (session) session->Start();
}

}  // namespace http_server_internal

HttpServer::HttpServer(boost::asio::io_context& io, HttpServerOptions options, HttpHandler handler)
    : state_(std::make_shared<http_server_internal::ServerState>(io, std::move(options),
                                                                 std::move(handler))) {}

HttpServer::~HttpServer() { Stop(); }

std::optional<boost::asio::ip::tcp::endpoint> HttpServer::Listen(const std::string& host,
                                                                 uint16_t port,
                                                                 std::string* error) {
  return state_->Listen(host, port, error, /*start=*/true);
}

std::optional<boost::asio::ip::tcp::endpoint> HttpServer::Bind(const std::string& host,
                                                               uint16_t port, std::string* error) {
  return state_->Listen(host, port, error, /*start=*/false);
}

void HttpServer::StartAccepting() { state_->StartAccepting(); }

void HttpServer::Stop() { state_->Stop(); }

std::size_t HttpServer::open_connections() const { return state_->open_connections(); }

}  // namespace mmsgate::gateway
