#pragma once
// Routing (rules 3-5): which simulated carrier a destination goes to, and whether an MMS goes out
// as MMS, as an SMS with a link to its media, or is refused.
//
// Pure functions over a snapshot of the number plan (carriers::CarrierFleet::plan()), safe from
// any thread.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "carriers/number_plan.h"
#include "mmsgate/v1/messaging.pb.h"
#include "mmsgate/v1/scenario.pb.h"

namespace mmsgate::gateway {

// The route decision on its own (rules 3-5): which carrier, and MMS, SMS or SMS-plus-link.
struct RouteDecision {
  const mmsgate::v1::Carrier* carrier = nullptr;
  mmsgate::v1::DeliveredAs delivered_as = mmsgate::v1::SMS;
  mmsgate::v1::FallbackReason fallback_reason = mmsgate::v1::NONE;
};

// Routes a parsed destination. `media_bytes` is the total size of the media (0 for SMS).
// Fails with 21612 when no carrier serves the destination, and with 30011 for an MMS abroad
// when the account disabled international conversion.
[[nodiscard]] absl::StatusOr<RouteDecision> Route(const carriers::NumberPlan& plan,
                                                  const mmsgate::v1::Account& account,
                                                  const std::string& e164,
                                                  const std::string& region, bool has_media,
                                                  int64_t media_bytes);

}  // namespace mmsgate::gateway
