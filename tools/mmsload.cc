// mmsload: the load harness. Sends many messages through Messaging.SendMessage with many calls
// in flight (gRPC's callback API, bounded by --concurrency, optionally paced by --rate), watches
// Messaging.WatchEvents for their status changes, and reports acceptance, refusals, SendMessage
// latency, final statuses and end-to-end latency; --csv writes one row per message.
//
// It is a pure client: it links the generated stubs and CLI11, nothing of the gateway.
// See docs/load-harness.md.

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "load/stats.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace v1 = mmsgate::v1;
using namespace std::chrono_literals;

namespace mmsload {
namespace {

constexpr int kExitBadUsage = 2;
constexpr int kReconcileConcurrency = 32;

// ---------------------------------------------------------------------------------------------
// Time: a monotonic clock expressed as wall-clock nanoseconds since the epoch, so our own stamps
// never go backwards during a run and still compare with the gateway's event times (same host).

class Clock {
 public:
  Clock()
      : offset_ns_(ToNs(std::chrono::system_clock::now().time_since_epoch()) -
                   ToNs(std::chrono::steady_clock::now().time_since_epoch())) {}
  int64_t NowNs() const { return offset_ns_ + ToNs(std::chrono::steady_clock::now().time_since_epoch()); }

 private:
  template <typename D>
  static int64_t ToNs(D d) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  }
  int64_t offset_ns_;
};

int64_t TimestampNs(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1'000'000'000LL + t.nanos();
}

std::string Base64(const std::string& in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// splitmix64: fast, good enough for filler bytes that must differ between messages.
struct FillerRandom {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::string Bytes(std::size_t n) {
    std::string out(n, '\0');
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const uint64_t v = Next();
      std::memcpy(out.data() + i, &v, 8);
    }
    if (i < n) {
      const uint64_t v = Next();
      std::memcpy(out.data() + i, &v, n - i);
    }
    return out;
  }
};

// 400 -> "400", 2.5 -> "2.5".
std::string Number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

bool IsFinal(int status) {
  return status == v1::DELIVERED || status == v1::UNDELIVERED || status == v1::FAILED;
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string grpc = "127.0.0.1:50051";
  std::string account = "AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e";
  std::string token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
  std::vector<std::string> from;
  std::vector<std::string> to;
  std::string to_prefix = "+1202555";
  int64_t count = 100;
  double rate = 0;
  int concurrency = 64;
  std::string body = "mmsload message {i}";
  int64_t media_bytes = 0;
  bool same_media = false;
  bool wait_final = false;
  double timeout = 300;
  std::string csv;
  int channels = 2;
  double progress = 5;
  double connect_timeout = 5;
  // Which time stamps a status: "updated" (the message's date_updated in the event: the gateway's
  // own time of the change, nanosecond precision), "event" (Event.time) or "received" (when
  // mmsload read the event).
  std::string status_time = "updated";
  // SendMessageRequest.validity_period_seconds (simulated seconds); 0: the gateway's default.
  int validity_period = 0;
  // After the summary, print Simulator.ListCarriers counters.
  bool carrier_stats = false;
};

std::string DestinationFor(const Options& options, int64_t i) {
  if (!options.to.empty()) return options.to[i % options.to.size()];
  char digits[8];
  std::snprintf(digits, sizeof digits, "%04d", static_cast<int>(i % 10000));
  return options.to_prefix + digits;
}

std::string BodyFor(const Options& options, int64_t i) {
  std::string body = options.body;
  const std::string placeholder = "{i}";
  for (auto at = body.find(placeholder); at != std::string::npos;
       at = body.find(placeholder, at)) {
    const std::string index = std::to_string(i);
    body.replace(at, placeholder.size(), index);
    at += index.size();
  }
  return body;
}

// ---------------------------------------------------------------------------------------------
// What we learn about one message. Every field is written under Harness::mutex_ except the
// request fields, which the sender writes before it starts the call.

struct Record {
  // Request.
  std::string from, to;
  int64_t scheduled_ns = 0;
  int64_t send_start_ns = 0;
  // Reply.
  int64_t ack_ns = 0;
  int grpc_code = -1;  // -1: no reply yet.
  int error_code = 0;
  std::string sid;
  // Status history, from events (or from GetMessage after a broken watch).
  int64_t created_ns = 0;
  int64_t accepted_ns = 0, queued_ns = 0, sending_ns = 0, sent_ns = 0;
  int final_status = 0;
  int64_t final_ns = 0;
  int final_error_code = 0;
  int delivered_as = 0;
  std::string carrier_id;
  int last_status = 0;
};

// The part of an event we keep (events can arrive before the reply names their SID).
struct Observation {
  int status = 0;
  int64_t time_ns = 0;
  int error_code = 0;
  int delivered_as = 0;
  std::string carrier_id;
  int64_t created_ns = 0;
};

Observation Observe(const v1::Message& message, int64_t time_ns) {
  Observation o;
  o.status = message.status();
  o.time_ns = time_ns;
  o.error_code = message.error_code();
  o.delivered_as = message.delivered_as();
  o.carrier_id = message.carrier_id();
  if (message.has_date_created()) o.created_ns = TimestampNs(message.date_created());
  return o;
}

// ---------------------------------------------------------------------------------------------

class Harness;

// One Messaging.WatchEvents stream (account-wide). Lives until OnDone; the owner waits for it.
class Watcher : public grpc::ClientReadReactor<v1::Event> {
 public:
  Watcher(Harness& harness, v1::Messaging::Stub& stub, const std::string& authorization);

