#pragma once
// A Database that keeps nothing on disk, for unit tests: a batch is a list of changes the
// in-memory stores (tests/fakes/in_memory_stores.h) staged into it, applied all at once under one
// lock when committed. Tests can make commits fail, to see what a component does then.

#include <boost/asio/post.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "carriers/base/errors.h"
#include "mmsc/storage/database.h"

namespace mmsgate::testing {

class InMemoryDatabase final : public storage::Database {
 public:
  class Batch final : public storage::Batch {
   public:
    std::size_t size() const override { return changes.size(); }
    std::vector<std::function<void()>> changes;
  };

  // The batch of this database that a store stages into.
  static Batch& Own(storage::Batch& batch) { return static_cast<Batch&>(batch); }

  std::unique_ptr<storage::Batch> NewBatch() override { return std::make_unique<Batch>(); }

  void Commit(std::unique_ptr<storage::Batch> batch, boost::asio::any_io_executor executor,
              Done done) override {
    const absl::Status status = Apply(std::move(batch));
    boost::asio::post(executor, [done = std::move(done), status] { done(status); });
  }

  absl::Status CommitNow(std::unique_ptr<storage::Batch> batch) override {
    return Apply(std::move(batch));
  }

  void Close() override {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }

  storage::DatabaseStats stats() const override {
    std::lock_guard lock(mutex_);
    return stats_;
  }

  // The next `count` commits fail (30500) and change nothing.
  void FailNextCommits(int count) {
    std::lock_guard lock(mutex_);
    failures_ = count;
  }

  // Held while a batch is applied; the in-memory stores take it for their reads too, so a read
  // never sees half a batch.
  std::mutex& mutex() const { return mutex_; }

 private:
  absl::Status Apply(std::unique_ptr<storage::Batch> batch) {
    std::lock_guard lock(mutex_);
    if (closed_ || failures_ > 0) {
      if (failures_ > 0) --failures_;
      return ProviderError(absl::StatusCode::kUnavailable, error_codes::kStorageFailure,
                           "the in-memory store was told to fail this commit");
    }
    for (auto& change : Own(*batch).changes) change();
    ++stats_.groups_committed;
    ++stats_.batches_committed;
    return absl::OkStatus();
  }

  mutable std::mutex mutex_;
  bool closed_ = false;
  int failures_ = 0;
  storage::DatabaseStats stats_;
};

}  // namespace mmsgate::testing
