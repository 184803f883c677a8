#include "gateway/accounts/directory.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>

#include "carriers/phone_numbers.h"
#include "gateway/config/scenario.h"
#include "gateway/core/rules.h"
#include "carriers/base/sids.h"
#include "carriers/base/errors.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using mmsc::Family;

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

absl::Status NumberNotFound(const std::string& number, const std::string& account_sid) {
  return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                       "number \"" + number.substr(0, 40) + "\" is not a number of account " +
                           account_sid);
}

const std::string kNumberPrefix = "number/";
const std::string kSettingsPrefix = "settings/";
const std::string kUsagePrefix = "usage/";

}  // namespace

Directory::Directory(const v1::Scenario& scenario, mmsc::Database* database)
    : database_(database) {
  for (const auto& account : scenario.accounts()) accounts_[account.sid()] = account;
  for (auto number : scenario.numbers()) {
    if (number.sid().empty()) number.set_sid(NewSid("PN"));
    numbers_[number.number()] = number;
  }
  LoadOverrides();
}

void Directory::LoadOverrides() {
  if (!database_) return;
  std::vector<std::string> unreadable;
  std::unique_ptr<rocksdb::Iterator> it(database_->db()->NewIterator(
      rocksdb::ReadOptions(), database_->family(Family::kMeta)));
  for (it->Seek(kNumberPrefix); it->Valid() && it->key().starts_with(kNumberPrefix); it->Next()) {
    const std::string number = it->key().ToString().substr(kNumberPrefix.size());
    if (it->value().empty()) {
      numbers_.erase(number);  // Released.
      continue;
    }
    v1::Number stored;
    if (!stored.ParseFromString(it->value().ToString())) {
      unreadable.push_back(it->key().ToString());
      continue;
    }
    if (accounts_.contains(stored.account_sid())) numbers_[number] = stored;
  }
  for (it->Seek(kSettingsPrefix); it->Valid() && it->key().starts_with(kSettingsPrefix);
       it->Next()) {
    auto account = accounts_.find(it->key().ToString().substr(kSettingsPrefix.size()));
    v1::AccountSettings settings;
    if (!settings.ParseFromString(it->value().ToString())) {
      unreadable.push_back(it->key().ToString());
      continue;
    }
    if (account != accounts_.end()) *account->second.mutable_settings() = settings;
  }
  it.reset();
  // Kept aside, not dropped: the scenario's version (if any) applies meanwhile, and a person can
  // still look at what was stored.
  for (const auto& key : unreadable) {
    spdlog::error("stored record meta/{} cannot be read; moved to the quarantine family, and "
                  "the scenario's value (if any) applies",
                  key);
    if (auto status = database_->Quarantine(Family::kMeta, key); !status.ok()) {
      spdlog::error("cannot quarantine meta/{}: {}", key, std::string(status.message()));
    }
  }
}

absl::Status Directory::Persist(rocksdb::WriteBatch batch) {
  if (!database_) return absl::OkStatus();
  return database_->WriteNow(std::move(batch));
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
  if (it == accounts_.end() || it->second.auth_token().size() != auth_token.size() ||
      CRYPTO_memcmp(it->second.auth_token().data(), auth_token.data(), auth_token.size()) != 0) {
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
  std::unique_lock lock(mutex_);
  auto it = accounts_.find(account_sid);
  if (it == accounts_.end()) {
    return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                         "account " + account_sid + " was not found");
  }
  auto record = mmsc::Database::EncodeRecord(settings, "the settings of " + account_sid);
  if (!record.ok()) return record.status();
  rocksdb::WriteBatch batch;
  if (database_) {
    batch.Put(database_->family(Family::kMeta), kSettingsPrefix + account_sid, *record)
        .PermitUncheckedError();
  }
  if (auto status = Persist(std::move(batch)); !status.ok()) return status;
  *it->second.mutable_settings() = settings;
  return it->second;
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
  auto record = mmsc::Database::EncodeRecord(number, "number " + number.number());
  if (!record.ok()) return record.status();
  rocksdb::WriteBatch batch;
  if (database_) {
    batch.Put(database_->family(Family::kMeta), kNumberPrefix + number.number(), *record)
        .PermitUncheckedError();
  }
  if (auto status = Persist(std::move(batch)); !status.ok()) return status;
  numbers_[number.number()] = number;
  return number;
}

