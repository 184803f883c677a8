#pragma once
// Fetches a message's media URLs (http:// and data:) asynchronously on an io_context, over
// the project's HTTP client (mmsc/http_client.h).
//
// Contract: never blocks the io_context; `done` is called exactly once, on an io_context
// thread, with every item in the order of the URLs or with the first failure. A failure is a
// provider error: 21620 naming the URL and why (unreachable, timeout, non-2xx, too many
// redirects, bad URL, an address the policy refuses), 11751 when the bytes exceed the budget, 12300
// for a content type MMS does not accept. Bytes are never buffered past the budget: the body limit
// is set before the body is read, and a Content-Length over it fails without reading.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mmsc/address_policy.h"
#include "mmsc/http_client.h"
#include "mmsc/media_rules.h"

namespace mmsgate::mmsc {

struct FetchOptions {
  std::chrono::milliseconds connect_timeout{5000};
  // For one URL, redirects included.
  std::chrono::milliseconds total_timeout{15000};
  int max_redirects = 5;
  // Total bytes all URLs of the message may bring (5 MB less any inline media).
  int64_t max_total_bytes = 5 * 1024 * 1024;
  // Which addresses may be fetched from (every hop); null allows all (unit tests only).
  std::shared_ptr<const AddressPolicy> address_policy;
};

using FetchCallback = std::function<void(absl::StatusOr<std::vector<FetchedMedia>>)>;

// Fetches every URL concurrently.
void FetchMedia(boost::asio::io_context& io, std::vector<std::string> urls, FetchOptions options,
                FetchCallback done);

// Decodes a data: URL ("data:image/png;base64,iVBO…"). 21620 when malformed.
[[nodiscard]] absl::StatusOr<FetchedMedia> DecodeDataUrl(const std::string& url);

// The parts of an http:// URL (HttpUrl is in mmsc/http_client.h); errors are 21620 naming the
// URL. Exposed for tests.
[[nodiscard]] absl::StatusOr<HttpUrl> ParseHttpUrl(const std::string& url);

}  // namespace mmsgate::mmsc
