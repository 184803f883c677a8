#include "gateway/accounts/directory.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
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

std::string OptOutKey(const std::string& scope, const std::string& subscriber) {
  return scope + "/" + subscriber;
}

// What an opt-out covers: its service, or its number.
const std::string& ScopeOf(const v1::OptOut& opt_out) {
  return opt_out.messaging_service_sid().empty() ? opt_out.number()
                                                 : opt_out.messaging_service_sid();
}

std::string ServiceKey(const std::string& sid) { return "service/" + sid; }

// A copy of `map`'s entry for `key`, if any (callers hold the lock).
template <class Map>
std::optional<typename Map::mapped_type> CopyOf(const Map& map, const std::string& key) {
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

// Copies of `map`'s values that belong to `account_sid` (callers hold the lock).
template <class Map>
std::vector<typename Map::mapped_type> OwnedBy(const Map& map, const std::string& account_sid) {
  std::vector<typename Map::mapped_type> owned;
  for (const auto& [_, value] : map) {
    if (value.account_sid() == account_sid) owned.push_back(value);
  }
  return owned;
}

// SplitMix64's finalizer: consecutive counts to well-spread draws, so picks for different
// destinations interleaved in a fixed rhythm do not keep landing on the same sender.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The area code of a North American number ("+1AAA…"); empty for others.
std::string_view AreaCode(std::string_view e164) {
  return e164.size() >= 5 && e164.starts_with("+1") ? e164.substr(2, 3) : std::string_view();
}

}  // namespace

Directory::Directory(const v1::Scenario& scenario, storage::Database& database,
                     DirectoryStore& store)
    : database_(database),
      store_(store),
      scenario_(scenario),
      scenario_accounts_(static_cast<std::size_t>(scenario.accounts_size())),
      number_pool_(scenario.number_pool().begin(), scenario.number_pool().end()) {
  std::unique_lock lock(mutex_);
  LoadLocked(store_.Load());
}

std::size_t Directory::ResetToScenario() {
  const StoredDirectory stored = store_.Load();  // empty after the database's Reset
  std::unique_lock lock(mutex_);
  const std::size_t accounts_before = accounts_.size();
  accounts_.clear();
  numbers_.clear();
  services_.clear();
  service_of_number_.clear();
  sticky_senders_.clear();
  opt_outs_.clear();
  LoadLocked(stored);
  return accounts_before - accounts_.size();
}

void Directory::LoadLocked(const StoredDirectory& stored) {
  const v1::Scenario& scenario = scenario_;
  for (const auto& account : scenario.accounts()) accounts_[account.sid()] = account;
  for (const auto& account : stored.accounts) accounts_.try_emplace(account.sid(), account);
  for (auto number : scenario.numbers()) {
    if (number.sid().empty()) number.set_sid(NewSid("PN"));
    numbers_[number.number()] = number;
  }
  for (const auto& number : stored.released) numbers_.erase(number);
  for (const auto& [key, number] : stored.numbers) {
    if (accounts_.contains(number.account_sid())) numbers_[key] = number;
  }
  for (const auto& [sid, settings] : stored.settings) {
    if (auto account = accounts_.find(sid); account != accounts_.end()) {
      *account->second.mutable_settings() = settings;
    }
  }
  for (const auto& service : scenario.messaging_services()) services_[service.sid()] = service;
  for (const auto& sid : stored.deleted_services) services_.erase(sid);
  for (const auto& [sid, service] : stored.services) {
    if (accounts_.contains(service.account_sid())) services_[sid] = service;
  }
  for (const auto& [sid, service] : services_) {
    for (const auto& number : service.numbers()) service_of_number_[number] = sid;
  }
  sticky_senders_.insert(stored.sticky_senders.begin(), stored.sticky_senders.end());
  for (const auto& opt_out : stored.opt_outs) {
    opt_outs_[OptOutKey(ScopeOf(opt_out), opt_out.subscriber())] = opt_out;
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
  return CopyOf(accounts_, sid);
}

std::optional<v1::Number> Directory::FindNumber(const std::string& number) const {
  std::shared_lock lock(mutex_);
  return CopyOf(numbers_, number);
}

std::vector<v1::Number> Directory::NumbersOf(const std::string& account_sid) const {
  std::shared_lock lock(mutex_);
  return OwnedBy(numbers_, account_sid);
}

std::vector<v1::Account> Directory::Accounts() const {
  std::vector<v1::Account> accounts;
  std::shared_lock lock(mutex_);
  for (const auto& [_, account] : accounts_) accounts.push_back(account);
  return accounts;
}

absl::Status Directory::ClearAccountData(const std::string& account_sid) {
  std::vector<v1::OptOut> ended;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [_, opt_out] : opt_outs_) {
      if (opt_out.account_sid() == account_sid) ended.push_back(opt_out);
    }
  }
  auto batch = database_.NewBatch();
  for (auto& opt_out : ended) {
    opt_out.set_opted_out(false);
    if (auto status = store_.StageOptOut(*batch, opt_out); !status.ok()) return status;
  }
  store_.StageUsageCleared(*batch, account_sid);
  if (auto status = database_.CommitNow(std::move(batch)); !status.ok()) return status;
  std::unique_lock lock(mutex_);
  for (const auto& opt_out : ended) ApplyOptOutLocked(opt_out);
  return absl::OkStatus();
}

