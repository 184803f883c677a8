#include "carriers/sender_queues.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <utility>
#include <vector>

namespace mmsgate::carriers {
namespace {

using Seconds = std::chrono::duration<double>;

// A non-positive rate would make the emission interval infinite, and infinities turn the bucket
// arithmetic into NaNs; one message per ~30 simulated years is "never" for a simulator.
constexpr double kMinMps = 1e-9;
// Simulated seconds per token for absurdly high (even infinite) rates.
constexpr double kMinInterval = 1e-12;
// Timer targets further out than this (simulated seconds) are armed at kNever, so the
// conversion to integer nanoseconds cannot overflow.
constexpr double kFarFutureSeconds = 1e9;

}  // namespace

// State shared by all senders and by SenderQueues itself. Handlers reach it through their Sender,
// so it stays valid if SenderQueues is destroyed while handlers are still queued.
struct SenderQueues::Shared {
  explicit Shared(Clock& clock) : clock(clock), epoch(clock.Now()) {}

  // Times inside the buckets are doubles (simulated seconds since epoch): the schedule needs
  // fractional intervals (e.g. 1/3 mps) without rounding error accumulating per release.
  Clock& clock;
  const SimTime epoch;
  bool disabled = false;
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> total_queued{0};

  double ToSeconds(SimTime t) const {
    // Subtracting in long double: integer ticks would overflow for time_point::min() deadlines,
    // and plain doubles of wall-clock nanoseconds (~1.7e18) lose the sub-microsecond precision
    // the schedule needs, so that a timer could fire just before its token is due, forever.
    const long double ns = static_cast<long double>(t.time_since_epoch().count()) -
                           static_cast<long double>(epoch.time_since_epoch().count());
    return static_cast<double>(ns / 1e9L);
  }
  SimTime ToTimePoint(double seconds) const {
    if (seconds >= kFarFutureSeconds) return kNever;
    // Rounded up, so that when the timer fires the token is really due (no extra wakeup).
    return epoch + std::chrono::ceil<SimDuration>(Seconds(seconds)) + SimDuration(1);
  }
  double Now() const { return ToSeconds(clock.Now()); }
  // The simulated time of a schedule time (exact to the nanosecond, no rounding up).
  SimTime ToTime(double seconds) const {
    return epoch + std::chrono::round<SimDuration>(Seconds(seconds));
  }
};

// One sender's bucket and queue. Everything but `queued` is touched only on `strand`.
//
// The bucket is kept in GCRA form (theoretical arrival time), which is a token bucket: the bucket
// holds burst - (tat_ - t) / interval_ tokens at time t, capped at burst; a token is available when
// t >= tat_ - tolerance_. Each release is booked at the time its token came due (its "virtual"
// time), not at the time the timer actually fired, which is what keeps the schedule absolute.
class SenderQueues::Sender : public std::enable_shared_from_this<Sender> {
 public:
  Sender(boost::asio::io_context& io, std::shared_ptr<Shared> shared)
      : strand(boost::asio::make_strand(io)),
        shared_(std::move(shared)),
        timer_(shared_->clock.MakeTimer(strand)) {}

  // Runs on the strand: one accepted item arrives.
  void Add(SenderLimit limit, Item item, double enqueued_at) {
    if (shared_->stopped.load()) {
      // Stop() ran between Enqueue's check and this post; its Drop may already have run.
      Uncount(1);
      return;
    }
    if (shared_->disabled) {
      Uncount(1);
      // As in the limited case, the item counts as due when it was enqueued, not when the strand
      // got to it: a busy io_context must not turn a release into an expiry.
      if (ToDeadline(item) <= enqueued_at) {
        Call(item.expire);
      } else {
        if (item.release) item.release(shared_->ToTime(enqueued_at));
      }
      return;
    }
    const double now = shared_->Now();
    SetLimit(limit, now);
    Entry entry;
    entry.deadline = ToDeadline(item);
    entry.enqueued_at = enqueued_at;
    entry.item = std::move(item);
    queue_.push_back(std::move(entry));
    ReleaseDue(now);
    Arm();
  }

  // Runs on the strand, for Stop(): forget everything without calling back.
  void Drop() {
    ++generation_;
    timer_pending_ = false;
    timer_->Cancel();
    Uncount(queue_.size());
    queue_.clear();
  }

  // Runs on the strand, for Reset(): Drop, and the bucket full again as at the start.
  void DropAndRefill() {
    Drop();
    has_limit_ = false;
    last_release_ = -std::numeric_limits<double>::infinity();
  }

