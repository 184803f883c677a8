#pragma once
// AttemptLog on RocksDatabase. Family attempts: <sid>/<20-digit start ns>/<n> -> WebhookAttempt.

#include <atomic>

#include "gateway/storage/attempt_log.h"
#include "mmsc/storage/rocks_database.h"

namespace mmsgate::gateway {

class RocksAttemptLog final : public AttemptLog {
 public:
  static std::vector<storage::FamilySpec> Families();
  explicit RocksAttemptLog(storage::RocksDatabase& database);

  absl::Status StageAttempt(storage::Batch& batch, const std::string& sid,
                            const mmsgate::v1::WebhookAttempt& attempt) override;
  std::vector<mmsgate::v1::WebhookAttempt> List(const std::string& sid) const override;
  void StageRemoveAll(storage::Batch& batch, const std::string& sid) override;

 private:
  storage::RocksDatabase& database_;
  const storage::RocksDatabase::FamilyId attempts_;
  // Tells apart attempts that started in the same nanosecond.
  std::atomic<uint64_t> counter_{0};
};

}  // namespace mmsgate::gateway
