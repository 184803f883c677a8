#include "carriers/base/sids.h"

#include <algorithm>

#include "carriers/base/crypto.h"

namespace mmsgate {

std::string NewSid(std::string_view prefix) { return std::string(prefix) + RandomHex(16); }

bool IsSid(std::string_view sid, std::string_view prefix) {
  if (sid.size() != prefix.size() + 32 || !sid.starts_with(prefix)) return false;
  return std::all_of(sid.begin() + prefix.size(), sid.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace mmsgate
