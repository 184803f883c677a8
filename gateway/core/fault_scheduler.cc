#include "gateway/core/fault_scheduler.h"

#include <spdlog/spdlog.h>

namespace mmsgate::gateway {

namespace v1 = mmsgate::v1;

FaultScheduler::FaultScheduler(boost::asio::io_context& io, Clock& clock,
                               carriers::CarrierFleet& fleet)
    : io_(io), clock_(clock), fleet_(fleet) {}

void FaultScheduler::Schedule(const std::vector<v1::ScheduledFault>& faults) {
  const SimTime start = clock_.Now();
  for (const auto& scheduled : faults) {
    std::shared_ptr<Timer> timer = clock_.MakeTimer(io_.get_executor());
    timer->WaitUntil(start + SimSeconds(scheduled.at_seconds()), [this, scheduled](bool fired) {
      if (!fired) return;
      spdlog::info("scheduled fault: {} on carrier {} for {} simulated seconds",
                   v1::CarrierFault::Kind_Name(scheduled.fault().kind()), scheduled.carrier_id(),
                   scheduled.fault().duration_seconds());
      if (auto status = fleet_.SetFault(scheduled.carrier_id(), scheduled.fault()); !status.ok()) {
        spdlog::warn("{}", std::string(status.message()));
      }
    });
    timers_.push_back(std::move(timer));
  }
}

void FaultScheduler::Stop() {
  for (auto& timer : timers_) timer->Cancel();
}

}  // namespace mmsgate::gateway