  void OnReadInitialMetadataDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

  // Waits for the server's initial metadata (the watch is registered) or the end of the call.
  bool WaitRegistered(std::chrono::nanoseconds limit);
  void Cancel() { context_.TryCancel(); }
  // After this returns the watcher may be deleted.
  void WaitDone();
  bool done();
  grpc::Status status();

 private:
  // Shared with OnDone's last steps, so the owner may delete the watcher as soon as it sees
  // `done` without OnDone touching freed memory.
  struct Signal {
    std::mutex mutex;
    std::condition_variable changed;
    bool registered = false;
    bool done = false;
    grpc::Status status;
  };
  Harness& harness_;
  grpc::ClientContext context_;
  v1::WatchEventsRequest request_;
  v1::Event event_;
  std::shared_ptr<Signal> signal_ = std::make_shared<Signal>();
};

// One SendMessage call in flight.
struct Call {
  int64_t index = 0;
  grpc::ClientContext context;
  v1::SendMessageRequest request;
  v1::Message response;
};

class Harness {
 public:
  explicit Harness(Options options) : options_(std::move(options)), slots_(options_.concurrency) {
    authorization_ = "Basic " + Base64(options_.account + ":" + options_.token);
  }

  int Run();

  // From the watcher.
  void OnEvent(const v1::Event& event);
  void OnWatchEnded();

 private:
  bool Connect();
  void SendAll();
  void OnReply(Call* call, const grpc::Status& status);
  void Apply(Record& record, const Observation& o);
  void WatchLoop();
  void StopWatch();
  bool StartWatcher();
  void Reconcile();
  void WaitFinal();
  void PrintSummary();
  void PrintCarrierStats();
  bool WriteCsv();
  int64_t Outstanding();  // accepted messages without a final status; needs mutex_

  Options options_;
  Clock clock_;
  std::string authorization_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::Messaging::Stub>> stubs_;

  std::counting_semaphore<> slots_;

  std::mutex mutex_;
  std::condition_variable changed_;  // all accepted messages are final, or sending ended
  std::condition_variable progress_changed_;
  std::vector<Record> records_;
  std::unordered_map<std::string, int64_t> index_by_sid_;
  std::unordered_map<std::string, std::vector<Observation>> early_;  // events before the reply
  bool sending_done_ = false;
  int64_t replies_ = 0;
  int64_t accepted_ = 0;
  int64_t finals_ = 0;  // accepted messages with a final status
  int64_t events_ = 0;
  int64_t foreign_events_ = 0;  // events of SIDs we did not send (after sending ended)
  int64_t out_of_order_ = 0;
  int64_t repeated_finals_ = 0;
  int64_t sequence_gaps_ = 0;
  uint64_t last_sequence_ = 0;
  int64_t reconciled_ = 0;
  int64_t whole_second_event_times_ = 0;
  std::map<int, std::string> first_refusal_;  // provider (or gRPC) code -> first message
  std::string wait_outcome_;
  int64_t first_send_ns_ = 0, last_reply_ns_ = 0;
  std::ofstream csv_;

