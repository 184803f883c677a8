#include "mmsload/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "mmsload/common.h"

namespace mmsload {

int ParseOptions(int argc, char** argv, Options& options) {
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
  app.add_option("--count", options.count, "messages to send")->capture_default_str();
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
  app.add_option("--media-count", options.media_count,
                 "media items per MMS, each of --media-bytes (the gateway accepts up to 10, 5 MB "
                 "in all)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10));
  app.add_flag("--same-media", options.same_media,
               "send the same media bytes in every message (the gateway stores them once)");
  app.add_flag("--wait-final", options.wait_final,
               "after sending, wait until every accepted message is DELIVERED, UNDELIVERED or "
               "FAILED (or --timeout passes)");
  app.add_flag("--watch-final-only", options.watch_final_only,
               "watch only final statuses (WatchEventsRequest.statuses): a fifth of the events "
               "of an SMS, for runs that measure outcomes, not stages (no stage latencies)");
  app.add_option("--timeout", options.timeout,
                 "seconds: deadline of each SendMessage, and of the --wait-final phase")
      ->capture_default_str();
  app.add_option("--csv", options.csv, "write one row per message to this file");
  app.add_option("--mix", options.mix_text,
                 "traffic mix by weight, e.g. sms=70,mms=20,intl=5,nomms=5 (mms, intl and nomms "
                 "carry one inline image of --media-bytes, 10240 if 0)");
  app.add_option("--intl-prefix", options.intl_prefix,
                 "destinations of --mix intl: PREFIX + 4 digits (outside the US and Canada)")
      ->capture_default_str();
  app.add_option("--nomms-prefix", options.nomms_prefix,
                 "destinations of --mix nomms: PREFIX + 4 digits (a carrier without MMS)")
      ->capture_default_str();
  app.add_option("--json", options.json,
                 "write the whole report as one JSON object to this file ('-': standard output)");
  app.add_option("--plot", options.plot,
                 "draw throughput and latency per second into this PNG (needs gnuplot); the "
                 "numbers are written beside it, to FILE.dat");
  app.add_flag("--histogram", options.histogram,
               "print the latency distributions (value at 0, 50, 75, 90, 95, 99, 99.5, 99.9, "
               "99.95, 99.99, 100 percent)");
  app.add_option("--rest", options.rest,
                 "send through the REST facade (POST /2010-04-01/Accounts/SID/Messages.json) at "
                 "this base URL, e.g. http://127.0.0.1:8080, over --concurrency keep-alive "
                 "connections; statuses are still watched over --grpc");
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
    return rc == 0 ? 0 : kExitBadUsage;
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
    return kExitBadUsage;
  }
  if (options.from.empty()) options.from.push_back("+12025550100");
  if (options.to.empty()) {
    const auto& p = options.to_prefix;
    const bool ok = !p.empty() && p.size() <= 12 &&
                    std::all_of(p.begin() + (p[0] == '+' ? 1 : 0), p.end(),
                                [](char c) { return c >= '0' && c <= '9'; });
    if (!ok) {
      std::cerr << "mmsload: --to-prefix must be digits, optionally after a '+'\n";
      return kExitBadUsage;
    }
  }
  if (!options.rest.empty()) {
    std::string error;
    if (!ParseRestTarget(options.rest, &error)) {
      std::cerr << "mmsload: " << error << "\n";
      return kExitBadUsage;
    }
  }
  if (!options.mix_text.empty()) {
    std::string error;
    auto mix = ParseMix(options.mix_text, &error);
    if (!mix) {
      std::cerr << "mmsload: " << error << "\n";
      return kExitBadUsage;
    }
    options.mix = *mix;
    if (options.mix.carries_media() && options.media_bytes == 0) options.media_bytes = 10240;
  }
  return -1;
}

}  // namespace mmsload
