#pragma once
// In-memory versions of every store, over InMemoryDatabase: the same contracts as the RocksDB
// ones (tests/gateway/storage/store_contract_test.cc runs the same tests on both), for unit tests
// of the components above them without a data directory.

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "carriers/base/errors.h"
#include "fakes/in_memory_database.h"
#include "gateway/storage/attempt_log.h"
#include "gateway/storage/directory_store.h"
#include "gateway/storage/inbox_store.h"
#include "gateway/storage/message_store.h"
#include "mmsc/storage/media_store.h"

namespace mmsgate::testing {

class InMemoryMediaStore final : public mmsc::MediaStore {
 public:
  explicit InMemoryMediaStore(InMemoryDatabase& database) : database_(database) {}

  absl::Status StageMedia(storage::Batch& batch, const std::string& sha256, const std::string& data,
                          const std::string& message_sid) override {
    {
      std::lock_guard lock(database_.mutex());
      ++staging_[sha256];
    }
    InMemoryDatabase::Own(batch).changes.push_back([this, sha256, data, message_sid] {
      blobs_.emplace(sha256, data);
      refs_[sha256].insert(message_sid);
    });
    return absl::OkStatus();
  }
  void StageRelease(storage::Batch& batch, const std::string& sha256,
                    const std::string& message_sid) override {
    InMemoryDatabase::Own(batch).changes.push_back([this, sha256, message_sid] {
      auto it = refs_.find(sha256);
      if (it == refs_.end()) return;
      it->second.erase(message_sid);
      if (it->second.empty()) refs_.erase(it);
    });
  }
  void StagingDone(const std::vector<std::string>& sha256s) override {
    std::lock_guard lock(database_.mutex());
    for (const auto& sha256 : sha256s) {
      if (auto it = staging_.find(sha256); it != staging_.end() && --it->second <= 0) {
        staging_.erase(it);
      }
    }
  }
  absl::StatusOr<std::string> Read(const std::string& sha256) const override {
    std::lock_guard lock(database_.mutex());
    auto it = blobs_.find(sha256);
    if (it == blobs_.end()) return absl::NotFoundError("no blob " + sha256);
    return it->second;
  }
  absl::StatusOr<int> DeleteUnreferenced(const std::vector<std::string>& sha256s) override {
    std::lock_guard lock(database_.mutex());
    int deleted = 0;
    for (const auto& sha256 : sha256s) {
      if (refs_.contains(sha256) || staging_.contains(sha256)) continue;
      deleted += static_cast<int>(blobs_.erase(sha256));
    }
    return deleted;
  }
  uint64_t CountBlobs() const override {
    std::lock_guard lock(database_.mutex());
    return blobs_.size();
  }

 private:
  InMemoryDatabase& database_;
  std::map<std::string, std::string> blobs_;
  std::map<std::string, std::set<std::string>> refs_;
  std::map<std::string, int> staging_;
};

class InMemoryMessageStore final : public gateway::MessageStore {
 public:
  explicit InMemoryMessageStore(InMemoryDatabase& database) : database_(database) {}

