#pragma once
// The cryptography mmsgate needs, in one place and all from OpenSSL: SHA-256 of media (content
// addresses and the sha256 a handset reports), HMAC-SHA1 for the provider's webhook signature,
// unguessable random identifiers, and a comparison of secrets that takes the same time wherever
// they differ.
//
// Pure functions, safe from any thread. A failure of OpenSSL itself throws std::runtime_error:
// a signature or identifier must never silently come out weak.

#include <cstddef>
#include <string>
#include <string_view>

namespace mmsgate {

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Raw (binary) HMAC-SHA1 of `message` under `key`.
std::string HmacSha1(std::string_view key, std::string_view message);

// `bytes` random bytes from OpenSSL's CSPRNG, as lowercase hex.
std::string RandomHex(std::size_t bytes);

// True when `a` equals `b`; the time taken does not depend on where they differ (only on the
// length), so a secret cannot be guessed byte by byte from response times.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace mmsgate
