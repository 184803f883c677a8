#include "carriers/carrier_node.h"

#include <boost/asio/post.hpp>
#include <cmath>

#include "carriers/base/errors.h"

namespace mmsgate::carriers {
namespace {

namespace v1 = mmsgate::v1;
constexpr int32_t kDefaultQueueCapacity = 100000;
// z-score of the 99th percentile of the standard normal distribution.
constexpr double kZ99 = 2.3263478740408408;
// Retry backoff during an outage, simulated seconds.
constexpr double kFirstBackoffSeconds = 1.0;
constexpr double kMaxBackoffSeconds = 60.0;
// Latency samples kept for percentiles (a uniform reservoir beyond that).
constexpr std::size_t kMaxLatencySamples = 100000;

double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  const auto k = static_cast<std::size_t>(
      std::min<double>(static_cast<double>(samples.size() - 1),
                       std::ceil(p * static_cast<double>(samples.size())) - 1));
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(k),
                   samples.end());
  return samples[k];
}

// A well-mixed 64-bit hash, so neighbouring sequence numbers get unrelated streams.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

CarrierNode::CarrierNode(boost::asio::io_context& io, Clock& clock, v1::Carrier config,
                         SimulationSettings simulation, Handsets& handsets)
    : id_(config.id()),
      strand_(boost::asio::make_strand(io)),
      clock_(clock),
      handsets_(handsets),
      config_(config),
      // Each carrier draws from its own stream, so adding a carrier does not change the others.
      carrier_seed_(SplitMix64(simulation.seed) ^ std::hash<std::string>{}(config.id())),
      outcome_rules_(std::move(simulation.outcome_rules)),
      random_(carrier_seed_),
      pump_timer_(clock.MakeTimer(strand_)),
      config_copy_(std::move(config)) {}

void CarrierNode::UpdateConfig(v1::Carrier config) {
  {
    std::lock_guard lock(shared_mutex_);
    config_copy_ = config;
  }
  boost::asio::post(strand_, [self = shared_from_this(), config = std::move(config)]() mutable {
    self->config_ = std::move(config);
    self->Pump();  // A new max_mps applies to what waits now.
  });
}

void CarrierNode::OnMmsSuspensionChanged(std::function<void()> callback) {
  std::lock_guard lock(faults_mutex_);
  on_mms_suspension_changed_ = std::move(callback);
}

void CarrierNode::Retire() {
  retired_.store(true, std::memory_order_release);
  boost::asio::post(strand_, [self = shared_from_this()] {
    self->pump_timer_->Cancel();
    self->queue_.clear();
    self->queued_now_.store(0, std::memory_order_relaxed);
  });
}

void CarrierNode::Submit(HandsetDelivery delivery) {
  boost::asio::post(strand_, [self = shared_from_this(), delivery = std::move(delivery)]() mutable {
    self->Enqueue(std::move(delivery));
  });
}

void CarrierNode::Report(DeliveryListener* listener, const std::string& sid, SimTime at,
                         DeliveryReport::Outcome outcome, int code, std::string message,
                         std::optional<HandsetArrival> arrival) {
  if (retired()) return;
  if (outcome != DeliveryReport::Outcome::kDelivered) {
    std::lock_guard lock(shared_mutex_);
    ++undelivered_by_code_[code];
  }
  if (listener) {
    listener->OnDeliveryReport({sid, at, outcome, code, std::move(message), std::move(arrival)});
  }
}

void CarrierNode::Enqueue(HandsetDelivery delivery) {
  if (retired()) return;
  submitted_.fetch_add(1, std::memory_order_relaxed);
  if (delivery.submitted_at == SimTime{}) delivery.submitted_at = clock_.Now();
  const int32_t capacity =
      config_.queue_capacity() > 0 ? config_.queue_capacity() : kDefaultQueueCapacity;
  if (static_cast<int64_t>(queue_.size()) >= capacity) {
    rejected_queue_full_.fetch_add(1, std::memory_order_relaxed);
    Report(delivery.listener, delivery.message_sid, clock_.Now(), DeliveryReport::Outcome::kFailed,
           error_codes::kQueueOverflow,
           "carrier " + id_ + " queue is full (" + std::to_string(capacity) +
               " messages); slow down or raise its queue_capacity");
    return;
  }
  queue_.push_back({std::move(delivery)});
  queued_now_.fetch_add(1, std::memory_order_relaxed);
  Pump();
}

