#include "gateway/core/router.h"

#include "carriers/base/errors.h"
#include "carriers/phone_numbers.h"
#include "mmsc/media_rules.h"

namespace mmsgate::gateway {
namespace {
namespace v1 = mmsgate::v1;
using absl::StatusCode;
}  // namespace

absl::StatusOr<RouteDecision> Route(const carriers::NumberPlan& plan, const v1::Account& account,
                                    const std::string& e164, const std::string& region,
                                    bool has_media, int64_t media_bytes) {
  RouteDecision decision;
  decision.carrier = plan.CarrierFor(e164, region);
  if (decision.carrier == nullptr) {
    return ProviderError(StatusCode::kFailedPrecondition, error_codes::kUnroutable,
                         "no simulated carrier serves " + e164 + " (region " + region +
                             "); add a carrier for it to the scenario");
  }
  if (!has_media) return decision;  // Plain SMS.
  if (carriers::IsUsOrCanada(region)) {
    const auto& carrier = *decision.carrier;
    const int64_t limit =
        carrier.max_mms_bytes() > 0 ? carrier.max_mms_bytes() : mmsc::kMaxTotalMediaBytes;
    if (!carrier.supports_mms()) {
      decision.delivered_as = v1::SMS_WITH_LINK;
      decision.fallback_reason = v1::CARRIER_NO_MMS;
    } else if (media_bytes > limit) {
      decision.delivered_as = v1::SMS_WITH_LINK;
      decision.fallback_reason = v1::OVER_CARRIER_SIZE_LIMIT;
    } else {
      decision.delivered_as = v1::MMS;
    }
    return decision;
  }
  if (account.settings().disable_international_mms_conversion()) {
    return ProviderError(StatusCode::kFailedPrecondition, error_codes::kMmsNotSupported,
                         "MMS to " + e164 + " (region " + region +
                             ") is not supported outside the US and Canada, and this account "
                             "disabled international MMS conversion; send it without media, or "
                             "enable the conversion to deliver an SMS with a media link");
  }
  decision.delivered_as = v1::SMS_WITH_LINK;
  decision.fallback_reason = v1::INTERNATIONAL;
  return decision;
}

}  // namespace mmsgate::gateway
