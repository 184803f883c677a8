#pragma once
// The life of an outbound message, from ACCEPTED to a final status, as one table.
//
//   status       may become                            once stored                after a restart
//   SCHEDULED    QUEUED, CANCELED, FAILED              wait for send_at (**)      the same
//   ACCEPTED     QUEUED, FAILED                        move on to QUEUED (*)      the same
//   QUEUED       SENDING, FAILED                       wait for its sender        the same
//   SENDING      SENT, DELIVERED, UNDELIVERED, FAILED  submit to its carrier      the same
//   SENT         DELIVERED, UNDELIVERED, FAILED        (wait for the report)      submit again
//   DELIVERED, UNDELIVERED, FAILED, CANCELED: final   forget it                   —
//
// (*) Acceptance stores the message as QUEUED already (one write, StoredAtAcceptance); a stored
// ACCEPTED is found only in data written by an older gateway.
// (**) A scheduled message (created with send_at) is stored as SCHEDULED instead, and counts
// against its sender's backlog only from its release to QUEUED at send_at on the simulation
// clock; Cancel makes it CANCELED before then. Its validity period runs from send_at.
//
// Every change is committed to the database before it is published (WatchEvents, status
// callbacks) or acted on. Changes that arrive while the previous one is being written go into
// the next commit together (a carrier's SENT and DELIVERED, a phone's inbox entry with its
// DELIVERED), and are then published one by one, in order. A change the table does not allow is
// dropped: a report repeated after a restart (SENT again), a late duplicate delivery report. A
// change that cannot be stored stops the message where it is: it stays in the outbox at its last
// stored status, and the next start resumes it from there.
//
// Threading rule: each message lives on its own strand of the io_context, and every step of it
// (a change arriving, its commit completing, the action after it) runs there, one at a time; no
// step blocks. Start, Resume and the DeliveryListener calls may come from any thread.

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "carriers/base/clock.h"
#include "carriers/delivery.h"
#include "carriers/fleet.h"
#include "gateway/core/events.h"
#include "gateway/core/metrics.h"
#include "gateway/core/sender_limits.h"
#include "gateway/storage/inbox_store.h"
#include "gateway/storage/message_store.h"
#include "mmsc/storage/database.h"
#include "mmsgate/v1/message.pb.h"

namespace mmsgate::gateway {

// The refusal of a cancel (30409, FAILED_PRECONDITION): "message <sid> cannot be canceled:
// <why>; only a SCHEDULED message can be, before its SendAt".
[[nodiscard]] absl::Status NotCancelable(const std::string& sid, const std::string& why);

// Told of every stored status change after ACCEPTED, on the message's strand, in status order
// (status callbacks). Must not block.
class StatusListener {
 public:
  virtual ~StatusListener() = default;
  virtual void OnStatus(const mmsgate::v1::Message& message) = 0;
};

struct LifecycleStats {
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> undelivered{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> canceled{0};
  // Changes that could not be stored (the message then waits for a restart).
  std::atomic<int64_t> store_errors{0};
};

class MessageLifecycle final : public carriers::DeliveryListener {
 public:
  // What happens once a status is stored, or when a message stored in it is resumed.
  enum class Action { kNone, kWaitForSendAt, kQueue, kWaitForSender, kSubmitToCarrier, kFinish };
  struct Rule {
    mmsgate::v1::MessageStatus status;
    std::vector<mmsgate::v1::MessageStatus> next;
    Action on_stored;
    Action on_resume;
  };
  // The table above, as code reads it.
  static const std::vector<Rule>& Rules();
  [[nodiscard]] static bool Allowed(mmsgate::v1::MessageStatus from, mmsgate::v1::MessageStatus to);
  [[nodiscard]] static bool IsFinal(mmsgate::v1::MessageStatus status);

  MessageLifecycle(boost::asio::io_context& io, Clock& clock, storage::Database& database,
                   MessageStore& store, SenderLimits& senders, carriers::CarrierFleet& fleet,
                   EventBus& events, StatusListener& status_listener);

