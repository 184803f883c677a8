#include "mmsload/harness.h"

#include "mmsload/stats.h"

namespace mmsload {

using namespace std::chrono_literals;

// Harness

bool Harness::Connect() {
  for (int k = 0; k < options_.channels; ++k) {
    grpc::ChannelArguments args;
    // Separate connections: without these, channels with equal arguments share one subchannel.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("mmsload.channel", k);
    args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
    // Reconnect quickly after a gateway restart (gRPC's default backoff starts at 1 s and grows),
    // so refusals measure the gateway's downtime rather than the client's backoff.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    auto channel =
        grpc::CreateCustomChannel(options_.grpc, grpc::InsecureChannelCredentials(), args);
    const auto deadline =
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(options_.connect_timeout * 1000));
    if (!channel->WaitForConnected(deadline)) {
      std::cerr << "mmsload: cannot connect to " << options_.grpc << " within "
                << options_.connect_timeout << " s\n";
      return false;
    }
    channels_.push_back(channel);
    stubs_.push_back(v1::Messaging::NewStub(channel));
  }
  AnchorClock();
  // Check the credentials once, so a typo is reported as such and not as N refusals.
  auto accounts = v1::Accounts::NewStub(channels_[0]);
  grpc::ClientContext context;
  context.AddMetadata("authorization", authorization_);
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::GetAccountRequest request;
  v1::Account account;
  const auto status = accounts->GetAccount(&context, request, &account);
  if (!status.ok()) {
    std::cerr << "mmsload: GetAccount for " << options_.account
              << " failed: " << GrpcCodeName(status.error_code()) << " " << status.error_message()
              << "\n";
    return false;
  }
  return true;
}

void Harness::AnchorClock() {
  auto simulator = v1::Simulator::NewStub(channels_[0]);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::SimulationClock gateway_clock;
  const int64_t before = clock_.NowNs();
  const auto status = simulator->GetClock(&context, v1::GetClockRequest(), &gateway_clock);
  const int64_t after = clock_.NowNs();
  if (!status.ok()) {
    // An older gateway: its dates were wall-clock times, the same clock as ours.
    std::cerr << "mmsload: Simulator.GetClock failed (" << GrpcCodeName(status.error_code())
              << "); taking the gateway's dates as wall-clock times\n";
    return;
  }
  // The gateway read its clock somewhere during the call: the midpoint is off by at most half
  // the round trip (well under a millisecond on one host).
  clock_.Anchor(TimestampNs(gateway_clock.now()), before + (after - before) / 2,
                gateway_clock.time_scale());
}

bool Harness::StartWatcher() {
  auto watcher =
      std::make_unique<Watcher>(*this, *stubs_[0], authorization_, options_.watch_final_only);
  const bool registered = watcher->WaitRegistered(10s);
  std::lock_guard lock(watch_mutex_);
  // A watch that ended after registering has already called OnWatchEnded, or will once we
  // release the lock.
  watch_broken_ = !registered || watcher->done();
  watcher_ = std::move(watcher);
  return registered;
}

void Harness::OnWatchEnded() {
  std::lock_guard lock(watch_mutex_);
  watch_broken_ = true;
  watch_changed_.notify_all();
}

// The watch thread: reopens a broken watch and, since events were lost meanwhile, fills in the
// state of unfinished messages with GetMessage.
void Harness::WatchLoop() {
  std::unique_lock lock(watch_mutex_);
  while (true) {
    watch_changed_.wait(lock, [&] { return stop_watch_ || watch_broken_; });
    if (stop_watch_) break;
    // The watch ended by itself.
    auto old = std::move(watcher_);
    lock.unlock();
    old->WaitDone();
    const auto status = old->status();
    old.reset();
    std::string why = GrpcCodeName(status.error_code()) + " " + status.error_message();
    std::cerr << "mmsload: the event watch ended (" << why << "); reopening it\n";
    bool registered = false;
    // Retry until it works or the run ends (the gateway may be restarting).
    for (int attempt = 0; !registered; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(250ms);
      {
        std::lock_guard guard(watch_mutex_);
        if (stop_watch_) break;
      }
      if (watcher_) {  // A previous attempt that failed.
        watcher_->Cancel();
        watcher_->WaitDone();
        watcher_.reset();
      }
      registered = StartWatcher();
    }
    lock.lock();
    ++watch_interruptions_;
    watch_errors_.push_back(why);
    if (stop_watch_) break;
    lock.unlock();
    Reconcile();
    lock.lock();
  }
  auto watcher = std::move(watcher_);
  lock.unlock();
  if (watcher) {
    watcher->Cancel();
    watcher->WaitDone();
  }
}

