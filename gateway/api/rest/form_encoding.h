#pragma once
// application/x-www-form-urlencoded, as the provider's REST API and webhooks speak it.
//
// Pure functions on byte strings, safe from any thread. Text is taken and given as UTF-8 bytes;
// decoding does not check that the bytes are valid UTF-8 (the caller decides what to accept).

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace mmsgate::gateway {

// Name/value pairs in order; a name may repeat (MediaUrl).
using FormParams = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::size_t kMaxFormFields = 1000;

// "Name=value&Name=value" in the order given. RFC 3986 unreserved bytes (A-Z a-z 0-9 - . _ ~)
// are kept, a space becomes '+', every other byte %XX with uppercase hex.
[[nodiscard]] std::string FormEncode(const FormParams& params);

// The pairs of a form body, in order, repeated names kept. '+' and %20 are spaces; hex digits
// of either case are accepted. Empty fields ("a=1&&b=2") are skipped; a field without '=' is a
// name with an empty value. kInvalidArgument, naming the byte offset, for a malformed escape
// ("%G1", "%4", a trailing "%"); kOutOfRange for more than `max_fields` fields.
[[nodiscard]] absl::StatusOr<FormParams> FormDecode(const std::string& body,
                                                    std::size_t max_fields = kMaxFormFields);

// How many fields of a form body are named `name` (as sent, not percent-decoded); counts
// without decoding, so it also works on a body FormDecode refuses.
[[nodiscard]] std::size_t CountFormFields(std::string_view body, std::string_view name);

}  // namespace mmsgate::gateway
