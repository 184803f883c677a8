#include "gateway/core/lifecycle.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <future>

#include "carriers/base/errors.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using google::protobuf::util::TimeUtil;
using Action = MessageLifecycle::Action;

SimTime TimeOf(const google::protobuf::Timestamp& timestamp) {
  return FromNanoseconds(TimeUtil::TimestampToNanoseconds(timestamp));
}

}  // namespace

const std::vector<MessageLifecycle::Rule>& MessageLifecycle::Rules() {
  static const std::vector<Rule> kRules = {
      // Waits for its send_at; FAILED only when a restart finds its media lost.
      {v1::SCHEDULED,
       {v1::QUEUED, v1::CANCELED, v1::FAILED},
       Action::kWaitForSendAt,
       Action::kWaitForSendAt},
      {v1::ACCEPTED, {v1::QUEUED, v1::FAILED}, Action::kQueue, Action::kQueue},
      {v1::QUEUED, {v1::SENDING, v1::FAILED}, Action::kWaitForSender, Action::kWaitForSender},
      // A carrier reports SENT before the outcome; the outcome straight from SENDING covers a
      // SENT that a restart lost, and a carrier that refuses at once (30001, 30036).
      {v1::SENDING,
       {v1::SENT, v1::DELIVERED, v1::UNDELIVERED, v1::FAILED},
       Action::kSubmitToCarrier,
       Action::kSubmitToCarrier},
      // A restart cannot know whether the carrier still has it: submit again (the handset keeps
      // one copy per SID).
      {v1::SENT,
       {v1::DELIVERED, v1::UNDELIVERED, v1::FAILED},
       Action::kNone,
       Action::kSubmitToCarrier},
      {v1::DELIVERED, {}, Action::kFinish, Action::kNone},
      {v1::UNDELIVERED, {}, Action::kFinish, Action::kNone},
      {v1::FAILED, {}, Action::kFinish, Action::kNone},
      {v1::CANCELED, {}, Action::kFinish, Action::kNone},
  };
  return kRules;
}

namespace {
const MessageLifecycle::Rule* RuleFor(v1::MessageStatus status) {
  for (const auto& rule : MessageLifecycle::Rules()) {
    if (rule.status == status) return &rule;
  }
  return nullptr;
}
}  // namespace

bool MessageLifecycle::Allowed(v1::MessageStatus from, v1::MessageStatus to) {
  const Rule* rule = RuleFor(from);
  return rule != nullptr && std::find(rule->next.begin(), rule->next.end(), to) != rule->next.end();
}

bool MessageLifecycle::IsFinal(v1::MessageStatus status) {
  const Rule* rule = RuleFor(status);
  return rule != nullptr && rule->next.empty();
}

MessageLifecycle::MessageLifecycle(boost::asio::io_context& io, Clock& clock,
                                   storage::Database& database, MessageStore& store,
                                   SenderLimits& senders, carriers::CarrierFleet& fleet,
                                   EventBus& events, StatusListener& status_listener)
    : io_(io),
      clock_(clock),
      database_(database),
      store_(store),
      senders_(senders),
      fleet_(fleet),
      events_(events),
      status_listener_(status_listener) {
  strands_.reserve(kStrands);
  for (std::size_t i = 0; i < kStrands; ++i) strands_.push_back(boost::asio::make_strand(io_));
}

MessageLifecycle::Strand MessageLifecycle::StrandFor(const std::string& sid) {
  return strands_[std::hash<std::string>{}(sid) % kStrands];
}

MessageLifecycle::Shard& MessageLifecycle::ShardFor(const std::string& sid) {
  return shards_[std::hash<std::string>{}(sid) % kShards];
}

void MessageLifecycle::Register(const FlightPtr& flight) {
  flight->account_sid = flight->message->account_sid();
  Shard& shard = ShardFor(flight->message->sid());
  std::lock_guard lock(shard.mutex);
  shard.flights[flight->message->sid()] = flight;
}