  // Watch supervision: the watch thread owns the watcher; it reopens a watch that breaks.
  std::mutex watch_mutex_;
  std::condition_variable watch_changed_;
  std::unique_ptr<Watcher> watcher_;
  bool watch_broken_ = false;
  bool stop_watch_ = false;
  int watch_interruptions_ = 0;
  std::vector<std::string> watch_errors_;
  std::thread watch_thread_;
};

// ---------------------------------------------------------------------------------------------
// Watcher

Watcher::Watcher(Harness& harness, v1::Messaging::Stub& stub, const std::string& authorization)
    : harness_(harness) {
  context_.AddMetadata("authorization", authorization);
  stub.async()->WatchEvents(&context_, &request_, this);
  StartRead(&event_);
  StartCall();
}

void Watcher::OnReadInitialMetadataDone(bool ok) {
  std::lock_guard lock(signal_->mutex);
  if (ok) signal_->registered = true;
  signal_->changed.notify_all();
}

void Watcher::OnReadDone(bool ok) {
  if (!ok) return;  // OnDone follows.
  harness_.OnEvent(event_);
  StartRead(&event_);
}

void Watcher::OnDone(const grpc::Status& status) {
  harness_.OnWatchEnded();
  // From here on only the local copy: the owner deletes `this` once it sees `done`.
  auto signal = signal_;
  std::lock_guard lock(signal->mutex);
  signal->done = true;
  signal->status = status;
  signal->changed.notify_all();
}

bool Watcher::WaitRegistered(std::chrono::nanoseconds limit) {
  std::unique_lock lock(signal_->mutex);
  signal_->changed.wait_for(lock, limit, [&] { return signal_->registered || signal_->done; });
  return signal_->registered && !signal_->done;
}

void Watcher::WaitDone() {
  std::unique_lock lock(signal_->mutex);
  signal_->changed.wait(lock, [&] { return signal_->done; });
}

bool Watcher::done() {
  std::lock_guard lock(signal_->mutex);
  return signal_->done;
}

grpc::Status Watcher::status() {
  std::lock_guard lock(signal_->mutex);
  return signal_->status;
}

// ---------------------------------------------------------------------------------------------
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
    auto channel = grpc::CreateCustomChannel(options_.grpc, grpc::InsecureChannelCredentials(), args);
    const auto deadline = std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(options_.connect_timeout * 1000));
    if (!channel->WaitForConnected(deadline)) {
      std::cerr << "mmsload: cannot connect to " << options_.grpc << " within "
                << options_.connect_timeout << " s\n";
      return false;
    }
    channels_.push_back(channel);
    stubs_.push_back(v1::Messaging::NewStub(channel));
  }
  // Check the credentials once, so a typo is reported as such and not as N refusals.
  auto accounts = v1::Accounts::NewStub(channels_[0]);
  grpc::ClientContext context;
  context.AddMetadata("authorization", authorization_);
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::GetAccountRequest request;
  v1::Account account;
  const auto status = accounts->GetAccount(&context, request, &account);
  if (!status.ok()) {
    std::cerr << "mmsload: GetAccount for " << options_.account << " failed: "
              << GrpcCodeName(status.error_code()) << " " << status.error_message() << "\n";
    return false;
  }
  return true;
}

