#include "carriers/base/encoding.h"

#include <uriparser/Uri.h>

#include <cctype>
#include <stdexcept>
#include <vector>

#include "absl/strings/escaping.h"

namespace mmsgate {

std::string HexEncode(std::string_view bytes) {
  return absl::BytesToHexString(absl::string_view(bytes.data(), bytes.size()));
}

std::string Base64Encode(std::string_view bytes) {
  return absl::Base64Escape(absl::string_view(bytes.data(), bytes.size()));
}

absl::StatusOr<std::string> Base64Decode(std::string_view text) {
  std::string out;
  if (!absl::Base64Unescape(absl::string_view(text.data(), text.size()), &out)) {
    return absl::InvalidArgumentError("not base64");
  }
  return out;
}

std::string PercentEncode(std::string_view text, bool space_as_plus) {
  // uriparser stops at a NUL byte even when given the end (found by fuzz/form_fuzz.cc: a value
  // "a\0b" came out as "a"), so each run between NULs is escaped on its own and a NUL is %00.
  std::string out;
  out.reserve(text.size() * 3);
  while (true) {
    const std::string_view run = text.substr(0, text.find('\0'));
    // uriparser needs room for three bytes per input byte, and a terminating NUL.
    std::string escaped(run.size() * 3 + 1, '\0');
    const char* end = uriEscapeExA(run.data(), run.data() + run.size(), escaped.data(),
                                   space_as_plus ? URI_TRUE : URI_FALSE, URI_FALSE);
    out.append(escaped.data(), static_cast<std::size_t>(end - escaped.data()));
    if (run.size() == text.size()) return out;
    out += "%00";
    text.remove_prefix(run.size() + 1);
  }
}

absl::StatusOr<std::string> PercentDecode(std::string_view text, bool plus_as_space,
                                          std::size_t offset) {
  // uriparser decodes in place and leaves a malformed escape as it is; what users want is to be
  // told where it is, so the escapes are checked first.
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\0') {
      return absl::InvalidArgumentError("a raw NUL byte at byte " + std::to_string(offset + i) +
                                        "; percent-encode it as %00");
    }
    if (text[i] != '%') continue;
    if (text.size() - i < 3 || !hex(text[i + 1]) || !hex(text[i + 2])) {
      return absl::InvalidArgumentError(
          "malformed percent-escape \"" + std::string(text.substr(i, 3)) + "\" at byte " +
          std::to_string(offset + i) +
          ": '%' must be followed by two hex digits (send '%' as %25)");
    }
  }
  std::string out(text);
  const char* end =
      uriUnescapeInPlaceExA(out.data(), plus_as_space ? URI_TRUE : URI_FALSE, URI_BR_DONT_TOUCH);
  out.resize(static_cast<std::size_t>(end - out.data()));
  return out;
}

}  // namespace mmsgate
