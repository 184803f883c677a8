#include "gateway/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "carriers/base/clock.h"
#include "carriers/fleet.h"
#include "carriers/handsets.h"
#include "gateway/accounts/authority.h"
#include "gateway/accounts/directory.h"
#include "gateway/api/api_chaos.h"
#include "gateway/api/grpc/grpc_front_door.h"
#include "gateway/api/rest/rest_facade.h"
#include "gateway/config/descriptor_budget.h"
#include "gateway/console/console.h"
#include "gateway/core/events.h"
#include "gateway/core/fault_scheduler.h"
#include "gateway/core/lifecycle.h"
#include "gateway/core/media_retention.h"
#include "gateway/core/messages.h"
#include "gateway/core/resumer.h"
#include "gateway/core/send_service.h"
#include "gateway/core/sender_limits.h"
#include "gateway/http/http_routes.h"
#include "gateway/http/http_server.h"
#include "gateway/inbound/inbound.h"
#include "gateway/storage/rocks_attempt_log.h"
#include "gateway/storage/rocks_directory_store.h"
#include "gateway/storage/rocks_inbox_store.h"
#include "gateway/storage/rocks_message_store.h"
#include "gateway/webhooks/status_callbacks.h"
#include "gateway/webhooks/webhooks.h"
#include "mmsc/address_policy.h"
#include "mmsc/storage/rocks_database.h"
#include "mmsc/storage/rocks_media_store.h"

namespace mmsgate::gateway {

namespace v1 = mmsgate::v1;

// Members in the order they are built; they are destroyed in reverse.
struct Server::Parts {
  Settings settings;
  DescriptorBudget budget;
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::vector<std::thread> io_threads;
  boost::asio::thread_pool storage_pool;
  std::unique_ptr<RealClock> clock;

  std::unique_ptr<storage::RocksDatabase> database;
  std::unique_ptr<mmsc::RocksMediaStore> media_store;
  std::unique_ptr<RocksMessageStore> message_store;
  std::unique_ptr<RocksAttemptLog> attempt_log;
  std::unique_ptr<RocksDirectoryStore> directory_store;
  std::unique_ptr<RocksInboxStore> inbox_store;
  PipelineMetrics metrics;
  // The attempt log the pipeline writes through: counts attempts for /metrics.
  std::unique_ptr<CountingAttemptLog> counted_attempts;

  std::unique_ptr<Directory> directory;
  std::unique_ptr<carriers::Handsets> handsets;
  std::unique_ptr<EventBus> events;
  std::unique_ptr<carriers::CarrierFleet> fleet;
  std::unique_ptr<SenderLimits> senders;
  std::unique_ptr<WebhookSender> webhooks;
  std::shared_ptr<mmsc::AddressPolicy> media_address_policy;
  std::unique_ptr<Authority> authority;
  std::unique_ptr<StatusCallbacks> status_callbacks;
  std::unique_ptr<MessageLifecycle> lifecycle;
  std::unique_ptr<MessageService> messages;
  // Simulator.SetApiChaos, asked by both front doors.
  std::unique_ptr<ApiChaos> chaos;
  // The REST facade, made once SendService exists; the HTTP routes call it through here.
  HttpHandler rest;
  // The web console; the HTTP routes call it through its handler (which outlives it safely).
  std::unique_ptr<Console> console;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<SendService> sender;
  std::unique_ptr<mmsc::ImageAdapter> image_adapter;
  std::unique_ptr<InboundHandler> inbound;
  std::unique_ptr<MediaRetention> retention;
  std::unique_ptr<FaultScheduler> faults;
  std::unique_ptr<GrpcFrontDoor> grpc;

  std::string grpc_address;
  std::string http_address;
  bool stopped = false;

  explicit Parts(Settings s)
      : settings(std::move(s)),
        io(settings.io_threads),
        storage_pool(static_cast<std::size_t>(settings.storage_threads)) {}