bool Harness::StartWatcher() {
  auto watcher = std::make_unique<Watcher>(*this, *stubs_[0], authorization_);
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
  const int64_t event_ns = event.has_time() ? TimestampNs(event.time()) : 0;
  const int64_t updated_ns = message.has_date_updated() ? TimestampNs(message.date_updated()) : 0;
  int64_t time_ns = received_ns;
  if (options_.status_time == "updated" && updated_ns != 0) {
    time_ns = updated_ns;
  } else if (options_.status_time != "received" && event_ns != 0) {
    time_ns = event_ns;
  }
  std::lock_guard lock(mutex_);
  ++events_;
  if (event_ns != 0 && event_ns % 1'000'000'000 == 0) ++whole_second_event_times_;
  if (last_sequence_ != 0 && event.sequence() > last_sequence_ + 1) ++sequence_gaps_;
  if (event.sequence() > last_sequence_) last_sequence_ = event.sequence();
  auto it = index_by_sid_.find(message.sid());
  if (it != index_by_sid_.end()) {
    Apply(records_[it->second], Observe(message, time_ns));
    return;
  }
  if (sending_done_) {
    // Every reply is in: this is a message of another client of the same account.
    ++foreign_events_;
    return;
  }
  early_[message.sid()].push_back(Observe(message, time_ns));
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
    case v1::ACCEPTED: first(record.accepted_ns); break;
    case v1::QUEUED: first(record.queued_ns); break;
    case v1::SENDING: first(record.sending_ns); break;
    case v1::SENT: first(record.sent_ns); break;
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
      if (record.grpc_code == 0) {
        ++finals_;
        if (finals_ == accepted_ && sending_done_) changed_.notify_all();
      }
      break;
    default: break;
  }
}

int64_t Harness::Outstanding() { return accepted_ - finals_; }

void Harness::OnReply(Call* call, const grpc::Status& status) {
  const int64_t now = clock_.NowNs();
  int error_code = 0;
  if (!status.ok()) {
    const auto& trailers = call->context.GetServerTrailingMetadata();
    if (auto it = trailers.find("mmsgate-error-code"); it != trailers.end()) {
      error_code = std::atoi(std::string(it->second.data(), it->second.size()).c_str());
    }
    if (error_code == 0) error_code = LeadingErrorCode(status.error_message());
  }
  std::lock_guard lock(mutex_);
  if (!status.ok()) {
    const int key = error_code != 0 ? error_code : -status.error_code();
    if (!first_refusal_.contains(key)) {
      first_refusal_[key] = GrpcCodeName(status.error_code()) + " \"" + status.error_message() +
                            "\" (to " + records_[call->index].to + ")";
    }
  }
  Record& record = records_[call->index];
  record.ack_ns = now;
  record.grpc_code = status.error_code();
  record.error_code = error_code;
  ++replies_;
  last_reply_ns_ = std::max(last_reply_ns_, now);
  if (status.ok()) {
    ++accepted_;
    const auto& message = call->response;
    record.sid = message.sid();
    if (message.has_date_created()) record.created_ns = TimestampNs(message.date_created());
    record.delivered_as = message.delivered_as();
    record.carrier_id = message.carrier_id();
    index_by_sid_[record.sid] = call->index;
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
  const double period_ns = options_.rate > 0 ? 1e9 / options_.rate : 0;
  const auto rpc_timeout = std::chrono::milliseconds(static_cast<int64_t>(options_.timeout * 1000));
  {
    std::lock_guard lock(mutex_);
    first_send_ns_ = start_ns;
  }
  for (int64_t i = 0; i < count; ++i) {
    auto call = new Call;
    call->index = i;
    auto& request = call->request;
    request.set_from(options_.from[i % options_.from.size()]);
    request.set_to(DestinationFor(options_, i));
    request.set_body(BodyFor(options_, i));
    if (options_.validity_period > 0) request.set_validity_period_seconds(options_.validity_period);
    if (options_.media_bytes > 0) {
      auto* media = request.add_media();
      media->set_content_type("image/png");
      media->set_filename("mmsload-" + std::to_string(i) + ".png");
      media->set_data(options_.same_media ? shared_media
                                          : random.Bytes(static_cast<std::size_t>(options_.media_bytes)));
    }
    call->context.AddMetadata("authorization", authorization_);

    int64_t scheduled_ns = 0;
    if (period_ns > 0) {
      // Absolute schedule: message i starts at start + i / rate, whatever happened before.
      const auto offset = std::chrono::nanoseconds(static_cast<int64_t>(period_ns * double(i)));
      std::this_thread::sleep_until(start + offset);
      scheduled_ns = start_ns + offset.count();
    }
    slots_.acquire();
    call->context.set_deadline(std::chrono::system_clock::now() + rpc_timeout);
    Record& record = records_[i];
    record.from = request.from();
    record.to = request.to();
    record.scheduled_ns = scheduled_ns;
    record.send_start_ns = clock_.NowNs();
    stubs_[i % stubs_.size()]->async()->SendMessage(
        &call->context, &call->request, &call->response, [this, call](grpc::Status status) {
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
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(options_.timeout * 1000));
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
        next_progress = now + std::chrono::milliseconds(static_cast<int64_t>(options_.progress * 1000));
      }
      wake = std::min(wake, next_progress);
    }
    changed_.wait_until(lock, wake);
  }
  if (wait_outcome_.empty()) {
    char text[128];
    std::snprintf(text, sizeof text, "every accepted message final %.3f s after the last reply",
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
      if (r.grpc_code == 0 && r.final_status == 0) todo.emplace_back(i, r.sid);
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
            const int64_t t = m.has_date_updated() ? TimestampNs(m.date_updated()) : clock_.NowNs();
            std::lock_guard lock(mutex_);
            ++reconciled_;
            Apply(records_[get->index], Observe(m, t));
          }
          delete get;
          slots->release();
        });
  }
  for (int k = 0; k < kReconcileConcurrency; ++k) slots->acquire();
}

