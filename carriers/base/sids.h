#pragma once
// Resource identifiers: two capital letters (SM, MM, ME, AC, PN) and 32 lowercase hex digits.

#include <string>
#include <string_view>

namespace mmsgate {

// A new SID: 64 bits that grow with creation time (unique within the process and across
// restarts), then 64 random bits from OpenSSL's CSPRNG.
std::string NewSid(std::string_view prefix);

// True when `sid` is `prefix` followed by 32 lowercase hex digits.
bool IsSid(std::string_view sid, std::string_view prefix);

}  // namespace mmsgate
