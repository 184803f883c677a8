#include "gateway/grpc_front_door.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <mutex>

#include "carriers/handsets.h"
#include "carriers/phone_numbers.h"
#include "gateway/scenario.h"
#include "gateway/directory.h"
#include "gateway/events.h"
#include "gateway/inbound.h"
#include "gateway/message_store.h"
#include "gateway/pipeline.h"
#include "mmsgate/errors.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;

// Gives media room (5 MB of media plus a 1600-character body) with margin, so oversized
// requests reach admission and get the provider's code (11751, 21617) instead of a transport
// error.
constexpr int kMaxReceiveMessageBytes = 16 * 1024 * 1024;
// A watcher that falls this far behind is cut off rather than growing without bound.
constexpr std::size_t kMaxQueuedEventsPerWatcher = 100000;

// The single place absl::Status becomes grpc::Status: the provider code goes into the message
// text, the `mmsgate-error-code` trailer and a structured ErrorDetail.
grpc::Status ToGrpc(const absl::Status& status, grpc::CallbackServerContext* context) {
  if (status.ok()) return grpc::Status::OK;
  const int code = ProviderErrorCode(status);
  const std::string message(status.message());
  std::string details;
  if (code != 0) {
    context->AddTrailingMetadata("mmsgate-error-code", std::to_string(code));
    v1::ErrorDetail detail;
    detail.set_code(code);
    detail.set_message(message);
    detail.set_more_info("https://github.com/mmsgate/mmsgate/blob/main/docs/errors.md#" +
                         std::to_string(code));
    v1::RpcStatus rpc_status;
    rpc_status.set_code(static_cast<int>(status.code()));
    rpc_status.set_message(message);
    rpc_status.add_details()->PackFrom(detail);
    details = rpc_status.SerializeAsString();
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message, details);
}

std::string Metadata(const grpc::CallbackServerContext* context, const std::string& key) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(key);
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

absl::StatusOr<v1::Account> Authenticate(const FrontDoorDependencies& deps,
                                         const grpc::CallbackServerContext* context) {
  return deps.directory->Authenticate(Metadata(context, "authorization"));
}

absl::Status AuthorizeAdmin(const FrontDoorDependencies& deps,
                            const grpc::CallbackServerContext* context) {
  if (auto account = Authenticate(deps, context); !account.ok()) return account.status();
  if (!deps.admin_token.empty() && Metadata(context, "x-admin-token") != deps.admin_token) {
    return ProviderError(absl::StatusCode::kPermissionDenied, error_codes::kAuthenticationFailed,
                         "simulator control needs the x-admin-token given with --admin-token");
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const absl::Status& status) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpc(status, context));
  return reactor;
}

// Streams events to one watcher. The bus callback and gRPC's completions meet in `State`, which
// outlives the reactor, so an event published while the call ends is dropped safely.
class EventWatcher : public grpc::ServerWriteReactor<v1::Event> {
 public:
  EventWatcher(EventBus& bus, EventFilter filter, std::vector<v1::Event> initial)
      : bus_(bus), state_(std::make_shared<State>()) {
    state_->reactor = this;
    // Register first, then tell the client: a client that waits for the initial metadata sees
    // every event that follows.
    subscription_ = bus_.Subscribe(
        std::move(filter), [state = state_](const v1::Event& event) { Enqueue(state, event); },
        [state = state_] { Close(state); });
    for (auto& event : initial) Enqueue(state_, event);
    StartSendInitialMetadata();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(state_->mutex);
    state_->queue.pop_front();
    state_->writing = false;
    if (!ok) {
      // The client went away mid-write. Finish so that OnDone runs and the subscription ends.
      FinishLocked(*state_, grpc::Status::CANCELLED);
      return;
    }
    if (!state_->queue.empty() && !state_->finished) {
      state_->writing = true;
      StartWrite(&state_->queue.front());
    }
  }

  void OnCancel() override {
    std::lock_guard lock(state_->mutex);
    FinishLocked(*state_, grpc::Status::CANCELLED);
  }

  void OnDone() override {
    bus_.Unsubscribe(subscription_);
    {
      std::lock_guard lock(state_->mutex);
      state_->reactor = nullptr;
    }
    delete this;
  }

