#include "gateway/inbound/inbound.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <optional>

#include "carriers/base/errors.h"
#include "carriers/base/sids.h"
#include "carriers/base/text.h"
#include "carriers/phone_numbers.h"
#include "gateway/inbound/twiml.h"
#include "gateway/webhooks/status_callbacks.h"
#include "mmsc/media_rules.h"
#include "mmsc/segments.h"
#include "mmsc/storage/database.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using google::protobuf::util::TimeUtil;

absl::Status Refuse(absl::StatusCode status, int code, const std::string& text) {
  return ProviderError(status, code, text);
}

}  // namespace

InboundHandler::InboundHandler(boost::asio::io_context& io,
                               boost::asio::any_io_executor storage_executor, Clock& clock,
                               storage::Database& database, MessageStore& store,
                               mmsc::MediaStore& media_store, AttemptLog& attempts,
                               Directory& directory, carriers::CarrierFleet& fleet,
                               EventBus& events, WebhookSender& webhooks, SendService& sender,
                               InboundSettings settings)
    : io_(io),
      storage_executor_(std::move(storage_executor)),
      clock_(clock),
      database_(database),
      store_(store),
      media_store_(media_store),
      attempts_(attempts),
      directory_(directory),
      fleet_(fleet),
      events_(events),
      webhooks_(webhooks),
      sender_(sender),
      settings_(std::move(settings)) {}

absl::Status InboundHandler::NotAProviderNumber(const std::string& to) {
  return Refuse(
      absl::StatusCode::kNotFound, error_codes::kInvalidTo,
      "'To' " + QuoteText(to) + " is not a provider number; text one of the scenario's numbers");
}

