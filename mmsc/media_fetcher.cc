#include "mmsc/media_fetcher.h"

#include <openssl/evp.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <optional>

#include "mmsc/media_rules.h"
#include "mmsgate/errors.h"

namespace mmsgate::mmsc {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

// The URL as quoted in errors: bounded, so a hostile URL does not flood the reply.
std::string Shown(const std::string& url) {
  return url.size() <= 200 ? url : url.substr(0, 200) + "…";
}

absl::Status UrlError(const std::string& url, const std::string& why) {
  return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidMediaUrl,
                       "media URL " + Shown(url) + " " + why);
}

absl::Status TooLarge(const std::string& url, int64_t limit) {
  return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kMediaTooLarge,
                       "media URL " + Shown(url) + " brings more than the " +
                           std::to_string(limit) + " bytes left of the 5 MB media limit");
}

absl::Status CheckType(const std::string& url, const std::string& type) {
  if (type.empty()) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kUnsupportedMediaType,
                         "media URL " + Shown(url) + " was served without a Content-Type");
  }
  if (!IsAcceptedMediaType(type)) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kUnsupportedMediaType,
                         "media URL " + Shown(url) + " has content type \"" + type.substr(0, 100) +
                             "\", which MMS does not accept");
  }
  return absl::OkStatus();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// State shared by the fetches of one message: the byte budget and the single completion.
struct Batch {
  std::mutex mutex;
  std::vector<FetchedMedia> results;
  std::size_t remaining = 0;
  int64_t bytes_left = 0;
  bool finished = false;
  FetchCallback done;

  // Reserves `bytes` from the budget; false if they do not fit.
  bool Reserve(int64_t bytes) {
    std::lock_guard lock(mutex);
    if (bytes > bytes_left) return false;
    bytes_left -= bytes;
    return true;
  }
  int64_t BytesLeft() {
    std::lock_guard lock(mutex);
    return bytes_left;
  }
  void Complete(std::size_t index, absl::StatusOr<FetchedMedia> result) {
    FetchCallback callback;
    absl::StatusOr<std::vector<FetchedMedia>> outcome;
    {
      std::lock_guard lock(mutex);
      if (finished) return;
      if (!result.ok()) {
        finished = true;
        outcome = result.status();
      } else {
        results[index] = std::move(*result);
        if (--remaining > 0) return;
        finished = true;
        outcome = std::move(results);
      }
      callback = std::move(done);
    }
    callback(std::move(outcome));
  }
};

// One URL: resolve, connect, request, read header, check, read body; follows redirects.
class HttpFetch : public std::enable_shared_from_this<HttpFetch> {
 public:
  HttpFetch(boost::asio::io_context& io, std::string url, FetchOptions options,
            std::shared_ptr<Batch> batch, std::size_t index)
      : io_(io),
        resolver_(boost::asio::make_strand(io)),
        original_url_(url),
        url_(std::move(url)),
        options_(options),
        batch_(std::move(batch)),
        index_(index),
        deadline_(std::chrono::steady_clock::now() + options.total_timeout) {}

