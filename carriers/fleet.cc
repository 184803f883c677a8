#include "carriers/fleet.h"

namespace mmsgate::carriers {

CarrierFleet::CarrierFleet(boost::asio::io_context& io,
                           const std::vector<mmsgate::v1::Carrier>& carriers,
                           SimulationSettings simulation, Handsets& handsets,
                           DeliveryListener& listener)
    : io_(io), simulation_(simulation), handsets_(handsets), listener_(listener) {
  for (const auto& carrier : carriers) Upsert(carrier);
  std::lock_guard lock(mutex_);
  if (!plan_) plan_ = std::make_shared<const NumberPlan>(configs_);
}

std::shared_ptr<const NumberPlan> CarrierFleet::plan() const {
  std::lock_guard lock(mutex_);
  return plan_;
}

std::shared_ptr<CarrierNode> CarrierFleet::Node(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : it->second;
}

void CarrierFleet::Upsert(const mmsgate::v1::Carrier& carrier) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(carrier.id());
  if (it == nodes_.end()) {
    nodes_[carrier.id()] =
        std::make_shared<CarrierNode>(io_, carrier, simulation_, handsets_, listener_);
    configs_.push_back(carrier);
  } else {
    it->second->UpdateConfig(carrier);
    for (auto& config : configs_) {
      if (config.id() == carrier.id()) config = carrier;
    }
  }
  plan_ = std::make_shared<const NumberPlan>(configs_);
}

std::vector<mmsgate::v1::CarrierState> CarrierFleet::States() const {
  std::vector<mmsgate::v1::CarrierState> states;
  std::lock_guard lock(mutex_);
  for (const auto& config : configs_) states.push_back(nodes_.at(config.id())->State());
  return states;
}

}  // namespace mmsgate::carriers
