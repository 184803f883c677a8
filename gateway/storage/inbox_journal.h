#pragma once
// Simulated handsets' inboxes kept in the process database, so a restart neither forgets what a
// phone received nor shows it twice when the message is resubmitted.

#include "carriers/handsets.h"
#include "mmsc/storage/database.h"

namespace mmsgate::gateway {

class RocksDbInboxJournal : public carriers::InboxJournal {
 public:
  explicit RocksDbInboxJournal(mmsc::Database& database) : database_(database) {}

  // carriers::InboxJournal: one group-committed write; `done` runs on the writer thread.
  void Append(const std::string& number, const mmsgate::v1::HandsetMessage& entry,
              std::function<void()> done) override;

  // Puts every stored entry back on its phone. Blocking: call at start.
  std::size_t RestoreInto(carriers::Handsets& handsets) const;

 private:
  mmsc::Database& database_;
};

}  // namespace mmsgate::gateway
