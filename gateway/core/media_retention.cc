#include "gateway/core/media_retention.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

namespace mmsgate::gateway {

MediaRetention::MediaRetention(boost::asio::io_context& io,
                               boost::asio::any_io_executor storage_executor, Clock& clock,
                               MessageService& messages, SimDuration retention)
    : storage_executor_(std::move(storage_executor)),
      clock_(clock),
      messages_(messages),
      retention_(retention),
      timer_(clock.MakeTimer(io.get_executor())) {}

void MediaRetention::Start() { Arm(); }

void MediaRetention::Stop() { timer_->Cancel(); }

void MediaRetention::Arm() {
  // Often enough that a link stops working soon after it expires, rarely enough to cost
  // nothing: a quarter of the retention, between 100 ms and a minute of real time.
  const double scale = clock_.time_scale();
  const SimDuration period =
      std::clamp<SimDuration>(retention_ / 4, SimSeconds(0.1 * scale), SimSeconds(60 * scale));
  timer_->WaitUntil(clock_.Now() + period, [this](bool fired) {
    if (!fired) return;
    boost::asio::post(storage_executor_, [this] {
      auto swept = messages_.SweepExpiredMedia(ToNanoseconds(clock_.Now()));
      if (!swept.ok()) {
        spdlog::warn("media retention sweep failed: {}", std::string(swept.status().message()));
      } else if (*swept > 0) {
        spdlog::debug("media retention: {} messages' media expired", *swept);
      }
      Arm();
    });
  });
}

}  // namespace mmsgate::gateway
