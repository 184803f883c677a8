#pragma once
// Who may do what, decided in one place for every entry point (gRPC, REST, media links).
//
// An account's credentials reach that account's own data. The admin token (--admin-token) is
// what shared state needs:
//   * Carrier control (UpsertCarrier, SetCarrierFault, SetOutcomeRules, SetApiChaos, Reset)
//     changes what every account sees. With an admin token configured it needs that token;
//     without one it is open only while the scenario has a single account (a personal gateway),
//     since with several one account's test would fault another's carriers. Accounts made at
//     run time (CreateAccount) do not count: whoever runs an open gateway made them.
//   * CreateAccount needs no account: the admin token when one is configured, else nothing.
//   * Account changes (settings, provisioning, number webhooks, releases) need the admin token
//     when one is configured, as --help says; otherwise the account's credentials suffice.
//   * Handsets are shared by every account. SendFromHandset and GetHandsetInbox reach every
//     number and every entry for the admin, or when the gateway has a single account; otherwise
//     only the caller's own numbers and the messages the caller sent.
// The token is compared in constant time.
//
// Threading: every method may be called from any thread (the Directory locks itself).

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gateway/accounts/directory.h"

namespace mmsgate::gateway {

class Authority {
 public:
  // Where the admin token travels: the gRPC metadata key and the HTTP header.
  static constexpr const char* kGrpcMetadataKey = "x-admin-token";
  static constexpr const char* kHttpHeader = "X-Admin-Token";

  Authority(const Directory& directory, std::string admin_token)
      : directory_(directory), admin_token_(std::move(admin_token)) {}

  // True when `presented` is the configured admin token (never when none is configured).
  [[nodiscard]] bool IsAdmin(std::string_view presented) const;

  // PERMISSION_DENIED (20003) with what to do, or OK.
  [[nodiscard]] absl::Status AuthorizeCarrierControl(std::string_view presented) const;
  [[nodiscard]] absl::Status AuthorizeAccountChange(std::string_view presented) const;
  [[nodiscard]] absl::Status AuthorizeAccountCreation(std::string_view presented) const;

  // True when the caller sees every handset and every inbox entry; false: only its own.
  [[nodiscard]] bool SeesAllHandsets(std::string_view presented) const;

 private:
  const Directory& directory_;
  const std::string admin_token_;
};

}  // namespace mmsgate::gateway