MessageLifecycle::FlightPtr MessageLifecycle::Find(const std::string& sid) {
  Shard& shard = ShardFor(sid);
  std::lock_guard lock(shard.mutex);
  auto it = shard.flights.find(sid);
  return it == shard.flights.end() ? nullptr : it->second;
}

void MessageLifecycle::Forget(const std::string& sid) {
  Shard& shard = ShardFor(sid);
  std::lock_guard lock(shard.mutex);
  shard.flights.erase(sid);
}

void MessageLifecycle::RetireLocked(Shard& shard, const std::function<bool(const Flight&)>& which,
                                    std::vector<FlightPtr>& retired) {
  for (auto it = shard.flights.begin(); it != shard.flights.end();) {
    if (which(*it->second)) {
      retired.push_back(std::move(it->second));
      it = shard.flights.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t MessageLifecycle::Retire(const std::function<bool(const Flight&)>& which,
                                     const std::string& why, bool wait) {
  std::vector<FlightPtr> retired;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    RetireLocked(shard, which, retired);
  }
  auto left = std::make_shared<std::atomic<std::size_t>>(retired.size());
  auto all_done = std::make_shared<std::promise<void>>();
  auto finished = all_done->get_future();
  if (retired.empty()) all_done->set_value();
  for (auto& flight : retired) {
    boost::asio::post(flight->strand, [flight, why, left, all_done] {
      flight->retired = true;
      flight->pending.clear();
      flight->release_timer.reset();
      if (flight->canceled) {
        std::exchange(flight->canceled, nullptr)(
            ProviderError(absl::StatusCode::kFailedPrecondition, error_codes::kNotCancelable,
                          why + ": the message no longer exists"));
      }
      if (left->fetch_sub(1) == 1) all_done->set_value();
    });
  }
  if (wait) finished.wait();
  return retired.size();
}

void MessageLifecycle::Reset() {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  {
    std::lock_guard lock(dropped_mutex_);
    dropped_.clear();  // the carriers that could report them are replaced too
  }
  Retire([](const Flight&) { return true; }, "the gateway was reset (Simulator.Reset)",
         /*wait=*/false);
}

std::size_t MessageLifecycle::ResetAccount(const std::string& account_sid) {
  std::vector<std::string> sids;
  auto of_account = [&](const Flight& flight) { return flight.account_sid == account_sid; };
  // Their SIDs first, so a carrier's report arriving meanwhile is already ignored.
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (const auto& [sid, flight] : shard.flights) {
      if (of_account(*flight)) sids.push_back(sid);
    }
  }
  {
    std::lock_guard lock(dropped_mutex_);
    dropped_.insert(sids.begin(), sids.end());
  }
  return Retire(of_account, "the account was reset (Accounts.ResetAccount)", /*wait=*/true);
}

std::size_t MessageLifecycle::in_flight() const {
  std::size_t count = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    count += shard.flights.size();
  }
  return count;
}

v1::Message MessageLifecycle::StoredAtAcceptance(const v1::Message& accepted) {
  v1::Message queued = accepted;
  queued.set_status(accepted.has_send_at() ? v1::SCHEDULED : v1::QUEUED);
  *queued.mutable_date_updated() = accepted.date_created();
  return queued;
}

namespace {
// The bytes are stored (admission committed them, or a restart read them back): the flight keeps
// their address, not the bytes, so an MMS waiting for a carrier costs no more RAM than an SMS.
std::vector<carriers::MediaPayload> StoredMedia(const v1::Message& message,
                                                std::vector<carriers::MediaPayload> media) {
  for (std::size_t i = 0; i < media.size() && i < static_cast<std::size_t>(message.media_size());
       ++i) {
    const auto& stored = message.media(static_cast<int>(i));
    media[i].size = stored.size();
    media[i].sha256 = stored.sha256();
    media[i].data.reset();
  }
  return media;
}
}  // namespace

