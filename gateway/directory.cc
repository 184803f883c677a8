#include "gateway/directory.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <mutex>

#include "gateway/sids.h"
#include "mmsgate/errors.h"

namespace mmsgate::gateway {
namespace {

absl::Status Unauthenticated(const std::string& why) {
  return ProviderError(absl::StatusCode::kUnauthenticated, error_codes::kAuthenticationFailed,
                       "Authenticate: " + why +
                           "; send `authorization: Basic base64(AccountSid:AuthToken)`");
}

std::optional<std::string> DecodeBase64(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > 1024) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                               reinterpret_cast<const unsigned char*>(text.data()),
                               static_cast<int>(text.size()));
  if (length < 0) return std::nullopt;
  // EVP_DecodeBlock counts padding as output bytes; drop them.
  if (!text.empty() && text.back() == '=') --length;
  if (text.size() > 1 && text[text.size() - 2] == '=') --length;
  out.resize(static_cast<std::size_t>(length));
  return out;
}

}  // namespace

Directory::Directory(const mmsgate::v1::Scenario& scenario) {
  for (const auto& account : scenario.accounts()) accounts_[account.sid()] = account;
  for (auto number : scenario.numbers()) {
    if (number.sid().empty()) number.set_sid(NewSid("PN"));
    numbers_[number.number()] = number;
  }
}

absl::StatusOr<mmsgate::v1::Account> Directory::Authenticate(
    std::string_view authorization_header) const {
  constexpr std::string_view kBasic = "Basic ";
  if (authorization_header.empty()) return Unauthenticated("no credentials given");
  if (!authorization_header.starts_with(kBasic)) {
    return Unauthenticated("only Basic authentication is supported");
  }
  auto decoded = DecodeBase64(authorization_header.substr(kBasic.size()));
  if (!decoded) return Unauthenticated("the Basic credentials are not valid base64");
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) {
    return Unauthenticated("the Basic credentials must be AccountSid:AuthToken");
  }
  const std::string sid = decoded->substr(0, colon);
  const std::string token = decoded->substr(colon + 1);
  std::shared_lock lock(mutex_);
  auto it = accounts_.find(sid);
  // The same answer for an unknown account and a wrong token, so SIDs cannot be probed.
  if (it == accounts_.end() || it->second.auth_token().size() != token.size() ||
      CRYPTO_memcmp(it->second.auth_token().data(), token.data(), token.size()) != 0) {
    return Unauthenticated("the AccountSid or AuthToken is wrong");
  }
  return it->second;
}

std::optional<mmsgate::v1::Account> Directory::FindAccount(const std::string& sid) const {
  std::shared_lock lock(mutex_);
  auto it = accounts_.find(sid);
  if (it == accounts_.end()) return std::nullopt;
  return it->second;
}

std::optional<mmsgate::v1::Number> Directory::FindNumber(const std::string& number) const {
  std::shared_lock lock(mutex_);
  auto it = numbers_.find(number);
  if (it == numbers_.end()) return std::nullopt;
  return it->second;
}

std::vector<mmsgate::v1::Number> Directory::NumbersOf(const std::string& account_sid) const {
  std::vector<mmsgate::v1::Number> numbers;
  std::shared_lock lock(mutex_);
  for (const auto& [_, number] : numbers_) {
    if (number.account_sid() == account_sid) numbers.push_back(number);
  }
  return numbers;
}

std::vector<mmsgate::v1::Account> Directory::Accounts() const {
  std::vector<mmsgate::v1::Account> accounts;
  std::shared_lock lock(mutex_);
  for (const auto& [_, account] : accounts_) accounts.push_back(account);
  return accounts;
}

void Directory::SetAccountSettings(const std::string& account_sid,
                                   const mmsgate::v1::AccountSettings& settings) {
  std::unique_lock lock(mutex_);
  auto it = accounts_.find(account_sid);
  if (it != accounts_.end()) *it->second.mutable_settings() = settings;
}

}  // namespace mmsgate::gateway
