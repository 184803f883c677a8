#pragma once
// The provider's numeric error codes and the one way every layer reports them.
//
// A refusal is an absl::Status whose message starts with the decimal code ("21623: 11 media
// given, at most 10 allowed") and which carries the code as a payload, so the gRPC and REST
// front doors can put it in `mmsgate-error-code` metadata or the JSON `code` field without
// parsing text. Every code is here, and each is documented in docs/errors.md (a test checks).

#include <string_view>

#include "absl/status/status.h"

namespace mmsgate {

namespace error_codes {
inline constexpr int kAuthenticationFailed = 20003;
inline constexpr int kNotFound = 20404;
inline constexpr int kInvalidParameter = 21200;
inline constexpr int kInvalidTo = 21211;
inline constexpr int kToEqualsFrom = 21266;
inline constexpr int kNumberUnavailable = 21422;
inline constexpr int kInvalidFrom = 21212;
inline constexpr int kBodyRequired = 21602;
inline constexpr int kFromRequired = 21603;
inline constexpr int kToRequired = 21604;
inline constexpr int kFromNotOwned = 21606;
inline constexpr int kRegionNotEnabled = 21408;  // test credentials' magic To +15005550003
inline constexpr int kToNotMobile = 21614;       // test credentials' magic To +15005550009
inline constexpr int kUnroutable = 21612;
inline constexpr int kBodyTooLong = 21617;
inline constexpr int kInvalidMediaUrl = 21620;
inline constexpr int kFromNotMmsCapable = 21621;
inline constexpr int kTooManyMedia = 21623;
inline constexpr int kInvalidStatusCallback = 21609;
inline constexpr int kInvalidValidityPeriod = 90007;
inline constexpr int kUnsupportedMediaType = 12300;
inline constexpr int kMediaTooLarge = 11751;
// A webhook's TwiML response is not well-formed XML (or not XML at all, or too large).
inline constexpr int kTwimlParseFailure = 12100;
// A webhook's TwiML response is XML but not valid messaging TwiML.
inline constexpr int kTwimlSchemaError = 12200;
inline constexpr int kQueueFull = 20429;
inline constexpr int kQueueOverflow = 30001;
inline constexpr int kSenderQueueFull = 21611;
inline constexpr int kUnsubscribedRecipient = 21610;    // the recipient texted STOP to the sender
inline constexpr int kServiceHasNoNumbers = 21704;      // a Messaging Service's pool is empty
inline constexpr int kInvalidMessagingService = 21705;  // no such Messaging Service here
inline constexpr int kValidityExpired = 30036;
// Scheduling (ScheduleType / SendAt).
inline constexpr int kInvalidScheduleType = 35111;     // ScheduleType other than "fixed"
inline constexpr int kInvalidSendAt = 35114;           // SendAt is not an ISO 8601 time
inline constexpr int kSendAtOutsideWindow = 35115;     // not 15 minutes to 35 days ahead
inline constexpr int kSchedulingNeedsService = 35118;  // no MessagingServiceSid
inline constexpr int kNotCancelable = 30409;           // cancel of a message not SCHEDULED
inline constexpr int kUnreachableHandset = 30003;
inline constexpr int kUnknownDestination = 30005;
inline constexpr int kLandlineOrUnreachableCarrier = 30006;
inline constexpr int kUnknownError = 30008;
inline constexpr int kMmsNotSupported = 30011;
// The provider's "content size exceeds carrier limit". mmsgate adapts images to fit instead, and
// a message it cannot adapt goes out as SMS + link without an error: documented, never given.
inline constexpr int kContentOverCarrierLimit = 30019;
inline constexpr int kStorageFailure = 30500;
// A webhook could not be retrieved (timeout, 5xx, refused connection).
inline constexpr int kWebhookRetrievalFailure = 11200;
// A DELETE of a message (or its media) that is not finished yet.
inline constexpr int kDeleteUnfinished = 20009;
// The codes below only the REST facade answers, each with its HTTP status.
inline constexpr int kMethodNotAllowed = 20004;    // 405
inline constexpr int kForbidden = 20403;           // 403
inline constexpr int kInternalError = 20500;       // 500
inline constexpr int kServiceUnavailable = 20503;  // 503
}  // namespace error_codes

// A status with `code` as payload and "code: message" as its text.
[[nodiscard]] absl::Status ProviderError(absl::StatusCode status_code, int code,
                                         std::string_view message);

// The provider code a status carries, or 0 when it carries none.
[[nodiscard]] int ProviderErrorCode(const absl::Status& status);

}  // namespace mmsgate
