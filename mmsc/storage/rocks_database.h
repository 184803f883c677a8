#pragma once
// The Database on RocksDB: one RocksDB instance per data directory, a column family per family
// the stores declare, and a group-commit writer thread.
//
// This is the only place that includes RocksDB. Stores reach their data through the small API
// below (families by id, batch writes, point reads, prefix scans) and never see rocksdb::DB.
//
// Families of its own: "quarantine" (<family>/<key> -> a record that could not be read at
// start, moved aside for a person to look at) and "format" (the storage format version).

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mmsc/storage/database.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
struct WriteOptions;
}  // namespace rocksdb

namespace mmsgate::storage {

struct DatabaseOptions {
  // fsync the write-ahead log on each group commit, so acknowledged writes survive power loss,
  // not only a process crash.
  bool sync_writes = true;
  // Values at least this large go to blob files (kBlobs families).
  uint64_t min_blob_size = 4096;
  // Table files RocksDB keeps open (its default, -1, keeps every one open: unbounded).
  int max_open_files = 1000;
  // Memory all column families' memtables may use together before RocksDB flushes the largest
  // (db_write_buffer_size). Without it each of the dozen families could hold its own 64 MB:
  // 200,000 SMS queued behind an outage held about 90 MB of memtables, and the cap took RSS
  // per queued SMS from 2.9 to 2.5 KB with no loss of throughput (docs/performance.md).
  std::size_t memtable_budget_bytes = 64 << 20;
};

class RocksDatabase final : public Database {
 public:
  using FamilyId = int;

  // Opens (creating if missing) the database at `path` with `families`. A data directory written
  // in another storage format is refused with a message that says so.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RocksDatabase>> Open(
      const std::string& path, DatabaseOptions options, const std::vector<FamilySpec>& families);
  ~RocksDatabase() override;

  // Database
  std::unique_ptr<Batch> NewBatch() override;
  void Commit(std::unique_ptr<Batch> batch, boost::asio::any_io_executor executor,
              Done done) override;
  absl::Status CommitNow(std::unique_ptr<Batch> batch) override;
  // Without the fsync even when the database syncs: for writes whose loss in a power cut costs
  // nothing but a retry (deleting what nobody uses), and that may then run under a lock.
  [[nodiscard]] absl::Status CommitNowUnsynced(std::unique_ptr<Batch> batch);
  void Close() override;
  DatabaseStats stats() const override;

  // Removes every record of every family (Simulator.Reset), as one durable write. Batches made
  // before it that were not written yet are not written after it: their commits answer ABORTED
  // (30500), so nothing from before a reset reappears after it. Blocking (storage executor).
  [[nodiscard]] absl::Status Reset();

  // The id of a declared family. A family that was not declared at Open is a programming error
  // (the process aborts).
  [[nodiscard]] FamilyId Family(std::string_view name) const;

  // Writes staged into a batch of this database.
  void Put(Batch& batch, FamilyId family, std::string_view key, std::string_view value) const;
  void Delete(Batch& batch, FamilyId family, std::string_view key) const;
  // Adds `delta` to the counter at `key` of a kCounters family (absent counts as 0).
  void AddCounter(Batch& batch, FamilyId family, std::string_view key, int64_t delta) const;

  // Reads; they block (storage executor). NotFound when the key is absent.
  [[nodiscard]] absl::StatusOr<std::string> Get(FamilyId family, std::string_view key) const;
  // Calls `visit` with each key that starts with `prefix`, in key order, from the first key at
  // or after `start` (empty: from the prefix), until `visit` returns false.
  using Visitor = std::function<bool(std::string_view key, std::string_view value)>;
  [[nodiscard]] absl::Status Scan(FamilyId family, std::string_view prefix, std::string_view start,
                                  const Visitor& visit) const;
  // Bytes the database takes: SST files and memtables of every family (RocksDB's estimates).
  [[nodiscard]] uint64_t ApproximateSizeBytes() const;

  // True when some key starts with `prefix`.
  [[nodiscard]] bool HasPrefix(FamilyId family, std::string_view prefix) const;

  // Moves the record at `key` of `family` into the quarantine family (as "<family>/<key>") in one
  // atomic write, for a record that exists but cannot be read. Blocking.
  [[nodiscard]] absl::Status Quarantine(FamilyId family, std::string_view key);

 private:
  class RocksBatch;
  struct PendingWrite;

  explicit RocksDatabase(DatabaseOptions options);
  void WriterLoop();
  // Writes a group of batches as one (one WAL record, one sync when the options say so).
  absl::Status WriteCombined(const std::vector<PendingWrite>& group,
                             const rocksdb::WriteOptions& write_options);
  RocksBatch& Own(Batch& batch) const;
  rocksdb::ColumnFamilyHandle* Handle(FamilyId family) const;

  DatabaseOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<std::string> names_;                     // by FamilyId
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // by FamilyId; the default one last
  FamilyId quarantine_ = -1;

  // Bumped by Reset; a batch remembers the epoch it was made in.
  std::atomic<uint64_t> epoch_{0};
  // Held shared while a write is checked against the epoch and applied, exclusively by Reset.
  mutable std::shared_mutex reset_mutex_;
  // The refusal of a batch made before the last Reset.
  static absl::Status Stale();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<PendingWrite> pending_;
  bool closing_ = false;
  uint64_t groups_ = 0;
  uint64_t batches_ = 0;
  std::atomic<uint64_t> quarantined_{0};
  std::thread writer_;
};

}  // namespace mmsgate::storage
