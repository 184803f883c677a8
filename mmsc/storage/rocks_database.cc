#include "mmsc/storage/rocks_database.h"

#include <google/protobuf/message.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdlib>

#include "carriers/base/errors.h"
#include "carriers/base/text.h"

namespace mmsgate::storage {
namespace {

// The layout of records changed with the storage layer (records apart from the public API,
// status kept apart from the message): data directories of format 1 cannot be read.
constexpr std::string_view kFormatVersion = "2";
constexpr const char* kQuarantineFamily = "quarantine";
constexpr const char* kFormatFamily = "format";

// Bound on one group commit, so a flood of writers cannot make one write arbitrarily large.
constexpr std::size_t kMaxBatchesPerGroup = 1024;

// Adds signed 64-bit counters: many writers add without reading first.
class CounterAddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    const int64_t sum =
        (existing ? DecodeCounter(std::string_view(existing->data(), existing->size())) : 0) +
        DecodeCounter(std::string_view(value.data(), value.size()));
    *new_value = EncodeCounter(sum);
    return true;
  }
  const char* Name() const override { return "mmsgate.CounterAdd"; }
};

absl::Status FromRocksDb(const rocksdb::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  const std::string text = what + ": " + status.ToString();
  if (status.IsNotFound()) return absl::NotFoundError(text);
  if (status.IsBusy() || status.IsTryAgain() || status.IsTimedOut()) {
    return ProviderError(absl::StatusCode::kUnavailable, error_codes::kStorageFailure, text);
  }
  return ProviderError(absl::StatusCode::kInternal, error_codes::kStorageFailure, text);
}

rocksdb::Slice ToSlice(std::string_view text) { return rocksdb::Slice(text.data(), text.size()); }

rocksdb::ColumnFamilyOptions OptionsFor(const FamilySpec& spec, const DatabaseOptions& options) {
  rocksdb::ColumnFamilyOptions cf;
  switch (spec.kind) {
    case FamilyKind::kBlobs:
      // Media are large and write-once: BlobDB keeps them out of compactions.
      cf.enable_blob_files = true;
      cf.min_blob_size = options.min_blob_size;
      cf.enable_blob_garbage_collection = true;
      break;
    case FamilyKind::kCounters:
      cf.merge_operator = std::make_shared<CounterAddOperator>();
      break;
    case FamilyKind::kRecords:
    case FamilyKind::kIndex:
      break;
  }
  return cf;
}

}  // namespace

std::string EncodeCounter(int64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff);
  }
  return bytes;
}

int64_t DecodeCounter(std::string_view bytes) {
  if (bytes.size() != 8) return 0;
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  }
  return static_cast<int64_t>(value);
}

absl::StatusOr<std::string> EncodeRecord(const google::protobuf::Message& record,
                                         std::string_view what) {
  if (auto field = FindInvalidUtf8Field(record)) {
    return ProviderError(absl::StatusCode::kInternal, error_codes::kStorageFailure,
                         std::string(what) + " was not stored: its field " + *field +
                             " is not valid UTF-8, so it could not be read back (an entry point "
                             "let bad text through; please report this)");
  }
  return record.SerializeAsString();
}

class RocksDatabase::RocksBatch final : public Batch {
 public:
  std::size_t size() const override { return static_cast<std::size_t>(batch.Count()); }
  rocksdb::WriteBatch batch;
  uint64_t epoch = 0;
};

struct RocksDatabase::PendingWrite {
  std::unique_ptr<Batch> batch;
  boost::asio::any_io_executor executor;
  Done done;
};

RocksDatabase::RocksDatabase(DatabaseOptions options) : options_(options) {}

