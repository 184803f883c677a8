#include "carriers/base/encoding.h"

#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace mmsgate {

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 0xf]);
  }
  return hex;
}

std::string RandomHex(std::size_t bytes) {
  std::vector<unsigned char> random(bytes);
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed: cannot make an unguessable identifier");
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(random.data()), random.size()));
}

}  // namespace mmsgate
