#include "gateway/storage/message_store.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <cinttypes>
#include <cstdio>
#include <limits>
#include <atomic>
#include <memory>

#include "carriers/base/encoding.h"
#include "carriers/base/errors.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using mmsc::Family;
constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;
// Stop a filtered scan after this many index entries, so one List stays cheap; the page token
// lets the caller continue.
constexpr int kMaxScannedPerPage = 20000;

// <account>/<16 hex digits of (max - creation ns)>/<sid>: ascending keys are newest first.
std::string IndexKey(const v1::Message& message) {
  const uint64_t created =
      static_cast<uint64_t>(google::protobuf::util::TimeUtil::TimestampToNanoseconds(
          message.date_created()));
  char inverted[17];
  std::snprintf(inverted, sizeof inverted, "%016" PRIx64,
                std::numeric_limits<uint64_t>::max() - created);
  return message.account_sid() + "/" + inverted + "/" + message.sid();
}

std::string ExpiryKey(int64_t expires_at_ns, const std::string& sid) {
  char when[17];
  std::snprintf(when, sizeof when, "%016" PRIx64, static_cast<uint64_t>(expires_at_ns));
  return std::string(when) + "/" + sid;
}

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

absl::Status Check(const rocksdb::Status& status) { return mmsc::FromRocksDb(status, "stage"); }

// The provider's "Cannot delete this resource before it is complete".
constexpr int kDeleteUnfinished = 20009;

bool IsFinished(v1::MessageStatus status) {
  return status == v1::DELIVERED || status == v1::UNDELIVERED || status == v1::FAILED ||
         status == v1::RECEIVED;
}

}  // namespace

absl::Status MessageStore::StageNew(rocksdb::WriteBatch& batch, const AdmittedMessage& admitted) {
  const v1::Message& message = admitted.message;
  // Checked before anything is staged, so a refused record leaves the batch untouched.
  auto record = mmsc::Database::EncodeRecord(message, "message " + message.sid());
  if (!record.ok()) return record.status();
  for (int i = 0; i < message.media_size(); ++i) {
    if (auto status = media_store_.StageMedia(batch, message.media(i).sha256(),
                                              *admitted.media[i].data, message.sid());
        !status.ok()) {
      return status;
    }
  }
  if (!admitted.link_token.empty()) {
    if (auto s = Check(batch.Put(database_.family(Family::kLinks), admitted.link_token,
                                 message.sid()));
        !s.ok()) {
      return s;
    }
  }
  if (admitted.media_expires_at_ns > 0 && message.media_size() > 0) {
    if (auto s = Check(batch.Put(database_.family(Family::kExpiry),
                                 ExpiryKey(admitted.media_expires_at_ns, message.sid()), ""));
        !s.ok()) {
      return s;
    }
  }
  if (auto s = Check(batch.Put(database_.family(Family::kIndex), IndexKey(message), ""));
      !s.ok()) {
    return s;
  }
  return StageUpdate(batch, message, /*finished=*/false);
}

absl::Status MessageStore::StageUpdate(rocksdb::WriteBatch& batch, const v1::Message& message,
                                       bool finished) {
  auto record = mmsc::Database::EncodeRecord(message, "message " + message.sid());
  if (!record.ok()) return record.status();
  if (auto s = Check(batch.Put(database_.family(Family::kMessages), message.sid(), *record));
      !s.ok()) {
    return s;
  }
  if (finished) return Check(batch.Delete(database_.family(Family::kOutbox), message.sid()));
  return Check(batch.Put(database_.family(Family::kOutbox), message.sid(), ""));
}

absl::StatusOr<v1::Message> MessageStore::Get(const std::string& sid) const {
  auto value = database_.Get(Family::kMessages, sid);
  if (absl::IsNotFound(value.status())) {
    return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                         "message " + sid + " was not found");
  }
  if (!value.ok()) return value.status();
  v1::Message message;
  if (!message.ParseFromString(*value)) {
    return ProviderError(absl::StatusCode::kDataLoss, error_codes::kStorageFailure,
                         "message " + sid + " is stored but unreadable");
  }
  return message;
}

