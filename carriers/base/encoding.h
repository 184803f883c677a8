#pragma once
// Byte encodings every layer needs, from well-kept libraries rather than by hand: hex and base64
// (Abseil) and percent-encoding
// (uriparser). Random identifiers and digests are in crypto.h.
//
// Pure functions, safe from any thread.

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mmsgate {

// Lowercase hex, two digits per byte.
std::string HexEncode(std::string_view bytes);

// Standard base64 with padding (RFC 4648 §4).
std::string Base64Encode(std::string_view bytes);
// Decodes standard base64 (padding optional); nullopt-like error (kInvalidArgument) when it is
// not base64.
[[nodiscard]] absl::StatusOr<std::string> Base64Decode(std::string_view text);

// Percent-encodes every byte but RFC 3986's unreserved ones (A-Z a-z 0-9 - . _ ~), with
// uppercase hex; with `space_as_plus` a space becomes '+' (application/x-www-form-urlencoded).
std::string PercentEncode(std::string_view text, bool space_as_plus);

// Decodes %XX escapes (hex of either case); with `plus_as_space` a '+' is a space.
// kInvalidArgument for a malformed escape ("%G1", "%4", a trailing "%") or a raw NUL byte; the
// message gives the offset of the bad byte, plus `offset` (where `text` starts in what the
// client sent), so callers can point at it.
[[nodiscard]] absl::StatusOr<std::string> PercentDecode(std::string_view text, bool plus_as_space,
                                                        std::size_t offset = 0);

}  // namespace mmsgate
