#pragma once
// Content-addressed media: each blob is stored once under its SHA-256, however many messages
// carry it; each message that uses a blob holds a reference to it.
//
// Threading (see mmsc/storage/database.h): Stage* and StagingDone never block and may run on any
// thread; Read, DeleteUnreferenced and CountBlobs block (storage executor only).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mmsc/storage/database.h"

namespace mmsgate::mmsc {

class MediaStore {
 public:
  virtual ~MediaStore() = default;

  // Adds to `batch` the blob (only when no message refers to it yet, so a blob sent to
  // thousands of recipients is written once) and the reference from `message_sid`. The blob
  // is protected from deletion until StagingDone is called for it, after the batch was
  // committed or abandoned.
  [[nodiscard]] virtual absl::Status StageMedia(storage::Batch& batch, const std::string& sha256,
                                                const std::string& data,
                                                const std::string& message_sid) = 0;
  // Adds to `batch` the removal of `message_sid`'s reference to the blob.
  virtual void StageRelease(storage::Batch& batch, const std::string& sha256,
                            const std::string& message_sid) = 0;
  virtual void StagingDone(const std::vector<std::string>& sha256s) = 0;

  // The bytes of a blob. NotFound when it is not stored.
  [[nodiscard]] virtual absl::StatusOr<std::string> Read(const std::string& sha256) const = 0;

  // Deletes the blobs among `sha256s` that no message refers to any more and that no batch
  // is staging. Returns how many were deleted.
  [[nodiscard]] virtual absl::StatusOr<int> DeleteUnreferenced(
      const std::vector<std::string>& sha256s) = 0;

  // Distinct blobs stored (a full scan of keys: for tests and stats, not hot paths).
  [[nodiscard]] virtual uint64_t CountBlobs() const = 0;
};

}  // namespace mmsgate::mmsc
