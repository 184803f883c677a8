#include "carriers/number_plan.h"

namespace mmsgate::carriers {

NumberPlan::NumberPlan(const std::vector<mmsgate::v1::Carrier>& carriers) : carriers_(carriers) {
  for (std::size_t i = 0; i < carriers_.size(); ++i) {
    const auto& carrier = carriers_[i];
    for (const auto& prefix : carrier.prefixes()) {
      prefixes_.emplace(prefix, i);
      longest_prefix_ = std::max(longest_prefix_, prefix.size());
    }
    if (carrier.default_for_country()) {
      country_default_[carrier.country()] = i;
    } else {
      // The first carrier of a country serves it unless another is marked default.
      country_default_.emplace(carrier.country(), i);
    }
  }
}

const mmsgate::v1::Carrier* NumberPlan::CarrierFor(std::string_view e164,
                                                   std::string_view region) const {
  // Longest prefix first: try each length from the longest configured down to one.
  for (std::size_t len = std::min(longest_prefix_, e164.size()); len > 0; --len) {
    auto it = prefixes_.find(e164.substr(0, len));
    if (it != prefixes_.end()) return &carriers_[it->second];
  }
  auto it = country_default_.find(region);
  if (it != country_default_.end()) return &carriers_[it->second];
  return nullptr;
}

const mmsgate::v1::Carrier* NumberPlan::FindCarrier(std::string_view id) const {
  for (const auto& carrier : carriers_) {
    if (carrier.id() == id) return &carrier;
  }
  return nullptr;
}

}  // namespace mmsgate::carriers
