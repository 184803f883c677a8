#pragma once
// The set of simulated carriers of a run, with the number plan that routes to them.
//
// Thread-safe. The plan is an immutable snapshot swapped whole when carriers or their MMS
// support change, so routing never waits for a lock held by a reconfiguration.

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "carriers/carrier_node.h"
#include "carriers/number_plan.h"

namespace mmsgate::carriers {

class CarrierFleet {
 public:
  CarrierFleet(boost::asio::io_context& io, Clock& clock,
               const std::vector<mmsgate::v1::Carrier>& carriers, SimulationSettings simulation,
               Handsets& handsets);

  // The plan as routing sees it: a carrier under an MMS_UNSUPPORTED fault has supports_mms off.
  std::shared_ptr<const NumberPlan> plan() const;
  // nullptr for an unknown id.
  std::shared_ptr<CarrierNode> Node(const std::string& id) const;
  // Adds a carrier, or reconfigures the one with the same id.
  void Upsert(const mmsgate::v1::Carrier& carrier);
  // Back to `carriers` as at start (Simulator.Reset): every node is retired (what it holds is
  // dropped) and a fresh one made for each carrier, with fresh counters, no faults and the
  // same random streams as a fresh start.
  void Reset(const std::vector<mmsgate::v1::Carrier>& carriers);
  // NotFound for an unknown carrier.
  [[nodiscard]] absl::Status SetFault(const std::string& carrier_id,
                                      const mmsgate::v1::CarrierFault& fault);
  std::vector<mmsgate::v1::CarrierState> States() const;
  // Deterministic outcomes by destination, for every carrier.
  OutcomeRuleBook& outcome_rules() { return *outcome_rules_; }

 private:
  void RebuildPlan();  // mutex_ held

  boost::asio::io_context& io_;
  Clock& clock_;
  std::shared_ptr<OutcomeRuleBook> outcome_rules_ = std::make_shared<OutcomeRuleBook>();
  SimulationSettings simulation_;
  Handsets& handsets_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<CarrierNode>> nodes_;
  std::vector<mmsgate::v1::Carrier> configs_;
  std::shared_ptr<const NumberPlan> plan_;
};

}  // namespace mmsgate::carriers