void InboundHandler::Receive(const v1::HandsetSend& send, Callback done) {
  auto number = directory_.FindNumber(send.to());
  if (!number) return done(NotAProviderNumber(send.to()));
  if (carriers::LooksLikeShortCode(send.from())) {
    return done(Refuse(absl::StatusCode::kFailedPrecondition, error_codes::kUnroutable,
                       "provider numbers cannot receive messages from short codes (" +
                           QuoteText(send.from()) + ")"));
  }
  auto from = carriers::ParseValidNumber(send.from());
  if (!from) {
    return done(
        Refuse(absl::StatusCode::kInvalidArgument, error_codes::kInvalidFrom,
               "'From' " + QuoteText(send.from()) + " is not a valid phone number; use E.164"));
  }
  auto plan = fleet_.plan();
  const v1::Carrier* carrier = plan->CarrierFor(from->e164, from->region);
  if (!carrier) {
    return done(Refuse(
        absl::StatusCode::kFailedPrecondition, error_codes::kUnroutable,
        "no simulated carrier serves the sender " + from->e164 + "; add one to the scenario"));
  }
  if (send.body().empty() && send.media().empty()) {
    return done(Refuse(absl::StatusCode::kInvalidArgument, error_codes::kBodyRequired,
                       "a message needs a body or media"));
  }
  if (auto status = CheckBody(send.body()); !status.ok()) return done(status);
  if (send.media_size() > mmsc::kMaxMediaPerMessage) {
    return done(Refuse(absl::StatusCode::kInvalidArgument, error_codes::kTooManyMedia,
                       std::to_string(send.media_size()) + " media given, at most 10 allowed"));
  }
  for (int i = 0; i < send.media_size(); ++i) {
    if (auto status = CheckMediaFilename(i, send.media(i).filename()); !status.ok()) {
      return done(status);
    }
  }
  std::vector<std::string> types;
  std::vector<int64_t> sizes;
  for (const auto& media : send.media()) {
    types.push_back(media.content_type());
    sizes.push_back(static_cast<int64_t>(media.data().size()));
  }
  if (auto checked = CheckMedia(types, sizes); !checked.ok()) return done(checked.status());

  // Rule 7: MMS reaches an MMS-enabled number only from US/Canadian long codes; otherwise the
  // text arrives and the media do not.
  bool keep_media = !send.media().empty();
  std::string media_refusal;
  if (keep_media && !carriers::IsUsOrCanada(from->region)) {
    keep_media = false;
    media_refusal = "MMS from " + from->region +
                    " to a provider number is not supported; the "
                    "media were not delivered";
  } else if (keep_media && !number->capabilities().mms()) {
    keep_media = false;
    media_refusal = "number " + number->number() +
                    " is not MMS-enabled; the media were not "
                    "delivered";
  }

  AdmittedMessage admitted;
  v1::Message& message = admitted.message;
  message.set_sid(NewSid(keep_media ? "MM" : "SM"));
  message.set_account_sid(number->account_sid());
  message.set_from(from->e164);
  message.set_to(number->number());
  message.set_body(send.body());
  // A number in a Messaging Service receives for the service: its inbound URL comes first, and
  // a STOP opts out of the whole service.
  if (auto service = directory_.ServiceOfNumber(number->number())) {
    message.set_messaging_service_sid(service->sid());
    if (!service->inbound_request_url().empty())
      number->set_sms_url(service->inbound_request_url());
  }
  message.set_status(v1::RECEIVED);
  message.set_direction(v1::INBOUND);
  message.set_delivered_as(keep_media ? v1::MMS : v1::SMS);
  message.set_carrier_id(carrier->id());
  message.set_num_segments(keep_media ? 1 : mmsc::CountSegments(send.body()).segments);
  if (!media_refusal.empty()) {
    message.set_error_code(error_codes::kMmsNotSupported);
    message.set_error_message(media_refusal);
  }
  const auto now = TimeUtil::NanosecondsToTimestamp(ToNanoseconds(clock_.Now()));
  *message.mutable_date_created() = now;
  *message.mutable_date_updated() = now;
  *message.mutable_date_sent() = now;
  if (keep_media) {
    for (const auto& upload : send.media()) {
      AddMedia(admitted, mmsc::NormalizeContentType(upload.content_type()),
               std::make_shared<const std::string>(upload.data()), upload.filename());
    }
  }
  message.set_num_media(message.media_size());

  // Short codes handle their keywords in the application (the provider does nothing for them).
  const Keyword keyword =
      number->type() == v1::SHORT_CODE ? Keyword::kNone : MatchKeyword(send.body());
  auto owned = std::make_shared<AdmittedMessage>(std::move(admitted));
  auto store_it = [this, owned, number = *number, keyword, done = std::move(done)]() mutable {
    Store(std::move(owned), std::move(number), keyword, std::move(done));
  };
  // Staging media reads the store (is the blob there already?): the storage executor's work.
  if (owned->message.media_size() > 0) {
    boost::asio::post(storage_executor_, std::move(store_it));
  } else {
    store_it();
  }
}

void InboundHandler::Store(std::shared_ptr<AdmittedMessage> admitted, v1::Number number,
                           Keyword keyword, Callback done) {
  const v1::Message& message = admitted->message;
  auto batch = database_.NewBatch();
  std::vector<std::string> blobs;
  NewMessageExtras extras;
  extras.finished = true;  // RECEIVED is final: it never waits in the outbox.
  absl::Status staged =
      StageAdmitted(media_store_, store_, *batch, *admitted, admitted->message, extras, &blobs);
  directory_.StageUsage(*batch, message.account_sid(),
                        message.num_media() > 0 ? "mms-inbound" : "sms-inbound", 1,
                        message.num_segments(), 0);
  // STOP or START changes the subscriber's opt-out in the same write that stores the message:
  // a stored STOP is always an opt-out, even across a crash.
  std::optional<v1::OptOut> opt_change;
  if (staged.ok() && (keyword == Keyword::kOptOut || keyword == Keyword::kOptIn)) {
    v1::OptOut& change = opt_change.emplace();
    change.set_account_sid(message.account_sid());
    change.set_number(message.to());
    change.set_messaging_service_sid(message.messaging_service_sid());
    change.set_subscriber(message.from());
    change.set_opted_out(keyword == Keyword::kOptOut);
    change.set_keyword(std::string(KeywordText(message.body())));
    *change.mutable_date_updated() = message.date_created();
    staged = directory_.StageOptOut(*batch, change);
  }
  if (!staged.ok()) {
    media_store_.StagingDone(blobs);
    return done(staged);
  }
  auto inbound = std::make_shared<Inbound>(io_);
  inbound->message = message;
  database_.Commit(
      std::move(batch), inbound->strand,
      [this, inbound, blobs, number = std::move(number), keyword,
       opt_change = std::move(opt_change), done = std::move(done)](absl::Status status) {
        media_store_.StagingDone(blobs);
        if (!status.ok()) return done(status);
        if (opt_change) directory_.ApplyOptOut(*opt_change);
        v1::Event event;
        event.set_kind(v1::Event::INBOUND_RECEIVED);
        *event.mutable_message() = inbound->message;
        events_.Publish(std::move(event));
        done(inbound->message);
        if (keyword != Keyword::kNone) SendKeywordReply(inbound, keyword);
        if (!number.sms_url().empty()) CallWebhook(inbound, number);
      });
}

