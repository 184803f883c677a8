#include "gateway/api/rest/form_encoding.h"

#include <algorithm>
#include <string_view>

#include "absl/status/status.h"

namespace mmsgate::gateway {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendEncoded(std::string_view text, std::string& out) {
  for (unsigned char c : text) {
    if (IsUnreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
}

// Decodes body[begin, end); `begin` is also the offset quoted in errors, so that a client can
// find the bad escape in what it sent.
absl::StatusOr<std::string> DecodeComponent(const std::string& body, std::size_t begin,
                                            std::size_t end) {
  std::string out;
  out.reserve(end - begin);
  for (std::size_t i = begin; i < end; ++i) {
    const char c = body[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (end - i < 3 || HexValue(body[i + 1]) < 0 || HexValue(body[i + 2]) < 0) {
        const std::string escape = body.substr(i, std::min<std::size_t>(3, end - i));
        return absl::InvalidArgumentError(
            "malformed percent-escape \"" + escape + "\" at byte " + std::to_string(i) +
            " of the form body: '%' must be followed by two hex digits (send '%' as %25)");
      }
      out.push_back(static_cast<char>(HexValue(body[i + 1]) * 16 + HexValue(body[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string FormEncode(const FormParams& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    AppendEncoded(name, out);
    out.push_back('=');
    AppendEncoded(value, out);
  }
  return out;
}

absl::StatusOr<FormParams> FormDecode(const std::string& body, std::size_t max_fields) {
  FormParams params;
  std::size_t begin = 0;
  while (begin <= body.size()) {
    std::size_t end = body.find('&', begin);
    if (end == std::string::npos) end = body.size();
    if (end > begin) {
      if (params.size() == max_fields) {
        return absl::InvalidArgumentError("the form body has more than " +
                                          std::to_string(max_fields) + " fields");
      }
      std::size_t equals = body.find('=', begin);
      if (equals == std::string::npos || equals > end) equals = end;
      auto name = DecodeComponent(body, begin, equals);
      if (!name.ok()) return name.status();
      auto value = equals < end ? DecodeComponent(body, equals + 1, end) : std::string();
      if (!value.ok()) return value.status();
      params.emplace_back(*std::move(name), *std::move(value));
    }
    begin = end + 1;
  }
  return params;
}

}  // namespace mmsgate::gateway
