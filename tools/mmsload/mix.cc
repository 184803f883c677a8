#include "mmsload/mix.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <sstream>

namespace mmsload {

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kSms:
      return "sms";
    case Kind::kMms:
      return "mms";
    case Kind::kIntl:
      return "intl";
    case Kind::kNoMms:
      return "nomms";
  }
  return "?";
}

std::optional<Mix> ParseMix(const std::string& text, std::string* error) {
  Mix mix;
  mix.weights = {0, 0, 0, 0};
  std::stringstream parts(text);
  std::string part;
  while (std::getline(parts, part, ',')) {
    const auto equals = part.find('=');
    const std::string name = part.substr(0, equals);
    int kind = -1;
    for (int k = 0; k < kKinds; ++k) {
      if (name == KindName(static_cast<Kind>(k))) kind = k;
    }
    if (kind < 0 || equals == std::string::npos) {
      *error = "--mix: '" + part + "' is not KIND=WEIGHT with KIND one of sms, mms, intl, nomms";
      return std::nullopt;
    }
    const std::string weight = part.substr(equals + 1);
    char* end = nullptr;
    const long value = std::strtol(weight.c_str(), &end, 10);
    if (weight.empty() || *end != '\0' || value < 0 || value > 1000000) {
      *error =
          "--mix: the weight of " + name + " must be a whole number from 0, not '" + weight + "'";
      return std::nullopt;
    }
    mix.weights[kind] = static_cast<int>(value);
  }
  if (std::accumulate(mix.weights.begin(), mix.weights.end(), 0) == 0) {
    *error = "--mix: every weight is zero";
    return std::nullopt;
  }
  return mix;
}

Kind KindFor(const Mix& mix, int64_t index) {
  const int64_t total = std::accumulate(mix.weights.begin(), mix.weights.end(), int64_t{0});
  // A stride near total/phi that is coprime with total visits every slot of a cycle once: each
  // `total` consecutive messages hold exactly the weights, and kinds interleave.
  int64_t stride = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(total) * 0.618));
  while (std::gcd(stride, total) != 1) ++stride;
  const int64_t slot = (index % total) * stride % total;
  int64_t upto = 0;
  for (int k = 0; k < kKinds; ++k) {
    upto += mix.weights[k];
    if (slot < upto) return static_cast<Kind>(k);
  }
  return Kind::kSms;
}

}  // namespace mmsload
