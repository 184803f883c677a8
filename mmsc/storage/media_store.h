#pragma once
// Content-addressed media storage in the process database.
//
// A blob is stored once under its SHA-256, however many messages carry it; each message that
// uses it adds a reference (media_refs: <sha256>/<message sid>). Blocking (RocksDB reads): call
// from the admission thread or a storage worker, never from an io_context thread.

#include <rocksdb/write_batch.h>

#include <array>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "mmsc/storage/database.h"

namespace mmsgate::mmsc {

class MediaStore {
 public:
  explicit MediaStore(Database& database) : database_(database) {}

  // Adds to `batch` the blob (only when no message refers to it yet, so a blob sent to
  // thousands of recipients is written once) and the reference from `message_sid`. The blob
  // is protected from deletion until StagingDone is called for it, after the batch was
  // committed or abandoned.
  [[nodiscard]] absl::Status StageMedia(rocksdb::WriteBatch& batch, const std::string& sha256,
                                        const std::string& data, const std::string& message_sid);

  // The bytes of a blob. NotFound when it is not stored.
  [[nodiscard]] absl::StatusOr<std::string> Read(const std::string& sha256) const;

  // True when some message refers to the blob.
  [[nodiscard]] bool IsReferenced(const std::string& sha256) const;

  void StagingDone(const std::vector<std::string>& sha256s);

  // Deletes the blobs among `sha256s` that no message refers to any more and that no batch
  // is staging. Returns how many were deleted.
  [[nodiscard]] absl::StatusOr<int> DeleteUnreferenced(const std::vector<std::string>& sha256s);

  // Distinct blobs stored (a full scan of keys: for tests and stats, not hot paths).
  [[nodiscard]] uint64_t CountBlobs() const;

 private:
  Database& database_;
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
