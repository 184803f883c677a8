#include "carriers/sender_queues.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace mmsgate::carriers {
namespace {

using Clock = SenderQueues::Clock;
using std::chrono::duration;
using std::chrono::milliseconds;

// Generous: the tests wait for events, they never time them against this.
constexpr auto kWaitLimit = std::chrono::seconds(20);

double Ms(Clock::duration d) { return duration<double, std::milli>(d).count(); }

struct Event {
  std::string sid;
  bool released = false;
  Clock::time_point at;
  std::size_t queued_seen = 0;  // Queued(sender) as seen from inside the callback
};

// Records every callback with the time it ran.
class Recorder {
 public:
  SenderQueues::Item Make(const std::string& sid,
                          Clock::time_point deadline = Clock::time_point::max()) {
    SenderQueues::Item item;
    item.message_sid = sid;
    item.deadline = deadline;
    item.release = [this, sid] { Record(sid, true); };
    item.expire = [this, sid] { Record(sid, false); };
    return item;
  }

  // Makes callbacks also note queues->Queued(sender) at the time they run.
  void Observe(const SenderQueues* queues, std::string sender) {
    std::lock_guard lock(mutex_);
    observed_ = queues;
    observed_sender_ = std::move(sender);
  }

  bool WaitFor(std::size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kWaitLimit, [&] { return events_.size() >= count; });
  }

  std::vector<Event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

  std::vector<Event> Filter(bool released) const {
    std::vector<Event> out;
    for (const Event& e : events()) {
      if (e.released == released) out.push_back(e);
    }
    return out;
  }

 private:
  void Record(const std::string& sid, bool released) {
    const Clock::time_point at = Clock::now();
    std::lock_guard lock(mutex_);
    Event event{sid, released, at, 0};
    if (observed_ != nullptr) event.queued_seen = observed_->Queued(observed_sender_);
    events_.push_back(std::move(event));
    changed_.notify_all();
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Event> events_;
  const SenderQueues* observed_ = nullptr;
  std::string observed_sender_;
};

class SenderQueuesTest : public ::testing::Test {
 protected:
  ~SenderQueuesTest() override {
    if (queues_) queues_->Stop();
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  void Create(double time_scale, bool disabled = false, std::size_t max_queued = 10000) {
    queues_ = std::make_unique<SenderQueues>(io_, time_scale, disabled, max_queued);
  }

  // Runs the io_context on one thread; with keep_alive it does not return when idle.
  void StartIo(bool keep_alive = true) {
    if (keep_alive) guard_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
  Recorder recorder_;
  std::unique_ptr<SenderQueues> queues_;
};

TEST_F(SenderQueuesTest, OneMpsSpacesReleasesOnAnAbsoluteSchedule) {
  constexpr double kScale = 50;
  constexpr int kCount = 20;
  const double interval_ms = 1000.0 / kScale;
  Create(kScale);
  StartIo();
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("SM" + std::to_string(i))));
  }
  ASSERT_TRUE(recorder_.WaitFor(kCount));
  const std::vector<Event> events = recorder_.events();
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(events[i].sid, "SM" + std::to_string(i));
    EXPECT_TRUE(events[i].released);
    // A token bucket never lets an item go early (this bound needs no tolerance).
    EXPECT_GE(Ms(events[i].at - start), i * interval_ms) << i;
  }
  const double span_ms = Ms(events.back().at - events.front().at);
  const double expected_ms = (kCount - 1) * interval_ms;  // 19 simulated seconds
  EXPECT_NEAR(span_ms, expected_ms, 0.1 * expected_ms);
  // The first goes at once: well before the second's token.
  EXPECT_LT(Ms(events.front().at - start), expected_ms / 2);
  EXPECT_EQ(queues_->TotalQueued(), 0u);
}

