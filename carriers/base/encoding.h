#pragma once
// Byte encodings every layer needs: lowercase hex, and random hex identifiers from OpenSSL's
// CSPRNG (SIDs, link tokens, idempotency tokens).

#include <cstddef>
#include <string>
#include <string_view>

namespace mmsgate {

// Lowercase hex, two digits per byte.
std::string HexEncode(std::string_view bytes);

// `bytes` random bytes from OpenSSL's CSPRNG, as lowercase hex. Throws std::runtime_error if
// the generator fails (an unguessable identifier must not silently become guessable).
std::string RandomHex(std::size_t bytes);

}  // namespace mmsgate
