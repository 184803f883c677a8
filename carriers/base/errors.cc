#include "carriers/base/errors.h"

#include <string>

#include "absl/strings/cord.h"

namespace mmsgate {
namespace {
// Debian's Abseil is built with its own string_view type, so std::string crosses the boundary.
const std::string kPayloadUrl = "type.mmsgate.dev/error-code";
}  // namespace

absl::Status ProviderError(absl::StatusCode status_code, int code, std::string_view message) {
  absl::Status status(status_code, std::to_string(code) + ": " + std::string(message));
  status.SetPayload(kPayloadUrl, absl::Cord(std::to_string(code)));
  return status;
}

int ProviderErrorCode(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return 0;
  try {
    return std::stoi(std::string(*payload));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace mmsgate
