#pragma once
// Accounts and provider numbers, loaded from the scenario.
//
// Thread-safe: lookups take a shared lock and return copies, so the Accounts service can change
// numbers and settings while messages are admitted.

#include <map>
#include <optional>
#include <shared_mutex>
#include <string>

#include "absl/status/statusor.h"
#include "mmsgate/v1/scenario.pb.h"

namespace mmsgate::gateway {

class Directory {
 public:
  explicit Directory(const mmsgate::v1::Scenario& scenario);

  // The account whose credentials an `authorization: Basic …` header carries. Unauthenticated
  // (code 20003) when the header is missing, malformed or the token is wrong.
  [[nodiscard]] absl::StatusOr<mmsgate::v1::Account> Authenticate(
      std::string_view authorization_header) const;

  std::optional<mmsgate::v1::Account> FindAccount(const std::string& sid) const;
  std::optional<mmsgate::v1::Number> FindNumber(const std::string& number) const;
  std::vector<mmsgate::v1::Number> NumbersOf(const std::string& account_sid) const;
  std::vector<mmsgate::v1::Account> Accounts() const;

  void SetAccountSettings(const std::string& account_sid,
                          const mmsgate::v1::AccountSettings& settings);

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, mmsgate::v1::Account, std::less<>> accounts_;
  std::map<std::string, mmsgate::v1::Number, std::less<>> numbers_;
};

}  // namespace mmsgate::gateway
