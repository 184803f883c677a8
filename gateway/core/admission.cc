#include "gateway/core/admission.h"

#include <google/protobuf/util/time_util.h>

#include "carriers/base/crypto.h"
#include "carriers/base/errors.h"
#include "carriers/base/sids.h"
#include "carriers/base/text.h"
#include "carriers/phone_numbers.h"
#include "gateway/core/rules.h"
#include "mmsc/media_rules.h"
#include "mmsc/segments.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using absl::StatusCode;

absl::Status Refuse(int code, const std::string& message) {
  return ProviderError(StatusCode::kInvalidArgument, code, message);
}

// Quotes user input in an error message: escaped, and cut short so a 10 MB field does not come
// back.
std::string Quote(std::string_view text) { return QuoteText(text); }

// Most bytes of an inline media item's file name.
constexpr std::size_t kMaxFilenameBytes = 255;

}  // namespace

namespace {

struct Envelope {
  v1::Number from;
  carriers::ParsedNumber to;
};

absl::StatusOr<Envelope> ParseEnvelope(const v1::Account& account,
                                       const v1::SendMessageRequest& request,
                                       const AdmissionContext& context) {
  // Order follows what a user fixes first: missing fields, then sizes, then ownership, then
  // the destination.
  if (request.to().empty()) {
    return Refuse(error_codes::kToRequired, "a 'To' phone number is required");
  }
  if (request.from().empty()) {
    return Refuse(error_codes::kFromRequired, "a 'From' phone number is required");
  }
  const int media_count = request.media_url_size() + request.media_size();
  if (media_count > mmsc::kMaxMediaPerMessage) {
    return Refuse(error_codes::kTooManyMedia,
                  std::to_string(media_count) + " media given, at most " +
                      std::to_string(mmsc::kMaxMediaPerMessage) + " allowed");
  }
  if (request.body().empty() && media_count == 0) {
    return Refuse(error_codes::kBodyRequired,
                  "a message needs a body or at least one media item; both are empty");
  }
  if (auto status = CheckBody(request.body()); !status.ok()) return status;
  auto from = context.directory->FindNumber(request.from());
  if (account.test_credentials() && request.from() == kMagicValidFrom) {
    // The provider's "valid From" magic number: any account's test credentials may use it.
    from.emplace();
    from->set_number(kMagicValidFrom);
    from->set_account_sid(account.sid());
    from->mutable_capabilities()->set_sms(true);
    from->mutable_capabilities()->set_mms(true);
  }
  if (!from || from->account_sid() != account.sid()) {
    return Refuse(error_codes::kFromNotOwned, "'From' " + Quote(request.from()) +
                                                  " is not a number of account " + account.sid() +
                                                  "; use one of the account's numbers");
  }
  if (!from->capabilities().sms()) {
    return Refuse(error_codes::kFromNotOwned,
                  "'From' " + Quote(request.from()) + " cannot send SMS");
  }
  if (media_count > 0 && !from->capabilities().mms()) {
    return Refuse(error_codes::kFromNotMmsCapable,
                  "'From' " + Quote(request.from()) +
                      " is not MMS-capable; send from an MMS-enabled US/Canadian long code or "
                      "US short code, or drop the media");
  }
  auto to = carriers::ParseValidNumber(request.to());
  if (!to) {
    return Refuse(error_codes::kInvalidTo, "'To' " + Quote(request.to()) +
                                               " is not a valid phone number; use E.164 "
                                               "such as +12025550123");
  }
  if (to->e164 == from->number()) {
    return Refuse(error_codes::kToEqualsFrom, "'To' and 'From' are the same number " + to->e164 +
                                                  "; a number cannot text itself");
  }
  if (!context.ignore_opt_outs && context.directory->IsOptedOut(from->number(), to->e164)) {
    return ProviderError(StatusCode::kFailedPrecondition, error_codes::kUnsubscribedRecipient,
                         "'To' " + to->e164 + " has opted out of messages from " + from->number() +
                             " (it texted STOP): nothing was sent. It receives messages from " +
                             from->number() + " again once it texts START");
  }
  if (auto status = CheckCallbackUrl("StatusCallback (status_callback)", request.status_callback(),
                                     error_codes::kInvalidStatusCallback);
      !status.ok()) {
    return status;
  }
  for (int i = 0; i < request.media_url_size(); ++i) {
    if (auto status = CheckMediaUrlText(i, request.media_url(i)); !status.ok()) return status;
  }
  for (int i = 0; i < request.media_size(); ++i) {
    if (auto status = CheckMediaFilename(i, request.media(i).filename()); !status.ok()) {
      return status;
    }
  }
  if (request.validity_period_seconds() < 0 ||
      request.validity_period_seconds() > kMaxValidityPeriodSeconds) {
    return Refuse(error_codes::kInvalidValidityPeriod,
                  "validity_period_seconds " + std::to_string(request.validity_period_seconds()) +
                      " must be within 1.." + std::to_string(kMaxValidityPeriodSeconds) +
                      " (0 for the default " + std::to_string(kDefaultValidityPeriodSeconds) + ")");
  }
  return Envelope{std::move(*from), std::move(*to)};
}

}  // namespace

