#pragma once
// The delivery pipeline: admission, persistence of every status change, carrier submission and
// delivery reports, and events.
//
// Threads: Send may be called from any thread (the gRPC and HTTP front doors). Every status
// change of a message is committed to the database before it is published or acted on; the
// changes of one message are applied strictly one after another. Waiting happens on the
// database's writer thread and on carrier timers, never by blocking an io_context thread.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "carriers/fleet.h"
#include "carriers/sender_queues.h"
#include "gateway/core/admission.h"
#include "gateway/accounts/directory.h"
#include "gateway/core/events.h"
#include "gateway/storage/message_store.h"

namespace mmsgate::gateway {

struct PipelineStats {
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> refused{0};
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> undelivered{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> store_errors{0};
};

struct PipelineSendOptions {
  mmsgate::v1::Direction direction = mmsgate::v1::OUTBOUND_API;
  // For a TwiML reply: the inbound message it answers.
  std::string reply_to_sid;
};

class StatusCallbacks;

class Pipeline : public carriers::DeliveryListener {
 public:
  Pipeline(boost::asio::io_context& io, Clock& clock, mmsc::Database& database,
           MessageStore& store,
           Directory& directory, EventBus& events, carriers::Handsets& handsets,
           const std::vector<mmsgate::v1::Carrier>& carriers,
           carriers::SimulationSettings simulation, bool disable_sender_rate_limits = false);

  // Base of media links; set once the HTTP listener knows its address.
  void SetPublicBaseUrl(std::string url);

  using SendCallback = std::function<void(absl::StatusOr<mmsgate::v1::Message>)>;
  using SendOptions = PipelineSendOptions;
  // Admits `request` for `account`; `done` gets the ACCEPTED message once it is durably stored,
  // or the refusal (nothing stored). `done` runs on the database writer thread or the caller's.
  void Send(const mmsgate::v1::Account& account, const mmsgate::v1::SendMessageRequest& request,
            SendCallback done, SendOptions options = {});

  // Status callbacks to post on every status change (optional; set before serving).
  void SetStatusCallbacks(StatusCallbacks* callbacks) { status_callbacks_ = callbacks; }

  // Blocking work off the io_context (storage pool), for other components too.
  const carriers::SimulationSettings& simulation() const { return simulation_; }

  // Runs blocking storage work (admission of fetched media, reads for links) off the io_context.
  boost::asio::thread_pool& storage_pool() { return storage_pool_; }

  // Media fetch timeout (real) and retention (simulated).
  void ConfigureMedia(std::chrono::milliseconds fetch_timeout, SimDuration retention);
  // Periodically ends retention of expired media (timer on the io_context, work on the storage
  // pool).
  void StartMediaSweeper();

  // Injects each fault at its simulated time after now (timers on the io_context).
  void ScheduleFaults(const std::vector<mmsgate::v1::ScheduledFault>& faults);

  // Stops the storage pool after its queued work. Call at shutdown, before closing the store.
  void Drain();

  // Re-enters every stored unfinished message into delivery. Call once at start, before
  // serving. Returns how many were resumed.
  std::size_t ResumeUnfinished();

  carriers::CarrierFleet& fleet() { return fleet_; }
  const carriers::SenderQueues& sender_queues() const { return sender_queues_; }
  const PipelineStats& stats() const { return stats_; }

  // carriers::DeliveryListener
  void OnCarrierAccepted(const std::string& message_sid, SimTime at) override;
  void OnDeliveryReport(carriers::DeliveryReport report) override;

 private:
  struct Transition {
    mmsgate::v1::MessageStatus status;
    int error_code = 0;
    std::string error_message;
    // When it happened in the simulation's schedule; the epoch means "now".
    SimTime at{};
    // Runs on the io_context after the change is committed and published.
    std::function<void()> after;
  };
  struct InFlight {
    std::mutex mutex;
    mmsgate::v1::Message message;
    std::vector<carriers::MediaPayload> media;
    std::deque<Transition> pending;
    bool writing = false;
    // Loaded at start from the outbox rather than accepted by this process.
    bool resumed = false;
  };
  using InFlightPtr = std::shared_ptr<InFlight>;

  // Admits with media already fetched, stores, replies, starts delivery. Blocking reads:
  // runs on the calling (non-io_context) thread.
  void AdmitAndStore(const mmsgate::v1::Account& account,
                     const mmsgate::v1::SendMessageRequest& request,
                     const std::vector<mmsc::FetchedMedia>& fetched, SendCallback done,
                     const SendOptions& options);
  AdmissionContext MakeAdmissionContext();

  void Register(const InFlightPtr& flight);
  InFlightPtr Find(const std::string& sid);
  void Forget(const std::string& sid);

  // Queues a status change for the message and starts writing if none is under way.
  void Apply(const InFlightPtr& flight, Transition transition);
  void WriteNext(const InFlightPtr& flight);
  // Waits for the sender's rate limit (token bucket), or fails at the validity deadline.
  void EnterSenderQueue(const InFlightPtr& flight);
  carriers::SenderLimit LimitFor(const std::string& sender) const;
  // Counts a message against its sender from acceptance until its sender queue lets it go (or
  // it fails there). 21611, counting nothing, when the sender already holds 10 hours of its
  // rate; `force` (resumed messages) skips that check. Check and count are one step, so
  // concurrent sends cannot both slip under the limit.
  absl::Status ReserveSenderSlot(const std::string& sender, bool force = false);
  void ReleaseSenderSlot(const std::string& sender);
  // Simulated time at which the message's validity period ends.
  SimTime Deadline(const mmsgate::v1::Message& message) const;
  void SubmitToCarrier(const InFlightPtr& flight);
  void StartDelivery(const InFlightPtr& flight);
  void PublishStatus(const mmsgate::v1::Message& message);

  boost::asio::io_context& io_;
  Clock& clock_;
  mmsc::Database& database_;
  MessageStore& store_;
  Directory& directory_;
  EventBus& events_;
  static constexpr std::size_t kMaxQueuedPerSender = 1000000;
  // More than can be accepted but not yet stored when the process stops.
  static constexpr uint64_t kSequenceRestartGap = 1u << 20;
  std::atomic<uint64_t> next_sequence_{0};
  carriers::SimulationSettings simulation_;
  StatusCallbacks* status_callbacks_ = nullptr;
  bool simulation_disabled_limits_;
  carriers::CarrierFleet fleet_;
  carriers::SenderQueues sender_queues_;
  PipelineStats stats_;
  boost::asio::thread_pool storage_pool_{2};
  std::unique_ptr<Timer> sweep_timer_;
  std::vector<std::shared_ptr<Timer>> fault_timers_;
  std::chrono::milliseconds fetch_timeout_{15000};
  SimDuration media_retention_{std::chrono::hours(24 * 7)};

  std::mutex base_url_mutex_;
  std::string public_base_url_;

  // Messages between acceptance and a final status, sharded so concurrent messages do not
  // contend on one lock.
  static constexpr std::size_t kShards = 16;
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, InFlightPtr> messages;
  };
  std::array<Shard, kShards> shards_;
  Shard& ShardFor(const std::string& sid);

  // Messages per sender between acceptance and release by the sender queue.
  struct BacklogShard {
    std::mutex mutex;
    std::unordered_map<std::string, int64_t> counts;
  };
  std::array<BacklogShard, kShards> backlog_shards_;
};

}  // namespace mmsgate::gateway
