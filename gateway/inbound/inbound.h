#pragma once
// Inbound messages: a subscriber's handset texts a provider number (rule 7); the number's
// sms_url is told over a signed webhook; its TwiML answer becomes outbound replies (rule 8).
//
// Thread-safe. Receive validates and stores synchronously-ish (its reply waits for the durable
// write), then the webhook and the replies run asynchronously. Whatever goes wrong after the
// message was stored (webhook timeout, malformed TwiML, a refused reply) is recorded on the
// inbound message (error_code, error_message, webhook_attempts), never thrown away.

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/accounts/directory.h"
#include "gateway/core/events.h"
#include "gateway/storage/message_store.h"
#include "gateway/core/pipeline.h"
#include "gateway/webhooks/webhooks.h"
#include "mmsgate/v1/simulator.pb.h"

namespace mmsgate::gateway {

// The provider's error for a webhook that could not be retrieved (timeout, 5xx, refused).
inline constexpr int kWebhookRetrievalFailure = 11200;

class InboundHandler {
 public:
  InboundHandler(Clock& clock, Pipeline& pipeline, Directory& directory, MessageStore& store,
                 mmsc::Database& database, EventBus& events, WebhookSender& webhooks);

  void SetWebhookTimeout(std::chrono::milliseconds timeout) { webhook_timeout_ = timeout; }

  // Base of MediaUrlN in webhooks ("http://127.0.0.1:8080"); set once the HTTP listener is up.
  void SetPublicBaseUrl(std::string url);

  using Callback = std::function<void(absl::StatusOr<mmsgate::v1::Message>)>;
  // A handset sends `send`. Refusals (nothing stored): an unknown provider number (21211 with
  // NOT_FOUND), a short-code sender (21612: provider numbers cannot receive from short codes),
  // an invalid sender or body, media over the limits. An MMS from outside the US/Canada, or to
  // a number without MMS, is stored with error 30011 and without its media.
  void Receive(const mmsgate::v1::HandsetSend& send, Callback done);

 private:
  void CallWebhook(const mmsgate::v1::Message& message, const mmsgate::v1::Number& number);
  void HandleTwiml(const mmsgate::v1::Message& message, const mmsgate::v1::Account& account,
                   const std::string& twiml);
  // Sets error_code/message on a stored inbound message (blocking; storage pool).
  void RecordError(const std::string& sid, int code, const std::string& text);

  Clock& clock_;
  Pipeline& pipeline_;
  Directory& directory_;
  MessageStore& store_;
  mmsc::Database& database_;
  EventBus& events_;
  WebhookSender& webhooks_;
  std::chrono::milliseconds webhook_timeout_{15000};
  std::mutex base_url_mutex_;
  std::string public_base_url_;
};

}  // namespace mmsgate::gateway