void MessageLifecycle::Start(v1::Message queued, std::vector<carriers::MediaPayload> media,
                             std::optional<uint64_t> generation) {
  if (generation && *generation != generation_.load(std::memory_order_acquire)) {
    // Stored before a Reset that removed it: it must not come back to life.
    if (queued.status() != v1::SCHEDULED) senders_.Cancel(queued.from());
    return;
  }
  media = StoredMedia(queued, std::move(media));
  auto flight = std::make_shared<Flight>(StrandFor(queued.sid()));
  *flight->message = std::move(queued);
  flight->media = std::move(media);
  Register(flight);
  if (flight->message->status() == v1::SCHEDULED) {
    // Its sender is reserved at its release. No status callback: SCHEDULED is what the create
    // answered.
    boost::asio::post(flight->strand, [this, flight] {
      Publish(*flight->message);
      Count(*flight->message);
      Run(flight, RuleFor(v1::SCHEDULED)->on_stored);
    });
    return;
  }
  flight->sender_reserved = true;
  boost::asio::post(flight->strand, [this, flight] {
    // Watchers see both of the gateway's steps. No status callback: the create already answered
    // QUEUED, and the provider sends none for a message's initial status.
    v1::Message& message = *flight->message;
    message.set_status(v1::ACCEPTED);
    Publish(message);
    message.set_status(v1::QUEUED);
    Publish(message);
    // A service's create answered ACCEPTED, so QUEUED is news for its status callback.
    if (!message.messaging_service_sid().empty()) status_listener_.OnStatus(message);
    Count(message);
    Run(flight, RuleFor(v1::QUEUED)->on_stored);
  });
}

void MessageLifecycle::Resume(v1::Message message, std::vector<carriers::MediaPayload> media,
                              bool media_lost) {
  media = StoredMedia(message, std::move(media));
  auto flight = std::make_shared<Flight>(StrandFor(message.sid()));
  *flight->message = std::move(message);
  flight->media = std::move(media);
  flight->resumed = true;
  Register(flight);
  const v1::MessageStatus status = flight->message->status();
  // Counted against its sender again until its sender queue lets it go.
  if (status == v1::ACCEPTED || status == v1::QUEUED) {
    senders_.ReserveResumed(flight->message->from());
    flight->sender_reserved = true;
  }
  if (media_lost) {
    if (flight->sender_reserved) senders_.Cancel(flight->message->from());
    Apply(flight, {v1::FAILED, error_codes::kStorageFailure,
                   "the message's media were lost from the store"});
    return;
  }
  const Rule* rule = RuleFor(status);
  if (rule == nullptr) {
    spdlog::error("outbox holds {} in status {}, which no rule resumes", flight->message->sid(),
                  v1::MessageStatus_Name(status));
    Forget(flight->message->sid());
    return;
  }
  boost::asio::post(flight->strand,
                    [this, flight, action = rule->on_resume] { Run(flight, action); });
}

void MessageLifecycle::Apply(const FlightPtr& flight, Change change) {
  boost::asio::post(flight->strand, [this, flight, change = std::move(change)]() mutable {
    if (flight->retired) return;
    flight->pending.push_back(std::move(change));
    if (flight->writing || flight->store_posted) return;  // It joins the next commit.
    // Stored after the handlers already queued on the strand, so a change that came with this
    // one (a carrier's SENT and DELIVERED at once) shares its commit.
    flight->store_posted = true;
    boost::asio::post(flight->strand, [this, flight] {
      flight->store_posted = false;
      if (!flight->writing) StoreNext(flight);
    });
  });
}

void MessageLifecycle::Park(Flight& flight) {
  if (flight.writing || !flight.pending.empty() || !flight.parked.empty()) return;
  flight.message->SerializeToString(&flight.parked);
  flight.message.reset();
}