  absl::Status StageNew(storage::Batch& batch, const mmsgate::v1::Message& message,
                        const gateway::NewMessageExtras& extras) override {
    if (auto status = Check(message); !status.ok()) return status;
    InMemoryDatabase::Own(batch).changes.push_back([this, message, extras] {
      messages_[message.sid()] = message;
      index_[{message.account_sid(), Created(message), message.sid()}] = message.sid();
      if (!extras.finished) outbox_.insert(message.sid());
      if (!extras.link_token.empty()) links_[extras.link_token] = message.sid();
      if (extras.media_expires_at_ns > 0 && message.media_size() > 0) {
        expiry_[{extras.media_expires_at_ns, message.sid()}] = message.sid();
      }
    });
    return absl::OkStatus();
  }
  absl::Status StageStatus(storage::Batch& batch, const mmsgate::v1::Message& message,
                           bool finished) override {
    if (auto status = Check(message); !status.ok()) return status;
    InMemoryDatabase::Own(batch).changes.push_back([this, message, finished] {
      auto& stored = messages_[message.sid()];
      stored.set_status(message.status());
      stored.set_error_code(message.error_code());
      stored.set_error_message(message.error_message());
      *stored.mutable_date_updated() = message.date_updated();
      *stored.mutable_date_sent() = message.date_sent();
      if (finished) outbox_.erase(message.sid());
    });
    return absl::OkStatus();
  }
  absl::Status StageRecord(storage::Batch& batch, const mmsgate::v1::Message& message) override {
    if (auto status = Check(message); !status.ok()) return status;
    InMemoryDatabase::Own(batch).changes.push_back([this, message] {
      auto& stored = messages_[message.sid()];
      const auto status = stored;
      stored = message;
      stored.set_status(status.status());
      stored.set_error_code(status.error_code());
      stored.set_error_message(status.error_message());
      *stored.mutable_date_updated() = status.date_updated();
      *stored.mutable_date_sent() = status.date_sent();
    });
    return absl::OkStatus();
  }
  void StageRemove(storage::Batch& batch, const mmsgate::v1::Message& message) override {
    InMemoryDatabase::Own(batch).changes.push_back([this, message] {
      messages_.erase(message.sid());
      index_.erase({message.account_sid(), Created(message), message.sid()});
      outbox_.erase(message.sid());
      std::erase_if(links_, [&](const auto& link) { return link.second == message.sid(); });
    });
  }
  void StageUnlink(storage::Batch& batch, const std::string& token) override {
    InMemoryDatabase::Own(batch).changes.push_back([this, token] { links_.erase(token); });
  }
  void StageExpiryDone(storage::Batch& batch, const std::string& key) override {
    InMemoryDatabase::Own(batch).changes.push_back([this, key] {
      std::erase_if(expiry_, [&](const auto& entry) { return KeyOf(entry.first) == key; });
    });
  }
  void StageNextSequence(storage::Batch& batch, uint64_t next) override {
    InMemoryDatabase::Own(batch).changes.push_back([this, next] { next_sequence_ = next; });
  }
  absl::StatusOr<mmsgate::v1::Message> Get(const std::string& sid) const override {
    std::lock_guard lock(database_.mutex());
    auto it = messages_.find(sid);
    if (it == messages_.end()) {
      return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                           "message " + sid + " was not found");
    }
    return it->second;
  }
  absl::StatusOr<mmsgate::v1::ListMessagesResponse> List(
      const std::string& account_sid, const mmsgate::v1::ListMessagesRequest& request,
      const Filter& also) const override {
    if (auto status = gateway::CheckListRequest(request); !status.ok()) return status;
    const int page_size = request.page_size() > 0 ? request.page_size() : gateway::kDefaultPageSize;
    std::lock_guard lock(database_.mutex());
    mmsgate::v1::ListMessagesResponse response;
    // Tokens are the position after which the next page starts: "<created ns>/<sid>".
    bool started = request.page_token().empty();
    if (!started && !request.page_token().starts_with(account_sid + "|")) {
      return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                           "page_token is not one this account was given");
    }
    int scanned = 0;
    std::string last;
    for (const auto& [key, sid] : index_) {
      if (std::get<0>(key) != account_sid) continue;
      const std::string position = TokenOf(key);
      if (!started) {
        if (position == request.page_token()) started = true;
        continue;
      }
      if (response.messages_size() == page_size || scanned == gateway::kMaxScannedPerPage) {
        response.set_next_page_token(last);
        break;
      }
      ++scanned;
      last = position;
      const auto& message = messages_.at(sid);
      if (!request.from().empty() && message.from() != request.from()) continue;
      if (!request.to().empty() && message.to() != request.to()) continue;
      if (request.status() != mmsgate::v1::MESSAGE_STATUS_UNSPECIFIED &&
          message.status() != request.status()) {
        continue;
      }
      if (also && !also(message)) continue;
      *response.add_messages() = message;
    }
    return response;
  }
  bool IsUnfinished(const std::string& sid) const override {
    std::lock_guard lock(database_.mutex());
    return outbox_.contains(sid);
  }
  std::vector<mmsgate::v1::Message> LoadUnfinished() override {
    std::lock_guard lock(database_.mutex());
    std::vector<mmsgate::v1::Message> messages;
    for (const auto& sid : outbox_) messages.push_back(messages_.at(sid));
    return messages;
  }
  std::optional<uint64_t> LoadNextSequence() const override {
    std::lock_guard lock(database_.mutex());
    return next_sequence_;
  }
  absl::StatusOr<std::string> MessageSidForLink(const std::string& token) const override {
    std::lock_guard lock(database_.mutex());
    auto it = links_.find(token);
    if (it == links_.end()) return absl::NotFoundError("no link " + token);
    return it->second;
  }
  std::vector<gateway::DueExpiry> DueForExpiry(int64_t now_ns, int max) const override {
    std::lock_guard lock(database_.mutex());
    std::vector<gateway::DueExpiry> due;
    for (const auto& [key, sid] : expiry_) {
      if (key.first > now_ns || static_cast<int>(due.size()) >= max) break;
      due.push_back({KeyOf(key), sid});
    }
    return due;
  }

 private:
  // Newest first: the index orders by account, then descending creation time, then SID.
  using IndexKey = std::tuple<std::string, int64_t, std::string>;
  struct Newest {
    bool operator()(const IndexKey& a, const IndexKey& b) const {
      if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) < std::get<0>(b);
      if (std::get<1>(a) != std::get<1>(b)) return std::get<1>(a) > std::get<1>(b);
      return std::get<2>(a) < std::get<2>(b);
    }
  };
  static int64_t Created(const mmsgate::v1::Message& message) {
    return google::protobuf::util::TimeUtil::TimestampToNanoseconds(message.date_created());
  }
  static std::string TokenOf(const IndexKey& key) {
    return std::get<0>(key) + "|" + std::to_string(std::get<1>(key)) + "|" + std::get<2>(key);
  }
  static std::string KeyOf(const std::pair<int64_t, std::string>& key) {
    return std::to_string(key.first) + "/" + key.second;
  }
  // The same refusal as the RocksDB store's: a record that could not be read back.
  static absl::Status Check(const mmsgate::v1::Message& message) {
    return storage::EncodeRecord(message, "message " + message.sid()).status();
  }

  InMemoryDatabase& database_;
  std::map<std::string, mmsgate::v1::Message> messages_;
  std::map<IndexKey, std::string, Newest> index_;
  std::set<std::string> outbox_;
  std::map<std::string, std::string> links_;
  std::map<std::pair<int64_t, std::string>, std::string> expiry_;
  std::optional<uint64_t> next_sequence_;
};

