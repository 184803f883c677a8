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

#include "fakes/manual_clock.h"

namespace mmsgate::carriers {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Generous: the threaded tests wait for events, they never time them against this.
constexpr auto kWaitLimit = std::chrono::seconds(20);

struct Event {
  std::string sid;
  bool released = false;
  SimTime at;
  std::size_t queued_seen = 0;  // Queued(sender) as seen from inside the callback
  SimTime booked{};             // the release time the schedule gave it
};

// Records every callback with the simulated time it ran.
class Recorder {
 public:
  explicit Recorder(const Clock& clock) : clock_(clock) {}

  SenderQueues::Item Make(const std::string& sid, SimTime deadline = kNever) {
    SenderQueues::Item item;
    item.message_sid = sid;
    item.deadline = deadline;
    item.release = [this, sid](SimTime booked) { Record(sid, true, booked); };
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
  void Record(const std::string& sid, bool released, SimTime booked = {}) {
    const SimTime at = clock_.Now();
    std::lock_guard lock(mutex_);
    Event event{sid, released, at, 0, booked};
    if (observed_ != nullptr) event.queued_seen = observed_->Queued(observed_sender_);
    events_.push_back(std::move(event));
    changed_.notify_all();
  }

  const Clock& clock_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Event> events_;
  const SenderQueues* observed_ = nullptr;
  std::string observed_sender_;
};

// Single-threaded and on a manual clock: every release and expiry is judged at the simulated
// time the schedule gives it, exactly, however busy the machine is.
class SenderQueuesTest : public ::testing::Test {
 protected:
  ~SenderQueuesTest() override {
    if (queues_) queues_->Stop();
    Settle();
  }

  void Create(bool disabled = false, std::size_t max_queued = 10000) {
    queues_ = std::make_unique<SenderQueues>(io_, clock_, disabled, max_queued);
  }

  // Runs what is ready at the present simulated time.
  void Settle() {
    io_.restart();
    io_.poll();
  }
  // Moves simulated time on, running everything that comes due on the way.
  void Advance(SimDuration by) {
    Settle();
    clock_.Advance(by, [this] { Settle(); });
  }

  SimDuration Since(SimTime at) const { return at - start_; }

  testing::ManualClock clock_;
  const SimTime start_ = clock_.Now();
  boost::asio::io_context io_;
  Recorder recorder_{clock_};
  std::unique_ptr<SenderQueues> queues_;
};

TEST_F(SenderQueuesTest, OneMpsSpacesReleasesOnAnAbsoluteSchedule) {
  constexpr int kCount = 20;
  Create();
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("SM" + std::to_string(i))));
  }
  Advance(seconds(kCount));
  const std::vector<Event> events = recorder_.events();
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(events[i].sid, "SM" + std::to_string(i));
    EXPECT_TRUE(events[i].released);
    // One token per simulated second, the first at once: release i at i seconds, to within the
    // nanosecond the timer rounds up by.
    EXPECT_GE(Since(events[i].at), seconds(i)) << i;
    EXPECT_LE(Since(events[i].at), seconds(i) + std::chrono::microseconds(1)) << i;
    // The booked time is the schedule's own, exactly.
    EXPECT_EQ(Since(events[i].booked), seconds(i)) << i;
  }
  EXPECT_EQ(queues_->TotalQueued(), 0u);
}

TEST_F(SenderQueuesTest, BurstGoesAtOnceThenOneTokenPerInterval) {
  Create();
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 5}, recorder_.Make("SM" + std::to_string(i))));
  }
  Advance(seconds(3));
  const std::vector<Event> events = recorder_.events();
  ASSERT_EQ(events.size(), 7u);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(events[i].sid, "SM" + std::to_string(i));
    EXPECT_TRUE(events[i].released);
  }
  // The full bucket: five at once.
  EXPECT_EQ(Since(events[4].at), SimDuration(0));
  // The sixth waits one token (one simulated second), the seventh one more.
  EXPECT_GE(Since(events[5].at), seconds(1));
  EXPECT_LT(Since(events[5].at), seconds(1) + milliseconds(1));
  EXPECT_GE(Since(events[6].at), seconds(2));
  EXPECT_LT(Since(events[6].at), seconds(2) + milliseconds(1));
}

