#include "gateway/storage/rocks_message_store.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <cinttypes>
#include <cstdio>
#include <limits>

#include "absl/strings/escaping.h"
#include "carriers/base/errors.h"
#include "mmsgate/storage/records.pb.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using google::protobuf::util::TimeUtil;
using storage::FamilyKind;

int64_t Nanos(const google::protobuf::Timestamp& t) {
  return t.seconds() == 0 && t.nanos() == 0 ? 0 : TimeUtil::TimestampToNanoseconds(t);
}
// Sets the timestamp only when there is one: an unset date stays absent, as it was written.
template <typename Mutable>
void SetNanos(int64_t ns, Mutable mutable_field) {
  if (ns != 0) *mutable_field() = TimeUtil::NanosecondsToTimestamp(ns);
}

// <account>/<16 hex digits of (max - creation ns)>/<sid>: ascending keys are newest first.
std::string IndexKey(const std::string& account_sid, int64_t created_ns, const std::string& sid) {
  char inverted[17];
  std::snprintf(inverted, sizeof inverted, "%016" PRIx64,
                std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(created_ns));
  return account_sid + "/" + inverted + "/" + sid;
}

std::string ExpiryKey(int64_t expires_at_ns, const std::string& sid) {
  char when[17];
  std::snprintf(when, sizeof when, "%016" PRIx64, static_cast<uint64_t>(expires_at_ns));
  return std::string(when) + "/" + sid;
}

std::string LinkToken(const std::string& link_url) {
  const auto slash = link_url.rfind("/m/");
  return slash == std::string::npos ? "" : link_url.substr(slash + 3);
}

storage::MessageRecord ToRecord(const v1::Message& m) {
  storage::MessageRecord r;
  r.set_sid(m.sid());
  r.set_account_sid(m.account_sid());
  r.set_from(m.from());
  r.set_to(m.to());
  r.set_body(m.body());
  r.set_num_media(m.num_media());
  r.set_num_segments(m.num_segments());
  r.set_direction(m.direction());
  r.set_delivered_as(m.delivered_as());
  r.set_fallback_reason(m.fallback_reason());
  r.set_carrier_id(m.carrier_id());
  for (const auto& media : m.media()) {
    auto* item = r.add_media();
    item->set_sid(media.sid());
    item->set_content_type(media.content_type());
    item->set_size(media.size());
    item->set_sha256(media.sha256());
    item->set_filename(media.filename());
    item->set_original_size(media.original_size());
    item->set_original_content_type(media.original_content_type());
  }
  r.set_link_url(m.link_url());
  r.set_date_created_ns(Nanos(m.date_created()));
  r.set_status_callback(m.status_callback());
  r.set_validity_period_seconds(m.validity_period_seconds());
  r.set_delivered_text(m.delivered_text());
  r.set_sequence(m.sequence());
  r.set_reply_to_sid(m.reply_to_sid());
  r.set_messaging_service_sid(m.messaging_service_sid());
  if (m.has_send_at()) r.set_send_at_ns(Nanos(m.send_at()));
  return r;
}

storage::StatusRecord ToStatus(const v1::Message& m) {
  storage::StatusRecord s;
  s.set_status(m.status());
  s.set_error_code(m.error_code());
  s.set_error_message(m.error_message());
  s.set_date_updated_ns(Nanos(m.date_updated()));
  s.set_date_sent_ns(Nanos(m.date_sent()));
  return s;
}

v1::Message FromRecords(const storage::MessageRecord& r, const storage::StatusRecord& s) {
  v1::Message m;
  m.set_sid(r.sid());
  m.set_account_sid(r.account_sid());
  m.set_from(r.from());
  m.set_to(r.to());
  m.set_body(r.body());
  m.set_num_media(r.num_media());
  m.set_num_segments(r.num_segments());
  m.set_direction(static_cast<v1::Direction>(r.direction()));
  m.set_delivered_as(static_cast<v1::DeliveredAs>(r.delivered_as()));
  m.set_fallback_reason(static_cast<v1::FallbackReason>(r.fallback_reason()));
  m.set_carrier_id(r.carrier_id());
  for (const auto& item : r.media()) {
    auto* media = m.add_media();
    media->set_sid(item.sid());
    media->set_parent_sid(r.sid());
    media->set_content_type(item.content_type());
    media->set_size(item.size());
    media->set_sha256(item.sha256());
    media->set_filename(item.filename());
    media->set_original_size(item.original_size());
    media->set_original_content_type(item.original_content_type());
    SetNanos(r.date_created_ns(), [&] { return media->mutable_date_created(); });
  }
  m.set_link_url(r.link_url());
  SetNanos(r.date_created_ns(), [&] { return m.mutable_date_created(); });
  m.set_status_callback(r.status_callback());
  m.set_validity_period_seconds(r.validity_period_seconds());
  m.set_delivered_text(r.delivered_text());
  m.set_sequence(r.sequence());
  m.set_reply_to_sid(r.reply_to_sid());
  m.set_messaging_service_sid(r.messaging_service_sid());
  SetNanos(r.send_at_ns(), [&] { return m.mutable_send_at(); });
  m.set_status(static_cast<v1::MessageStatus>(s.status()));
  m.set_error_code(s.error_code());
  m.set_error_message(s.error_message());
  SetNanos(s.date_updated_ns(), [&] { return m.mutable_date_updated(); });
  SetNanos(s.date_sent_ns(), [&] { return m.mutable_date_sent(); });
  return m;
}

