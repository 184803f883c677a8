#include "gateway/accounts/directory.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>

#include "carriers/base/crypto.h"
#include "carriers/base/encoding.h"
#include "carriers/base/errors.h"
#include "carriers/base/sids.h"
#include "carriers/base/text.h"
#include "carriers/phone_numbers.h"
#include "gateway/config/scenario.h"
#include "gateway/core/rules.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;

absl::Status Unauthenticated(const std::string& why) {
  return ProviderError(
      absl::StatusCode::kUnauthenticated, error_codes::kAuthenticationFailed,
      "Authenticate: " + why + "; send `authorization: Basic base64(AccountSid:AuthToken)`");
}

std::optional<std::string> DecodeBase64(std::string_view text) {
  if (text.size() > 1024) return std::nullopt;
  auto decoded = Base64Decode(text);
  if (!decoded.ok()) return std::nullopt;
  return *decoded;
}

absl::Status NumberNotFound(const std::string& number, const std::string& account_sid) {
  return ProviderError(
      absl::StatusCode::kNotFound, error_codes::kNotFound,
      "number \"" + number.substr(0, 40) + "\" is not a number of account " + account_sid);
}

// Keys of changes in progress (BeginChange).
std::string SettingsKey(const std::string& account_sid) { return "settings/" + account_sid; }

std::string OptOutKey(const std::string& number, const std::string& subscriber) {
  return number + "/" + subscriber;
}

}  // namespace

Directory::Directory(const v1::Scenario& scenario, storage::Database& database,
                     DirectoryStore& store)
    : database_(database), store_(store) {
  for (const auto& account : scenario.accounts()) accounts_[account.sid()] = account;
  for (auto number : scenario.numbers()) {
    if (number.sid().empty()) number.set_sid(NewSid("PN"));
    numbers_[number.number()] = number;
  }
  const StoredDirectory stored = store_.Load();
  for (const auto& number : stored.released) numbers_.erase(number);
  for (const auto& [key, number] : stored.numbers) {
    if (accounts_.contains(number.account_sid())) numbers_[key] = number;
  }
  for (const auto& [sid, settings] : stored.settings) {
    if (auto account = accounts_.find(sid); account != accounts_.end()) {
      *account->second.mutable_settings() = settings;
    }
  }
  for (const auto& opt_out : stored.opt_outs) {
    opt_outs_[OptOutKey(opt_out.number(), opt_out.subscriber())] = opt_out;
  }
  opt_out_count_ = opt_outs_.size();
}

bool Directory::BeginChange(const std::string& key) {
  // mutex_ held by the caller.
  return changing_.insert(key).second;
}

absl::Status Directory::FinishChange(const std::string& key, absl::Status staged,
                                     std::unique_ptr<storage::Batch> batch,
                                     const std::function<void()>& apply) {
  if (staged.ok()) staged = database_.CommitNow(std::move(batch));
  std::unique_lock lock(mutex_);
  changing_.erase(key);
  if (staged.ok()) apply();
  return staged;
}

absl::Status Directory::ChangeInProgress(const std::string& what) const {
  return ProviderError(absl::StatusCode::kAborted, error_codes::kInvalidParameter,
                       what + " is being changed by another request; retry");
}

absl::StatusOr<v1::Account> Directory::Authenticate(std::string_view authorization_header) const {
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
  return AuthenticateCredentials(decoded->substr(0, colon), decoded->substr(colon + 1));
}

absl::StatusOr<v1::Account> Directory::AuthenticateCredentials(
    const std::string& account_sid, const std::string& auth_token) const {
  std::shared_lock lock(mutex_);
  auto it = accounts_.find(account_sid);
  // The same answer for an unknown account and a wrong token, so SIDs cannot be probed.
  if (it == accounts_.end() || !ConstantTimeEquals(it->second.auth_token(), auth_token)) {
    return Unauthenticated("the AccountSid or AuthToken is wrong");
  }
  return it->second;
}

std::optional<v1::Account> Directory::FindAccount(const std::string& sid) const {
  std::shared_lock lock(mutex_);
  auto it = accounts_.find(sid);
  if (it == accounts_.end()) return std::nullopt;
  return it->second;
}

std::optional<v1::Number> Directory::FindNumber(const std::string& number) const {
  std::shared_lock lock(mutex_);
  auto it = numbers_.find(number);
  if (it == numbers_.end()) return std::nullopt;
  return it->second;
}

std::vector<v1::Number> Directory::NumbersOf(const std::string& account_sid) const {
  std::vector<v1::Number> numbers;
  std::shared_lock lock(mutex_);
  for (const auto& [_, number] : numbers_) {
    if (number.account_sid() == account_sid) numbers.push_back(number);
  }
  return numbers;
}

std::vector<v1::Account> Directory::Accounts() const {
  std::vector<v1::Account> accounts;
  std::shared_lock lock(mutex_);
  for (const auto& [_, account] : accounts_) accounts.push_back(account);
  return accounts;
}

