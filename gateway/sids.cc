#include "gateway/sids.h"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace mmsgate::gateway {

std::string NewSid(std::string_view prefix) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed: cannot make a SID");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string sid(prefix);
  sid.reserve(prefix.size() + 32);
  for (unsigned char b : bytes) {
    sid.push_back(kHex[b >> 4]);
    sid.push_back(kHex[b & 0xf]);
  }
  return sid;
}

bool IsSid(std::string_view sid, std::string_view prefix) {
  if (sid.size() != prefix.size() + 32 || !sid.starts_with(prefix)) return false;
  return std::all_of(sid.begin() + prefix.size(), sid.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace mmsgate::gateway
