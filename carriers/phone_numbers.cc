#include "carriers/phone_numbers.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mmsgate::carriers {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

namespace {

std::optional<ParsedNumber> ParseUncached(std::string_view text) {
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  if (util.Parse(std::string(text), "US", &number) != PhoneNumberUtil::NO_PARSING_ERROR) {
    return std::nullopt;
  }
  if (!util.IsValidNumber(number)) return std::nullopt;
  ParsedNumber parsed;
  util.Format(number, PhoneNumberUtil::E164, &parsed.e164);
  // The E.164 form must parse to itself, or the same subscriber would be stored under two
  // numbers. libphonenumber's formatting is not always a fixed point: Mexico's retired mobile
  // "1" after +52 is stripped once per parse (+52 1 1 471… becomes +52 1 471…, then +52 471…;
  // found by the phone fuzzer). Parse the result again until it stops changing.
  bool stable = false;
  for (int round = 0; round < 3 && !stable; ++round) {
    PhoneNumber again;
    std::string e164;
    if (util.Parse(parsed.e164, "US", &again) != PhoneNumberUtil::NO_PARSING_ERROR ||
        !util.IsValidNumber(again)) {
      return std::nullopt;
    }
    util.Format(again, PhoneNumberUtil::E164, &e164);
    number = again;
    stable = e164 == parsed.e164;
    parsed.e164 = std::move(e164);
  }
  if (!stable) return std::nullopt;
  util.GetRegionCodeForNumber(number, &parsed.region);
  parsed.toll_free = util.GetNumberType(number) == PhoneNumberUtil::TOLL_FREE;
  return parsed;
}

// libphonenumber's parse runs ICU regular expressions (several per number); a gateway sees the
// same senders and destinations over and over, so each distinct text is parsed once. Sharded
// to keep threads apart; a full shard is emptied rather than grown, so hostile input cannot
// make the cache unbounded.
class ParseCache {
 public:
  std::optional<ParsedNumber> Parse(std::string_view text) {
    const std::size_t hash = std::hash<std::string_view>()(text);
    Shard& shard = shards_[hash % shards_.size()];
    {
      std::lock_guard lock(shard.mutex);
      if (auto it = shard.entries.find(std::string(text)); it != shard.entries.end()) {
        return it->second;
      }
    }
    std::optional<ParsedNumber> parsed = ParseUncached(text);
    std::lock_guard lock(shard.mutex);
    if (shard.entries.size() >= kEntriesPerShard) shard.entries.clear();
    shard.entries.emplace(std::string(text), parsed);
    return parsed;
  }

 private:
  static constexpr std::size_t kEntriesPerShard = 4096;
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::optional<ParsedNumber>> entries;
  };
  std::array<Shard, 16> shards_;
};

}  // namespace

std::optional<ParsedNumber> ParseValidNumber(std::string_view text) {
  // A bound well above any real number keeps libphonenumber away from hostile input.
  if (text.empty() || text.size() > 32) return std::nullopt;
  static ParseCache* cache = new ParseCache;  // Never destroyed: used until the process exits.
  return cache->Parse(text);
}

bool IsUsOrCanada(std::string_view region) { return region == "US" || region == "CA"; }

bool LooksLikeShortCode(std::string_view text) {
  return (text.size() == 5 || text.size() == 6) &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace mmsgate::carriers
