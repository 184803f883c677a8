#include "gateway/webhooks/status_callbacks.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <cctype>

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
                                   const std::string& url) {
  v1::WebhookAttempt record;
  record.set_kind(kind);
  record.set_url(url);
  *record.mutable_started_at() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          attempt.started_at.time_since_epoch())
          .count());
  record.set_duration_ms(attempt.duration_ms);
  record.set_http_status(attempt.http_status);
  // The error may quote a server's answer; stored records hold UTF-8 only.
  record.set_error(ToValidUtf8(attempt.error));
  return record;
}

StatusCallbacks::StatusCallbacks(WebhookSender& sender, Directory& directory, MessageStore& store,
                                 mmsc::Database& database)
    : sender_(sender), directory_(directory), store_(store), database_(database) {}

void StatusCallbacks::OnStatus(const v1::Message& message) {
  if (message.status_callback().empty()) return;
  bool start = false;
  {
    std::lock_guard lock(mutex_);
    auto& queue = queues_[message.sid()];
    queue.push_back(message);
    start = queue.size() == 1;
  }
  if (start) PostNext(message.sid());
}

std::size_t StatusCallbacks::pending() const {
  std::lock_guard lock(mutex_);
  std::size_t count = 0;
  for (const auto& [_, queue] : queues_) count += queue.size();
  return count;
}

void StatusCallbacks::PostNext(const std::string& sid) {
  v1::Message message;
  {
    std::lock_guard lock(mutex_);
    auto it = queues_.find(sid);
    if (it == queues_.end() || it->second.empty()) return;
    message = it->second.front();
  }
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
  sender_.Post(std::move(request), [this, sid, message](WebhookResult result) {
    rocksdb::WriteBatch batch;
    for (const auto& attempt : result.attempts) {
      auto record = ToAttemptRecord(attempt, v1::WebhookAttempt::STATUS_CALLBACK,
                                    message.status_callback());
      record.set_reported_status(message.status());
      if (auto status = store_.StageAttempt(batch, sid, record); !status.ok()) {
        spdlog::error("{}", std::string(status.message()));
      }
    }
    if (!result.ok) {
      spdlog::info("status callback for {} ({}) failed after {} attempts", sid,
                   StatusName(message.status()), result.attempts.size());
    }
    database_.Write(std::move(batch), [this, sid](absl::Status) {
      bool more = false;
      {
        std::lock_guard lock(mutex_);
        auto it = queues_.find(sid);
        if (it != queues_.end()) {
          it->second.pop_front();
          more = !it->second.empty();
          if (!more) queues_.erase(it);
        }
      }
      if (more) PostNext(sid);
    });
  });
}

}  // namespace mmsgate::gateway
