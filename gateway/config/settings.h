#pragma once
// Everything a gateway runs with, made once at start from the command line and the scenario, and
// validated then: components get the values they need from here, already checked, and nothing is
// set on them afterwards.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "carriers/base/clock.h"
#include "mmsgate/v1/scenario.pb.h"

namespace mmsgate::gateway {

// The command line, as given (DESIGN.md "Process contract").
struct Flags {
  std::string scenario_path;  // empty: the built-in default scenario
  std::string data_dir = "./var/mmsgate";
  std::string grpc_address = "127.0.0.1:50051";
  std::string http_address = "127.0.0.1:8080";
  std::string admin_token;
  int threads = 2;
  bool no_sync = false;
  // Media bytes admission may hold at once (SendSettings::media_budget_bytes).
  int64_t media_budget_bytes = int64_t{256} << 20;
  // Addresses (CIDRs) media may, or may not, be fetched from (mmsc/address_policy.h).
  std::vector<std::string> media_fetch_allow;
  std::vector<std::string> media_fetch_deny;
  // WatchEvents bounds (gateway/api/grpc/grpc_front_door.h WatchLimits).
  int64_t watch_max_lag = 10000;
  int max_watchers_per_account = 16;
  // HTTP listener bounds against slow and idle clients (gateway/http/http_server.h).
  int64_t http_max_connections_per_address = 256;
  int64_t http_header_timeout_ms = 10000;
  int64_t http_idle_timeout_ms = 60000;
};

struct Settings {
  mmsgate::v1::Scenario scenario;
  std::string data_dir;
  std::string grpc_address;
  std::string http_host;
  uint16_t http_port = 0;
  std::string admin_token;
  int io_threads = 2;
  // Threads of the storage executor, where blocking store work runs.
  int storage_threads = 2;
  bool sync_writes = true;
  int64_t media_budget_bytes = int64_t{256} << 20;
  // Checked CIDRs for mmsc::AddressPolicy::Create.
  std::vector<std::string> media_fetch_allow;
  std::vector<std::string> media_fetch_deny;
  int64_t watch_max_lag = 10000;
  int max_watchers_per_account = 16;
  std::size_t http_max_connections_per_address = 256;
  std::chrono::milliseconds http_header_timeout{10000};
  std::chrono::milliseconds http_idle_timeout{60000};

  // From the scenario's simulation block, defaults applied.
  double time_scale = 1.0;
  uint64_t seed = 0;
  bool disable_sender_rate_limits = false;
  SimDuration media_retention{std::chrono::hours(24 * 7)};
  std::chrono::milliseconds media_fetch_timeout{15000};
  std::chrono::milliseconds webhook_timeout{15000};
  // Empty: "http://" + the HTTP listener's bound address.
  std::string public_base_url;
};

// Loads the scenario and checks everything. The error says what is wrong and how to fix it.
[[nodiscard]] absl::StatusOr<Settings> MakeSettings(const Flags& flags);

}  // namespace mmsgate::gateway