absl::Status MessageStore::StageAttempt(rocksdb::WriteBatch& batch, const std::string& sid,
                                        const v1::WebhookAttempt& attempt) const {
  auto record = mmsc::Database::EncodeRecord(attempt, "a webhook attempt of " + sid);
  if (!record.ok()) return record.status();
  static std::atomic<uint64_t> counter{0};
  char suffix[48];
  std::snprintf(suffix, sizeof suffix, "/%020" PRIu64 "/%" PRIu64,
                static_cast<uint64_t>(
                    google::protobuf::util::TimeUtil::TimestampToNanoseconds(attempt.started_at())),
                counter.fetch_add(1, std::memory_order_relaxed));
  return Check(batch.Put(database_.family(Family::kAttempts), sid + suffix, *record));
}

absl::StatusOr<v1::Message> MessageStore::GetWithAttempts(const std::string& sid) const {
  auto message = Get(sid);
  if (!message.ok()) return message;
  const std::string prefix = sid + "/";
  std::unique_ptr<rocksdb::Iterator> it(
      database_.db()->NewIterator(rocksdb::ReadOptions(), database_.family(Family::kAttempts)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    v1::WebhookAttempt attempt;
    if (attempt.ParseFromString(it->value().ToString())) {
      *message->add_webhook_attempts() = std::move(attempt);
    } else {
      spdlog::error("attempts/{} is stored but unreadable; it is left out of {}",
                    it->key().ToString(), sid);
    }
  }
  return message;
}

absl::StatusOr<v1::ListMessagesResponse> MessageStore::List(
    const std::string& account_sid, const v1::ListMessagesRequest& request,
    const std::function<bool(const v1::Message&)>& also) const {
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                         "page_size " + std::to_string(request.page_size()) +
                             " must be within 1.." + std::to_string(kMaxPageSize));
  }
  const int page_size = request.page_size() > 0 ? request.page_size() : kDefaultPageSize;
  const std::string prefix = account_sid + "/";
  std::string start = prefix;
  bool skip_start = false;
  if (!request.page_token().empty()) {
    auto decoded = HexDecode(request.page_token());
    if (!decoded || !decoded->starts_with(prefix)) {
      return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                           "page_token is not one this account was given; start from an empty "
                           "token");
    }
    start = *decoded;
    skip_start = true;
  }

  v1::ListMessagesResponse response;
  std::unique_ptr<rocksdb::Iterator> it(
      database_.db()->NewIterator(rocksdb::ReadOptions(), database_.family(Family::kIndex)));
  int scanned = 0;
  bool scan_bound_hit = false;
  std::string last_key;
  for (it->Seek(start); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string key = it->key().ToString();
    if (skip_start && key == start) continue;
    if (scanned++ == kMaxScannedPerPage) {
      scan_bound_hit = true;
      break;
    }
    last_key = key;
    const std::string sid = key.substr(key.rfind('/') + 1);
    auto message = GetWithAttempts(sid);
    if (!message.ok()) {
      // Index and record are written in one batch, so this is damage, not a race: say so.
      spdlog::error("index entry {} names a message that cannot be read: {}", key,
                    std::string(message.status().message()));
      continue;
    }
    if (!request.from().empty() && message->from() != request.from()) continue;
    if (!request.to().empty() && message->to() != request.to()) continue;
    if (request.status() != v1::MESSAGE_STATUS_UNSPECIFIED &&
        message->status() != request.status()) {
      continue;
    }
    if (also && !also(*message)) continue;
    *response.add_messages() = std::move(*message);
    if (response.messages_size() == page_size) break;
  }
  if (!it->status().ok()) return mmsc::FromRocksDb(it->status(), "list messages");
  // More may follow when the loop stopped early on a full page or on the scan bound.
  if (scan_bound_hit) {
    response.set_next_page_token(HexEncode(last_key));
  } else if (it->Valid() && it->key().starts_with(prefix)) {
    it->Next();
    if (it->Valid() && it->key().starts_with(prefix)) {
      response.set_next_page_token(HexEncode(last_key));
    }
  }
  return response;
}

