#pragma once
// The load harness's options (the command line) and what follows from them per message.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "mmsload/mix.h"

namespace mmsload {

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
  // Media items per MMS, each of media_bytes.
  int media_count = 1;
  bool same_media = false;
  bool wait_final = false;
  // --watch-final-only: WatchEvents delivers final statuses only (no stage latencies then).
  bool watch_final_only = false;
  double timeout = 300;
  std::string csv;
  // The whole report as one JSON object, to this file ("-": standard output, after the text).
  std::string json;
  // --plot: a PNG of throughput and latency per second (gnuplot), its data beside it (.dat).
  std::string plot;
  // --histogram: print the latency distributions (HDR-style percentile ladders).
  bool histogram = false;
  // --rest: drive the REST facade at this base URL (http://HOST:PORT) instead of gRPC
  // SendMessage; --grpc is still used to watch the statuses.
  std::string rest;
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
  // --mix (empty: every message is SMS, or MMS with --media-bytes).
  std::string mix_text;
  Mix mix;
  std::string intl_prefix = "+44794600";
  std::string nomms_prefix = "+1206555";
};

inline std::string DestinationFor(const Options& options, int64_t i, Kind kind = Kind::kSms) {
  char digits[8];
  std::snprintf(digits, sizeof digits, "%04d", static_cast<int>(i % 10000));
  if (kind == Kind::kIntl) return options.intl_prefix + digits;
  if (kind == Kind::kNoMms) return options.nomms_prefix + digits;
  if (!options.to.empty()) return options.to[i % options.to.size()];
  return options.to_prefix + digits;
}

inline std::string BodyFor(const Options& options, int64_t i) {
  std::string body = options.body;
  const std::string placeholder = "{i}";
  for (auto at = body.find(placeholder); at != std::string::npos; at = body.find(placeholder, at)) {
    const std::string index = std::to_string(i);
    body.replace(at, placeholder.size(), index);
    at += index.size();
  }
  return body;
}

// --rest's base URL, read: http://HOST:PORT.
struct RestTarget {
  std::string host, port;
};
// The target, or nullopt with `error` saying what is wrong (rest.cc).
std::optional<RestTarget> ParseRestTarget(const std::string& url, std::string* error);

// Reads the command line into `options`. Returns -1 to go on, or the exit code (0 for --help,
// kExitBadUsage for a bad option, with the reason on stderr).
int ParseOptions(int argc, char** argv, Options& options);

}  // namespace mmsload