absl::StatusOr<v1::Account> Directory::SetAccountSettings(const std::string& account_sid,
                                                          const v1::AccountSettings& settings) {
  const std::string key = SettingsKey(account_sid);
  {
    std::unique_lock lock(mutex_);
    if (!accounts_.contains(account_sid)) {
      return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                           "account " + account_sid + " was not found");
    }
    if (!BeginChange(key)) return ChangeInProgress("the settings of " + account_sid);
  }
  // The commit waits for the fsync without any lock held.
  auto batch = database_.NewBatch();
  absl::Status staged = store_.StageSettings(*batch, account_sid, settings);
  v1::Account changed;
  absl::Status status = FinishChange(key, std::move(staged), std::move(batch), [&] {
    auto& account = accounts_.at(account_sid);
    *account.mutable_settings() = settings;
    changed = account;
  });
  if (!status.ok()) return status;
  return changed;
}

absl::StatusOr<v1::Number> Directory::Provision(const std::string& account_sid, v1::Number number) {
  number.set_account_sid(account_sid);
  if (number.sid().empty()) number.set_sid(NewSid("PN"));
  if (number.type() == v1::NUMBER_TYPE_UNSPECIFIED) number.set_type(v1::LONG_CODE);
  if (!number.has_capabilities()) number.mutable_capabilities()->set_sms(true);
  if (number.country().empty() && number.type() != v1::SHORT_CODE) {
    // The country follows from the digits; a short code needs it given.
    auto parsed = carriers::ParseValidNumber(number.number());
    if (parsed) number.set_country(parsed->region);
  }
  if (auto status = ValidateNumber(number); !status.ok()) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                         std::string(status.message()));
  }
  {
    std::unique_lock lock(mutex_);
    if (numbers_.contains(number.number())) {
      return ProviderError(absl::StatusCode::kAlreadyExists, error_codes::kNumberUnavailable,
                           "number " + number.number() + " is already provisioned");
    }
    for (const auto& [_, existing] : numbers_) {
      if (existing.sid() == number.sid()) {
        return ProviderError(absl::StatusCode::kAlreadyExists, error_codes::kInvalidParameter,
                             "sid " + number.sid() + " already names number " + existing.number() +
                                 "; leave sid empty to get a new one");
      }
    }
    if (!BeginChange(number.number())) return ChangeInProgress("number " + number.number());
  }
  auto batch = database_.NewBatch();
  absl::Status staged = store_.StageNumber(*batch, number);
  if (number.type() == v1::SHORT_CODE && number.capabilities().mms()) {
    // A short code provisioned with MMS pays the enablement fee, as EnableShortCodeMms does, in
    // the same write.
    store_.StageUsage(*batch, account_sid, "shortcode-mms-enablement", 1, 0, kShortCodeMmsFeeCents);
  }
  absl::Status status = FinishChange(number.number(), std::move(staged), std::move(batch),
                                     [&] { numbers_[number.number()] = number; });
  if (!status.ok()) return status;
  return number;
}

absl::StatusOr<v1::Number> Directory::UpdateWebhooks(const std::string& account_sid,
                                                     const std::string& number,
                                                     const std::string& sms_url,
                                                     const std::string& status_callback) {
  for (const auto& [field, url] :
       {std::pair{"sms_url", &sms_url}, std::pair{"status_callback", &status_callback}}) {
    if (auto status = CheckCallbackUrl(field, *url, error_codes::kInvalidParameter); !status.ok()) {
      return status;
    }
  }
  v1::Number updated;
  {
    std::unique_lock lock(mutex_);
    auto it = numbers_.find(number);
    if (it == numbers_.end() || it->second.account_sid() != account_sid) {
      return NumberNotFound(number, account_sid);
    }
    if (!BeginChange(number)) return ChangeInProgress("number " + number);
    updated = it->second;
  }
  updated.set_sms_url(sms_url);
  updated.set_status_callback(status_callback);
  auto batch = database_.NewBatch();
  absl::Status staged = store_.StageNumber(*batch, updated);
  absl::Status status = FinishChange(number, std::move(staged), std::move(batch),
                                     [&] { numbers_[number] = updated; });
  if (!status.ok()) return status;
  return updated;
}

absl::StatusOr<v1::Number> Directory::EnableShortCodeMms(const std::string& account_sid,
                                                         const std::string& number) {
  v1::Number updated;
  {
    std::unique_lock lock(mutex_);
    auto it = numbers_.find(number);
    if (it == numbers_.end() || it->second.account_sid() != account_sid) {
      return NumberNotFound(number, account_sid);
    }
    if (it->second.type() != v1::SHORT_CODE || it->second.country() != "US") {
      return ProviderError(absl::StatusCode::kFailedPrecondition, error_codes::kInvalidParameter,
                           "MMS can be added only to US short codes; " + number + " is a " +
                               it->second.country() + " " + v1::NumberType_Name(it->second.type()));
    }
    if (it->second.capabilities().mms()) return it->second;
    if (!BeginChange(number)) return ChangeInProgress("number " + number);
    updated = it->second;
  }
  updated.mutable_capabilities()->set_mms(true);
  auto batch = database_.NewBatch();
  absl::Status staged = store_.StageNumber(*batch, updated);
  // The fee is recorded in the same write as the capability, so neither exists without the other.
  store_.StageUsage(*batch, account_sid, "shortcode-mms-enablement", 1, 0, kShortCodeMmsFeeCents);
  absl::Status status = FinishChange(number, std::move(staged), std::move(batch),
                                     [&] { numbers_[number] = updated; });
  if (!status.ok()) return status;
  return updated;
}

