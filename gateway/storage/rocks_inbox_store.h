#pragma once
// InboxStore on RocksDatabase. Family inbox: <handset number>/<20-digit received ns>/<sid> ->
// mmsgate.v1.HandsetMessage.

#include <boost/asio/any_io_executor.hpp>

#include "gateway/storage/inbox_store.h"
#include "mmsc/storage/rocks_database.h"

namespace mmsgate::gateway {

class RocksInboxStore final : public InboxStore {
 public:
  static std::vector<storage::FamilySpec> Families();
  // Append's `done` runs on `executor`.
  RocksInboxStore(storage::RocksDatabase& database, boost::asio::any_io_executor executor);

  void Append(const std::string& number, const mmsgate::v1::HandsetMessage& entry,
              std::function<void()> done) override;
  std::size_t RestoreInto(carriers::Handsets& handsets) override;

 private:
  storage::RocksDatabase& database_;
  boost::asio::any_io_executor executor_;
  const storage::RocksDatabase::FamilyId inbox_;
};

}  // namespace mmsgate::gateway
