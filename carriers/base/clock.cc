#include "carriers/base/clock.h"

#include <boost/asio/steady_timer.hpp>
#include <cmath>

namespace mmsgate {
namespace {

class SteadyTimer final : public Timer {
 public:
  SteadyTimer(const RealClock& clock, boost::asio::any_io_executor executor)
      : clock_(clock), timer_(std::move(executor)) {}

  void WaitUntil(SimTime when, std::function<void(bool)> handler) override {
    timer_.expires_at(clock_.RealTimeOf(when));  // cancels a pending wait
    timer_.async_wait(
        [handler = std::move(handler)](const boost::system::error_code& ec) { handler(!ec); });
  }
  void Cancel() override { timer_.cancel(); }

 private:
  const RealClock& clock_;
  boost::asio::steady_timer timer_;
};

}  // namespace

RealClock::RealClock(double time_scale)
    : time_scale_(time_scale > 0 && std::isfinite(time_scale) ? time_scale : 1.0),
      start_steady_(std::chrono::steady_clock::now()),
      start_sim_(SimTime(std::chrono::duration_cast<SimDuration>(
          std::chrono::system_clock::now().time_since_epoch()))) {}

SimTime RealClock::Now() const {
  const double real_ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start_steady_)
          .count();
  return start_sim_ + SimDuration(static_cast<int64_t>(real_ns * time_scale_));
}

std::chrono::steady_clock::time_point RealClock::RealTimeOf(SimTime when) const {
  using std::chrono::steady_clock;
  const double sim_ns = std::chrono::duration<double, std::nano>(when - start_sim_).count();
  const double real_ns = sim_ns / time_scale_;
  // Far-future waits (kNever) must not overflow the conversion.
  const double limit =
      std::chrono::duration<double, std::nano>(steady_clock::time_point::max() - start_steady_)
          .count() /
      2;
  if (real_ns >= limit) return steady_clock::time_point::max();
  if (real_ns <= 0) return start_steady_;
  // Rounded up, so that when the timer fires the simulated time has really been reached.
  return start_steady_ + std::chrono::nanoseconds(static_cast<int64_t>(std::ceil(real_ns)));
}

std::unique_ptr<Timer> RealClock::MakeTimer(boost::asio::any_io_executor executor) {
  return std::make_unique<SteadyTimer>(*this, std::move(executor));
}

}  // namespace mmsgate