absl::StatusOr<std::unique_ptr<RocksDatabase>> RocksDatabase::Open(
    const std::string& path, DatabaseOptions options, const std::vector<FamilySpec>& families) {
  std::unique_ptr<RocksDatabase> database(new RocksDatabase(options));

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.max_open_files = options.max_open_files;
  db_options.allow_concurrent_memtable_write = true;
  db_options.enable_pipelined_write = true;
  db_options.db_write_buffer_size = options.memtable_budget_bytes;

  // A data directory of another format: say so rather than fail on unknown families.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, path, &existing).ok() && !existing.empty() &&
      std::find(existing.begin(), existing.end(), kFormatFamily) == existing.end()) {
    return absl::FailedPreconditionError(
        "the data directory " + path +
        " was written by an older mmsgate (storage format 1) and cannot be read by this one "
        "(format " +
        std::string(kFormatVersion) + "); start with a new --data-dir");
  }

  std::vector<FamilySpec> all = families;
  all.push_back({kQuarantineFamily, FamilyKind::kRecords});
  all.push_back({kFormatFamily, FamilyKind::kRecords});
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const auto& spec : all) {
    descriptors.emplace_back(spec.name, OptionsFor(spec, options));
    database->names_.push_back(spec.name);
  }
  // Families a newer build dropped must still be opened, or RocksDB refuses to open at all.
  for (const auto& name : existing) {
    if (name == rocksdb::kDefaultColumnFamilyName) continue;
    if (std::find(database->names_.begin(), database->names_.end(), name) ==
        database->names_.end()) {
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
      database->names_.push_back(name);
    }
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!status.ok()) {
    return absl::UnavailableError("cannot open the data directory " + path + ": " +
                                  status.ToString() +
                                  " (is another mmsgate using it? use --data-dir to choose one)");
  }
  database->db_.reset(raw);
  // handles[0] is the default family, which mmsgate does not use; keep it for cleanup.
  database->handles_.assign(handles.begin() + 1, handles.end());
  database->handles_.push_back(handles[0]);
  database->quarantine_ = database->Family(kQuarantineFamily);

  const FamilyId format = database->Family(kFormatFamily);
  auto stored = database->Get(format, "version");
  if (stored.ok() && *stored != kFormatVersion) {
    return absl::FailedPreconditionError("the data directory " + path + " has storage format " +
                                         *stored + ", this mmsgate reads format " +
                                         std::string(kFormatVersion) +
                                         "; start with a new --data-dir");
  }
  if (!stored.ok()) {
    rocksdb::WriteOptions write_options;
    write_options.sync = options.sync_writes;
    status = raw->Put(write_options, database->Handle(format), "version", ToSlice(kFormatVersion));
    if (!status.ok()) return FromRocksDb(status, "write the storage format");
  }
  uint64_t quarantined = 0;
  (void)database->Scan(database->quarantine_, "", "", [&](std::string_view, std::string_view) {
    ++quarantined;
    return true;
  });
  database->quarantined_ = quarantined;
  database->writer_ = std::thread([d = database.get()] { d->WriterLoop(); });
  return database;
}

RocksDatabase::~RocksDatabase() {
  Close();
  for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  handles_.clear();
  if (db_) db_->Close().PermitUncheckedError();
}

RocksDatabase::FamilyId RocksDatabase::Family(std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return static_cast<FamilyId>(i);
  }
  std::fprintf(stderr, "mmsgate: column family \"%.*s\" was not declared\n",
               static_cast<int>(name.size()), name.data());
  std::abort();
}

rocksdb::ColumnFamilyHandle* RocksDatabase::Handle(FamilyId family) const {
  return handles_[static_cast<std::size_t>(family)];
}

RocksDatabase::RocksBatch& RocksDatabase::Own(Batch& batch) const {
  return static_cast<RocksBatch&>(batch);
}

std::unique_ptr<Batch> RocksDatabase::NewBatch() {
  auto batch = std::make_unique<RocksBatch>();
  batch->epoch = epoch_.load(std::memory_order_acquire);
  return batch;
}

absl::Status RocksDatabase::Stale() {
  return ProviderError(absl::StatusCode::kAborted, error_codes::kStorageFailure,
                       "the gateway was reset (Simulator.Reset) while this was being stored, so "
                       "nothing was stored; send it again");
}

absl::Status RocksDatabase::Reset() {
  // Waits for the write in progress; no write starts until the records are gone.
  std::unique_lock reset(reset_mutex_);
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  rocksdb::WriteBatch clear;
  for (auto* handle : handles_) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle));
    it->SeekToLast();
    if (!it->Valid()) continue;
    // [first, last + "\0"): every key of the family, as one range tombstone.
    std::string end = it->key().ToString();
    end.push_back('\0');
    if (auto status = clear.DeleteRange(handle, rocksdb::Slice(), end); !status.ok()) {
      return FromRocksDb(status, "reset");
    }
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync_writes;
  return FromRocksDb(db_->Write(write_options, &clear), "reset");
}