// The built-in pool: 555-0100..0199 (set aside for fiction) of a few area codes the scenarios
// in this repository do not use.
constexpr const char* kDefaultPoolPrefixes[] = {"+1564555", "+1458555", "+1872555",
                                                "+1725555", "+1762555", "+1934555"};

std::optional<std::string> Directory::FreeDefaultNumberLocked() const {
  auto usable = [this](const std::string& number) {
    return !numbers_.contains(number) && !changing_.contains(number);
  };
  if (!number_pool_.empty()) {
    for (const auto& number : number_pool_) {
      if (usable(number)) return number;
    }
    return std::nullopt;
  }
  for (const char* prefix : kDefaultPoolPrefixes) {
    for (int line = 100; line <= 199; ++line) {
      std::string number = std::string(prefix) + "0" + std::to_string(line);
      if (usable(number)) return number;
    }
  }
  return std::nullopt;
}

absl::StatusOr<v1::CreateAccountResponse> Directory::CreateAccount(const std::string& friendly_name,
                                                                   bool provision_defaults) {
  const auto characters = std::count_if(friendly_name.begin(), friendly_name.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // not a continuation byte
  });
  if (!IsValidUtf8(friendly_name) || characters > 64) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                         "CreateAccountRequest.friendly_name must be UTF-8 text of at most 64 "
                         "characters");
  }
  v1::CreateAccountResponse created;
  v1::Account& account = *created.mutable_account();
  account.set_sid(NewSid("AC"));
  account.set_auth_token(RandomHex(16));
  account.set_friendly_name(friendly_name.empty() ? "mmsgate test account" : friendly_name);
  std::optional<v1::Number> number;
  if (provision_defaults) {
    std::unique_lock lock(mutex_);
    auto free = FreeDefaultNumberLocked();
    if (!free) {
      return ProviderError(
          absl::StatusCode::kResourceExhausted, error_codes::kNumberUnavailable,
          number_pool_.empty()
              ? "the built-in number range has no free number left; give the scenario a "
                "number_pool, or create accounts without provision_defaults"
              : "every number of the scenario's number_pool is in use; add numbers to it, or "
                "release some");
    }
    number.emplace();
    number->set_number(*free);
    number->set_sid(NewSid("PN"));
    number->set_account_sid(account.sid());
    number->set_type(v1::LONG_CODE);
    number->set_country("US");
    number->mutable_capabilities()->set_sms(true);
    number->mutable_capabilities()->set_mms(true);
    if (auto status = ValidateNumber(*number); !status.ok()) {
      return ProviderError(absl::StatusCode::kFailedPrecondition, error_codes::kInvalidParameter,
                           "number_pool entry " + *free + ": " + std::string(status.message()));
    }
    changing_.insert(*free);  // released by FinishChange
  }
  auto batch = database_.NewBatch();
  absl::Status staged = store_.StageAccount(*batch, account);
  if (staged.ok() && number) staged = store_.StageNumber(*batch, *number);
  if (!number) {
    if (!staged.ok()) return staged;
    if (auto status = database_.CommitNow(std::move(batch)); !status.ok()) return status;
    std::unique_lock lock(mutex_);
    accounts_[account.sid()] = account;
    return created;
  }
  absl::Status status = FinishChange(number->number(), std::move(staged), std::move(batch), [&] {
    accounts_[account.sid()] = account;
    numbers_[number->number()] = *number;
  });
  if (!status.ok()) return status;
  *created.add_numbers() = *number;
  return created;
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
  return opt_outs_.contains(OptOutKey(OptOutScopeLocked(number), subscriber));
}

