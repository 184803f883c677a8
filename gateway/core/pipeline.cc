#include "gateway/core/pipeline.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>

#include "gateway/webhooks/status_callbacks.h"
#include "mmsc/media_fetcher.h"
#include "carriers/base/errors.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using google::protobuf::util::TimeUtil;

bool IsFinal(v1::MessageStatus status) {
  return status == v1::DELIVERED || status == v1::UNDELIVERED || status == v1::FAILED;
}

}  // namespace

Pipeline::Pipeline(boost::asio::io_context& io, Clock& clock, mmsc::Database& database,
                   MessageStore& store,
                   Directory& directory, EventBus& events, carriers::Handsets& handsets,
                   const std::vector<v1::Carrier>& carriers,
                   carriers::SimulationSettings simulation, bool disable_sender_rate_limits)
    : io_(io),
      clock_(clock),
      database_(database),
      store_(store),
      directory_(directory),
      events_(events),
      simulation_(simulation),
      simulation_disabled_limits_(disable_sender_rate_limits),
      fleet_(io, clock, carriers, simulation, handsets, *this),
      sender_queues_(io, clock, disable_sender_rate_limits, kMaxQueuedPerSender),
      sweep_timer_(clock.MakeTimer(io.get_executor())) {}

void Pipeline::SetPublicBaseUrl(std::string url) {
  std::lock_guard lock(base_url_mutex_);
  public_base_url_ = std::move(url);
}

Pipeline::Shard& Pipeline::ShardFor(const std::string& sid) {
  return shards_[std::hash<std::string>{}(sid) % kShards];
}

void Pipeline::Register(const InFlightPtr& flight) {
  Shard& shard = ShardFor(flight->message.sid());
  std::lock_guard lock(shard.mutex);
  shard.messages[flight->message.sid()] = flight;
}

Pipeline::InFlightPtr Pipeline::Find(const std::string& sid) {
  Shard& shard = ShardFor(sid);
  std::lock_guard lock(shard.mutex);
  auto it = shard.messages.find(sid);
  return it == shard.messages.end() ? nullptr : it->second;
}

void Pipeline::Forget(const std::string& sid) {
  Shard& shard = ShardFor(sid);
  std::lock_guard lock(shard.mutex);
  shard.messages.erase(sid);
}

AdmissionContext Pipeline::MakeAdmissionContext() {
  AdmissionContext context;
  context.directory = &directory_;
  context.number_plan_owner = fleet_.plan();
  context.number_plan = context.number_plan_owner.get();
  {
    std::lock_guard lock(base_url_mutex_);
    context.public_base_url = public_base_url_;
  }
  context.now_ns = ToNanoseconds(clock_.Now());
  return context;
}

void Pipeline::ScheduleFaults(const std::vector<v1::ScheduledFault>& faults) {
  for (const auto& scheduled : faults) {
    std::shared_ptr<Timer> timer = clock_.MakeTimer(io_.get_executor());
    timer->WaitUntil(clock_.Now() + SimSeconds(scheduled.at_seconds()), [this, scheduled](bool fired) {
      if (!fired) return;
      spdlog::info("scheduled fault: {} on carrier {} for {} simulated seconds",
                   v1::CarrierFault::Kind_Name(scheduled.fault().kind()), scheduled.carrier_id(),
                   scheduled.fault().duration_seconds());
      if (auto status = fleet_.SetFault(scheduled.carrier_id(), scheduled.fault()); !status.ok()) {
        spdlog::warn("{}", std::string(status.message()));
      }
    });
    fault_timers_.push_back(std::move(timer));
  }
}

void Pipeline::Drain() {
  sweep_timer_->Cancel();
  for (auto& timer : fault_timers_) timer->Cancel();
  sender_queues_.Stop();
  storage_pool_.join();
}

void Pipeline::ConfigureMedia(std::chrono::milliseconds fetch_timeout, SimDuration retention) {
  fetch_timeout_ = fetch_timeout;
  media_retention_ = retention;
}