bool CarrierNode::FaultActive(v1::CarrierFault::Kind kind, SimTime now) const {
  std::lock_guard lock(faults_mutex_);
  for (const auto& fault : faults_) {
    if (fault.fault.kind() == kind && fault.ends > now) return true;
  }
  return false;
}

double CarrierNode::FaultSum(double (v1::CarrierFault::*field)() const, v1::CarrierFault::Kind kind,
                             SimTime now) const {
  double sum = 0;
  std::lock_guard lock(faults_mutex_);
  for (const auto& fault : faults_) {
    if (fault.fault.kind() == kind && fault.ends > now) sum += (fault.fault.*field)();
  }
  return sum;
}

void CarrierNode::ExpireOverdue(SimTime now) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->delivery.deadline <= now) {
      const std::string sid = it->delivery.message_sid;
      DeliveryListener* const listener = it->delivery.listener;
      it = queue_.erase(it);
      queued_now_.fetch_sub(1, std::memory_order_relaxed);
      expired_.fetch_add(1, std::memory_order_relaxed);
      Report(listener, sid, now, DeliveryReport::Outcome::kFailed, error_codes::kValidityExpired,
             "the validity period expired while the message waited at carrier " + id_);
    } else {
      ++it;
    }
  }
}

void CarrierNode::Pump(bool retry) {
  if (retired()) return;
  const SimTime now = clock_.Now();
  ExpireOverdue(now);
  if (queue_.empty()) {
    outage_backoff_seconds_ = 0;
    return;
  }
  SimTime earliest_deadline = kNever;
  for (const auto& queued : queue_) {
    earliest_deadline = std::min(earliest_deadline, queued.delivery.deadline);
  }
  if (FaultActive(v1::CarrierFault::OUTAGE, now)) {
    // The carrier refuses submissions: retry later, backing off, as a gateway does.
    // Only a failed retry backs off further; new submissions join the pending retry.
    if (outage_backoff_seconds_ == 0) {
      outage_backoff_seconds_ = kFirstBackoffSeconds;
    } else if (retry) {
      outage_backoff_seconds_ = std::min(kMaxBackoffSeconds, outage_backoff_seconds_ * 2);
    }
    ArmPumpTimer(std::min(earliest_deadline, now + SimSeconds(outage_backoff_seconds_)));
    return;
  }
  const bool after_outage = outage_backoff_seconds_ != 0;
  outage_backoff_seconds_ = 0;
  // Slots are booked on the simulation's schedule, from the time each message was handed over,
  // not from when this strand got to it: the times a test reads are the ones the simulation
  // assigned, whatever the machine's load.
  if (after_outage) next_slot_ = std::max(next_slot_, now);
  const double mps = config_.max_mps();
  if (mps <= 0) {
    while (!queue_.empty()) {
      auto delivery = std::move(queue_.front().delivery);
      queue_.pop_front();
      queued_now_.fetch_sub(1, std::memory_order_relaxed);
      const SimTime slot = std::max({delivery.submitted_at, next_slot_});
      Send(std::move(delivery), std::min(slot, now));
    }
    return;
  }
  // An absolute schedule of slots, one per 1/max_mps: timer lateness does not accumulate, and
  // an idle carrier does not bank slots: a message that finds it idle goes at once.
  const SimDuration interval = SimMilliseconds(1000.0 / mps);
  while (!queue_.empty()) {
    const SimTime submitted = std::min(queue_.front().delivery.submitted_at, now);
    if (next_slot_ < submitted) next_slot_ = submitted;
    if (next_slot_ > now) break;
    auto delivery = std::move(queue_.front().delivery);
    queue_.pop_front();
    queued_now_.fetch_sub(1, std::memory_order_relaxed);
    const SimTime slot = next_slot_;
    next_slot_ += interval;
    Send(std::move(delivery), slot);
  }
  if (!queue_.empty()) ArmPumpTimer(std::min(earliest_deadline, next_slot_));
}

void CarrierNode::ArmPumpTimer(SimTime when) {
  if (pump_armed_for_ <= when && pump_armed_for_ > clock_.Now()) return;  // Sooner one pending.
  pump_armed_for_ = when;
  pump_timer_->WaitUntil(when, [self = shared_from_this(), when](bool fired) {
    if (!fired) return;  // Re-armed, or the io_context is stopping.
    if (self->pump_armed_for_ == when) self->pump_armed_for_ = kNever;
    self->Pump(/*retry=*/true);
  });
}

CarrierNode::MessageStream::result_type CarrierNode::MessageStream::operator()() {
  state += 0x9e3779b97f4a7c15ULL;
  return SplitMix64(state);
}

