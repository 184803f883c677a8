#include "gateway/webhooks/webhooks.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>

#include "carriers/base/crypto.h"
#include "carriers/base/encoding.h"
#include "mmsc/http_client.h"

namespace mmsgate::gateway {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The backoff before the second try, in simulated time; it doubles for each later try.
constexpr std::chrono::milliseconds kFirstBackoff{1000};
// Long enough for a slow receiver, short enough that no try outlives its timeout waiting.
constexpr std::chrono::milliseconds kMaxConnectTimeout{5000};

// 128 random bits, hex: unguessable, so a receiver may use it as a de-duplication key.
std::string NewIdempotencyToken() { return RandomHex(16); }

// One Post from first try to `done`. Tries and backoff waits strictly alternate (each is
// started by the completion of the one before), so the state is never touched by two threads
// at once and needs no strand.
class Delivery : public std::enable_shared_from_this<Delivery> {
 public:
  Delivery(boost::asio::io_context& io, mmsgate::Clock& clock, WebhookRequest request,
           WebhookCallback done)
      : io_(io),
        clock_(clock),
        timer_(clock.MakeTimer(io.get_executor())),
        request_(std::move(request)),
        done_(std::move(done)),
        body_(FormEncode(request_.params)),
        signature_(TwilioSignature(request_.auth_token, request_.url, request_.params)),
        idempotency_token_(NewIdempotencyToken()) {
    request_.max_attempts = std::max(1, request_.max_attempts);
  }

  void Attempt() {
    mmsc::HttpClientRequest http;
    http.method = "POST";
    http.url = request_.url;
    http.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                    {"X-Twilio-Signature", signature_},
                    {"User-Agent", "TwilioProxy/1.1"},
                    {"I-Twilio-Idempotency-Token", idempotency_token_}};
    http.body = body_;
    http.total_timeout = request_.timeout;
    http.connect_timeout = std::min(request_.timeout, kMaxConnectTimeout);
    http.max_redirects = 0;
    http.max_response_bytes = kMaxWebhookResponseBytes;
    http.truncate_body = true;
    WebhookAttempt attempt;
    // A date users read, so on the simulation clock; the duration below is real.
    attempt.started_at = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            clock_.Now().time_since_epoch()));
    result_.attempts.push_back(attempt);
    attempt_start_ = SteadyClock::now();
    mmsc::HttpFetch(io_, std::move(http),
                    [self = shared_from_this()](absl::StatusOr<mmsc::HttpClientResponse> response) {
                      self->OnResponse(std::move(response));
                    });
  }

 private:
  void OnResponse(absl::StatusOr<mmsc::HttpClientResponse> response) {
    WebhookAttempt& attempt = result_.attempts.back();
    attempt.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - attempt_start_)
            .count();
    bool retriable = false;
    if (response.ok()) {
      attempt.http_status = response->status;
      result_.http_status = response->status;
      result_.response_body = std::move(response->body);
      result_.response_truncated = response->truncated;
      result_.response_content_type = response->Header("Content-Type");
      if (response->status >= 200 && response->status < 300) {
        result_.ok = true;
        return Finish();
      }
      attempt.error = "HTTP " + std::to_string(response->status);
      // A 4xx says the request itself is wrong: sending it again would get the same answer.
      retriable = response->status >= 500;
    } else {
      attempt.error = std::string(response.status().message());
      const auto kind = mmsc::HttpFetchErrorOf(response.status());
      retriable = kind == mmsc::HttpFetchError::kConnect || kind == mmsc::HttpFetchError::kTimeout;
    }
    const int tries = static_cast<int>(result_.attempts.size());
    if (!retriable || tries >= request_.max_attempts) return Finish();
    const double simulated_ms =
        static_cast<double>(kFirstBackoff.count()) * std::ldexp(1.0, std::min(tries - 1, 20));
    timer_->WaitUntil(clock_.Now() + SimMilliseconds(simulated_ms),
                      [self = shared_from_this()](bool) {
                        // Nothing cancels the timer, so an error here can only be the io_context
                        // shutting down, and then no handler runs at all: just try again.
                        self->Attempt();
                      });
  }

  void Finish() {
    auto done = std::move(done_);
    done(std::move(result_));
  }

  boost::asio::io_context& io_;
  mmsgate::Clock& clock_;
  std::unique_ptr<Timer> timer_;
  WebhookRequest request_;
  WebhookCallback done_;
  const std::string body_;
  const std::string signature_;
  const std::string idempotency_token_;
  SteadyClock::time_point attempt_start_;
  WebhookResult result_;
};

}  // namespace

std::string TwilioSignatureInput(const std::string& url, const FormParams& params) {
  // std::string orders by bytes, which for UTF-8 is code point order (as the Python helper
  // sorts; the Node one sorts UTF-16 units, which differs only between U+E000..U+FFFF and
  // characters beyond U+FFFF).
  std::map<std::string, std::set<std::string>> sorted;
  for (const auto& [name, value] : params) sorted[name].insert(value);
  std::string input = url;
  for (const auto& [name, values] : sorted) {
    for (const auto& value : values) {
      input += name;
      input += value;
    }
  }
  return input;
}

std::string TwilioSignature(const std::string& auth_token, const std::string& url,
                            const FormParams& params) {
  const std::string input = TwilioSignatureInput(url, params);
  return Base64Encode(HmacSha1(auth_token, input));
}

WebhookSender::WebhookSender(boost::asio::io_context& io, mmsgate::Clock& clock)
    : io_(io), clock_(clock) {}

void WebhookSender::Post(WebhookRequest request, WebhookCallback done) {
  in_flight_->fetch_add(1);
  auto finished = [in_flight = in_flight_, done = std::move(done)](WebhookResult result) {
    in_flight->fetch_sub(1);
    done(std::move(result));
  };
  std::make_shared<Delivery>(io_, clock_, std::move(request), std::move(finished))->Attempt();
}

}  // namespace mmsgate::gateway