void Pipeline::StartMediaSweeper() {
  // Often enough that a link stops working soon after it expires, rarely enough to cost
  // nothing: a quarter of the retention, between 100 ms and a minute of real time.
  const double scale = clock_.time_scale();
  const SimDuration period =
      std::clamp<SimDuration>(media_retention_ / 4, SimSeconds(0.1 * scale), SimSeconds(60 * scale));
  sweep_timer_->WaitUntil(clock_.Now() + period, [this](bool fired) {
    if (!fired) return;
    boost::asio::post(storage_pool_, [this] {
      auto swept = store_.SweepExpiredMedia(ToNanoseconds(clock_.Now()));
      if (!swept.ok()) {
        spdlog::warn("media retention sweep failed: {}", std::string(swept.status().message()));
      } else if (*swept > 0) {
        spdlog::debug("media retention: {} messages' media expired", *swept);
      }
      StartMediaSweeper();
    });
  });
}

void Pipeline::Send(const v1::Account& account, const v1::SendMessageRequest& request,
                    SendCallback done, SendOptions send_options) {
  if (request.media_url_size() == 0) {
    AdmitAndStore(account, request, {}, std::move(done), send_options);
    return;
  }
  // Media URLs: check what needs no media first, so a doomed request costs no fetch.
  if (auto status = CheckEnvelope(account, request, MakeAdmissionContext()); !status.ok()) {
    stats_.refused.fetch_add(1, std::memory_order_relaxed);
    done(status);
    return;
  }
  int64_t inline_bytes = 0;
  for (const auto& media : request.media()) inline_bytes += static_cast<int64_t>(media.data().size());
  mmsc::FetchOptions options;
  options.total_timeout = fetch_timeout_;
  options.connect_timeout = std::min(options.connect_timeout, fetch_timeout_);
  options.max_total_bytes = std::max<int64_t>(0, mmsc::kMaxTotalMediaBytes - inline_bytes);
  std::vector<std::string> urls(request.media_url().begin(), request.media_url().end());
  auto owned_request = std::make_shared<v1::SendMessageRequest>(request);
  mmsc::FetchMedia(
      io_, std::move(urls), options,
      [this, account, owned_request, send_options,
       done = std::move(done)](absl::StatusOr<std::vector<mmsc::FetchedMedia>> fetched) mutable {
        if (!fetched.ok()) {
          stats_.refused.fetch_add(1, std::memory_order_relaxed);
          done(fetched.status());
          return;
        }
        // Admission reads the store (media de-duplication): off the io_context.
        boost::asio::post(storage_pool_, [this, account, owned_request, send_options,
                                          fetched = std::move(*fetched),
                                          done = std::move(done)]() mutable {
          AdmitAndStore(account, *owned_request, fetched, std::move(done), send_options);
        });
      });
}

