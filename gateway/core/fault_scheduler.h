#pragma once
// Carrier faults a scenario schedules (`scheduled_faults`), started at their simulated time after
// the gateway starts, so experiments replay exactly.
//
// Threading rule: timers on the io_context; starting a fault never blocks.

#include <boost/asio/io_context.hpp>
#include <memory>
#include <vector>

#include "carriers/base/clock.h"
#include "carriers/fleet.h"
#include "mmsgate/v1/scenario.pb.h"

namespace mmsgate::gateway {

class FaultScheduler {
 public:
  FaultScheduler(boost::asio::io_context& io, Clock& clock, carriers::CarrierFleet& fleet);
  // Arms a timer per fault, counting from now.
  void Schedule(const std::vector<mmsgate::v1::ScheduledFault>& faults);
  // Cancels what has not started yet.
  void Stop();
  // Cancels what has not started and arms `faults` again from now (Simulator.Reset). Not
  // concurrently with itself or Schedule.
  void Restart(const std::vector<mmsgate::v1::ScheduledFault>& faults) {
    Stop();
    timers_.clear();
    Schedule(faults);
  }

 private:
  boost::asio::io_context& io_;
  Clock& clock_;
  carriers::CarrierFleet& fleet_;
  std::vector<std::shared_ptr<Timer>> timers_;
};

}  // namespace mmsgate::gateway
