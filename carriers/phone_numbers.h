#pragma once
// Phone number parsing and classification, backed by libphonenumber.
//
// Thread-safe: libphonenumber's PhoneNumberUtil singleton is immutable after construction, and
// results are cached per distinct text (a sharded, bounded cache) so each number is parsed once.

#include <optional>
#include <string>
#include <string_view>

namespace mmsgate::carriers {

struct ParsedNumber {
  // E.164 form, e.g. "+12025550100".
  std::string e164;
  // ISO 3166-1 alpha-2 region libphonenumber assigns ("US", "CA", "GB"), or "ZZ" when unknown.
  std::string region;
  // libphonenumber's number type says toll-free (e.g. +1 800/833/844/855/866/877/888).
  bool toll_free = false;
};

// Parses a destination number. Accepts E.164 ("+44…") and, for convenience, national US
// numbers ("2025550100"). Returns nullopt unless libphonenumber's IsValidNumber accepts it.
std::optional<ParsedNumber> ParseValidNumber(std::string_view text);

// True for the two regions where MMS is delivered as MMS (rule 3).
bool IsUsOrCanada(std::string_view region);

// True for a short code as written by the provider: 5 or 6 digits, no "+".
bool LooksLikeShortCode(std::string_view text);

}  // namespace mmsgate::carriers
