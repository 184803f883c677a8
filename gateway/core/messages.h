#pragma once
// Stored messages as an account sees them: reads with their webhook attempts, lists, deletes,
// and the end of media retention.
//
// Threading rule: every method reads or commits to the database and blocks until it has: call
// it on the storage executor only. No lock is held while a commit waits; two deletes of the same
// message at once: the second is refused with Aborted (20009), retry.

#include <mutex>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "carriers/base/clock.h"
#include "gateway/core/lifecycle.h"
#include "gateway/storage/attempt_log.h"
#include "gateway/storage/message_store.h"
#include "mmsc/link_server.h"
#include "mmsc/storage/database.h"
#include "mmsc/storage/media_store.h"

namespace mmsgate::gateway {

class MessageService final : public mmsc::LinkResolver {
 public:
  MessageService(storage::Database& database, MessageStore& store, AttemptLog& attempts,
                 mmsc::MediaStore& media_store, const Clock& clock);

  // The account's message; NotFound (20404) for an unknown SID and for another account's, alike,
  // so SIDs cannot be probed. With its webhook attempts when `with_attempts`.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Message> Get(const std::string& account_sid,
                                                         const std::string& sid,
                                                         bool with_attempts = true) const;

  // Removes every stored message of the account with its media, webhook attempts and the entry
  // `inbox` holds for it (Accounts.ResetAccount), whatever its status: the caller has retired
  // the ones in flight. Answers how many. Blocking (storage executor).
  [[nodiscard]] absl::StatusOr<int64_t> RemoveAllOf(const std::string& account_sid,
                                                    InboxStore* inbox);

  // The account's messages, newest first, with their webhook attempts (MessageStore::List).
  [[nodiscard]] absl::StatusOr<mmsgate::v1::ListMessagesResponse> List(
      const std::string& account_sid, const mmsgate::v1::ListMessagesRequest& request,
      const MessageStore::Filter& also = nullptr) const;

  // Deletes a finished message of the account: record, index entry, webhook attempts, link,
  // media references, and the blobs no other message uses. NotFound (20404) as Get; Aborted
  // (20009) while the message is unfinished, which nothing then changes.
  [[nodiscard]] absl::Status Delete(const std::string& account_sid, const std::string& sid);

  // Deletes one media item of a finished message (the record keeps its other media; the blob
  // goes when nothing uses it). Errors as Delete, and NotFound for an unknown media SID.
  [[nodiscard]] absl::Status DeleteMedia(const std::string& account_sid,
                                         const std::string& message_sid,
                                         const std::string& media_sid);

  // Redacts a finished message's text (the provider's "update with an empty Body"): body and
  // delivered_text become empty, date_updated moves to now; the rest of the record, and what
  // the handset received, stay. Returns the redacted message. Errors as Delete.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Message> Redact(const std::string& account_sid,
                                                            const std::string& sid);

  // Cancels the account's SCHEDULED message (the provider's "update with Status=canceled"):
  // returns it CANCELED once stored. NotFound (20404) as Get; FailedPrecondition (30409) when it
  // is not SCHEDULED. Needs set_lifecycle.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Message> Cancel(const std::string& account_sid,
                                                            const std::string& sid);
  // Where scheduled messages wait (Cancel).
  void set_lifecycle(MessageLifecycle* lifecycle) { lifecycle_ = lifecycle; }

  // Ends media retention for messages whose media expired by `now_ns`: their links stop
  // working, their media references go, and blobs no message uses any more are deleted.
  // Returns how many messages were swept.
  [[nodiscard]] absl::StatusOr<int> SweepExpiredMedia(int64_t now_ns, int max_messages = 1000);

  // mmsc::LinkResolver: the media a link token stands for.
  absl::StatusOr<std::vector<mmsc::LinkedMedia>> Resolve(const std::string& token) const override;

 private:
  // A finished message that may be deleted, or why not.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Message> Deletable(const std::string& account_sid,
                                                               const std::string& sid,
                                                               const char* what) const;
  bool BeginDelete(const std::string& sid);
  void EndDelete(const std::string& sid);

  storage::Database& database_;
  MessageStore& store_;
  AttemptLog& attempts_;
  mmsc::MediaStore& media_store_;
  const Clock& clock_;
  MessageLifecycle* lifecycle_ = nullptr;
  std::mutex mutex_;
  std::set<std::string> deleting_;  // guarded by mutex_
};

}  // namespace mmsgate::gateway
