#pragma once
// Media retention (simulation.media_retention_seconds, default 7 days simulated): when a
// message's media expire, its link stops working and blobs no message uses any more are
// deleted.
//
// Threading rule: the timer runs on the io_context; the sweep reads and writes the database, so
// it runs on the storage executor. Start once; Stop before the io_context stops.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>

#include "carriers/base/clock.h"
#include "gateway/core/messages.h"

namespace mmsgate::gateway {

class MediaRetention {
 public:
  MediaRetention(boost::asio::io_context& io, boost::asio::any_io_executor storage_executor,
                 Clock& clock, MessageService& messages, SimDuration retention);
  void Start();
  void Stop();

 private:
  void Arm();

  boost::asio::any_io_executor storage_executor_;
  Clock& clock_;
  MessageService& messages_;
  const SimDuration retention_;
  std::unique_ptr<Timer> timer_;
};

}  // namespace mmsgate::gateway