void Harness::PrintSummary() {
  std::lock_guard lock(mutex_);
  const double send_phase_s = std::max(1e-9, double(last_reply_ns_ - first_send_ns_) / 1e9);
  std::map<std::pair<int, int>, int64_t> refused;  // (grpc code, provider code) -> count
  std::vector<double> send_latency_ms, lag_ms, e2e_ms, e2e_from_send_ms;
  std::vector<double> to_queued_ms, to_sending_ms, to_sent_ms, to_final_ms;
  std::map<int, std::map<int, int64_t>> finals;  // status -> error code -> count
  std::map<int, int64_t> delivered_as;
  std::map<std::string, int64_t> carriers;
  int64_t no_final = 0, delivered = 0, last_delivered_ns = 0;
  for (const auto& r : records_) {
    if (r.grpc_code < 0) continue;
    send_latency_ms.push_back(double(r.ack_ns - r.send_start_ns) / 1e6);
    if (r.scheduled_ns != 0) lag_ms.push_back(double(r.send_start_ns - r.scheduled_ns) / 1e6);
    if (r.grpc_code != 0) {
      ++refused[{r.grpc_code, r.error_code}];
      continue;
    }
    ++delivered_as[r.delivered_as];
    ++carriers[r.carrier_id];
    if (r.final_status == 0) {
      ++no_final;
    } else {
      ++finals[r.final_status][r.final_error_code];
    }
    auto stage = [](std::vector<double>& out, int64_t from, int64_t to) {
      if (from != 0 && to != 0) out.push_back(double(to - from) / 1e6);
    };
    const int64_t created = r.created_ns != 0 ? r.created_ns : r.accepted_ns;
    stage(to_queued_ms, created, r.queued_ns);
    stage(to_sending_ms, r.queued_ns, r.sending_ns);
    stage(to_sent_ms, r.sending_ns, r.sent_ns);
    stage(to_final_ms, r.sent_ns, r.final_ns);
    if (r.final_status == v1::DELIVERED) {
      ++delivered;
      last_delivered_ns = std::max(last_delivered_ns, r.final_ns);
      if (created != 0) e2e_ms.push_back(double(r.final_ns - created) / 1e6);
      e2e_from_send_ms.push_back(double(r.final_ns - r.send_start_ns) / 1e6);
    }
  }
  int64_t refused_total = 0;
  for (const auto& [_, n] : refused) refused_total += n;

  auto& out = std::cout;
  char line[512];
  out << "mmsload: " << options_.grpc << ", account " << options_.account << ", "
      << options_.channels << " channel(s), concurrency " << options_.concurrency << ", rate "
      << (options_.rate > 0 ? Number(options_.rate) + "/s" : std::string("unlimited"))
      << ", " << (options_.media_bytes > 0 ? "MMS with " + std::to_string(options_.media_bytes) + " media bytes" : std::string("SMS")) << "\n";
  std::snprintf(line, sizeof line, "sent             %lld in %.3f s (first send to last reply)\n",
                static_cast<long long>(replies_), send_phase_s);
  out << line;
  std::snprintf(line, sizeof line, "accepted         %lld (%.1f/s over the send phase)\n",
                static_cast<long long>(accepted_), double(accepted_) / send_phase_s);
  out << line;
  out << "refused          " << refused_total;
  if (refused_total > 0) {
    out << ":";
    for (const auto& [key, n] : refused) {
      out << " " << (key.second != 0 ? std::to_string(key.second) : std::string("(no code)")) << " "
          << GrpcCodeName(key.first) << " x " << n << ";";
    }
  }
  out << "\n";
  for (const auto& [key, text] : first_refusal_) {
    out << "  e.g. " << (key > 0 ? std::to_string(key) : std::string("(no code)")) << ": " << text
        << "\n";
  }
  out << "SendMessage ms   " << FormatPercentiles(ComputePercentiles(send_latency_ms)) << "\n";
  if (!lag_ms.empty()) {
    out << "start lag ms     " << FormatPercentiles(ComputePercentiles(lag_ms))
        << "  (actual start - scheduled start)\n";
  }
  if (accepted_ > 0) {
    std::string as;
    for (const auto& [kind, n] : delivered_as) {
      if (!as.empty()) as += ", ";
      as += (kind == 0 ? std::string("?") : v1::DeliveredAs_Name(static_cast<v1::DeliveredAs>(kind))) +
            " x " + std::to_string(n);
    }
    std::string via;
    for (const auto& [carrier, n] : carriers) {
      if (!via.empty()) via += ", ";
      via += (carrier.empty() ? std::string("?") : carrier) + " x " + std::to_string(n);
    }
    out << "routed as        " << as << "; carriers: " << via << "\n";
  }
  if (!wait_outcome_.empty()) out << "wait-final       " << wait_outcome_ << "\n";
  out << "final status     ";
  bool any = false;
  for (const auto& [status, codes] : finals) {
    int64_t n = 0;
    for (const auto& [_, k] : codes) n += k;
    out << (any ? "; " : "") << v1::MessageStatus_Name(static_cast<v1::MessageStatus>(status)) << " "
        << n;
    if (status != v1::DELIVERED || codes.size() > 1 || !codes.contains(0)) {
      out << " (" << FormatCodeCounts(codes) << ")";
    }
    any = true;
  }
  out << (any ? "; " : "") << "none " << no_final << "  (of " << accepted_ << " accepted)\n";
  if (delivered > 0) {
    const double span_s = std::max(1e-9, double(last_delivered_ns - first_send_ns_) / 1e9);
    std::snprintf(line, sizeof line,
                  "delivered/s      %.1f (%lld DELIVERED, first send to last DELIVERED %.3f s)\n",
                  double(delivered) / span_s, static_cast<long long>(delivered), span_s);
    out << line;
  }
  if (accepted_ == 0) {
    out.flush();
    return;
  }
  out << "created->DELIVERED ms  " << FormatPercentiles(ComputePercentiles(e2e_ms)) << "\n";
  out << "send->DELIVERED ms     " << FormatPercentiles(ComputePercentiles(e2e_from_send_ms)) << "\n";
  out << "stages ms: created->QUEUED " << FormatPercentiles(ComputePercentiles(to_queued_ms)) << "\n"
      << "           QUEUED->SENDING " << FormatPercentiles(ComputePercentiles(to_sending_ms)) << "\n"
      << "           SENDING->SENT   " << FormatPercentiles(ComputePercentiles(to_sent_ms)) << "\n"
      << "           SENT->final     " << FormatPercentiles(ComputePercentiles(to_final_ms)) << "\n";
  out << "events           " << events_ << " received; " << foreign_events_
      << " of other messages; " << out_of_order_ << " out of order; " << repeated_finals_
      << " repeated finals; " << sequence_gaps_ << " sequence gaps; status times from "
      << options_.status_time;
  if (events_ > 0 && whole_second_event_times_ == events_) {
    out << " (note: every Event.time was a whole second)";
  }
  {
    std::lock_guard watch_lock(watch_mutex_);
    if (watch_interruptions_ > 0) {
      out << "; watch interrupted " << watch_interruptions_ << "x (first: " << watch_errors_.front()
          << "), " << reconciled_ << " statuses read with GetMessage";
    }
  }
  out << "\n";
  out.flush();
}