absl::StatusOr<v1::Number> Directory::UpdateWebhooks(const std::string& account_sid,
                                                     const std::string& number,
                                                     const std::string& sms_url,
                                                     const std::string& status_callback) {
  for (const auto& [field, url] :
       {std::pair{"sms_url", &sms_url}, std::pair{"status_callback", &status_callback}}) {
    if (auto status = CheckCallbackUrl(field, *url, error_codes::kInvalidParameter);
        !status.ok()) {
      return status;
    }
  }
  std::unique_lock lock(mutex_);
  auto it = numbers_.find(number);
  if (it == numbers_.end() || it->second.account_sid() != account_sid) {
    return NumberNotFound(number, account_sid);
  }
  v1::Number updated = it->second;
  updated.set_sms_url(sms_url);
  updated.set_status_callback(status_callback);
  auto record = mmsc::Database::EncodeRecord(updated, "number " + number);
  if (!record.ok()) return record.status();
  rocksdb::WriteBatch batch;
  if (database_) {
    batch.Put(database_->family(Family::kMeta), kNumberPrefix + number, *record)
        .PermitUncheckedError();
  }
  if (auto status = Persist(std::move(batch)); !status.ok()) return status;
  it->second = updated;
  return updated;
}

absl::StatusOr<v1::Number> Directory::EnableShortCodeMms(const std::string& account_sid,
                                                         const std::string& number) {
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
  v1::Number updated = it->second;
  updated.mutable_capabilities()->set_mms(true);
  auto record = mmsc::Database::EncodeRecord(updated, "number " + number);
  if (!record.ok()) return record.status();
  rocksdb::WriteBatch batch;
  if (database_) {
    batch.Put(database_->family(Family::kMeta), kNumberPrefix + number, *record)
        .PermitUncheckedError();
  }
  // The fee is recorded in the same write as the capability, so neither exists without the other.
  StageUsage(batch, account_sid, "shortcode-mms-enablement", 1, 0, kShortCodeMmsFeeCents);
  if (auto status = Persist(std::move(batch)); !status.ok()) return status;
  it->second = updated;
  return updated;
}

absl::Status Directory::Release(const std::string& account_sid, const std::string& number) {
  std::unique_lock lock(mutex_);
  auto it = numbers_.find(number);
  if (it == numbers_.end() || it->second.account_sid() != account_sid) {
    return NumberNotFound(number, account_sid);
  }
  rocksdb::WriteBatch batch;
  if (database_) {
    // An empty value is a tombstone, so a scenario number stays released after a restart.
    batch.Put(database_->family(Family::kMeta), kNumberPrefix + number, "").PermitUncheckedError();
  }
  if (auto status = Persist(std::move(batch)); !status.ok()) return status;
  numbers_.erase(it);
  return absl::OkStatus();
}

void Directory::StageUsage(rocksdb::WriteBatch& batch, const std::string& account_sid,
                           const std::string& category, int64_t count, int64_t segments,
                           int64_t price_cents) const {
  const std::string base = kUsagePrefix + account_sid + "/" + category + "/";
  const std::pair<const char*, int64_t> fields[] = {
      {"count", count}, {"segments", segments}, {"price_cents", price_cents}};
  for (const auto& [field, value] : fields) {
    if (value == 0) continue;
    if (database_) {
      batch.Merge(database_->family(Family::kMeta), base + field,
                  mmsc::Database::EncodeCounter(value))
          .PermitUncheckedError();
    } else {
      std::lock_guard lock(memory_usage_mutex_);
      memory_usage_[base + field] += value;
    }
  }
}

v1::Usage Directory::Usage(const std::string& account_sid) const {
  std::map<std::string, v1::UsageEntry> entries;
  const std::string prefix = kUsagePrefix + account_sid + "/";
  auto add = [&](const std::string& key, int64_t value) {
    const std::string rest = key.substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos) return;
    auto& entry = entries[rest.substr(0, slash)];
    entry.set_category(rest.substr(0, slash));
    const std::string field = rest.substr(slash + 1);
    if (field == "count") entry.set_count(value);
    if (field == "segments") entry.set_segments(value);
    if (field == "price_cents") entry.set_price_cents(value);
  };
  if (database_) {
    std::unique_ptr<rocksdb::Iterator> it(database_->db()->NewIterator(
        rocksdb::ReadOptions(), database_->family(Family::kMeta)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      add(it->key().ToString(), mmsc::Database::DecodeCounter(it->value().ToString()));
    }
  } else {
    std::lock_guard lock(memory_usage_mutex_);
    for (const auto& [key, value] : memory_usage_) {
      if (key.starts_with(prefix)) add(key, value);
    }
  }
  v1::Usage usage;
  for (auto& [_, entry] : entries) *usage.add_entries() = std::move(entry);
  return usage;
}

}  // namespace mmsgate::gateway
