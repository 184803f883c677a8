#include "gateway/core/events.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fakes/manual_clock.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using mmsgate::testing::ManualClock;
using ::testing::ElementsAre;

constexpr char kAccountA[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kAccountB[] = "ACfedcba9876543210fedcba9876543210";
constexpr char kSid1[] = "SM11111111111111111111111111111111";
constexpr char kSid2[] = "SM22222222222222222222222222222222";
constexpr char kSid3[] = "MM33333333333333333333333333333333";

v1::Event StatusEvent(const std::string& account, const std::string& sid,
                      v1::MessageStatus status) {
  v1::Event event;
  event.set_kind(v1::Event::STATUS_CHANGED);
  event.mutable_message()->set_account_sid(account);
  event.mutable_message()->set_sid(sid);
  event.mutable_message()->set_status(status);
  return event;
}

// Collects the events a subscriber receives.
struct Collector {
  std::vector<v1::Event> events;
  EventBus::Callback callback() {
    return [this](const v1::Event& event) { events.push_back(event); };
  }
  std::vector<std::string> sids() const {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.message().sid());
    return out;
  }
};

TEST(EventBus, SubscriberOnlyGetsItsOwnAccountsEvents) {
  ManualClock clock;
  EventBus bus(clock);
  Collector a, b;
  bus.Subscribe({kAccountA, {}}, a.callback());
  bus.Subscribe({kAccountB, {}}, b.callback());

  bus.Publish(StatusEvent(kAccountA, kSid1, v1::QUEUED));
  bus.Publish(StatusEvent(kAccountB, kSid2, v1::QUEUED));
  bus.Publish(StatusEvent(kAccountA, kSid3, v1::SENT));

  EXPECT_THAT(a.sids(), ElementsAre(kSid1, kSid3));
  EXPECT_THAT(b.sids(), ElementsAre(kSid2));
  for (const auto& event : a.events) EXPECT_EQ(event.message().account_sid(), kAccountA);
}

TEST(EventBus, MessageSidsFilterLimitsEventsToThoseMessages) {
  ManualClock clock;
  EventBus bus(clock);
  Collector watcher;
  bus.Subscribe({kAccountA, {kSid1, kSid3}}, watcher.callback());

  bus.Publish(StatusEvent(kAccountA, kSid1, v1::QUEUED));
  bus.Publish(StatusEvent(kAccountA, kSid2, v1::QUEUED));
  bus.Publish(StatusEvent(kAccountA, kSid3, v1::QUEUED));
  bus.Publish(StatusEvent(kAccountA, kSid1, v1::DELIVERED));
  // Same SID under another account: the account filter still applies.
  bus.Publish(StatusEvent(kAccountB, kSid1, v1::DELIVERED));

  ASSERT_THAT(watcher.sids(), ElementsAre(kSid1, kSid3, kSid1));
  EXPECT_EQ(watcher.events[0].message().status(), v1::QUEUED);
  EXPECT_EQ(watcher.events[2].message().status(), v1::DELIVERED);
}

TEST(EventBus, SequenceIncreasesAndTimeIsStamped) {
  ManualClock clock;
  EventBus bus(clock);
  Collector watcher;
  bus.Subscribe({kAccountA, {}}, watcher.callback());
  for (int i = 0; i < 5; ++i) bus.Publish(StatusEvent(kAccountA, kSid1, v1::QUEUED));
  // Events nobody watches still consume a sequence number; a watcher sees a gap, not a reuse.
  bus.Publish(StatusEvent(kAccountB, kSid2, v1::QUEUED));
  bus.Publish(StatusEvent(kAccountA, kSid1, v1::SENT));

  ASSERT_EQ(watcher.events.size(), 6u);
  for (std::size_t i = 1; i < watcher.events.size(); ++i) {
    EXPECT_GT(watcher.events[i].sequence(), watcher.events[i - 1].sequence());
  }
  EXPECT_GE(watcher.events[0].sequence(), 1u);
  for (const auto& event : watcher.events) EXPECT_GT(event.time().seconds(), 0);
}

TEST(EventBus, UnsubscribeStopsDelivery) {
  ManualClock clock;
  EventBus bus(clock);
  Collector kept, dropped;
  bus.Subscribe({kAccountA, {}}, kept.callback());
  const uint64_t id = bus.Subscribe({kAccountA, {}}, dropped.callback());
  EXPECT_EQ(bus.subscriber_count(), 2u);

  bus.Publish(StatusEvent(kAccountA, kSid1, v1::QUEUED));
  bus.Unsubscribe(id);
  EXPECT_EQ(bus.subscriber_count(), 1u);
  bus.Publish(StatusEvent(kAccountA, kSid1, v1::SENT));

  EXPECT_EQ(dropped.events.size(), 1u);
  EXPECT_EQ(kept.events.size(), 2u);
}

TEST(EventBus, CallbackMayUnsubscribeItself) {
  ManualClock clock;
  EventBus bus(clock);
  int calls = 0;
  uint64_t id = 0;
  id = bus.Subscribe({kAccountA, {}}, [&](const v1::Event&) {
    ++calls;
    bus.Unsubscribe(id);
  });
  bus.Publish(StatusEvent(kAccountA, kSid1, v1::QUEUED));
  bus.Publish(StatusEvent(kAccountA, kSid1, v1::SENT));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(bus.subscriber_count(), 0u);
}

TEST(EventBus, EventTimeIsTheSimulationsTimeWithNanoseconds) {
  ManualClock clock;
  EventBus bus(clock);
  Collector a;
  bus.Subscribe({kAccountA, {}}, a.callback());
  clock.AdvanceTo(clock.Now() + SimMilliseconds(1234.5));
  bus.Publish(StatusEvent(kAccountA, kSid1, v1::QUEUED));
  ASSERT_EQ(a.events.size(), 1u);
  EXPECT_EQ(google::protobuf::util::TimeUtil::TimestampToNanoseconds(a.events[0].time()),
            ToNanoseconds(clock.Now()));
  EXPECT_EQ(a.events[0].time().nanos(), 234'500'000);
}

}  // namespace
}  // namespace mmsgate::gateway
