#include "mmsc/storage/rocks_media_store.h"

namespace mmsgate::mmsc {

std::vector<storage::FamilySpec> RocksMediaStore::Families() {
  return {{"media", storage::FamilyKind::kBlobs}, {"media_refs", storage::FamilyKind::kIndex}};
}

RocksMediaStore::RocksMediaStore(storage::RocksDatabase& database)
    : database_(database), media_(database.Family("media")), refs_(database.Family("media_refs")) {}

absl::Status RocksMediaStore::StageMedia(storage::Batch& batch, const std::string& sha256,
                                         const std::string& data, const std::string& message_sid) {
  // Marked, under the lock the sweeper holds for its check-and-delete, before the reference
  // check: a sweep either finished deleting before (and the blob is written again below) or
  // sees the mark and keeps the blob.
  Stripe& stripe = StripeFor(sha256);
  std::lock_guard lock(stripe.mutex);
  ++stripe.staging[sha256];
  if (!IsReferenced(sha256)) database_.Put(batch, media_, sha256, data);
  database_.Put(batch, refs_, sha256 + "/" + message_sid, "");
  return absl::OkStatus();
}

void RocksMediaStore::StageRelease(storage::Batch& batch, const std::string& sha256,
                                   const std::string& message_sid) {
  database_.Delete(batch, refs_, sha256 + "/" + message_sid);
}

absl::StatusOr<std::string> RocksMediaStore::Read(const std::string& sha256) const {
  return database_.Get(media_, sha256);
}

RocksMediaStore::Stripe& RocksMediaStore::StripeFor(const std::string& sha256) {
  return stripes_[std::hash<std::string>{}(sha256) % kStripes];
}

void RocksMediaStore::StagingDone(const std::vector<std::string>& sha256s) {
  for (const auto& sha256 : sha256s) {
    Stripe& stripe = StripeFor(sha256);
    std::lock_guard lock(stripe.mutex);
    auto it = stripe.staging.find(sha256);
    if (it != stripe.staging.end() && --it->second <= 0) stripe.staging.erase(it);
  }
}

absl::StatusOr<int> RocksMediaStore::DeleteUnreferenced(const std::vector<std::string>& sha256s) {
  int deleted = 0;
  for (std::size_t s = 0; s < kStripes; ++s) {
    Stripe& stripe = stripes_[s];
    auto batch = database_.NewBatch();
    // Held through the write, so that a concurrent StageMedia either comes before (and is seen
    // as staging) or after (and writes the blob again). The write is not synced, so the lock is
    // never held across an fsync: a deletion lost in a power cut leaves a blob nobody uses.
    std::lock_guard lock(stripe.mutex);
    for (const auto& sha256 : sha256s) {
      if (&StripeFor(sha256) != &stripe) continue;
      if (stripe.staging.contains(sha256) || IsReferenced(sha256)) continue;
      database_.Delete(*batch, media_, sha256);
    }
    const int in_batch = static_cast<int>(batch->size());
    if (in_batch == 0) continue;
    if (auto status = database_.CommitNowUnsynced(std::move(batch)); !status.ok()) return status;
    deleted += in_batch;
  }
  return deleted;
}

bool RocksMediaStore::IsReferenced(const std::string& sha256) const {
  return database_.HasPrefix(refs_, sha256 + "/");
}

uint64_t RocksMediaStore::CountBlobs() const {
  uint64_t count = 0;
  (void)database_.Scan(media_, "", "", [&count](std::string_view, std::string_view) {
    ++count;
    return true;
  });
  return count;
}

}  // namespace mmsgate::mmsc
