#include "mmsc/storage/database.h"

#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <google/protobuf/message.h>

#include "carriers/base/errors.h"
#include "carriers/base/text.h"

namespace mmsgate::mmsc {
namespace {
constexpr const char* kFamilyNames[] = {"messages",   "index", "outbox", "media",
                                        "media_refs", "links", "expiry", "meta",
                                        "attempts", "inbox",  "quarantine"};
static_assert(std::size(kFamilyNames) == static_cast<std::size_t>(Family::kCount));
// Bound on one group commit, so a flood of writers cannot make one write arbitrarily large.
constexpr std::size_t kMaxBatchesPerGroup = 1024;
// Adds signed 64-bit counters (usage ledger): many writers add without reading first.
class CounterAddOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    const int64_t sum = (existing ? Database::DecodeCounter(existing->ToString()) : 0) +
                        Database::DecodeCounter(value.ToString());
    *new_value = Database::EncodeCounter(sum);
    return true;
  }
  const char* Name() const override { return "mmsgate.CounterAdd"; }
};

}  // namespace

std::string Database::EncodeCounter(int64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff);
  return bytes;
}

int64_t Database::DecodeCounter(const std::string& bytes) {
  if (bytes.size() != 8) return 0;
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return static_cast<int64_t>(value);
}

absl::Status FromRocksDb(const rocksdb::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  const std::string text = what + ": " + status.ToString();
  if (status.IsNotFound()) return absl::NotFoundError(text);
  if (status.IsBusy() || status.IsTryAgain() || status.IsTimedOut()) {
    return ProviderError(absl::StatusCode::kUnavailable, error_codes::kStorageFailure, text);
  }
  return ProviderError(absl::StatusCode::kInternal, error_codes::kStorageFailure, text);
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                         DatabaseOptions options) {
  std::unique_ptr<Database> database(new Database(options));

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.max_open_files = options.max_open_files;
  // Concurrent memtable writes let RocksDB's own write group absorb batches from WriteNow.
  db_options.allow_concurrent_memtable_write = true;
  db_options.enable_pipelined_write = true;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const char* name : kFamilyNames) {
    rocksdb::ColumnFamilyOptions cf;
    if (std::string(name) == "media") {
      // Media are large and write-once: BlobDB keeps them out of compactions.
      cf.enable_blob_files = true;
      cf.min_blob_size = options.min_blob_size;
      cf.enable_blob_garbage_collection = true;
    }
    if (std::string(name) == "meta") {
      cf.merge_operator = std::make_shared<CounterAddOperator>();
    }
    descriptors.emplace_back(name, cf);
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
  {
    std::unique_ptr<rocksdb::Iterator> it(
        raw->NewIterator(rocksdb::ReadOptions(), database->family(Family::kQuarantine)));
    uint64_t count = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++count;
    database->quarantined_ = count;
  }
  database->writer_ = std::thread([d = database.get()] { d->WriterLoop(); });
  return database;
}

Database::~Database() {
  Close();
  for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  handles_.clear();
  if (db_) db_->Close().PermitUncheckedError();
}

absl::StatusOr<std::string> Database::Get(Family f, const std::string& key) const {
  std::string value;
  rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), family(f), key, &value);
  if (!status.ok()) return FromRocksDb(status, "read " + std::string(kFamilyNames[int(f)]));
  return value;
}

const char* Database::FamilyName(Family f) { return kFamilyNames[static_cast<std::size_t>(f)]; }

absl::Status Database::Quarantine(Family from, const std::string& key) {
  auto value = Get(from, key);
  if (!value.ok()) return value.status();
  rocksdb::WriteBatch batch;
  batch.Put(family(Family::kQuarantine), std::string(FamilyName(from)) + "/" + key, *value)
      .PermitUncheckedError();
  batch.Delete(family(from), key).PermitUncheckedError();
  if (auto status = WriteNow(std::move(batch)); !status.ok()) return status;
  quarantined_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Database::EncodeRecord(const google::protobuf::Message& record,
                                                   std::string_view what) {
  if (auto field = FindInvalidUtf8Field(record)) {
    return ProviderError(absl::StatusCode::kInternal, error_codes::kStorageFailure,
                         std::string(what) + " was not stored: its field " + *field +
                             " is not valid UTF-8, so it could not be read back (an entry point "
                             "let bad text through; please report this)");
  }
  return record.SerializeAsString();
}

absl::Status Database::WriteNow(rocksdb::WriteBatch batch) {
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync_writes;
  return FromRocksDb(db_->Write(write_options, &batch), "write");
}

void Database::Write(rocksdb::WriteBatch batch, std::function<void(absl::Status)> done) {
  bool accepted = false;
  {
    std::lock_guard lock(mutex_);
    if (!closing_) {
      pending_.push_back({std::move(batch), std::move(done)});
      accepted = true;
    }
  }
  if (!accepted) {
    done(ProviderError(absl::StatusCode::kUnavailable, error_codes::kStorageFailure,
                       "the store is shutting down; retry against the restarted gateway"));
    return;
  }
  wake_.notify_one();
}

void Database::WriterLoop() {
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
    // Everything that queued up while the previous group was syncing goes to the WAL now, and
    // one fsync (the last write's) makes the whole group durable: that is what keeps
    // per-message durability cheap under load. Each batch stays atomic on its own.
    std::vector<absl::Status> results;
    results.reserve(group.size());
    for (std::size_t i = 0; i < group.size(); ++i) {
      rocksdb::WriteOptions options = write_options;
      options.sync = write_options.sync && i + 1 == group.size();
      results.push_back(FromRocksDb(db_->Write(options, &group[i].batch), "write"));
    }
    {
      std::lock_guard lock(mutex_);
      ++groups_;
      batches_ += group.size();
    }
    // A batch is only durable once the group's fsync succeeded.
    const absl::Status& group_status = results.back();
    for (std::size_t i = 0; i < group.size(); ++i) {
      group[i].done(results[i].ok() ? group_status : results[i]);
    }
    group.clear();
  }
}

void Database::Close() {
  {
    std::lock_guard lock(mutex_);
    if (closing_ && !writer_.joinable()) return;
    closing_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (db_) db_->FlushWAL(true).PermitUncheckedError();
}

uint64_t Database::groups_committed() const {
  std::lock_guard lock(mutex_);
  return groups_;
}

uint64_t Database::batches_committed() const {
  std::lock_guard lock(mutex_);
  return batches_;
}

}  // namespace mmsgate::mmsc