std::vector<std::string> MessageStore::Unfinished() const {
  std::vector<std::string> sids;
  std::unique_ptr<rocksdb::Iterator> it(
      database_.db()->NewIterator(rocksdb::ReadOptions(), database_.family(Family::kOutbox)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) sids.push_back(it->key().ToString());
  return sids;
}

std::vector<v1::Message> MessageStore::LoadUnfinished() {
  std::vector<v1::Message> messages;
  for (const auto& sid : Unfinished()) {
    auto message = Get(sid);
    if (message.ok()) {
      messages.push_back(std::move(*message));
      continue;
    }
    // Kept aside with its key, not skipped: the outbox entry goes (nothing can resume a record
    // nobody can read) and the record moves to the quarantine family for a person to inspect.
    spdlog::error("outbox names {} but its record cannot be read ({}); it is moved to the "
                  "quarantine family as messages/{} and will not be delivered",
                  sid, std::string(message.status().message()), sid);
    if (!absl::IsNotFound(message.status())) {
      if (auto status = database_.Quarantine(Family::kMessages, sid); !status.ok()) {
        spdlog::error("cannot quarantine messages/{}: {}", sid, std::string(status.message()));
      }
    }
    if (auto status = database_.Quarantine(Family::kOutbox, sid); !status.ok()) {
      spdlog::error("cannot quarantine outbox/{}: {}", sid, std::string(status.message()));
    }
  }
  return messages;
}

absl::StatusOr<int> MessageStore::SweepExpiredMedia(int64_t now_ns, int max_messages) {
  // Keys sort by expiry time, so everything due is a prefix of the family.
  const std::string end = ExpiryKey(now_ns, "~");
  std::vector<std::string> due;
  {
    std::unique_ptr<rocksdb::Iterator> it(database_.db()->NewIterator(
        rocksdb::ReadOptions(), database_.family(Family::kExpiry)));
    for (it->SeekToFirst(); it->Valid() && it->key().ToString() < end &&
                            static_cast<int>(due.size()) < max_messages;
         it->Next()) {
      due.push_back(it->key().ToString());
    }
  }
  if (due.empty()) return 0;
  rocksdb::WriteBatch batch;
  std::vector<std::string> blobs;
  for (const auto& key : due) {
    const std::string sid = key.substr(key.find('/') + 1);
    batch.Delete(database_.family(Family::kExpiry), key);
    auto message = Get(sid);
    if (!message.ok()) continue;
    if (const auto slash = message->link_url().rfind("/m/"); slash != std::string::npos) {
      batch.Delete(database_.family(Family::kLinks), message->link_url().substr(slash + 3));
    }
    for (const auto& media : message->media()) {
      batch.Delete(database_.family(Family::kMediaRefs), media.sha256() + "/" + sid);
      blobs.push_back(media.sha256());
    }
  }
  if (auto status = database_.WriteNow(std::move(batch)); !status.ok()) return status;
  std::sort(blobs.begin(), blobs.end());
  blobs.erase(std::unique(blobs.begin(), blobs.end()), blobs.end());
  if (auto deleted = media_store_.DeleteUnreferenced(blobs); !deleted.ok()) {
    return deleted.status();
  }
  return static_cast<int>(due.size());
}

namespace {

absl::Status MessageNotFound(const std::string& sid) {
  return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                       "message " + sid.substr(0, 64) + " was not found");
}

}  // namespace