void Harness::StopWatch() {
  {
    std::lock_guard lock(watch_mutex_);
    stop_watch_ = true;
    watch_changed_.notify_all();
  }
  if (watch_thread_.joinable()) watch_thread_.join();
}

void Harness::OnEvent(const v1::Event& event) {
  if (event.kind() != v1::Event::STATUS_CHANGED) return;
  const auto& message = event.message();
  const int64_t received_ns = clock_.NowNs();
  const int64_t event_ns = event.has_time() ? clock_.LocalOf(TimestampNs(event.time())) : 0;
  const int64_t updated_ns =
      message.has_date_updated() ? clock_.LocalOf(TimestampNs(message.date_updated())) : 0;
  int64_t time_ns = received_ns;
  if (options_.status_time == "updated" && updated_ns != 0) {
    time_ns = updated_ns;
  } else if (options_.status_time != "received" && event_ns != 0) {
    time_ns = event_ns;
  }
  std::lock_guard lock(mutex_);
  ++events_;
  if (event.has_time() && event.time().nanos() == 0) ++whole_second_event_times_;
  // (A filtered watch has holes by design: only count them on a watch of every status.)
  if (!options_.watch_final_only && last_sequence_ != 0 && event.sequence() > last_sequence_ + 1) {
    ++sequence_gaps_;
  }
  if (event.sequence() > last_sequence_) last_sequence_ = event.sequence();
  auto it = index_by_sid_.find(message.sid());
  if (it != index_by_sid_.end()) {
    Apply(records_[it->second], Observe(message, time_ns, clock_));
    return;
  }
  if (sending_done_) {
    // Every reply is in: this is a message of another client of the same account.
    ++foreign_events_;
    return;
  }
  early_[message.sid()].push_back(Observe(message, time_ns, clock_));
}

// Needs mutex_.
void Harness::Apply(Record& record, const Observation& o) {
  if (record.created_ns == 0) record.created_ns = o.created_ns;
  if (o.delivered_as != 0) record.delivered_as = o.delivered_as;
  if (!o.carrier_id.empty()) record.carrier_id = o.carrier_id;
  // Final statuses rank equal: a second, different final is a repeated final, not a regression.
  auto rank = [](int status) { return IsFinal(status) ? int{v1::DELIVERED} : status; };
  if (rank(o.status) < rank(record.last_status)) ++out_of_order_;
  if (rank(o.status) >= rank(record.last_status)) record.last_status = o.status;
  auto first = [&](int64_t& field) {
    if (field == 0) field = o.time_ns;
  };
  switch (o.status) {
    case v1::ACCEPTED:
      first(record.accepted_ns);
      break;
    case v1::QUEUED:
      first(record.queued_ns);
      break;
    case v1::SENDING:
      first(record.sending_ns);
      break;
    case v1::SENT:
      first(record.sent_ns);
      break;
    case v1::DELIVERED:
    case v1::UNDELIVERED:
    case v1::FAILED:
      if (record.final_status != 0) {
        if (record.final_status != o.status || record.final_ns != o.time_ns) ++repeated_finals_;
        break;
      }
      record.final_status = o.status;
      record.final_ns = o.time_ns;
      record.final_error_code = o.error_code;
      if (record.reply_code == 0) {
        ++finals_;
        if (finals_ == accepted_ && sending_done_) changed_.notify_all();
      }
      break;
    default:
      break;
  }
}

int64_t Harness::Outstanding() { return accepted_ - finals_; }

void Harness::OnReply(Call* call, const grpc::Status& status) {
  Reply reply;
  reply.code = status.error_code();
  if (!status.ok()) {
    const auto& trailers = call->context.GetServerTrailingMetadata();
    if (auto it = trailers.find("mmsgate-error-code"); it != trailers.end()) {
      reply.error_code = std::atoi(std::string(it->second.data(), it->second.size()).c_str());
    }
    if (reply.error_code == 0) reply.error_code = LeadingErrorCode(status.error_message());
    reply.error_text = status.error_message();
  } else {
    reply.sid = call->response.sid();
    reply.message = &call->response;
  }
  RecordReply(call->index, reply);
}

std::string Harness::ReplyCodeName(int code) const {
  if (options_.rest.empty()) return GrpcCodeName(code);
  if (code == kNoHttpAnswer) return "no HTTP answer";
  return "HTTP " + std::to_string(code);
}