  void Start() {
    auto parsed = ParseHttpUrl(url_);
    if (!parsed.ok()) return Fail(parsed.status());
    target_ = *parsed;
    stream_ = std::make_unique<beast::tcp_stream>(resolver_.get_executor());
    resolver_.async_resolve(
        target_.host, target_.port,
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          self->OnResolve(ec, std::move(results));
        });
  }

 private:
  void Fail(absl::Status status) { batch_->Complete(index_, std::move(status)); }
  void Fail(const std::string& why) { Fail(UrlError(original_url_, why)); }

  bool PastDeadline() const { return std::chrono::steady_clock::now() >= deadline_; }

  void OnResolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return Fail("cannot be fetched: host " + target_.host + " not found");
    stream_->expires_after(
        std::min<std::chrono::steady_clock::duration>(options_.connect_timeout,
                                                      deadline_ - std::chrono::steady_clock::now()));
    stream_->async_connect(results, [self = shared_from_this()](beast::error_code ec,
                                                                const tcp::endpoint&) {
      self->OnConnect(ec);
    });
  }

  void OnConnect(beast::error_code ec) {
    if (ec == beast::error::timeout) return Fail("cannot be fetched: connect timed out");
    if (ec) return Fail("cannot be fetched: connect failed (" + ec.message() + ")");
    request_ = {};
    request_.method(http::verb::get);
    request_.target(target_.target);
    request_.version(11);
    request_.set(http::field::host, target_.host + ":" + target_.port);
    request_.set(http::field::user_agent, "mmsgate-mmsc/0.1");
    request_.set(http::field::accept, "*/*");
    request_.set(http::field::connection, "close");
    stream_->expires_at(deadline_);
    http::async_write(*stream_, request_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->OnWrite(ec);
                      });
  }

  void OnWrite(beast::error_code ec) {
    if (ec) return Fail(ec == beast::error::timeout ? "cannot be fetched: timed out"
                                                    : "cannot be fetched: " + ec.message());
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    http::async_read_header(*stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->OnHeader(ec);
                            });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == beast::error::timeout) return Fail("cannot be fetched: timed out");
    if (ec) return Fail("cannot be fetched: bad response header (" + ec.message() + ")");
    const auto& response = parser_->get();
    const unsigned status = response.result_int();
    if (status >= 300 && status < 400 && status != 304) return Redirect(response);
    if (status < 200 || status >= 300) {
      return Fail("answered HTTP " + std::to_string(status) + "; it must answer 2xx");
    }
    content_type_ = NormalizeContentType(std::string(response[http::field::content_type]));
    if (auto status_ok = CheckType(original_url_, content_type_); !status_ok.ok()) {
      return Fail(status_ok);
    }
    const int64_t budget = batch_->BytesLeft();
    if (auto length = parser_->content_length(); length && static_cast<int64_t>(*length) > budget) {
      return Fail(TooLarge(original_url_, budget));
    }
    // The hard cap: Beast stops reading and fails once the body passes this.
    parser_->body_limit(static_cast<std::uint64_t>(budget));
    http::async_read(*stream_, buffer_, *parser_,
                     [self = shared_from_this(), budget](beast::error_code ec, std::size_t) {
                       self->OnBody(ec, budget);
                     });
  }

  void Redirect(const http::response<http::string_body>& response) {
    const std::string location(response[http::field::location]);
    if (location.empty()) return Fail("answered a redirect without a Location");
    if (++redirects_ > options_.max_redirects) {
      return Fail("redirected more than " + std::to_string(options_.max_redirects) + " times");
    }
    if (location.starts_with("http://") || location.starts_with("https://")) {
      url_ = location;
    } else if (location.starts_with("/")) {
      url_ = "http://" + target_.host + ":" + target_.port + location;
    } else {
      return Fail("redirected to an unsupported Location \"" + location.substr(0, 100) + "\"");
    }
    beast::error_code ignored;
    stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
    buffer_.clear();
    if (PastDeadline()) return Fail("cannot be fetched: timed out");
    Start();
  }

  void OnBody(beast::error_code ec, int64_t budget) {
    if (ec == http::error::body_limit) return Fail(TooLarge(original_url_, budget));
    if (ec == beast::error::timeout) return Fail("cannot be fetched: timed out");
    if (ec) return Fail("cannot be fetched: " + ec.message());
    std::string body = std::move(parser_->get().body());
    beast::error_code ignored;
    stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
    if (body.empty()) return Fail("answered an empty body");
    if (!batch_->Reserve(static_cast<int64_t>(body.size()))) {
      return Fail(TooLarge(original_url_, batch_->BytesLeft()));
    }
    batch_->Complete(index_, FetchedMedia{original_url_, content_type_,
                                          std::make_shared<const std::string>(std::move(body))});
  }

  boost::asio::io_context& io_;
  tcp::resolver resolver_;
  std::unique_ptr<beast::tcp_stream> stream_;
  const std::string original_url_;
  std::string url_;
  HttpUrl target_;
  FetchOptions options_;
  std::shared_ptr<Batch> batch_;
  std::size_t index_;
  std::chrono::steady_clock::time_point deadline_;
  int redirects_ = 0;
  http::request<http::empty_body> request_;
  std::optional<http::response_parser<http::string_body>> parser_;
  beast::flat_buffer buffer_;
  std::string content_type_;
};

}  // namespace