double CarrierNode::DrawLatencyMs(MessageStream& random) {
  const double median_ms = std::max(0.0, config_.latency().median_ms());
  const double p99_ms = config_.latency().p99_ms();
  if (median_ms > 0 && p99_ms > median_ms) {
    // Lognormal with the given median (e^mu) and 99th percentile (e^(mu + z99 * sigma)).
    const double mu = std::log(median_ms);
    const double sigma = (std::log(p99_ms) - mu) / kZ99;
    return std::lognormal_distribution<double>(mu, sigma)(random);
  }
  return median_ms;
}

void CarrierNode::Send(HandsetDelivery delivery, SimTime slot) {
  if (retired()) return;
  if (delivery.listener) delivery.listener->OnCarrierAccepted(delivery.message_sid, slot);
  const SimTime now = slot;
  // Each message draws from its own stream, keyed by the seed, the carrier and the message's
  // acceptance order: the same scenario, seed and input give the same outcomes however the
  // pipeline's steps interleave. The failure roll comes first and always happens, so changing
  // a rate does not shift the latency draws.
  MessageStream random{SplitMix64(carrier_seed_ ^ SplitMix64(delivery.sequence))};
  const double roll = std::uniform_real_distribution<double>(0.0, 1.0)(random);
  int failure_code = 0;
  double cumulative = 0;
  if (config_.failure_rate() > 0) {
    cumulative += config_.failure_rate();
    if (roll < cumulative) failure_code = error_codes::kUnreachableHandset;
  }
  for (const auto& mode : config_.failures()) {
    if (failure_code != 0) break;
    cumulative += mode.rate();
    if (roll < cumulative) failure_code = mode.error_code();
  }
  if (failure_code == 0) {
    cumulative += FaultSum(&v1::CarrierFault::extra_loss, v1::CarrierFault::EXTRA_LOSS, now);
    if (roll < cumulative) failure_code = error_codes::kUnknownError;
  }
  double latency_ms = DrawLatencyMs(random) + FaultSum(&v1::CarrierFault::extra_latency_ms,
                                                       v1::CarrierFault::EXTRA_LATENCY, now);
  // An outcome rule overrides what was drawn (the draws still happen, so the streams of other
  // messages do not shift).
  bool failed = false;
  std::string reason;
  if (const auto rule = outcome_rules_ ? outcome_rules_->Match(delivery.to) : std::nullopt) {
    failure_code = rule->status() == v1::DELIVERED ? 0 : rule->error_code();
    failed = rule->status() == v1::FAILED;
    if (failure_code != 0) {
      reason = "decided by the outcome rule for destinations starting " + rule->to_prefix();
    }
    if (rule->after_ms() > 0) latency_ms = static_cast<double>(rule->after_ms());
  }
  {
    std::lock_guard lock(shared_mutex_);
    ++latency_samples_seen_;
    if (latency_samples_ms_.size() < kMaxLatencySamples) {
      latency_samples_ms_.push_back(latency_ms);
    } else {
      const auto slot =
          std::uniform_int_distribution<uint64_t>(0, latency_samples_seen_ - 1)(random_);
      if (slot < kMaxLatencySamples) latency_samples_ms_[slot] = latency_ms;
    }
  }
  const SimTime outcome_at = slot + SimMilliseconds(std::max(0.0, latency_ms));
  if (latency_ms <= 0) {
    // No latency: the outcome follows the acceptance at once, so the gateway hears both together
    // (and may store them in one commit).
    Conclude(std::move(delivery), failure_code, failed, reason, outcome_at);
    return;
  }
  std::shared_ptr<Timer> timer = clock_.MakeTimer(strand_);
  timer->WaitUntil(outcome_at, [self = shared_from_this(), timer, failure_code, failed, reason,
                                outcome_at, delivery = std::move(delivery)](bool fired) mutable {
    if (!fired) return;  // io_context stopping: the message stays in the gateway's outbox.
    self->Conclude(std::move(delivery), failure_code, failed, reason, outcome_at);
  });
}

