#include "carriers/phone_numbers.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <cctype>

namespace mmsgate::carriers {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

std::optional<ParsedNumber> ParseValidNumber(std::string_view text) {
  // A bound well above any real number keeps libphonenumber away from hostile input.
  if (text.empty() || text.size() > 32) return std::nullopt;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  if (util.Parse(std::string(text), "US", &number) != PhoneNumberUtil::NO_PARSING_ERROR) {
    return std::nullopt;
  }
  if (!util.IsValidNumber(number)) return std::nullopt;
  ParsedNumber parsed;
  util.Format(number, PhoneNumberUtil::E164, &parsed.e164);
  util.GetRegionCodeForNumber(number, &parsed.region);
  parsed.toll_free = util.GetNumberType(number) == PhoneNumberUtil::TOLL_FREE;
  return parsed;
}

bool IsUsOrCanada(std::string_view region) { return region == "US" || region == "CA"; }

bool LooksLikeShortCode(std::string_view text) {
  return (text.size() == 5 || text.size() == 6) &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace mmsgate::carriers