absl::Status MessageStore::Delete(const std::string& account_sid, const std::string& sid) {
  std::lock_guard lock(delete_mutex_);
  auto message = Get(sid);
  if (absl::IsNotFound(message.status()) ||
      (message.ok() && message->account_sid() != account_sid)) {
    return MessageNotFound(sid);
  }
  if (!message.ok()) return message.status();
  // A final record has left the outbox in the same batch, after which the pipeline never writes
  // it again; checking both keeps a half-resumed message safe too.
  if (!IsFinished(message->status()) || database_.Get(Family::kOutbox, sid).ok()) {
    return ProviderError(absl::StatusCode::kAborted, kDeleteUnfinished,
                         "Cannot delete message " + sid +
                             " because delivery has not been completed (status " +
                             v1::MessageStatus_Name(message->status()) + "); retry once it is "
                             "delivered, undelivered or failed");
  }
  rocksdb::WriteBatch batch;
  batch.Delete(database_.family(Family::kMessages), sid).PermitUncheckedError();
  batch.Delete(database_.family(Family::kIndex), IndexKey(*message)).PermitUncheckedError();
  batch.Delete(database_.family(Family::kOutbox), sid).PermitUncheckedError();
  {
    const std::string prefix = sid + "/";
    std::unique_ptr<rocksdb::Iterator> it(
        database_.db()->NewIterator(rocksdb::ReadOptions(), database_.family(Family::kAttempts)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      batch.Delete(database_.family(Family::kAttempts), it->key()).PermitUncheckedError();
    }
  }
  if (const auto slash = message->link_url().rfind("/m/"); slash != std::string::npos) {
    batch.Delete(database_.family(Family::kLinks), message->link_url().substr(slash + 3))
        .PermitUncheckedError();
  }
  // The expiry entry stays: the sweeper drops it when it comes due and finds no message.
  std::vector<std::string> blobs;
  for (const auto& media : message->media()) {
    batch.Delete(database_.family(Family::kMediaRefs), media.sha256() + "/" + sid)
        .PermitUncheckedError();
    blobs.push_back(media.sha256());
  }
  if (auto status = database_.WriteNow(std::move(batch)); !status.ok()) return status;
  std::sort(blobs.begin(), blobs.end());
  blobs.erase(std::unique(blobs.begin(), blobs.end()), blobs.end());
  if (auto deleted = media_store_.DeleteUnreferenced(blobs); !deleted.ok()) {
    return deleted.status();
  }
  return absl::OkStatus();
}

absl::Status MessageStore::DeleteMedia(const std::string& account_sid,
                                       const std::string& message_sid,
                                       const std::string& media_sid) {
  std::lock_guard lock(delete_mutex_);
  auto message = Get(message_sid);
  if (absl::IsNotFound(message.status()) ||
      (message.ok() && message->account_sid() != account_sid)) {
    return MessageNotFound(message_sid);
  }
  if (!message.ok()) return message.status();
  int index = -1;
  for (int i = 0; i < message->media_size(); ++i) {
    if (message->media(i).sid() == media_sid) index = i;
  }
  if (index < 0) {
    return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                         "media " + media_sid.substr(0, 64) + " of message " + message_sid +
                             " was not found");
  }
  if (!IsFinished(message->status()) || database_.Get(Family::kOutbox, message_sid).ok()) {
    return ProviderError(absl::StatusCode::kAborted, kDeleteUnfinished,
                         "Cannot delete media of message " + message_sid +
                             " because delivery has not been completed (status " +
                             v1::MessageStatus_Name(message->status()) + ")");
  }
  const std::string sha256 = message->media(index).sha256();
  message->mutable_media()->DeleteSubrange(index, 1);
  rocksdb::WriteBatch batch;
  if (auto s = StageUpdate(batch, *message, /*finished=*/true); !s.ok()) return s;
  bool still_used = false;
  for (const auto& media : message->media()) still_used = still_used || media.sha256() == sha256;
  if (!still_used) {
    batch.Delete(database_.family(Family::kMediaRefs), sha256 + "/" + message_sid)
        .PermitUncheckedError();
  }
  if (auto status = database_.WriteNow(std::move(batch)); !status.ok()) return status;
  if (!still_used) {
    if (auto deleted = media_store_.DeleteUnreferenced({sha256}); !deleted.ok()) {
      return deleted.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MessageStore::MessageSidForLink(const std::string& token) const {
  return database_.Get(Family::kLinks, token);
}

}  // namespace mmsgate::gateway