void MessageLifecycle::Unpark(Flight& flight) {
  if (flight.parked.empty()) return;
  flight.message = std::make_unique<v1::Message>();
  flight.message->ParseFromString(flight.parked);
  std::string().swap(flight.parked);
}

void MessageLifecycle::StoreNext(const FlightPtr& flight) {
  if (flight->retired) return;
  if (flight->pending.empty()) return;  // A parked message stays parked.
  Unpark(*flight);
  // Everything that arrived while the previous commit was being written goes into this one:
  // the status record is written once, with the last change; each change is still published.
  std::vector<v1::Message> steps;
  auto batch = database_.NewBatch();
  std::vector<Change> pending = std::move(flight->pending);
  flight->pending.clear();
  for (auto& change : pending) {
    const v1::Message& current = steps.empty() ? *flight->message : steps.back();
    if (!Allowed(current.status(), change.status)) {
      spdlog::debug("{}: {} after {} dropped", current.sid(), v1::MessageStatus_Name(change.status),
                    v1::MessageStatus_Name(current.status()));
      if (change.arrival) StoreArrivalAlone(*change.arrival);
      continue;
    }
    v1::Message updated = current;
    const auto at = TimeUtil::NanosecondsToTimestamp(
        ToNanoseconds(change.at != SimTime{} ? change.at : clock_.Now()));
    updated.set_status(change.status);
    *updated.mutable_date_updated() = at;
    if (change.status == v1::SENT) *updated.mutable_date_sent() = at;
    if (change.error_code != 0) {
      updated.set_error_code(change.error_code);
      updated.set_error_message(change.error_message);
    }
    if (change.arrival && inbox_ != nullptr) {
      if (auto staged = inbox_->StageEntry(*batch, change.arrival->number, change.arrival->entry);
          !staged.ok()) {
        // The entry cannot be stored, so neither can DELIVERED (it would claim what a restart
        // forgets): the message stops here, as for any change that cannot be stored.
        steps.push_back(std::move(updated));
        OnStored(flight, std::move(steps), staged);
        return;
      }
    }
    steps.push_back(std::move(updated));
  }
  if (steps.empty()) return;
  if (auto staged = store_.StageStatus(*batch, steps.back(), IsFinal(steps.back().status()));
      !staged.ok()) {
    OnStored(flight, std::move(steps), staged);
    return;
  }
  flight->writing = true;
  database_.Commit(std::move(batch), flight->strand,
                   [this, flight, steps = std::move(steps)](absl::Status status) mutable {
                     OnStored(flight, std::move(steps), status);
                   });
}

void MessageLifecycle::StoreArrivalAlone(const carriers::HandsetArrival& arrival) {
  if (inbox_ != nullptr) inbox_->Append(arrival.number, arrival.entry, false, [] {});
}

void MessageLifecycle::OnStored(const FlightPtr& flight, std::vector<v1::Message> steps,
                                absl::Status status) {
  flight->writing = false;
  if (flight->retired) return;  // the reset's epoch refused its commit, or it came too late
  if (!status.ok()) {
    // Not durable: the message stays in the outbox at its last stored status, and the next
    // start resumes it from there. Nothing more happens to it in this process.
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("cannot store status {} of {}: {}", v1::MessageStatus_Name(steps.back().status()),
                  steps.back().sid(), std::string(status.message()));
    flight->pending.clear();
    if (flight->canceled) std::exchange(flight->canceled, nullptr)(status);
    Forget(steps.back().sid());
    return;
  }
  for (auto& step : steps) {
    // The previous step's action may have parked the message (it then waits for a carrier).
    if (!flight->message) Unpark(*flight);
    *flight->message = std::move(step);
    Count(*flight->message);
    Publish(*flight->message);
    if (flight->message->status() != v1::ACCEPTED) status_listener_.OnStatus(*flight->message);
    if (flight->message->status() == v1::CANCELED && flight->canceled) {
      std::exchange(flight->canceled, nullptr)(*flight->message);
    }
    Run(flight, RuleFor(flight->message->status())->on_stored);
  }
  StoreNext(flight);
}