absl::Status Directory::Release(const std::string& account_sid, const std::string& number) {
  {
    std::unique_lock lock(mutex_);
    auto it = numbers_.find(number);
    if (it == numbers_.end() || it->second.account_sid() != account_sid) {
      return NumberNotFound(number, account_sid);
    }
    if (!BeginChange(number)) return ChangeInProgress("number " + number);
  }
  auto batch = database_.NewBatch();
  store_.StageRelease(*batch, number);
  return FinishChange(number, absl::OkStatus(), std::move(batch), [&] { numbers_.erase(number); });
}

bool Directory::IsOptedOut(const std::string& number, const std::string& subscriber) const {
  if (opt_out_count_.load(std::memory_order_acquire) == 0) return false;
  std::shared_lock lock(mutex_);
  return opt_outs_.contains(OptOutKey(number, subscriber));
}

std::vector<v1::OptOut> Directory::OptOutsOf(const std::string& account_sid,
                                             const std::string& number,
                                             const std::string& subscriber) const {
  std::vector<v1::OptOut> found;
  std::shared_lock lock(mutex_);
  for (const auto& [_, opt_out] : opt_outs_) {
    if (opt_out.account_sid() != account_sid) continue;
    if (!number.empty() && opt_out.number() != number) continue;
    if (!subscriber.empty() && opt_out.subscriber() != subscriber) continue;
    found.push_back(opt_out);
  }
  return found;
}

absl::StatusOr<v1::OptOut> Directory::SetOptOut(const std::string& account_sid,
                                                const std::string& number,
                                                const std::string& subscriber, bool opted_out,
                                                const std::string& keyword, int64_t now_ns) {
  auto parsed = carriers::ParseValidNumber(subscriber);
  if (!parsed) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                         "subscriber " + QuoteText(subscriber) +
                             " is not a valid phone number; use E.164 such as +12025550123");
  }
  v1::OptOut opt_out;
  opt_out.set_account_sid(account_sid);
  opt_out.set_number(number);
  opt_out.set_subscriber(parsed->e164);
  opt_out.set_opted_out(opted_out);
  opt_out.set_keyword(keyword);
  *opt_out.mutable_date_updated() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(now_ns);
  const std::string key = "opt-out/" + OptOutKey(number, parsed->e164);
  {
    std::unique_lock lock(mutex_);
    auto it = numbers_.find(number);
    if (it == numbers_.end() || it->second.account_sid() != account_sid) {
      return NumberNotFound(number, account_sid);
    }
    if (it->second.type() == v1::SHORT_CODE) {
      return ProviderError(absl::StatusCode::kFailedPrecondition, error_codes::kInvalidParameter,
                           number +
                               " is a short code: the application handles its opt-out keywords "
                               "itself, so mmsgate keeps no opt-outs for it");
    }
    if (!BeginChange(key)) return ChangeInProgress("the opt-out of " + parsed->e164);
  }
  auto batch = database_.NewBatch();
  absl::Status staged = store_.StageOptOut(*batch, opt_out);
  absl::Status status = FinishChange(key, std::move(staged), std::move(batch), [&] {
    // mutex_ is held here.
    if (opted_out) {
      opt_outs_[OptOutKey(number, opt_out.subscriber())] = opt_out;
    } else {
      opt_outs_.erase(OptOutKey(number, opt_out.subscriber()));
    }
    opt_out_count_.store(opt_outs_.size(), std::memory_order_release);
  });
  if (!status.ok()) return status;
  return opt_out;
}

absl::Status Directory::StageOptOut(storage::Batch& batch, const v1::OptOut& opt_out) const {
  return store_.StageOptOut(batch, opt_out);
}

void Directory::ApplyOptOut(const v1::OptOut& opt_out) {
  std::unique_lock lock(mutex_);
  const std::string key = OptOutKey(opt_out.number(), opt_out.subscriber());
  if (opt_out.opted_out()) {
    opt_outs_[key] = opt_out;
  } else {
    opt_outs_.erase(key);
  }
  opt_out_count_.store(opt_outs_.size(), std::memory_order_release);
}

void Directory::StageUsage(storage::Batch& batch, const std::string& account_sid,
                           const std::string& category, int64_t count, int64_t segments,
                           int64_t price_cents) const {
  store_.StageUsage(batch, account_sid, category, count, segments, price_cents);
}

v1::Usage Directory::Usage(const std::string& account_sid) const {
  return store_.Usage(account_sid);
}

}  // namespace mmsgate::gateway
