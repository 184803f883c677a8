#pragma once
// InboxStore on RocksDatabase. Family inbox: <handset number>/<20-digit received ns>/<sid> ->
// mmsgate.v1.HandsetMessage; family inbox_sids: <sid> -> its inbox key (to recognise a message
// resubmitted after a restart).

#include <boost/asio/any_io_executor.hpp>

#include "gateway/storage/inbox_store.h"
#include "mmsc/storage/rocks_database.h"

namespace mmsgate::gateway {

class RocksInboxStore final : public InboxStore {
 public:
  static std::vector<storage::FamilySpec> Families();
  // Append's `done` runs on `executor`; reads run on `storage` (and Read's `done` there).
  RocksInboxStore(storage::RocksDatabase& database, boost::asio::any_io_executor executor,
                  boost::asio::any_io_executor storage);

  absl::Status StageEntry(storage::Batch& batch, const std::string& number,
                          const mmsgate::v1::HandsetMessage& entry) override;
  void Append(const std::string& number, const mmsgate::v1::HandsetMessage& entry, bool resubmitted,
              std::function<void()> done) override;
  void Read(const std::string& number,
            std::function<void(mmsgate::v1::HandsetInbox)> done) override;
  std::size_t CheckStored() override;
  void StageRemoveOf(storage::Batch& batch, const std::string& message_sid) override;

 private:
  void Write(const std::string& number, const mmsgate::v1::HandsetMessage& entry,
             std::function<void()> done);

  storage::RocksDatabase& database_;
  boost::asio::any_io_executor executor_;
  boost::asio::any_io_executor storage_;
  const storage::RocksDatabase::FamilyId inbox_;
  const storage::RocksDatabase::FamilyId sids_;
};

}  // namespace mmsgate::gateway
