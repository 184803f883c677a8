#pragma once
// Accounts, provider numbers and the usage ledger.
//
// Thread-safe: lookups take a shared lock for a map lookup and return copies, so the Accounts
// service can change numbers and settings while messages are admitted. The scenario gives the
// starting state; changes made at run time (provisioned, updated, released numbers; settings;
// fees) are kept by a DirectoryStore and applied over the scenario at the next start, so they
// survive restarts on the same data directory.
//
// Threading rule: lookups never block. Changes commit to the database and block until the commit
// is durable, so they run on the storage executor only; no lock is held while they wait, so
// admission's lookups never stall behind an fsync. Two changes of the same number (or account's
// settings) at once: the second is refused with Aborted, retry.

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/storage/directory_store.h"
#include "mmsc/storage/database.h"
#include "mmsgate/v1/accounts.pb.h"
#include "mmsgate/v1/scenario.pb.h"

namespace mmsgate::gateway {

// One-time fee for adding MMS to a US short code, in US cents (recorded on the usage ledger).
inline constexpr int64_t kShortCodeMmsFeeCents = 50000;

class Directory {
 public:
  // Loads what `store` kept over the scenario (blocking: call at start).
  Directory(const mmsgate::v1::Scenario& scenario, storage::Database& database,
            DirectoryStore& store);

  // The account whose credentials an `authorization: Basic …` header carries. Unauthenticated
  // (code 20003) when the header is missing, malformed or the token is wrong.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Account> Authenticate(
      std::string_view authorization_header) const;
  // The same for an AccountSid and AuthToken given separately (REST facade).
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Account> AuthenticateCredentials(
      const std::string& account_sid, const std::string& auth_token) const;

  std::optional<mmsgate::v1::Account> FindAccount(const std::string& sid) const;
  std::optional<mmsgate::v1::Number> FindNumber(const std::string& number) const;
  std::vector<mmsgate::v1::Number> NumbersOf(const std::string& account_sid) const;
  std::vector<mmsgate::v1::Account> Accounts() const;

  // Back to the scenario's accounts, numbers, settings, services and no opt-outs, after the
  // database was emptied (Simulator.Reset). Answers how many accounts made at run time are gone.
  // Blocking (storage executor).
  std::size_t ResetToScenario();

  // Removes the account's opt-outs and usage ledger (Accounts.ResetAccount); its numbers,
  // settings and services stay. Blocking (storage executor).
  [[nodiscard]] absl::Status ClearAccountData(const std::string& account_sid);

  // Accounts the scenario names (those CreateAccount made are not counted).
  [[nodiscard]] std::size_t scenario_account_count() const { return scenario_accounts_; }