absl::Status Unreadable(const std::string& what) {
  return ProviderError(absl::StatusCode::kDataLoss, error_codes::kStorageFailure,
                       what + " is stored but unreadable");
}

constexpr char kNextSequence[] = "next_sequence";

// Page tokens are the hex of the last index key read; only hex digits are accepted back.
std::optional<std::string> DecodeToken(const std::string& token) {
  if (token.size() % 2 != 0 || token.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return std::nullopt;
  }
  return absl::HexStringToBytes(token);
}

}  // namespace

std::vector<storage::FamilySpec> RocksMessageStore::Families() {
  return {{"messages", FamilyKind::kRecords},    {"status", FamilyKind::kRecords},
          {"index", FamilyKind::kIndex},         {"outbox", FamilyKind::kIndex},
          {"links", FamilyKind::kRecords},       {"expiry", FamilyKind::kIndex},
          {"message_meta", FamilyKind::kRecords}};
}

RocksMessageStore::RocksMessageStore(storage::RocksDatabase& database)
    : database_(database),
      messages_(database.Family("messages")),
      status_(database.Family("status")),
      index_(database.Family("index")),
      outbox_(database.Family("outbox")),
      links_(database.Family("links")),
      expiry_(database.Family("expiry")),
      meta_(database.Family("message_meta")) {}

absl::Status RocksMessageStore::StageNew(storage::Batch& batch, const v1::Message& message,
                                         const NewMessageExtras& extras) {
  // Both records are encoded before anything is staged, so a refused one leaves the batch as
  // it was.
  auto record = storage::EncodeRecord(ToRecord(message), "message " + message.sid());
  if (!record.ok()) return record.status();
  auto status = storage::EncodeRecord(ToStatus(message), "the status of " + message.sid());
  if (!status.ok()) return status.status();
  database_.Put(batch, messages_, message.sid(), *record);
  database_.Put(batch, status_, message.sid(), *status);
  database_.Put(batch, index_,
                IndexKey(message.account_sid(), Nanos(message.date_created()), message.sid()), "");
  if (!extras.finished) database_.Put(batch, outbox_, message.sid(), "");
  if (!extras.link_token.empty()) database_.Put(batch, links_, extras.link_token, message.sid());
  if (extras.media_expires_at_ns > 0 && message.media_size() > 0) {
    database_.Put(batch, expiry_, ExpiryKey(extras.media_expires_at_ns, message.sid()), "");
  }
  return absl::OkStatus();
}

absl::Status RocksMessageStore::StageStatus(storage::Batch& batch, const v1::Message& message,
                                            bool finished) {
  auto status = storage::EncodeRecord(ToStatus(message), "the status of " + message.sid());
  if (!status.ok()) return status.status();
  database_.Put(batch, status_, message.sid(), *status);
  if (finished) database_.Delete(batch, outbox_, message.sid());
  return absl::OkStatus();
}

absl::Status RocksMessageStore::StageRecord(storage::Batch& batch, const v1::Message& message) {
  auto record = storage::EncodeRecord(ToRecord(message), "message " + message.sid());
  if (!record.ok()) return record.status();
  database_.Put(batch, messages_, message.sid(), *record);
  return absl::OkStatus();
}

void RocksMessageStore::StageRemove(storage::Batch& batch, const v1::Message& message) {
  database_.Delete(batch, messages_, message.sid());
  database_.Delete(batch, status_, message.sid());
  database_.Delete(batch, index_,
                   IndexKey(message.account_sid(), Nanos(message.date_created()), message.sid()));
  database_.Delete(batch, outbox_, message.sid());
  if (const std::string token = LinkToken(message.link_url()); !token.empty()) {
    database_.Delete(batch, links_, token);
  }
  // A retention entry stays: the sweep drops it when it comes due and finds no message.
}

void RocksMessageStore::StageUnlink(storage::Batch& batch, const std::string& token) {
  database_.Delete(batch, links_, token);
}

void RocksMessageStore::StageExpiryDone(storage::Batch& batch, const std::string& key) {
  database_.Delete(batch, expiry_, key);
}

void RocksMessageStore::StageNextSequence(storage::Batch& batch, uint64_t next) {
  database_.Put(batch, meta_, kNextSequence, std::to_string(next));
}

