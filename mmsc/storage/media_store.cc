#include "mmsc/storage/media_store.h"

#include <memory>

namespace mmsgate::mmsc {

absl::Status MediaStore::StageMedia(rocksdb::WriteBatch& batch, const std::string& sha256,
                                    const std::string& data, const std::string& message_sid) {
  // Marked, under the lock the sweeper holds for its check-and-delete, before the reference
  // check: a sweep either finished deleting before (and the blob is written again below) or
  // sees the mark and keeps the blob.
  Stripe& stripe = StripeFor(sha256);
  std::lock_guard lock(stripe.mutex);
  ++stripe.staging[sha256];
  if (!IsReferenced(sha256)) {
    auto status = batch.Put(database_.family(Family::kMedia), sha256, data);
    if (!status.ok()) return FromRocksDb(status, "stage media");
  }
  return FromRocksDb(
      batch.Put(database_.family(Family::kMediaRefs), sha256 + "/" + message_sid, ""),
      "stage media reference");
}

absl::StatusOr<std::string> MediaStore::Read(const std::string& sha256) const {
  return database_.Get(Family::kMedia, sha256);
}

MediaStore::Stripe& MediaStore::StripeFor(const std::string& sha256) {
  return stripes_[std::hash<std::string>{}(sha256) % kStripes];
}

void MediaStore::StagingDone(const std::vector<std::string>& sha256s) {
  for (const auto& sha256 : sha256s) {
    Stripe& stripe = StripeFor(sha256);
    std::lock_guard lock(stripe.mutex);
    auto it = stripe.staging.find(sha256);
    if (it != stripe.staging.end() && --it->second <= 0) stripe.staging.erase(it);
  }
}

absl::StatusOr<int> MediaStore::DeleteUnreferenced(const std::vector<std::string>& sha256s) {
  int deleted = 0;
  for (std::size_t s = 0; s < kStripes; ++s) {
    Stripe& stripe = stripes_[s];
    rocksdb::WriteBatch batch;
    int in_batch = 0;
    // Held through the commit: see StageMedia.
    std::lock_guard lock(stripe.mutex);
    for (const auto& sha256 : sha256s) {
      if (&StripeFor(sha256) != &stripe) continue;
      if (stripe.staging.contains(sha256) || IsReferenced(sha256)) continue;
      if (auto status = batch.Delete(database_.family(Family::kMedia), sha256); !status.ok()) {
        return FromRocksDb(status, "delete media");
      }
      ++in_batch;
    }
    if (in_batch == 0) continue;
    if (auto status = database_.WriteNow(std::move(batch)); !status.ok()) return status;
    deleted += in_batch;
  }
  return deleted;
}

bool MediaStore::IsReferenced(const std::string& sha256) const {
  const std::string prefix = sha256 + "/";
  std::unique_ptr<rocksdb::Iterator> it(
      database_.db()->NewIterator(rocksdb::ReadOptions(), database_.family(Family::kMediaRefs)));
  it->Seek(prefix);
  return it->Valid() && it->key().starts_with(prefix);
}

uint64_t MediaStore::CountBlobs() const {
  uint64_t count = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      database_.db()->NewIterator(rocksdb::ReadOptions(), database_.family(Family::kMedia)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++count;
  return count;
}

}  // namespace mmsgate::mmsc