const std::string& Directory::OptOutScopeLocked(const std::string& number) const {
  auto it = service_of_number_.find(number);
  return it == service_of_number_.end() ? number : it->second;
}

std::vector<v1::OptOut> Directory::OptOutsOf(const std::string& account_sid,
                                             const std::string& number,
                                             const std::string& subscriber) const {
  std::vector<v1::OptOut> found;
  std::shared_lock lock(mutex_);
  for (const auto& [_, opt_out] : opt_outs_) {
    if (opt_out.account_sid() != account_sid) continue;
    if (!number.empty() && opt_out.number() != number &&
        opt_out.messaging_service_sid() != number) {
      continue;
    }
    if (!subscriber.empty() && opt_out.subscriber() != subscriber) continue;
    found.push_back(opt_out);
  }
  return found;
}

absl::StatusOr<v1::OptOut> Directory::SetOptOut(const std::string& account_sid,
                                                const std::string& number,
                                                const std::string& service_sid,
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
  opt_out.set_number(service_sid.empty() ? number : "");
  opt_out.set_messaging_service_sid(service_sid);
  opt_out.set_subscriber(parsed->e164);
  opt_out.set_opted_out(opted_out);
  opt_out.set_keyword(keyword);
  *opt_out.mutable_date_updated() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(now_ns);
  const std::string scope = ScopeOf(opt_out);
  const std::string key = "opt-out/" + OptOutKey(scope, parsed->e164);
  {
    std::unique_lock lock(mutex_);
    auto it = numbers_.find(number);
    if (!service_sid.empty()) {
      if (OwnedServiceLocked(account_sid, service_sid) == nullptr) {
        return ServiceNotFound(service_sid, account_sid);
      }
    } else if (it == numbers_.end() || it->second.account_sid() != account_sid) {
      return NumberNotFound(number, account_sid);
    } else if (it->second.type() == v1::SHORT_CODE) {
      return ProviderError(absl::StatusCode::kFailedPrecondition, error_codes::kInvalidParameter,
                           number +
                               " is a short code: the application handles its opt-out keywords "
                               "itself, so mmsgate keeps no opt-outs for it");
    }
    if (!BeginChange(key)) return ChangeInProgress("the opt-out of " + parsed->e164);
  }
  auto batch = database_.NewBatch();
  absl::Status staged = store_.StageOptOut(*batch, opt_out);
  absl::Status status =
      FinishChange(key, std::move(staged), std::move(batch), [&] { ApplyOptOutLocked(opt_out); });
  if (!status.ok()) return status;
  return opt_out;
}

absl::Status Directory::StageOptOut(storage::Batch& batch, const v1::OptOut& opt_out) const {
  return store_.StageOptOut(batch, opt_out);
}

void Directory::ApplyOptOut(const v1::OptOut& opt_out) {
  std::unique_lock lock(mutex_);
  ApplyOptOutLocked(opt_out);
}

void Directory::ApplyOptOutLocked(const v1::OptOut& opt_out) {
  const std::string key = OptOutKey(ScopeOf(opt_out), opt_out.subscriber());
  if (opt_out.opted_out()) {
    opt_outs_[key] = opt_out;
  } else {
    opt_outs_.erase(key);
  }
  opt_out_count_.store(opt_outs_.size(), std::memory_order_release);
}

std::optional<v1::MessagingService> Directory::FindService(const std::string& sid) const {
  std::shared_lock lock(mutex_);
  return CopyOf(services_, sid);
}

std::vector<v1::MessagingService> Directory::ServicesOf(const std::string& account_sid) const {
  std::shared_lock lock(mutex_);
  return OwnedBy(services_, account_sid);
}

std::optional<v1::MessagingService> Directory::ServiceOfNumber(const std::string& number) const {
  std::shared_lock lock(mutex_);
  auto it = service_of_number_.find(number);
  if (it == service_of_number_.end()) return std::nullopt;
  return CopyOf(services_, it->second);
}

