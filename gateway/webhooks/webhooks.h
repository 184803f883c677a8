#pragma once
// Webhooks as the provider sends them: inbound-message requests to a number's sms_url and
// message status callbacks. A form-encoded POST, signed with X-Twilio-Signature, retried on
// failures that may pass.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "carriers/base/clock.h"
#include "gateway/api/rest/form_encoding.h"

namespace mmsgate::gateway {

// The X-Twilio-Signature of a webhook: base64(HMAC-SHA1(key = auth_token, message =
// TwilioSignatureInput(url, params))). Matches the provider's helper libraries (known answers in
// shared/testdata/webhook-signature-vectors.json). Thread-safe.
[[nodiscard]] std::string TwilioSignature(const std::string& auth_token, const std::string& url,
                                          const FormParams& params);

// What is signed: `url` exactly as configured, then for each name in ascending byte order its
// distinct values in ascending byte order, each appended as name + value. The order of `params`
// does not matter. Exposed for tests and for explaining a signature mismatch.
[[nodiscard]] std::string TwilioSignatureInput(const std::string& url, const FormParams& params);

struct WebhookRequest {
  // Posted to and signed exactly as given (query string included).
  std::string url;
  FormParams params;
  // The account's auth token: the signature key.
  std::string auth_token;
  // Tries in all, the first included (values below 1 count as 1).
  int max_attempts = 3;
  // Real time for one attempt, connecting included.
  std::chrono::milliseconds timeout{15000};
};

struct WebhookAttempt {
  std::chrono::system_clock::time_point started_at;
  int64_t duration_ms = 0;
  // 0 when no response came.
  int http_status = 0;
  // Empty for a 2xx answer; else why the attempt failed ("HTTP 500", "POST http://…: timed
  // out after 15000 ms").
  std::string error;
};

struct WebhookResult {
  // A 2xx answer came.
  bool ok = false;
  // Of the last response (0 if none came); body and type likewise.
  int http_status = 0;
  // At most kMaxWebhookResponseBytes; the rest of a longer body is not read.
  std::string response_body;
  bool response_truncated = false;
  // As sent, parameters included ("text/xml; charset=utf-8"); "" if none.
  std::string response_content_type;
  // In order, one per try.
  std::vector<WebhookAttempt> attempts;
};

inline constexpr uint64_t kMaxWebhookResponseBytes = 64 * 1024;

using WebhookCallback = std::function<void(WebhookResult)>;

// Posts webhooks on an io_context, over the project's HTTP client (mmsc/http_client.h).
//
// Each Post sends `params` form-encoded with the headers the provider sends:
// Content-Type: application/x-www-form-urlencoded, X-Twilio-Signature, User-Agent:
// TwilioProxy/1.1, and I-Twilio-Idempotency-Token (random, the same on every try of one Post,
// so that a receiver can tell a retry from a new event). A connect failure, a timeout or a 5xx
// answer is tried again, up to max_attempts, after 1 s, 2 s, 4 s… of simulated time
// (mmsgate/clock.h); any other answer (2xx, 3xx, 4xx) or failure (bad URL, unknown
// host, broken response) ends the Post. Redirects are not followed: the signature is for the
// configured URL.
//
// Threading and lifetime: Post may be called from any thread. `done` is called exactly once,
// on a thread running `io`, never inside Post, unless `io` is stopped first. A Post in flight
// does not need the sender: the sender may be destroyed before its Posts finish, but `io` must
// outlive them. Nothing blocks `io`: waits are timers.
class WebhookSender {
 public:
  // Backoff waits are simulated time on `clock`, which must outlive the Posts.
  WebhookSender(boost::asio::io_context& io, mmsgate::Clock& clock);

  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  void Post(WebhookRequest request, WebhookCallback done);

  // Posts not finished yet: trying, or waiting to try again.
  [[nodiscard]] int64_t in_flight() const { return in_flight_->load(); }

 private:
  boost::asio::io_context& io_;
  mmsgate::Clock& clock_;
  // Shared with the Posts, which may outlive the sender.
  std::shared_ptr<std::atomic<int64_t>> in_flight_ = std::make_shared<std::atomic<int64_t>>(0);
};

}  // namespace mmsgate::gateway