void Harness::RecordReply(int64_t index, const Reply& reply) {
  const int64_t now = clock_.NowNs();
  std::lock_guard lock(mutex_);
  Record& record = records_[index];
  if (reply.code != 0) {
    const int key = reply.error_code != 0 ? reply.error_code : -reply.code;
    if (!first_refusal_.contains(key)) {
      first_refusal_[key] =
          ReplyCodeName(reply.code) + " \"" + reply.error_text + "\" (to " + record.to + ")";
    }
  }
  record.ack_ns = now;
  record.reply_code = reply.code;
  record.error_code = reply.error_code;
  ++replies_;
  last_reply_ns_ = std::max(last_reply_ns_, now);
  if (reply.code == 0) {
    ++accepted_;
    record.sid = reply.sid;
    if (const v1::Message* message = reply.message) {
      if (message->has_date_created()) {
        record.created_ns = clock_.LocalOf(TimestampNs(message->date_created()));
      }
      record.delivered_as = message->delivered_as();
      record.carrier_id = message->carrier_id();
    }
    index_by_sid_[record.sid] = index;
    if (auto it = early_.find(record.sid); it != early_.end()) {
      for (const auto& o : it->second) Apply(record, o);
      early_.erase(it);
    }
  }
}

void Harness::SendAll() {
  const int64_t count = options_.count;
  FillerRandom random{0x6d6d736c6f6164ULL ^ static_cast<uint64_t>(clock_.NowNs())};
  std::string shared_media;
  if (options_.media_bytes > 0 && options_.same_media) {
    shared_media = random.Bytes(static_cast<std::size_t>(options_.media_bytes));
  }
  const auto start = std::chrono::steady_clock::now();
  const int64_t start_ns = clock_.NowNs();
  const OpenLoopSchedule schedule(options_.rate);
  const auto rpc_timeout = std::chrono::milliseconds(static_cast<int64_t>(options_.timeout * 1000));
  {
    std::lock_guard lock(mutex_);
    first_send_ns_ = start_ns;
  }
  for (int64_t i = 0; i < count; ++i) {
    auto call = new Call;
    call->index = i;
    auto& request = call->request;
    const Kind kind = options_.mix_text.empty()
                          ? (options_.media_bytes > 0 ? Kind::kMms : Kind::kSms)
                          : KindFor(options_.mix, i);
    request.set_from(options_.from[i % options_.from.size()]);
    request.set_to(DestinationFor(options_, i, kind));
    request.set_body(BodyFor(options_, i));
    if (options_.validity_period > 0) request.set_validity_period_seconds(options_.validity_period);
    for (int m = 0; kind != Kind::kSms && options_.media_bytes > 0 && m < options_.media_count;
         ++m) {
      auto* media = request.add_media();
      media->set_content_type("image/png");
      media->set_filename("mmsload-" + std::to_string(i) + "-" + std::to_string(m) + ".png");
      media->set_data(options_.same_media
                          ? shared_media
                          : random.Bytes(static_cast<std::size_t>(options_.media_bytes)));
    }
    call->context.AddMetadata("authorization", authorization_);

    int64_t scheduled_ns = 0;
    if (schedule.paced()) {
      const auto offset = std::chrono::nanoseconds(schedule.DueNs(i));
      std::this_thread::sleep_until(start + offset);
      scheduled_ns = start_ns + offset.count();
    }
    slots_.acquire();
    call->context.set_deadline(std::chrono::system_clock::now() + rpc_timeout);
    Record& record = records_[i];
    record.kind = kind;
    record.from = request.from();
    record.to = request.to();
    record.scheduled_ns = scheduled_ns;
    record.send_start_ns = clock_.NowNs();
    stubs_[i % stubs_.size()]->async()->SendMessage(&call->context, &call->request, &call->response,
                                                    [this, call](grpc::Status status) {
                                                      OnReply(call, status);
                                                      delete call;
                                                      slots_.release();
                                                    });
  }
  // Wait for every reply: take all the slots back.
  for (int k = 0; k < options_.concurrency; ++k) slots_.acquire();
  for (int k = 0; k < options_.concurrency; ++k) slots_.release();
  std::lock_guard lock(mutex_);
  sending_done_ = true;
  // Events still unclaimed belong to other clients (or to calls that failed after the gateway
  // accepted them, which we cannot tell apart).
  for (const auto& [sid, list] : early_) foreign_events_ += static_cast<int64_t>(list.size());
  early_.clear();
}

void Harness::WaitFinal() {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(options_.timeout * 1000));
  auto next_progress = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(options_.progress * 1000));
  const auto started = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (Outstanding() > 0) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      std::cerr << "mmsload: --timeout " << options_.timeout << " s passed with " << Outstanding()
                << " messages not final\n";
      wait_outcome_ = "--timeout " + Number(options_.timeout) + " s passed with " +
                      std::to_string(Outstanding()) + " accepted messages not final";
      break;
    }
    auto wake = deadline;
    if (options_.progress > 0) {
      if (now >= next_progress) {
        std::cerr << "mmsload: waiting for final statuses: " << finals_ << "/" << accepted_
                  << " final\n";
        next_progress =
            now + std::chrono::milliseconds(static_cast<int64_t>(options_.progress * 1000));
      }
      wake = std::min(wake, next_progress);
    }
    changed_.wait_until(lock, wake);
  }
  if (wait_outcome_.empty()) {
    char text[128];
    std::snprintf(
        text, sizeof text, "every accepted message final %.3f s after the last reply",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    wait_outcome_ = text;
  }
}