absl::StatusOr<HttpUrl> ParseHttpUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() > 2048) return UrlError(url, "is longer than 2048 characters");
  if (url.starts_with("https://")) {
    return UrlError(url, "uses https, which this simulator does not fetch; serve it over http");
  }
  if (!url.starts_with(kScheme)) return UrlError(url, "must start with http:// or data:");
  const std::string rest = url.substr(kScheme.size());
  const auto slash = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, slash);
  std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (const auto hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (target.empty() || target[0] != '/') target = "/" + target;
  if (authority.find('@') != std::string::npos) {
    return UrlError(url, "has credentials in it, which are not supported");
  }
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return UrlError(url, "has a space or control character in its path");
    }
  }
  HttpUrl parsed;
  parsed.port = "80";
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) return UrlError(url, "has a malformed IPv6 host");
    parsed.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return UrlError(url, "has a malformed port");
      parsed.port = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string::npos) {
    parsed.host = authority.substr(0, colon);
    parsed.port = authority.substr(colon + 1);
  } else {
    parsed.host = authority;
  }
  if (parsed.host.empty()) return UrlError(url, "has no host");
  if (parsed.port.empty() || parsed.port.size() > 5 ||
      parsed.port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(parsed.port) == 0 || std::stoi(parsed.port) > 65535) {
    return UrlError(url, "has a malformed port");
  }
  parsed.target = std::move(target);
  return parsed;
}

absl::StatusOr<FetchedMedia> DecodeDataUrl(const std::string& url) {
  const auto comma = url.find(',');
  if (!url.starts_with("data:") || comma == std::string::npos) {
    return UrlError(url, "is not a data: URL of the form data:<type>[;base64],<data>");
  }
  std::string meta = url.substr(5, comma - 5);
  const std::string payload = url.substr(comma + 1);
  bool base64 = false;
  if (meta.size() >= 7 && meta.compare(meta.size() - 7, 7, ";base64") == 0) {
    base64 = true;
    meta.resize(meta.size() - 7);
  }
  FetchedMedia media;
  media.url = url.substr(0, std::min<std::size_t>(url.size(), comma + 1)) + "…";
  media.content_type = NormalizeContentType(meta);
  std::string bytes;
  if (base64) {
    std::string clean;
    clean.reserve(payload.size());
    for (char c : payload) {
      if (c != '\n' && c != '\r' && c != ' ') clean.push_back(c);
    }
    if (clean.size() % 4 != 0) return UrlError(media.url, "has malformed base64 data");
    bytes.resize(clean.size() / 4 * 3);
    int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                 reinterpret_cast<const unsigned char*>(clean.data()),
                                 static_cast<int>(clean.size()));
    if (length < 0) return UrlError(media.url, "has malformed base64 data");
    if (!clean.empty() && clean.back() == '=') --length;
    if (clean.size() > 1 && clean[clean.size() - 2] == '=') --length;
    bytes.resize(static_cast<std::size_t>(length));
  } else {
    for (std::size_t i = 0; i < payload.size(); ++i) {
      if (payload[i] == '%') {
        if (i + 2 >= payload.size() + 0 || HexValue(payload[i + 1]) < 0 ||
            HexValue(payload[i + 2]) < 0) {
          return UrlError(media.url, "has a malformed percent-escape");
        }
        bytes.push_back(static_cast<char>(HexValue(payload[i + 1]) * 16 + HexValue(payload[i + 2])));
        i += 2;
      } else {
        bytes.push_back(payload[i]);
      }
    }
  }
  if (bytes.empty()) return UrlError(media.url, "holds no data");
  if (auto status = CheckType(media.url, media.content_type); !status.ok()) return status;
  media.data = std::make_shared<const std::string>(std::move(bytes));
  return media;
}

void FetchMedia(boost::asio::io_context& io, std::vector<std::string> urls, FetchOptions options,
                FetchCallback done) {
  if (urls.empty()) {
    boost::asio::post(io, [done = std::move(done)] { done(std::vector<FetchedMedia>{}); });
    return;
  }
  auto batch = std::make_shared<Batch>();
  batch->results.resize(urls.size());
  batch->remaining = urls.size();
  batch->bytes_left = options.max_total_bytes;
  batch->done = std::move(done);
  for (std::size_t i = 0; i < urls.size(); ++i) {
    if (urls[i].starts_with("data:")) {
      auto decoded = DecodeDataUrl(urls[i]);
      if (decoded.ok() && !batch->Reserve(static_cast<int64_t>(decoded->data->size()))) {
        decoded = TooLarge(decoded->url, batch->BytesLeft());
      }
      boost::asio::post(io, [batch, i, decoded = std::move(decoded)]() mutable {
        batch->Complete(i, std::move(decoded));
      });
      continue;
    }
    auto fetch = std::make_shared<HttpFetch>(io, urls[i], options, batch, i);
    boost::asio::post(io, [fetch] { fetch->Start(); });
  }
}

}  // namespace mmsgate::mmsc
