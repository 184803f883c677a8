#pragma once
// Status callbacks: a signed POST to a message's status_callback for each status change.
//
// Posts for one message go out one after another, in the order the changes were made (the next
// starts when the previous succeeded or gave up), so an application sees queued, sending, sent,
// delivered in that order. Each attempt is recorded with the message (AttemptLog).
//
// Threading rule: OnStatus may be called from any thread and never blocks. Each message with
// posts under way has its own strand; its queue is touched only there. A map from SID to that
// state is locked only for a lookup.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "gateway/accounts/directory.h"
#include "gateway/core/lifecycle.h"
#include "gateway/storage/attempt_log.h"
#include "gateway/webhooks/webhooks.h"
#include "mmsc/storage/database.h"
#include "mmsgate/v1/message.pb.h"

namespace mmsgate::gateway {

// The provider's lowercase status names ("queued", "delivered", …).
std::string StatusName(mmsgate::v1::MessageStatus status);

// Converts a WebhookSender attempt, which posted `fields`, into the record kept with a message.
mmsgate::v1::WebhookAttempt ToAttemptRecord(const WebhookAttempt& attempt,
                                            mmsgate::v1::WebhookAttempt::Kind kind,
                                            const std::string& url, const FormParams& fields);

// The provider's RawDlrDoneDate, the carrier's delivery report time: YYMMDDhhmm in UTC.
[[nodiscard]] std::string RawDlrDoneDate(const google::protobuf::Timestamp& time);

class StatusCallbacks final : public StatusListener {
 public:
  StatusCallbacks(boost::asio::io_context& io, WebhookSender& sender, const Directory& directory,
                  storage::Database& database, AttemptLog& attempts,
                  std::chrono::milliseconds timeout);

  // StatusListener: queues the POST for `message`'s current status if it has a status_callback.
  void OnStatus(const mmsgate::v1::Message& message) override;

  // Posts not yet finished (for tests and shutdown logs).
  std::size_t pending() const;

 private:
  struct Chain {
    explicit Chain(boost::asio::io_context& io) : strand(boost::asio::make_strand(io)) {}
    boost::asio::strand<boost::asio::io_context::executor_type> strand;
    // Snapshots waiting; the front one is being posted. Strand only.
    std::deque<mmsgate::v1::Message> queue;
    // Statuses handed to this chain and not finished, queued or still on their way to the
    // strand; guarded by the map's mutex, so that a chain leaves the map only when nothing more
    // can reach it.
    std::size_t outstanding = 0;
  };
  using ChainPtr = std::shared_ptr<Chain>;

  // Strand: posts the front of the queue.
  void PostFront(const ChainPtr& chain);
  // Strand: the front is done; starts the next, or ends the chain.
  void Next(const ChainPtr& chain);

  boost::asio::io_context& io_;
  WebhookSender& sender_;
  const Directory& directory_;
  storage::Database& database_;
  AttemptLog& attempts_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, ChainPtr> chains_;  // guarded by mutex_
  std::atomic<std::size_t> pending_{0};
};

}  // namespace mmsgate::gateway
