#pragma once
// Per-sender rate limits ("sender queues"): the provider's token buckets in front of the carriers.
//
// Contract:
// - Threads: Enqueue, Queued, TotalQueued and Stop may be called from any thread, including from
//   inside a release/expire callback; none of them blocks beyond a short mutex held for a map
//   lookup, and none runs a callback inline. Each sender has its own strand on the io_context;
//   all waiting is a steady_timer on that strand, never a sleep.
// - Callbacks: for every accepted item exactly one of release/expire is called, on that sender's
//   strand (so never concurrently for one sender), with no lock of this class held. Releases of
//   one sender happen in the order its items were enqueued (FIFO); an expired item is skipped and
//   does not hold up or use a token of the items behind it. Callbacks must not throw.
// - Rates: a sender's bucket holds up to `burst` tokens and starts full; it refills continuously at
//   mps tokens per simulated second (mmsgate/clock.h). The release schedule is absolute (the
//   theoretical times at which tokens come due), so a late timer does not push later releases back;
//   after a stall of the io_context, the items whose time has come are released together.
// - Deadlines: an item is released if its token comes due (on the schedule above; in disabled
//   mode: when it is enqueued) before its deadline, even if the strand gets to it late; otherwise
//   it expires, promptly at its deadline (not at its turn), and uses no token. The default
//   deadline (the simulation epoch) has always passed: use kNever for "none".
// - Limits: the limit passed with the newest Enqueue of a sender applies from then on, to the
//   items already waiting too; the tokens the bucket holds carry over (capped at the new burst).
//   mps <= 0 (or NaN) means the sender's items are practically never released (they expire);
//   burst < 1 counts as 1.
// - Ownership: SenderQueues does not own the io_context, which must outlive it. Pending handlers
//   hold their sender's state by shared_ptr, so destroying SenderQueues while the io_context still
//   runs is safe; the destructor calls Stop().
// - Stop: after Stop() no new callback starts and Enqueue returns false; queued items are dropped
//   (their std::functions are destroyed on the strand) and timers are cancelled, so io.run()
//   returns once nothing else is pending. A callback already running on another io thread when
//   Stop() is called may still be finishing. Call Stop() while the io_context still runs, so the
//   cancellations are processed.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "carriers/base/clock.h"

namespace mmsgate::carriers {

struct SenderLimit {
  double mps = 1.0;  // messages per SIMULATED second
  int burst = 1;     // bucket size (tokens available after a pause); the bucket starts full
};

class SenderQueues {
 public:
  struct Item {
    std::string message_sid;
    SimTime deadline;  // if the item is still queued then, it expires
    // Called when the item may go (a token was taken), with the simulated time the schedule
    // booked the release at: the token's due time, however late the strand got to it.
    std::function<void(SimTime released_at)> release;
    std::function<void()> expire;  // called instead of release if the deadline passes first
  };

  // clock: the simulation clock the rates and deadlines are on; it must outlive the queues.
  // disabled: every item is released at once (still asynchronously, posted to the sender's strand;
  // an item enqueued with its deadline already passed expires instead). max_queued_per_sender
  // bounds each queue (in disabled mode too: items count as queued until their posted release
  // runs).
  SenderQueues(boost::asio::io_context& io, Clock& clock, bool disabled,
               std::size_t max_queued_per_sender);
  ~SenderQueues();
  SenderQueues(const SenderQueues&) = delete;
  SenderQueues& operator=(const SenderQueues&) = delete;

  // Thread-safe, never blocks. Returns false (and calls nothing) when that sender already holds
  // max_queued_per_sender items, or after Stop(); the caller then refuses the message (provider
  // code 21611). Exactly one of release/expire is called for an accepted item, on the sender's
  // strand, in FIFO order of release for one sender. The limit given with the newest Enqueue
  // applies from then on.
  bool Enqueue(const std::string& sender, SenderLimit limit, Item item);

  // Counts an item for `sender` before it is enqueued (a message from its acceptance on, while it
  // is stored and queued), refusing (false, counting nothing) when the sender already holds
  // `max` items, counted or queued, or the queue's own bound (SIZE_MAX: no bound at all). Check and
  // count are one step, so concurrent callers cannot both slip under the limit. Each successful
  // Reserve is followed by exactly one EnqueueReserved or CancelReservation.
  bool Reserve(const std::string& sender, std::size_t max);
  void CancelReservation(const std::string& sender);
  // Enqueue for an item counted by Reserve; never refuses (after Stop the item is dropped).
  void EnqueueReserved(const std::string& sender, SenderLimit limit, Item item);

  // Items accepted and not yet released, expired or dropped. Exact as soon as Enqueue returns;
  // an item no longer counts when its callback is called.
  std::size_t Queued(const std::string& sender) const;
  std::size_t TotalQueued() const;

  // Cancels timers; items still queued get neither callback. Idempotent. Call before the
  // io_context stops.
  void Stop();
  // Drops what is queued, without callbacks, and fills every bucket again (Simulator.Reset);
  // the queues keep working. Reservations not yet enqueued stay counted until they are.
  void Reset();
  // The same for one sender (Accounts.ResetAccount: the account's numbers).
  void ResetSender(const std::string& sender);

 private:
  class Sender;
  struct Shared;

  std::shared_ptr<Sender> StateOf(const std::string& sender);

  boost::asio::io_context& io_;
  const std::size_t max_queued_per_sender_;
  // Outlives this object when handlers are still pending (they hold it through their Sender).
  std::shared_ptr<Shared> shared_;

  // Guards only lookup and creation; a sender's queue lives on its strand.
  mutable std::mutex senders_mutex_;
  std::unordered_map<std::string, std::shared_ptr<Sender>> senders_;
};

}  // namespace mmsgate::carriers