// Fills in the state of accepted, unfinished messages with GetMessage (after a broken watch).
// The time of a status seen this way is the message's date_updated.
void Harness::Reconcile() {
  std::vector<std::pair<int64_t, std::string>> todo;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < records_.size(); ++i) {
      const auto& r = records_[i];
      if (r.reply_code == 0 && r.final_status == 0) todo.emplace_back(i, r.sid);
    }
  }
  if (todo.empty()) return;
  std::cerr << "mmsload: fetching " << todo.size() << " unfinished messages with GetMessage\n";
  // Shared with the callbacks: the last release may still be running when we return.
  auto slots = std::make_shared<std::counting_semaphore<>>(kReconcileConcurrency);
  struct Get {
    int64_t index;
    grpc::ClientContext context;
    v1::GetMessageRequest request;
    v1::Message response;
  };
  for (std::size_t n = 0; n < todo.size(); ++n) {
    slots->acquire();
    auto get = new Get;
    get->index = todo[n].first;
    get->request.set_sid(todo[n].second);
    get->context.AddMetadata("authorization", authorization_);
    get->context.set_deadline(std::chrono::system_clock::now() + 30s);
    stubs_[n % stubs_.size()]->async()->GetMessage(
        &get->context, &get->request, &get->response, [this, get, slots](grpc::Status status) {
          if (status.ok()) {
            const auto& m = get->response;
            const int64_t t = m.has_date_updated() ? clock_.LocalOf(TimestampNs(m.date_updated()))
                                                   : clock_.NowNs();
            std::lock_guard lock(mutex_);
            ++reconciled_;
            Apply(records_[get->index], Observe(m, t, clock_));
          }
          delete get;
          slots->release();
        });
  }
  for (int k = 0; k < kReconcileConcurrency; ++k) slots->acquire();
}

int Harness::Run() {
  if (!options_.csv.empty()) {
    // Opened first, so a wrong path fails before any message is sent.
    csv_.open(options_.csv, std::ios::trunc);
    if (!csv_) {
      std::cerr << "mmsload: cannot write " << options_.csv << "\n";
      return kExitBadUsage;
    }
  }
  if (!Connect()) return kExitBadUsage;
  records_.resize(static_cast<std::size_t>(options_.count));
  // The watch is registered before the first send, so no event of ours can be missed.
  if (!StartWatcher()) {
    const auto status = watcher_->done() ? watcher_->status() : grpc::Status::CANCELLED;
    std::cerr << "mmsload: WatchEvents did not start within 10 s: "
              << GrpcCodeName(status.error_code()) << " " << status.error_message() << "\n";
    watcher_->Cancel();
    watcher_->WaitDone();
    return kExitBadUsage;
  }
  watch_thread_ = std::thread([this] { WatchLoop(); });

  std::atomic<bool> sending{true};
  std::thread progress;
  if (options_.progress > 0) {
    progress = std::thread([&] {
      const auto step = std::chrono::milliseconds(static_cast<int64_t>(options_.progress * 1000));
      auto next = std::chrono::steady_clock::now() + step;
      std::unique_lock lock(mutex_);
      while (sending) {
        progress_changed_.wait_until(lock, next, [&] { return !sending.load(); });
        if (!sending) break;
        if (std::chrono::steady_clock::now() >= next) {
          std::cerr << "mmsload: " << replies_ << "/" << options_.count << " replies, " << accepted_
                    << " accepted, " << finals_ << " final\n";
          next += step;
        }
      }
    });
  }
  if (options_.rest.empty()) {
    SendAll();
  } else {
    SendAllRest();
  }
  {
    std::lock_guard lock(mutex_);
    sending = false;
    progress_changed_.notify_all();
  }
  if (progress.joinable()) progress.join();

  if (options_.wait_final) WaitFinal();
  StopWatch();
  bool interrupted = false;
  {
    std::lock_guard lock(watch_mutex_);
    interrupted = watch_interruptions_ > 0;
  }
  if (interrupted && options_.wait_final) Reconcile();

  PrintSummary();
  if (options_.carrier_stats) PrintCarrierStats();
  if (!options_.csv.empty() && !WriteCsv()) return 1;
  if (!options_.json.empty() && !WriteJson()) return 1;
  if (!options_.plot.empty() && !WritePlot()) return 1;
  return 0;
}

}  // namespace mmsload
