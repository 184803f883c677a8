// mmsgate: the server process. See "Process contract" in DESIGN.md. This file only reads the
// command line; gateway/server.cc assembles and runs the gateway.

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>

#include "absl/synchronization/mutex.h"
#include "gateway/config/settings.h"
#include "gateway/server.h"

#ifdef MMSGATE_JEMALLOC
// jemalloc's options, read at its start: a background thread returns freed pages to the system
// within a second, so RSS falls back after a burst (a million queued messages draining) even
// when the gateway then sits idle; without it, pages are purged only as allocations go on.
extern "C" const char* malloc_conf;
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000";
#endif

namespace {

// %j: the log message, escaped for a JSON string (quotes, backslashes, control characters).
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&,
              spdlog::memory_buf_t& out) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : std::string_view(message.payload.data(), message.payload.size())) {
      const auto byte = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(c);
      } else if (byte < 0x20) {
        const char escaped[] = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 15]};
        out.append(escaped, escaped + sizeof escaped);
      } else {
        out.push_back(c);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

int Fail(const std::string& message) {
  spdlog::critical("{}", message);
  return 1;
}

int Run(int argc, char** argv) {
  CLI::App app{"mmsgate: carrier gateway simulator with MMSC emulation"};
  mmsgate::gateway::Flags flags;
  std::string log_level = "info";
  app.add_option("--scenario", flags.scenario_path,
                 "Scenario file (text-format mmsgate.v1.Scenario)")
      ->check(CLI::ExistingFile);
  app.add_option("--data-dir", flags.data_dir,
                 "Where messages and media are stored (created if missing)");
  app.add_option("--grpc", flags.grpc_address,
                 "gRPC listen address HOST:PORT (port 0: any free port)");
  app.add_option("--http", flags.http_address,
                 "HTTP listen address HOST:PORT (port 0: any free port)");
  app.add_option("--admin-token", flags.admin_token,
                 "Require this x-admin-token (REST: X-Admin-Token) for carrier control and for "
                 "changes to accounts and numbers; it also shows every handset. Prefer "
                 "--admin-token-file or MMSGATE_ADMIN_TOKEN: argv is visible to other users")
      ->envname("MMSGATE_ADMIN_TOKEN");
  std::string admin_token_file;
  app.add_option("--admin-token-file", admin_token_file,
                 "Read the admin token from this file (its first line)")
      ->check(CLI::ExistingFile)
      ->excludes("--admin-token");
  app.add_option("--threads", flags.threads, "io_context threads")->check(CLI::Range(1, 64));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  std::string log_format = "text";
  app.add_option("--log-format", log_format,
                 "text (for people) or json (one JSON object per line: time, level, msg)")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--no-sync", flags.no_sync,
               "Do not fsync the write-ahead log (acknowledged messages then survive a process "
               "crash but not a power loss)");
  app.add_option("--media-budget-bytes", flags.media_budget_bytes,
                 "Media bytes admission may hold in memory at once (arriving or being fetched, "
                 "until stored); beyond it an MMS is refused with 20429. Stored media wait on "
                 "disk, not in memory")
      ->capture_default_str();
  app.add_option("--media-fetch-allow", flags.media_fetch_allow,
                 "Fetch media only from these addresses (CIDRs, repeatable or comma-separated; "
                 "default: any address not refused below or by --media-fetch-deny)")
      ->delimiter(',');
  app.add_option("--media-fetch-deny", flags.media_fetch_deny,
                 "Never fetch media from these addresses (CIDRs, repeatable or comma-separated). "
                 "mmsgate's own listeners, link-local and cloud metadata addresses are always "
                 "refused; loopback is allowed unless listed here")
      ->delimiter(',');
  app.add_option("--watch-max-lag", flags.watch_max_lag,
                 "A WatchEvents stream this many events behind (or 8 MB of them) is cut off with "
                 "20429, so a reader that stops reading cannot hold memory")
      ->capture_default_str();
  app.add_option("--max-watchers-per-account", flags.max_watchers_per_account,
                 "WatchEvents streams one account may hold open; more are refused with 20429")
      ->capture_default_str();
  app.add_option("--http-max-connections-per-address", flags.http_max_connections_per_address,
                 "HTTP connections one client address may hold open; its further connections "
                 "are closed on accept, so one client cannot take every slot")
      ->capture_default_str();
  app.add_option("--http-header-timeout-ms", flags.http_header_timeout_ms,
                 "An HTTP request's header must arrive within this (a slowloris is cut off); "
                 "its body within 30 s")
      ->capture_default_str();
  app.add_option("--http-idle-timeout-ms", flags.http_idle_timeout_ms,
                 "An idle keep-alive HTTP connection is closed after this")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Logs go to stderr; stdout carries only the lines of the process contract.
  auto logger = spdlog::stderr_color_mt("mmsgate");
  spdlog::set_default_logger(logger);
  if (log_format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessage>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":"%j"})");
    spdlog::set_formatter(std::move(formatter));
  }
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (!admin_token_file.empty()) {
    std::ifstream file(admin_token_file);
    std::getline(file, flags.admin_token);
    while (!flags.admin_token.empty() &&
           (flags.admin_token.back() == '\r' || flags.admin_token.back() == ' ')) {
      flags.admin_token.pop_back();
    }
    if (!file && flags.admin_token.empty()) {
      return Fail("--admin-token-file " + admin_token_file + " cannot be read");
    }
    if (flags.admin_token.empty()) {
      return Fail("--admin-token-file " + admin_token_file + " holds no token on its first line");
    }
  }

  auto settings = mmsgate::gateway::MakeSettings(flags);
  if (!settings.ok()) return Fail(std::string(settings.status().message()));
  auto server = mmsgate::gateway::Server::Start(std::move(*settings));
  if (!server.ok()) return Fail(std::string(server.status().message()));

  const auto& account = (*server)->default_account();
  std::printf("mmsgate account %s auth_token %s\n", account.sid().c_str(),
              account.auth_token().c_str());
  std::printf("mmsgate ready grpc=%s http=%s\n", (*server)->grpc_address().c_str(),
              (*server)->http_address().c_str());
  std::fflush(stdout);

  const int signal = (*server)->WaitForSignal();
  spdlog::info("signal {}: stopping", signal);
  (*server)->Stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Abseil's mutexes (gRPC's) record every lock in a graph to detect lock-order cycles, a debug
  // aid Debian's build leaves on: 2-4% of the server's CPU under load (docs/performance.md).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmsgate: fatal: %s\n", e.what());
    return 1;
  }
}
