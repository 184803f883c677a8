#include "carriers/carrier_node.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cmath>
#include <functional>

#include "mmsgate/errors.h"

namespace mmsgate::carriers {
namespace {
constexpr int32_t kDefaultQueueCapacity = 100000;
// z-score of the 99th percentile of the standard normal distribution.
constexpr double kZ99 = 2.3263478740408408;
}  // namespace

CarrierNode::CarrierNode(boost::asio::io_context& io, mmsgate::v1::Carrier config,
                         SimulationSettings simulation, Handsets& handsets,
                         DeliveryListener& listener)
    : id_(config.id()),
      strand_(boost::asio::make_strand(io)),
      simulation_(simulation),
      handsets_(handsets),
      listener_(listener),
      config_(config),
      // Each carrier draws from its own stream, so adding a carrier does not change the others.
      random_(simulation.seed ^ std::hash<std::string>{}(config.id())),
      config_copy_(std::move(config)) {
  if (simulation_.time_scale <= 0) simulation_.time_scale = 1.0;
}

void CarrierNode::UpdateConfig(mmsgate::v1::Carrier config) {
  {
    std::lock_guard lock(config_copy_mutex_);
    config_copy_ = config;
  }
  boost::asio::post(strand_, [self = shared_from_this(), config = std::move(config)]() mutable {
    self->config_ = std::move(config);
  });
}

void CarrierNode::Submit(HandsetDelivery delivery) {
  boost::asio::post(strand_, [self = shared_from_this(), delivery = std::move(delivery)]() mutable {
    self->Deliver(std::move(delivery));
  });
}

std::chrono::nanoseconds CarrierNode::DrawLatency() {
  const double median_ms = std::max(0.0, config_.latency().median_ms());
  const double p99_ms = config_.latency().p99_ms();
  double simulated_ms = median_ms;
  if (median_ms > 0 && p99_ms > median_ms) {
    // Lognormal with the given median (e^mu) and 99th percentile (e^(mu + z99 * sigma)).
    const double mu = std::log(median_ms);
    const double sigma = (std::log(p99_ms) - mu) / kZ99;
    simulated_ms = std::lognormal_distribution<double>(mu, sigma)(random_);
  }
  return std::chrono::nanoseconds(
      static_cast<int64_t>(simulated_ms * 1e6 / simulation_.time_scale));
}

void CarrierNode::Deliver(HandsetDelivery delivery) {
  submitted_.fetch_add(1, std::memory_order_relaxed);
  const int32_t capacity =
      config_.queue_capacity() > 0 ? config_.queue_capacity() : kDefaultQueueCapacity;
  if (queued_now_.load(std::memory_order_relaxed) >= capacity) {
    {
      std::lock_guard lock(undelivered_mutex_);
      ++undelivered_by_code_[error_codes::kUnknownError];
    }
    listener_.OnDeliveryReport({delivery.message_sid, false, error_codes::kUnknownError,
                                "carrier " + id_ + " queue is full (" + std::to_string(capacity) +
                                    " messages); retry later"});
    return;
  }
  queued_now_.fetch_add(1, std::memory_order_relaxed);
  listener_.OnCarrierAccepted(delivery.message_sid);

  // Outcome is drawn at submit time, in submit order, so a seeded run is reproducible however
  // the timers interleave.
  const bool fails = std::uniform_real_distribution<double>(0.0, 1.0)(random_) <
                     config_.failure_rate();
  auto timer = std::make_shared<boost::asio::steady_timer>(strand_, DrawLatency());
  timer->async_wait([self = shared_from_this(), timer, fails,
                     delivery = std::move(delivery)](const boost::system::error_code& ec) mutable {
    self->queued_now_.fetch_sub(1, std::memory_order_relaxed);
    if (ec) return;  // io_context stopping: the message stays in the gateway's outbox.
    if (fails) {
      {
        std::lock_guard lock(self->undelivered_mutex_);
        ++self->undelivered_by_code_[error_codes::kUnreachableHandset];
      }
      self->listener_.OnDeliveryReport({delivery.message_sid, false,
                                        error_codes::kUnreachableHandset,
                                        "unreachable destination handset"});
      return;
    }
    self->handsets_.Receive(delivery);
    self->delivered_.fetch_add(1, std::memory_order_relaxed);
    self->listener_.OnDeliveryReport({delivery.message_sid, true, 0, ""});
  });
}

mmsgate::v1::CarrierState CarrierNode::State() const {
  mmsgate::v1::CarrierState state;
  {
    std::lock_guard lock(config_copy_mutex_);
    *state.mutable_carrier() = config_copy_;
  }
  auto* stats = state.mutable_stats();
  stats->set_submitted(submitted_.load(std::memory_order_relaxed));
  stats->set_delivered(delivered_.load(std::memory_order_relaxed));
  stats->set_queued_now(queued_now_.load(std::memory_order_relaxed));
  std::lock_guard lock(undelivered_mutex_);
  for (const auto& [code, count] : undelivered_by_code_) {
    (*stats->mutable_undelivered_by_code())[code] = count;
  }
  return state;
}

}  // namespace mmsgate::carriers