  // Undoes the count taken by Enqueue, before the callback runs so that it sees the new value.
  void Uncount(std::size_t n) {
    if (n == 0) return;
    queued.fetch_sub(n);
    shared_->total_queued.fetch_sub(n);
  }

  boost::asio::strand<boost::asio::io_context::executor_type> strand;
  // Items accepted and not finished. Incremented by Enqueue on the caller's thread (so that the
  // bound and Queued() are exact at once), decremented on the strand.
  std::atomic<std::size_t> queued{0};

 private:
  struct Entry {
    Item item;
    double deadline = 0;
    double enqueued_at = 0;
  };

  static void Call(const std::function<void()>& callback) {
    if (callback) callback();
  }

  double ToDeadline(const Item& item) const { return shared_->ToSeconds(item.deadline); }

  // Applies a (possibly new) limit. The tokens held at `now` carry over, so changing the limit
  // neither grants a fresh burst nor loses the credit of a pause.
  void SetLimit(SenderLimit limit, double now) {
    const double mps = limit.mps > 0 ? limit.mps : kMinMps;  // NaN too
    const int burst = std::max(1, limit.burst);
    if (has_limit_ && mps == mps_ && burst == burst_) return;
    // Floored so that an infinite rate does not divide by zero below.
    const double interval = std::max(kMinInterval, 1.0 / mps);
    if (!has_limit_) {
      tat_ = -std::numeric_limits<double>::infinity();  // The bucket starts full.
    } else {
      // Release what was due under the old limit first: after that the head (if any) is not due,
      // so the tokens computed below are not capped away from a backlog.
      ReleaseDue(now);
      double tokens = static_cast<double>(burst_) - std::max(0.0, tat_ - now) / interval_;
      tokens = std::clamp(tokens, 0.0, static_cast<double>(burst));
      tat_ = now + (static_cast<double>(burst) - tokens) * interval;
    }
    has_limit_ = true;
    mps_ = mps;
    burst_ = burst;
    interval_ = interval;
    tolerance_ = static_cast<double>(burst - 1) * interval;
  }

  // The earliest time `entry` may go if it is (or becomes) the head: when a token is due, not
  // before it was enqueued (a token does not wait for an item not there yet, else a pause would
  // be spent twice), and not before the previous release (keeps booked times monotonic).
  double DueTime(const Entry& entry) const {
    return std::max({tat_ - tolerance_, entry.enqueued_at, last_release_});
  }

