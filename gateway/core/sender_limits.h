#pragma once
// The provider's per-sender rate limits, in front of the carriers: token buckets (burst 1 unless
// a number overrides it; long code 1, toll-free 3, short code 100 messages per simulated second)
// and the backlog rule (a sender already holding 10 hours of its rate refuses new messages with
// 21611).
//
// One count per sender, from a message's acceptance until its sender queue lets it go (or it
// fails there): Reserve before storing a message, then Enqueue it once stored, or Cancel if it
// was not stored. Threads: every method may be called from any thread and never blocks beyond a
// map lookup; the queues' callbacks run on each sender's strand.

#include <boost/asio/io_context.hpp>
#include <string>

#include "absl/status/status.h"
#include "carriers/base/clock.h"
#include "carriers/sender_queues.h"
#include "gateway/accounts/directory.h"

namespace mmsgate::gateway {

class SenderLimits {
 public:
  // `disabled`: simulation.disable_sender_rate_limits (load tests): everything goes at once and
  // no backlog is refused.
  SenderLimits(boost::asio::io_context& io, Clock& clock, const Directory& directory,
               bool disabled);

  // Counts one message for `sender`, or refuses with 21611 (counting nothing) when it already
  // holds 10 hours of its rate.
  [[nodiscard]] absl::Status Reserve(const std::string& sender);
  // Counts a message resumed after a restart: never refused.
  void ReserveResumed(const std::string& sender);
  // Undoes a Reserve for a message that was not stored.
  void Cancel(const std::string& sender);
  // Queues a reserved message behind its sender's rate limit.
  void Enqueue(const std::string& sender, carriers::SenderQueues::Item item);

  // Messages counted for `sender` now.
  [[nodiscard]] std::size_t Backlog(const std::string& sender) const;
  // Messages waiting behind every sender's rate limit.
  [[nodiscard]] std::size_t TotalQueued() const { return queues_.TotalQueued(); }
  [[nodiscard]] carriers::SenderLimit LimitFor(const std::string& sender) const;

  // Drops what waits; callbacks stop. Call while the io_context still runs.
  void Stop();
  // Drops what waits, without callbacks, and starts every sender's rate afresh
  // (Simulator.Reset).
  void Reset() { queues_.Reset(); }
  void ResetSender(const std::string& sender) { queues_.ResetSender(sender); }

 private:
  // A safety bound on one sender's queue, far above any rate's 10 hours but finite.
  static constexpr std::size_t kMaxQueuedPerSender = 1000000;

  const Directory& directory_;
  const bool disabled_;
  carriers::SenderQueues queues_;
};

}  // namespace mmsgate::gateway
