#include "mmsc/http_client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/cord.h"

namespace mmsgate::mmsc {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr char kErrorPayloadType[] = "type.mmsgate/mmsgate.mmsc.HttpFetchError";
constexpr uint32_t kMaxHeaderBytes = 16 * 1024;
// Caps what one read may bring past a truncating body limit.
constexpr std::size_t kMaxBufferBytes = 64 * 1024;

// The URL as quoted in errors: bounded, so a hostile URL does not flood logs and replies.
std::string Shown(const std::string& url) {
  return url.size() <= 200 ? url : url.substr(0, 200) + "…";
}

absl::StatusCode CodeOf(HttpFetchError kind) {
  switch (kind) {
    case HttpFetchError::kBadUrl:
      return absl::StatusCode::kInvalidArgument;
    case HttpFetchError::kTimeout:
      return absl::StatusCode::kDeadlineExceeded;
    case HttpFetchError::kTooLarge:
      return absl::StatusCode::kResourceExhausted;
    case HttpFetchError::kRedirect:
      return absl::StatusCode::kFailedPrecondition;
    case HttpFetchError::kBlocked:
      return absl::StatusCode::kPermissionDenied;
    case HttpFetchError::kNone:
    case HttpFetchError::kResolve:
    case HttpFetchError::kConnect:
    case HttpFetchError::kProtocol:
      break;
  }
  return absl::StatusCode::kUnavailable;
}

// The kind and the bare reason ride along as a payload so that callers never parse messages.
absl::Status MakeError(HttpFetchError kind, const std::string& method, const std::string& url,
                       const std::string& reason) {
  absl::Status status(CodeOf(kind), method + " " + Shown(url) + ": " + reason);
  status.SetPayload(kErrorPayloadType,
                    absl::Cord(std::to_string(static_cast<int>(kind)) + ":" + reason));
  return status;
}

std::optional<std::pair<HttpFetchError, std::string>> DecodePayload(const absl::Status& status) {
  auto payload = status.GetPayload(kErrorPayloadType);
  if (!payload) return std::nullopt;
  const std::string text(*payload);
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  const int kind = std::atoi(text.substr(0, colon).c_str());
  if (kind <= 0 || kind > static_cast<int>(HttpFetchError::kBlocked)) return std::nullopt;
  return std::make_pair(static_cast<HttpFetchError>(kind), text.substr(colon + 1));
}

bool IsToken(const std::string& text) {
  if (text.empty()) return false;
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f ||
        std::string_view("()<>@,;:\\\"/[]?={}").find(c) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::string Authority(const HttpUrl& url) {
  const std::string host =
      url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  return url.port == "80" ? host : host + ":" + url.port;
}

// One request from start to `done`, redirect hops included. Every handler runs on `strand_`,
// so the members need no lock; the object lives as long as a pending handler holds it. Once
// finished, completions still in flight (a resolve that outlived its timeout) are ignored.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(net::io_context& io, HttpClientRequest request, HttpFetchCallback done)
      : strand_(net::make_strand(io)),
        resolver_(strand_),
        socket_(strand_),
        timer_(strand_),
        request_(std::move(request)),
        done_(std::move(done)),
        url_(request_.url),
        method_(request_.method),
        body_(request_.body),
        deadline_(Clock::now() + request_.total_timeout),
        buffer_(kMaxBufferBytes) {}

  void Start() {
    net::post(strand_, [self = shared_from_this()] { self->Begin(); });
  }

 private:
  void Fail(HttpFetchError kind, const std::string& reason) {
    Finish(MakeError(kind, request_.method, request_.url, reason));
  }

  void Finish(absl::StatusOr<HttpClientResponse> result) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    auto done = std::move(done_);
    done(std::move(result));
  }

