#pragma once
// --mix: a traffic mix of message kinds by weight, e.g. "sms=70,mms=20,intl=5,nomms=5".
//   sms    plain text to --to-prefix / --to
//   mms    one inline image to the same destinations (delivered as MMS where the carrier can)
//   intl   one inline image to --intl-prefix (outside the US and Canada: sent as SMS + link)
//   nomms  one inline image to --nomms-prefix (a carrier without MMS: SMS + link)
// Pure functions, no I/O.

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace mmsload {

enum class Kind { kSms = 0, kMms = 1, kIntl = 2, kNoMms = 3 };
inline constexpr int kKinds = 4;
const char* KindName(Kind kind);

struct Mix {
  // Weights by Kind; they need not add up to 100.
  std::array<int, kKinds> weights{100, 0, 0, 0};
  [[nodiscard]] bool carries_media() const { return weights[1] + weights[2] + weights[3] > 0; }
};

// Parses "sms=70,mms=20,intl=5,nomms=5" (any subset, any order); nullopt with `error` set for
// an unknown kind, a weight that is not a non-negative integer, or all weights zero.
std::optional<Mix> ParseMix(const std::string& text, std::string* error);

// The kind of message `index`: a fixed spread (not random): every run of sum-of-weights
// consecutive messages holds exactly the weights, and a run is the same each time.
Kind KindFor(const Mix& mix, int64_t index);

}  // namespace mmsload