// One line per carrier from Simulator.ListCarriers (counters since the gateway started, all
// clients included; latency in simulated milliseconds).
void Harness::PrintCarrierStats() {
  auto simulator = v1::Simulator::NewStub(channels_[0]);
  grpc::ClientContext context;
  context.AddMetadata("authorization", authorization_);
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::ListCarriersResponse response;
  const auto status = simulator->ListCarriers(&context, v1::ListCarriersRequest(), &response);
  auto& out = std::cout;
  if (!status.ok()) {
    out << "carrier stats    ListCarriers failed: " << GrpcCodeName(status.error_code()) << " "
        << status.error_message() << "\n";
    out.flush();
    return;
  }
  for (const auto& state : response.carriers()) {
    const auto& s = state.stats();
    if (s.submitted() == 0 && s.fallback_count() == 0 && state.faults_size() == 0) continue;
    const std::map<int, int64_t> undelivered(s.undelivered_by_code().begin(),
                                             s.undelivered_by_code().end());
    char line[512];
    std::snprintf(line, sizeof line,
                  "carrier %-10s submitted %lld, delivered %lld, undelivered/failed {%s}, expired "
                  "%lld, queue full %lld, queued now %lld, fallback SMS+link %lld; latency "
                  "(simulated ms) p50 %.0f p90 %.0f p99 %.0f",
                  state.carrier().id().c_str(), static_cast<long long>(s.submitted()),
                  static_cast<long long>(s.delivered()),
                  undelivered.empty() ? "" : FormatCodeCounts(undelivered).c_str(),
                  static_cast<long long>(s.expired()),
                  static_cast<long long>(s.rejected_queue_full()),
                  static_cast<long long>(s.queued_now()),
                  static_cast<long long>(s.fallback_count()),
                  s.latency_p50_ms(), s.latency_p90_ms(), s.latency_p99_ms());
    out << line;
    for (const auto& fault : state.faults()) {
      out << "; active fault " << v1::CarrierFault::Kind_Name(fault.fault().kind()) << " ("
          << Number(fault.remaining_seconds()) << " simulated s left)";
    }
    out << "\n";
  }
  out.flush();
}

