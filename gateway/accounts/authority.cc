#include "gateway/accounts/authority.h"

#include "carriers/base/crypto.h"
#include "carriers/base/errors.h"

namespace mmsgate::gateway {

bool Authority::IsAdmin(std::string_view presented) const {
  return !admin_token_.empty() && ConstantTimeEquals(presented, admin_token_);
}

absl::Status Authority::AuthorizeCarrierControl(std::string_view presented) const {
  if (admin_token_.empty()) {
    const std::size_t accounts = directory_.scenario_account_count();
    if (accounts <= 1) return absl::OkStatus();
    return ProviderError(
        absl::StatusCode::kPermissionDenied, error_codes::kAuthenticationFailed,
        std::to_string(accounts) +
            " scenario accounts share this gateway, so carrier control needs the admin token: "
            "start "
            "mmsgate with --admin-token (or --admin-token-file, or MMSGATE_ADMIN_TOKEN) and send "
            "it as x-admin-token");
  }
  if (IsAdmin(presented)) return absl::OkStatus();
  return ProviderError(absl::StatusCode::kPermissionDenied, error_codes::kAuthenticationFailed,
                       "carrier control needs the x-admin-token this gateway was started with");
}

absl::Status Authority::AuthorizeAccountCreation(std::string_view presented) const {
  if (admin_token_.empty() || IsAdmin(presented)) return absl::OkStatus();
  return ProviderError(absl::StatusCode::kPermissionDenied, error_codes::kAuthenticationFailed,
                       "creating an account needs the x-admin-token (REST: X-Admin-Token) this "
                       "gateway was started with");
}

absl::Status Authority::AuthorizeAccountChange(std::string_view presented) const {
  if (admin_token_.empty() || IsAdmin(presented)) return absl::OkStatus();
  return ProviderError(absl::StatusCode::kPermissionDenied, error_codes::kAuthenticationFailed,
                       "changing an account's settings or numbers needs the x-admin-token "
                       "(REST: X-Admin-Token) this gateway was started with");
}

bool Authority::SeesAllHandsets(std::string_view presented) const {
  if (IsAdmin(presented)) return true;
  return admin_token_.empty() && directory_.Accounts().size() <= 1;
}

}  // namespace mmsgate::gateway
