#pragma once
// The number plan: which simulated carrier serves a destination number.
//
// Immutable once built; share it as std::shared_ptr<const NumberPlan> and swap a whole new plan
// in when carriers change at run time, so lookups never take a lock.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mmsgate/v1/scenario.pb.h"

namespace mmsgate::carriers {

class NumberPlan {
 public:
  explicit NumberPlan(const std::vector<mmsgate::v1::Carrier>& carriers);

  // The carrier for an E.164 destination in `region`: the longest matching prefix, else the
  // region's default carrier (the one marked default_for_country, else the first carrier of
  // that country). nullptr when nothing serves it (the gateway answers 21612).
  const mmsgate::v1::Carrier* CarrierFor(std::string_view e164, std::string_view region) const;

  const mmsgate::v1::Carrier* FindCarrier(std::string_view id) const;
  const std::vector<mmsgate::v1::Carrier>& carriers() const { return carriers_; }

 private:
  std::vector<mmsgate::v1::Carrier> carriers_;
  // prefix -> index into carriers_, ordered so the longest match can be found by walking back.
  std::map<std::string, std::size_t, std::less<>> prefixes_;
  std::map<std::string, std::size_t, std::less<>> country_default_;
  std::size_t longest_prefix_ = 0;
};

}  // namespace mmsgate::carriers