  // What acceptance stores: `accepted` already QUEUED. ACCEPTED's only action is to queue the
  // message, so acceptance and QUEUED are one write instead of two (the commit that makes a
  // message accepted also makes it queued); both are still published, in order.
  [[nodiscard]] static mmsgate::v1::Message StoredAtAcceptance(
      const mmsgate::v1::Message& accepted);
  // A message just stored by acceptance (as StoredAtAcceptance made it; its sender already
  // reserved): publishes ACCEPTED and QUEUED and waits for its sender. A SCHEDULED one (sender
  // not reserved) publishes SCHEDULED and waits for its send_at. QUEUED is the status the
  // create answered, so no status callback is sent for it (as the provider sends none for the
  // initial status). `media` are its bytes, parallel to message.media().
  // `generation`: generation() read after the message's batch was made; a Reset since then
  // removed the message, so it is dropped.
  void Start(mmsgate::v1::Message queued, std::vector<carriers::MediaPayload> media,
             std::optional<uint64_t> generation = std::nullopt);
  // Counts Resets.
  [[nodiscard]] uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  using Canceled = std::function<void(absl::StatusOr<mmsgate::v1::Message>)>;
  // Cancels the SCHEDULED message `sid`: `done` gets it CANCELED once that is stored, or 30409
  // when it is not (or no longer) waiting for its send_at in this process. Any thread.
  void Cancel(const std::string& sid, Canceled done);
  // A message read from the outbox at start: picks it up where its stored status says. With
  // `media_lost` its media could not be read, and it fails with 30500.
  void Resume(mmsgate::v1::Message message, std::vector<carriers::MediaPayload> media,
              bool media_lost);

  // carriers::DeliveryListener
  void OnCarrierAccepted(const std::string& message_sid, SimTime at) override;
  void OnDeliveryReport(carriers::DeliveryReport report) override;
  bool StoresArrivals() const override { return inbox_ != nullptr; }

  const LifecycleStats& stats() const { return stats_; }

  // Counts every stored status and times final ones (GET /metrics); optional.

  void set_metrics(PipelineMetrics* metrics) { metrics_ = metrics; }
  // Where a delivered message's phone entry is stored, in the same commit as its DELIVERED
  // status; optional (without it, carriers store entries themselves before reporting). Set
  // before the first message.
  void set_inbox(InboxStore* inbox) { inbox_ = inbox; }
  // Messages between acceptance and a final status in this process.
  [[nodiscard]] std::size_t in_flight() const;
  // Drops every message in flight (Simulator.Reset): none changes status again, is published or
  // is stored; a cancel waiting for its commit is told 30409. Any thread.
  void Reset();
  // The same for the messages of one account (Accounts.ResetAccount), and what their carriers
  // report later is ignored, phone entries included. Returns once every one of them has been
  // retired on its strand (so none starts another write): blocking, storage executor only.
  // Answers how many were in flight.
  std::size_t ResetAccount(const std::string& account_sid);

 private:
  struct Change {
    mmsgate::v1::MessageStatus status;
    int error_code = 0;
    std::string error_message;
    // When it happened in the simulation's schedule; the epoch means "now".
    SimTime at{};
    // A DELIVERED change's phone entry, stored with it.
    std::optional<carriers::HandsetArrival> arrival;
  };
  // One message on its way. Everything in it is touched only on `strand`.
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  struct Flight {
    explicit Flight(Strand strand) : strand(std::move(strand)) {}
    // Shared with other flights (StrandFor): one strand per message cost ~100 bytes each.
    Strand strand;
    // Null while parked: while the message waits for a carrier or its sender (possibly hours
    // behind an outage) it is kept serialized in `parked`, a fraction of the parsed message's
    // memory (measured: docs/performance.md).
    std::unique_ptr<mmsgate::v1::Message> message = std::make_unique<mmsgate::v1::Message>();
    std::string parked;
    std::vector<carriers::MediaPayload> media;
    // Usually empty, rarely more than two: a vector, because an empty std::deque already
    // allocates ~600 bytes, which a million messages queued behind an outage each paid.
    std::vector<Change> pending;
    bool writing = false;
    // A StoreNext is posted: changes arriving before it runs join its commit.
    bool store_posted = false;
    // Loaded from the outbox at start rather than accepted by this process.
    bool resumed = false;
    // Simulator.Reset dropped it: nothing more happens to it (set on its strand).
    bool retired = false;
    // Its message's account (set by Register; the message may be parked).
    std::string account_sid;
    // Counted against its sender's backlog (SenderLimits): from acceptance, or for a scheduled
    // message from its release.
    bool sender_reserved = false;
    // A scheduled message's wait for its send_at.
    std::unique_ptr<Timer> release_timer;
    // Set by Cancel while CANCELED is being stored: told the outcome.
    Canceled canceled;
  };
  using FlightPtr = std::shared_ptr<Flight>;

