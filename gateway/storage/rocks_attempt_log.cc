#include "gateway/storage/rocks_attempt_log.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <cinttypes>
#include <cstdio>

namespace mmsgate::gateway {

std::vector<storage::FamilySpec> RocksAttemptLog::Families() {
  return {{"attempts", storage::FamilyKind::kIndex}};
}

RocksAttemptLog::RocksAttemptLog(storage::RocksDatabase& database)
    : database_(database), attempts_(database.Family("attempts")) {}

absl::Status RocksAttemptLog::StageAttempt(storage::Batch& batch, const std::string& sid,
                                           const mmsgate::v1::WebhookAttempt& attempt) {
  auto record = storage::EncodeRecord(attempt, "a webhook attempt of " + sid);
  if (!record.ok()) return record.status();
  char suffix[48];
  std::snprintf(suffix, sizeof suffix, "/%020" PRIu64 "/%" PRIu64,
                static_cast<uint64_t>(
                    google::protobuf::util::TimeUtil::TimestampToNanoseconds(attempt.started_at())),
                counter_.fetch_add(1, std::memory_order_relaxed));
  database_.Put(batch, attempts_, sid + suffix, *record);
  return absl::OkStatus();
}

std::vector<mmsgate::v1::WebhookAttempt> RocksAttemptLog::List(const std::string& sid) const {
  std::vector<mmsgate::v1::WebhookAttempt> attempts;
  (void)database_.Scan(attempts_, sid + "/", "", [&](std::string_view key, std::string_view value) {
    mmsgate::v1::WebhookAttempt attempt;
    if (attempt.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      attempts.push_back(std::move(attempt));
    } else {
      spdlog::error("attempts/{} is stored but unreadable; it is left out of {}", key, sid);
    }
    return true;
  });
  return attempts;
}

void RocksAttemptLog::StageRemoveAll(storage::Batch& batch, const std::string& sid) {
  std::vector<std::string> keys;
  (void)database_.Scan(attempts_, sid + "/", "", [&keys](std::string_view key, std::string_view) {
    keys.emplace_back(key);
    return true;
  });
  for (const auto& key : keys) database_.Delete(batch, attempts_, key);
}

}  // namespace mmsgate::gateway