TEST_F(SenderQueuesTest, BurstGoesAtOnceThenOneTokenPerInterval) {
  constexpr double kScale = 10;  // one simulated second = 100 ms
  const double interval_ms = 1000.0 / kScale;
  Create(kScale);
  StartIo();
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 5}, recorder_.Make("SM" + std::to_string(i))));
  }
  ASSERT_TRUE(recorder_.WaitFor(7));
  const std::vector<Event> events = recorder_.events();
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(events[i].sid, "SM" + std::to_string(i));
    EXPECT_TRUE(events[i].released);
  }
  // The full bucket: five at once.
  EXPECT_LT(Ms(events[4].at - events[0].at), 0.3 * interval_ms);
  // The sixth waits for a token, about one simulated second; the seventh one more.
  EXPECT_GE(Ms(events[5].at - start), interval_ms);
  EXPECT_GT(Ms(events[5].at - events[4].at), 0.5 * interval_ms);
  EXPECT_LT(Ms(events[5].at - start), 2 * interval_ms);
  EXPECT_GE(Ms(events[6].at - start), 2 * interval_ms);
}

TEST_F(SenderQueuesTest, DisabledReleasesEverythingInOrder) {
  constexpr int kCount = 1000;
  Create(1.0, /*disabled=*/true, /*max_queued=*/kCount);
  StartIo();
  for (int i = 0; i < kCount; ++i) {
    // mps this low would take ages if the limit applied.
    ASSERT_TRUE(
        queues_->Enqueue("+15550001", {0.001, 1}, recorder_.Make("SM" + std::to_string(i))));
  }
  ASSERT_TRUE(recorder_.WaitFor(kCount));
  const std::vector<Event> events = recorder_.events();
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(events[i].sid, "SM" + std::to_string(i));
    EXPECT_TRUE(events[i].released);
  }
  EXPECT_EQ(queues_->Queued("+15550001"), 0u);
}

TEST_F(SenderQueuesTest, ItemPastItsDeadlineExpiresThenAndUsesNoToken) {
  constexpr double kScale = 5;  // one token per 200 ms
  const auto interval = milliseconds(200);
  Create(kScale);
  StartIo();
  const Clock::time_point start = Clock::now();
  // Turns at 0, 1, 2, 3 intervals; C's deadline (1.5) comes before its turn (2).
  const Clock::time_point deadline = start + interval * 3 / 2;
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("A")));
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("B")));
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("C", deadline)));
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("D")));
  ASSERT_TRUE(recorder_.WaitFor(4));
  const std::vector<Event> events = recorder_.events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].sid, "A");
  EXPECT_TRUE(events[0].released);
  EXPECT_EQ(events[1].sid, "B");
  EXPECT_TRUE(events[1].released);
  EXPECT_EQ(events[2].sid, "C");
  EXPECT_FALSE(events[2].released);
  EXPECT_EQ(events[3].sid, "D");
  EXPECT_TRUE(events[3].released);
  // C expired at its deadline, not at its turn.
  EXPECT_GE(events[2].at, deadline);
  EXPECT_LT(events[2].at, start + interval * 2);
  // D took C's turn (2 intervals), not the one after (3).
  EXPECT_GE(events[3].at, start + interval * 2);
  EXPECT_LT(events[3].at, start + interval * 11 / 4);
}

TEST_F(SenderQueuesTest, DeadlineAlreadyPassedExpiresAtOnceInBothModes) {
  SenderQueues disabled(io_, 1.0, /*disabled=*/true, 10);
  Create(1.0);
  StartIo();
  const Clock::time_point past = Clock::now() - std::chrono::seconds(1);
  ASSERT_TRUE(disabled.Enqueue("+15550001", {1.0, 1}, recorder_.Make("disabled", past)));
  // A default-constructed deadline is the clock's epoch: long gone.
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("limited", {})));
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("next")));
  ASSERT_TRUE(recorder_.WaitFor(3));
  disabled.Stop();
  for (const Event& e : recorder_.events()) {
    EXPECT_EQ(e.released, e.sid == "next") << e.sid;
  }
}

