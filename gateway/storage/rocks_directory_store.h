#pragma once
// DirectoryStore on RocksDatabase.
//
// Families: numbers   <number> -> mmsgate.v1.Number, or "" once released
//           settings  <account sid> -> mmsgate.v1.AccountSettings
//           opt_outs  <number or service sid>/<subscriber> -> mmsgate.v1.OptOut (only while
//                     opted out)
//           services  <MG sid> -> mmsgate.v1.MessagingService, or "" once deleted
//           sticky_senders  <MG sid>/<recipient> -> the sender number
//           usage     <account>/<category>/<count|segments|price_cents> -> counter (kCounters)
// Numbers and settings are stored as the scenario describes them: they are configuration.

#include "gateway/storage/directory_store.h"
#include "mmsc/storage/rocks_database.h"

namespace mmsgate::gateway {

class RocksDirectoryStore final : public DirectoryStore {
 public:
  static std::vector<storage::FamilySpec> Families();
  explicit RocksDirectoryStore(storage::RocksDatabase& database);

  StoredDirectory Load() override;
  absl::Status StageAccount(storage::Batch& batch, const mmsgate::v1::Account& account) override;
  absl::Status StageNumber(storage::Batch& batch, const mmsgate::v1::Number& number) override;
  void StageRelease(storage::Batch& batch, const std::string& number) override;
  absl::Status StageSettings(storage::Batch& batch, const std::string& account_sid,
                             const mmsgate::v1::AccountSettings& settings) override;
  absl::Status StageOptOut(storage::Batch& batch, const mmsgate::v1::OptOut& opt_out) override;
  absl::Status StageService(storage::Batch& batch,
                            const mmsgate::v1::MessagingService& service) override;
  void StageServiceDeleted(storage::Batch& batch, const std::string& sid) override;
  void StageStickySender(storage::Batch& batch, const std::string& service_sid,
                         const std::string& recipient, const std::string& sender) override;
  void StageUsage(storage::Batch& batch, const std::string& account_sid,
                  const std::string& category, int64_t count, int64_t segments,
                  int64_t price_cents) override;
  mmsgate::v1::Usage Usage(const std::string& account_sid) const override;
  void StageUsageCleared(storage::Batch& batch, const std::string& account_sid) override;

 private:
  storage::RocksDatabase& database_;
  const storage::RocksDatabase::FamilyId accounts_, numbers_, settings_, opt_outs_, services_,
      sticky_, usage_;
};

}  // namespace mmsgate::gateway
