#include "mmsload/harness.h"
#include "mmsload/stats.h"

namespace mmsload {

using namespace std::chrono_literals;

// Reporting: the summary on stdout, carrier counters, and the CSV.

void Harness::PrintSummary() {
  std::lock_guard lock(mutex_);
  const double send_phase_s = std::max(1e-9, double(last_reply_ns_ - first_send_ns_) / 1e9);
  std::map<std::pair<int, int>, int64_t> refused;  // (grpc code, provider code) -> count
  LatencyHistogram send_latency_ms, lag_ms, from_schedule_ms, e2e_ms, e2e_from_send_ms;
  LatencyHistogram to_queued_ms, to_sending_ms, to_sent_ms, to_final_ms;
  std::map<int, std::map<int, int64_t>> finals;  // status -> error code -> count
  std::map<int, int64_t> delivered_as;
  std::map<std::string, int64_t> carriers;
  // kind -> delivered_as -> count (--mix)
  std::map<std::string, std::map<std::string, int64_t>> by_kind;
  int64_t no_final = 0, delivered = 0, last_delivered_ns = 0;
  TimeSeries series(first_send_ns_);
  for (const auto& r : records_) {
    if (r.reply_code < 0) continue;
    if (r.reply_code == 0) series.Accepted(r.ack_ns, r.ack_ns - r.send_start_ns);
    if (r.final_status == v1::DELIVERED) series.Delivered(r.final_ns, r.final_ns - r.send_start_ns);
    send_latency_ms.RecordNs(r.ack_ns - r.send_start_ns);
    if (r.scheduled_ns != 0) {
      lag_ms.RecordNs(r.send_start_ns - r.scheduled_ns);
      // Open loop: timed from when the call was due, so a stall that delays later starts shows
      // in their latency instead of vanishing (coordinated omission).
      from_schedule_ms.RecordNs(r.ack_ns - r.scheduled_ns);
    }
    if (r.reply_code != 0) {
      ++refused[{r.reply_code, r.error_code}];
      continue;
    }
    ++delivered_as[r.delivered_as];
    ++by_kind[KindName(r.kind)]
             [r.delivered_as == 0
                  ? std::string("?")
                  : v1::DeliveredAs_Name(static_cast<v1::DeliveredAs>(r.delivered_as))];
    ++carriers[r.carrier_id];
    if (r.final_status == 0) {
      ++no_final;
    } else {
      ++finals[r.final_status][r.final_error_code];
    }
    auto stage = [](LatencyHistogram& out, int64_t from, int64_t to) {
      if (from != 0 && to != 0) out.RecordNs(to - from);
    };
    const int64_t created = r.created_ns != 0 ? r.created_ns : r.accepted_ns;
    stage(to_queued_ms, created, r.queued_ns);
    stage(to_sending_ms, r.queued_ns, r.sending_ns);
    stage(to_sent_ms, r.sending_ns, r.sent_ns);
    stage(to_final_ms, r.sent_ns, r.final_ns);
    if (r.final_status == v1::DELIVERED) {
      ++delivered;
      last_delivered_ns = std::max(last_delivered_ns, r.final_ns);
      if (created != 0) e2e_ms.RecordNs(r.final_ns - created);
      e2e_from_send_ms.RecordNs(r.final_ns - r.send_start_ns);
    }
  }
  int64_t refused_total = 0;
  for (const auto& [_, n] : refused) refused_total += n;

  // The same figures as the text below, for --json.
  nlohmann::json report;
  report["target"] = Target();
  report["interface"] = options_.rest.empty() ? "grpc" : "rest";
  report["account"] = options_.account;
  report["channels"] = options_.channels;
  report["concurrency"] = options_.concurrency;
  report["rate"] = options_.rate;
  report["media_bytes"] = options_.media_bytes;
  report["media_count"] = options_.media_count;
  report["gateway_time_scale"] = clock_.time_scale();
  report["sent"] = replies_;
  report["send_phase_s"] = send_phase_s;
  report["accepted"] = accepted_;
  report["accepted_per_s"] = double(accepted_) / send_phase_s;
  report["refused"] = nlohmann::json::array();
  for (const auto& [key, n] : refused) {
    report["refused"].push_back(
        {{options_.rest.empty() ? "grpc_code" : "http_status", ReplyCodeName(key.first)},
         {"error_code", key.second},
         {"count", n}});
  }
  if (!options_.mix_text.empty()) report["mix"] = by_kind;
  report["send_message_ms"] = PercentilesJson(send_latency_ms.Summary());
  if (!(lag_ms.count() == 0)) {
    report["start_lag_ms"] = PercentilesJson(lag_ms.Summary());
    report["send_message_from_schedule_ms"] = PercentilesJson(from_schedule_ms.Summary());
  }
  report["final_status"] = nlohmann::json::object();
  for (const auto& [status, codes] : finals) {
    auto& entry =
        report["final_status"][v1::MessageStatus_Name(static_cast<v1::MessageStatus>(status))];
    for (const auto& [code, n] : codes) entry[std::to_string(code)] = n;
  }
  report["not_final"] = no_final;
  report["delivered"] = delivered;
  if (delivered > 0) {
    const double span_s = std::max(1e-9, double(last_delivered_ns - first_send_ns_) / 1e9);
    report["delivered_per_s"] = double(delivered) / span_s;
    report["first_send_to_last_delivered_s"] = span_s;
  }
  report["created_to_delivered_ms"] = PercentilesJson(e2e_ms.Summary());
  report["send_to_delivered_ms"] = PercentilesJson(e2e_from_send_ms.Summary());
  report["stages_ms"] = {{"created_to_queued", PercentilesJson(to_queued_ms.Summary())},
                         {"queued_to_sending", PercentilesJson(to_sending_ms.Summary())},
                         {"sending_to_sent", PercentilesJson(to_sent_ms.Summary())},
                         {"sent_to_final", PercentilesJson(to_final_ms.Summary())}};
  report["events"] = {{"received", events_},
                      {"other_messages", foreign_events_},
                      {"out_of_order", out_of_order_},
                      {"repeated_finals", repeated_finals_},
                      {"sequence_gaps", sequence_gaps_}};
  report["histograms"] = {{"send_message", DistributionJson(send_latency_ms)},
                          {"send_to_delivered", DistributionJson(e2e_from_send_ms)}};
  if (from_schedule_ms.count() > 0) {
    report["histograms"]["send_message_from_schedule"] = DistributionJson(from_schedule_ms);
  }
  json_report_ = std::move(report);
  series_data_ = series.DataFile();

  auto& out = std::cout;
  char line[512];
  out << "mmsload: "
      << (options_.rest.empty()
              ? options_.grpc
              : "REST " + options_.rest + " (statuses over gRPC " + options_.grpc + ")")
      << ", account " << options_.account << ", " << options_.channels
      << " channel(s), concurrency " << options_.concurrency << ", rate "
      << (options_.rate > 0 ? Number(options_.rate) + "/s" : std::string("unlimited")) << ", "
      << (options_.media_bytes > 0 ? "MMS with " + std::to_string(options_.media_count) + " x " +
                                         std::to_string(options_.media_bytes) + " media bytes"
                                   : std::string("SMS"));
  if (clock_.time_scale() != 1.0) {
    out << ", gateway time scale " << Number(clock_.time_scale())
        << " (its dates mapped to real time: every time below is real)";
  }
  out << "\n";
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
          << ReplyCodeName(key.first) << " x " << n << ";";
    }
  }
  out << "\n";
  for (const auto& [key, text] : first_refusal_) {
    out << "  e.g. " << (key > 0 ? std::to_string(key) : std::string("(no code)")) << ": " << text
        << "\n";
  }
  const std::string call = options_.rest.empty() ? "SendMessage" : "POST Messages";
  out << (options_.rest.empty() ? "SendMessage ms   " : "POST ms          ")
      << FormatPercentiles(send_latency_ms.Summary()) << "\n";
  if (!(lag_ms.count() == 0)) {
    out << "start lag ms     " << FormatPercentiles(lag_ms.Summary())
        << "  (actual start - scheduled start)\n";
    out << "from schedule ms " << FormatPercentiles(from_schedule_ms.Summary())
        << "  (reply - scheduled start: the latency a paced client sees)\n";
  }
  if (accepted_ > 0) {
    std::string as;
    for (const auto& [kind, n] : delivered_as) {
      if (!as.empty()) as += ", ";
      as += (kind == 0 ? std::string("?")
                       : v1::DeliveredAs_Name(static_cast<v1::DeliveredAs>(kind))) +
            " x " + std::to_string(n);
    }
    std::string via;
    for (const auto& [carrier, n] : carriers) {
      if (!via.empty()) via += ", ";
      via += (carrier.empty() ? std::string("?") : carrier) + " x " + std::to_string(n);
    }
    out << "routed as        " << as << "; carriers: " << via << "\n";
    if (!options_.mix_text.empty()) {
      out << "mix              ";
      bool first = true;
      for (const auto& [kind, routes] : by_kind) {
        int64_t n = 0;
        std::string detail;
        for (const auto& [route, k] : routes) {
          n += k;
          detail += (detail.empty() ? "" : ", ") + route + " x " + std::to_string(k);
        }
        out << (first ? "" : "; ") << kind << " " << n << " (" << detail << ")";
        first = false;
      }
      out << "\n";
    }
  }
  if (!wait_outcome_.empty()) out << "wait-final       " << wait_outcome_ << "\n";
  out << "final status     ";
  bool any = false;
  for (const auto& [status, codes] : finals) {
    int64_t n = 0;
    for (const auto& [_, k] : codes) n += k;
    out << (any ? "; " : "") << v1::MessageStatus_Name(static_cast<v1::MessageStatus>(status))
        << " " << n;
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
  out << "created->DELIVERED ms  " << FormatPercentiles(e2e_ms.Summary()) << "\n";
  out << "send->DELIVERED ms     " << FormatPercentiles(e2e_from_send_ms.Summary()) << "\n";
  out << "stages ms: created->QUEUED " << FormatPercentiles(to_queued_ms.Summary()) << "\n"
      << "           QUEUED->SENDING " << FormatPercentiles(to_sending_ms.Summary()) << "\n"
      << "           SENDING->SENT   " << FormatPercentiles(to_sent_ms.Summary()) << "\n"
      << "           SENT->final     " << FormatPercentiles(to_final_ms.Summary()) << "\n";
  if (options_.histogram) {
    out << FormatDistribution(call + " latency distribution", send_latency_ms);
    if (from_schedule_ms.count() > 0) {
      out << FormatDistribution(call + " latency from the schedule, distribution",
                                from_schedule_ms);
    }
    out << FormatDistribution("send->DELIVERED latency distribution", e2e_from_send_ms);
  }
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
    std::snprintf(
        line, sizeof line,
        "carrier %-10s submitted %lld, delivered %lld, undelivered/failed {%s}, expired "
        "%lld, queue full %lld, queued now %lld, fallback SMS+link %lld; latency "
        "(simulated ms) p50 %.0f p90 %.0f p99 %.0f",
        state.carrier().id().c_str(), static_cast<long long>(s.submitted()),
        static_cast<long long>(s.delivered()),
        undelivered.empty() ? "" : FormatCodeCounts(undelivered).c_str(),
        static_cast<long long>(s.expired()), static_cast<long long>(s.rejected_queue_full()),
        static_cast<long long>(s.queued_now()), static_cast<long long>(s.fallback_count()),
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
  file << "index,sid,from,to,send_start_ns,ack_ns,"
       << (options_.rest.empty() ? "grpc_code" : "http_status")
       << ",error_code,accepted_ns,queued_ns,"
          "sending_ns,sent_ns,final_status,final_ns,final_error_code,delivered_as,carrier_id\n";
  std::lock_guard lock(mutex_);
  auto ns = [](int64_t v) { return v != 0 ? std::to_string(v) : std::string(); };
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const auto& r = records_[i];
    if (r.send_start_ns == 0) continue;  // Never sent.
    const bool replied = r.reply_code >= 0;
    const bool final = r.final_status != 0;
    file << i << ',' << r.sid << ',' << r.from << ',' << r.to << ',' << ns(r.send_start_ns) << ','
         << ns(r.ack_ns) << ','
         << (!replied                                      ? std::string()
             : r.reply_code == 0 && !options_.rest.empty() ? std::string("201")
                                                           : std::to_string(r.reply_code))
         << ',' << (r.error_code != 0 ? std::to_string(r.error_code) : "") << ','
         << ns(r.accepted_ns != 0 ? r.accepted_ns : r.created_ns) << ',' << ns(r.queued_ns) << ','
         << ns(r.sending_ns) << ',' << ns(r.sent_ns) << ','
         << (final ? v1::MessageStatus_Name(static_cast<v1::MessageStatus>(r.final_status)) : "")
         << ',' << ns(r.final_ns) << ',' << (final ? std::to_string(r.final_error_code) : "") << ','
         << (r.delivered_as != 0
                 ? v1::DeliveredAs_Name(static_cast<v1::DeliveredAs>(r.delivered_as))
                 : "")
         << ',' << r.carrier_id << '\n';
  }
  file.flush();
  if (!file) {
    std::cerr << "mmsload: error writing " << options_.csv << "\n";
    return false;
  }
  return true;
}