  // The strand of the message `sid`: one of kStrands, by the SID's hash. A flight's work is
  // serialized on it; flights sharing it are serialized with each other too, which costs nothing
  // since no handler blocks.
  Strand StrandFor(const std::string& sid);

  void Register(const FlightPtr& flight);
  FlightPtr Find(const std::string& sid);
  void Forget(const std::string& sid);

  // Any thread: hands a change to the message's strand.
  void Apply(const FlightPtr& flight, Change change);
  // Strand: stores every pending change the table allows, in one commit.
  void StoreNext(const FlightPtr& flight);
  // A phone entry whose DELIVERED change was dropped (or whose message is no longer in flight):
  // stored on its own, so the phone still shows what the carrier delivered.
  void StoreArrivalAlone(const carriers::HandsetArrival& arrival);
  // Strand: serializes an idle flight's message into `parked` / parses it back before use.
  static void Park(Flight& flight);
  static void Unpark(Flight& flight);
  // `steps`: the message after each change of the commit, in order.
  void OnStored(const FlightPtr& flight, std::vector<mmsgate::v1::Message> steps,
                absl::Status status);
  void Run(const FlightPtr& flight, Action action);
  void WaitForSendAt(const FlightPtr& flight);
  void WaitForSender(const FlightPtr& flight);
  void SubmitToCarrier(const FlightPtr& flight);
  void Publish(const mmsgate::v1::Message& message);
  // A status of `message` was stored (or, for QUEUED, stored with the acceptance).
  void Count(const mmsgate::v1::Message& message);
  // Simulated time at which the message's validity period ends.
  static SimTime Deadline(const mmsgate::v1::Message& message);

  boost::asio::io_context& io_;
  Clock& clock_;
  storage::Database& database_;
  MessageStore& store_;
  SenderLimits& senders_;
  carriers::CarrierFleet& fleet_;
  EventBus& events_;
  StatusListener& status_listener_;
  LifecycleStats stats_;

  static constexpr std::size_t kStrands = 1024;
  std::vector<Strand> strands_;

  PipelineMetrics* metrics_ = nullptr;
  InboxStore* inbox_ = nullptr;
  std::atomic<uint64_t> generation_{0};

  // Messages between acceptance and a final status, for the carriers' reports to find them;
  // sharded so concurrent messages do not contend on one lock (held for a lookup only).
  static constexpr std::size_t kShards = 16;
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, FlightPtr> flights;
  };
  std::array<Shard, kShards> shards_;
  Shard& ShardFor(const std::string& sid);

  // Takes the flights `which` selects out of the table and retires each on its strand; with
  // `wait`, returns once all are retired. `why` goes into a waiting cancel's answer.
  std::size_t Retire(const std::function<bool(const Flight&)>& which, const std::string& why,
                     bool wait);
  static void RetireLocked(Shard& shard, const std::function<bool(const Flight&)>& which,
                           std::vector<FlightPtr>& retired);
  // SIDs of messages dropped by ResetAccount whose carrier may still report.
  std::mutex dropped_mutex_;
  std::unordered_set<std::string> dropped_;
};

}  // namespace mmsgate::gateway
