#include "carriers/fleet.h"

#include "carriers/base/errors.h"

namespace mmsgate::carriers {

CarrierFleet::CarrierFleet(boost::asio::io_context& io, Clock& clock,
                           const std::vector<mmsgate::v1::Carrier>& carriers,
                           SimulationSettings simulation, Handsets& handsets)
    : io_(io), clock_(clock), simulation_(simulation), handsets_(handsets) {
  simulation_.outcome_rules = outcome_rules_;
  for (const auto& carrier : carriers) Upsert(carrier);
  std::lock_guard lock(mutex_);
  RebuildPlan();
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

void CarrierFleet::RebuildPlan() {
  std::vector<mmsgate::v1::Carrier> effective = configs_;
  for (auto& config : effective) {
    if (nodes_.at(config.id())->MmsSuspended()) config.set_supports_mms(false);
  }
  plan_ = std::make_shared<const NumberPlan>(effective);
}

void CarrierFleet::Reset(const std::vector<mmsgate::v1::Carrier>& carriers) {
  std::map<std::string, std::shared_ptr<CarrierNode>> retired;
  {
    std::lock_guard lock(mutex_);
    retired.swap(nodes_);
    configs_.clear();
  }
  for (auto& [_, node] : retired) node->Retire();
  for (const auto& carrier : carriers) Upsert(carrier);
  std::lock_guard lock(mutex_);
  RebuildPlan();
}

void CarrierFleet::Upsert(const mmsgate::v1::Carrier& carrier) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(carrier.id());
  if (it == nodes_.end()) {
    auto node = std::make_shared<CarrierNode>(io_, clock_, carrier, simulation_, handsets_);
    node->OnMmsSuspensionChanged([this] {
      std::lock_guard lock(mutex_);
      RebuildPlan();
    });
    nodes_[carrier.id()] = std::move(node);
    configs_.push_back(carrier);
  } else {
    it->second->UpdateConfig(carrier);
    for (auto& config : configs_) {
      if (config.id() == carrier.id()) config = carrier;
    }
  }
  RebuildPlan();
}

absl::Status CarrierFleet::SetFault(const std::string& carrier_id,
                                    const mmsgate::v1::CarrierFault& fault) {
  auto node = Node(carrier_id);
  if (!node) {
    return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                         "no carrier \"" + carrier_id.substr(0, 64) + "\" in the scenario");
  }
  node->SetFault(fault);
  return absl::OkStatus();
}

std::vector<mmsgate::v1::CarrierState> CarrierFleet::States() const {
  std::vector<mmsgate::v1::CarrierState> states;
  std::lock_guard lock(mutex_);
  for (const auto& config : configs_) states.push_back(nodes_.at(config.id())->State());
  return states;
}

}  // namespace mmsgate::carriers
