#pragma once
// Every HTTP attempt made for a message (its inbound webhook, its status callbacks), kept apart
// from the message's record so that recording one never rewrites the message.
//
// Threading (mmsc/storage/database.h): StageAttempt never blocks; List and StageRemoveAll read
// the database and run on the storage executor.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "mmsc/storage/database.h"
#include "mmsgate/v1/message.pb.h"

namespace mmsgate::gateway {

class AttemptLog {
 public:
  virtual ~AttemptLog() = default;
  [[nodiscard]] virtual absl::Status StageAttempt(storage::Batch& batch, const std::string& sid,
                                                  const mmsgate::v1::WebhookAttempt& attempt) = 0;
  // The message's attempts in the order they started. Unreadable entries are logged and left out.
  [[nodiscard]] virtual std::vector<mmsgate::v1::WebhookAttempt> List(
      const std::string& sid) const = 0;
  virtual void StageRemoveAll(storage::Batch& batch, const std::string& sid) = 0;
};

}  // namespace mmsgate::gateway
