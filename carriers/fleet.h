#pragma once
// The set of simulated carriers of a run, with the number plan that routes to them.
//
// Thread-safe. The plan is an immutable snapshot swapped whole on Upsert, so routing never
// waits for a lock held by a reconfiguration.

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "carriers/carrier_node.h"
#include "carriers/number_plan.h"

namespace mmsgate::carriers {

class CarrierFleet {
 public:
  CarrierFleet(boost::asio::io_context& io, const std::vector<mmsgate::v1::Carrier>& carriers,
               SimulationSettings simulation, Handsets& handsets, DeliveryListener& listener);

  std::shared_ptr<const NumberPlan> plan() const;
  // nullptr for an unknown id.
  std::shared_ptr<CarrierNode> Node(const std::string& id) const;
  // Adds a carrier, or reconfigures the one with the same id.
  void Upsert(const mmsgate::v1::Carrier& carrier);
  std::vector<mmsgate::v1::CarrierState> States() const;

 private:
  boost::asio::io_context& io_;
  SimulationSettings simulation_;
  Handsets& handsets_;
  DeliveryListener& listener_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<CarrierNode>> nodes_;
  std::vector<mmsgate::v1::Carrier> configs_;
  std::shared_ptr<const NumberPlan> plan_;
};

}  // namespace mmsgate::carriers