  // One timer bounds each phase: until `when` the phase may run; then its operation is
  // cancelled and its handler sees timed_out_. The generation tells a stale expiry (one that
  // fired just before being re-armed) from the current one.
  void ArmTimer(Clock::time_point when) {
    const uint64_t generation = ++timer_generation_;
    timer_.expires_at(when);
    timer_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
      if (ec || generation != self->timer_generation_ || self->finished_) return;
      self->timed_out_ = true;
      // A cancelled resolve completes only when getaddrinfo returns, which a dead DNS server
      // can delay for long: fail now and let that late completion find the request finished.
      if (self->resolving_) {
        self->resolver_.cancel();
        return self->Fail(HttpFetchError::kTimeout, self->ConnectTimeoutReason());
      }
      beast::error_code ignored;
      self->socket_.close(ignored);
    });
  }

  std::string TotalTimeoutReason() const {
    return "timed out after " + std::to_string(request_.total_timeout.count()) + " ms";
  }

  std::string ConnectTimeoutReason() const {
    if (connect_limited_by_total_) return TotalTimeoutReason();
    return "connect timed out after " + std::to_string(request_.connect_timeout.count()) + " ms";
  }

  void Begin() {
    if (!IsToken(method_)) return Fail(HttpFetchError::kBadUrl, "has an invalid method");
    auto parsed = SplitHttpUrl(url_);
    if (!parsed.ok()) {
      const std::string why(parsed.status().message());
      if (redirects_ == 0) return Fail(HttpFetchError::kBadUrl, why);
      return Fail(HttpFetchError::kRedirect, "was redirected to " + Shown(url_) + ", which " + why);
    }
    target_ = *std::move(parsed);
    const auto now = Clock::now();
    if (now >= deadline_) return Fail(HttpFetchError::kTimeout, TotalTimeoutReason());
    connect_limited_by_total_ = deadline_ <= now + request_.connect_timeout;
    ArmTimer(std::min(deadline_, now + request_.connect_timeout));
    resolving_ = true;
    resolver_.async_resolve(
        target_.host, target_.port,
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          self->OnResolve(ec, std::move(results));
        });
  }

  void OnResolve(beast::error_code ec, tcp::resolver::results_type results) {
    resolving_ = false;
    if (finished_) return;
    if (timed_out_) return Fail(HttpFetchError::kTimeout, ConnectTimeoutReason());
    if (ec) return Fail(HttpFetchError::kResolve, "host " + target_.host + " not found");
    // Only the addresses the caller allows are tried; the check sees resolved addresses, so
    // no spelling of a host and no redirect hop gets around it.
    endpoints_.clear();
    std::string refused;
    for (const auto& entry : results) {
      const tcp::endpoint endpoint = entry.endpoint();
      if (request_.check_address) {
        if (auto allowed = request_.check_address(endpoint.address(), endpoint.port());
            !allowed.ok()) {
          if (refused.empty()) refused = std::string(allowed.message());
          continue;
        }
      }
      endpoints_.push_back(endpoint);
    }
    if (endpoints_.empty()) {
      if (refused.empty()) refused = "host " + target_.host + " has no address";
      if (redirects_ > 0) refused = "was redirected to " + Shown(url_) + ", which " + refused;
      return Fail(HttpFetchError::kBlocked, refused);
    }
    net::async_connect(socket_, endpoints_,
                       [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
                         self->OnConnect(ec);
                       });
  }

  void OnConnect(beast::error_code ec) {
    if (finished_) return;
    if (timed_out_) return Fail(HttpFetchError::kTimeout, ConnectTimeoutReason());
    if (ec) return Fail(HttpFetchError::kConnect, "connect failed (" + ec.message() + ")");
    ArmTimer(deadline_);
    message_ = {};
    message_.method_string(method_);
    message_.target(target_.target);
    message_.version(11);
    message_.set(http::field::host, Authority(target_));
    message_.set(http::field::user_agent, "mmsgate/0.1");
    message_.set(http::field::accept, "*/*");
    message_.set(http::field::connection, "close");
    std::set<std::string, beast::iless> replaced;
    for (const auto& [name, value] : request_.headers) {
      // The first header of a name replaces the default; later ones of that name add to it.
      if (replaced.insert(name).second) message_.erase(name);
      message_.insert(name, value);
    }
    message_.body() = body_;
    const bool sends_body =
        !body_.empty() || method_ == "POST" || method_ == "PUT" || method_ == "PATCH";
    if (sends_body) message_.prepare_payload();
    http::async_write(
        socket_, message_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    if (finished_) return;
    if (timed_out_) return Fail(HttpFetchError::kTimeout, TotalTimeoutReason());
    // A server may answer before reading all of the body (413, say) and close: its answer is
    // still worth reading, so a write error is reported only if no response follows.
    write_error_ = ec;
    ReadHeader();
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    // Beast would judge a Content-Length against its default limit while parsing the header;
    // the real limit is known only after on_header, and is applied then. (Not boost::none:
    // Beast 1.74 compares a Content-Length with an empty optional as "over the limit".)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    parser_->skip(method_ == "HEAD");
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (finished_) return;
    if (timed_out_) return Fail(HttpFetchError::kTimeout, TotalTimeoutReason());
    if (ec && write_error_) {
      return Fail(HttpFetchError::kProtocol,
                  "cannot send the request (" + write_error_.message() + ")");
    }
    if (ec) return Fail(HttpFetchError::kProtocol, "bad response header (" + ec.message() + ")");
    const auto& header = parser_->get();
    const int status = static_cast<int>(header.result_int());
    // Interim answers (100 Continue, 103 Early Hints) precede the real one.
    if (status >= 100 && status < 200 && status != 101) return ReadHeader();
    if (request_.max_redirects > 0 &&
        (status == 301 || status == 302 || status == 303 || status == 307 || status == 308)) {
      const std::string location(header[http::field::location]);
      if (!location.empty()) return Redirect(status, location);
    }
    response_.status = status;
    response_.headers.clear();
    for (const auto& field : header) {
      response_.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    response_.final_url = url_;
    uint64_t limit = request_.max_response_bytes;
    if (request_.on_header) {
      absl::Status verdict = request_.on_header(response_, &limit);
      if (!verdict.ok()) return Finish(std::move(verdict));
    }
    limit_ = limit;
    const auto length = parser_->content_length();
    if (request_.truncate_body) return ReadSomeTruncating();
    if (length && *length > limit_) {
      return Fail(HttpFetchError::kTooLarge, "response body of " + std::to_string(*length) +
                                                 " bytes is over the limit of " +
                                                 std::to_string(limit_) + " bytes");
    }
    parser_->body_limit(limit_);
    http::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (finished_) return;
    if (timed_out_) return Fail(HttpFetchError::kTimeout, TotalTimeoutReason());
    if (ec == http::error::body_limit) {
      return Fail(HttpFetchError::kTooLarge,
                  "response body is over the limit of " + std::to_string(limit_) + " bytes");
    }
    if (ec) return Fail(HttpFetchError::kProtocol, "bad response body (" + ec.message() + ")");
    response_.body = std::move(parser_->get().body());
    Finish(std::move(response_));
  }

  // Reads until the body is complete or has passed the limit, then keeps the first `limit_`
  // bytes and stops reading: the rest of a large body is never fetched.
  void ReadSomeTruncating() {
    auto& body = parser_->get().body();
    if (body.size() > limit_) {
      body.resize(static_cast<std::size_t>(limit_));
      response_.truncated = true;
      response_.body = std::move(body);
      return Finish(std::move(response_));
    }
    if (parser_->is_done()) {
      response_.body = std::move(body);
      return Finish(std::move(response_));
    }
    http::async_read_some(
        socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (self->finished_) return;
          if (self->timed_out_) {
            return self->Fail(HttpFetchError::kTimeout, self->TotalTimeoutReason());
          }
          if (ec) {
            return self->Fail(HttpFetchError::kProtocol,
                              "bad response body (" + ec.message() + ")");
          }
          self->ReadSomeTruncating();
        });
  }

  void Redirect(int status, const std::string& location) {
    if (++redirects_ > request_.max_redirects) {
      return Fail(HttpFetchError::kRedirect,
                  "redirected more than " + std::to_string(request_.max_redirects) + " times");
    }
    if (location.starts_with("http://") || location.starts_with("https://")) {
      url_ = location;
    } else if (location.starts_with("//")) {
      url_ = "http:" + location;
    } else if (location.starts_with("/")) {
      url_ = "http://" + Authority(target_) + location;
    } else {
      return Fail(HttpFetchError::kRedirect,
                  "redirected to an unsupported Location \"" + location.substr(0, 100) + "\"");
    }
    if (status == 303 || ((status == 301 || status == 302) && method_ == "POST")) {
      if (method_ != "HEAD") method_ = "GET";
      body_.clear();
      std::erase_if(request_.headers, [](const auto& header) {
        return beast::iequals(header.first, "Content-Type") ||
               beast::iequals(header.first, "Content-Length");
      });
    }
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    buffer_.clear();
    parser_.reset();
    write_error_ = {};
    Begin();
  }

  net::strand<net::io_context::executor_type> strand_;
  tcp::resolver resolver_;
  // The resolved addresses allowed for this hop; the connect reads them while it runs.
  std::vector<tcp::endpoint> endpoints_;
  tcp::socket socket_;
  net::steady_timer timer_;
  HttpClientRequest request_;
  HttpFetchCallback done_;
  // The hop in progress: its URL, method and body change with redirects.
  std::string url_;
  std::string method_;
  std::string body_;
  HttpUrl target_;
  const Clock::time_point deadline_;
  int redirects_ = 0;
  uint64_t timer_generation_ = 0;
  bool timed_out_ = false;
  bool resolving_ = false;
  bool connect_limited_by_total_ = false;
  bool finished_ = false;
  beast::error_code write_error_;
  uint64_t limit_ = 0;
  http::request<http::string_body> message_;
  std::optional<http::response_parser<http::string_body>> parser_;
  beast::flat_buffer buffer_;
  HttpClientResponse response_;
};

}  // namespace

