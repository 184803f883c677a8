#include "mmsc/media_store.h"

#include <memory>

namespace mmsgate::mmsc {

absl::Status MediaStore::StageMedia(rocksdb::WriteBatch& batch, const std::string& sha256,
                                    const std::string& data, const std::string& message_sid) {
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