void RocksDatabase::Put(Batch& batch, FamilyId family, std::string_view key,
                        std::string_view value) const {
  Own(batch).batch.Put(Handle(family), ToSlice(key), ToSlice(value)).PermitUncheckedError();
}

void RocksDatabase::Delete(Batch& batch, FamilyId family, std::string_view key) const {
  Own(batch).batch.Delete(Handle(family), ToSlice(key)).PermitUncheckedError();
}

void RocksDatabase::AddCounter(Batch& batch, FamilyId family, std::string_view key,
                               int64_t delta) const {
  Own(batch).batch.Merge(Handle(family), ToSlice(key), EncodeCounter(delta)).PermitUncheckedError();
}

absl::StatusOr<std::string> RocksDatabase::Get(FamilyId family, std::string_view key) const {
  std::string value;
  rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), Handle(family), ToSlice(key), &value);
  if (!status.ok()) return FromRocksDb(status, "read " + names_[static_cast<std::size_t>(family)]);
  return value;
}

absl::Status RocksDatabase::Scan(FamilyId family, std::string_view prefix, std::string_view start,
                                 const Visitor& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), Handle(family)));
  const rocksdb::Slice prefix_slice = ToSlice(prefix);
  for (it->Seek(ToSlice(start.empty() ? prefix : start));
       it->Valid() && it->key().starts_with(prefix_slice); it->Next()) {
    if (!visit(std::string_view(it->key().data(), it->key().size()),
               std::string_view(it->value().data(), it->value().size()))) {
      break;
    }
  }
  return FromRocksDb(it->status(), "scan " + names_[static_cast<std::size_t>(family)]);
}

bool RocksDatabase::HasPrefix(FamilyId family, std::string_view prefix) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), Handle(family)));
  it->Seek(ToSlice(prefix));
  return it->Valid() && it->key().starts_with(ToSlice(prefix));
}