absl::Status CheckMediaUrlText(int index, std::string_view url) {
  const std::string field = "media_url[" + std::to_string(index) + "]";
  if (auto status = CheckText(field, url, error_codes::kInvalidMediaUrl); !status.ok()) {
    return status;
  }
  for (const char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) {
      return Refuse(error_codes::kInvalidMediaUrl,
                    field + " " + QuoteText(url, 80) +
                        " contains a space or control character; percent-encode it");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckMediaFilename(int index, std::string_view filename) {
  const std::string field = "media[" + std::to_string(index) + "].filename";
  if (auto status = CheckText(field, filename, error_codes::kInvalidParameter); !status.ok()) {
    return status;
  }
  if (filename.size() > kMaxFilenameBytes) {
    return Refuse(error_codes::kInvalidParameter,
                  field + " has " + std::to_string(filename.size()) + " bytes; at most " +
                      std::to_string(kMaxFilenameBytes) + " are allowed");
  }
  for (const char c : filename) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return Refuse(error_codes::kInvalidParameter,
                    field + " " + QuoteText(filename) + " contains a control character");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckBody(const std::string& body) {
  if (auto status = CheckText("the body", body, error_codes::kInvalidParameter); !status.ok()) {
    return status;
  }
  // Cheap bound first: a body of more than 4 bytes per allowed character cannot fit.
  const bool huge = body.size() > 4u * kMaxBodyCharacters;
  const int characters = huge ? kMaxBodyCharacters + 1 : mmsc::CountCharacters(body);
  if (characters > kMaxBodyCharacters) {
    return Refuse(error_codes::kBodyTooLong,
                  "the body has " +
                      (huge ? "more than " + std::to_string(kMaxBodyCharacters)
                            : std::to_string(characters)) +
                      " characters; at most " + std::to_string(kMaxBodyCharacters) +
                      " are allowed");
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CheckMedia(const std::vector<std::string>& content_types,
                                   const std::vector<int64_t>& sizes) {
  int64_t total = 0;
  for (std::size_t i = 0; i < content_types.size(); ++i) {
    const std::string type = mmsc::NormalizeContentType(content_types[i]);
    if (type.empty()) {
      return Refuse(error_codes::kUnsupportedMediaType,
                    "media " + std::to_string(i) +
                        " has no content_type; give one such as "
                        "image/jpeg");
    }
    if (!mmsc::IsAcceptedMediaType(type)) {
      return Refuse(error_codes::kUnsupportedMediaType,
                    "media " + std::to_string(i) + " has content type " + Quote(type) +
                        ", which MMS does not accept (e.g. image/jpeg, image/png, image/gif, "
                        "video/mp4, audio/mpeg, text/vcard, application/pdf)");
    }
    if (sizes[i] <= 0) {
      return Refuse(error_codes::kInvalidMediaUrl, "media " + std::to_string(i) + " is empty");
    }
    total += sizes[i];
  }
  if (total > mmsc::kMaxTotalMediaBytes) {
    return Refuse(error_codes::kMediaTooLarge,
                  "the media total " + std::to_string(total) + " bytes; at most " +
                      std::to_string(mmsc::kMaxTotalMediaBytes) + " bytes (5 MB) are allowed");
  }
  return total;
}

void AddMedia(AdmittedMessage& admitted, const std::string& content_type,
              std::shared_ptr<const std::string> data, const std::string& filename) {
  v1::Message& message = admitted.message;
  auto* media = message.add_media();
  media->set_sid(NewSid("ME"));
  media->set_parent_sid(message.sid());
  media->set_content_type(content_type);
  media->set_size(static_cast<int64_t>(data->size()));
  media->set_sha256(Sha256Hex(*data));
  media->set_filename(filename);
  *media->mutable_date_created() = message.date_created();
  admitted.media.push_back({content_type, std::move(data)});
}

absl::Status CheckEnvelope(const v1::Account& account, const v1::SendMessageRequest& request,
                           const AdmissionContext& context) {
  auto envelope = ParseEnvelope(account, request, context);
  if (!envelope.ok()) return envelope.status();
  const bool has_media = request.media_url_size() + request.media_size() > 0;
  // Route with no size yet: catches the unroutable and the refused-abroad before any fetch.
  return Route(*context.number_plan, account, envelope->to.e164, envelope->to.region, has_media, 0)
      .status();
}

namespace {
// The magic numbers' answers, as the provider documents them for test credentials.
struct MagicAnswer {
  const char* number;
  int code;
  StatusCode status;
  const char* what;
};
constexpr MagicAnswer kMagicFrom[] = {
    {"+15005550001", error_codes::kInvalidFrom, StatusCode::kInvalidArgument,
     "is not a valid phone number"},
    {"+15005550007", error_codes::kFromNotOwned, StatusCode::kInvalidArgument,
     "is not owned by your account or is not SMS-capable"},
    {"+15005550008", error_codes::kSenderQueueFull, StatusCode::kResourceExhausted,
     "has a full message queue"},
};
constexpr MagicAnswer kMagicTo[] = {
    {"+15005550001", error_codes::kInvalidTo, StatusCode::kInvalidArgument,
     "is not a valid phone number"},
    {"+15005550002", error_codes::kUnroutable, StatusCode::kFailedPrecondition,
     "cannot be routed to"},
    {"+15005550003", error_codes::kRegionNotEnabled, StatusCode::kFailedPrecondition,
     "is in a region your account has no permission to send to"},
    {"+15005550004", error_codes::kUnsubscribedRecipient, StatusCode::kFailedPrecondition,
     "has opted out of your messages (it texted STOP)"},
    {"+15005550009", error_codes::kToNotMobile, StatusCode::kInvalidArgument,
     "is not a mobile number, so it cannot receive SMS"},
};
}  // namespace

absl::StatusOr<v1::Message> AnswerWithTestCredentials(const v1::Account& account,
                                                      const v1::SendMessageRequest& request,
                                                      const AdmissionContext& context) {
  for (const auto& magic : kMagicFrom) {
    if (request.from() == magic.number) {
      return ProviderError(magic.status, magic.code,
                           std::string("'From' ") + magic.number + " " + magic.what +
                               " (the provider's magic number for test credentials)");
    }
  }
  for (const auto& magic : kMagicTo) {
    if (request.to() == magic.number) {
      return ProviderError(magic.status, magic.code,
                           std::string("'To' ") + magic.number + " " + magic.what +
                               " (the provider's magic number for test credentials)");
    }
  }
  auto envelope = ParseEnvelope(account, request, context);
  if (!envelope.ok()) return envelope.status();
  const int media_count = request.media_url_size() + request.media_size();
  v1::Message message;
  message.set_sid(NewSid(media_count > 0 ? "MM" : "SM"));
  message.set_account_sid(account.sid());
  message.set_from(envelope->from.number());
  message.set_to(envelope->to.e164);
  message.set_body(request.body());
  message.set_num_media(media_count);
  message.set_num_segments(media_count > 0 ? 1 : mmsc::CountSegments(request.body()).segments);
  message.set_status(v1::QUEUED);
  message.set_direction(v1::OUTBOUND_API);
  message.set_status_callback(request.status_callback());
  message.set_validity_period_seconds(request.validity_period_seconds() > 0
                                          ? request.validity_period_seconds()
                                          : kDefaultValidityPeriodSeconds);
  const auto now = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(context.now_ns);
  *message.mutable_date_created() = now;
  *message.mutable_date_updated() = now;
  return message;
}

absl::StatusOr<AdmittedMessage> Admit(const v1::Account& account,
                                      const v1::SendMessageRequest& request,
                                      const AdmissionContext& context,
                                      const std::vector<mmsc::FetchedMedia>& fetched) {
  auto envelope = ParseEnvelope(account, request, context);
  if (!envelope.ok()) return envelope.status();
  const v1::Number& from = envelope->from;
  const carriers::ParsedNumber& to = envelope->to;
  const int media_count = request.media_url_size() + request.media_size();
  if (static_cast<int>(fetched.size()) != request.media_url_size()) {
    return Refuse(error_codes::kInvalidMediaUrl,
                  "the media URLs were not fetched; this is a gateway bug, please report it");
  }
  // Fetched items were checked by the fetcher; they pass the same checks again here so that
  // every media item, however it came, meets one rule.
  struct Item {
    std::string content_type;
    std::shared_ptr<const std::string> data;
    std::string filename;
  };
  std::vector<Item> items;
  for (const auto& media : fetched) items.push_back({media.content_type, media.data, ""});
  for (const auto& media : request.media()) {
    items.push_back({media.content_type(), std::make_shared<const std::string>(media.data()),
                     media.filename()});
  }
  std::vector<std::string> types;
  std::vector<int64_t> sizes;
  for (auto& item : items) {
    item.content_type = mmsc::NormalizeContentType(item.content_type);
    types.push_back(item.content_type);
    sizes.push_back(item.data ? static_cast<int64_t>(item.data->size()) : 0);
  }
  auto media_total = CheckMedia(types, sizes);
  if (!media_total.ok()) return media_total.status();
  const int64_t media_bytes = *media_total;

  auto route =
      Route(*context.number_plan, account, to.e164, to.region, media_count > 0, media_bytes);
  if (!route.ok()) return route.status();

  AdmittedMessage admitted;
  v1::Message& message = admitted.message;
  message.set_sid(NewSid(media_count > 0 ? "MM" : "SM"));
  message.set_account_sid(account.sid());
  message.set_from(from.number());
  message.set_to(to.e164);
  message.set_body(request.body());
  message.set_num_media(media_count);
  message.set_status(v1::ACCEPTED);
  message.set_direction(v1::OUTBOUND_API);
  message.set_delivered_as(route->delivered_as);
  message.set_fallback_reason(route->fallback_reason);
  message.set_carrier_id(route->carrier->id());
  message.set_status_callback(!request.status_callback().empty() ? request.status_callback()
                                                                 : from.status_callback());
  message.set_validity_period_seconds(request.validity_period_seconds() > 0
                                          ? request.validity_period_seconds()
                                          : kDefaultValidityPeriodSeconds);
  const auto created = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(context.now_ns);
  *message.mutable_date_created() = created;
  *message.mutable_date_updated() = created;

  for (auto& item : items)
    AddMedia(admitted, item.content_type, std::move(item.data), item.filename);

  std::string text = request.body();
  if (route->delivered_as == v1::SMS_WITH_LINK) {
    admitted.link_token = mmsc::NewLinkToken();
    message.set_link_url(context.public_base_url + "/m/" + admitted.link_token);
    text = mmsc::ComposeLinkText(request.body(), message.link_url());
  }
  message.set_num_segments(route->delivered_as == v1::MMS ? 1 : mmsc::CountSegments(text).segments);
  message.set_delivered_text(std::move(text));
  return admitted;
}

}  // namespace mmsgate::gateway
