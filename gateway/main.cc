// mmsgate: the server process. See "Process contract" in DESIGN.md.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>
#include <thread>

#include "carriers/handsets.h"
#include "gateway/config/descriptor_budget.h"
#include "gateway/accounts/directory.h"
#include "gateway/core/events.h"
#include "gateway/api/grpc/grpc_front_door.h"
#include "gateway/http/http_routes.h"
#include "gateway/http/http_server.h"
#include "gateway/inbound/inbound.h"
#include "gateway/storage/inbox_journal.h"
#include "gateway/webhooks/status_callbacks.h"
#include "gateway/webhooks/webhooks.h"
#include "gateway/storage/message_store.h"
#include "gateway/core/pipeline.h"
#include "gateway/api/rest/rest_facade.h"
#include "gateway/config/scenario.h"
#include "mmsc/storage/database.h"
#include "mmsc/storage/media_store.h"

namespace {

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

std::optional<HostPort> ParseHostPort(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  HostPort result;
  result.host = text.substr(0, colon);
  try {
    const int port = std::stoi(text.substr(colon + 1));
    if (port < 0 || port > 65535) return std::nullopt;
    result.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return result;
}

int Fail(const std::string& message) {
  spdlog::critical("{}", message);
  return 1;
}

int Run(int argc, char** argv) {
  CLI::App app{"mmsgate: carrier gateway simulator with MMSC emulation"};
  std::string scenario_path;
  std::string data_dir = "./var/mmsgate";
  std::string grpc_address = "127.0.0.1:50051";
  std::string http_address = "127.0.0.1:8080";
  std::string admin_token;
  std::string log_level = "info";
  int threads = 2;
  bool no_sync = false;
  app.add_option("--scenario", scenario_path, "Scenario file (text-format mmsgate.v1.Scenario)")
      ->check(CLI::ExistingFile);
  app.add_option("--data-dir", data_dir, "Where messages and media are stored (created if missing)");
  app.add_option("--grpc", grpc_address, "gRPC listen address HOST:PORT (port 0: any free port)");
  app.add_option("--http", http_address, "HTTP listen address HOST:PORT (port 0: any free port)");
  app.add_option("--admin-token", admin_token,
                 "Require this x-admin-token for Simulator and Accounts control calls");
  app.add_option("--threads", threads, "io_context threads")->check(CLI::Range(1, 64));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  app.add_flag("--no-sync", no_sync,
               "Do not fsync the write-ahead log (acknowledged messages then survive a process "
               "crash but not a power loss)");
  CLI11_PARSE(app, argc, argv);

  // Logs go to stderr; stdout carries only the lines of the process contract.
  auto logger = spdlog::stderr_color_mt("mmsgate");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  auto scenario = scenario_path.empty()
                      ? mmsgate::gateway::ParseScenario(mmsgate::gateway::DefaultScenarioText(),
                                                        "(built-in default scenario)")
                      : mmsgate::gateway::LoadScenarioFile(scenario_path);
  if (!scenario.ok()) return Fail(std::string(scenario.status().message()));
  auto grpc_hp = ParseHostPort(grpc_address);
  auto http_hp = ParseHostPort(http_address);
  if (!grpc_hp) return Fail("--grpc " + grpc_address + " is not HOST:PORT");
  if (!http_hp) return Fail("--http " + http_address + " is not HOST:PORT");

  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Fail("cannot create --data-dir " + data_dir + ": " + ec.message());
  // Descriptors first: the database, the listeners and outbound requests each get a share.
  const auto budget = mmsgate::gateway::RaiseOpenFileLimit();
  spdlog::info(
      "open files: limit {} (was {}); at most {} HTTP connections, {} for RocksDB tables, {} "
      "for media fetches and webhooks, about {} left for gRPC connections",
      budget.limit, budget.limit_before, budget.http_connections, budget.rocksdb_files,
      budget.outbound, budget.grpc_connections);
  mmsgate::mmsc::DatabaseOptions db_options;
  db_options.max_open_files = static_cast<int>(budget.rocksdb_files);
  db_options.sync_writes = !no_sync;
  auto database = mmsgate::mmsc::Database::Open(data_dir + "/db", db_options);
  if (!database.ok()) return Fail(std::string(database.status().message()));

  mmsgate::mmsc::MediaStore media_store(**database);
  mmsgate::gateway::MessageStore store(**database, media_store);
  mmsgate::gateway::Directory directory(*scenario, database->get());
  mmsgate::gateway::EventBus events;
  mmsgate::gateway::RocksDbInboxJournal inbox_journal(**database);
  mmsgate::carriers::Handsets handsets(&inbox_journal);
  if (const auto restored = inbox_journal.RestoreInto(handsets); restored > 0) {
    spdlog::info("restored {} handset inbox entries", restored);
  }

  boost::asio::io_context io(threads);
  auto work = boost::asio::make_work_guard(io);
  // One simulation clock for every simulated delay; it starts at the wall-clock time now.
  mmsgate::RealClock clock(scenario->simulation().time_scale() > 0
                               ? scenario->simulation().time_scale()
                               : 1.0);
  mmsgate::carriers::SimulationSettings simulation;
  simulation.seed = scenario->simulation().seed();
  std::vector<mmsgate::v1::Carrier> carriers(scenario->carriers().begin(),
                                             scenario->carriers().end());
  mmsgate::gateway::Pipeline pipeline(io, clock, **database, store, directory, events, handsets,
                                      carriers, simulation,
                                      scenario->simulation().disable_sender_rate_limits());

  mmsgate::gateway::WebhookSender webhooks(io, clock);
  mmsgate::gateway::StatusCallbacks status_callbacks(webhooks, directory, store, **database);
  pipeline.SetStatusCallbacks(&status_callbacks);
  const std::chrono::milliseconds webhook_timeout(
      scenario->simulation().webhook_timeout_ms() > 0 ? scenario->simulation().webhook_timeout_ms()
                                                      : 15000);
  status_callbacks.SetTimeout(webhook_timeout);
  mmsgate::gateway::InboundHandler inbound(clock, pipeline, directory, store, **database, events,
                                           webhooks);
  inbound.SetWebhookTimeout(webhook_timeout);

  // Storage reads for HTTP requests run on the pipeline's storage pool, off the io_context.
  auto http_options = mmsgate::gateway::RestFacadeServerOptions();
  http_options.max_connections = budget.http_connections;
  http_options.on_descriptors_exhausted = [](const std::string& reason) {
    spdlog::error("HTTP listener: cannot accept ({}); retrying every 100 ms until descriptors "
                  "are free",
                  reason);
  };
  mmsgate::gateway::HttpServer http(
      io, std::move(http_options),
      mmsgate::gateway::MakeHttpRoutes(store, pipeline.storage_pool(), [&] {
        const auto& stats = pipeline.stats();
        std::string text;
        auto metric = [&text](const char* name, const char* help, auto value) {
          text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name +
                  (std::string(name).ends_with("_total") ? " counter\n" : " gauge\n") + name +
                  " " + std::to_string(value) + "\n";
        };
        metric("mmsgate_messages_accepted_total", "Messages accepted.", stats.accepted.load());
        metric("mmsgate_messages_refused_total", "Sends refused.", stats.refused.load());
        metric("mmsgate_messages_delivered_total", "Messages delivered.", stats.delivered.load());
        metric("mmsgate_messages_undelivered_total", "Messages undelivered.",
               stats.undelivered.load());
        metric("mmsgate_messages_failed_total", "Messages failed.", stats.failed.load());
        metric("mmsgate_store_errors_total", "Store writes that failed.",
               stats.store_errors.load());
        metric("mmsgate_store_write_groups_total", "Group commits to RocksDB.",
               (*database)->groups_committed());
        metric("mmsgate_store_write_batches_total", "Batches in those group commits.",
               (*database)->batches_committed());
        metric("mmsgate_store_quarantined_records",
               "Stored records that could not be read at start, kept aside.",
               (*database)->quarantined());
        metric("mmsgate_media_blobs", "Distinct media blobs stored.", media_store.CountBlobs());
        return text;
      }, mmsgate::gateway::MakeRestFacade(directory, pipeline, store)));
  std::string http_error;
  auto http_endpoint = http.Listen(http_hp->host, http_hp->port, &http_error);
  if (!http_endpoint) return Fail("cannot listen for HTTP on " + http_address + ": " + http_error);
  const std::string http_bound = http_hp->host + ":" + std::to_string(http_endpoint->port());
  const std::string public_base_url = scenario->simulation().public_base_url().empty()
                                         ? "http://" + http_bound
                                         : scenario->simulation().public_base_url();
  pipeline.SetPublicBaseUrl(public_base_url);
  inbound.SetPublicBaseUrl(public_base_url);

  const auto& sim = scenario->simulation();
  const double retention_seconds =
      sim.media_retention_seconds() > 0 ? sim.media_retention_seconds() : 7 * 24 * 3600;
  pipeline.ConfigureMedia(
      std::chrono::milliseconds(sim.media_fetch_timeout_ms() > 0 ? sim.media_fetch_timeout_ms()
                                                                 : 15000),
      mmsgate::SimSeconds(retention_seconds));
  pipeline.StartMediaSweeper();
  pipeline.ScheduleFaults({scenario->scheduled_faults().begin(), scenario->scheduled_faults().end()});

  const std::size_t resumed = pipeline.ResumeUnfinished();
  if (resumed > 0) spdlog::info("resuming {} unfinished messages", resumed);

  std::vector<std::thread> io_threads;
  for (int i = 0; i < threads; ++i) io_threads.emplace_back([&io] { io.run(); });

  mmsgate::gateway::FrontDoorDependencies deps;
  deps.io = &io;
  deps.directory = &directory;
  deps.pipeline = &pipeline;
  deps.store = &store;
  deps.events = &events;
  deps.handsets = &handsets;
  deps.inbound = &inbound;
  deps.admin_token = admin_token;
  auto front_door = mmsgate::gateway::GrpcFrontDoor::Start(grpc_address, deps);
  if (!front_door.ok()) {
    http.Stop();
    work.reset();
    io.stop();
    for (auto& t : io_threads) t.join();
    return Fail(std::string(front_door.status().message()));
  }

  std::promise<int> stop_signal;
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&stop_signal](const boost::system::error_code& error, int signal) {
    if (!error) stop_signal.set_value(signal);
  });

