#include "gateway/webhooks/status_callbacks.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cctype>
#include <ctime>

#include "carriers/base/text.h"

namespace mmsgate::gateway {

namespace v1 = mmsgate::v1;

std::string StatusName(v1::MessageStatus status) {
  if (status == v1::MESSAGE_STATUS_UNSPECIFIED) return "accepted";
  std::string name = v1::MessageStatus_Name(status);
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

v1::WebhookAttempt ToAttemptRecord(const WebhookAttempt& attempt, v1::WebhookAttempt::Kind kind,
                                   const std::string& url, const FormParams& fields) {
  v1::WebhookAttempt record;
  record.set_kind(kind);
  record.set_url(url);
  *record.mutable_started_at() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(attempt.started_at.time_since_epoch())
          .count());
  record.set_duration_ms(attempt.duration_ms);
  record.set_http_status(attempt.http_status);
  // The error may quote a server's answer; stored records hold UTF-8 only.
  record.set_error(ToValidUtf8(attempt.error));
  for (const auto& [name, value] : fields) {
    auto* field = record.add_request_fields();
    field->set_name(ToValidUtf8(name));
    field->set_value(ToValidUtf8(value));
  }
  return record;
}

StatusCallbacks::StatusCallbacks(boost::asio::io_context& io, WebhookSender& sender,
                                 const Directory& directory, storage::Database& database,
                                 AttemptLog& attempts, std::chrono::milliseconds timeout)
    : io_(io),
      sender_(sender),
      directory_(directory),
      database_(database),
      attempts_(attempts),
      timeout_(timeout) {}

void StatusCallbacks::OnStatus(const v1::Message& message) {
  if (message.status_callback().empty()) return;
  pending_.fetch_add(1, std::memory_order_relaxed);
  ChainPtr chain;
  {
    std::lock_guard lock(mutex_);
    auto& slot = chains_[message.sid()];
    if (!slot) slot = std::make_shared<Chain>(io_);
    chain = slot;
    ++chain->outstanding;
  }
  boost::asio::post(chain->strand, [this, chain, message] {
    chain->queue.push_back(message);
    if (chain->queue.size() == 1) PostFront(chain);
  });
}

std::size_t StatusCallbacks::pending() const { return pending_.load(std::memory_order_relaxed); }

std::string RawDlrDoneDate(const google::protobuf::Timestamp& time) {
  const std::time_t seconds = static_cast<std::time_t>(time.seconds());
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[16];
  std::strftime(text, sizeof(text), "%y%m%d%H%M", &utc);
  return text;
}

void StatusCallbacks::PostFront(const ChainPtr& chain) {
  const v1::Message& message = chain->queue.front();
  auto account = directory_.FindAccount(message.account_sid());
  WebhookRequest request;
  request.url = message.status_callback();
  request.timeout = timeout_;
  request.auth_token = account ? account->auth_token() : "";
  const std::string status = StatusName(message.status());
  request.params = {
      {"MessageSid", message.sid()},
      {"SmsSid", message.sid()},
      {"SmsMessageSid", message.sid()},
      {"AccountSid", message.account_sid()},
      {"From", message.from()},
      {"To", message.to()},
      {"MessageStatus", status},
      {"SmsStatus", status},
      {"ApiVersion", "2010-04-01"},
      {"NumMedia", std::to_string(message.num_media())},
      {"NumSegments", std::to_string(message.num_segments())},
  };
  if (message.error_code() != 0) {
    request.params.emplace_back("ErrorCode", std::to_string(message.error_code()));
    request.params.emplace_back("ErrorMessage", message.error_message());
  }
  if (!message.messaging_service_sid().empty()) {
    request.params.emplace_back("MessagingServiceSid", message.messaging_service_sid());
  }
  if (message.status() == v1::DELIVERED || message.status() == v1::UNDELIVERED) {
    // The carrier's delivery report time, as the provider passes it on: YYMMDDhhmm, UTC.
    request.params.emplace_back("RawDlrDoneDate", RawDlrDoneDate(message.date_updated()));
  }
  FormParams fields = request.params;
  sender_.Post(std::move(request), [this, chain, fields = std::move(fields)](WebhookResult result) {
    boost::asio::post(chain->strand, [this, chain, fields, result = std::move(result)] {
      const v1::Message& message = chain->queue.front();
      auto batch = database_.NewBatch();
      for (const auto& attempt : result.attempts) {
        auto record = ToAttemptRecord(attempt, v1::WebhookAttempt::STATUS_CALLBACK,
                                      message.status_callback(), fields);
        record.set_reported_status(message.status());
        if (auto status = attempts_.StageAttempt(*batch, message.sid(), record); !status.ok()) {
          spdlog::error("{}", std::string(status.message()));
        }
      }
      if (!result.ok) {
        spdlog::info("status callback for {} ({}) failed after {} attempts", message.sid(),
                     StatusName(message.status()), result.attempts.size());
      }
      // The next post starts once these attempts are stored, so the record is in order too.
      database_.Commit(std::move(batch), chain->strand,
                       [this, chain](absl::Status) { Next(chain); });
    });
  });
}

void StatusCallbacks::Next(const ChainPtr& chain) {
  const std::string sid = chain->queue.front().sid();
  chain->queue.pop_front();
  pending_.fetch_sub(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mutex_);
    // Nothing else on its way: the chain ends, and a later status starts a new one.
    if (--chain->outstanding == 0) chains_.erase(sid);
  }
  if (!chain->queue.empty()) PostFront(chain);
}

}  // namespace mmsgate::gateway
