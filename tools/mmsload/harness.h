#pragma once
// The load harness: sends through Messaging.SendMessage with many calls in flight, follows the
// messages on Messaging.WatchEvents, and reports. See docs/load-harness.md.
//
// Threads: gRPC's callback threads run the replies and the watch; the caller's thread runs the
// sending loop; a watch thread reopens a broken watch. Records are guarded by Harness::mutex_.

#include <grpcpp/grpcpp.h>

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

#include "absl/strings/escaping.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"
#include "mmsload/common.h"
#include "mmsload/options.h"
#include "mmsload/stats.h"

namespace mmsload {

// --rest: the reply code of a request that got no HTTP answer (connection refused or broken).
inline constexpr int kNoHttpAnswer = 1;

// ---------------------------------------------------------------------------------------------
// What we learn about one message. Every field is written under Harness::mutex_ except the
// request fields, which the sender writes before it starts the call.

struct Record {
  // Request.
  std::string from, to;
  Kind kind = Kind::kSms;
  int64_t scheduled_ns = 0;
  int64_t send_start_ns = 0;
  // Reply.
  int64_t ack_ns = 0;
  // -1: no reply yet; 0: accepted; otherwise the gRPC status code, or with --rest the HTTP
  // status (kNoHttpAnswer when the connection failed).
  int reply_code = -1;
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

// `time_ns` is on mmsload's clock already; the message's dates are mapped onto it.
inline Observation Observe(const v1::Message& message, int64_t time_ns, const Clock& clock) {
  Observation o;
  o.status = message.status();
  o.time_ns = time_ns;
  o.error_code = message.error_code();
  o.delivered_as = message.delivered_as();
  o.carrier_id = message.carrier_id();
  if (message.has_date_created()) o.created_ns = clock.LocalOf(TimestampNs(message.date_created()));
  return o;
}

// ---------------------------------------------------------------------------------------------

class Harness;

// One Messaging.WatchEvents stream (account-wide). Lives until OnDone; the owner waits for it.
class Watcher : public grpc::ClientReadReactor<v1::Event> {
 public:
  // With `final_only`, only DELIVERED, UNDELIVERED and FAILED are sent to it.
  Watcher(Harness& harness, v1::Messaging::Stub& stub, const std::string& authorization,
          bool final_only);

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
    authorization_ = "Basic " + absl::Base64Escape(options_.account + ":" + options_.token);
  }

  int Run();

  // From the watcher.
  void OnEvent(const v1::Event& event);
  void OnWatchEnded();

 private:
  bool Connect();
  // Maps the gateway's simulated dates onto clock_ (Simulator.GetClock).
  void AnchorClock();
  void SendAll();
  void OnReply(Call* call, const grpc::Status& status);
  // --rest: the same over keep-alive HTTP/1.1 connections (rest.cc).
  void SendAllRest();
  // What a reply said, from either interface.
  struct Reply {
    int code = 0;  // as Record::reply_code
    int error_code = 0;
    std::string error_text;
    std::string sid;
    const v1::Message* message = nullptr;  // gRPC: the whole answer
  };
  void RecordReply(int64_t index, const Reply& reply);
  // "INVALID_ARGUMENT", or "HTTP 400" with --rest.
  std::string ReplyCodeName(int code) const;
  void Apply(Record& record, const Observation& o);
  void WatchLoop();
  void StopWatch();
  bool StartWatcher();
  void Reconcile();
  void WaitFinal();
  void PrintSummary();
  void PrintCarrierStats();
  bool WriteCsv();
  // --json: the report PrintSummary assembled.
  bool WriteJson();
  // --plot: throughput and latency per second, drawn by gnuplot.
  bool WritePlot();
  // What mmsload drives: the gRPC address, or the REST base URL with --rest.
  std::string Target() const { return options_.rest.empty() ? options_.grpc : options_.rest; }
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
  nlohmann::json json_report_;  // Filled by PrintSummary.
  std::string series_data_;     // Filled by PrintSummary: TimeSeries::DataFile().
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

}  // namespace mmsload