  std::string Metrics() const;
  // Simulator.Reset. Blocking (storage executor).
  absl::StatusOr<v1::ResetResponse> Reset();
  // Accounts.ResetAccount. Blocking (storage executor).
  absl::StatusOr<v1::ResetAccountResponse> ResetAccount(const std::string& account_sid);
  std::mutex reset_mutex;  // one Reset at a time
};

absl::StatusOr<v1::ResetAccountResponse> Server::Parts::ResetAccount(
    const std::string& account_sid) {
  std::lock_guard lock(reset_mutex);
  // Its messages in flight stop (returns once none can start another write), and what waits
  // behind its numbers' rate limits is dropped.
  const std::size_t in_flight = lifecycle->ResetAccount(account_sid);
  for (const auto& number : directory->NumbersOf(account_sid)) {
    senders->ResetSender(number.number());
  }
  // A barrier: every commit queued before it (a retired message's last write among them) is
  // written when it completes, so the removal below sees everything.
  std::promise<absl::Status> barrier;
  // Completed on the io_context: this storage thread waits, and the pool may have no other.
  database->Commit(database->NewBatch(), io.get_executor(),
                   [&barrier](absl::Status status) { barrier.set_value(status); });
  if (auto status = barrier.get_future().get(); !status.ok()) return status;
  auto removed = messages->RemoveAllOf(account_sid, inbox_store.get());
  if (!removed.ok()) return removed.status();
  if (auto status = directory->ClearAccountData(account_sid); !status.ok()) return status;
  events->PublishReset(account_sid);
  spdlog::info("account {} reset: {} messages removed ({} in flight)", account_sid, *removed,
               in_flight);
  v1::ResetAccountResponse response;
  response.set_messages_removed(*removed);
  return response;
}

absl::StatusOr<v1::ResetResponse> Server::Parts::Reset() {
  std::lock_guard lock(reset_mutex);
  const auto began = std::chrono::steady_clock::now();
  const v1::Scenario& scenario = settings.scenario;
  // Nothing new starts from what is dropped: chaos and scheduled faults end, the messages in
  // flight are retired (their later steps do nothing), queues and carriers are replaced.
  chaos->Clear();
  faults->Stop();
  lifecycle->Reset();
  senders->Reset();
  fleet->Reset({scenario.carriers().begin(), scenario.carriers().end()});
  fleet->outcome_rules().Set({scenario.outcome_rules().begin(), scenario.outcome_rules().end()});
  // Every record goes, in one write; a commit made before it and written after answers ABORTED,
  // so nothing of before comes back.
  if (auto status = database->Reset(); !status.ok()) {
    spdlog::error("reset: cannot clear the store: {}", std::string(status.message()));
    return status;
  }
  const std::size_t accounts_removed = directory->ResetToScenario();
  sender->ResetSequence(FirstSequence(*message_store));
  faults->Restart({scenario.scheduled_faults().begin(), scenario.scheduled_faults().end()});
  events->PublishReset("");
  const double duration_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
  spdlog::info("reset to the scenario in {:.1f} ms ({} accounts made at run time removed)",
               duration_ms, accounts_removed);
  v1::ResetResponse response;
  response.set_accounts_removed(static_cast<int64_t>(accounts_removed));
  response.set_duration_ms(duration_ms);
  return response;
}

namespace {

template <typename T>
void Metric(std::string& text, const char* name, const char* help, T value) {
  text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name +
          (std::string(name).ends_with("_total") ? " counter\n" : " gauge\n") + name + " " +
          std::to_string(value) + "\n";
}

}  // namespace

std::string Server::Parts::Metrics() const {
  const auto& send = sender->stats();
  const auto& life = lifecycle->stats();
  const auto db = database->stats();
  std::string text;
  Metric(text, "mmsgate_messages_accepted_total", "Messages accepted.", send.accepted.load());
  Metric(text, "mmsgate_messages_refused_total", "Sends refused.", send.refused.load());
  Metric(text, "mmsgate_messages_delivered_total", "Messages delivered.", life.delivered.load());
  Metric(text, "mmsgate_messages_undelivered_total", "Messages undelivered.",
         life.undelivered.load());
  Metric(text, "mmsgate_messages_failed_total", "Messages failed.", life.failed.load());
  Metric(text, "mmsgate_store_errors_total", "Store writes that failed.",
         send.store_errors.load() + life.store_errors.load());
  Metric(text, "mmsgate_store_write_groups_total", "Group commits to RocksDB.",
         db.groups_committed);
  Metric(text, "mmsgate_store_write_batches_total", "Batches in those group commits.",
         db.batches_committed);
  Metric(text, "mmsgate_store_quarantined_records",
         "Stored records that could not be read at start, kept aside.", db.quarantined);
  Metric(text, "mmsgate_media_blobs", "Distinct media blobs stored.", media_store->CountBlobs());
  Metric(text, "mmsgate_messages_in_flight", "Messages between acceptance and a final status.",
         lifecycle->in_flight());
  Metric(text, "mmsgate_http_connections", "HTTP connections open now.", http->open_connections());
  metrics.statuses.Render(text);
  metrics.fallbacks.Render(text);
  metrics.refusals.Render(text);
  metrics.webhook_attempts.Render(text);
  metrics.admission.Render(text);
  metrics.end_to_end.Render(text);
  RenderSample(text, "mmsgate_media_in_flight_bytes",
               "Media bytes admission holds now (--media-budget-bytes bounds them).", "gauge",
               double(sender->media_in_flight_bytes()));
  text +=
      "# HELP mmsgate_carrier_queue_depth Messages waiting in a carrier's queue.\n"
      "# TYPE mmsgate_carrier_queue_depth gauge\n";
  for (const auto& state : fleet->States()) {
    text += "mmsgate_carrier_queue_depth{carrier=\"" + EscapeLabelValue(state.carrier().id()) +
            "\"} " + std::to_string(state.stats().queued_now()) + "\n";
  }
  RenderSample(text, "mmsgate_sender_queue_depth",
               "Messages waiting behind their From number's rate limit.", "gauge",
               double(senders->TotalQueued()));
  RenderSample(text, "mmsgate_webhooks_in_flight",
               "Webhooks and status callbacks posting or waiting to retry.", "gauge",
               double(webhooks->in_flight()));
  RenderSample(text, "mmsgate_database_size_bytes",
               "Size of the data directory's database (SST files and memtables).", "gauge",
               double(database->ApproximateSizeBytes()));
  return text;
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(Settings settings) {
  auto parts = std::make_unique<Parts>(std::move(settings));
  Parts& p = *parts;
  const Settings& s = p.settings;

  // Descriptors first: the database, the listeners and outbound requests each get a share.
  p.budget = RaiseOpenFileLimit();
  spdlog::info(
      "open files: limit {} (was {}); at most {} HTTP connections, {} for RocksDB tables, {} "
      "for media fetches and webhooks, about {} left for gRPC connections",
      p.budget.limit, p.budget.limit_before, p.budget.http_connections, p.budget.rocksdb_files,
      p.budget.outbound, p.budget.grpc_connections);

  std::error_code ec;
  std::filesystem::create_directories(s.data_dir, ec);
  if (ec) {
    return absl::UnavailableError("cannot create --data-dir " + s.data_dir + ": " + ec.message());
  }
  p.clock = std::make_unique<RealClock>(s.time_scale);
  p.events = std::make_unique<EventBus>(*p.clock);

  // Storage: each store declares its families; one database holds them all, so one batch can
  // make a message, its media and its outbox entry durable together.
  std::vector<storage::FamilySpec> families;
  for (auto part : {mmsc::RocksMediaStore::Families(), RocksMessageStore::Families(),
                    RocksAttemptLog::Families(), RocksDirectoryStore::Families(),
                    RocksInboxStore::Families()}) {
    families.insert(families.end(), part.begin(), part.end());
  }
  storage::DatabaseOptions db_options;
  db_options.sync_writes = s.sync_writes;
  db_options.max_open_files = static_cast<int>(p.budget.rocksdb_files);
  auto database = storage::RocksDatabase::Open(s.data_dir + "/db", db_options, families);
  if (!database.ok()) return database.status();
  p.database = std::move(*database);
  auto& db = *p.database;
  p.media_store = std::make_unique<mmsc::RocksMediaStore>(db);
  p.message_store = std::make_unique<RocksMessageStore>(db);
  p.attempt_log = std::make_unique<RocksAttemptLog>(db);
  p.counted_attempts = std::make_unique<CountingAttemptLog>(*p.attempt_log, p.metrics);
  p.directory_store = std::make_unique<RocksDirectoryStore>(db);
  p.inbox_store =
      std::make_unique<RocksInboxStore>(db, p.io.get_executor(), p.storage_pool.get_executor());

  p.directory = std::make_unique<Directory>(s.scenario, db, *p.directory_store);
  p.authority = std::make_unique<Authority>(*p.directory, s.admin_token);
  p.handsets = std::make_unique<carriers::Handsets>(p.inbox_store.get());
  if (const auto stored = p.inbox_store->CheckStored(); stored > 0) {
    spdlog::info("{} handset inbox entries stored", stored);
  }
  p.work.emplace(p.io.get_executor());

  std::vector<v1::Carrier> carriers(s.scenario.carriers().begin(), s.scenario.carriers().end());
  p.fleet = std::make_unique<carriers::CarrierFleet>(
      p.io, *p.clock, carriers, carriers::SimulationSettings{s.seed}, *p.handsets);
  p.fleet->outcome_rules().Set(
      {s.scenario.outcome_rules().begin(), s.scenario.outcome_rules().end()});
  p.senders =
      std::make_unique<SenderLimits>(p.io, *p.clock, *p.directory, s.disable_sender_rate_limits);
  p.webhooks = std::make_unique<WebhookSender>(p.io, *p.clock);
  p.status_callbacks = std::make_unique<StatusCallbacks>(p.io, *p.webhooks, *p.directory, db,
                                                         *p.counted_attempts, s.webhook_timeout);
  p.lifecycle = std::make_unique<MessageLifecycle>(p.io, *p.clock, db, *p.message_store, *p.senders,
                                                   *p.fleet, *p.events, *p.status_callbacks);
  p.lifecycle->set_metrics(&p.metrics);
  p.lifecycle->set_inbox(p.inbox_store.get());
  p.messages = std::make_unique<MessageService>(db, *p.message_store, *p.counted_attempts,
                                                *p.media_store, *p.clock);
  p.messages->set_lifecycle(p.lifecycle.get());

  // The HTTP listener is bound first, so links can name its port, and accepts only once every
  // part behind it exists.
  const auto storage = p.storage_pool.get_executor();
  auto http_options = RestFacadeServerOptions();
  http_options.max_connections = p.budget.http_connections;
  http_options.max_connections_per_address = s.http_max_connections_per_address;
  http_options.header_timeout = s.http_header_timeout;
  http_options.idle_timeout = s.http_idle_timeout;
  http_options.on_descriptors_exhausted = [](const std::string& reason) {
    spdlog::error(
        "HTTP listener: cannot accept ({}); retrying every 100 ms until descriptors "
        "are free",
        reason);
  };
  Parts* raw = &p;
  ConsoleDependencies console;
  console.io = &p.io;
  console.directory = p.directory.get();
  console.events = p.events.get();
  // The same media route the listener serves, without the REST facade or the console.
  console.media_content =
      MakeHttpRoutes(*p.directory, *p.messages, *p.media_store, storage, [] { return ""; });
  p.console = std::make_unique<Console>(std::move(console));
  p.http = std::make_unique<HttpServer>(
      p.io, std::move(http_options),
      MakeHttpRoutes(
          *p.directory, *p.messages, *p.media_store, storage, [raw] { return raw->Metrics(); },
          [raw](HttpRequest request, std::function<void(HttpResponse)> respond) {
            raw->rest(std::move(request), std::move(respond));
          },
          p.console->handler()));
  std::string http_error;
  auto http_endpoint = p.http->Bind(s.http_host, s.http_port, &http_error);
  if (!http_endpoint) {
    return absl::UnavailableError("cannot listen for HTTP on " + s.http_host + ":" +
                                  std::to_string(s.http_port) + ": " + http_error);
  }
  p.http_address = s.http_host + ":" + std::to_string(http_endpoint->port());
  const std::string public_base_url =
      s.public_base_url.empty() ? "http://" + p.http_address : s.public_base_url;

  SendSettings send;
  send.public_base_url = public_base_url;
  send.media_fetch_timeout = s.media_fetch_timeout;
  send.media_retention = s.media_retention;
  send.media_budget_bytes = s.media_budget_bytes;
  // MakeSettings checked the lists. The policy learns each listener's port once it is bound,
  // before the address is announced, so no request can name a port it does not know yet.
  p.media_address_policy = *mmsc::AddressPolicy::Create(s.media_fetch_allow, s.media_fetch_deny);
  p.media_address_policy->AddOwnPort(http_endpoint->port());
  if (const int grpc_port = std::atoi(s.grpc_address.substr(s.grpc_address.rfind(':') + 1).c_str());
      grpc_port > 0 && grpc_port <= 65535) {
    p.media_address_policy->AddOwnPort(static_cast<uint16_t>(grpc_port));  // known before start
  }
  send.media_address_policy = p.media_address_policy;
  send.first_sequence = FirstSequence(*p.message_store);
  p.sender = std::make_unique<SendService>(p.io, storage, *p.clock, db, *p.message_store,
                                           *p.media_store, *p.directory, *p.fleet, *p.senders,
                                           *p.lifecycle, std::move(send));
  p.sender->set_metrics(&p.metrics);
  // Image adaptation is CPU-bound: half the cores, and a short queue beyond which a send is
  // refused (20429) rather than waiting unbounded.
  p.image_adapter = std::make_unique<mmsc::ImageAdapter>(
      std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2), 32);
  p.sender->set_image_adapter(p.image_adapter.get());
  p.inbound = std::make_unique<InboundHandler>(p.io, storage, *p.clock, db, *p.message_store,
                                               *p.media_store, *p.counted_attempts, *p.directory,
                                               *p.fleet, *p.events, *p.webhooks, *p.sender,
                                               InboundSettings{public_base_url, s.webhook_timeout});
  p.chaos = std::make_unique<ApiChaos>(*p.clock, s.seed);
  p.rest = MakeRestFacade(*p.directory, *p.authority, *p.sender, *p.messages, *p.chaos, storage);

  p.retention =
      std::make_unique<MediaRetention>(p.io, storage, *p.clock, *p.messages, s.media_retention);
  p.retention->Start();
  p.faults = std::make_unique<FaultScheduler>(p.io, *p.clock, *p.fleet);
  p.faults->Schedule({s.scenario.scheduled_faults().begin(), s.scenario.scheduled_faults().end()});

  if (const std::size_t resumed = ResumeUnfinished(*p.message_store, *p.media_store, *p.lifecycle);
      resumed > 0) {
    spdlog::info("resuming {} unfinished messages", resumed);
  }
  for (int i = 0; i < s.io_threads; ++i) p.io_threads.emplace_back([raw] { raw->io.run(); });

  FrontDoorDependencies deps;
  deps.io = &p.io;
  deps.run_on_storage = [storage](std::function<void()> work) {
    boost::asio::post(storage, std::move(work));
  };
  deps.directory = p.directory.get();
  deps.sender = p.sender.get();
  deps.messages = p.messages.get();
  deps.events = p.events.get();
  deps.fleet = p.fleet.get();
  deps.handsets = p.handsets.get();
  deps.inbound = p.inbound.get();
  deps.clock = p.clock.get();
  deps.authority = p.authority.get();
  deps.chaos = p.chaos.get();
  deps.reset = [raw] { return raw->Reset(); };
  deps.reset_account = [raw](const std::string& account_sid) {
    return raw->ResetAccount(account_sid);
  };
  deps.watch_limits.max_queued_events = static_cast<std::size_t>(s.watch_max_lag);
  deps.watch_limits.max_per_account = s.max_watchers_per_account;
  auto front_door = GrpcFrontDoor::Start(s.grpc_address, std::move(deps));
  std::unique_ptr<Server> server(new Server(std::move(parts)));
  if (!front_door.ok()) return front_door.status();  // ~Server stops what started
  Parts& q = *server->parts_;
  q.grpc = std::move(*front_door);
  q.grpc_address = q.settings.grpc_address.substr(0, q.settings.grpc_address.rfind(':')) + ":" +
                   std::to_string(q.grpc->port());
  q.media_address_policy->AddOwnPort(static_cast<uint16_t>(q.grpc->port()));
  q.console->SetGrpcTarget(q.grpc_address);
  q.http->StartAccepting();
  spdlog::info("serving: gRPC on {}, HTTP on {}, data in {}", q.grpc_address, q.http_address,
               q.settings.data_dir);
  return server;
}

Server::Server(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Server::~Server() { Stop(); }

const std::string& Server::grpc_address() const { return parts_->grpc_address; }
const std::string& Server::http_address() const { return parts_->http_address; }
const v1::Account& Server::default_account() const { return parts_->settings.scenario.accounts(0); }

int Server::WaitForSignal() {
  std::promise<int> stop_signal;
  boost::asio::signal_set signals(parts_->io, SIGTERM, SIGINT);
  signals.async_wait([&stop_signal](const boost::system::error_code& error, int signal) {
    if (!error) stop_signal.set_value(signal);
  });
  return stop_signal.get_future().get();
}

void Server::Stop() {
  Parts& p = *parts_;
  if (p.stopped) return;
  p.stopped = true;
  // Stop taking work, let replies in flight go out, then stop the simulation. Messages still
  // with a carrier stay in the outbox and are resumed at the next start.
  p.events->CloseAll();
  // The console is a gRPC client of this gateway: its connection would hold gRPC's shutdown for
  // the whole grace.
  if (p.console) p.console->Stop();
  // Accepted messages are already durable, so the grace only lets replies in flight go out;
  // gRPC waits out the whole grace while any client keeps its connection open.
  if (p.grpc) {
    p.grpc->Shutdown(std::chrono::milliseconds(1000));
    spdlog::info("gRPC stopped");
  }
  if (p.http) p.http->Stop();
  if (p.retention) p.retention->Stop();
  if (p.faults) p.faults->Stop();
  if (p.senders) p.senders->Stop();
  // Adaptations under way finish (and hand their messages to the storage pool); queued ones
  // are dropped, unanswered, like the calls gRPC already cut off.
  if (p.sender) p.sender->set_image_adapter(nullptr);
  p.image_adapter.reset();
  // Blocking work queued there finishes before the store closes.
  p.storage_pool.join();
  if (p.database) {
    p.database->Close();
    spdlog::info("store closed");
  }
  p.work.reset();
  p.io.stop();
  for (auto& thread : p.io_threads) thread.join();
}

}  // namespace mmsgate::gateway
