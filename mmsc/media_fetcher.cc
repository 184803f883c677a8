#include "mmsc/media_fetcher.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <mutex>

#include "carriers/base/encoding.h"
#include "carriers/base/errors.h"
#include "mmsc/http_client.h"
#include "mmsc/media_rules.h"

namespace mmsgate::mmsc {
namespace {

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

// An HTTP client failure in the media error vocabulary, naming the URL as given.
absl::Status FetchFailure(const std::string& url, const absl::Status& status, int64_t budget) {
  const std::string reason = HttpFetchErrorReason(status);
  switch (HttpFetchErrorOf(status)) {
    case HttpFetchError::kNone:  // from the header hook: already a provider error
      return status;
    case HttpFetchError::kTooLarge:
      return TooLarge(url, budget);
    case HttpFetchError::kBadUrl:
    case HttpFetchError::kRedirect:
    case HttpFetchError::kBlocked:
      return UrlError(url, reason);
    case HttpFetchError::kResolve:
    case HttpFetchError::kConnect:
    case HttpFetchError::kTimeout:
    case HttpFetchError::kProtocol:
      break;
  }
  return UrlError(url, "cannot be fetched: " + reason);
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

// One http:// URL through the shared HTTP client. The header hook refuses a non-2xx answer, a
// redirect it may not follow and a content type MMS does not take, and sets the body limit to
// what is left of the message's budget at that moment, so an oversized body is never read.
void FetchOne(boost::asio::io_context& io, const std::string& url, const FetchOptions& options,
              std::shared_ptr<Batch> batch, std::size_t index) {
  if (auto parsed = ParseHttpUrl(url); !parsed.ok()) {
    boost::asio::post(io,
                      [batch, index, status = parsed.status()] { batch->Complete(index, status); });
    return;
  }
  HttpClientRequest request;
  request.url = url;
  request.headers = {{"User-Agent", "mmsgate-mmsc/0.1"}, {"Accept", "*/*"}};
  request.connect_timeout = options.connect_timeout;
  request.total_timeout = options.total_timeout;
  request.max_redirects = options.max_redirects;
  if (options.address_policy) {
    request.check_address = [policy = options.address_policy](
                                const boost::asio::ip::address& address, uint16_t port) {
      return policy->Check(address, port);
    };
  }
  request.max_response_bytes = static_cast<uint64_t>(std::max<int64_t>(0, batch->BytesLeft()));
  // The budget the body limit was set from, for the error when the body passes it.
  auto budget = std::make_shared<int64_t>(batch->BytesLeft());
  request.on_header = [url, options, batch, budget](const HttpClientResponse& header,
                                                    uint64_t* max_body_bytes) -> absl::Status {
    const int status = header.status;
    if (status >= 300 && status < 400 && status != 304) {
      // The client returns a redirect only when it cannot follow it.
      if (header.Header("Location").empty()) {
        return UrlError(url, "answered a redirect without a Location");
      }
      return UrlError(url,
                      "redirected more than " + std::to_string(options.max_redirects) + " times");
    }
    if (status < 200 || status >= 300) {
      return UrlError(url, "answered HTTP " + std::to_string(status) + "; it must answer 2xx");
    }
    if (auto type_ok = CheckType(url, NormalizeContentType(header.Header("Content-Type")));
        !type_ok.ok()) {
      return type_ok;
    }
    *budget = batch->BytesLeft();
    *max_body_bytes = static_cast<uint64_t>(std::max<int64_t>(0, *budget));
    return absl::OkStatus();
  };
  HttpFetch(io, std::move(request),
            [url, batch, index, budget](absl::StatusOr<HttpClientResponse> response) {
              if (!response.ok()) {
                return batch->Complete(index, FetchFailure(url, response.status(), *budget));
              }
              if (response->body.empty()) {
                return batch->Complete(index, UrlError(url, "answered an empty body"));
              }
              std::string content_type = NormalizeContentType(response->Header("Content-Type"));
              if (!batch->Reserve(static_cast<int64_t>(response->body.size()))) {
                return batch->Complete(index, TooLarge(url, batch->BytesLeft()));
              }
              batch->Complete(
                  index,
                  FetchedMedia{url, std::move(content_type),
                               std::make_shared<const std::string>(std::move(response->body))});
            });
}

}  // namespace

absl::StatusOr<HttpUrl> ParseHttpUrl(const std::string& url) {
  // The scheme is judged here, in words for someone giving media URLs; the rest of the syntax
  // by the HTTP client's own parser, so both agree on what a URL means.
  if (url.size() <= 2048) {
    if (url.starts_with("https://")) {
      return UrlError(url, "uses https, which this simulator does not fetch; serve it over http");
    }
    if (!url.starts_with("http://")) return UrlError(url, "must start with http:// or data:");
  }
  auto parsed = SplitHttpUrl(url);
  if (!parsed.ok()) return UrlError(url, std::string(parsed.status().message()));
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
    auto decoded = Base64Decode(clean);
    if (!decoded.ok()) return UrlError(media.url, "has malformed base64 data");
    bytes = std::move(*decoded);
  } else {
    auto decoded = PercentDecode(payload, /*plus_as_space=*/false);
    if (!decoded.ok()) return UrlError(media.url, "has a malformed percent-escape");
    bytes = std::move(*decoded);
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
    FetchOne(io, urls[i], options, batch, i);
  }
}

}  // namespace mmsgate::mmsc
