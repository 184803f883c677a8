#include "gateway/storage/inbox_journal.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <cinttypes>
#include <cstdio>
#include <memory>

namespace mmsgate::gateway {

void RocksDbInboxJournal::Append(const std::string& number,
                                 const mmsgate::v1::HandsetMessage& entry,
                                 std::function<void()> done) {
  char when[24];
  std::snprintf(when, sizeof when, "%020" PRIu64,
                static_cast<uint64_t>(
                    google::protobuf::util::TimeUtil::TimestampToNanoseconds(entry.received_at())));
  auto record = mmsc::Database::EncodeRecord(entry, "the inbox entry of " + entry.message_sid());
  if (!record.ok()) {
    spdlog::error("{}", std::string(record.status().message()));
    done();
    return;
  }
  rocksdb::WriteBatch batch;
  batch
      .Put(database_.family(mmsc::Family::kInbox),
           number + "/" + when + "/" + entry.message_sid(), *record)
      .PermitUncheckedError();
  database_.Write(std::move(batch), [sid = entry.message_sid(), done = std::move(done)](
                                        absl::Status status) {
    if (!status.ok()) {
      // The phone has it in memory; only a restart could forget it. Report it, do not stall.
      spdlog::error("cannot store the inbox entry of {}: {}", sid, std::string(status.message()));
    }
    done();
  });
}

std::size_t RocksDbInboxJournal::RestoreInto(carriers::Handsets& handsets) const {
  std::size_t restored = 0;
  std::vector<std::string> unreadable;
  std::unique_ptr<rocksdb::Iterator> it(database_.db()->NewIterator(
      rocksdb::ReadOptions(), database_.family(mmsc::Family::kInbox)));
  // Keys sort by number, then time: each phone's entries come back oldest first.
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    mmsgate::v1::HandsetMessage entry;
    if (!entry.ParseFromString(it->value().ToString())) {
      unreadable.push_back(key);
      continue;
    }
    handsets.Restore(key.substr(0, key.find('/')), std::move(entry));
    ++restored;
  }
  it.reset();
  for (const auto& key : unreadable) {
    spdlog::error("stored inbox entry inbox/{} cannot be read; moved to the quarantine family",
                  key);
    if (auto status = database_.Quarantine(mmsc::Family::kInbox, key); !status.ok()) {
      spdlog::error("cannot quarantine inbox/{}: {}", key, std::string(status.message()));
    }
  }
  return restored;
}

}  // namespace mmsgate::gateway
