#pragma once
// Inbound messages: a subscriber's handset texts a provider number (rule 7); the number's
// sms_url is told over a signed webhook; its TwiML answer becomes outbound replies (rule 8).
// On a long code, a single-word STOP (or a synonym) opts the subscriber out of the number in the
// same write that stores the message, START opts back in, HELP asks for help; each gets the
// provider's confirmation text (gateway/inbound/keywords.h). The message is still stored and
// passed to the webhook. Short codes leave keywords to the application.
//
// Receive validates and stores (its reply waits for the durable write); then the webhook and the
// replies run asynchronously. Whatever goes wrong after the message was stored (webhook timeout,
// malformed TwiML, a refused reply) is recorded on the inbound message (error_code,
// error_message, webhook attempts), never thrown away.
//
// Threading rule: Receive may be called from any thread and never blocks it (a message with
// media is staged on the storage executor). Each stored inbound message has its own strand:
// every later change to its record (attempts, errors) happens there, one after another, on the
// copy kept in memory, so concurrent refusals of several replies cannot lose each other's update.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "carriers/base/clock.h"
#include "carriers/base/errors.h"
#include "carriers/fleet.h"
#include "gateway/accounts/directory.h"
#include "gateway/core/admission.h"
#include "gateway/core/events.h"
#include "gateway/core/send_service.h"
#include "gateway/inbound/keywords.h"
#include "gateway/storage/attempt_log.h"
#include "gateway/storage/message_store.h"
#include "gateway/webhooks/webhooks.h"
#include "mmsc/storage/database.h"
#include "mmsc/storage/media_store.h"
#include "mmsgate/v1/simulator.pb.h"

namespace mmsgate::gateway {

using error_codes::kWebhookRetrievalFailure;

struct InboundSettings {
  // Base of MediaUrlN in webhooks ("http://127.0.0.1:8080").
  std::string public_base_url;
  std::chrono::milliseconds webhook_timeout{15000};
};

class InboundHandler {
 public:
  InboundHandler(boost::asio::io_context& io, boost::asio::any_io_executor storage_executor,
                 Clock& clock, storage::Database& database, MessageStore& store,
                 mmsc::MediaStore& media_store, AttemptLog& attempts, Directory& directory,
                 carriers::CarrierFleet& fleet, EventBus& events, WebhookSender& webhooks,
                 SendService& sender, InboundSettings settings);

  using Callback = std::function<void(absl::StatusOr<mmsgate::v1::Message>)>;
  // A handset sends `send`. Refusals (nothing stored): an unknown provider number (21211 with
  // NOT_FOUND), a short-code sender (21612: provider numbers cannot receive from short codes),
  // an invalid sender or body, media over the limits. An MMS from outside the US/Canada, or to
  // a number without MMS, is stored with error 30011 and without its media.
  void Receive(const mmsgate::v1::HandsetSend& send, Callback done);

  // What Receive answers for a `to` that is not a provider number (NOT_FOUND, 21211). The front
  // door answers the same for another account's number, so its existence does not leak.
  [[nodiscard]] static absl::Status NotAProviderNumber(const std::string& to);

 private:
  // One stored inbound message; `message` is touched only on `strand`.
  struct Inbound {
    explicit Inbound(boost::asio::io_context& io) : strand(boost::asio::make_strand(io)) {}
    boost::asio::strand<boost::asio::io_context::executor_type> strand;
    mmsgate::v1::Message message;
  };
  using InboundPtr = std::shared_ptr<Inbound>;

  void Store(std::shared_ptr<AdmittedMessage> admitted, mmsgate::v1::Number number, Keyword keyword,
             Callback done);
  // The provider's confirmation of a keyword (STOP, START, HELP), sent to the subscriber.
  void SendKeywordReply(const InboundPtr& inbound, Keyword keyword);
  void CallWebhook(const InboundPtr& inbound, const mmsgate::v1::Number& number);
  void HandleTwiml(const InboundPtr& inbound, const mmsgate::v1::Account& account,
                   const std::string& twiml);
  // Strand: adds an error to the inbound message's record.
  void RecordError(const InboundPtr& inbound, int code, const std::string& text);

  boost::asio::io_context& io_;
  boost::asio::any_io_executor storage_executor_;
  Clock& clock_;
  storage::Database& database_;
  MessageStore& store_;
  mmsc::MediaStore& media_store_;
  AttemptLog& attempts_;
  Directory& directory_;
  carriers::CarrierFleet& fleet_;
  EventBus& events_;
  WebhookSender& webhooks_;
  SendService& sender_;
  const InboundSettings settings_;
};

}  // namespace mmsgate::gateway