const v1::MessagingService* Directory::OwnedServiceLocked(const std::string& account_sid,
                                                          const std::string& sid) const {
  auto it = services_.find(sid);
  return it == services_.end() || it->second.account_sid() != account_sid ? nullptr : &it->second;
}

absl::Status Directory::ServiceNotFound(const std::string& sid,
                                        const std::string& account_sid) const {
  return ProviderError(absl::StatusCode::kNotFound, error_codes::kInvalidMessagingService,
                       "Messaging Service " + QuoteText(sid, 40) + " is not a service of account " +
                           account_sid + "; create it first (Accounts.CreateMessagingService)");
}

absl::StatusOr<v1::MessagingService> Directory::CommitService(const v1::MessagingService& service) {
  auto batch = database_.NewBatch();
  absl::Status staged = store_.StageService(*batch, service);
  absl::Status status =
      FinishChange(ServiceKey(service.sid()), std::move(staged), std::move(batch), [&] {
        if (auto old = services_.find(service.sid()); old != services_.end()) {
          for (const auto& number : old->second.numbers()) service_of_number_.erase(number);
        }
        services_[service.sid()] = service;
        for (const auto& number : service.numbers()) service_of_number_[number] = service.sid();
      });
  if (!status.ok()) return status;
  return service;
}

absl::StatusOr<v1::MessagingService> Directory::CreateService(const std::string& account_sid,
                                                              v1::MessagingService service) {
  service.set_account_sid(account_sid);
  if (service.sid().empty()) service.set_sid(NewSid("MG"));
  if (!IsSid(service.sid(), "MG")) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                         "Messaging Service sid " + QuoteText(service.sid()) +
                             " must be MG followed by 32 lowercase hex digits (or empty)");
  }
  for (const auto& [field, url] : {std::pair{"inbound_request_url", &service.inbound_request_url()},
                                   std::pair{"status_callback", &service.status_callback()}}) {
    if (auto status = CheckCallbackUrl(field, *url, error_codes::kInvalidParameter); !status.ok()) {
      return status;
    }
  }
  {
    std::unique_lock lock(mutex_);
    if (services_.contains(service.sid())) {
      return ProviderError(absl::StatusCode::kAlreadyExists, error_codes::kInvalidParameter,
                           "Messaging Service " + service.sid() + " exists already");
    }
    std::set<std::string> seen;
    for (const auto& number : service.numbers()) {
      auto it = numbers_.find(number);
      if (it == numbers_.end() || it->second.account_sid() != account_sid) {
        return NumberNotFound(number, account_sid);
      }
      if (auto other = service_of_number_.find(number);
          other != service_of_number_.end() || !seen.insert(number).second) {
        return ProviderError(
            absl::StatusCode::kAlreadyExists, error_codes::kInvalidParameter,
            "number " + number + " is in Messaging Service " +
                (other != service_of_number_.end() ? other->second : service.sid()) +
                " already; a number belongs to one service at most");
      }
    }
    if (!BeginChange(ServiceKey(service.sid()))) {
      return ChangeInProgress("Messaging Service " + service.sid());
    }
  }
  return CommitService(service);
}

absl::StatusOr<v1::MessagingService> Directory::AddServiceNumber(const std::string& account_sid,
                                                                 const std::string& sid,
                                                                 const std::string& number) {
  v1::MessagingService changed;
  {
    std::unique_lock lock(mutex_);
    const v1::MessagingService* service = OwnedServiceLocked(account_sid, sid);
    if (service == nullptr) return ServiceNotFound(sid, account_sid);
    auto it = numbers_.find(number);
    if (it == numbers_.end() || it->second.account_sid() != account_sid) {
      return NumberNotFound(number, account_sid);
    }
    if (auto other = service_of_number_.find(number); other != service_of_number_.end()) {
      if (other->second == sid) return *service;
      return ProviderError(absl::StatusCode::kAlreadyExists, error_codes::kInvalidParameter,
                           "number " + number + " is in Messaging Service " + other->second +
                               " already; remove it there first");
    }
    if (!BeginChange(ServiceKey(sid))) return ChangeInProgress("Messaging Service " + sid);
    changed = *service;
  }
  changed.add_numbers(number);
  return CommitService(changed);
}

