#include "gateway/core/sender_limits.h"

#include <algorithm>
#include <limits>

#include "carriers/base/errors.h"

namespace mmsgate::gateway {

namespace v1 = mmsgate::v1;

SenderLimits::SenderLimits(boost::asio::io_context& io, Clock& clock, const Directory& directory,
                           bool disabled)
    : directory_(directory),
      disabled_(disabled),
      queues_(io, clock, disabled, kMaxQueuedPerSender) {}

carriers::SenderLimit SenderLimits::LimitFor(const std::string& sender) const {
  carriers::SenderLimit limit;
  if (auto number = directory_.FindNumber(sender)) {
    limit.mps = number->mps() > 0                  ? number->mps()
                : number->type() == v1::SHORT_CODE ? 100.0
                : number->type() == v1::TOLL_FREE  ? 3.0
                                                   : 1.0;
    limit.burst = number->burst() > 0 ? number->burst() : 1;
  }
  return limit;
}

absl::Status SenderLimits::Reserve(const std::string& sender) {
  // The provider refuses a new message once a sender holds 10 hours of its rate.
  const double hours = std::min(LimitFor(sender).mps * 36000, 1e6);
  const std::size_t max = disabled_ ? kMaxQueuedPerSender : static_cast<std::size_t>(hours);
  if (queues_.Reserve(sender, max)) return absl::OkStatus();
  const std::size_t held = queues_.Queued(sender);
  return ProviderError(absl::StatusCode::kResourceExhausted, error_codes::kSenderQueueFull,
                       "sender " + sender + " already holds " + std::to_string(held) +
                           " queued messages (10 hours at its rate limit); slow down or send "
                           "from more numbers");
}

void SenderLimits::ReserveResumed(const std::string& sender) {
  (void)queues_.Reserve(sender, std::numeric_limits<std::size_t>::max());
}

void SenderLimits::Cancel(const std::string& sender) { queues_.CancelReservation(sender); }

void SenderLimits::Enqueue(const std::string& sender, carriers::SenderQueues::Item item) {
  queues_.EnqueueReserved(sender, LimitFor(sender), std::move(item));
}

std::size_t SenderLimits::Backlog(const std::string& sender) const {
  return queues_.Queued(sender);
}

void SenderLimits::Stop() { queues_.Stop(); }

}  // namespace mmsgate::gateway