absl::Status RocksDatabase::Quarantine(FamilyId family, std::string_view key) {
  auto value = Get(family, key);
  if (!value.ok()) return value.status();
  auto batch = NewBatch();
  Put(*batch, quarantine_, names_[static_cast<std::size_t>(family)] + "/" + std::string(key),
      *value);
  Delete(*batch, family, key);
  if (auto status = CommitNow(std::move(batch)); !status.ok()) return status;
  quarantined_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status RocksDatabase::CommitNow(std::unique_ptr<Batch> batch) {
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync_writes;
  std::shared_lock reset(reset_mutex_);
  if (Own(*batch).epoch != epoch_.load(std::memory_order_acquire)) return Stale();
  return FromRocksDb(db_->Write(write_options, &Own(*batch).batch), "write");
}

absl::Status RocksDatabase::CommitNowUnsynced(std::unique_ptr<Batch> batch) {
  rocksdb::WriteOptions write_options;
  write_options.sync = false;
  std::shared_lock reset(reset_mutex_);
  if (Own(*batch).epoch != epoch_.load(std::memory_order_acquire)) return Stale();
  return FromRocksDb(db_->Write(write_options, &Own(*batch).batch), "write");
}

void RocksDatabase::Commit(std::unique_ptr<Batch> batch, boost::asio::any_io_executor executor,
                           Done done) {
  bool accepted = false;
  {
    std::lock_guard lock(mutex_);
    if (!closing_) {
      pending_.push_back({std::move(batch), executor, std::move(done)});
      accepted = true;
    }
  }
  if (!accepted) {
    boost::asio::post(executor, [done = std::move(done)] {
      done(ProviderError(absl::StatusCode::kUnavailable, error_codes::kStorageFailure,
                         "the store is shutting down; retry against the restarted gateway"));
    });
    return;
  }
  wake_.notify_one();
}

absl::Status RocksDatabase::WriteCombined(const std::vector<PendingWrite>& group,
                                          const rocksdb::WriteOptions& write_options) {
  // A WriteBatch is a 12-byte header (sequence: fixed64, count: fixed32, little-endian) and its
  // records; batches concatenate by appending records and adding counts, which is what RocksDB's
  // own WriteBatchInternal::Append does (not in its public headers).
  constexpr std::size_t kHeader = 12;
  std::size_t bytes = kHeader;
  for (const auto& write : group) bytes += Own(*write.batch).batch.GetDataSize() - kHeader;
  std::string rep(kHeader, '\0');
  rep.reserve(bytes);
  uint32_t count = 0;
  for (const auto& write : group) {
    const rocksdb::WriteBatch& batch = Own(*write.batch).batch;
    rep.append(batch.Data(), kHeader, std::string::npos);
    count += batch.Count();
  }
  for (int i = 0; i < 4; ++i) rep[8 + i] = static_cast<char>((count >> (8 * i)) & 0xff);
  rocksdb::WriteBatch combined(std::move(rep));
  return FromRocksDb(db_->Write(write_options, &combined), "write");
}

void RocksDatabase::WriterLoop() {
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync_writes;
  std::vector<PendingWrite> group;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return closing_ || !pending_.empty(); });
      if (pending_.empty() && closing_) return;
      while (!pending_.empty() && group.size() < kMaxBatchesPerGroup) {
        group.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    // Batches made before a Reset are not written: the reset removed what they belong to.
    std::shared_lock reset(reset_mutex_);
    const uint64_t epoch = epoch_.load(std::memory_order_acquire);
    const auto live = std::stable_partition(group.begin(), group.end(), [&](const auto& write) {
      return Own(*write.batch).epoch == epoch;
    });
    for (auto it = live; it != group.end(); ++it) {
      boost::asio::post(it->executor, [done = std::move(it->done)] { done(Stale()); });
    }
    group.erase(live, group.end());
    if (group.empty()) continue;
    // Everything that queued up while the previous group was syncing goes to the WAL now as
    // one write, and one fsync makes the whole group durable: that is what keeps per-message
    // durability cheap under load (one WAL record, one write(2), one memtable pass per group
    // instead of per batch). Each batch stays atomic: the group is.
    std::vector<absl::Status> results(group.size());
    absl::Status combined_status =
        group.size() == 1
            ? FromRocksDb(db_->Write(write_options, &Own(*group[0].batch).batch), "write")
            : WriteCombined(group, write_options);
    if (combined_status.ok() || group.size() == 1) {
      std::fill(results.begin(), results.end(), combined_status);
    } else {
      // The group as a whole was refused: write the batches one by one, so that one bad batch
      // fails alone.
      for (std::size_t i = 0; i < group.size(); ++i) {
        rocksdb::WriteOptions options = write_options;
        options.sync = write_options.sync && i + 1 == group.size();
        results[i] = FromRocksDb(db_->Write(options, &Own(*group[i].batch).batch), "write");
      }
    }
    {
      std::lock_guard lock(mutex_);
      ++groups_;
      batches_ += group.size();
    }
    // A batch is only durable once the group's fsync succeeded. Completions run on the
    // executors their callers named, never on this thread.
    const absl::Status group_status = results.back();
    for (std::size_t i = 0; i < group.size(); ++i) {
      boost::asio::post(group[i].executor,
                        [done = std::move(group[i].done),
                         status = results[i].ok() ? group_status : results[i]] { done(status); });
    }
    group.clear();
  }
}

void RocksDatabase::Close() {
  {
    std::lock_guard lock(mutex_);
    if (closing_ && !writer_.joinable()) return;
    closing_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (db_) db_->FlushWAL(true).PermitUncheckedError();
}

uint64_t RocksDatabase::ApproximateSizeBytes() const {
  uint64_t total = 0;
  for (auto* handle : handles_) {
    uint64_t value = 0;
    if (db_->GetIntProperty(handle, "rocksdb.total-sst-files-size", &value)) total += value;
    if (db_->GetIntProperty(handle, "rocksdb.cur-size-all-mem-tables", &value)) total += value;
  }
  return total;
}

DatabaseStats RocksDatabase::stats() const {
  DatabaseStats stats;
  {
    std::lock_guard lock(mutex_);
    stats.groups_committed = groups_;
    stats.batches_committed = batches_;
  }
  stats.quarantined = quarantined_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace mmsgate::storage
