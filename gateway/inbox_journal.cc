#include "gateway/inbox_journal.h"

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
  rocksdb::WriteBatch batch;
  batch
      .Put(database_.family(mmsc::Family::kInbox),
           number + "/" + when + "/" + entry.message_sid(), entry.SerializeAsString())
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
  std::unique_ptr<rocksdb::Iterator> it(database_.db()->NewIterator(
      rocksdb::ReadOptions(), database_.family(mmsc::Family::kInbox)));
  // Keys sort by number, then time: each phone's entries come back oldest first.
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    mmsgate::v1::HandsetMessage entry;
    if (!entry.ParseFromString(it->value().ToString())) continue;
    handsets.Restore(key.substr(0, key.find('/')), std::move(entry));
    ++restored;
  }
  return restored;
}

}  // namespace mmsgate::gateway
