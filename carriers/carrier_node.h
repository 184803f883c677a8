#pragma once
// A simulated mobile carrier.
//
// Contract (as Kannel's SMSC drivers): a CarrierNode never blocks the io_context. Each node runs
// on its own strand; every public method may be called from any thread. For every submitted
// message the node calls DeliveryListener::OnCarrierAccepted at most once (when the carrier
// takes it from its queue: the provider's SENT) and then OnDeliveryReport exactly once, both on
// the node's strand — unless the io_context stops first, in which case the message stays in
// the gateway's outbox. The handset has the message before a successful report is made.
//
// Behaviour, all in simulated time (mmsgate/clock.h):
//   * a bounded queue (queue_capacity; when full: FAILED 30001), drained at most max_mps
//     messages per second on an absolute schedule;
//   * latency per message: fixed, or lognormal from median and p99, plus fault latency;
//   * failures drawn per message from the carrier's failure modes (and fault loss);
//   * faults with a duration: OUTAGE (the queue waits; the gateway retries with exponential
//     backoff from 1 s to 60 s), MMS_UNSUPPORTED (routing sends new MMS as SMS plus link),
//     EXTRA_LATENCY, EXTRA_LOSS (30008);
//   * a message still queued at its deadline fails with 30036 (validity period expired).
// Draws come from one seeded stream per carrier, in submission order, so the same scenario,
// seed and input give the same outcomes.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "carriers/base/clock.h"
#include "carriers/handsets.h"
#include "carriers/outcome_rules.h"
#include "mmsgate/v1/scenario.pb.h"
#include "mmsgate/v1/simulator.pb.h"

namespace mmsgate::carriers {

struct SimulationSettings {
  // Keys every random draw of the run (with the carrier and the message's acceptance order).
  uint64_t seed = 0;
  // Deterministic outcomes by destination; null: none.
  std::shared_ptr<const OutcomeRuleBook> outcome_rules;
};

class CarrierNode : public std::enable_shared_from_this<CarrierNode> {
 public:
  CarrierNode(boost::asio::io_context& io, Clock& clock, mmsgate::v1::Carrier config,
              SimulationSettings simulation, Handsets& handsets);

  // Queues a message. `delivery.deadline` (simulated) bounds how long it may wait here.
  void Submit(HandsetDelivery delivery);
  // Stops for good (Simulator.Reset replaced it): what it holds is dropped, its timers end
  // without reporting, and a message submitted later is ignored.
  void Retire();
  bool retired() const { return retired_.load(std::memory_order_acquire); }

  // Replaces the configuration; messages already in flight keep their drawn latency.
  void UpdateConfig(mmsgate::v1::Carrier config);

  // Starts a fault now (visible to State and MmsSuspended on return); it ends by itself after
  // its duration.
  void SetFault(const mmsgate::v1::CarrierFault& fault);

  // True while an MMS_UNSUPPORTED fault is active (routing reads this).
  bool MmsSuspended() const { return mms_suspended_.load(std::memory_order_acquire); }

  // Called (on the thread that started or ended the fault) when MmsSuspended() changes.
  void OnMmsSuspensionChanged(std::function<void()> callback);

  // An MMS routed here went out as SMS with a link (counted by the gateway at admission).
  void CountFallback() { fallback_count_.fetch_add(1, std::memory_order_relaxed); }

  // Configuration, counters, latency percentiles and active faults; any thread.
  mmsgate::v1::CarrierState State() const;

  const std::string& id() const { return id_; }

 private:
  struct Queued {
    HandsetDelivery delivery;
  };
  struct Fault {
    mmsgate::v1::CarrierFault fault;
    SimTime ends;
  };

  // All below run on the strand.
  void Enqueue(HandsetDelivery delivery);
  // `retry`: called by the pump timer (a retry during an outage doubles the backoff).
  void Pump(bool retry = false);
  void ArmPumpTimer(SimTime when);
  // Sends in the slot at `slot` (simulated): the outcome comes at slot + latency.
  void Send(HandsetDelivery delivery, SimTime slot);
  // Strand: the outcome of a delivery the carrier took at `outcome_at` minus its latency.
  // A failure_code of 0 delivers; otherwise UNDELIVERED with it, or FAILED when `failed`.
  // `reason`: the error message when an outcome rule decided (empty: the code's own words).
  void Conclude(HandsetDelivery delivery, int failure_code, bool failed, const std::string& reason,
                SimTime outcome_at);
  void Report(DeliveryListener* listener, const std::string& sid, SimTime at,
              DeliveryReport::Outcome outcome, int code, std::string message,
              std::optional<HandsetArrival> arrival = std::nullopt);
  void ExpireOverdue(SimTime now);
  bool FaultActive(mmsgate::v1::CarrierFault::Kind kind, SimTime now) const;
  double FaultSum(double (mmsgate::v1::CarrierFault::*field)() const,
                  mmsgate::v1::CarrierFault::Kind kind, SimTime now) const;
  void EndFault(SimTime ends);
  void UpdateMmsSuspension(SimTime now);
  // Simulated milliseconds the carrier applies to this message.
  // A message's own random stream (SplitMix64), fixed by the seed, the carrier and the
  // message's acceptance order. Seeding one costs nothing, where a Mersenne Twister initialised
  // 312 words per message (about 1% of the gateway's CPU under load).
  struct MessageStream {
    using result_type = uint64_t;
    uint64_t state;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return ~result_type{0}; }
    result_type operator()();
  };
  double DrawLatencyMs(MessageStream& random);

  const std::string id_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  Clock& clock_;
  Handsets& handsets_;

  // Strand only.
  mmsgate::v1::Carrier config_;
  const uint64_t carrier_seed_;
  const std::shared_ptr<const OutcomeRuleBook> outcome_rules_;
  // For reservoir sampling of latencies only; outcomes use per-message streams.
  std::mt19937_64 random_;
  std::deque<Queued> queue_;
  SimTime next_slot_{};
  std::unique_ptr<Timer> pump_timer_;
  SimTime pump_armed_for_ = kNever;
  // Simulated seconds until the next retry during an outage.
  double outage_backoff_seconds_ = 0;

  // Faults are set from any thread and read on the strand: one list under its own lock, so a
  // fault is visible (to routing and to State) the moment SetFault returns.
  mutable std::mutex faults_mutex_;
  std::vector<Fault> faults_;
  std::function<void()> on_mms_suspension_changed_;

  // Readable from any thread.
  mutable std::mutex shared_mutex_;
  mmsgate::v1::Carrier config_copy_;
  std::map<int32_t, int64_t> undelivered_by_code_;
  std::vector<double> latency_samples_ms_;
  uint64_t latency_samples_seen_ = 0;
  std::atomic<bool> mms_suspended_{false};
  std::atomic<bool> retired_{false};
  std::atomic<int64_t> submitted_{0};
  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> queued_now_{0};
  std::atomic<int64_t> fallback_count_{0};
  std::atomic<int64_t> expired_{0};
  std::atomic<int64_t> rejected_queue_full_{0};
};

}  // namespace mmsgate::carriers
