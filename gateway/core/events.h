#pragma once
// Fan-out of message events to watchers (Messaging.WatchEvents).
//
// Thread-safe. Publish calls each matching subscriber's callback on the publishing thread; the
// callback must not block (the gRPC watcher only queues the event). Events of one message are
// published in status order because the pipeline publishes each only after the previous one.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "carriers/base/clock.h"
#include "mmsgate/v1/message.pb.h"

namespace mmsgate::gateway {

struct EventFilter {
  std::string account_sid;
  // Empty: every message of the account.
  std::set<std::string> message_sids;
  // Bit (1 << status) for each MessageStatus wanted; 0: every status.
  uint32_t status_mask = 0;

  [[nodiscard]] bool WantsStatus(int status) const {
    return status_mask == 0 || (status_mask & (uint32_t{1} << status)) != 0;
  }
};

class EventBus {
 public:
  using Callback = std::function<void(const mmsgate::v1::Event&)>;

  // Event.time is read from `clock`: the simulation's time, like every date of a message.
  explicit EventBus(const Clock& clock) : clock_(clock) {}

  // Returns an id for Unsubscribe. `on_close` (optional) runs when the bus closes.
  uint64_t Subscribe(EventFilter filter, Callback callback, std::function<void()> on_close = {});

  // Tells every subscriber the gateway is stopping (their on_close), e.g. so that streams end
  // instead of holding up shutdown.
  void CloseAll();
  void Unsubscribe(uint64_t id);

  // Stamps time (simulated) and sequence, then delivers to every matching subscriber.
  void Publish(mmsgate::v1::Event event);
  // The same for a STATUS_CHANGED event of `message`, built only when a subscriber wants it: a
  // gateway nobody watches copies no message into events.
  void PublishStatus(const mmsgate::v1::Message& message);

  // An Event of kind RESET to every subscriber of `account_sid` (empty: every subscriber),
  // whatever its filter: what it watched is gone (Simulator.Reset, Accounts.ResetAccount).
  void PublishReset(const std::string& account_sid);

  std::size_t subscriber_count() const;

 private:
  struct Subscriber {
    EventFilter filter;
    std::shared_ptr<Callback> callback;
    std::function<void()> on_close;
  };
  // The callbacks of the subscribers whose filter takes an event of `message`.
  std::vector<std::shared_ptr<Callback>> TargetsFor(const mmsgate::v1::Message& message) const;
  void Stamp(mmsgate::v1::Event& event);
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::unordered_map<uint64_t, Subscriber> subscribers_;
  uint64_t next_id_ = 1;
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace mmsgate::gateway
