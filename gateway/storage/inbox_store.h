#pragma once
// What simulated handsets received, kept across restarts: a restart neither forgets what a phone
// got nor shows it twice when the message is resubmitted. The inboxes live here only (not in
// memory), so RSS returns to its baseline after a million deliveries.
//
// Threading (mmsc/storage/database.h): Append and Read never block (Read runs on the storage
// executor); CheckStored reads the database (at start).

#include "carriers/handsets.h"

namespace mmsgate::gateway {

class InboxStore : public carriers::InboxJournal {
 public:
  // Reads every stored entry: entries that cannot be read are logged with their key and kept
  // aside (quarantine). Returns how many can be read.
  virtual std::size_t CheckStored() = 0;
};

}  // namespace mmsgate::gateway
