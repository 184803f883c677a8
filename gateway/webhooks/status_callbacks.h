#pragma once
// Status callbacks: a signed POST to a message's status_callback for each status change.
//
// Thread-safe. Posts for one message go out one after another, in the order the changes were
// made (the next starts when the previous succeeded or gave up), so an application sees
// queued, sending, sent, delivered in that order. Each attempt is recorded with the message.

#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "gateway/accounts/directory.h"
#include "gateway/storage/message_store.h"
#include "gateway/webhooks/webhooks.h"
#include "mmsc/storage/database.h"
#include "mmsgate/v1/message.pb.h"

namespace mmsgate::gateway {

// The provider's lowercase status names ("queued", "delivered", …).
std::string StatusName(mmsgate::v1::MessageStatus status);

// Converts a WebhookSender attempt into the record kept with a message.
mmsgate::v1::WebhookAttempt ToAttemptRecord(const WebhookAttempt& attempt,
                                            mmsgate::v1::WebhookAttempt::Kind kind,
                                            const std::string& url);

class StatusCallbacks {
 public:
  StatusCallbacks(WebhookSender& sender, Directory& directory, MessageStore& store,
                  mmsc::Database& database);

  void SetTimeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  // Queues the POST for `message`'s current status if it has a status_callback.
  void OnStatus(const mmsgate::v1::Message& message);

  // Posts not yet finished (for tests and shutdown logs).
  std::size_t pending() const;

 private:
  void PostNext(const std::string& sid);

  WebhookSender& sender_;
  Directory& directory_;
  MessageStore& store_;
  mmsc::Database& database_;
  std::chrono::milliseconds timeout_{15000};
  mutable std::mutex mutex_;
  // Per message: snapshots waiting; the front one is being posted.
  std::unordered_map<std::string, std::deque<mmsgate::v1::Message>> queues_;
};

}  // namespace mmsgate::gateway