 private:
  struct State {
    std::mutex mutex;
    EventWatcher* reactor = nullptr;
    std::deque<v1::Event> queue;
    bool writing = false;
    // Finish was called: no more writes start, and it is not called again.
    bool finished = false;
  };

  // Calls Finish exactly once over the call's life. `state.mutex` held.
  static void FinishLocked(State& state, const grpc::Status& status) {
    if (state.finished || state.reactor == nullptr) return;
    state.finished = true;
    state.reactor->Finish(status);
  }

 public:
  // Ends the stream because the gateway is stopping, so shutdown need not wait for clients.
  static void Close(const std::shared_ptr<State>& state) {
    std::lock_guard lock(state->mutex);
    FinishLocked(*state, grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                      "the gateway is shutting down; reconnect after restart"));
  }

 private:
  static void Enqueue(const std::shared_ptr<State>& state, const v1::Event& event) {
    std::lock_guard lock(state->mutex);
    if (state->reactor == nullptr || state->finished) return;
    if (state->queue.size() >= kMaxQueuedEventsPerWatcher) {
      FinishLocked(*state, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                        "20429: this watcher fell " +
                                            std::to_string(kMaxQueuedEventsPerWatcher) +
                                            " events behind; read faster or filter by SID"));
      return;
    }
    state->queue.push_back(event);
    if (!state->writing) {
      state->writing = true;
      state->reactor->StartWrite(&state->queue.front());
    }
  }

  EventBus& bus_;
  std::shared_ptr<State> state_;
  uint64_t subscription_ = 0;
};

class MessagingService final : public v1::Messaging::CallbackService {
 public:
  explicit MessagingService(const FrontDoorDependencies& deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* context,
                                        const v1::SendMessageRequest* request,
                                        v1::Message* response) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    auto* reactor = context->DefaultReactor();
    // The reply waits for the database writer's group commit without holding a gRPC thread.
    deps_.pipeline->Send(*account, *request,
                         [reactor, context, response](absl::StatusOr<v1::Message> result) {
                           if (result.ok()) {
                             *response = std::move(*result);
                             reactor->Finish(grpc::Status::OK);
                           } else {
                             reactor->Finish(ToGrpc(result.status(), context));
                           }
                         });
    return reactor;
  }

  grpc::ServerUnaryReactor* GetMessage(grpc::CallbackServerContext* context,
                                       const v1::GetMessageRequest* request,
                                       v1::Message* response) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    auto message = OwnMessage(*account, request->sid());
    if (!message.ok()) return FinishNow(context, message.status());
    *response = std::move(*message);
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* ListMessages(grpc::CallbackServerContext* context,
                                         const v1::ListMessagesRequest* request,
                                         v1::ListMessagesResponse* response) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    auto page = deps_.store->List(account->sid(), *request);
    if (!page.ok()) return FinishNow(context, page.status());
    *response = std::move(*page);
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* ListMedia(grpc::CallbackServerContext* context,
                                      const v1::ListMediaRequest* request,
                                      v1::ListMediaResponse* response) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    auto message = OwnMessage(*account, request->message_sid());
    if (!message.ok()) return FinishNow(context, message.status());
    for (const auto& media : message->media()) *response->add_media() = media;
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerWriteReactor<v1::Event>* WatchEvents(
      grpc::CallbackServerContext* context, const v1::WatchEventsRequest* request) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) {
      auto* reactor = new RefusedStream();
      reactor->Finish(ToGrpc(account.status(), context));
      return reactor;
    }
    EventFilter filter;
    filter.account_sid = account->sid();
    filter.message_sids.insert(request->message_sids().begin(), request->message_sids().end());
    std::vector<v1::Event> initial;
    if (request->send_current()) {
      for (const auto& sid : request->message_sids()) {
        auto message = OwnMessage(*account, sid);
        if (!message.ok()) continue;
        v1::Event event;
        event.set_kind(v1::Event::STATUS_CHANGED);
        *event.mutable_message() = std::move(*message);
        initial.push_back(std::move(event));
      }
    }
    return new EventWatcher(*deps_.events, std::move(filter), std::move(initial));
  }

 private:
  class RefusedStream : public grpc::ServerWriteReactor<v1::Event> {
    void OnDone() override { delete this; }
  };

  // A message of another account is reported as not found, as the provider does.
  absl::StatusOr<v1::Message> OwnMessage(const v1::Account& account, const std::string& sid) {
    auto message = deps_.store->GetWithAttempts(sid);
    if (message.ok() && message->account_sid() == account.sid()) return message;
    if (message.ok() || absl::IsNotFound(message.status())) {
      return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                           "message \"" + sid.substr(0, 64) + "\" was not found in account " +
                               account.sid());
    }
    return message.status();
  }

  const FrontDoorDependencies& deps_;
};

