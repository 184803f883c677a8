#include "gateway/core/rules.h"

#include <string>

#include "carriers/base/errors.h"
#include "carriers/base/text.h"

namespace mmsgate::gateway {

absl::Status CheckText(std::string_view field, std::string_view value, int code) {
  if (const auto bad = FirstInvalidUtf8(value)) {
    return ProviderError(absl::StatusCode::kInvalidArgument, code,
                         std::string(field) + " is not valid UTF-8 (byte " + std::to_string(*bad) +
                             " of " + QuoteText(value) +
                             "); send text as UTF-8, percent-encoded in forms and URLs");
  }
  return absl::OkStatus();
}

absl::Status CheckCallbackUrl(std::string_view field, std::string_view url, int code) {
  if (url.empty()) return absl::OkStatus();
  if (auto status = CheckText(field, url, code); !status.ok()) return status;
  auto refuse = [&](const std::string& why) {
    return ProviderError(absl::StatusCode::kInvalidArgument, code,
                         std::string(field) + " " + QuoteText(url, 80) + " " + why);
  };
  if (url.size() > kMaxUrlBytes) {
    return refuse("is longer than " + std::to_string(kMaxUrlBytes) + " bytes");
  }
  for (const char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) {
      return refuse("contains a space or control character; percent-encode it");
    }
  }
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else {
    return refuse("is not an http:// or https:// URL");
  }
  if (rest.empty() || rest.front() == '/' || rest.front() == '?' || rest.front() == '#') {
    return refuse("has no host");
  }
  return absl::OkStatus();
}

int CodeForInvalidParameter(std::string_view name) {
  if (name == "To") return error_codes::kInvalidTo;
  if (name == "From") return error_codes::kInvalidFrom;
  if (name == "StatusCallback") return error_codes::kInvalidStatusCallback;
  if (name == "MediaUrl") return error_codes::kInvalidMediaUrl;
  return error_codes::kInvalidParameter;
}

bool MmsAllowedOn(mmsgate::v1::NumberType type, std::string_view country) {
  return (type == mmsgate::v1::LONG_CODE && (country == "US" || country == "CA")) ||
         (type == mmsgate::v1::SHORT_CODE && country == "US");
}

}  // namespace mmsgate::gateway
