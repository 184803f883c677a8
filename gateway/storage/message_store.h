#pragma once
// Messages in the process database: records, the per-account newest-first index, the outbox
// of unfinished messages, and media links.
//
// Stage* methods only add writes to a batch (the caller commits it through Database::Write);
// Get/List/Unfinished read and block, so call them off the io_context.

#include <rocksdb/write_batch.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/core/admission.h"
#include "mmsc/storage/database.h"
#include "mmsc/storage/media_store.h"
#include "mmsgate/v1/messaging.pb.h"

namespace mmsgate::gateway {

class MessageStore {
 public:
  MessageStore(mmsc::Database& database, mmsc::MediaStore& media_store)
      : database_(database), media_store_(media_store) {}

  // Everything a newly accepted message needs, in one batch: record, index entry, outbox entry,
  // media blobs and references, and the link.
  [[nodiscard]] absl::Status StageNew(rocksdb::WriteBatch& batch, const AdmittedMessage& admitted);

  // A status change; `finished` removes the message from the outbox.
  [[nodiscard]] absl::Status StageUpdate(rocksdb::WriteBatch& batch,
                                         const mmsgate::v1::Message& message, bool finished);

  // NotFound (code 20404) for an unknown SID. The record as the pipeline keeps it.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Message> Get(const std::string& sid) const;

  // The record with its webhook attempts, as users see it.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Message> GetWithAttempts(const std::string& sid) const;

  // Adds to `batch` a webhook attempt of a message.
  [[nodiscard]] absl::Status StageAttempt(rocksdb::WriteBatch& batch, const std::string& sid,
                    const mmsgate::v1::WebhookAttempt& attempt) const;

  // The account's messages, newest first, matching the request's filters and, when given,
  // `also` (an extra filter, e.g. the REST facade's DateSent range).
  [[nodiscard]] absl::StatusOr<mmsgate::v1::ListMessagesResponse> List(
      const std::string& account_sid, const mmsgate::v1::ListMessagesRequest& request,
      const std::function<bool(const mmsgate::v1::Message&)>& also = nullptr) const;

  // Deletes a finished message of `account_sid`: record, index entry, webhook attempts, link,
  // media references, and the blobs no other message uses. NotFound (20404) for an unknown SID
  // or another account's; Aborted (20009) while the message is unfinished (in the outbox or not
  // in a final status), which nothing then changes. Blocking.
  [[nodiscard]] absl::Status Delete(const std::string& account_sid, const std::string& sid);

  // Deletes one media item of a finished message of `account_sid` (the record keeps its other
  // media; the blob goes when nothing uses it). Errors as Delete, and NotFound for an unknown
  // media SID. Blocking.
  [[nodiscard]] absl::Status DeleteMedia(const std::string& account_sid,
                                         const std::string& message_sid,
                                         const std::string& media_sid);

  // SIDs of messages accepted but not finished (what a restart resumes).
  [[nodiscard]] std::vector<std::string> Unfinished() const;

  // The records of those messages, for the resume at start. A record that cannot be read is
  // reported in the log with its key and moved, with its outbox entry, to the quarantine family:
  // kept aside for inspection, never silently skipped. Blocking.
  [[nodiscard]] std::vector<mmsgate::v1::Message> LoadUnfinished();

  // Ends media retention for messages whose media expired by `now_ns`: their links stop
  // working, their media references go, and blobs no message uses any more are deleted.
  // Returns how many messages were swept. Blocking.
  [[nodiscard]] absl::StatusOr<int> SweepExpiredMedia(int64_t now_ns, int max_messages = 1000);

  // The message a media link token belongs to. NotFound for unknown tokens.
  [[nodiscard]] absl::StatusOr<std::string> MessageSidForLink(const std::string& token) const;

  mmsc::MediaStore& media_store() const { return media_store_; }

 private:
  mmsc::Database& database_;
  mmsc::MediaStore& media_store_;
  // Deletes read, check and rewrite a record; one at a time, so they cannot undo each other.
  std::mutex delete_mutex_;
};

}  // namespace mmsgate::gateway