bool Harness::WriteCsv() {
  auto& file = csv_;
  file << "index,sid,from,to,send_start_ns,ack_ns,grpc_code,error_code,accepted_ns,queued_ns,"
          "sending_ns,sent_ns,final_status,final_ns,final_error_code,delivered_as,carrier_id\n";
  std::lock_guard lock(mutex_);
  auto ns = [](int64_t v) { return v != 0 ? std::to_string(v) : std::string(); };
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const auto& r = records_[i];
    if (r.send_start_ns == 0) continue;  // Never sent.
    const bool replied = r.grpc_code >= 0;
    const bool final = r.final_status != 0;
    file << i << ',' << r.sid << ',' << r.from << ',' << r.to << ',' << ns(r.send_start_ns) << ','
         << ns(r.ack_ns) << ',' << (replied ? std::to_string(r.grpc_code) : "") << ','
         << (r.error_code != 0 ? std::to_string(r.error_code) : "") << ','
         << ns(r.accepted_ns != 0 ? r.accepted_ns : r.created_ns) << ',' << ns(r.queued_ns) << ','
         << ns(r.sending_ns) << ',' << ns(r.sent_ns) << ','
         << (final ? v1::MessageStatus_Name(static_cast<v1::MessageStatus>(r.final_status)) : "")
         << ',' << ns(r.final_ns) << ',' << (final ? std::to_string(r.final_error_code) : "") << ','
         << (r.delivered_as != 0 ? v1::DeliveredAs_Name(static_cast<v1::DeliveredAs>(r.delivered_as)) : "")
         << ',' << r.carrier_id << '\n';
  }
  file.flush();
  if (!file) {
    std::cerr << "mmsload: error writing " << options_.csv << "\n";
    return false;
  }
  return true;
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
  SendAll();
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
  return 0;
}

}  // namespace
}  // namespace mmsload

