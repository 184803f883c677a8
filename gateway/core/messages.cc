#include "gateway/core/messages.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <future>

#include "carriers/base/errors.h"
#include "carriers/base/text.h"
#include "gateway/core/lifecycle.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;

// The provider's "Cannot delete this resource before it is complete".
using error_codes::kDeleteUnfinished;

// Outbound messages finish in the lifecycle's final statuses; an inbound one is finished when
// received.
bool IsFinished(v1::MessageStatus status) {
  return MessageLifecycle::IsFinal(status) || status == v1::RECEIVED;
}

absl::Status NotFound(const std::string& sid, const std::string& account_sid) {
  return ProviderError(
      absl::StatusCode::kNotFound, error_codes::kNotFound,
      "message " + QuoteText(sid, 64) + " was not found in account " + account_sid);
}

std::string LinkToken(const std::string& link_url) {
  const auto slash = link_url.rfind("/m/");
  return slash == std::string::npos ? "" : link_url.substr(slash + 3);
}

}  // namespace

MessageService::MessageService(storage::Database& database, MessageStore& store,
                               AttemptLog& attempts, mmsc::MediaStore& media_store,
                               const Clock& clock)
    : database_(database),
      store_(store),
      attempts_(attempts),
      media_store_(media_store),
      clock_(clock) {}

absl::StatusOr<v1::Message> MessageService::Get(const std::string& account_sid,
                                                const std::string& sid, bool with_attempts) const {
  auto message = store_.Get(sid);
  if (absl::IsNotFound(message.status()) ||
      (message.ok() && message->account_sid() != account_sid)) {
    return NotFound(sid, account_sid);
  }
  if (!message.ok()) return message.status();
  if (with_attempts) {
    for (auto& attempt : attempts_.List(sid)) *message->add_webhook_attempts() = std::move(attempt);
  }
  return message;
}

absl::StatusOr<v1::ListMessagesResponse> MessageService::List(
    const std::string& account_sid, const v1::ListMessagesRequest& request,
    const MessageStore::Filter& also) const {
  auto page = store_.List(account_sid, request, also);
  if (!page.ok()) return page;
  for (auto& message : *page->mutable_messages()) {
    for (auto& attempt : attempts_.List(message.sid())) {
      *message.add_webhook_attempts() = std::move(attempt);
    }
  }
  return page;
}

bool MessageService::BeginDelete(const std::string& sid) {
  std::lock_guard lock(mutex_);
  return deleting_.insert(sid).second;
}

void MessageService::EndDelete(const std::string& sid) {
  std::lock_guard lock(mutex_);
  deleting_.erase(sid);
}

absl::StatusOr<v1::Message> MessageService::Deletable(const std::string& account_sid,
                                                      const std::string& sid,
                                                      const char* what) const {
  auto message = Get(account_sid, sid, /*with_attempts=*/false);
  if (!message.ok()) return message;
  // A final record has left the outbox in the same batch, after which nothing writes it again;
  // checking both keeps a half-resumed message safe too.
  if (!IsFinished(message->status()) || store_.IsUnfinished(sid)) {
    return ProviderError(absl::StatusCode::kAborted, kDeleteUnfinished,
                         std::string("Cannot ") + what + " " + sid +
                             " because delivery has not been completed (status " +
                             v1::MessageStatus_Name(message->status()) +
                             "); retry once it is delivered, undelivered or failed");
  }
  return message;
}