void InboundHandler::SendKeywordReply(const InboundPtr& inbound, Keyword keyword) {
  const v1::Message& message = inbound->message;
  auto account = directory_.FindAccount(message.account_sid());
  if (!account) return;
  v1::SendMessageRequest request;
  request.set_from(message.to());
  request.set_to(message.from());
  request.set_body(std::string(KeywordReply(keyword)));
  SendOptions options;
  options.direction = v1::OUTBOUND_REPLY;
  options.reply_to_sid = message.sid();
  options.ignore_opt_outs = true;  // STOP's confirmation reaches the subscriber who just left
  sender_.Send(
      *account, request,
      [this, inbound](absl::StatusOr<v1::Message> sent) {
        if (sent.ok()) return;
        const std::string text =
            "the keyword confirmation was refused: " + std::string(sent.status().message());
        const int code = ProviderErrorCode(sent.status());
        boost::asio::post(inbound->strand,
                          [this, inbound, code, text] { RecordError(inbound, code, text); });
      },
      options);
}

void InboundHandler::CallWebhook(const InboundPtr& inbound, const v1::Number& number) {
  const v1::Message& message = inbound->message;
  auto account = directory_.FindAccount(message.account_sid());
  if (!account) return;
  const std::string& base = settings_.public_base_url;
  auto from = carriers::ParseValidNumber(message.from());
  WebhookRequest request;
  request.url = number.sms_url();
  request.auth_token = account->auth_token();
  request.timeout = settings_.webhook_timeout;
  request.params = {
      {"ToCountry", number.country()},
      {"ToState", ""},
      {"SmsMessageSid", message.sid()},
      {"NumMedia", std::to_string(message.num_media())},
      {"ToCity", ""},
      {"FromZip", ""},
      {"SmsSid", message.sid()},
      {"FromState", ""},
      {"SmsStatus", "received"},
      {"FromCity", ""},
      {"Body", message.body()},
      {"FromCountry", from ? from->region : ""},
      {"To", message.to()},
      {"ToZip", ""},
      {"NumSegments", std::to_string(message.num_segments())},
      {"MessageSid", message.sid()},
      {"AccountSid", message.account_sid()},
      {"From", message.from()},
      {"ApiVersion", "2010-04-01"},
  };
  if (!message.messaging_service_sid().empty()) {
    request.params.emplace_back("MessagingServiceSid", message.messaging_service_sid());
  }
  for (int i = 0; i < message.media_size(); ++i) {
    const auto& media = message.media(i);
    request.params.emplace_back("MediaContentType" + std::to_string(i), media.content_type());
    request.params.emplace_back("MediaUrl" + std::to_string(i),
                                base + "/2010-04-01/Accounts/" + message.account_sid() +
                                    "/Messages/" + message.sid() + "/Media/" + media.sid());
  }
  FormParams fields = request.params;
  webhooks_.Post(std::move(request), [this, inbound, account = *account, url = number.sms_url(),
                                      fields = std::move(fields)](WebhookResult result) {
    boost::asio::post(
        inbound->strand, [this, inbound, account, url, fields, result = std::move(result)] {
          auto batch = database_.NewBatch();
          for (const auto& attempt : result.attempts) {
            if (auto status = attempts_.StageAttempt(
                    *batch, inbound->message.sid(),
                    ToAttemptRecord(attempt, v1::WebhookAttempt::INBOUND_WEBHOOK, url, fields));
                !status.ok()) {
              spdlog::error("cannot record a webhook attempt of inbound {}: {}",
                            inbound->message.sid(), std::string(status.message()));
            }
          }
          database_.Commit(
              std::move(batch), inbound->strand,
              [this, inbound, account, url, result](absl::Status status) {
                if (!status.ok()) {
                  spdlog::warn("cannot record webhook attempts of {}: {}", inbound->message.sid(),
                               std::string(status.message()));
                }
                if (!result.ok) {
                  const std::string why = result.attempts.empty() ? "no attempt was made"
                                                                  : result.attempts.back().error;
                  RecordError(inbound, kWebhookRetrievalFailure,
                              "the webhook " + url + " failed after " +
                                  std::to_string(result.attempts.size()) + " attempts: " + why);
                  return;
                }
                HandleTwiml(inbound, account, result.response_body);
              });
        });
  });
}

