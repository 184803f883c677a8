#pragma once
// The one RocksDB database of an mmsgate process, with a column family per kind of record, and
// a group-commit writer.
//
// Why one database: a message, its media and its outbox entry are written in one atomic
// WriteBatch, so a crash never leaves a message half-stored.
//
// Column families:
//   messages  sid -> serialized mmsgate.v1.Message
//   index     <account>/<inverted creation time>/<sid> -> "" (newest-first listing)
//   outbox    sid -> "" while a message is not finished (a restart resumes these)
//   media     sha256 (hex) -> bytes; BlobDB keeps large values out of the LSM tree
//   media_refs <sha256>/<message sid> -> "" (who still uses a blob)
//   links     token -> message sid
//   expiry    <16 hex digits of expiry ns>/<message sid> -> "" (media retention)
//   meta      small process-wide values: next_sequence; usage/<account>/<category>/<field>
//             counters (merge-added); number/<number> provisioned numbers; settings/<account>
//   inbox     <handset number>/<20-digit received ns>/<message sid> -> HandsetMessage
//   attempts  <message sid>/<20-digit ns>/<n> -> serialized WebhookAttempt (kept apart from the
//             message record, which the pipeline rewrites on every status change)
//   quarantine <family>/<key> -> the value of a record that could not be read at start, moved
//             aside (not deleted) so that a person can look at it; see Quarantine()
//
// Records are protobuf messages written with EncodeRecord, which refuses one that could not be
// parsed back (a string field that is not UTF-8) before anything is committed.

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace mmsgate::mmsc {

enum class Family {
  kMessages,
  kIndex,
  kOutbox,
  kMedia,
  kMediaRefs,
  kLinks,
  kExpiry,
  kMeta,
  kAttempts,
  kInbox,
  kQuarantine,
  kCount
};

struct DatabaseOptions {
  // fsync the write-ahead log on each group commit, so acknowledged writes survive power loss,
  // not only a process crash.
  bool sync_writes = true;
  // Values at least this large go to blob files (media).
  uint64_t min_blob_size = 4096;
  // Table files RocksDB keeps open (its default, -1, keeps every one open: unbounded).
  int max_open_files = 1000;
};

class Database {
 public:
  // Opens (creating if missing) the database at `path`.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                                      DatabaseOptions options);
  ~Database();

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* family(Family f) const {
    return handles_[static_cast<std::size_t>(f)];
  }

  // Reads one value. NotFound when the key is absent. Blocking: call off the io_context.
  [[nodiscard]] absl::StatusOr<std::string> Get(Family f, const std::string& key) const;

  // Applies `batch` atomically and durably, blocking the calling thread until it has.
  [[nodiscard]] absl::Status WriteNow(rocksdb::WriteBatch batch);

  // Applies `batch` atomically and durably on the writer thread, grouped with other pending
  // batches into one write; then calls `done` on the writer thread (keep it short: post
  // elsewhere for real work). Never blocks the caller.
  void Write(rocksdb::WriteBatch batch, std::function<void(absl::Status)> done);

  // Finishes every queued write, then stops the writer thread. Idempotent.
  void Close();

  // Moves the record at `key` of family `from` into the quarantine family (as
  // "<family>/<key>") in one atomic write, for a record that exists but cannot be read. Blocking.
  [[nodiscard]] absl::Status Quarantine(Family from, const std::string& key);
  // Records in the quarantine family (counted at open, plus those moved since).
  uint64_t quarantined() const { return quarantined_.load(std::memory_order_relaxed); }
  static const char* FamilyName(Family f);

  // The bytes to store for `record`. kInternal with code 30500, naming `what` and the field,
  // when a string field is not valid UTF-8: protobuf would write such a record but never parse
  // it again, so it must not be committed. Every entry point validates text first; this is the
  // last line that keeps an acknowledged record readable.
  [[nodiscard]] static absl::StatusOr<std::string> EncodeRecord(
      const google::protobuf::Message& record, std::string_view what);

  // Counters in the meta family are 8-byte little-endian integers, added with
  // batch.Merge(family(kMeta), key, EncodeCounter(delta)).
  static std::string EncodeCounter(int64_t value);
  static int64_t DecodeCounter(const std::string& bytes);

  // Write groups committed so far and batches in them (for benchmarks and stats).
  uint64_t groups_committed() const;
  uint64_t batches_committed() const;

 private:
  Database(DatabaseOptions options) : options_(options) {}
  void WriterLoop();

  DatabaseOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;

  struct PendingWrite {
    rocksdb::WriteBatch batch;
    std::function<void(absl::Status)> done;
  };
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<PendingWrite> pending_;
  bool closing_ = false;
  uint64_t groups_ = 0;
  uint64_t batches_ = 0;
  std::atomic<uint64_t> quarantined_{0};
  std::thread writer_;
};

// Converts a RocksDB status; the only place rocksdb::Status becomes absl::Status.
absl::Status FromRocksDb(const rocksdb::Status& status, const std::string& what);

}  // namespace mmsgate::mmsc
