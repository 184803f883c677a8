#include "gateway/core/events.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <vector>

namespace mmsgate::gateway {

uint64_t EventBus::Subscribe(EventFilter filter, Callback callback,
                             std::function<void()> on_close) {
  std::lock_guard lock(mutex_);
  const uint64_t id = next_id_++;
  subscribers_[id] = {std::move(filter), std::make_shared<Callback>(std::move(callback)),
                      std::move(on_close)};
  return id;
}

void EventBus::CloseAll() {
  std::vector<std::function<void()>> closers;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, subscriber] : subscribers_) {
      if (subscriber.on_close) closers.push_back(subscriber.on_close);
    }
  }
  for (const auto& close : closers) close();
}

void EventBus::Unsubscribe(uint64_t id) {
  std::lock_guard lock(mutex_);
  subscribers_.erase(id);
}

void EventBus::Stamp(mmsgate::v1::Event& event) {
  event.set_sequence(sequence_.fetch_add(1, std::memory_order_relaxed) + 1);
  *event.mutable_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(ToNanoseconds(clock_.Now()));
}

std::vector<std::shared_ptr<EventBus::Callback>> EventBus::TargetsFor(
    const mmsgate::v1::Message& message) const {
  std::vector<std::shared_ptr<Callback>> targets;
  std::lock_guard lock(mutex_);
  for (const auto& [_, subscriber] : subscribers_) {
    const auto& filter = subscriber.filter;
    if (filter.account_sid != message.account_sid()) continue;
    if (!filter.WantsStatus(message.status())) continue;
    if (!filter.message_sids.empty() && !filter.message_sids.contains(message.sid())) continue;
    targets.push_back(subscriber.callback);
  }
  return targets;
}

void EventBus::Publish(mmsgate::v1::Event event) {
  Stamp(event);
  // Called outside the lock so a callback may unsubscribe.
  for (const auto& callback : TargetsFor(event.message())) (*callback)(event);
}

void EventBus::PublishStatus(const mmsgate::v1::Message& message) {
  const auto targets = TargetsFor(message);
  if (targets.empty()) return;
  mmsgate::v1::Event event;
  event.set_kind(mmsgate::v1::Event::STATUS_CHANGED);
  *event.mutable_message() = message;
  Stamp(event);
  for (const auto& callback : targets) (*callback)(event);
}

void EventBus::PublishReset(const std::string& account_sid) {
  std::vector<std::shared_ptr<Callback>> targets;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, subscriber] : subscribers_) {
      // Whatever the filter: every watcher must learn that what it watched is gone.
      if (account_sid.empty() || subscriber.filter.account_sid == account_sid) {
        targets.push_back(subscriber.callback);
      }
    }
  }
  mmsgate::v1::Event event;
  event.set_kind(mmsgate::v1::Event::RESET);
  Stamp(event);
  for (const auto& callback : targets) (*callback)(event);
}

std::size_t EventBus::subscriber_count() const {
  std::lock_guard lock(mutex_);
  return subscribers_.size();
}

}  // namespace mmsgate::gateway