TEST_F(SenderQueuesTest, ItemBehindTheHeadExpiresAtItsDeadline) {
  constexpr double kScale = 2;  // one token per 500 ms
  Create(kScale);
  StartIo();
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + milliseconds(150);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("SM" + std::to_string(i))));
  }
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("late", deadline)));
  ASSERT_TRUE(recorder_.WaitFor(3));  // SM0 at once, "late", SM1 after 500 ms
  const std::vector<Event> events = recorder_.events();
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0].sid, "SM0");
  EXPECT_EQ(events[1].sid, "late");
  EXPECT_FALSE(events[1].released);
  EXPECT_GE(events[1].at, deadline);
  EXPECT_EQ(events[2].sid, "SM1");
  EXPECT_EQ(queues_->Queued("+15550001"), 1u);  // SM2
}

TEST_F(SenderQueuesTest, BoundRefusesUntilItemsLeaveAndCountsAreExact) {
  constexpr double kScale = 10;
  Create(kScale, /*disabled=*/false, /*max_queued=*/3);
  // The io_context does not run yet, so nothing leaves while we count.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("SM" + std::to_string(i))));
    EXPECT_EQ(queues_->Queued("+15550001"), static_cast<std::size_t>(i + 1));
  }
  EXPECT_FALSE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("refused")));
  EXPECT_EQ(queues_->Queued("+15550001"), 3u);
  EXPECT_TRUE(queues_->Enqueue("+15550002", {1.0, 1}, recorder_.Make("other")));
  EXPECT_EQ(queues_->Queued("+15550002"), 1u);
  EXPECT_EQ(queues_->Queued("+15550003"), 0u);
  EXPECT_EQ(queues_->TotalQueued(), 4u);

  recorder_.Observe(queues_.get(), "+15550001");
  StartIo();
  ASSERT_TRUE(recorder_.WaitFor(2));  // SM0 and "other" go at once
  EXPECT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("SM3")));
  EXPECT_FALSE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("refused")));
  ASSERT_TRUE(recorder_.WaitFor(5));
  EXPECT_EQ(queues_->Queued("+15550001"), 0u);
  EXPECT_EQ(queues_->TotalQueued(), 0u);

  std::vector<std::string> released;
  for (const Event& e : recorder_.Filter(true)) {
    if (e.sid != "other") released.push_back(e.sid);
    // An item no longer counts once its callback runs.
    if (e.sid == "SM0") {
      EXPECT_EQ(e.queued_seen, 2u);
    }
    if (e.sid == "SM3") {
      EXPECT_EQ(e.queued_seen, 0u);
    }
  }
  EXPECT_EQ(released, (std::vector<std::string>{"SM0", "SM1", "SM2", "SM3"}));
}

TEST_F(SenderQueuesTest, SendersAreIndependent) {
  constexpr double kScale = 10;  // one token per 100 ms
  Create(kScale);
  StartIo();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("A" + std::to_string(i))));
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(queues_->Enqueue("+15550002", {1.0, 1}, recorder_.Make("B" + std::to_string(i))));
  }
  // B's three need two intervals; A's backlog needs 49.
  ASSERT_TRUE(recorder_.WaitFor(3 + 10));
  int a_before_last_b = 0;
  for (const Event& e : recorder_.events()) {
    if (e.sid == "B2") break;
    if (e.sid[0] == 'A') ++a_before_last_b;
  }
  EXPECT_LE(a_before_last_b, 5);
  EXPECT_GE(queues_->Queued("+15550001"), 30u);
  EXPECT_EQ(queues_->Queued("+15550002"), 0u);
}