void Pipeline::AdmitAndStore(const v1::Account& account, const v1::SendMessageRequest& request,
                             const std::vector<mmsc::FetchedMedia>& fetched, SendCallback done,
                             const SendOptions& send_options) {
  auto admitted = Admit(account, request, MakeAdmissionContext(), fetched);
  if (admitted.ok()) {
    admitted->message.set_direction(send_options.direction);
    admitted->message.set_reply_to_sid(send_options.reply_to_sid);
  }
  if (admitted.ok()) {
    if (auto backlog = ReserveSenderSlot(admitted->message.from()); !backlog.ok()) {
      admitted = backlog;
    }
  }
  if (!admitted.ok()) {
    stats_.refused.fetch_add(1, std::memory_order_relaxed);
    done(admitted.status());
    return;
  }
  if (admitted->message.delivered_as() == v1::SMS_WITH_LINK) {
    if (auto node = fleet_.Node(admitted->message.carrier_id())) node->CountFallback();
  }
  const uint64_t sequence = next_sequence_.fetch_add(1, std::memory_order_relaxed);
  admitted->message.set_sequence(sequence);
  admitted->media_expires_at_ns =
      admitted->message.media_size() > 0 ? ToNanoseconds(clock_.Now() + media_retention_) : 0;
  std::vector<std::string> staged_blobs;
  for (const auto& media : admitted->message.media()) staged_blobs.push_back(media.sha256());
  rocksdb::WriteBatch batch;
  // Where the sequence resumes after a restart (batches may commit out of order; a restart
  // skips ahead past anything that could have been in flight).
  batch.Put(database_.family(mmsc::Family::kMeta), "next_sequence", std::to_string(sequence + 1))
      .PermitUncheckedError();
  const auto& message = admitted->message;
  directory_.StageUsage(batch, message.account_sid(),
                        message.num_media() > 0 ? "mms-outbound" : "sms-outbound", 1,
                        message.num_segments(), 0);
  if (auto status = store_.StageNew(batch, *admitted); !status.ok()) {
    store_.media_store().StagingDone(staged_blobs);
    ReleaseSenderSlot(message.from());
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    done(status);
    return;
  }
  auto flight = std::make_shared<InFlight>();
  flight->message = admitted->message;
  flight->media = std::move(admitted->media);
  database_.Write(std::move(batch), [this, flight, staged_blobs = std::move(staged_blobs),
                                     done = std::move(done)](absl::Status status) {
    store_.media_store().StagingDone(staged_blobs);
    if (!status.ok()) {
      // Not durable, so not accepted: the caller gets the error and may retry.
      ReleaseSenderSlot(flight->message.from());
      stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
      done(status);
      return;
    }
    stats_.accepted.fetch_add(1, std::memory_order_relaxed);
    Register(flight);
    v1::Message accepted;
    {
      std::lock_guard lock(flight->mutex);
      accepted = flight->message;
    }
    PublishStatus(accepted);
    done(accepted);
    boost::asio::post(io_, [this, flight] { StartDelivery(flight); });
  });
}

void Pipeline::StartDelivery(const InFlightPtr& flight) {
  Apply(flight, {v1::QUEUED, 0, "", {}, [this, flight] { EnterSenderQueue(flight); }});
}

SimTime Pipeline::Deadline(const v1::Message& message) const {
  // The validity period runs from creation, in simulated seconds.
  return FromNanoseconds(TimeUtil::TimestampToNanoseconds(message.date_created())) +
         SimSeconds(message.validity_period_seconds());
}

carriers::SenderLimit Pipeline::LimitFor(const std::string& sender) const {
  carriers::SenderLimit limit;
  auto number = directory_.FindNumber(sender);
  if (number) {
    limit.mps = number->mps() > 0 ? number->mps()
                : number->type() == v1::SHORT_CODE ? 100.0
                : number->type() == v1::TOLL_FREE  ? 3.0
                                                   : 1.0;
    limit.burst = number->burst() > 0 ? number->burst() : 1;
  }
  return limit;
}

void Pipeline::EnterSenderQueue(const InFlightPtr& flight) {
  std::string sid, sender;
  SimTime deadline;
  {
    std::lock_guard lock(flight->mutex);
    sid = flight->message.sid();
    sender = flight->message.from();
    deadline = Deadline(flight->message);
  }
  carriers::SenderQueues::Item item;
  item.message_sid = sid;
  item.deadline = deadline;
  item.release = [this, flight, sender](SimTime released_at) {
    ReleaseSenderSlot(sender);
    Apply(flight, {v1::SENDING, 0, "", released_at, [this, flight] { SubmitToCarrier(flight); }});
  };
  item.expire = [this, flight, sender] {
    ReleaseSenderSlot(sender);
    Apply(flight, {v1::FAILED, error_codes::kValidityExpired,
                   "the validity period expired while the message waited for its sender's rate "
                   "limit"});
  };
  if (!sender_queues_.Enqueue(sender, LimitFor(sender), std::move(item))) {
    ReleaseSenderSlot(sender);
    Apply(flight, {v1::FAILED, error_codes::kQueueOverflow,
                   "the queue of sender " + sender + " is full"});
  }
}