  // A new account with a new SID and auth token, persisted; with `provision_defaults` also a US
  // long code with SMS and MMS from the scenario's number_pool or the built-in range (+1 NXX
  // 555-01XX). Blocking (storage executor). 21200 for a friendly name that is not UTF-8 or over
  // 64 characters; 21422 when the pool has no free number left.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::CreateAccountResponse> CreateAccount(
      const std::string& friendly_name, bool provision_defaults);

  [[nodiscard]] absl::StatusOr<mmsgate::v1::Account> SetAccountSettings(
      const std::string& account_sid, const mmsgate::v1::AccountSettings& settings);

  // Adds a number to the account. Refuses a number that exists (21422), an invalid one, and MMS
  // where rule 1 forbids it (21200, naming the rule).
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Number> Provision(const std::string& account_sid,
                                                              mmsgate::v1::Number number);
  // Sets sms_url and status_callback (empty clears). NotFound unless the account owns it.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Number> UpdateWebhooks(
      const std::string& account_sid, const std::string& number, const std::string& sms_url,
      const std::string& status_callback);
  // Adds MMS to a US short code and records the one-time fee. FailedPrecondition for anything
  // but a US short code; a code that has MMS already is returned unchanged, with no new fee.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Number> EnableShortCodeMms(
      const std::string& account_sid, const std::string& number);
  [[nodiscard]] absl::Status Release(const std::string& account_sid, const std::string& number);

  // Opt-outs: subscribers who texted STOP to a long code (or were opted out by SetOptOut) and
  // must not be sent to from it. IsOptedOut runs for every send: without any opt-out it takes
  // no lock.
  [[nodiscard]] bool IsOptedOut(const std::string& number, const std::string& subscriber) const;
  // The account's opt-outs, by number then subscriber; empty filters match all.
  [[nodiscard]] std::vector<mmsgate::v1::OptOut> OptOutsOf(const std::string& account_sid,
                                                           const std::string& number,
                                                           const std::string& subscriber) const;
  // Opts `subscriber` out of (or back in to) `number`, recording `keyword` and `now_ns`
  // (simulation clock). Blocking (storage executor). Refuses a number the account does not own
  // (NotFound 20404), a short code (FailedPrecondition 21200: the application handles keywords)
  // and a subscriber that is not a valid phone number (21200).
  // With `service_sid` (and no number) the opt-out covers the whole Messaging Service.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::OptOut> SetOptOut(
      const std::string& account_sid, const std::string& number, const std::string& service_sid,
      const std::string& subscriber, bool opted_out, const std::string& keyword, int64_t now_ns);
  // For an opt-out that commits with another write (an inbound STOP with its message): adds it
  // to `batch`; ApplyOptOut once the batch is durable. Never blocks.
  [[nodiscard]] absl::Status StageOptOut(storage::Batch& batch,
                                         const mmsgate::v1::OptOut& opt_out) const;
  void ApplyOptOut(const mmsgate::v1::OptOut& opt_out);

  // Messaging Services: pools of an account's numbers that send for the application. A number
  // is in at most one pool. Lookups never block; changes block like number changes.
  [[nodiscard]] std::optional<mmsgate::v1::MessagingService> FindService(
      const std::string& sid) const;
  [[nodiscard]] std::vector<mmsgate::v1::MessagingService> ServicesOf(
      const std::string& account_sid) const;
  // The service whose pool holds `number`, if any.
  [[nodiscard]] std::optional<mmsgate::v1::MessagingService> ServiceOfNumber(
      const std::string& number) const;
  // Creates a service (a new "MG" SID when none is given). Refuses numbers the account does not
  // have (NotFound 20404), numbers in another service (AlreadyExists 21200), bad URLs (21200).
  [[nodiscard]] absl::StatusOr<mmsgate::v1::MessagingService> CreateService(
      const std::string& account_sid, mmsgate::v1::MessagingService service);
  [[nodiscard]] absl::StatusOr<mmsgate::v1::MessagingService> AddServiceNumber(
      const std::string& account_sid, const std::string& sid, const std::string& number);
  [[nodiscard]] absl::StatusOr<mmsgate::v1::MessagingService> RemoveServiceNumber(
      const std::string& account_sid, const std::string& sid, const std::string& number);
  [[nodiscard]] absl::Status DeleteService(const std::string& account_sid, const std::string& sid);

  struct PickedSender {
    std::string number;
    // A sticky service's first sender for this recipient: stage it (StageStickySender) with
    // the message, so it is kept across restarts.
    bool new_sticky = false;
  };
  // The sender for a message to `to` (E.164, `region` its country; both empty when To is not
  // a valid number) from `service`'s pool: with sticky_sender, the one the recipient got
  // before; otherwise a number of the recipient's country and US/Canadian area code, then of
  // its country, then any. `needs_mms`: only MMS-capable numbers. FailedPrecondition 21704 for
  // an empty pool, 21621 when no number of it can send MMS.
  [[nodiscard]] absl::StatusOr<PickedSender> PickSender(
      const mmsgate::v1::MessagingService& service, const std::string& to,
      const std::string& region, bool needs_mms);
  void StageStickySender(storage::Batch& batch, const std::string& service_sid,
                         const std::string& recipient, const std::string& sender) const;

  // The usage ledger of an account. Blocking (storage executor).
  mmsgate::v1::Usage Usage(const std::string& account_sid) const;
  // Adds to `batch` a usage record, so it commits with what it counts.
  void StageUsage(storage::Batch& batch, const std::string& account_sid,
                  const std::string& category, int64_t count, int64_t segments,
                  int64_t price_cents) const;

 private:
  // Marks `key` (a number, or "settings/<account>") as being changed; false when it already is.
  bool BeginChange(const std::string& key);
  absl::Status ChangeInProgress(const std::string& what) const;
  // Ends the change of `key` begun with BeginChange: commits `batch` (unless staging it already
  // failed: `staged`), then, under the lock, releases `key` and, if the commit succeeded, runs
  // `apply` to change the maps. Called without mutex_ held; the fsync happens outside the lock.
  absl::Status FinishChange(const std::string& key, absl::Status staged,
                            std::unique_ptr<storage::Batch> batch,
                            const std::function<void()>& apply);

  // Fills the maps from the scenario and what the store kept. mutex_ held.
  void LoadLocked(const StoredDirectory& stored);
  // The first free number of the default pool. mutex_ held.
  std::optional<std::string> FreeDefaultNumberLocked() const;

  storage::Database& database_;
  DirectoryStore& store_;
  const mmsgate::v1::Scenario scenario_;
  std::size_t scenario_accounts_ = 0;
  std::vector<std::string> number_pool_;  // the scenario's number_pool
  mutable std::shared_mutex mutex_;
  std::map<std::string, mmsgate::v1::Account, std::less<>> accounts_;
  std::map<std::string, mmsgate::v1::Number, std::less<>> numbers_;
  // Ends a service change begun with BeginChange("service/<sid>").
  absl::StatusOr<mmsgate::v1::MessagingService> CommitService(
      const mmsgate::v1::MessagingService& service);
  absl::Status ServiceNotFound(const std::string& sid, const std::string& account_sid) const;
  // The account's service `sid`, or nullptr (another account's answers the same). mutex_ held.
  const mmsgate::v1::MessagingService* OwnedServiceLocked(const std::string& account_sid,
                                                          const std::string& sid) const;
  // Records an opt-out (or its end) in memory. mutex_ held.
  void ApplyOptOutLocked(const mmsgate::v1::OptOut& opt_out);
  // The opt-out scope of a number: its service's SID, or itself. mutex_ held.
  const std::string& OptOutScopeLocked(const std::string& number) const;

  std::map<std::string, mmsgate::v1::MessagingService, std::less<>> services_;
  std::map<std::string, std::string, std::less<>> service_of_number_;  // number -> MG sid
  std::map<std::string, std::string, std::less<>> sticky_senders_;     // "<MG>/<to>" -> number
  std::atomic<uint64_t> next_pick_{0};
  // By "<number or service sid>/<subscriber>", only pairs opted out.
  std::map<std::string, mmsgate::v1::OptOut, std::less<>> opt_outs_;
  std::atomic<std::size_t> opt_out_count_{0};  // opt_outs_.size(), read without the lock
  std::set<std::string> changing_;             // guarded by mutex_
};

}  // namespace mmsgate::gateway