class InMemoryAttemptLog final : public gateway::AttemptLog {
 public:
  explicit InMemoryAttemptLog(InMemoryDatabase& database) : database_(database) {}
  absl::Status StageAttempt(storage::Batch& batch, const std::string& sid,
                            const mmsgate::v1::WebhookAttempt& attempt) override {
    if (auto record = storage::EncodeRecord(attempt, "an attempt"); !record.ok()) {
      return record.status();
    }
    InMemoryDatabase::Own(batch).changes.push_back(
        [this, sid, attempt] { attempts_[sid].push_back(attempt); });
    return absl::OkStatus();
  }
  std::vector<mmsgate::v1::WebhookAttempt> List(const std::string& sid) const override {
    std::lock_guard lock(database_.mutex());
    auto it = attempts_.find(sid);
    return it == attempts_.end() ? std::vector<mmsgate::v1::WebhookAttempt>{} : it->second;
  }
  void StageRemoveAll(storage::Batch& batch, const std::string& sid) override {
    InMemoryDatabase::Own(batch).changes.push_back([this, sid] { attempts_.erase(sid); });
  }

 private:
  InMemoryDatabase& database_;
  std::map<std::string, std::vector<mmsgate::v1::WebhookAttempt>> attempts_;
};

class InMemoryDirectoryStore final : public gateway::DirectoryStore {
 public:
  explicit InMemoryDirectoryStore(InMemoryDatabase& database) : database_(database) {}
  gateway::StoredDirectory Load() override {
    std::lock_guard lock(database_.mutex());
    return stored_;
  }
  absl::Status StageAccount(storage::Batch& batch, const mmsgate::v1::Account& account) override {
    InMemoryDatabase::Own(batch).changes.push_back(
        [this, account] { stored_.accounts.push_back(account); });
    return absl::OkStatus();
  }
  absl::Status StageNumber(storage::Batch& batch, const mmsgate::v1::Number& number) override {
    if (auto record = storage::EncodeRecord(number, "number"); !record.ok()) {
      return record.status();
    }
    InMemoryDatabase::Own(batch).changes.push_back([this, number] {
      stored_.numbers[number.number()] = number;
      std::erase(stored_.released, number.number());
    });
    return absl::OkStatus();
  }
  void StageRelease(storage::Batch& batch, const std::string& number) override {
    InMemoryDatabase::Own(batch).changes.push_back([this, number] {
      stored_.numbers.erase(number);
      stored_.released.push_back(number);
    });
  }
  absl::Status StageSettings(storage::Batch& batch, const std::string& account_sid,
                             const mmsgate::v1::AccountSettings& settings) override {
    InMemoryDatabase::Own(batch).changes.push_back(
        [this, account_sid, settings] { stored_.settings[account_sid] = settings; });
    return absl::OkStatus();
  }
  absl::Status StageService(storage::Batch& batch,
                            const mmsgate::v1::MessagingService& service) override {
    if (auto record = storage::EncodeRecord(service, "service"); !record.ok()) {
      return record.status();
    }
    InMemoryDatabase::Own(batch).changes.push_back([this, service] {
      stored_.services[service.sid()] = service;
      std::erase(stored_.deleted_services, service.sid());
    });
    return absl::OkStatus();
  }
  void StageServiceDeleted(storage::Batch& batch, const std::string& sid) override {
    InMemoryDatabase::Own(batch).changes.push_back([this, sid] {
      stored_.services.erase(sid);
      stored_.deleted_services.push_back(sid);
    });
  }
  void StageStickySender(storage::Batch& batch, const std::string& service_sid,
                         const std::string& recipient, const std::string& sender) override {
    InMemoryDatabase::Own(batch).changes.push_back(
        [this, key = service_sid + "/" + recipient, sender] {
          stored_.sticky_senders[key] = sender;
        });
  }
  absl::Status StageOptOut(storage::Batch& batch, const mmsgate::v1::OptOut& opt_out) override {
    if (auto record = storage::EncodeRecord(opt_out, "opt-out"); !record.ok()) {
      return record.status();
    }
    InMemoryDatabase::Own(batch).changes.push_back([this, opt_out] {
      std::erase_if(stored_.opt_outs, [&](const mmsgate::v1::OptOut& kept) {
        return kept.number() == opt_out.number() &&
               kept.messaging_service_sid() == opt_out.messaging_service_sid() &&
               kept.subscriber() == opt_out.subscriber();
      });
      if (opt_out.opted_out()) stored_.opt_outs.push_back(opt_out);
    });
    return absl::OkStatus();
  }
  void StageUsage(storage::Batch& batch, const std::string& account_sid,
                  const std::string& category, int64_t count, int64_t segments,
                  int64_t price_cents) override {
    InMemoryDatabase::Own(batch).changes.push_back(
        [this, account_sid, category, count, segments, price_cents] {
          auto& entry = usage_[account_sid][category];
          entry.set_category(category);
          entry.set_count(entry.count() + count);
          entry.set_segments(entry.segments() + segments);
          entry.set_price_cents(entry.price_cents() + price_cents);
        });
  }
  mmsgate::v1::Usage Usage(const std::string& account_sid) const override {
    std::lock_guard lock(database_.mutex());
    mmsgate::v1::Usage usage;
    if (auto it = usage_.find(account_sid); it != usage_.end()) {
      for (const auto& [_, entry] : it->second) *usage.add_entries() = entry;
    }
    return usage;
  }
  void StageUsageCleared(storage::Batch& batch, const std::string& account_sid) override {
    InMemoryDatabase::Own(batch).changes.push_back(
        [this, account_sid] { usage_.erase(account_sid); });
  }

