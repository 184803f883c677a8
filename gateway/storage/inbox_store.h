#pragma once
// What simulated handsets received, kept across restarts: a restart neither forgets what a phone
// got nor shows it twice when the message is resubmitted.
//
// Threading (mmsc/storage/database.h): Append never blocks; RestoreInto reads the database (at
// start).

#include "carriers/handsets.h"

namespace mmsgate::gateway {

class InboxStore : public carriers::InboxJournal {
 public:
  // Puts every stored entry back on its phone; entries that cannot be read are logged with
  // their key and kept aside. Returns how many were restored.
  virtual std::size_t RestoreInto(carriers::Handsets& handsets) = 0;
};

}  // namespace mmsgate::gateway