TEST_F(SenderQueuesTest, DisabledReleasesEverythingInOrder) {
  constexpr int kCount = 1000;
  Create(/*disabled=*/true, /*max_queued=*/kCount);
  for (int i = 0; i < kCount; ++i) {
    // mps this low would take ages if the limit applied.
    ASSERT_TRUE(
        queues_->Enqueue("+15550001", {0.001, 1}, recorder_.Make("SM" + std::to_string(i))));
  }
  Settle();
  const std::vector<Event> events = recorder_.events();
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(events[i].sid, "SM" + std::to_string(i));
    EXPECT_TRUE(events[i].released);
    EXPECT_EQ(events[i].at, start_);  // no simulated time passed
  }
  EXPECT_EQ(queues_->Queued("+15550001"), 0u);
}

TEST_F(SenderQueuesTest, ItemPastItsDeadlineExpiresThenAndUsesNoToken) {
  Create();
  // Turns at 0, 1, 2, 3 seconds; C's deadline (1.5 s) comes before its turn (2 s).
  const SimTime deadline = start_ + milliseconds(1500);
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("A")));
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("B")));
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("C", deadline)));
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("D")));
  Advance(seconds(4));
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
  EXPECT_LT(events[2].at, deadline + milliseconds(1));
  // D took C's turn (2 s), not the one after (3 s).
  EXPECT_GE(Since(events[3].at), seconds(2));
  EXPECT_LT(Since(events[3].at), seconds(2) + milliseconds(1));
}

TEST_F(SenderQueuesTest, DeadlineAlreadyPassedExpiresAtOnceInBothModes) {
  SenderQueues disabled(io_, clock_, /*disabled=*/true, 10);
  Create();
  const SimTime past = clock_.Now() - seconds(1);
  ASSERT_TRUE(disabled.Enqueue("+15550001", {1.0, 1}, recorder_.Make("disabled", past)));
  // A default-constructed deadline is the clock's epoch: long gone.
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("limited", {})));
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("next")));
  Settle();
  disabled.Stop();
  ASSERT_EQ(recorder_.events().size(), 3u);
  for (const Event& e : recorder_.events()) {
    EXPECT_EQ(e.released, e.sid == "next") << e.sid;
    EXPECT_EQ(e.at, start_) << e.sid;
  }
}

TEST_F(SenderQueuesTest, ItemBehindTheHeadExpiresAtItsDeadline) {
  Create();
  const SimTime deadline = start_ + milliseconds(300);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("SM" + std::to_string(i))));
  }
  ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("late", deadline)));
  Advance(seconds(1) + milliseconds(1));  // SM0 at once, "late" at 0.3 s, SM1 at 1 s
  const std::vector<Event> events = recorder_.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].sid, "SM0");
  EXPECT_EQ(events[1].sid, "late");
  EXPECT_FALSE(events[1].released);
  EXPECT_GE(events[1].at, deadline);
  EXPECT_LT(events[1].at, deadline + milliseconds(1));
  EXPECT_EQ(events[2].sid, "SM1");
  EXPECT_EQ(queues_->Queued("+15550001"), 1u);  // SM2
}

TEST_F(SenderQueuesTest, BoundRefusesUntilItemsLeaveAndCountsAreExact) {
  Create(/*disabled=*/false, /*max_queued=*/3);
  // Nothing runs yet, so nothing leaves while we count.
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
  Settle();  // SM0 and "other" go at once
  ASSERT_EQ(recorder_.events().size(), 2u);
  EXPECT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("SM3")));
  EXPECT_FALSE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("refused")));
  Advance(seconds(3) + milliseconds(1));
  ASSERT_EQ(recorder_.events().size(), 5u);
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
  Create();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_.Make("A" + std::to_string(i))));
  }
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(queues_->Enqueue("+15550002", {1.0, 1}, recorder_.Make("B" + std::to_string(i))));
  }
  // B's three need two seconds, whatever A's backlog of 49 seconds.
  Advance(seconds(2) + milliseconds(1));
  int a_released = 0;
  for (const Event& e : recorder_.events()) a_released += e.sid[0] == 'A';
  EXPECT_EQ(a_released, 3);  // at 0, 1 and 2 s
  EXPECT_EQ(queues_->Queued("+15550001"), 47u);
  EXPECT_EQ(queues_->Queued("+15550002"), 0u);
}