  const auto& account = scenario->accounts(0);
  std::printf("mmsgate account %s auth_token %s\n", account.sid().c_str(),
              account.auth_token().c_str());
  std::printf("mmsgate ready grpc=%s:%d http=%s\n", grpc_hp->host.c_str(), (*front_door)->port(),
              http_bound.c_str());
  std::fflush(stdout);
  spdlog::info("serving: gRPC on {}:{}, HTTP on {}, data in {}", grpc_hp->host,
               (*front_door)->port(), http_bound, data_dir);

  const int signal = stop_signal.get_future().get();
  spdlog::info("signal {}: stopping", signal);
  // Stop taking work, let in-flight writes land, then stop the simulation. Messages still with
  // a carrier stay in the outbox and are resumed at the next start.
  events.CloseAll();
  // Accepted messages are already durable, so the grace only lets replies in flight go out;
  // gRPC waits out the whole grace while any client keeps its connection open.
  (*front_door)->Shutdown(std::chrono::milliseconds(1000));
  spdlog::info("gRPC stopped");
  http.Stop();
  pipeline.Drain();
  (*database)->Close();
  spdlog::info("store closed");
  work.reset();
  io.stop();
  for (auto& t : io_threads) t.join();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmsgate: fatal: %s\n", e.what());
    return 1;
  }
}
