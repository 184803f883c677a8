#pragma once
// The project's one HTTP client: asynchronous HTTP/1.1 over plain TCP (http:// only) on
// Boost.Beast. The media fetcher and the gateway's webhooks both use it.
//
// Contract of HttpFetch:
//   * Never blocks the io_context: every wait is an asynchronous operation or a timer (the
//     resolver runs getaddrinfo on Asio's internal thread; the connect timeout fails the request
//     even while getaddrinfo is still blocked there).
//   * `done` is called exactly once, on a thread running `io` (never inside HttpFetch itself),
//     unless `io` is stopped before the request finishes. `io` must outlive the request.
//   * One connection per request (and per redirect hop), `Connection: close`.
//   * A response is a success whatever its status (404 and 500 are responses, not errors); only
//     failing to get a response is an error. A failure is an absl::Status whose message names
//     the method and the URL and says why ("GET http://h:1/x: connect failed (Connection
//     refused)"); HttpFetchErrorOf() tells the kinds apart and HttpFetchErrorReason() gives the
//     "why" alone so that callers can phrase their own messages.
//   * Redirects (301, 302, 303, 307, 308 with a Location) are followed up to `max_redirects`
//     times; with max_redirects == 0 the 3xx is returned as the response. 303, and 301/302 to a
//     POST, continue as a GET without the body (as browsers and curl do); 307/308 keep both.
//   * Body bytes are never buffered past the body limit: a Content-Length over it fails before
//     the body is read, and a body without one stops being read once it passes the limit.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mmsgate::mmsc {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpClientResponse {
  int status = 0;
  // In the order received, names as sent by the server.
  HttpHeaders headers;
  // Empty in the response given to `on_header`.
  std::string body;
  // The URL that answered (differs from the request's after redirects).
  std::string final_url;
  // True when `truncate_body` cut the body at the limit.
  bool truncated = false;

  // The value of the first header named `name` (case-insensitive), or "".
  [[nodiscard]] std::string Header(const std::string& name) const;
};

struct HttpClientRequest {
  std::string method = "GET";
  // http://host[:port][/path][?query]; a fragment is dropped.
  std::string url;
  // Sent after the defaults (Host, User-Agent, Accept, Connection, Content-Length); a header
  // named here replaces the default of the same name. Repeated names are all sent.
  HttpHeaders headers;
  // Sent with a Content-Length (also for an empty body with POST, PUT and PATCH).
  std::string body;
  // Resolving and connecting, per hop, within the total.
  std::chrono::milliseconds connect_timeout{5000};
  // The whole request, redirects included.
  std::chrono::milliseconds total_timeout{15000};
  int max_redirects = 0;
  // The body limit; on_header may change it.
  uint64_t max_response_bytes = 1 << 20;
  // When true a body over the limit is cut at the limit (response.truncated) instead of
  // failing with kTooLarge; the rest is not read.
  bool truncate_body = false;
  // Called once, on io's thread, with the final response's status, headers and final_url (no
  // body) before any body byte is read. It may change `*max_body_bytes` (initially
  // max_response_bytes). A non-OK status it returns ends the request: `done` gets that status
  // unchanged (HttpFetchErrorOf() says kNone for it). Must not block.
  std::function<absl::Status(const HttpClientResponse& header_only, uint64_t* max_body_bytes)>
      on_header;
  // When set, called on io's thread with every address the host of every hop (redirects
  // included) resolves to, before connecting: only addresses it answers OK for are tried.
  // When it refuses them all, the request fails with kBlocked and the first refusal's message.
  std::function<absl::Status(const boost::asio::ip::address& address, uint16_t port)> check_address;
};

// What went wrong, for callers that react differently (retry on kConnect and kTimeout, say).
enum class HttpFetchError {
  kNone,      // not an HttpFetch failure (OK, or a status returned by on_header)
  kBadUrl,    // the request's URL is not a usable http:// URL (absl kInvalidArgument)
  kResolve,   // the host name did not resolve (kUnavailable)
  kConnect,   // no TCP connection (refused, unreachable) (kUnavailable)
  kTimeout,   // connect_timeout or total_timeout passed (kDeadlineExceeded)
  kTooLarge,  // the body is over the limit (kResourceExhausted)
  kRedirect,  // too many redirects, or a Location that cannot be followed (kFailedPrecondition)
  kProtocol,  // the connection broke or the server did not speak HTTP/1.x (kUnavailable)
  kBlocked,   // check_address refused every address the host resolved to (kPermissionDenied)
};

using HttpFetchCallback = std::function<void(absl::StatusOr<HttpClientResponse>)>;

// Sends `request` and calls `done` with the response or the failure. See the contract above.
void HttpFetch(boost::asio::io_context& io, HttpClientRequest request, HttpFetchCallback done);

// The kind of failure a status from HttpFetch carries.
[[nodiscard]] HttpFetchError HttpFetchErrorOf(const absl::Status& status);
// The failure's reason without the method and URL ("connect failed (Connection refused)",
// "redirected more than 5 times"); the whole message for statuses HttpFetch did not make.
[[nodiscard]] std::string HttpFetchErrorReason(const absl::Status& status);

// The parts of an http:// URL.
struct HttpUrl {
  std::string host;  // without the brackets of an IPv6 literal
  std::string port;  // "80" when the URL gives none
  // Path and query, at least "/".
  std::string target;
};
// Splits an http:// URL. The error (kInvalidArgument) says what is wrong in words that follow
// the URL ("has a malformed port"), without repeating the URL.
[[nodiscard]] absl::StatusOr<HttpUrl> SplitHttpUrl(const std::string& url);

}  // namespace mmsgate::mmsc