class SimulatorService final : public v1::Simulator::CallbackService {
 public:
  explicit SimulatorService(const FrontDoorDependencies& deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* UpsertCarrier(grpc::CallbackServerContext* context,
                                          const v1::UpsertCarrierRequest* request,
                                          v1::CarrierState* response) override {
    if (auto status = AuthorizeAdmin(deps_, context); !status.ok()) {
      return FinishNow(context, status);
    }
    v1::Scenario probe;
    auto* account = probe.add_accounts();
    account->set_sid("AC00000000000000000000000000000000");
    account->set_auth_token("placeholder");
    *probe.add_carriers() = request->carrier();
    // Reuse the scenario checks so a carrier is valid the same way at start and at run time.
    if (auto status = ValidateScenario(probe); !status.ok()) {
      return FinishNow(context, ProviderError(absl::StatusCode::kInvalidArgument,
                                              error_codes::kInvalidParameter,
                                              std::string(status.message())));
    }
    deps_.pipeline->fleet().Upsert(request->carrier());
    for (auto& state : deps_.pipeline->fleet().States()) {
      if (state.carrier().id() == request->carrier().id()) *response = std::move(state);
    }
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* SetCarrierFault(grpc::CallbackServerContext* context,
                                            const v1::SetCarrierFaultRequest* request,
                                            v1::CarrierState* response) override {
    if (auto status = AuthorizeAdmin(deps_, context); !status.ok()) {
      return FinishNow(context, status);
    }
    const auto& fault = request->fault();
    if (fault.kind() == v1::CarrierFault::KIND_UNSPECIFIED || fault.duration_seconds() <= 0 ||
        fault.extra_latency_ms() < 0 || fault.extra_loss() < 0 || fault.extra_loss() > 1) {
      return FinishNow(context,
                       ProviderError(absl::StatusCode::kInvalidArgument,
                                     error_codes::kInvalidParameter,
                                     "a fault needs a kind (OUTAGE, MMS_UNSUPPORTED, "
                                     "EXTRA_LATENCY, EXTRA_LOSS), a positive duration_seconds, "
                                     "extra_latency_ms >= 0 and extra_loss within 0..1"));
    }
    if (auto status = deps_.pipeline->fleet().SetFault(request->carrier_id(), fault);
        !status.ok()) {
      return FinishNow(context, status);
    }
    if (auto node = deps_.pipeline->fleet().Node(request->carrier_id())) {
      *response = node->State();
    }
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* ListCarriers(grpc::CallbackServerContext* context,
                                         const v1::ListCarriersRequest*,
                                         v1::ListCarriersResponse* response) override {
    if (auto status = AuthorizeAdmin(deps_, context); !status.ok()) {
      return FinishNow(context, status);
    }
    for (auto& state : deps_.pipeline->fleet().States()) {
      *response->add_carriers() = std::move(state);
    }
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* SendFromHandset(grpc::CallbackServerContext* context,
                                            const v1::HandsetSend* request,
                                            v1::Message* response) override {
    if (auto status = AuthorizeAdmin(deps_, context); !status.ok()) {
      return FinishNow(context, status);
    }
    auto* reactor = context->DefaultReactor();
    deps_.inbound->Receive(*request, [reactor, context, response](absl::StatusOr<v1::Message> got) {
      if (got.ok()) {
        *response = std::move(*got);
        reactor->Finish(grpc::Status::OK);
      } else {
        reactor->Finish(ToGrpc(got.status(), context));
      }
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* GetHandsetInbox(grpc::CallbackServerContext* context,
                                            const v1::GetHandsetInboxRequest* request,
                                            v1::HandsetInbox* response) override {
    if (auto status = AuthorizeAdmin(deps_, context); !status.ok()) {
      return FinishNow(context, status);
    }
    std::string number = request->number();
    if (auto parsed = carriers::ParseValidNumber(number)) number = parsed->e164;
    *response = deps_.handsets->Inbox(number);
    return FinishNow(context, absl::OkStatus());
  }

 private:
  const FrontDoorDependencies& deps_;
};

class AccountsService final : public v1::Accounts::CallbackService {
 public:
  explicit AccountsService(const FrontDoorDependencies& deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* GetAccount(grpc::CallbackServerContext* context,
                                       const v1::GetAccountRequest*,
                                       v1::Account* response) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    *response = std::move(*account);
    response->clear_auth_token();
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* UpdateAccountSettings(grpc::CallbackServerContext* context,
                                                  const v1::UpdateAccountSettingsRequest* request,
                                                  v1::Account* response) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    auto updated = deps_.directory->SetAccountSettings(account->sid(), request->settings());
    if (!updated.ok()) return FinishNow(context, updated.status());
    *response = std::move(*updated);
    response->clear_auth_token();
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* ListNumbers(grpc::CallbackServerContext* context,
                                        const v1::ListNumbersRequest*,
                                        v1::ListNumbersResponse* response) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    for (auto& number : deps_.directory->NumbersOf(account->sid())) {
      *response->add_numbers() = std::move(number);
    }
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* ProvisionNumber(grpc::CallbackServerContext* context,
                                            const v1::ProvisionNumberRequest* request,
                                            v1::Number* response) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    auto number = deps_.directory->Provision(account->sid(), request->number());
    if (!number.ok()) return FinishNow(context, number.status());
    *response = std::move(*number);
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* UpdateNumber(grpc::CallbackServerContext* context,
                                         const v1::UpdateNumberRequest* request,
                                         v1::Number* response) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    auto number = deps_.directory->UpdateWebhooks(account->sid(), request->number(),
                                                  request->sms_url(), request->status_callback());
    if (!number.ok()) return FinishNow(context, number.status());
    *response = std::move(*number);
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* EnableShortCodeMms(grpc::CallbackServerContext* context,
                                               const v1::EnableShortCodeMmsRequest* request,
                                               v1::Number* response) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    auto number = deps_.directory->EnableShortCodeMms(account->sid(), request->number());
    if (!number.ok()) return FinishNow(context, number.status());
    *response = std::move(*number);
    return FinishNow(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* ReleaseNumber(grpc::CallbackServerContext* context,
                                          const v1::ReleaseNumberRequest* request,
                                          v1::ReleaseNumberResponse*) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    return FinishNow(context, deps_.directory->Release(account->sid(), request->number()));
  }

  grpc::ServerUnaryReactor* GetUsage(grpc::CallbackServerContext* context,
                                     const v1::GetUsageRequest*, v1::Usage* response) override {
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return FinishNow(context, account.status());
    *response = deps_.directory->Usage(account->sid());
    return FinishNow(context, absl::OkStatus());
  }

 private:
  const FrontDoorDependencies& deps_;
};

}  // namespace

struct GrpcFrontDoor::Impl {
  FrontDoorDependencies deps;
  std::unique_ptr<MessagingService> messaging;
  std::unique_ptr<SimulatorService> simulator;
  std::unique_ptr<AccountsService> accounts;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

absl::StatusOr<std::unique_ptr<GrpcFrontDoor>> GrpcFrontDoor::Start(
    const std::string& address, FrontDoorDependencies dependencies) {
  auto impl = std::make_unique<Impl>();
  impl->deps = std::move(dependencies);
  impl->messaging = std::make_unique<MessagingService>(impl->deps);
  impl->simulator = std::make_unique<SimulatorService>(impl->deps);
  impl->accounts = std::make_unique<AccountsService>(impl->deps);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->port);
  builder.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  builder.RegisterService(impl->messaging.get());
  builder.RegisterService(impl->simulator.get());
  builder.RegisterService(impl->accounts.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    return absl::UnavailableError("cannot listen for gRPC on " + address +
                                  " (address in use or not local?); pick another with --grpc");
  }
  return std::unique_ptr<GrpcFrontDoor>(new GrpcFrontDoor(std::move(impl)));
}

GrpcFrontDoor::GrpcFrontDoor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcFrontDoor::~GrpcFrontDoor() {
  if (impl_->server) Shutdown(std::chrono::milliseconds(0));
}

int GrpcFrontDoor::port() const { return impl_->port; }

void GrpcFrontDoor::Shutdown(std::chrono::milliseconds grace) {
  if (!impl_->server) return;
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace mmsgate::gateway