TEST_F(SenderQueuesTest, NewestLimitApplies) {
  constexpr double kScale = 10;
  Create(kScale);
  StartIo();
  // At 0.01 MPS the second would wait 10 real seconds.
  ASSERT_TRUE(queues_->Enqueue("+15550001", {0.01, 1}, recorder_.Make("SM0")));
  ASSERT_TRUE(queues_->Enqueue("+15550001", {0.01, 1}, recorder_.Make("SM1")));
  ASSERT_TRUE(recorder_.WaitFor(1));
  ASSERT_TRUE(queues_->Enqueue("+15550001", {100.0, 1}, recorder_.Make("SM2")));
  ASSERT_TRUE(recorder_.WaitFor(3));
  const std::vector<Event> events = recorder_.events();
  EXPECT_EQ(events[1].sid, "SM1");
  EXPECT_EQ(events[2].sid, "SM2");
  EXPECT_LT(events[2].at - events[0].at, std::chrono::seconds(5));
}

TEST_F(SenderQueuesTest, ConcurrentProducersOnAThreadPoolKeepEachProducersOrder) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 200;
  Create(/*time_scale=*/10);
  guard_.emplace(io_.get_executor());
  std::vector<std::thread> pool;
  for (int i = 0; i < 4; ++i) pool.emplace_back([this] { io_.run(); });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([this, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        // Two senders share the pool; 1000 MPS * 10 keeps the test short but still queues.
        const std::string sender = i % 2 == 0 ? "+15550001" : "+15550002";
        const std::string sid = std::to_string(p) + ":" + std::to_string(i);
        EXPECT_TRUE(queues_->Enqueue(sender, {1000.0, 10}, recorder_.Make(sid)));
      }
    });
  }
  for (std::thread& t : producers) t.join();
  const bool all = recorder_.WaitFor(kProducers * kPerProducer);
  queues_->Stop();
  guard_.reset();
  for (std::thread& t : pool) t.join();
  ASSERT_TRUE(all);
  // One sender's callbacks never overlap, so the recorder sees them in release order; each
  // producer enqueued its items for one sender in increasing i, so they must come out that way.
  for (int parity : {0, 1}) {  // even i went to +15550001, odd i to +15550002
    std::vector<int> last_of(kProducers, -1);
    for (const Event& e : recorder_.events()) {
      const int p = std::stoi(e.sid.substr(0, e.sid.find(':')));
      const int i = std::stoi(e.sid.substr(e.sid.find(':') + 1));
      EXPECT_TRUE(e.released) << e.sid;
      if (i % 2 != parity) continue;
      EXPECT_GT(i, last_of[p]) << e.sid;
      last_of[p] = i;
    }
  }
  EXPECT_EQ(queues_->TotalQueued(), 0u);
}

TEST_F(SenderQueuesTest, StopDropsQueuedItemsAndLetsRunReturn) {
  constexpr double kScale = 1;  // one token per second
  Create(kScale);
  const Clock::time_point deadline = Clock::now() + milliseconds(800);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(queues_->Enqueue(
        "+15550001", {1.0, 1},
        recorder_.Make("SM" + std::to_string(i), i == 5 ? deadline : Clock::time_point::max())));
  }
  // Without a work guard, and started only now: run() must not return before it has work.
  StartIo(/*keep_alive=*/false);
  ASSERT_TRUE(recorder_.WaitFor(1));
  queues_->Stop();
  const Clock::time_point stopped_at = Clock::now();
  EXPECT_FALSE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("after")));

  // With the timer cancelled, run() has nothing left and returns.
  auto joined = std::async(std::launch::async, [this] { thread_.join(); });
  if (joined.wait_for(kWaitLimit) != std::future_status::ready) {
    ADD_FAILURE() << "io_context::run() did not return after Stop()";
    io_.stop();
    joined.wait();
  }
  // SM0 went at once; nothing after Stop, not even the expiry of SM5 at its deadline.
  for (const Event& e : recorder_.events()) {
    EXPECT_LT(e.at, stopped_at) << e.sid;
  }
  EXPECT_EQ(recorder_.events().size(), 1u);
  EXPECT_EQ(queues_->TotalQueued(), 0u);
}

}  // namespace
}  // namespace mmsgate::carriers
