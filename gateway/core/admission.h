#pragma once
// Admission: everything SendMessage checks and decides before a message is stored.
//
// Pure logic, no I/O: it validates a request against the account's numbers and the number
// plan, routes it (rules 3-5) and builds the ACCEPTED message. Every refusal is a provider error
// (mmsgate/errors.h) whose text says what was wrong and how to fix it.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "carriers/handsets.h"
#include "carriers/number_plan.h"
#include "gateway/accounts/directory.h"
#include "gateway/core/router.h"
#include "mmsc/media_rules.h"
#include "mmsgate/v1/messaging.pb.h"

namespace mmsgate::gateway {

inline constexpr int kMaxBodyCharacters = 1600;
inline constexpr int kDefaultValidityPeriodSeconds = 36000;  // the provider's current default
inline constexpr int kMaxValidityPeriodSeconds = 36000;

struct AdmissionContext {
  const Directory* directory = nullptr;
  const carriers::NumberPlan* number_plan = nullptr;
  // Keeps number_plan alive when it is a snapshot of a changing fleet.
  std::shared_ptr<const carriers::NumberPlan> number_plan_owner;
  // Base of media links, e.g. "http://127.0.0.1:8080".
  std::string public_base_url;
  // Creation time in nanoseconds since the epoch.
  int64_t now_ns = 0;
  // The provider's own keyword confirmations reach a subscriber who just opted out.
  bool ignore_opt_outs = false;
};

struct AdmittedMessage {
  // Status ACCEPTED, with SID, route decision, media records, segments and delivered text.
  mmsgate::v1::Message message;
  // The media bytes, parallel to message.media().
  std::vector<carriers::MediaPayload> media;
  // The link token of an SMS_WITH_LINK; empty otherwise.
  std::string link_token;
  // When the media stop being served (wall clock, ns since the epoch); 0: never.
  int64_t media_expires_at_ns = 0;
};

// The body rules every message meets, whichever way it comes: valid UTF-8 (21200), at most
// 1600 characters (21617).
[[nodiscard]] absl::Status CheckBody(const std::string& body);

// A media URL as text: valid UTF-8 (21620), without spaces or control characters. Whether it can
// be fetched is the fetcher's business.
[[nodiscard]] absl::Status CheckMediaUrlText(int index, std::string_view url);

// An inline media item's file name, which is stored with the media: valid UTF-8, at most 255
// bytes, no control characters (21200).
[[nodiscard]] absl::Status CheckMediaFilename(int index, std::string_view filename);

// The media rules every message meets: each item non-empty (21620) with an accepted content type
// (12300), and at most 5 MB in all (11751). `content_types[i]` and `sizes[i]` describe item i.
// Returns the total bytes.
[[nodiscard]] absl::StatusOr<int64_t> CheckMedia(const std::vector<std::string>& content_types,
                                                 const std::vector<int64_t>& sizes);

// Adds a media record (new ME SID, type, size, SHA-256) for `data` to `admitted.message` and
// keeps the bytes beside it, for outbound and inbound messages alike.
void AddMedia(AdmittedMessage& admitted, const std::string& content_type,
              std::shared_ptr<const std::string> data, const std::string& filename);

// The provider's magic numbers for test credentials.
inline constexpr char kMagicValidFrom[] = "+15005550006";

// A send with test credentials (Account.test_credentials): the magic numbers' answers (From
// +15005550001 21212, +15005550007 21606, +15005550008 21611; To +15005550001 21211,
// +15005550002 21612, +15005550003 21408, +15005550004 21610, +15005550009 21614), then the
// checks of a real send (From +15005550006 counts as the account's own), and the message the
// provider would answer: status QUEUED, new SID, nothing stored or delivered.
[[nodiscard]] absl::StatusOr<mmsgate::v1::Message> AnswerWithTestCredentials(
    const mmsgate::v1::Account& account, const mmsgate::v1::SendMessageRequest& request,
    const AdmissionContext& context);

// Everything that can be checked before media URLs are fetched: required fields, counts, the
// body, the From number, the destination and its route (21612, and 30011 for an MMS abroad
// when conversion is disabled). A request that fails here must not cost a fetch.
[[nodiscard]] absl::Status CheckEnvelope(const mmsgate::v1::Account& account,
                                         const mmsgate::v1::SendMessageRequest& request,
                                         const AdmissionContext& context);

// Validates and routes `request` for `account`. `fetched` holds the media of
// request.media_url(), fetched, in the same order; they come before the inline media.
[[nodiscard]] absl::StatusOr<AdmittedMessage> Admit(
    const mmsgate::v1::Account& account, const mmsgate::v1::SendMessageRequest& request,
    const AdmissionContext& context, const std::vector<mmsc::FetchedMedia>& fetched = {});

}  // namespace mmsgate::gateway
