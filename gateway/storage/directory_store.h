#pragma once
// What the directory changes at run time, kept across restarts: numbers provisioned, updated or
// released, account settings, subscribers' opt-outs, and each account's usage ledger. (The scenario
// is the starting point; these override it.)
//
// Threading (mmsc/storage/database.h): Stage* never block; Load and Usage read the database
// and run at start or on the storage executor.

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "mmsc/storage/database.h"
#include "mmsgate/v1/accounts.pb.h"
#include "mmsgate/v1/scenario.pb.h"

namespace mmsgate::gateway {

struct StoredDirectory {
  // Accounts made at run time (Accounts.CreateAccount), with their auth tokens.
  std::vector<mmsgate::v1::Account> accounts;
  // Provisioned or changed numbers, by number.
  std::map<std::string, mmsgate::v1::Number> numbers;
  // Numbers released (scenario numbers included), so they stay released.
  std::vector<std::string> released;
  std::map<std::string, mmsgate::v1::AccountSettings> settings;
  // Subscribers opted out of a number or a Messaging Service (only those with opted_out set).
  std::vector<mmsgate::v1::OptOut> opt_outs;
  // Messaging Services created or changed, by SID, and those deleted (scenario ones included).
  std::map<std::string, mmsgate::v1::MessagingService> services;
  std::vector<std::string> deleted_services;
  // Sticky senders: "<service sid>/<recipient>" -> the pool number it got first.
  std::map<std::string, std::string> sticky_senders;
};

class DirectoryStore {
 public:
  virtual ~DirectoryStore() = default;

  // What is stored. Records that cannot be read are logged with their key and kept aside in
  // the quarantine family (the scenario's version applies meanwhile).
  [[nodiscard]] virtual StoredDirectory Load() = 0;

  [[nodiscard]] virtual absl::Status StageAccount(storage::Batch& batch,
                                                  const mmsgate::v1::Account& account) = 0;
  [[nodiscard]] virtual absl::Status StageNumber(storage::Batch& batch,
                                                 const mmsgate::v1::Number& number) = 0;
  virtual void StageRelease(storage::Batch& batch, const std::string& number) = 0;
  [[nodiscard]] virtual absl::Status StageSettings(
      storage::Batch& batch, const std::string& account_sid,
      const mmsgate::v1::AccountSettings& settings) = 0;
  [[nodiscard]] virtual absl::Status StageService(storage::Batch& batch,
                                                  const mmsgate::v1::MessagingService& service) = 0;
  virtual void StageServiceDeleted(storage::Batch& batch, const std::string& sid) = 0;
  virtual void StageStickySender(storage::Batch& batch, const std::string& service_sid,
                                 const std::string& recipient, const std::string& sender) = 0;
  // Stores `opt_out` when it is opted out, removes the pair's record when it opted back in. The
  // pair is (messaging_service_sid or number, subscriber).
  [[nodiscard]] virtual absl::Status StageOptOut(storage::Batch& batch,
                                                 const mmsgate::v1::OptOut& opt_out) = 0;
  // Adds to the account's ledger (counters added without reading, so it commits with what it
  // counts).
  virtual void StageUsage(storage::Batch& batch, const std::string& account_sid,
                          const std::string& category, int64_t count, int64_t segments,
                          int64_t price_cents) = 0;
  [[nodiscard]] virtual mmsgate::v1::Usage Usage(const std::string& account_sid) const = 0;
  // Stages the removal of the account's whole ledger (Accounts.ResetAccount). Reads the
  // database: storage executor only.
  virtual void StageUsageCleared(storage::Batch& batch, const std::string& account_sid) = 0;
};

}  // namespace mmsgate::gateway