void MessageLifecycle::Run(const FlightPtr& flight, Action action) {
  if (flight->retired) return;
  switch (action) {
    case Action::kNone:
      return;
    case Action::kWaitForSendAt:
      WaitForSendAt(flight);
      return;
    case Action::kQueue:
      Apply(flight, {v1::QUEUED});
      return;
    case Action::kWaitForSender:
      WaitForSender(flight);
      return;
    case Action::kSubmitToCarrier:
      SubmitToCarrier(flight);
      return;
    case Action::kFinish: {
      const v1::MessageStatus status = flight->message->status();
      auto& counter = status == v1::DELIVERED     ? stats_.delivered
                      : status == v1::UNDELIVERED ? stats_.undelivered
                      : status == v1::CANCELED    ? stats_.canceled
                                                  : stats_.failed;
      counter.fetch_add(1, std::memory_order_relaxed);
      flight->release_timer.reset();
      Forget(flight->message->sid());
      return;
    }
  }
}

void MessageLifecycle::Count(const v1::Message& message) {
  // One line per stored status, at debug level (checked first: nothing is formatted otherwise).
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("{}: {} (as {}, carrier {}{})", message.sid(),
                  v1::MessageStatus_Name(message.status()),
                  v1::DeliveredAs_Name(message.delivered_as()), message.carrier_id(),
                  message.error_code() != 0 ? ", error " + std::to_string(message.error_code())
                                            : std::string());
  }
  if (metrics_ == nullptr) return;
  metrics_->statuses.Add({v1::MessageStatus_Name(message.status()),
                          v1::DeliveredAs_Name(message.delivered_as()), message.carrier_id()});
  if (IsFinal(message.status())) {
    metrics_->end_to_end.Observe(double(ToNanoseconds(TimeOf(message.date_updated())) -
                                        ToNanoseconds(TimeOf(message.date_created()))) /
                                 1e9);
  }
}

SimTime MessageLifecycle::Deadline(const v1::Message& message) {
  // The validity period runs from creation (a scheduled message's from its release), in
  // simulated seconds.
  const SimTime start = TimeOf(message.has_send_at() ? message.send_at() : message.date_created());
  return start + SimSeconds(message.validity_period_seconds());
}

void MessageLifecycle::WaitForSendAt(const FlightPtr& flight) {
  flight->release_timer = clock_.MakeTimer(flight->strand);
  // Weak: the timer belongs to the flight, so a strong capture would keep both alive forever if
  // the timer never fires (the process stops first).
  std::weak_ptr<Flight> weak = flight;
  flight->release_timer->WaitUntil(TimeOf(flight->message->send_at()), [this, weak](bool fired) {
    auto flight = weak.lock();
    if (!fired || !flight || flight->canceled) return;
    flight->release_timer.reset();
    // A cancel stored first makes the table drop this QUEUED.
    Apply(flight, {v1::QUEUED});
  });
  Park(*flight);
}

absl::Status NotCancelable(const std::string& sid, const std::string& why) {
  return ProviderError(absl::StatusCode::kFailedPrecondition, error_codes::kNotCancelable,
                       "message " + sid + " cannot be canceled: " + why +
                           "; only a SCHEDULED message can be, before its SendAt");
}

void MessageLifecycle::Cancel(const std::string& sid, Canceled done) {
  auto flight = Find(sid);
  auto not_cancelable = [sid](const std::string& why) { return NotCancelable(sid, why); };
  if (!flight) {
    done(not_cancelable("it is not waiting for its SendAt"));
    return;
  }
  boost::asio::post(flight->strand,
                    [this, flight, done = std::move(done), not_cancelable]() mutable {
                      Unpark(*flight);
                      const v1::MessageStatus status = flight->message->status();
                      if (status != v1::SCHEDULED || flight->writing || !flight->pending.empty() ||
                          flight->canceled) {
                        const bool moving = status == v1::SCHEDULED;
                        done(not_cancelable(moving ? "its SendAt has come and it is being queued"
                                                   : "it is " + v1::MessageStatus_Name(status)));
                        Park(*flight);
                        return;
                      }
                      flight->release_timer.reset();
                      flight->canceled = std::move(done);
                      flight->pending.push_back({v1::CANCELED});
                      StoreNext(flight);
                    });
}

