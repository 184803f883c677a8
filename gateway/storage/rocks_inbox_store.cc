#include "gateway/storage/rocks_inbox_store.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cinttypes>
#include <cstdio>

namespace mmsgate::gateway {

std::vector<storage::FamilySpec> RocksInboxStore::Families() {
  return {{"inbox", storage::FamilyKind::kIndex}, {"inbox_sids", storage::FamilyKind::kIndex}};
}

RocksInboxStore::RocksInboxStore(storage::RocksDatabase& database,
                                 boost::asio::any_io_executor executor,
                                 boost::asio::any_io_executor storage)
    : database_(database),
      executor_(std::move(executor)),
      storage_(std::move(storage)),
      inbox_(database.Family("inbox")),
      sids_(database.Family("inbox_sids")) {}

void RocksInboxStore::Append(const std::string& number, const mmsgate::v1::HandsetMessage& entry,
                             bool resubmitted, std::function<void()> done) {
  if (!resubmitted) {
    Write(number, entry, std::move(done));
    return;
  }
  // A resumed message may have reached the phone before the restart: look first (a read, so on
  // the storage executor).
  boost::asio::post(storage_, [this, number, entry, done = std::move(done)]() mutable {
    if (database_.Get(sids_, entry.message_sid()).ok()) {
      boost::asio::post(executor_, std::move(done));  // On the phone already: shown once.
      return;
    }
    Write(number, entry, std::move(done));
  });
}

absl::Status RocksInboxStore::StageEntry(storage::Batch& batch, const std::string& number,
                                         const mmsgate::v1::HandsetMessage& entry) {
  auto record = storage::EncodeRecord(entry, "the inbox entry of " + entry.message_sid());
  if (!record.ok()) return record.status();
  char when[24];
  std::snprintf(when, sizeof when, "%020" PRIu64,
                static_cast<uint64_t>(
                    google::protobuf::util::TimeUtil::TimestampToNanoseconds(entry.received_at())));
  const std::string key = number + "/" + when + "/" + entry.message_sid();
  database_.Put(batch, inbox_, key, *record);
  database_.Put(batch, sids_, entry.message_sid(), key);
  return absl::OkStatus();
}

void RocksInboxStore::StageRemoveOf(storage::Batch& batch, const std::string& message_sid) {
  auto key = database_.Get(sids_, message_sid);
  if (!key.ok()) return;  // never reached a phone
  database_.Delete(batch, inbox_, *key);
  database_.Delete(batch, sids_, message_sid);
}

void RocksInboxStore::Write(const std::string& number, const mmsgate::v1::HandsetMessage& entry,
                            std::function<void()> done) {
  auto batch = database_.NewBatch();
  if (auto staged = StageEntry(*batch, number, entry); !staged.ok()) {
    spdlog::error("{}", std::string(staged.message()));
    boost::asio::post(executor_, std::move(done));
    return;
  }
  database_.Commit(std::move(batch), executor_,
                   [sid = entry.message_sid(), done = std::move(done)](absl::Status status) {
                     if (!status.ok()) {
                       // The delivery report still goes out; a restart could forget the entry.
                       // Report it, do not stall.
                       spdlog::error("cannot store the inbox entry of {}: {}", sid,
                                     std::string(status.message()));
                     }
                     done();
                   });
}

void RocksInboxStore::Read(const std::string& number,
                           std::function<void(mmsgate::v1::HandsetInbox)> done) {
  boost::asio::post(storage_, [this, number, done = std::move(done)] {
    mmsgate::v1::HandsetInbox inbox;
    inbox.set_number(number);
    // Keys sort by number, then time: the phone's entries come back oldest first.
    const auto status =
        database_.Scan(inbox_, number + "/", "", [&](std::string_view key, std::string_view value) {
          if (!inbox.add_messages()->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
            // Quarantined at the next start (CheckStored); not shown meanwhile.
            spdlog::error("stored inbox entry inbox/{} cannot be read; not shown", key);
            inbox.mutable_messages()->RemoveLast();
          }
          return true;
        });
    if (!status.ok()) {
      spdlog::error("cannot read the inbox of {}: {}", number, std::string(status.message()));
    }
    done(std::move(inbox));
  });
}

std::size_t RocksInboxStore::CheckStored() {
  std::size_t readable = 0;
  std::vector<std::string> unreadable;
  // Keys sort by number, then time: each phone's entries come back oldest first.
  (void)database_.Scan(inbox_, "", "", [&](std::string_view key, std::string_view value) {
    mmsgate::v1::HandsetMessage entry;
    if (!entry.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      unreadable.emplace_back(key);
      return true;
    }
    ++readable;
    return true;
  });
  for (const auto& key : unreadable) {
    spdlog::error("stored inbox entry inbox/{} cannot be read; moved to the quarantine family",
                  key);
    if (auto status = database_.Quarantine(inbox_, key); !status.ok()) {
      spdlog::error("cannot quarantine inbox/{}: {}", key, std::string(status.message()));
    }
  }
  return readable;
}

}  // namespace mmsgate::gateway