std::string HttpClientResponse::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) return value;
  }
  return "";
}

void HttpFetch(boost::asio::io_context& io, HttpClientRequest request, HttpFetchCallback done) {
  std::make_shared<Exchange>(io, std::move(request), std::move(done))->Start();
}

HttpFetchError HttpFetchErrorOf(const absl::Status& status) {
  auto decoded = DecodePayload(status);
  return decoded ? decoded->first : HttpFetchError::kNone;
}

std::string HttpFetchErrorReason(const absl::Status& status) {
  auto decoded = DecodePayload(status);
  return decoded ? decoded->second : std::string(status.message());
}

absl::StatusOr<HttpUrl> SplitHttpUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  auto invalid = [](const std::string& why) { return absl::InvalidArgumentError(why); };
  if (url.size() > 2048) return invalid("is longer than 2048 characters");
  if (url.starts_with("https://")) return invalid("uses https, which is not supported");
  if (!url.starts_with(kScheme)) return invalid("must start with http://");
  const std::string rest = url.substr(kScheme.size());
  const auto slash = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, slash);
  std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (const auto hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (target.empty() || target[0] != '/') target = "/" + target;
  if (authority.find('@') != std::string::npos) {
    return invalid("has credentials in it, which are not supported");
  }
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return invalid("has a space or control character in its path");
    }
  }
  HttpUrl parsed;
  parsed.port = "80";
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) return invalid("has a malformed IPv6 host");
    parsed.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return invalid("has a malformed port");
      parsed.port = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string::npos) {
    parsed.host = authority.substr(0, colon);
    parsed.port = authority.substr(colon + 1);
  } else {
    parsed.host = authority;
  }
  if (parsed.host.empty()) return invalid("has no host");
  if (parsed.port.empty() || parsed.port.size() > 5 ||
      parsed.port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(parsed.port) == 0 || std::stoi(parsed.port) > 65535) {
    return invalid("has a malformed port");
  }
  parsed.target = std::move(target);
  return parsed;
}

}  // namespace mmsgate::mmsc
