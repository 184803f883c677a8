#pragma once
// Input rules that more than one entry point applies: the gRPC front door, the REST facade, the
// scenario loader, the directory and admission all refuse the same input with the same code and
// the same words.
//
// Pure functions, safe from any thread. Every refusal is a provider error (mmsgate/errors.h)
// that names the field.

#include <string_view>

#include "absl/status/status.h"
#include "mmsgate/v1/scenario.pb.h"

namespace mmsgate::gateway {

// Longest URL accepted in a webhook or status-callback field.
inline constexpr std::size_t kMaxUrlBytes = 2048;

// `value` of `field` must be valid UTF-8 (protobuf strings, and so every stored record, must
// be). kInvalidArgument with `code`.
[[nodiscard]] absl::Status CheckText(std::string_view field, std::string_view value, int code);

// An optional webhook or callback URL: empty, or an http:// or https:// URL with a host, at most
// kMaxUrlBytes, valid UTF-8, without spaces or control characters. kInvalidArgument with `code`.
[[nodiscard]] absl::Status CheckCallbackUrl(std::string_view field, std::string_view url, int code);

// The provider code for a REST parameter whose value is unusable as text (not UTF-8): To 21211,
// From 21212, StatusCallback 21609, MediaUrl 21620, anything else 21200.
[[nodiscard]] int CodeForInvalidParameter(std::string_view name);

// Rule 1: MMS exists only on US/Canadian long codes and US short codes.
[[nodiscard]] bool MmsAllowedOn(mmsgate::v1::NumberType type, std::string_view country);

}  // namespace mmsgate::gateway