void MessageLifecycle::WaitForSender(const FlightPtr& flight) {
  const std::string sender = flight->message->from();
  if (!flight->sender_reserved) {
    // Released from SCHEDULED: counted from now, and never refused (it was accepted already).
    senders_.ReserveResumed(sender);
    flight->sender_reserved = true;
  }
  carriers::SenderQueues::Item item;
  item.message_sid = flight->message->sid();
  item.deadline = Deadline(*flight->message);
  item.release = [this, flight](SimTime released_at) {
    Apply(flight, {v1::SENDING, 0, "", released_at});
  };
  item.expire = [this, flight] {
    Apply(flight, {v1::FAILED, error_codes::kValidityExpired,
                   "the validity period expired while the message waited for its sender's rate "
                   "limit"});
  };
  senders_.Enqueue(sender, std::move(item));
  Park(*flight);
}

void MessageLifecycle::SubmitToCarrier(const FlightPtr& flight) {
  const v1::Message& message = *flight->message;
  carriers::HandsetDelivery delivery;
  delivery.message_sid = message.sid();
  delivery.from = message.from();
  delivery.to = message.to();
  delivery.carrier_id = message.carrier_id();
  delivery.kind =
      message.delivered_as() == v1::MMS ? v1::HandsetMessage::MMS : v1::HandsetMessage::SMS;
  delivery.text = message.delivered_text();
  delivery.segments = message.num_segments();
  if (message.delivered_as() == v1::MMS) delivery.media = flight->media;
  delivery.deadline = Deadline(message);
  // A fresh message continues the schedule from its SENDING time; a resumed one starts now.
  delivery.submitted_at = flight->resumed ? clock_.Now() : TimeOf(message.date_updated());
  delivery.sequence = message.sequence();
  delivery.resubmitted = flight->resumed;
  delivery.listener = this;
  auto node = fleet_.Node(delivery.carrier_id);
  if (!node) {
    Apply(flight, {v1::FAILED, error_codes::kUnroutable,
                   "carrier " + delivery.carrier_id + " no longer exists in the scenario"});
    return;
  }
  node->Submit(std::move(delivery));
  Park(*flight);
}

void MessageLifecycle::OnCarrierAccepted(const std::string& message_sid, SimTime at) {
  if (auto flight = Find(message_sid)) Apply(flight, {v1::SENT, 0, "", at});
}

void MessageLifecycle::OnDeliveryReport(carriers::DeliveryReport report) {
  auto flight = Find(report.message_sid);
  if (!flight) {
    {
      // A message of an account that was reset: the phone shows nothing of it either.
      std::lock_guard lock(dropped_mutex_);
      if (dropped_.erase(report.message_sid) > 0) return;
    }
    if (report.arrival) StoreArrivalAlone(*report.arrival);
    return;
  }
  switch (report.outcome) {
    case carriers::DeliveryReport::Outcome::kDelivered:
      Apply(flight, {v1::DELIVERED, 0, "", report.at, std::move(report.arrival)});
      break;
    case carriers::DeliveryReport::Outcome::kUndelivered:
      Apply(flight, {v1::UNDELIVERED, report.error_code, report.error_message, report.at});
      break;
    case carriers::DeliveryReport::Outcome::kFailed:
      Apply(flight, {v1::FAILED, report.error_code, report.error_message, report.at});
      break;
  }
}

void MessageLifecycle::Publish(const v1::Message& message) { events_.PublishStatus(message); }

}  // namespace mmsgate::gateway
