#pragma once
// A simulation clock that only moves when the test moves it, so timing tests judge the simulated
// schedule and never depend on how fast the machine is.

#include <boost/asio/post.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "carriers/base/clock.h"

namespace mmsgate::testing {

class ManualClock final : public Clock {
 public:
  // 2023-11-14T22:13:20Z: any fixed start keeps runs identical.
  explicit ManualClock(SimTime start = FromNanoseconds(1'700'000'000'000'000'000))
      : state_(std::make_shared<State>()) {
    state_->now = start;
    started_ = start;
  }
  // Waits that never fired are dropped with the clock. Their handlers may hold the object that
  // owns the timer (a carrier node), whose timer holds the state: left alone, that cycle leaks
  // (LeakSanitizer found it). They are destroyed outside the lock: destroying one may destroy a
  // timer, which takes the lock.
  ~ManualClock() override {
    std::map<Key, Wait> waits;
    {
      std::lock_guard lock(state_->mutex);
      waits.swap(state_->waits);
    }
  }
  SimTime started() const override { return started_; }

  SimTime Now() const override {
    std::lock_guard lock(state_->mutex);
    return state_->now;
  }
  double time_scale() const override { return 1.0; }

  std::unique_ptr<Timer> MakeTimer(boost::asio::any_io_executor executor) override {
    return std::make_unique<ManualTimer>(state_, std::move(executor));
  }

  // Moves the present to `until`, firing due waits in time order (ties in the order they were
  // made). The present is each wait's time while its handler is posted; after each, `settle` runs
  // (typically io.poll()) so that handlers run at their own time and may arm further waits,
  // which fire in the same call when they fall before `until`.
  void AdvanceTo(SimTime until, const std::function<void()>& settle = {}) {
    for (;;) {
      std::function<void(bool)> handler;
      boost::asio::any_io_executor executor;
      {
        std::lock_guard lock(state_->mutex);
        auto it = state_->waits.begin();
        if (it == state_->waits.end() || it->first.first > until) {
          if (state_->now < until) state_->now = until;
          break;
        }
        if (state_->now < it->first.first) state_->now = it->first.first;
        handler = std::move(it->second.handler);
        executor = it->second.executor;
        it->second.owner->pending_key.reset();
        state_->waits.erase(it);
      }
      boost::asio::post(executor, [handler = std::move(handler)] { handler(true); });
      if (settle) settle();
    }
    if (settle) settle();
  }
  void Advance(SimDuration by, const std::function<void()>& settle = {}) {
    AdvanceTo(Now() + by, settle);
  }

  // Waits armed and not yet fired or cancelled.
  std::size_t pending() const {
    std::lock_guard lock(state_->mutex);
    return state_->waits.size();
  }

 private:
  SimTime started_;
  struct ManualTimer;
  struct Wait {
    ManualTimer* owner;
    boost::asio::any_io_executor executor;
    std::function<void(bool)> handler;
  };
  using Key = std::pair<SimTime, uint64_t>;
  struct State {
    mutable std::mutex mutex;
    SimTime now;
    uint64_t next_id = 0;
    std::map<Key, Wait> waits;
  };

  struct ManualTimer final : Timer {
    ManualTimer(std::shared_ptr<State> state, boost::asio::any_io_executor executor)
        : state(std::move(state)), executor(std::move(executor)) {}
    ~ManualTimer() override { Cancel(); }

    void WaitUntil(SimTime when, std::function<void(bool)> handler) override {
      Cancel();
      std::lock_guard lock(state->mutex);
      const Key key{std::max(when, state->now), state->next_id++};
      state->waits.emplace(key, Wait{this, executor, std::move(handler)});
      pending_key = key;
    }
    void Cancel() override {
      std::function<void(bool)> handler;
      {
        std::lock_guard lock(state->mutex);
        if (!pending_key) return;
        auto it = state->waits.find(*pending_key);
        pending_key.reset();
        if (it == state->waits.end()) return;
        handler = std::move(it->second.handler);
        state->waits.erase(it);
      }
      boost::asio::post(executor, [handler = std::move(handler)] { handler(false); });
    }

    std::shared_ptr<State> state;
    boost::asio::any_io_executor executor;
    std::optional<Key> pending_key;  // guarded by state->mutex
  };

  std::shared_ptr<State> state_;
};

}  // namespace mmsgate::testing
