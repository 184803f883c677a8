#pragma once
// Content-addressed media storage in the process database.
//
// A blob is stored once under its SHA-256, however many messages carry it; each message that
// uses it adds a reference (media_refs: <sha256>/<message sid>). Blocking (RocksDB reads): call
// from the admission thread or a storage worker, never from an io_context thread.

#include <rocksdb/write_batch.h>

#include <string>

#include "absl/status/statusor.h"
#include "mmsc/database.h"

namespace mmsgate::mmsc {

class MediaStore {
 public:
  explicit MediaStore(Database& database) : database_(database) {}

  // Adds to `batch` the blob (only when no message refers to it yet, so a blob sent to
  // thousands of recipients is written once) and the reference from `message_sid`.
  [[nodiscard]] absl::Status StageMedia(rocksdb::WriteBatch& batch, const std::string& sha256,
                                        const std::string& data, const std::string& message_sid);

  // The bytes of a blob. NotFound when it is not stored.
  [[nodiscard]] absl::StatusOr<std::string> Read(const std::string& sha256) const;

  // True when some message refers to the blob.
  [[nodiscard]] bool IsReferenced(const std::string& sha256) const;

  // Distinct blobs stored (a full scan of keys: for tests and stats, not hot paths).
  [[nodiscard]] uint64_t CountBlobs() const;

 private:
  Database& database_;
};

}  // namespace mmsgate::mmsc