absl::StatusOr<v1::MessagingService> Directory::RemoveServiceNumber(const std::string& account_sid,
                                                                    const std::string& sid,
                                                                    const std::string& number) {
  v1::MessagingService changed;
  {
    std::unique_lock lock(mutex_);
    const v1::MessagingService* service = OwnedServiceLocked(account_sid, sid);
    if (service == nullptr) return ServiceNotFound(sid, account_sid);
    if (auto in = service_of_number_.find(number);
        in == service_of_number_.end() || in->second != sid) {
      return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                           "number " + QuoteText(number) + " is not in Messaging Service " + sid);
    }
    if (!BeginChange(ServiceKey(sid))) return ChangeInProgress("Messaging Service " + sid);
    changed = *service;
  }
  auto* numbers = changed.mutable_numbers();
  numbers->erase(std::remove(numbers->begin(), numbers->end(), number), numbers->end());
  return CommitService(changed);
}

absl::Status Directory::DeleteService(const std::string& account_sid, const std::string& sid) {
  {
    std::unique_lock lock(mutex_);
    const v1::MessagingService* service = OwnedServiceLocked(account_sid, sid);
    if (service == nullptr) return ServiceNotFound(sid, account_sid);
    if (!BeginChange(ServiceKey(sid))) return ChangeInProgress("Messaging Service " + sid);
  }
  auto batch = database_.NewBatch();
  store_.StageServiceDeleted(*batch, sid);
  return FinishChange(ServiceKey(sid), absl::OkStatus(), std::move(batch), [&] {
    for (const auto& number : services_.at(sid).numbers()) service_of_number_.erase(number);
    services_.erase(sid);
  });
}

absl::StatusOr<Directory::PickedSender> Directory::PickSender(const v1::MessagingService& service,
                                                              const std::string& to,
                                                              const std::string& region,
                                                              bool needs_mms) {
  if (service.numbers().empty()) {
    return ProviderError(absl::StatusCode::kFailedPrecondition, error_codes::kServiceHasNoNumbers,
                         "Messaging Service " + service.sid() +
                             " has no numbers in its sender pool; add one (AddServiceNumber)");
  }
  const std::string sticky_key = service.sid() + "/" + to;
  std::vector<std::string> same_area, same_country, any;
  {
    std::shared_lock lock(mutex_);
    for (const auto& candidate : service.numbers()) {
      auto it = numbers_.find(candidate);
      if (it == numbers_.end() || !it->second.capabilities().sms()) continue;
      if (needs_mms && !it->second.capabilities().mms()) continue;
      any.push_back(candidate);
      if (!region.empty() && it->second.country() == region) {
        same_country.push_back(candidate);
        if (!AreaCode(to).empty() && AreaCode(candidate) == AreaCode(to)) {
          same_area.push_back(candidate);
        }
      }
    }
    if (service.sticky_sender() && !to.empty()) {
      if (auto kept = sticky_senders_.find(sticky_key);
          kept != sticky_senders_.end() && std::ranges::count(any, kept->second)) {
        return PickedSender{kept->second, false};
      }
    }
  }
  if (any.empty()) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kFromNotMmsCapable,
                         "no number in the sender pool of Messaging Service " + service.sid() +
                             " can send " + (needs_mms ? "MMS" : "SMS") +
                             "; add an MMS-capable number or drop the media");
  }
  const auto& tier = !same_area.empty() ? same_area : !same_country.empty() ? same_country : any;
  // Sticky: the same recipient gets the same choice, whoever asks first; otherwise spread.
  const uint64_t draw = service.sticky_sender()
                            ? std::hash<std::string>{}(to)
                            : Mix(next_pick_.fetch_add(1, std::memory_order_relaxed));
  PickedSender picked{tier[draw % tier.size()], false};
  if (service.sticky_sender() && !to.empty()) {
    std::unique_lock lock(mutex_);
    picked.new_sticky = sticky_senders_.emplace(sticky_key, picked.number).second;
    if (!picked.new_sticky) picked.number = sticky_senders_.at(sticky_key);
  }
  return picked;
}

void Directory::StageStickySender(storage::Batch& batch, const std::string& service_sid,
                                  const std::string& recipient, const std::string& sender) const {
  store_.StageStickySender(batch, service_sid, recipient, sender);
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