 private:
  InMemoryDatabase& database_;
  gateway::StoredDirectory stored_;
  std::map<std::string, std::map<std::string, mmsgate::v1::UsageEntry>> usage_;
};

class InMemoryInboxStore final : public gateway::InboxStore {
 public:
  explicit InMemoryInboxStore(InMemoryDatabase& database) : database_(database) {}
  absl::Status StageEntry(storage::Batch& batch, const std::string& number,
                          const mmsgate::v1::HandsetMessage& entry) override {
    InMemoryDatabase::Own(batch).changes.push_back(
        [this, number, entry] { entries_.emplace_back(number, entry); });
    return absl::OkStatus();
  }
  void StageRemoveOf(storage::Batch& batch, const std::string& message_sid) override {
    InMemoryDatabase::Own(batch).changes.push_back([this, message_sid] {
      std::erase_if(entries_,
                    [&](const auto& stored) { return stored.second.message_sid() == message_sid; });
    });
  }
  void Append(const std::string& number, const mmsgate::v1::HandsetMessage& entry, bool resubmitted,
              std::function<void()> done) override {
    {
      std::lock_guard lock(database_.mutex());
      const bool present = std::any_of(entries_.begin(), entries_.end(), [&](const auto& stored) {
        return stored.second.message_sid() == entry.message_sid();
      });
      if (!(resubmitted && present)) entries_.emplace_back(number, entry);
    }
    done();
  }
  void Read(const std::string& number,
            std::function<void(mmsgate::v1::HandsetInbox)> done) override {
    mmsgate::v1::HandsetInbox inbox;
    inbox.set_number(number);
    {
      std::lock_guard lock(database_.mutex());
      for (const auto& [stored_number, entry] : entries_) {
        if (stored_number == number) *inbox.add_messages() = entry;
      }
    }
    // Oldest first, as the RocksDB store's keys sort.
    std::stable_sort(inbox.mutable_messages()->begin(), inbox.mutable_messages()->end(),
                     [](const auto& a, const auto& b) {
                       return std::pair(a.received_at().seconds(), a.received_at().nanos()) <
                              std::pair(b.received_at().seconds(), b.received_at().nanos());
                     });
    done(std::move(inbox));
  }
  std::size_t CheckStored() override {
    std::lock_guard lock(database_.mutex());
    return entries_.size();
  }

 private:
  InMemoryDatabase& database_;
  std::vector<std::pair<std::string, mmsgate::v1::HandsetMessage>> entries_;
};

}  // namespace mmsgate::testing
