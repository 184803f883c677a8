#pragma once
// The storage layer's foundation: an atomic, durable unit of work (Batch) and the database that
// commits it (Database), grouped with concurrent commits.
//
// Stores (mmsc/storage/media_store.h, gateway/storage/*) each declare their column families,
// key layout and record format, and add their writes to a Batch with their own Stage methods.
// One Batch may carry writes of several stores, so that a message, its media and its outbox
// entry become durable together or not at all. A Batch belongs to the Database that made it,
// and only stores of that Database may stage into it.
//
// Threading rule (the same for every store): staging never blocks and may run on any thread;
// Commit never blocks its caller and completes on the executor the caller names; reads and
// CommitNow block and run only on the storage executor (a thread pool kept for that), never on
// an io_context or gRPC callback thread.

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace mmsgate::storage {

// How a family is used, so the database can tune it (RocksDB options are the database's
// business, not the store's).
enum class FamilyKind {
  kRecords,   // point lookups of records by key
  kIndex,     // ordered keys read by prefix scans; small or empty values
  kBlobs,     // large write-once values (media): kept out of compactions
  kCounters,  // 8-byte signed counters that AddCounter adds to without reading
};

struct FamilySpec {
  std::string name;
  FamilyKind kind = FamilyKind::kRecords;
};

// An atomic set of writes, filled by stores and committed once.
class Batch {
 public:
  virtual ~Batch() = default;
  // Writes staged so far.
  [[nodiscard]] virtual std::size_t size() const = 0;
};

struct DatabaseStats {
  uint64_t groups_committed = 0;   // group commits (one fsync each when durable)
  uint64_t batches_committed = 0;  // batches in those groups
  uint64_t quarantined = 0;        // records kept aside because they could not be read
};

class Database {
 public:
  using Done = std::function<void(absl::Status)>;

  virtual ~Database() = default;

  [[nodiscard]] virtual std::unique_ptr<Batch> NewBatch() = 0;

  // Applies `batch` atomically (and durably, unless the database was opened without sync),
  // grouped with concurrent commits into one write; then posts `done` to `executor`. Never
  // blocks the caller. After Close, `done` gets Unavailable (30500) and nothing is written.
  virtual void Commit(std::unique_ptr<Batch> batch, boost::asio::any_io_executor executor,
                      Done done) = 0;

  // The same, waiting for the result. Blocks: storage executor (or start-up) only.
  [[nodiscard]] virtual absl::Status CommitNow(std::unique_ptr<Batch> batch) = 0;

  // Finishes every commit already queued, then refuses new ones. Idempotent.
  virtual void Close() = 0;

  [[nodiscard]] virtual DatabaseStats stats() const = 0;
};

// The bytes to store for `record`. kInternal with code 30500, naming `what` and the field, when
// a string field is not valid UTF-8: protobuf would write such a record but never parse it
// again, so it must not be committed. Every entry point validates text first; this is the last
// line that keeps an acknowledged record readable.
[[nodiscard]] absl::StatusOr<std::string> EncodeRecord(const google::protobuf::Message& record,
                                                       std::string_view what);

// 8-byte little-endian signed counters, as kCounters families hold them.
[[nodiscard]] std::string EncodeCounter(int64_t value);
[[nodiscard]] int64_t DecodeCounter(std::string_view bytes);

}  // namespace mmsgate::storage