absl::Status Pipeline::ReserveSenderSlot(const std::string& sender, bool force) {
  // The provider refuses a new message once a sender holds 10 hours of its rate.
  const double limit = std::min(LimitFor(sender).mps * 36000, 1e6);
  auto& shard = backlog_shards_[std::hash<std::string>{}(sender) % kShards];
  std::lock_guard lock(shard.mutex);
  int64_t& count = shard.counts[sender];
  if (!force && !simulation_disabled_limits_ && static_cast<double>(count) >= limit) {
    const int64_t held = count;
    if (count == 0) shard.counts.erase(sender);
    return ProviderError(absl::StatusCode::kResourceExhausted, error_codes::kSenderQueueFull,
                         "sender " + sender + " already holds " + std::to_string(held) +
                             " queued messages (10 hours at its rate limit); slow down or send "
                             "from more numbers");
  }
  ++count;
  return absl::OkStatus();
}

void Pipeline::ReleaseSenderSlot(const std::string& sender) {
  auto& shard = backlog_shards_[std::hash<std::string>{}(sender) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.counts.find(sender);
  if (it != shard.counts.end() && --it->second <= 0) shard.counts.erase(it);
}

void Pipeline::SubmitToCarrier(const InFlightPtr& flight) {
  carriers::HandsetDelivery delivery;
  {
    std::lock_guard lock(flight->mutex);
    const v1::Message& message = flight->message;
    delivery.message_sid = message.sid();
    delivery.from = message.from();
    delivery.to = message.to();
    delivery.carrier_id = message.carrier_id();
    delivery.kind = message.delivered_as() == v1::MMS ? v1::HandsetMessage::MMS
                                                      : v1::HandsetMessage::SMS;
    delivery.text = message.delivered_text();
    delivery.segments = message.num_segments();
    if (message.delivered_as() == v1::MMS) delivery.media = flight->media;
    delivery.deadline = Deadline(message);
    // A fresh message continues the schedule from its SENDING time; a resumed one starts now.
    delivery.submitted_at =
        flight->resumed ? clock_.Now()
                        : FromNanoseconds(TimeUtil::TimestampToNanoseconds(message.date_updated()));
    delivery.sequence = message.sequence();
  }
  auto node = fleet_.Node(delivery.carrier_id);
  if (!node) {
    Apply(flight, {v1::FAILED, error_codes::kUnroutable,
                   "carrier " + delivery.carrier_id + " no longer exists in the scenario"});
    return;
  }
  node->Submit(std::move(delivery));
}

void Pipeline::OnCarrierAccepted(const std::string& message_sid, SimTime at) {
  if (auto flight = Find(message_sid)) Apply(flight, {v1::SENT, 0, "", at});
}

void Pipeline::OnDeliveryReport(carriers::DeliveryReport report) {
  auto flight = Find(report.message_sid);
  if (!flight) return;
  switch (report.outcome) {
    case carriers::DeliveryReport::Outcome::kDelivered:
      Apply(flight, {v1::DELIVERED, 0, "", report.at});
      break;
    case carriers::DeliveryReport::Outcome::kUndelivered:
      Apply(flight, {v1::UNDELIVERED, report.error_code, report.error_message, report.at});
      break;
    case carriers::DeliveryReport::Outcome::kFailed:
      Apply(flight, {v1::FAILED, report.error_code, report.error_message, report.at});
      break;
  }
}

void Pipeline::Apply(const InFlightPtr& flight, Transition transition) {
  {
    std::lock_guard lock(flight->mutex);
    flight->pending.push_back(std::move(transition));
    if (flight->writing) return;
    flight->writing = true;
  }
  WriteNext(flight);
}

void Pipeline::WriteNext(const InFlightPtr& flight) {
  Transition transition;
  v1::Message updated;
  {
    std::lock_guard lock(flight->mutex);
    if (flight->pending.empty()) {
      flight->writing = false;
      return;
    }
    transition = std::move(flight->pending.front());
    flight->pending.pop_front();
    if (IsFinal(flight->message.status())) {
      // A message that already ended takes no more changes (a late duplicate report).
      flight->pending.clear();
      flight->writing = false;
      return;
    }
    updated = flight->message;
  }
  if (transition.status == updated.status() && transition.error_code == 0) {
    // Already there (a resubmission after restart reports SENT again): nothing to store.
    if (transition.after) boost::asio::post(io_, std::move(transition.after));
    WriteNext(flight);
    return;
  }
  const auto now = TimeUtil::NanosecondsToTimestamp(
      ToNanoseconds(transition.at != SimTime{} ? transition.at : clock_.Now()));
  updated.set_status(transition.status);
  *updated.mutable_date_updated() = now;
  if (transition.status == v1::SENT) *updated.mutable_date_sent() = now;
  if (transition.error_code != 0) {
    updated.set_error_code(transition.error_code);
    updated.set_error_message(transition.error_message);
  }
  const bool final = IsFinal(transition.status);
  rocksdb::WriteBatch batch;
  if (auto status = store_.StageUpdate(batch, updated, final); !status.ok()) {
    // Nothing is written: the message stays at its last stored status, as after a failed write.
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("cannot store status {} of {}: {}", v1::MessageStatus_Name(updated.status()),
                  updated.sid(), std::string(status.message()));
    std::lock_guard lock(flight->mutex);
    flight->pending.clear();
    flight->writing = false;
    return;
  }
  database_.Write(std::move(batch), [this, flight, updated, final,
                                     after = std::move(transition.after)](absl::Status status) {
    if (!status.ok()) {
      // The change is not durable; the message stays in the outbox at its last stored status
      // and a restart resumes it from there.
      stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("cannot store status {} of {}: {}", v1::MessageStatus_Name(updated.status()),
                    updated.sid(), std::string(status.message()));
      std::lock_guard lock(flight->mutex);
      flight->pending.clear();
      flight->writing = false;
      return;
    }
    {
      std::lock_guard lock(flight->mutex);
      flight->message = updated;
    }
    if (final) {
      Forget(updated.sid());
      auto& counter = updated.status() == v1::DELIVERED     ? stats_.delivered
                      : updated.status() == v1::UNDELIVERED ? stats_.undelivered
                                                            : stats_.failed;
      counter.fetch_add(1, std::memory_order_relaxed);
    }
    PublishStatus(updated);
    if (after) boost::asio::post(io_, after);
    WriteNext(flight);
  });
}

void Pipeline::PublishStatus(const v1::Message& message) {
  if (status_callbacks_ && message.status() != v1::ACCEPTED) status_callbacks_->OnStatus(message);
  v1::Event event;
  event.set_kind(v1::Event::STATUS_CHANGED);
  *event.mutable_message() = message;
  events_.Publish(std::move(event));
}

std::size_t Pipeline::ResumeUnfinished() {
  if (auto stored = database_.Get(mmsc::Family::kMeta, "next_sequence"); stored.ok()) {
    try {
      next_sequence_ = std::stoull(*stored) + kSequenceRestartGap;
    } catch (const std::exception&) {
      spdlog::warn("stored next_sequence \"{}\" is unreadable; starting from 0", *stored);
    }
  }
  std::size_t resumed = 0;
  for (auto& message : store_.LoadUnfinished()) {
    auto flight = std::make_shared<InFlight>();
    flight->message = message;
    flight->resumed = true;
    bool media_ok = true;
    for (const auto& media : message.media()) {
      auto bytes = store_.media_store().Read(media.sha256());
      if (!bytes.ok()) {
        media_ok = false;
        break;
      }
      flight->media.push_back(
          {media.content_type(), std::make_shared<const std::string>(std::move(*bytes))});
    }
    Register(flight);
    ++resumed;
    if (!media_ok) {
      Apply(flight, {v1::FAILED, error_codes::kStorageFailure,
                     "the message's media were lost from the store"});
      continue;
    }
    switch (message.status()) {
      case v1::ACCEPTED:
        ReserveSenderSlot(message.from(), /*force=*/true).IgnoreError();
        boost::asio::post(io_, [this, flight] { StartDelivery(flight); });
        break;
      case v1::QUEUED:
        ReserveSenderSlot(message.from(), /*force=*/true).IgnoreError();
        boost::asio::post(io_, [this, flight] { EnterSenderQueue(flight); });
        break;
      default:
        // SENDING or SENT: the carrier may not have it; submitting again is safe because the
        // handset keeps one copy per message SID.
        boost::asio::post(io_, [this, flight] { SubmitToCarrier(flight); });
        break;
    }
  }
  return resumed;
}

}  // namespace mmsgate::gateway
