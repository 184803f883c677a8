#pragma once
// MediaStore on RocksDatabase.
//
// Families: media (kBlobs)   <sha256 hex> -> the bytes
//           media_refs       <sha256 hex>/<message sid> -> "" (who still uses a blob)

#include <array>
#include <mutex>
#include <unordered_map>

#include "mmsc/storage/media_store.h"
#include "mmsc/storage/rocks_database.h"

namespace mmsgate::mmsc {

class RocksMediaStore final : public MediaStore {
 public:
  static std::vector<storage::FamilySpec> Families();
  explicit RocksMediaStore(storage::RocksDatabase& database);

  absl::Status StageMedia(storage::Batch& batch, const std::string& sha256, const std::string& data,
                          const std::string& message_sid) override;
  void StageRelease(storage::Batch& batch, const std::string& sha256,
                    const std::string& message_sid) override;
  void StagingDone(const std::vector<std::string>& sha256s) override;
  absl::StatusOr<std::string> Read(const std::string& sha256) const override;
  absl::StatusOr<int> DeleteUnreferenced(const std::vector<std::string>& sha256s) override;
  uint64_t CountBlobs() const override;

 private:
  bool IsReferenced(const std::string& sha256) const;

  storage::RocksDatabase& database_;
  const storage::RocksDatabase::FamilyId media_;
  const storage::RocksDatabase::FamilyId refs_;
  // Blobs a batch staged and has not committed yet, with how many batches; striped by hash so
  // concurrent messages with different media do not wait on each other.
  struct Stripe {
    std::mutex mutex;
    std::unordered_map<std::string, int> staging;
  };
  static constexpr std::size_t kStripes = 16;
  std::array<Stripe, kStripes> stripes_;
  Stripe& StripeFor(const std::string& sha256);
};

}  // namespace mmsgate::mmsc
