#pragma once
// Messages as stored: each message's record and status, the per-account newest-first index,
// the outbox of unfinished messages, media links, the media-retention schedule, and where the
// acceptance sequence resumes after a restart.
//
// Threading (mmsc/storage/database.h): Stage* never block and may run on any thread; every
// other method blocks on the database and runs only on the storage executor. A missing message
// is NotFound with code 20404; one that exists but cannot be read is DataLoss with 30500.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mmsc/storage/database.h"
#include "mmsgate/v1/messaging.pb.h"

namespace mmsgate::gateway {

// What a new message brings besides its record.
struct NewMessageExtras {
  // The token of its media link (SMS_WITH_LINK); empty for none.
  std::string link_token;
  // When its media stop being served (simulated ns since the epoch); 0 for never.
  int64_t media_expires_at_ns = 0;
  // Stored already finished (an inbound message): never in the outbox.
  bool finished = false;
};

// A media-retention entry that came due.
struct DueExpiry {
  std::string key;  // to pass back to StageExpiryDone
  std::string sid;
};

class MessageStore {
 public:
  virtual ~MessageStore() = default;

  // Everything a new message needs in one batch: record, status, index entry, outbox entry
  // (unless finished), link and retention entry. Its media are staged by the MediaStore.
  [[nodiscard]] virtual absl::Status StageNew(storage::Batch& batch,
                                              const mmsgate::v1::Message& message,
                                              const NewMessageExtras& extras) = 0;
  // A status change (status, error, dates); `finished` removes the message from the outbox.
  [[nodiscard]] virtual absl::Status StageStatus(storage::Batch& batch,
                                                 const mmsgate::v1::Message& message,
                                                 bool finished) = 0;
  // The whole record again, for the rare changes beyond status (a media item deleted).
  [[nodiscard]] virtual absl::Status StageRecord(storage::Batch& batch,
                                                 const mmsgate::v1::Message& message) = 0;
  // Removes the message: record, status, index entry, outbox entry and link.
  virtual void StageRemove(storage::Batch& batch, const mmsgate::v1::Message& message) = 0;
  // Ends a message's media link (the token no longer resolves).
  virtual void StageUnlink(storage::Batch& batch, const std::string& token) = 0;
  virtual void StageExpiryDone(storage::Batch& batch, const std::string& key) = 0;
  // Where the acceptance sequence resumes after a restart.
  virtual void StageNextSequence(storage::Batch& batch, uint64_t next) = 0;

  [[nodiscard]] virtual absl::StatusOr<mmsgate::v1::Message> Get(const std::string& sid) const = 0;

  // The account's messages, newest first, matching the request's filters and, when given,
  // `also`; at most kMaxScannedPerPage index entries are read per call (the page token then
  // continues). Without webhook attempts.
  using Filter = std::function<bool(const mmsgate::v1::Message&)>;
  [[nodiscard]] virtual absl::StatusOr<mmsgate::v1::ListMessagesResponse> List(
      const std::string& account_sid, const mmsgate::v1::ListMessagesRequest& request,
      const Filter& also = nullptr) const = 0;

  // True while the message waits in the outbox (accepted and not finished).
  [[nodiscard]] virtual bool IsUnfinished(const std::string& sid) const = 0;

  // The unfinished messages, for the resume at start. A record that cannot be read is logged
  // with its key and moved, with its outbox entry, to the quarantine family: kept aside for
  // inspection, never silently skipped.
  [[nodiscard]] virtual std::vector<mmsgate::v1::Message> LoadUnfinished() = 0;
  [[nodiscard]] virtual std::optional<uint64_t> LoadNextSequence() const = 0;

  // The message a media link token belongs to. NotFound for unknown tokens.
  [[nodiscard]] virtual absl::StatusOr<std::string> MessageSidForLink(
      const std::string& token) const = 0;

  // Retention entries due by `now_ns`, oldest first, at most `max`.
  [[nodiscard]] virtual std::vector<DueExpiry> DueForExpiry(int64_t now_ns, int max) const = 0;
};

inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 1000;
// A filtered List stops after this many index entries, so one call stays cheap.
inline constexpr int kMaxScannedPerPage = 20000;

// The page_size and page_token checks every implementation applies (21200 when out of range
// or not a token this account was given).
[[nodiscard]] absl::Status CheckListRequest(const mmsgate::v1::ListMessagesRequest& request);

}  // namespace mmsgate::gateway
