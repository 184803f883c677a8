#pragma once
// What simulated handsets received, kept across restarts: a restart neither forgets what a phone
// got nor shows it twice when the message is resubmitted. The inboxes live here only (not in
// memory), so RSS returns to its baseline after a million deliveries.
//
// Threading (mmsc/storage/database.h): Append and Read never block (Read runs on the storage
// executor); CheckStored reads the database (at start).

#include "absl/status/status.h"
#include "carriers/handsets.h"
#include "mmsc/storage/database.h"

namespace mmsgate::gateway {

class InboxStore : public carriers::InboxJournal {
 public:
  // Stages `entry`, received by `number`, into `batch`, to become durable with the rest of it
  // (the message lifecycle writes a phone's entry with the DELIVERED status). A refused entry
  // (30500) leaves the batch as it was. Never blocks.
  [[nodiscard]] virtual absl::Status StageEntry(storage::Batch& batch, const std::string& number,
                                                const mmsgate::v1::HandsetMessage& entry) = 0;
  // Reads every stored entry: entries that cannot be read are logged with their key and kept
  // aside (quarantine). Returns how many can be read.
  virtual std::size_t CheckStored() = 0;
  // Stages the removal of the entry the message `message_sid` left on a phone, if any
  // (Accounts.ResetAccount). Reads the database: storage executor only.
  virtual void StageRemoveOf(storage::Batch& batch, const std::string& message_sid) = 0;
};

}  // namespace mmsgate::gateway
