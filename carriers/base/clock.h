#pragma once
// The simulation clock: the one source of simulated time and of timers in simulated time.
//
// Simulated time starts at the wall-clock time at start-up and runs `time_scale` times faster
// than real time. Every simulated delay (carrier latency and throughput, sender rates, validity
// periods, media retention, retry backoff, scheduled faults) is a span on this clock, so no
// component converts with time_scale itself, and a test replaces the clock with a ManualClock
// that it advances instead of sleeping. Real timeouts of network I/O (an HTTP request's
// deadline) are not simulated and do not use it.
//
// Threads: Now() and MakeTimer() may be called from any thread. A Timer belongs to the executor
// it was made for: call its methods there (on that strand), as with an Asio timer.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace mmsgate {

// The type of simulated time points (nanoseconds since the Unix epoch on the simulation clock).
struct SimulatedClock {
  using rep = int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<SimulatedClock>;
  static constexpr bool is_steady = true;
};
using SimTime = SimulatedClock::time_point;
using SimDuration = SimulatedClock::duration;

// Simulated seconds (possibly fractional) as a duration.
inline SimDuration SimSeconds(double seconds) {
  return std::chrono::duration_cast<SimDuration>(std::chrono::duration<double>(seconds));
}
inline SimDuration SimMilliseconds(double milliseconds) { return SimSeconds(milliseconds / 1000); }
inline double ToSeconds(SimDuration duration) {
  return std::chrono::duration<double>(duration).count();
}
inline int64_t ToNanoseconds(SimTime time) { return time.time_since_epoch().count(); }
inline SimTime FromNanoseconds(int64_t ns) { return SimTime(SimDuration(ns)); }
// Later than any time a simulation reaches: "no deadline".
inline constexpr SimTime kNever = SimTime::max();

// A one-shot timer in simulated time, like an Asio waitable timer.
class Timer {
 public:
  virtual ~Timer() = default;
  // Calls `handler(true)` on the timer's executor once the simulation reaches `when` (posted at
  // once when it has already). A wait pending from before is cancelled: its handler gets false.
  virtual void WaitUntil(SimTime when, std::function<void(bool fired)> handler) = 0;
  // Cancels the pending wait, if any: its handler gets false. Destroying the timer cancels too.
  virtual void Cancel() = 0;
};

class Clock {
 public:
  virtual ~Clock() = default;
  // The simulation's present.
  [[nodiscard]] virtual SimTime Now() const = 0;
  // A timer whose handlers run on `executor`.
  [[nodiscard]] virtual std::unique_ptr<Timer> MakeTimer(boost::asio::any_io_executor executor) = 0;
  // Simulated seconds per real second (for display; components work in simulated time only).
  [[nodiscard]] virtual double time_scale() const = 0;
  // The simulated time at which the simulation started.
  [[nodiscard]] virtual SimTime started() const = 0;
};

// The clock of a running gateway: starts at the wall-clock time, runs time_scale times faster,
// timers are Asio steady timers waiting the real equivalent. time_scale values that are not
// positive and finite count as 1.
class RealClock final : public Clock {
 public:
  explicit RealClock(double time_scale = 1.0);
  SimTime Now() const override;
  std::unique_ptr<Timer> MakeTimer(boost::asio::any_io_executor executor) override;
  double time_scale() const override { return time_scale_; }
  SimTime started() const override { return start_sim_; }

  // The real (steady) time at which the simulation reaches `when`.
  std::chrono::steady_clock::time_point RealTimeOf(SimTime when) const;

 private:
  double time_scale_;
  std::chrono::steady_clock::time_point start_steady_;
  SimTime start_sim_;
};

}  // namespace mmsgate