int main(int argc, char** argv) {
  mmsload::Options options;
  CLI::App app{
      "mmsload: load harness for mmsgate. Sends --count messages through Messaging.SendMessage "
      "(many in flight), watches their statuses on Messaging.WatchEvents and reports acceptance, "
      "SendMessage latency, final statuses and end-to-end latency."};
  app.add_option("--grpc", options.grpc, "gateway gRPC address HOST:PORT")->capture_default_str();
  app.add_option("--account", options.account, "account SID")->capture_default_str();
  app.add_option("--token", options.token, "account auth token")->capture_default_str();
  app.add_option("--from", options.from,
                 "sender number (repeatable; messages round-robin over senders; default "
                 "+12025550100)");
  auto* to = app.add_option("--to", options.to, "destination number (repeatable, round-robin)");
  auto* prefix = app.add_option("--to-prefix", options.to_prefix,
                                "destination i is PREFIX + 4 digits of (i % 10000)")
                     ->capture_default_str();
  to->excludes(prefix);
  prefix->excludes(to);
  app.add_option("--count", options.count, "messages to send")
      ->capture_default_str();
  app.add_option("--rate", options.rate,
                 "messages per real second, absolute schedule (0: as fast as --concurrency allows)")
      ->capture_default_str();
  app.add_option("--concurrency", options.concurrency, "SendMessage calls in flight at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--body", options.body, "message text; {i} is replaced by the message index")
      ->capture_default_str();
  app.add_option("--media-bytes", options.media_bytes,
                 "0: SMS; otherwise one inline image/png of this many random bytes (an MMS)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{64} * 1024 * 1024));
  app.add_flag("--same-media", options.same_media,
               "send the same media bytes in every message (the gateway stores them once)");
  app.add_flag("--wait-final", options.wait_final,
               "after sending, wait until every accepted message is DELIVERED, UNDELIVERED or "
               "FAILED (or --timeout passes)");
  app.add_option("--timeout", options.timeout,
                 "seconds: deadline of each SendMessage, and of the --wait-final phase")
      ->capture_default_str();
  app.add_option("--csv", options.csv, "write one row per message to this file");
  app.add_option("--channels", options.channels, "gRPC channels (connections) to spread calls over")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--progress", options.progress,
                 "seconds between progress lines on stderr (0: none)")
      ->capture_default_str();
  app.add_option("--connect-timeout", options.connect_timeout, "seconds to wait for the connection")
      ->capture_default_str();
  app.add_option("--status-time", options.status_time,
                 "time of a status: updated (the message's date_updated, the gateway's time of the "
                 "change), event (Event.time) or received (when mmsload read the event)")
      ->capture_default_str()
      ->check(CLI::IsMember({"updated", "event", "received"}));
  app.add_option("--validity-period", options.validity_period,
                 "validity_period_seconds of every message (simulated seconds, 1..36000; 0: the "
                 "gateway's default)")
      ->capture_default_str()
      ->check(CLI::Range(0, 36000));
  app.add_flag("--carrier-stats", options.carrier_stats,
               "after the summary, print each carrier's counters from Simulator.ListCarriers");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : mmsload::kExitBadUsage;
  }
  std::string bad;
  if (options.count < 0) bad = "--count must be >= 0";
  if (!(options.rate >= 0 && options.rate <= 1e7)) bad = "--rate must be within 0..1e7";
  if (!(options.timeout > 0 && options.timeout <= 1e6)) bad = "--timeout must be > 0 seconds";
  if (!(options.progress >= 0)) bad = "--progress must be >= 0";
  if (!(options.connect_timeout > 0 && options.connect_timeout <= 1e6)) {
    bad = "--connect-timeout must be > 0 seconds";
  }
  if (!bad.empty()) {
    std::cerr << "mmsload: " << bad << "\n";
    return mmsload::kExitBadUsage;
  }
  if (options.from.empty()) options.from.push_back("+12025550100");
  if (options.to.empty()) {
    const auto& p = options.to_prefix;
    const bool ok = !p.empty() && p.size() <= 12 &&
                    std::all_of(p.begin() + (p[0] == '+' ? 1 : 0), p.end(),
                                [](char c) { return c >= '0' && c <= '9'; });
    if (!ok) {
      std::cerr << "mmsload: --to-prefix must be digits, optionally after a '+'\n";
      return mmsload::kExitBadUsage;
    }
  }
  mmsload::Harness harness(std::move(options));
  return harness.Run();
}
