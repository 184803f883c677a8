#include "gateway/storage/rocks_inbox_store.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cinttypes>
#include <cstdio>

namespace mmsgate::gateway {

std::vector<storage::FamilySpec> RocksInboxStore::Families() {
  return {{"inbox", storage::FamilyKind::kIndex}};
}

RocksInboxStore::RocksInboxStore(storage::RocksDatabase& database,
                                 boost::asio::any_io_executor executor)
    : database_(database), executor_(std::move(executor)), inbox_(database.Family("inbox")) {}

void RocksInboxStore::Append(const std::string& number, const mmsgate::v1::HandsetMessage& entry,
                             std::function<void()> done) {
  auto record = storage::EncodeRecord(entry, "the inbox entry of " + entry.message_sid());
  if (!record.ok()) {
    spdlog::error("{}", std::string(record.status().message()));
    boost::asio::post(executor_, std::move(done));
    return;
  }
  char when[24];
  std::snprintf(when, sizeof when, "%020" PRIu64,
                static_cast<uint64_t>(
                    google::protobuf::util::TimeUtil::TimestampToNanoseconds(entry.received_at())));
  auto batch = database_.NewBatch();
  database_.Put(*batch, inbox_, number + "/" + when + "/" + entry.message_sid(), *record);
  database_.Commit(std::move(batch), executor_,
                   [sid = entry.message_sid(), done = std::move(done)](absl::Status status) {
                     if (!status.ok()) {
                       // The phone has it in memory; only a restart could forget it. Report it,
                       // do not stall.
                       spdlog::error("cannot store the inbox entry of {}: {}", sid,
                                     std::string(status.message()));
                     }
                     done();
                   });
}

std::size_t RocksInboxStore::RestoreInto(carriers::Handsets& handsets) {
  std::size_t restored = 0;
  std::vector<std::string> unreadable;
  // Keys sort by number, then time: each phone's entries come back oldest first.
  (void)database_.Scan(inbox_, "", "", [&](std::string_view key, std::string_view value) {
    mmsgate::v1::HandsetMessage entry;
    if (!entry.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      unreadable.emplace_back(key);
      return true;
    }
    handsets.Restore(std::string(key.substr(0, key.find('/'))), std::move(entry));
    ++restored;
    return true;
  });
  for (const auto& key : unreadable) {
    spdlog::error("stored inbox entry inbox/{} cannot be read; moved to the quarantine family",
                  key);
    if (auto status = database_.Quarantine(inbox_, key); !status.ok()) {
      spdlog::error("cannot quarantine inbox/{}: {}", key, std::string(status.message()));
    }
  }
  return restored;
}

}  // namespace mmsgate::gateway