  // Releases and expires everything whose time has come by `now`, in virtual-time order.
  void ReleaseDue(double now) {
    while (!queue_.empty() && !shared_->stopped.load()) {
      Entry& head = queue_.front();
      const double due = DueTime(head);
      if (head.deadline <= due) {
        // Its token would come too late. It expires at its deadline and uses no token.
        if (head.deadline > now) break;
        Item item = std::move(head.item);
        queue_.pop_front();
        Uncount(1);
        Call(item.expire);
        continue;
      }
      if (due > now) break;
      // Booked at `due`, not `now`: a late timer must not push the next token back.
      tat_ = std::max(tat_, due) + interval_;
      last_release_ = due;
      Item item = std::move(head.item);
      queue_.pop_front();
      Uncount(1);
      if (item.release) item.release(shared_->ToTime(due));
    }
    if (queue_.empty() || shared_->stopped.load()) return;
    // The head is not due by `now`, so nothing behind it can go by `now` either: whatever is past
    // its deadline expires now rather than at its turn.
    std::vector<Item> expired;
    for (auto it = queue_.begin() + 1; it != queue_.end();) {
      if (it->deadline <= now) {
        expired.push_back(std::move(it->item));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    Uncount(expired.size());
    for (const Item& item : expired) {
      if (shared_->stopped.load()) break;
      Call(item.expire);
    }
  }

  // One timer per sender, for the earlier of the head's token and the earliest deadline.
  void Arm() {
    if (shared_->stopped.load()) return;
    if (queue_.empty()) {
      if (timer_pending_) {
        ++generation_;
        timer_pending_ = false;
        timer_->Cancel();
      }
      return;
    }
    double when = DueTime(queue_.front());
    for (const Entry& entry : queue_) when = std::min(when, entry.deadline);
    const SimTime target = shared_->ToTimePoint(when);
    // Enqueues behind a backlog do not change the target; re-arming would only churn handlers.
    if (timer_pending_ && target == armed_for_) return;
    const uint64_t generation = ++generation_;
    timer_pending_ = true;
    armed_for_ = target;
    // Cancels a pending wait; its handler sees a stale generation.
    timer_->WaitUntil(target,
                      [self = shared_from_this(), generation](bool) { self->OnTimer(generation); });
  }

  void OnTimer(uint64_t generation) {
    // A handler that was cancelled, or had already fired when it was superseded, is stale.
    if (generation != generation_ || shared_->stopped.load()) return;
    timer_pending_ = false;
    ReleaseDue(shared_->Now());
    Arm();
  }

  std::shared_ptr<Shared> shared_;
  std::unique_ptr<Timer> timer_;
  std::deque<Entry> queue_;

  bool has_limit_ = false;
  double mps_ = 0;
  int burst_ = 1;
  double interval_ = 1;   // simulated seconds per token
  double tolerance_ = 0;  // (burst - 1) * interval_
  double tat_ = 0;        // theoretical arrival time, seconds since Shared::epoch
  double last_release_ = -std::numeric_limits<double>::infinity();

  bool timer_pending_ = false;
  SimTime armed_for_;
  uint64_t generation_ = 0;
};

SenderQueues::SenderQueues(boost::asio::io_context& io, Clock& clock, bool disabled,
                           std::size_t max_queued_per_sender)
    : io_(io),
      max_queued_per_sender_(max_queued_per_sender),
      shared_(std::make_shared<Shared>(clock)) {
  shared_->disabled = disabled;
}

SenderQueues::~SenderQueues() { Stop(); }

std::shared_ptr<SenderQueues::Sender> SenderQueues::StateOf(const std::string& sender) {
  std::lock_guard lock(senders_mutex_);
  auto& slot = senders_[sender];
  if (!slot) slot = std::make_shared<Sender>(io_, shared_);
  return slot;
}

bool SenderQueues::Reserve(const std::string& sender, std::size_t max) {
  if (shared_->stopped.load()) return false;
  // SIZE_MAX counts without any bound (messages resumed after a restart were accepted already).
  const std::size_t bound =
      max == std::numeric_limits<std::size_t>::max() ? max : std::min(max, max_queued_per_sender_);
  auto state = StateOf(sender);
  // Without a lock: concurrent reservations for one sender cannot overshoot the bound.
  std::size_t queued = state->queued.load();
  do {
    if (queued >= bound) return false;
  } while (!state->queued.compare_exchange_weak(queued, queued + 1));
  shared_->total_queued.fetch_add(1);
  return true;
}

void SenderQueues::CancelReservation(const std::string& sender) {
  auto state = StateOf(sender);
  state->Uncount(1);
}

bool SenderQueues::Enqueue(const std::string& sender, SenderLimit limit, Item item) {
  if (!Reserve(sender, max_queued_per_sender_)) return false;
  EnqueueReserved(sender, limit, std::move(item));
  return true;
}

void SenderQueues::EnqueueReserved(const std::string& sender, SenderLimit limit, Item item) {
  // Taken before any post: the item is booked at the time the caller handed it over.
  const double enqueued_at = shared_->Now();
  auto state = StateOf(sender);
  // Posted, never dispatched: a caller inside a callback must not re-enter the queue it iterates.
  // After Stop, Add drops the item and its count.
  boost::asio::post(state->strand, [state, limit, item = std::move(item), enqueued_at]() mutable {
    state->Add(limit, std::move(item), enqueued_at);
  });
}

std::size_t SenderQueues::Queued(const std::string& sender) const {
  std::lock_guard lock(senders_mutex_);
  auto it = senders_.find(sender);
  return it == senders_.end() ? 0 : it->second->queued.load();
}

std::size_t SenderQueues::TotalQueued() const { return shared_->total_queued.load(); }

void SenderQueues::Reset() {
  std::lock_guard lock(senders_mutex_);
  for (auto& [name, state] : senders_) {
    boost::asio::post(state->strand, [state = state] { state->DropAndRefill(); });
  }
}

void SenderQueues::ResetSender(const std::string& sender) {
  std::lock_guard lock(senders_mutex_);
  if (auto it = senders_.find(sender); it != senders_.end()) {
    boost::asio::post(it->second->strand, [state = it->second] { state->DropAndRefill(); });
  }
}

void SenderQueues::Stop() {
  if (shared_->stopped.exchange(true)) return;
  std::lock_guard lock(senders_mutex_);
  for (auto& [name, state] : senders_) {
    // The timer and queue belong to the strand; cancel them there.
    boost::asio::post(state->strand, [state = state] { state->Drop(); });
  }
}

}  // namespace mmsgate::carriers
