#include "gateway/storage/rocks_directory_store.h"

#include <spdlog/spdlog.h>

namespace mmsgate::gateway {
namespace {
namespace v1 = mmsgate::v1;
}  // namespace

std::vector<storage::FamilySpec> RocksDirectoryStore::Families() {
  return {{"accounts", storage::FamilyKind::kRecords},
          {"numbers", storage::FamilyKind::kRecords},
          {"settings", storage::FamilyKind::kRecords},
          {"opt_outs", storage::FamilyKind::kRecords},
          {"services", storage::FamilyKind::kRecords},
          {"sticky_senders", storage::FamilyKind::kRecords},
          {"usage", storage::FamilyKind::kCounters}};
}

RocksDirectoryStore::RocksDirectoryStore(storage::RocksDatabase& database)
    : database_(database),
      accounts_(database.Family("accounts")),
      numbers_(database.Family("numbers")),
      settings_(database.Family("settings")),
      opt_outs_(database.Family("opt_outs")),
      services_(database.Family("services")),
      sticky_(database.Family("sticky_senders")),
      usage_(database.Family("usage")) {}

StoredDirectory RocksDirectoryStore::Load() {
  StoredDirectory stored;
  std::vector<std::pair<storage::RocksDatabase::FamilyId, std::string>> unreadable;
  (void)database_.Scan(accounts_, "", "", [&](std::string_view key, std::string_view value) {
    v1::Account account;
    if (!account.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      unreadable.emplace_back(accounts_, std::string(key));
    } else {
      stored.accounts.push_back(std::move(account));
    }
    return true;
  });
  (void)database_.Scan(numbers_, "", "", [&](std::string_view key, std::string_view value) {
    if (value.empty()) {
      stored.released.emplace_back(key);  // a tombstone
      return true;
    }
    v1::Number number;
    if (!number.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      unreadable.emplace_back(numbers_, std::string(key));
    } else {
      stored.numbers[std::string(key)] = std::move(number);
    }
    return true;
  });
  (void)database_.Scan(settings_, "", "", [&](std::string_view key, std::string_view value) {
    v1::AccountSettings settings;
    if (!settings.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      unreadable.emplace_back(settings_, std::string(key));
    } else {
      stored.settings[std::string(key)] = std::move(settings);
    }
    return true;
  });
  (void)database_.Scan(opt_outs_, "", "", [&](std::string_view key, std::string_view value) {
    v1::OptOut opt_out;
    if (!opt_out.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      unreadable.emplace_back(opt_outs_, std::string(key));
    } else {
      stored.opt_outs.push_back(std::move(opt_out));
    }
    return true;
  });
  (void)database_.Scan(services_, "", "", [&](std::string_view key, std::string_view value) {
    if (value.empty()) {
      stored.deleted_services.emplace_back(key);  // a tombstone
      return true;
    }
    v1::MessagingService service;
    if (!service.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      unreadable.emplace_back(services_, std::string(key));
    } else {
      stored.services[std::string(key)] = std::move(service);
    }
    return true;
  });
  (void)database_.Scan(sticky_, "", "", [&](std::string_view key, std::string_view value) {
    stored.sticky_senders[std::string(key)] = std::string(value);
    return true;
  });
  // Kept aside, not dropped: the scenario's version (if any) applies meanwhile, and a person can
  // still look at what was stored.
  for (const auto& [family, key] : unreadable) {
    spdlog::error(
        "stored record {}/{} cannot be read; moved to the quarantine family, and the "
        "scenario's value (if any) applies",
        family == accounts_   ? "accounts"
        : family == numbers_  ? "numbers"
        : family == settings_ ? "settings"
        : family == services_ ? "services"
                              : "opt_outs",
        key);
    if (auto status = database_.Quarantine(family, key); !status.ok()) {
      spdlog::error("cannot quarantine {}: {}", key, std::string(status.message()));
    }
  }
  return stored;
}

absl::Status RocksDirectoryStore::StageAccount(storage::Batch& batch, const v1::Account& account) {
  auto record = storage::EncodeRecord(account, "account " + account.sid());
  if (!record.ok()) return record.status();
  database_.Put(batch, accounts_, account.sid(), *record);
  return absl::OkStatus();
}

absl::Status RocksDirectoryStore::StageNumber(storage::Batch& batch, const v1::Number& number) {
  auto record = storage::EncodeRecord(number, "number " + number.number());
  if (!record.ok()) return record.status();
  database_.Put(batch, numbers_, number.number(), *record);
  return absl::OkStatus();
}

void RocksDirectoryStore::StageRelease(storage::Batch& batch, const std::string& number) {
  // An empty value is a tombstone, so a scenario number stays released after a restart.
  database_.Put(batch, numbers_, number, "");
}

absl::Status RocksDirectoryStore::StageSettings(storage::Batch& batch,
                                                const std::string& account_sid,
                                                const v1::AccountSettings& settings) {
  auto record = storage::EncodeRecord(settings, "the settings of " + account_sid);
  if (!record.ok()) return record.status();
  database_.Put(batch, settings_, account_sid, *record);
  return absl::OkStatus();
}

absl::Status RocksDirectoryStore::StageOptOut(storage::Batch& batch, const v1::OptOut& opt_out) {
  const std::string& scope =
      opt_out.messaging_service_sid().empty() ? opt_out.number() : opt_out.messaging_service_sid();
  const std::string key = scope + "/" + opt_out.subscriber();
  if (!opt_out.opted_out()) {
    database_.Delete(batch, opt_outs_, key);
    return absl::OkStatus();
  }
  auto record = storage::EncodeRecord(opt_out, "the opt-out " + key);
  if (!record.ok()) return record.status();
  database_.Put(batch, opt_outs_, key, *record);
  return absl::OkStatus();
}

absl::Status RocksDirectoryStore::StageService(storage::Batch& batch,
                                               const v1::MessagingService& service) {
  auto record = storage::EncodeRecord(service, "messaging service " + service.sid());
  if (!record.ok()) return record.status();
  database_.Put(batch, services_, service.sid(), *record);
  return absl::OkStatus();
}

void RocksDirectoryStore::StageServiceDeleted(storage::Batch& batch, const std::string& sid) {
  // An empty value is a tombstone, so a scenario service stays deleted after a restart.
  database_.Put(batch, services_, sid, "");
}

void RocksDirectoryStore::StageStickySender(storage::Batch& batch, const std::string& service_sid,
                                            const std::string& recipient,
                                            const std::string& sender) {
  database_.Put(batch, sticky_, service_sid + "/" + recipient, sender);
}

void RocksDirectoryStore::StageUsage(storage::Batch& batch, const std::string& account_sid,
                                     const std::string& category, int64_t count, int64_t segments,
                                     int64_t price_cents) {
  const std::string base = account_sid + "/" + category + "/";
  const std::pair<const char*, int64_t> fields[] = {
      {"count", count}, {"segments", segments}, {"price_cents", price_cents}};
  for (const auto& [field, value] : fields) {
    if (value != 0) database_.AddCounter(batch, usage_, base + field, value);
  }
}

void RocksDirectoryStore::StageUsageCleared(storage::Batch& batch, const std::string& account_sid) {
  (void)database_.Scan(usage_, account_sid + "/", "", [&](std::string_view key, std::string_view) {
    database_.Delete(batch, usage_, key);
    return true;
  });
}

v1::Usage RocksDirectoryStore::Usage(const std::string& account_sid) const {
  std::map<std::string, v1::UsageEntry> entries;
  const std::string prefix = account_sid + "/";
  (void)database_.Scan(usage_, prefix, "", [&](std::string_view key, std::string_view value) {
    const std::string_view rest = key.substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) return true;
    const std::string category(rest.substr(0, slash));
    const std::string_view field = rest.substr(slash + 1);
    const int64_t amount = storage::DecodeCounter(value);
    auto& entry = entries[category];
    entry.set_category(category);
    if (field == "count") entry.set_count(amount);
    if (field == "segments") entry.set_segments(amount);
    if (field == "price_cents") entry.set_price_cents(amount);
    return true;
  });
  v1::Usage usage;
  for (auto& [_, entry] : entries) *usage.add_entries() = std::move(entry);
  return usage;
}

}  // namespace mmsgate::gateway