absl::StatusOr<v1::Message> RocksMessageStore::Get(const std::string& sid) const {
  auto record_bytes = database_.Get(messages_, sid);
  if (absl::IsNotFound(record_bytes.status())) {
    return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                         "message " + sid.substr(0, 64) + " was not found");
  }
  if (!record_bytes.ok()) return record_bytes.status();
  auto status_bytes = database_.Get(status_, sid);
  if (!status_bytes.ok() && !absl::IsNotFound(status_bytes.status())) {
    return status_bytes.status();
  }
  storage::MessageRecord record;
  storage::StatusRecord status;
  if (!record.ParseFromString(*record_bytes)) return Unreadable("message " + sid);
  if (!status_bytes.ok() || !status.ParseFromString(*status_bytes)) {
    return Unreadable("the status of message " + sid);
  }
  return FromRecords(record, status);
}

absl::StatusOr<v1::ListMessagesResponse> RocksMessageStore::List(
    const std::string& account_sid, const v1::ListMessagesRequest& request,
    const Filter& also) const {
  if (auto status = CheckListRequest(request); !status.ok()) return status;
  const int page_size = request.page_size() > 0 ? request.page_size() : kDefaultPageSize;
  const std::string prefix = account_sid + "/";
  std::string start;
  if (!request.page_token().empty()) {
    auto decoded = DecodeToken(request.page_token());
    if (!decoded || !decoded->starts_with(prefix)) {
      return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                           "page_token is not one this account was given; start from an empty "
                           "token");
    }
    start = *decoded;
  }
  v1::ListMessagesResponse response;
  int scanned = 0;
  bool page_full = false, more = false;
  std::string last_key;
  auto status = database_.Scan(index_, prefix, start, [&](std::string_view key, std::string_view) {
    if (!start.empty() && key == start) return true;  // the last key of the previous page
    if (page_full || scanned == kMaxScannedPerPage) {
      more = true;  // something follows what this page read
      return false;
    }
    ++scanned;
    last_key = std::string(key);
    const std::string sid(key.substr(key.rfind('/') + 1));
    auto message = Get(sid);
    if (!message.ok()) {
      // Index and record are written in one batch, so this is damage, not a race: say so.
      spdlog::error("index entry {} names a message that cannot be read: {}", last_key,
                    std::string(message.status().message()));
      return true;
    }
    if (!request.from().empty() && message->from() != request.from()) return true;
    if (!request.to().empty() && message->to() != request.to()) return true;
    if (request.status() != v1::MESSAGE_STATUS_UNSPECIFIED &&
        message->status() != request.status()) {
      return true;
    }
    if (also && !also(*message)) return true;
    *response.add_messages() = std::move(*message);
    page_full = response.messages_size() == page_size;
    return true;
  });
  if (!status.ok()) return status;
  if (more) response.set_next_page_token(absl::BytesToHexString(last_key));
  return response;
}

bool RocksMessageStore::IsUnfinished(const std::string& sid) const {
  return database_.Get(outbox_, sid).ok();
}

std::vector<v1::Message> RocksMessageStore::LoadUnfinished() {
  std::vector<std::string> sids;
  (void)database_.Scan(outbox_, "", "", [&sids](std::string_view key, std::string_view) {
    sids.emplace_back(key);
    return true;
  });
  std::vector<v1::Message> messages;
  for (const auto& sid : sids) {
    auto message = Get(sid);
    if (message.ok()) {
      messages.push_back(std::move(*message));
      continue;
    }
    // Kept aside with its key, not skipped: the outbox entry goes (nothing can resume a record
    // nobody can read) and the records move to the quarantine family for a person to inspect.
    spdlog::error(
        "outbox names {} but its record cannot be read ({}); it is moved to the "
        "quarantine family as messages/{} and will not be delivered",
        sid, std::string(message.status().message()), sid);
    for (const auto family : {messages_, status_, outbox_}) {
      if (!database_.Get(family, sid).ok()) continue;
      if (auto moved = database_.Quarantine(family, sid); !moved.ok()) {
        spdlog::error("cannot quarantine {}: {}", sid, std::string(moved.message()));
      }
    }
  }
  return messages;
}

std::optional<uint64_t> RocksMessageStore::LoadNextSequence() const {
  auto stored = database_.Get(meta_, kNextSequence);
  if (!stored.ok()) return std::nullopt;
  try {
    return std::stoull(*stored);
  } catch (const std::exception&) {
    spdlog::warn("stored next_sequence \"{}\" is unreadable; starting from 0", *stored);
    return std::nullopt;
  }
}

absl::StatusOr<std::string> RocksMessageStore::MessageSidForLink(const std::string& token) const {
  return database_.Get(links_, token);
}

std::vector<DueExpiry> RocksMessageStore::DueForExpiry(int64_t now_ns, int max) const {
  // Keys sort by expiry time, so everything due is a prefix of the family.
  const std::string end = ExpiryKey(now_ns, "~");
  std::vector<DueExpiry> due;
  (void)database_.Scan(expiry_, "", "", [&](std::string_view key, std::string_view) {
    if (std::string(key) >= end || static_cast<int>(due.size()) >= max) return false;
    due.push_back({std::string(key), std::string(key.substr(key.find('/') + 1))});
    return true;
  });
  return due;
}

}  // namespace mmsgate::gateway
