#include "gateway/inbound/inbound.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "carriers/phone_numbers.h"
#include "carriers/base/sids.h"
#include "gateway/webhooks/status_callbacks.h"
#include "gateway/inbound/twiml.h"
#include "mmsc/media_rules.h"
#include "mmsc/segments.h"
#include "carriers/base/errors.h"
#include "carriers/base/text.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using google::protobuf::util::TimeUtil;

absl::Status Refuse(absl::StatusCode status, int code, const std::string& text) {
  return ProviderError(status, code, text);
}

}  // namespace

InboundHandler::InboundHandler(Clock& clock, Pipeline& pipeline, Directory& directory,
                               MessageStore& store, mmsc::Database& database, EventBus& events,
                               WebhookSender& webhooks)
    : clock_(clock),
      pipeline_(pipeline),
      directory_(directory),
      store_(store),
      database_(database),
      events_(events),
      webhooks_(webhooks) {}

void InboundHandler::SetPublicBaseUrl(std::string url) {
  std::lock_guard lock(base_url_mutex_);
  public_base_url_ = std::move(url);
}

void InboundHandler::Receive(const v1::HandsetSend& send, Callback done) {
  auto number = directory_.FindNumber(send.to());
  if (!number) {
    return done(Refuse(absl::StatusCode::kNotFound, error_codes::kInvalidTo,
                       "'To' " + QuoteText(send.to()) +
                           " is not a provider number; text one of the scenario's numbers"));
  }
  if (carriers::LooksLikeShortCode(send.from())) {
    return done(Refuse(absl::StatusCode::kFailedPrecondition, error_codes::kUnroutable,
                       "provider numbers cannot receive messages from short codes (" +
                           QuoteText(send.from()) + ")"));
  }
  auto from = carriers::ParseValidNumber(send.from());
  if (!from) {
    return done(Refuse(absl::StatusCode::kInvalidArgument, error_codes::kInvalidFrom,
                       "'From' " + QuoteText(send.from()) +
                           " is not a valid phone number; use E.164"));
  }
  auto plan = pipeline_.fleet().plan();
  const v1::Carrier* carrier = plan->CarrierFor(from->e164, from->region);
  if (!carrier) {
    return done(Refuse(absl::StatusCode::kFailedPrecondition, error_codes::kUnroutable,
                       "no simulated carrier serves the sender " + from->e164 +
                           "; add one to the scenario"));
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
    media_refusal = "MMS from " + from->region + " to a provider number is not supported; the "
                    "media were not delivered";
  } else if (keep_media && !number->capabilities().mms()) {
    keep_media = false;
    media_refusal = "number " + number->number() + " is not MMS-enabled; the media were not "
                    "delivered";
  }

  AdmittedMessage admitted;
  v1::Message& message = admitted.message;
  message.set_sid(NewSid(keep_media ? "MM" : "SM"));
  message.set_account_sid(number->account_sid());
  message.set_from(from->e164);
  message.set_to(number->number());
  message.set_body(send.body());
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

  std::vector<std::string> blobs;
  for (const auto& media : message.media()) blobs.push_back(media.sha256());
  rocksdb::WriteBatch batch;
  auto staged = store_.StageNew(batch, admitted);
  // Received is final: it never waits in the outbox.
  if (staged.ok()) staged = store_.StageUpdate(batch, message, /*finished=*/true);
  directory_.StageUsage(batch, message.account_sid(), keep_media ? "mms-inbound" : "sms-inbound",
                        1, message.num_segments(), 0);
  if (!staged.ok()) {
    store_.media_store().StagingDone(blobs);
    return done(staged);
  }
  database_.Write(std::move(batch), [this, message, blobs, number = *number,
                                     done = std::move(done)](absl::Status status) {
    store_.media_store().StagingDone(blobs);
    if (!status.ok()) return done(status);
    v1::Event event;
    event.set_kind(v1::Event::INBOUND_RECEIVED);
    *event.mutable_message() = message;
    events_.Publish(std::move(event));
    done(message);
    if (!number.sms_url().empty()) CallWebhook(message, number);
  });
}

