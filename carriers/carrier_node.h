#pragma once
// A simulated mobile carrier.
//
// Contract (as Kannel's SMSC drivers): a CarrierNode never blocks the io_context. Each node runs
// on its own strand; Submit may be called from any thread. For every submitted message the node
// calls DeliveryListener::OnCarrierAccepted at most once and then OnDeliveryReport exactly once,
// both on the node's strand. The handset has the message before a successful report is made.

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "carriers/handsets.h"
#include "mmsgate/v1/scenario.pb.h"
#include "mmsgate/v1/simulator.pb.h"

namespace mmsgate::carriers {

struct DeliveryReport {
  std::string message_sid;
  bool delivered = false;
  // Provider code when not delivered (30003, 30008, …); 0 when delivered.
  int error_code = 0;
  std::string error_message;
};

// How delivery results travel back up to the gateway (implemented there).
class DeliveryListener {
 public:
  virtual ~DeliveryListener() = default;
  // The carrier took the message (the provider's SENT).
  virtual void OnCarrierAccepted(const std::string& message_sid) = 0;
  // The final outcome of a submitted message.
  virtual void OnDeliveryReport(DeliveryReport report) = 0;
};

struct SimulationSettings {
  // Simulated seconds per real second; every simulated delay is divided by it.
  double time_scale = 1.0;
  uint64_t seed = 0;
};

class CarrierNode : public std::enable_shared_from_this<CarrierNode> {
 public:
  CarrierNode(boost::asio::io_context& io, mmsgate::v1::Carrier config,
              SimulationSettings simulation, Handsets& handsets, DeliveryListener& listener);

  // Queues a message for delivery. Thread-safe, never blocks.
  void Submit(HandsetDelivery delivery);

  // Replaces the configuration; messages already in flight keep their drawn latency.
  void UpdateConfig(mmsgate::v1::Carrier config);

  // Configuration and counters, read on the caller's thread (counters are atomics).
  mmsgate::v1::CarrierState State() const;

  const std::string& id() const { return id_; }

 private:
  // Submit-to-report latency for one message, in real time. Runs on the strand.
  std::chrono::nanoseconds DrawLatency();
  void Deliver(HandsetDelivery delivery);

  const std::string id_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  SimulationSettings simulation_;
  Handsets& handsets_;
  DeliveryListener& listener_;

  // Only touched on the strand.
  mmsgate::v1::Carrier config_;
  std::mt19937_64 random_;
  std::map<int32_t, int64_t> undelivered_by_code_;

  // A copy of config_ for readers on other threads.
  mutable std::mutex config_copy_mutex_;
  mmsgate::v1::Carrier config_copy_;

  std::atomic<int64_t> submitted_{0};
  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> queued_now_{0};
  mutable std::mutex undelivered_mutex_;
};

}  // namespace mmsgate::carriers