bool Harness::WritePlot() {
  const std::string data_path = options_.plot + ".dat";
  {
    std::ofstream data(data_path, std::ios::trunc);
    data << series_data_;
    if (!data) {
      std::cerr << "mmsload: cannot write " << data_path << "\n";
      return false;
    }
  }
  const std::string title = "mmsload: " + std::to_string(options_.count) + " messages to " +
                            Target() + ", concurrency " + std::to_string(options_.concurrency) +
                            (options_.rate > 0 ? ", rate " + Number(options_.rate) + "/s" : "");
  // gnuplot reads the script on its standard input; no shell is involved.
  FILE* gnuplot = popen("gnuplot", "w");
  if (gnuplot == nullptr) {
    std::cerr << "mmsload: --plot needs gnuplot (Debian: apt-get install gnuplot-nox)\n";
    return false;
  }
  const std::string script = PlotScript(data_path, options_.plot, title);
  std::fwrite(script.data(), 1, script.size(), gnuplot);
  const int status = pclose(gnuplot);
  if (status != 0) {
    std::cerr << "mmsload: gnuplot could not draw " << options_.plot << " (exit status " << status
              << "; is gnuplot installed? Debian: apt-get install gnuplot-nox); the data is in "
              << data_path << "\n";
    return false;
  }
  std::cerr << "mmsload: wrote " << options_.plot << " (data in " << data_path << ")\n";
  return true;
}

bool Harness::WriteJson() {
  const std::string text = json_report_.dump(2) + "\n";
  if (options_.json == "-") {
    std::cout << text;
    std::cout.flush();
    return true;
  }
  std::ofstream file(options_.json);
  file << text;
  if (!file) {
    std::cerr << "mmsload: cannot write --json " << options_.json << "\n";
    return false;
  }
  return true;
}

}  // namespace mmsload
