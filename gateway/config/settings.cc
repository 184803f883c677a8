#include "gateway/config/settings.h"

#include "gateway/config/scenario.h"
#include "mmsc/address_policy.h"
#include "mmsc/media_rules.h"

namespace mmsgate::gateway {

absl::StatusOr<Settings> MakeSettings(const Flags& flags) {
  auto scenario = flags.scenario_path.empty()
                      ? ParseScenario(DefaultScenarioText(), "(built-in default scenario)")
                      : LoadScenarioFile(flags.scenario_path);
  if (!scenario.ok()) return scenario.status();
  Settings settings;
  settings.scenario = std::move(*scenario);

  const auto colon = flags.http_address.rfind(':');
  int port = -1;
  if (colon != std::string::npos && colon > 0) {
    try {
      port = std::stoi(flags.http_address.substr(colon + 1));
    } catch (const std::exception&) {
    }
  }
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError("--http " + flags.http_address + " is not HOST:PORT");
  }
  settings.http_host = flags.http_address.substr(0, colon);
  settings.http_port = static_cast<uint16_t>(port);
  settings.grpc_address = flags.grpc_address;
  if (flags.data_dir.empty()) return absl::InvalidArgumentError("--data-dir must not be empty");
  settings.data_dir = flags.data_dir;
  settings.admin_token = flags.admin_token;
  if (flags.threads < 1 || flags.threads > 64) {
    return absl::InvalidArgumentError("--threads must be within 1..64");
  }
  settings.io_threads = flags.threads;
  settings.sync_writes = !flags.no_sync;
  if (flags.media_budget_bytes < mmsc::kMaxTotalMediaBytes) {
    return absl::InvalidArgumentError("--media-budget-bytes must be at least " +
                                      std::to_string(mmsc::kMaxTotalMediaBytes) +
                                      " (the media one message may carry)");
  }
  settings.media_budget_bytes = flags.media_budget_bytes;
  if (auto policy = mmsc::AddressPolicy::Create(flags.media_fetch_allow, flags.media_fetch_deny);
      !policy.ok()) {
    return absl::InvalidArgumentError("--media-fetch-allow/--media-fetch-deny: " +
                                      std::string(policy.status().message()));
  }
  if (flags.watch_max_lag < 1 || flags.watch_max_lag > 1000000) {
    return absl::InvalidArgumentError("--watch-max-lag must be within 1..1000000 events");
  }
  if (flags.max_watchers_per_account < 1 || flags.max_watchers_per_account > 10000) {
    return absl::InvalidArgumentError("--max-watchers-per-account must be within 1..10000");
  }
  if (flags.http_max_connections_per_address < 1 ||
      flags.http_max_connections_per_address > 1000000) {
    return absl::InvalidArgumentError(
        "--http-max-connections-per-address must be within 1..1000000");
  }
  if (flags.http_header_timeout_ms < 100 || flags.http_header_timeout_ms > 3600000) {
    return absl::InvalidArgumentError("--http-header-timeout-ms must be within 100..3600000");
  }
  if (flags.http_idle_timeout_ms < 100 || flags.http_idle_timeout_ms > 3600000) {
    return absl::InvalidArgumentError("--http-idle-timeout-ms must be within 100..3600000");
  }
  settings.http_max_connections_per_address =
      static_cast<std::size_t>(flags.http_max_connections_per_address);
  settings.http_header_timeout = std::chrono::milliseconds(flags.http_header_timeout_ms);
  settings.http_idle_timeout = std::chrono::milliseconds(flags.http_idle_timeout_ms);
  settings.watch_max_lag = flags.watch_max_lag;
  settings.max_watchers_per_account = flags.max_watchers_per_account;
  settings.media_fetch_allow = flags.media_fetch_allow;
  settings.media_fetch_deny = flags.media_fetch_deny;

  const auto& simulation = settings.scenario.simulation();
  settings.time_scale = simulation.time_scale() > 0 ? simulation.time_scale() : 1.0;
  settings.seed = simulation.seed();
  settings.disable_sender_rate_limits = simulation.disable_sender_rate_limits();
  if (simulation.media_retention_seconds() > 0) {
    settings.media_retention = SimSeconds(simulation.media_retention_seconds());
  }
  if (simulation.media_fetch_timeout_ms() > 0) {
    settings.media_fetch_timeout = std::chrono::milliseconds(simulation.media_fetch_timeout_ms());
  }
  if (simulation.webhook_timeout_ms() > 0) {
    settings.webhook_timeout = std::chrono::milliseconds(simulation.webhook_timeout_ms());
  }
  settings.public_base_url = simulation.public_base_url();
  return settings;
}

}  // namespace mmsgate::gateway