void InboundHandler::HandleTwiml(const InboundPtr& inbound, const v1::Account& account,
                                 const std::string& twiml) {
  auto replies = ParseMessagingTwiml(twiml);
  if (!replies.ok()) {
    RecordError(inbound, ProviderErrorCode(replies.status()),
                "the webhook's TwiML was not used: " + std::string(replies.status().message()));
    return;
  }
  const v1::Message& message = inbound->message;
  for (std::size_t i = 0; i < replies->size(); ++i) {
    const auto& reply = (*replies)[i];
    v1::SendMessageRequest request;
    request.set_from(reply.from.empty() ? message.to() : reply.from);
    request.set_to(reply.to.empty() ? message.from() : reply.to);
    request.set_body(reply.body);
    for (const auto& url : reply.media_urls) request.add_media_url(url);
    request.set_status_callback(reply.status_callback);
    SendOptions options;
    options.direction = v1::OUTBOUND_REPLY;
    options.reply_to_sid = message.sid();
    sender_.Send(
        account, request,
        [this, inbound, i](absl::StatusOr<v1::Message> sent) {
          if (sent.ok()) return;
          // The refusal goes on the inbound message, where the application will look. Refusals
          // of several replies come from several threads: the strand puts them one after
          // another, so none overwrites another's record.
          const std::string text = "reply " + std::to_string(i + 1) +
                                   " was refused: " + std::string(sent.status().message());
          const int code = ProviderErrorCode(sent.status());
          boost::asio::post(inbound->strand,
                            [this, inbound, code, text] { RecordError(inbound, code, text); });
        },
        options);
  }
}

void InboundHandler::RecordError(const InboundPtr& inbound, int code, const std::string& text) {
  v1::Message& message = inbound->message;
  spdlog::info("inbound {}: {}", message.sid(), text);
  // The text may quote what the application answered; the record must stay readable.
  const std::string clean = ToValidUtf8(text);
  // A media refusal (30011) found at receipt stays the message's code; later problems append.
  if (message.error_code() == 0) message.set_error_code(code);
  message.set_error_message(
      message.error_message().empty() ? clean : message.error_message() + "; " + clean);
  *message.mutable_date_updated() = TimeUtil::NanosecondsToTimestamp(ToNanoseconds(clock_.Now()));
  auto batch = database_.NewBatch();
  if (auto status = store_.StageStatus(*batch, message, /*finished=*/true); !status.ok()) {
    spdlog::error("cannot record the error of inbound {}: {}", message.sid(),
                  std::string(status.message()));
    return;
  }
  database_.Commit(std::move(batch), inbound->strand, [sid = message.sid()](absl::Status status) {
    if (!status.ok()) {
      spdlog::error("cannot record the error of inbound {}: {}", sid,
                    std::string(status.message()));
    }
  });
}

}  // namespace mmsgate::gateway