absl::Status MessageService::Delete(const std::string& account_sid, const std::string& sid) {
  if (!BeginDelete(sid)) {
    return ProviderError(absl::StatusCode::kAborted, kDeleteUnfinished,
                         "message " + sid + " is being deleted already");
  }
  auto message = Deletable(account_sid, sid, "delete message");
  absl::Status status = message.status();
  std::vector<std::string> blobs;
  if (message.ok()) {
    auto batch = database_.NewBatch();
    store_.StageRemove(*batch, *message);
    attempts_.StageRemoveAll(*batch, sid);
    for (const auto& media : message->media()) {
      media_store_.StageRelease(*batch, media.sha256(), sid);
      blobs.push_back(media.sha256());
    }
    status = database_.CommitNow(std::move(batch));
  }
  EndDelete(sid);
  if (!status.ok()) return status;
  std::sort(blobs.begin(), blobs.end());
  blobs.erase(std::unique(blobs.begin(), blobs.end()), blobs.end());
  if (auto deleted = media_store_.DeleteUnreferenced(blobs); !deleted.ok()) {
    return deleted.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> MessageService::RemoveAllOf(const std::string& account_sid,
                                                    InboxStore* inbox) {
  int64_t removed = 0;
  std::string previous_first;
  for (;;) {
    // Always the first page: what was listed is removed before the next read.
    v1::ListMessagesRequest first_page;
    first_page.set_page_size(1000);
    auto page = store_.List(account_sid, first_page);
    if (!page.ok()) return page.status();
    if (page->messages_size() == 0) break;
    if (page->messages(0).sid() == previous_first) {
      return ProviderError(absl::StatusCode::kInternal, error_codes::kStorageFailure,
                           "message " + previous_first + " could not be removed; retry");
    }
    previous_first = page->messages(0).sid();
    auto batch = database_.NewBatch();
    std::vector<std::string> blobs;
    for (const auto& message : page->messages()) {
      store_.StageRemove(*batch, message);
      attempts_.StageRemoveAll(*batch, message.sid());
      if (inbox != nullptr) inbox->StageRemoveOf(*batch, message.sid());
      for (const auto& media : message.media()) {
        media_store_.StageRelease(*batch, media.sha256(), message.sid());
        blobs.push_back(media.sha256());
      }
    }
    if (auto status = database_.CommitNow(std::move(batch)); !status.ok()) return status;
    removed += page->messages_size();
    std::sort(blobs.begin(), blobs.end());
    blobs.erase(std::unique(blobs.begin(), blobs.end()), blobs.end());
    if (auto deleted = media_store_.DeleteUnreferenced(blobs); !deleted.ok()) {
      return deleted.status();
    }
  }
  return removed;
}

absl::Status MessageService::DeleteMedia(const std::string& account_sid,
                                         const std::string& message_sid,
                                         const std::string& media_sid) {
  if (!BeginDelete(message_sid)) {
    return ProviderError(absl::StatusCode::kAborted, kDeleteUnfinished,
                         "message " + message_sid + " is being changed already; retry");
  }
  auto finish = [&](absl::Status status) {
    EndDelete(message_sid);
    return status;
  };
  auto message = Get(account_sid, message_sid, /*with_attempts=*/false);
  if (!message.ok()) return finish(message.status());
  int index = -1;
  for (int i = 0; i < message->media_size(); ++i) {
    if (message->media(i).sid() == media_sid) index = i;
  }
  if (index < 0) {
    return finish(ProviderError(
        absl::StatusCode::kNotFound, error_codes::kNotFound,
        "media " + QuoteText(media_sid, 64) + " of message " + message_sid + " was not found"));
  }
  auto deletable = Deletable(account_sid, message_sid, "delete media of message");
  if (!deletable.ok()) return finish(deletable.status());
  const std::string sha256 = message->media(index).sha256();
  message->mutable_media()->DeleteSubrange(index, 1);
  auto batch = database_.NewBatch();
  if (auto staged = store_.StageRecord(*batch, *message); !staged.ok()) return finish(staged);
  bool still_used = false;
  for (const auto& media : message->media()) still_used = still_used || media.sha256() == sha256;
  if (!still_used) media_store_.StageRelease(*batch, sha256, message_sid);
  if (auto status = finish(database_.CommitNow(std::move(batch))); !status.ok()) return status;
  if (!still_used) {
    if (auto deleted = media_store_.DeleteUnreferenced({sha256}); !deleted.ok()) {
      return deleted.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Message> MessageService::Redact(const std::string& account_sid,
                                                   const std::string& sid) {
  if (!BeginDelete(sid)) {
    return ProviderError(absl::StatusCode::kAborted, kDeleteUnfinished,
                         "message " + sid + " is being changed already; retry");
  }
  auto message = Deletable(account_sid, sid, "redact the body of message");
  if (message.ok()) {
    message->clear_body();
    message->clear_delivered_text();
    *message->mutable_date_updated() =
        google::protobuf::util::TimeUtil::NanosecondsToTimestamp(ToNanoseconds(clock_.Now()));
    auto batch = database_.NewBatch();
    absl::Status status = store_.StageRecord(*batch, *message);
    // date_updated lives with the status.
    if (status.ok()) status = store_.StageStatus(*batch, *message, /*finished=*/true);
    if (status.ok()) status = database_.CommitNow(std::move(batch));
    if (!status.ok()) message = status;
  }
  EndDelete(sid);
  if (!message.ok()) return message;
  return Get(account_sid, sid);
}

absl::StatusOr<v1::Message> MessageService::Cancel(const std::string& account_sid,
                                                   const std::string& sid) {
  auto message = Get(account_sid, sid, /*with_attempts=*/false);
  if (!message.ok()) return message;
  if (message->status() != v1::SCHEDULED || lifecycle_ == nullptr) {
    return NotCancelable(sid, "it is " + v1::MessageStatus_Name(message->status()));
  }
  // The lifecycle stores CANCELED on the message's strand; this thread (the storage executor,
  // as for every method here) waits for that commit.
  std::promise<absl::StatusOr<v1::Message>> canceled;
  auto outcome = canceled.get_future();
  lifecycle_->Cancel(sid, [&canceled](absl::StatusOr<v1::Message> result) {
    canceled.set_value(std::move(result));
  });
  if (auto result = outcome.get(); !result.ok()) return result;
  return Get(account_sid, sid);
}

absl::StatusOr<int> MessageService::SweepExpiredMedia(int64_t now_ns, int max_messages) {
  const auto due = store_.DueForExpiry(now_ns, max_messages);
  if (due.empty()) return 0;
  auto batch = database_.NewBatch();
  std::vector<std::string> blobs;
  for (const auto& entry : due) {
    store_.StageExpiryDone(*batch, entry.key);
    auto message = store_.Get(entry.sid);
    if (!message.ok()) continue;  // deleted meanwhile
    if (const std::string token = LinkToken(message->link_url()); !token.empty()) {
      store_.StageUnlink(*batch, token);
    }
    for (const auto& media : message->media()) {
      media_store_.StageRelease(*batch, media.sha256(), entry.sid);
      blobs.push_back(media.sha256());
    }
  }
  if (auto status = database_.CommitNow(std::move(batch)); !status.ok()) return status;
  std::sort(blobs.begin(), blobs.end());
  blobs.erase(std::unique(blobs.begin(), blobs.end()), blobs.end());
  if (auto deleted = media_store_.DeleteUnreferenced(blobs); !deleted.ok()) {
    return deleted.status();
  }
  return static_cast<int>(due.size());
}

absl::StatusOr<std::vector<mmsc::LinkedMedia>> MessageService::Resolve(
    const std::string& token) const {
  auto sid = store_.MessageSidForLink(token);
  if (!sid.ok()) return sid.status();
  auto message = store_.Get(*sid);
  if (!message.ok()) return message.status();
  std::vector<mmsc::LinkedMedia> media;
  for (const auto& item : message->media()) {
    media.push_back({item.content_type(), item.size(), item.sha256(), item.filename()});
  }
  return media;
}

}  // namespace mmsgate::gateway
