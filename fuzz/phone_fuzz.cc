// The phone-number path (libphonenumber behind carriers/phone_numbers.h): any text is parsed or
// refused; what parses is E.164 and parses again to itself.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "carriers/phone_numbers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)mmsgate::carriers::LooksLikeShortCode(text);
  const auto parsed = mmsgate::carriers::ParseValidNumber(text);
  if (!parsed) return 0;
  if (parsed->e164.empty() || parsed->e164[0] != '+') std::abort();
  const auto again = mmsgate::carriers::ParseValidNumber(parsed->e164);
  if (!again || again->e164 != parsed->e164) std::abort();
  (void)mmsgate::carriers::IsUsOrCanada(parsed->region);
  return 0;
}