TEST_F(SenderQueuesTest, NewestLimitApplies) {
  Create();
  // At 0.01 MPS the second would wait 100 simulated seconds.
  ASSERT_TRUE(queues_->Enqueue("+15550001", {0.01, 1}, recorder_.Make("SM0")));
  ASSERT_TRUE(queues_->Enqueue("+15550001", {0.01, 1}, recorder_.Make("SM1")));
  Advance(seconds(1));
  ASSERT_EQ(recorder_.events().size(), 1u);
  ASSERT_TRUE(queues_->Enqueue("+15550001", {100.0, 1}, recorder_.Make("SM2")));
  Advance(seconds(1));
  const std::vector<Event> events = recorder_.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].sid, "SM1");
  EXPECT_EQ(events[2].sid, "SM2");
  EXPECT_LT(events[2].at - events[0].at, seconds(2));
}

// The threaded tests run on the real clock: they check ordering and shutdown, never timing.
class SenderQueuesThreadedTest : public ::testing::Test {
 protected:
  ~SenderQueuesThreadedTest() override {
    if (queues_) queues_->Stop();
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  void Create(double time_scale) {
    clock_ = std::make_unique<RealClock>(time_scale);
    recorder_ = std::make_unique<Recorder>(*clock_);
    queues_ = std::make_unique<SenderQueues>(io_, *clock_, /*disabled=*/false, 10000);
  }

  // Runs the io_context on one thread; with keep_alive it does not return when idle.
  void StartIo(bool keep_alive = true) {
    if (keep_alive) guard_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
  std::unique_ptr<RealClock> clock_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<SenderQueues> queues_;
};

TEST_F(SenderQueuesThreadedTest, ConcurrentProducersOnAThreadPoolKeepEachProducersOrder) {
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
        EXPECT_TRUE(queues_->Enqueue(sender, {1000.0, 10}, recorder_->Make(sid)));
      }
    });
  }
  for (std::thread& t : producers) t.join();
  const bool all = recorder_->WaitFor(kProducers * kPerProducer);
  queues_->Stop();
  guard_.reset();
  for (std::thread& t : pool) t.join();
  ASSERT_TRUE(all);
  // One sender's callbacks never overlap, so the recorder sees them in release order; each
  // producer enqueued its items for one sender in increasing i, so they must come out that way.
  for (int parity : {0, 1}) {  // even i went to +15550001, odd i to +15550002
    std::vector<int> last_of(kProducers, -1);
    for (const Event& e : recorder_->events()) {
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

TEST_F(SenderQueuesThreadedTest, StopDropsQueuedItemsAndLetsRunReturn) {
  Create(/*time_scale=*/1);  // one token per real second
  const SimTime deadline = clock_->Now() + milliseconds(800);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(
        queues_->Enqueue("+15550001", {1.0, 1},
                         recorder_->Make("SM" + std::to_string(i), i == 5 ? deadline : kNever)));
  }
  // Without a work guard, and started only now: run() must not return before it has work.
  StartIo(/*keep_alive=*/false);
  ASSERT_TRUE(recorder_->WaitFor(1));
  queues_->Stop();
  const SimTime stopped_at = clock_->Now();
  EXPECT_FALSE(queues_->Enqueue("+15550001", {1.0, 1}, recorder_->Make("after")));

  // With the timer cancelled, run() has nothing left and returns.
  auto joined = std::async(std::launch::async, [this] { thread_.join(); });
  if (joined.wait_for(kWaitLimit) != std::future_status::ready) {
    ADD_FAILURE() << "io_context::run() did not return after Stop()";
    io_.stop();
    joined.wait();
  }
  // SM0 went at once; nothing after Stop, not even the expiry of SM5 at its deadline.
  for (const Event& e : recorder_->events()) {
    EXPECT_LT(e.at, stopped_at) << e.sid;
  }
  EXPECT_EQ(recorder_->events().size(), 1u);
  EXPECT_EQ(queues_->TotalQueued(), 0u);
}

}  // namespace
}  // namespace mmsgate::carriers
