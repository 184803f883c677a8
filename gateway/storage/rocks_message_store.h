#pragma once
// MessageStore on RocksDatabase.
//
// Families and keys:
//   messages      sid -> MessageRecord (proto/mmsgate/storage/records.proto), written once
//   status        sid -> StatusRecord, rewritten on each status change (a few dozen bytes)
//   index         <account>/<16 hex digits of (max - creation ns)>/<sid> -> "" (newest first)
//   outbox        sid -> "" while a message is unfinished (a restart resumes these)
//   links         token -> sid
//   expiry        <16 hex digits of expiry ns>/<sid> -> "" (media retention, oldest first)
//   message_meta  "next_sequence" -> decimal

#include "gateway/storage/message_store.h"
#include "mmsc/storage/rocks_database.h"

namespace mmsgate::gateway {

class RocksMessageStore final : public MessageStore {
 public:
  static std::vector<storage::FamilySpec> Families();
  explicit RocksMessageStore(storage::RocksDatabase& database);

  absl::Status StageNew(storage::Batch& batch, const mmsgate::v1::Message& message,
                        const NewMessageExtras& extras) override;
  absl::Status StageStatus(storage::Batch& batch, const mmsgate::v1::Message& message,
                           bool finished) override;
  absl::Status StageRecord(storage::Batch& batch, const mmsgate::v1::Message& message) override;
  void StageRemove(storage::Batch& batch, const mmsgate::v1::Message& message) override;
  void StageUnlink(storage::Batch& batch, const std::string& token) override;
  void StageExpiryDone(storage::Batch& batch, const std::string& key) override;
  void StageNextSequence(storage::Batch& batch, uint64_t next) override;
  absl::StatusOr<mmsgate::v1::Message> Get(const std::string& sid) const override;
  absl::StatusOr<mmsgate::v1::ListMessagesResponse> List(
      const std::string& account_sid, const mmsgate::v1::ListMessagesRequest& request,
      const Filter& also) const override;
  bool IsUnfinished(const std::string& sid) const override;
  std::vector<mmsgate::v1::Message> LoadUnfinished() override;
  std::optional<uint64_t> LoadNextSequence() const override;
  absl::StatusOr<std::string> MessageSidForLink(const std::string& token) const override;
  std::vector<DueExpiry> DueForExpiry(int64_t now_ns, int max) const override;

 private:
  storage::RocksDatabase& database_;
  const storage::RocksDatabase::FamilyId messages_, status_, index_, outbox_, links_, expiry_,
      meta_;
};

}  // namespace mmsgate::gateway