void CarrierNode::Conclude(HandsetDelivery delivery, int failure_code, bool failed,
                           const std::string& reason, SimTime outcome_at) {
  if (retired()) return;
  if (failure_code != 0 && !reason.empty()) {
    Report(delivery.listener, delivery.message_sid, outcome_at,
           failed ? DeliveryReport::Outcome::kFailed : DeliveryReport::Outcome::kUndelivered,
           failure_code, reason);
    return;
  }
  if (failure_code != 0) {
    Report(delivery.listener, delivery.message_sid, outcome_at,
           DeliveryReport::Outcome::kUndelivered, failure_code,
           failure_code == error_codes::kUnreachableHandset   ? "unreachable destination handset"
           : failure_code == error_codes::kUnknownDestination ? "unknown destination handset"
           : failure_code == error_codes::kLandlineOrUnreachableCarrier
               ? "landline or unreachable carrier"
               : "unknown error reported by carrier " + id_);
    return;
  }
  // A message reads DELIVERED only once its inbox entry would survive a restart: either the
  // listener stores the entry with the DELIVERED status, or the report waits for the phone's
  // own commit.
  delivery.received_at = outcome_at;
  if (delivery.listener != nullptr && delivery.listener->StoresArrivals() &&
      !delivery.resubmitted) {
    delivered_.fetch_add(1, std::memory_order_relaxed);
    Report(delivery.listener, delivery.message_sid, outcome_at, DeliveryReport::Outcome::kDelivered,
           0, "", HandsetArrival{delivery.to, Handsets::Entry(delivery)});
    return;
  }
  handsets_.Receive(delivery, [self = shared_from_this(), sid = delivery.message_sid,
                               listener = delivery.listener, outcome_at] {
    boost::asio::post(self->strand_, [self, sid, listener, outcome_at] {
      self->delivered_.fetch_add(1, std::memory_order_relaxed);
      self->Report(listener, sid, outcome_at, DeliveryReport::Outcome::kDelivered, 0, "");
    });
  });
}

void CarrierNode::SetFault(const v1::CarrierFault& fault) {
  const SimTime now = clock_.Now();
  const SimTime ends = now + SimSeconds(fault.duration_seconds());
  {
    std::lock_guard lock(faults_mutex_);
    faults_.push_back({fault, ends});
  }
  UpdateMmsSuspension(now);
  std::shared_ptr<Timer> timer = clock_.MakeTimer(strand_);
  timer->WaitUntil(ends, [self = shared_from_this(), timer, ends](bool fired) {
    if (fired) self->EndFault(ends);
  });
}

void CarrierNode::EndFault(SimTime ends) {
  const SimTime now = clock_.Now();
  {
    std::lock_guard lock(faults_mutex_);
    std::erase_if(faults_, [now](const Fault& fault) { return fault.ends <= now; });
  }
  UpdateMmsSuspension(now);
  // An outage's end is noticed by the next backoff retry, not announced: the gateway cannot
  // know when a carrier comes back.
}

void CarrierNode::UpdateMmsSuspension(SimTime now) {
  const bool suspended = FaultActive(v1::CarrierFault::MMS_UNSUPPORTED, now);
  if (mms_suspended_.exchange(suspended, std::memory_order_acq_rel) == suspended) return;
  std::function<void()> callback;
  {
    std::lock_guard lock(faults_mutex_);
    callback = on_mms_suspension_changed_;
  }
  // Called without our locks: the fleet takes its own lock to rebuild the number plan.
  if (callback) callback();
}

v1::CarrierState CarrierNode::State() const {
  v1::CarrierState state;
  std::vector<double> samples;
  const SimTime now = clock_.Now();
  {
    std::lock_guard lock(shared_mutex_);
    *state.mutable_carrier() = config_copy_;
    for (const auto& [code, count] : undelivered_by_code_) {
      (*state.mutable_stats()->mutable_undelivered_by_code())[code] = count;
    }
    samples = latency_samples_ms_;
  }
  {
    std::lock_guard lock(faults_mutex_);
    for (const auto& fault : faults_) {
      if (fault.ends <= now) continue;
      auto* active = state.add_faults();
      *active->mutable_fault() = fault.fault;
      active->set_remaining_seconds(ToSeconds(fault.ends - now));
    }
  }
  auto* stats = state.mutable_stats();
  stats->set_submitted(submitted_.load(std::memory_order_relaxed));
  stats->set_delivered(delivered_.load(std::memory_order_relaxed));
  stats->set_queued_now(queued_now_.load(std::memory_order_relaxed));
  stats->set_fallback_count(fallback_count_.load(std::memory_order_relaxed));
  stats->set_expired(expired_.load(std::memory_order_relaxed));
  stats->set_rejected_queue_full(rejected_queue_full_.load(std::memory_order_relaxed));
  stats->set_latency_p50_ms(Percentile(samples, 0.50));
  stats->set_latency_p90_ms(Percentile(samples, 0.90));
  stats->set_latency_p99_ms(Percentile(samples, 0.99));
  return state;
}

}  // namespace mmsgate::carriers