void InboundHandler::CallWebhook(const v1::Message& message, const v1::Number& number) {
  auto account = directory_.FindAccount(message.account_sid());
  if (!account) return;
  std::string base;
  {
    std::lock_guard lock(base_url_mutex_);
    base = public_base_url_;
  }
  auto from = carriers::ParseValidNumber(message.from());
  WebhookRequest request;
  request.url = number.sms_url();
  request.auth_token = account->auth_token();
  request.timeout = webhook_timeout_;
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
  for (int i = 0; i < message.media_size(); ++i) {
    const auto& media = message.media(i);
    request.params.emplace_back("MediaContentType" + std::to_string(i), media.content_type());
    request.params.emplace_back("MediaUrl" + std::to_string(i),
                                base + "/2010-04-01/Accounts/" + message.account_sid() +
                                    "/Messages/" + message.sid() + "/Media/" + media.sid());
  }
  webhooks_.Post(std::move(request), [this, message, account = *account,
                                      url = number.sms_url()](WebhookResult result) {
    // Recording and TwiML handling touch the store: off the io_context.
    boost::asio::post(pipeline_.storage_pool(), [this, message, account, url,
                                                 result = std::move(result)] {
      rocksdb::WriteBatch batch;
      for (const auto& attempt : result.attempts) {
        if (auto status = store_.StageAttempt(
                batch, message.sid(),
                ToAttemptRecord(attempt, v1::WebhookAttempt::INBOUND_WEBHOOK, url));
            !status.ok()) {
          spdlog::error("{}", std::string(status.message()));
        }
      }
      if (auto status = database_.WriteNow(std::move(batch)); !status.ok()) {
        spdlog::warn("cannot record webhook attempts of {}: {}", message.sid(),
                     std::string(status.message()));
      }
      if (!result.ok) {
        const std::string why =
            result.attempts.empty() ? "no attempt was made" : result.attempts.back().error;
        RecordError(message.sid(), kWebhookRetrievalFailure,
                    "the webhook " + url + " failed after " +
                        std::to_string(result.attempts.size()) + " attempts: " + why);
        return;
      }
      HandleTwiml(message, account, result.response_body);
    });
  });
}

void InboundHandler::HandleTwiml(const v1::Message& message, const v1::Account& account,
                                 const std::string& twiml) {
  auto replies = ParseMessagingTwiml(twiml);
  if (!replies.ok()) {
    RecordError(message.sid(), ProviderErrorCode(replies.status()),
                "the webhook's TwiML was not used: " + std::string(replies.status().message()));
    return;
  }
  for (std::size_t i = 0; i < replies->size(); ++i) {
    const auto& reply = (*replies)[i];
    v1::SendMessageRequest request;
    request.set_from(reply.from.empty() ? message.to() : reply.from);
    request.set_to(reply.to.empty() ? message.from() : reply.to);
    request.set_body(reply.body);
    for (const auto& url : reply.media_urls) request.add_media_url(url);
    request.set_status_callback(reply.status_callback);
    Pipeline::SendOptions options;
    options.direction = v1::OUTBOUND_REPLY;
    options.reply_to_sid = message.sid();
    pipeline_.Send(
        account, request,
        [this, sid = message.sid(), i](absl::StatusOr<v1::Message> sent) {
          if (sent.ok()) return;
          // The refusal goes on the inbound message, where the application will look.
          const std::string text = "reply " + std::to_string(i + 1) + " was refused: " +
                                   std::string(sent.status().message());
          const int code = ProviderErrorCode(sent.status());
          boost::asio::post(pipeline_.storage_pool(),
                            [this, sid, code, text] { RecordError(sid, code, text); });
        },
        options);
  }
}

void InboundHandler::RecordError(const std::string& sid, int code, const std::string& text) {
  spdlog::info("inbound {}: {}", sid, text);
  // The text may quote what the application answered; the record must stay readable.
  const std::string clean = ToValidUtf8(text);
  auto message = store_.Get(sid);
  if (!message.ok()) return;
  // A media refusal (30011) found at receipt stays the message's code; later problems append.
  if (message->error_code() == 0) message->set_error_code(code);
  message->set_error_message(message->error_message().empty()
                                 ? clean
                                 : message->error_message() + "; " + clean);
  *message->mutable_date_updated() = TimeUtil::NanosecondsToTimestamp(ToNanoseconds(clock_.Now()));
  rocksdb::WriteBatch batch;
  if (store_.StageUpdate(batch, *message, /*finished=*/true).ok()) {
    database_.WriteNow(std::move(batch)).IgnoreError();
  }
}

}  // namespace mmsgate::gateway
