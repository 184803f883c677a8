#include "gateway/api/grpc/grpc_front_door.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_posix.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "carriers/base/clock.h"
#include "carriers/base/errors.h"
#include "carriers/base/text.h"
#include "carriers/fleet.h"
#include "carriers/handsets.h"
#include "carriers/phone_numbers.h"
#include "gateway/accounts/authority.h"
#include "gateway/accounts/directory.h"
#include "gateway/api/api_chaos.h"
#include "gateway/config/scenario.h"
#include "gateway/core/events.h"
#include "gateway/core/messages.h"
#include "gateway/core/send_service.h"
#include "gateway/http/tcp_acceptor.h"
#include "gateway/inbound/inbound.h"
#include "gateway/storage/message_store.h"
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
// Calls one gRPC connection may carry at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
constexpr int kMaxConcurrentStreams = 1000;

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

std::string AdminToken(const grpc::CallbackServerContext* context) {
  return Metadata(context, Authority::kGrpcMetadataKey);
}

// Carrier control: the caller's credentials, then what the Authority asks for.
absl::Status AuthorizeCarrierControl(const FrontDoorDependencies& deps,
                                     const grpc::CallbackServerContext* context) {
  if (auto account = Authenticate(deps, context); !account.ok()) return account.status();
  return deps.authority->AuthorizeCarrierControl(AdminToken(context));
}

// An account change: the account, when the Authority allows the change.
absl::StatusOr<v1::Account> AuthorizeAccountChange(const FrontDoorDependencies& deps,
                                                   const grpc::CallbackServerContext* context) {
  auto account = Authenticate(deps, context);
  if (!account.ok()) return account.status();
  if (auto status = deps.authority->AuthorizeAccountChange(AdminToken(context)); !status.ok()) {
    return status;
  }
  return account;
}

// The path and value of the first enum field holding a number its enum does not name
// ("ListMessagesRequest.status = 99"). proto3 keeps such numbers instead of refusing them, so
// without this check they would pass as silently as a valid filter.
std::optional<std::string> FindUnknownEnumValue(const google::protobuf::Message& message,
                                                const std::string& path) {
  const auto* reflection = message.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const auto* field : fields) {
    const std::string name = path + "." + field->name();
    if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_ENUM) {
      const auto* type = field->enum_type();
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          const int value = reflection->GetRepeatedEnumValue(message, field, i);
          if (type->FindValueByNumber(value) == nullptr) {
            return name + "[" + std::to_string(i) + "] = " + std::to_string(value);
          }
        }
      } else if (const int value = reflection->GetEnumValue(message, field);
                 type->FindValueByNumber(value) == nullptr) {
        return name + " = " + std::to_string(value);
      }
    } else if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          if (auto found = FindUnknownEnumValue(reflection->GetRepeatedMessage(message, field, i),
                                                name + "[" + std::to_string(i) + "]")) {
            return found;
          }
        }
      } else if (auto found = FindUnknownEnumValue(reflection->GetMessage(message, field), name)) {
        return found;
      }
    }
  }
  return std::nullopt;
}

// Requests arrive as raw bytes and are parsed here rather than by gRPC's generated handlers,
// which answer a request protobuf refuses (a string field that is not UTF-8, say) with
// UNIMPLEMENTED and no message. Here it gets 21200 naming the field.
template <class Request>
absl::Status DecodeRequest(const grpc::ByteBuffer& raw, Request* request) {
  grpc::ByteBuffer buffer(raw);  // shares the slices; the reader needs a mutable buffer
  grpc::ProtoBufferReader reader(&buffer);
  if (request->ParseFromZeroCopyStream(&reader)) {
    if (auto unknown = FindUnknownEnumValue(*request, Request::descriptor()->name())) {
      return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                           *unknown +
                               " is not a value of its enum; see mmsgate's .proto files "
                               "for the values");
    }
    return absl::OkStatus();
  }
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (raw.Dump(&slices).ok()) {
    for (const auto& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  const std::string type = Request::descriptor()->name();
  if (auto field = FindInvalidUtf8InWire(*Request::descriptor(), bytes)) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                         type + "." + *field +
                             " is not valid UTF-8; protobuf string fields hold UTF-8 text "
                             "(binary media go in media[].data, a bytes field)");
  }
  return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                       "the request is not a valid mmsgate.v1." + type +
                           " (protobuf cannot parse its " + std::to_string(bytes.size()) +
                           " bytes); check that the client uses mmsgate's .proto files");
}

// One unary call: owns its request and response, and frees itself when gRPC is done with it.
// Reply() is called exactly once, from any thread.
template <class Request, class Response>
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(grpc::CallbackServerContext* context, grpc::ByteBuffer* raw_response)
      : context_(context), raw_response_(raw_response) {}

  grpc::CallbackServerContext* context() const { return context_; }

  // Sends `response` when `status` is OK, else the refusal with its provider code.
  void Reply(const absl::Status& status) {
    if (!status.ok()) {
      Finish(ToGrpc(status, context_));
      return;
    }
    bool own_buffer = false;
    Finish(grpc::SerializationTraits<Response>::Serialize(response, raw_response_, &own_buffer));
  }

  void OnDone() override { delete this; }

  Request request;
  Response response;

 private:
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const raw_response_;
};

// Decodes the request, then hands the call to `handler`, which must Reply() exactly once.
template <class Request, class Response, class Handler>
grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context,
                                const grpc::ByteBuffer* raw_request, grpc::ByteBuffer* raw_response,
                                Handler&& handler) {
  auto* call = new UnaryCall<Request, Response>(context, raw_response);
  if (auto status = DecodeRequest(*raw_request, &call->request); !status.ok()) {
    call->Reply(status);
  } else {
    handler(call);
  }
  return call;
}

// The same for a handler that blocks (reads the store, or commits to it): it runs on the storage
// executor, never on a gRPC callback thread.
template <class Request, class Response, class Handler>
grpc::ServerUnaryReactor* ServeBlocking(const FrontDoorDependencies& deps,
                                        grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* raw_request,
                                        grpc::ByteBuffer* raw_response, Handler&& handler) {
  return Serve<Request, Response>(
      context, raw_request, raw_response,
      [&deps, handler = std::forward<Handler>(handler)](auto* call) mutable {
        deps.run_on_storage([call, handler]() mutable { handler(call); });
      });
}

// A call of the Messaging or Accounts API: API chaos (Simulator.SetApiChaos) may answer it with
// an error instead of `handler`, or late (a timer on the io_context, not a sleep). `service`
// and `method` are string literals.
template <class Request, class Response, class Handler>
grpc::ServerUnaryReactor* ServeApi(const FrontDoorDependencies& deps, std::string_view service,
                                   std::string_view method, grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* raw_request,
                                   grpc::ByteBuffer* raw_response, Handler&& handler) {
  return Serve<Request, Response>(
      context, raw_request, raw_response,
      [&deps, service, method, handler = std::forward<Handler>(handler)](auto* call) mutable {
        auto verdict = deps.chaos->Decide([&] { return ApiChaos::RpcName(service, method); });
        if (verdict.delay.count() == 0) {
          if (verdict.refusal) return call->Reply(*verdict.refusal);
          return handler(call);
        }
        auto timer = std::make_shared<boost::asio::steady_timer>(*deps.io, verdict.delay);
        timer->async_wait([timer, call, refusal = std::move(verdict.refusal),
                           handler](const boost::system::error_code&) mutable {
          if (refusal) return call->Reply(*refusal);
          handler(call);
        });
      });
}

// ServeApi for a handler that blocks: it runs on the storage executor.
template <class Request, class Response, class Handler>
grpc::ServerUnaryReactor* ServeApiBlocking(const FrontDoorDependencies& deps,
                                           std::string_view service, std::string_view method,
                                           grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* raw_request,
                                           grpc::ByteBuffer* raw_response, Handler&& handler) {
  return ServeApi<Request, Response>(
      deps, service, method, context, raw_request, raw_response,
      [&deps, handler = std::forward<Handler>(handler)](auto* call) mutable {
        deps.run_on_storage([call, handler]() mutable { handler(call); });
      });
}

// Streams events to one watcher. The bus callback and gRPC's completions meet in `State`, which
// outlives the reactor, so an event published while the call ends is dropped safely. Events are
// serialized as they are queued, so the queue holds bytes, not copies of messages.
class EventWatcher : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // Not `primed`: events are held back until Prime queues what must come first.
  // `on_done` runs once the stream is over (it releases the account's watcher slot).
  EventWatcher(EventBus& bus, EventFilter filter, bool primed, const WatchLimits& limits,
               std::function<void()> on_done)
      : bus_(bus), state_(std::make_shared<State>()), on_done_(std::move(on_done)) {
    state_->reactor = this;
    state_->primed = primed;
    state_->limits = limits;
    // Register first, then tell the client: a client that waits for the initial metadata sees
    // every event that follows.
    subscription_ = bus_.Subscribe(
        std::move(filter), [state = state_](const v1::Event& event) { Enqueue(state, event); },
        [state = state_] { Close(state); });
    StartSendInitialMetadata();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(state_->mutex);
    state_->queued_bytes -= state_->queue.front().Length();
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
      state_->queue.clear();
      state_->held.clear();
    }
    if (on_done_) on_done_();
    delete this;
  }

 private:
  struct State {
    std::mutex mutex;
    EventWatcher* reactor = nullptr;
    WatchLimits limits;
    std::deque<grpc::ByteBuffer> queue;
    // Bytes in `queue` and `held`: what a reader that stops reading costs.
    std::size_t queued_bytes = 0;
    // Until primed, published events wait in `held`.
    bool primed = true;
    std::vector<grpc::ByteBuffer> held;
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
  std::shared_ptr<State> state() const { return state_; }

  // Queues `initial` (the current states asked for), then the events held back meanwhile.
  static void Prime(const std::shared_ptr<State>& state, std::vector<v1::Event> initial) {
    std::vector<grpc::ByteBuffer> first;
    for (const auto& event : initial) {
      grpc::ByteBuffer bytes;
      bool own_buffer = false;
      if (grpc::SerializationTraits<v1::Event>::Serialize(event, &bytes, &own_buffer).ok()) {
        first.push_back(std::move(bytes));
      }
    }
    std::lock_guard lock(state->mutex);
    state->primed = true;
    for (auto& bytes : first) PushLocked(*state, std::move(bytes));
    std::vector<grpc::ByteBuffer> held = std::move(state->held);
    state->held.clear();
    for (auto& bytes : held) {
      state->queued_bytes -= bytes.Length();
      PushLocked(*state, std::move(bytes));
    }
  }

  // Ends the stream because the gateway is stopping, so shutdown need not wait for clients.
  static void Close(const std::shared_ptr<State>& state) {
    std::lock_guard lock(state->mutex);
    FinishLocked(*state, grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                      "the gateway is shutting down; reconnect after restart"));
  }

 private:
  static void Enqueue(const std::shared_ptr<State>& state, const v1::Event& event) {
    grpc::ByteBuffer bytes;
    bool own_buffer = false;
    if (!grpc::SerializationTraits<v1::Event>::Serialize(event, &bytes, &own_buffer).ok()) return;
    std::lock_guard lock(state->mutex);
    if (!state->primed) {
      if (OverLimitLocked(*state, bytes)) return;
      state->queued_bytes += bytes.Length();
      state->held.push_back(std::move(bytes));
      return;
    }
    PushLocked(*state, std::move(bytes));
  }

  // True (and the stream cut off with 20429, its queue freed) when queuing `bytes` would pass a
  // bound. The event being written stays: gRPC owns it until OnWriteDone. The client reads
  // what was already sent, then the status. `state.mutex` held.
  static bool OverLimitLocked(State& state, const grpc::ByteBuffer& bytes) {
    const std::size_t events = state.queue.size() + state.held.size();
    if (events < state.limits.max_queued_events &&
        state.queued_bytes + bytes.Length() <= state.limits.max_queued_bytes) {
      return false;
    }
    const std::string why = events >= state.limits.max_queued_events
                                ? std::to_string(events) + " events behind (--watch-max-lag " +
                                      std::to_string(state.limits.max_queued_events) + ")"
                                : std::to_string(state.queued_bytes) +
                                      " bytes of events behind (the limit is " +
                                      std::to_string(state.limits.max_queued_bytes) + " bytes)";
    while (state.queue.size() > (state.writing ? 1u : 0u)) {
      state.queued_bytes -= state.queue.back().Length();
      state.queue.pop_back();
    }
    state.held.clear();
    FinishLocked(state, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                     "20429: this watcher fell " + why +
                                         "; the events after that are not sent. Read faster, "
                                         "filter by SID, or watch again and GetMessage what "
                                         "you missed"));
    return true;
  }

  // `state.mutex` held.
  static void PushLocked(State& state, grpc::ByteBuffer bytes) {
    if (state.reactor == nullptr || state.finished) return;
    if (OverLimitLocked(state, bytes)) return;
    state.queued_bytes += bytes.Length();
    state.queue.push_back(std::move(bytes));
    if (!state.writing) {
      state.writing = true;
      state.reactor->StartWrite(&state.queue.front());
    }
  }

  EventBus& bus_;
  std::shared_ptr<State> state_;
  std::function<void()> on_done_;
  uint64_t subscription_ = 0;
};

// A stream refused before it started (bad credentials, an undecodable request).
class RefusedStream : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  RefusedStream(const absl::Status& status, grpc::CallbackServerContext* context) {
    Finish(ToGrpc(status, context));
  }
  void OnDone() override { delete this; }
};

using MessagingBase = v1::Messaging::WithRawCallbackMethod_SendMessage<
    v1::Messaging::WithRawCallbackMethod_GetMessage<
        v1::Messaging::WithRawCallbackMethod_ListMessages<
            v1::Messaging::WithRawCallbackMethod_ListMedia<
                v1::Messaging::WithRawCallbackMethod_RedactMessage<
                    v1::Messaging::WithRawCallbackMethod_CancelMessage<
                        v1::Messaging::WithRawCallbackMethod_WatchEvents<
                            v1::Messaging::Service>>>>>>>;

class MessagingService final : public MessagingBase {
 public:
  explicit MessagingService(const FrontDoorDependencies& deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override {
    return ServeApi<v1::SendMessageRequest, v1::Message>(
        deps_, "Messaging", "SendMessage", context, request, response,
        [this](auto* call) { HandleSendMessage(call); });
  }
  grpc::ServerUnaryReactor* GetMessage(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::GetMessageRequest, v1::Message>(
        deps_, "Messaging", "GetMessage", context, request, response,
        [this](auto* call) { HandleGetMessage(call); });
  }
  grpc::ServerUnaryReactor* ListMessages(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::ListMessagesRequest, v1::ListMessagesResponse>(
        deps_, "Messaging", "ListMessages", context, request, response,
        [this](auto* call) { HandleListMessages(call); });
  }
  grpc::ServerUnaryReactor* ListMedia(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::ListMediaRequest, v1::ListMediaResponse>(
        deps_, "Messaging", "ListMedia", context, request, response,
        [this](auto* call) { HandleListMedia(call); });
  }
  grpc::ServerUnaryReactor* RedactMessage(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::RedactMessageRequest, v1::Message>(
        deps_, "Messaging", "RedactMessage", context, request, response, [this](auto* call) {
          auto account = Authenticate(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          auto redacted = deps_.messages->Redact(account->sid(), call->request.sid());
          if (!redacted.ok()) return call->Reply(redacted.status());
          call->response = std::move(*redacted);
          call->Reply(absl::OkStatus());
        });
  }
  grpc::ServerUnaryReactor* CancelMessage(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::CancelMessageRequest, v1::Message>(
        deps_, "Messaging", "CancelMessage", context, request, response, [this](auto* call) {
          auto account = Authenticate(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          auto canceled = deps_.messages->Cancel(account->sid(), call->request.sid());
          if (!canceled.ok()) return call->Reply(canceled.status());
          call->response = std::move(*canceled);
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchEvents(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) override {
    v1::WatchEventsRequest request;
    if (auto status = DecodeRequest(*raw_request, &request); !status.ok()) {
      return new RefusedStream(status, context);
    }
    // A stream gets chaos's error, not its latency.
    if (auto verdict =
            deps_.chaos->Decide([] { return ApiChaos::RpcName("Messaging", "WatchEvents"); });
        verdict.refusal) {
      return new RefusedStream(*verdict.refusal, context);
    }
    auto account = Authenticate(deps_, context);
    if (!account.ok()) return new RefusedStream(account.status(), context);
    EventFilter filter;
    filter.account_sid = account->sid();
    filter.message_sids.insert(request.message_sids().begin(), request.message_sids().end());
    for (int i = 0; i < request.statuses_size(); ++i) {
      const int status = request.statuses(i);
      // (A number outside the enum was refused while decoding.)
      if (status == v1::MESSAGE_STATUS_UNSPECIFIED) {
        return new RefusedStream(
            ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                          "statuses[" + std::to_string(i) +
                              "] = 0 is not a message status; give ACCEPTED .. FAILED (or none "
                              "for every status)"),
            context);
      }
      filter.status_mask |= uint32_t{1} << status;
    }
    if (!TakeWatcherSlot(account->sid())) {
      return new RefusedStream(
          ProviderError(absl::StatusCode::kResourceExhausted, error_codes::kQueueFull,
                        "this account already has " +
                            std::to_string(deps_.watch_limits.max_per_account) +
                            " WatchEvents streams open (--max-watchers-per-account); close one, "
                            "or filter one stream by several SIDs"),
          context);
    }
    auto release = [this, account_sid = account->sid()] { ReleaseWatcherSlot(account_sid); };
    if (!request.send_current() || request.message_sids().empty()) {
      return new EventWatcher(*deps_.events, std::move(filter), /*primed=*/true, deps_.watch_limits,
                              std::move(release));
    }
    // The current states come from the store, read on the storage executor; events published
    // meanwhile wait in the watcher until those are queued, so the current states come first.
    EventFilter statuses;  // what the replay of current states keeps
    statuses.status_mask = filter.status_mask;
    auto* watcher = new EventWatcher(*deps_.events, std::move(filter), /*primed=*/false,
                                     deps_.watch_limits, std::move(release));
    std::vector<std::string> sids(request.message_sids().begin(), request.message_sids().end());
    deps_.run_on_storage([this, state = watcher->state(), account = *account,
                          sids = std::move(sids), statuses = std::move(statuses)] {
      std::vector<v1::Event> initial;
      for (const auto& sid : sids) {
        auto message = deps_.messages->Get(account.sid(), sid);
        if (!message.ok()) continue;
        if (!statuses.WantsStatus(message->status())) continue;
        v1::Event event;
        event.set_kind(v1::Event::STATUS_CHANGED);
        *event.mutable_message() = std::move(*message);
        initial.push_back(std::move(event));
      }
      EventWatcher::Prime(state, std::move(initial));
    });
    return watcher;
  }

 private:
  bool TakeWatcherSlot(const std::string& account_sid) {
    std::lock_guard lock(watchers_mutex_);
    int& open = watchers_per_account_[account_sid];
    if (open >= deps_.watch_limits.max_per_account) return false;
    ++open;
    return true;
  }
  void ReleaseWatcherSlot(const std::string& account_sid) {
    std::lock_guard lock(watchers_mutex_);
    if (--watchers_per_account_[account_sid] <= 0) watchers_per_account_.erase(account_sid);
  }

  void HandleSendMessage(UnaryCall<v1::SendMessageRequest, v1::Message>* call) {
    auto account = Authenticate(deps_, call->context());
    if (!account.ok()) return call->Reply(account.status());
    // The reply waits for the database writer's group commit without holding a gRPC thread.
    deps_.sender->Send(*account, call->request, [call](absl::StatusOr<v1::Message> result) {
      if (!result.ok()) return call->Reply(result.status());
      call->response = std::move(*result);
      call->Reply(absl::OkStatus());
    });
  }

  void HandleGetMessage(UnaryCall<v1::GetMessageRequest, v1::Message>* call) {
    auto account = Authenticate(deps_, call->context());
    if (!account.ok()) return call->Reply(account.status());
    auto message = deps_.messages->Get(account->sid(), call->request.sid());
    if (!message.ok()) return call->Reply(message.status());
    call->response = std::move(*message);
    call->Reply(absl::OkStatus());
  }

  void HandleListMessages(UnaryCall<v1::ListMessagesRequest, v1::ListMessagesResponse>* call) {
    auto account = Authenticate(deps_, call->context());
    if (!account.ok()) return call->Reply(account.status());
    auto page = deps_.messages->List(account->sid(), call->request);
    if (!page.ok()) return call->Reply(page.status());
    call->response = std::move(*page);
    call->Reply(absl::OkStatus());
  }

  void HandleListMedia(UnaryCall<v1::ListMediaRequest, v1::ListMediaResponse>* call) {
    auto account = Authenticate(deps_, call->context());
    if (!account.ok()) return call->Reply(account.status());
    auto message =
        deps_.messages->Get(account->sid(), call->request.message_sid(), /*with_attempts=*/false);
    if (!message.ok()) return call->Reply(message.status());
    for (const auto& media : message->media()) *call->response.add_media() = media;
    call->Reply(absl::OkStatus());
  }

  const FrontDoorDependencies& deps_;
  std::mutex watchers_mutex_;
  std::unordered_map<std::string, int> watchers_per_account_;  // guarded by watchers_mutex_
};

using SimulatorBase = v1::Simulator::WithRawCallbackMethod_UpsertCarrier<
    v1::Simulator::WithRawCallbackMethod_ListCarriers<
        v1::Simulator::WithRawCallbackMethod_SetCarrierFault<
            v1::Simulator::WithRawCallbackMethod_SendFromHandset<
                v1::Simulator::WithRawCallbackMethod_GetHandsetInbox<
                    v1::Simulator::WithRawCallbackMethod_GetClock<
                        v1::Simulator::WithRawCallbackMethod_SetOutcomeRules<
                            v1::Simulator::WithRawCallbackMethod_SetApiChaos<
                                v1::Simulator::WithRawCallbackMethod_GetApiChaos<
                                    v1::Simulator::WithRawCallbackMethod_Reset<
                                        v1::Simulator::Service>>>>>>>>>>;

class SimulatorService final : public SimulatorBase {
 public:
  explicit SimulatorService(const FrontDoorDependencies& deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* UpsertCarrier(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override {
    return Serve<v1::UpsertCarrierRequest, v1::CarrierState>(
        context, request, response, [this](auto* call) { HandleUpsertCarrier(call); });
  }
  grpc::ServerUnaryReactor* SetCarrierFault(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override {
    return Serve<v1::SetCarrierFaultRequest, v1::CarrierState>(
        context, request, response, [this](auto* call) { HandleSetCarrierFault(call); });
  }
  grpc::ServerUnaryReactor* ListCarriers(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override {
    return Serve<v1::ListCarriersRequest, v1::ListCarriersResponse>(
        context, request, response, [this](auto* call) { HandleListCarriers(call); });
  }
  grpc::ServerUnaryReactor* SendFromHandset(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override {
    return Serve<v1::HandsetSend, v1::Message>(context, request, response,
                                               [this](auto* call) { HandleSendFromHandset(call); });
  }
  grpc::ServerUnaryReactor* GetHandsetInbox(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override {
    return Serve<v1::GetHandsetInboxRequest, v1::HandsetInbox>(
        context, request, response, [this](auto* call) { HandleGetHandsetInbox(call); });
  }

  grpc::ServerUnaryReactor* SetOutcomeRules(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override {
    return Serve<v1::OutcomeRules, v1::OutcomeRules>(
        context, request, response, [this](auto* call) {
          if (auto status = AuthorizeCarrierControl(deps_, call->context()); !status.ok()) {
            return call->Reply(status);
          }
          for (int i = 0; i < call->request.rules_size(); ++i) {
            if (auto status = carriers::ValidateOutcomeRule(call->request.rules(i), i);
                !status.ok()) {
              return call->Reply(status);  // nothing changed
            }
          }
          deps_.fleet->outcome_rules().Set(
              {call->request.rules().begin(), call->request.rules().end()});
          for (auto& rule : deps_.fleet->outcome_rules().Get()) {
            *call->response.add_rules() = std::move(rule);
          }
          call->Reply(absl::OkStatus());
        });
  }
  grpc::ServerUnaryReactor* SetApiChaos(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override {
    return Serve<v1::ApiChaos, v1::ApiChaosList>(context, request, response, [this](auto* call) {
      if (auto status = AuthorizeCarrierControl(deps_, call->context()); !status.ok()) {
        return call->Reply(status);
      }
      auto active = deps_.chaos->Set(call->request);
      if (!active.ok()) return call->Reply(active.status());
      for (auto& item : *active) *call->response.add_chaos() = std::move(item);
      call->Reply(absl::OkStatus());
    });
  }
  grpc::ServerUnaryReactor* Reset(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response) override {
    return ServeBlocking<v1::ResetRequest, v1::ResetResponse>(
        deps_, context, request, response, [this](auto* call) {
          if (auto status = AuthorizeCarrierControl(deps_, call->context()); !status.ok()) {
            return call->Reply(status);
          }
          auto reset = deps_.reset();
          if (!reset.ok()) return call->Reply(reset.status());
          call->response = std::move(*reset);
          call->Reply(absl::OkStatus());
        });
  }
  grpc::ServerUnaryReactor* GetApiChaos(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override {
    return Serve<v1::GetApiChaosRequest, v1::ApiChaosList>(
        context, request, response, [this](auto* call) {
          if (auto account = Authenticate(deps_, call->context()); !account.ok()) {
            return call->Reply(account.status());
          }
          for (auto& item : deps_.chaos->List()) *call->response.add_chaos() = std::move(item);
          call->Reply(absl::OkStatus());
        });
  }
  grpc::ServerUnaryReactor* GetClock(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override {
    return Serve<v1::GetClockRequest, v1::SimulationClock>(
        context, request, response, [this](auto* call) { HandleGetClock(call); });
  }

 private:
  void HandleGetClock(UnaryCall<v1::GetClockRequest, v1::SimulationClock>* call) {
    using google::protobuf::util::TimeUtil;
    *call->response.mutable_now() =
        TimeUtil::NanosecondsToTimestamp(ToNanoseconds(deps_.clock->Now()));
    call->response.set_time_scale(deps_.clock->time_scale());
    *call->response.mutable_started() =
        TimeUtil::NanosecondsToTimestamp(ToNanoseconds(deps_.clock->started()));
    call->Reply(absl::OkStatus());
  }

  void HandleUpsertCarrier(UnaryCall<v1::UpsertCarrierRequest, v1::CarrierState>* call) {
    if (auto status = AuthorizeCarrierControl(deps_, call->context()); !status.ok()) {
      return call->Reply(status);
    }
    v1::Scenario probe;
    auto* account = probe.add_accounts();
    account->set_sid("AC00000000000000000000000000000000");
    account->set_auth_token("placeholder");
    *probe.add_carriers() = call->request.carrier();
    // Reuse the scenario checks so a carrier is valid the same way at start and at run time.
    if (auto status = ValidateScenario(probe); !status.ok()) {
      return call->Reply(ProviderError(absl::StatusCode::kInvalidArgument,
                                       error_codes::kInvalidParameter,
                                       std::string(status.message())));
    }
    deps_.fleet->Upsert(call->request.carrier());
    for (auto& state : deps_.fleet->States()) {
      if (state.carrier().id() == call->request.carrier().id()) call->response = std::move(state);
    }
    call->Reply(absl::OkStatus());
  }

  void HandleSetCarrierFault(UnaryCall<v1::SetCarrierFaultRequest, v1::CarrierState>* call) {
    if (auto status = AuthorizeCarrierControl(deps_, call->context()); !status.ok()) {
      return call->Reply(status);
    }
    const auto& fault = call->request.fault();
    if (auto status = ValidateFault(fault); !status.ok()) {
      return call->Reply(ProviderError(absl::StatusCode::kInvalidArgument,
                                       error_codes::kInvalidParameter,
                                       std::string(status.message())));
    }
    const std::string& carrier_id = call->request.carrier_id();
    if (auto status = deps_.fleet->SetFault(carrier_id, fault); !status.ok()) {
      return call->Reply(status);
    }
    if (auto node = deps_.fleet->Node(carrier_id)) call->response = node->State();
    call->Reply(absl::OkStatus());
  }

  void HandleListCarriers(UnaryCall<v1::ListCarriersRequest, v1::ListCarriersResponse>* call) {
    // Reading the carriers' state is open to every account: it changes nothing.
    if (auto account = Authenticate(deps_, call->context()); !account.ok()) {
      return call->Reply(account.status());
    }
    for (auto& state : deps_.fleet->States()) {
      *call->response.add_carriers() = std::move(state);
    }
    call->Reply(absl::OkStatus());
  }

  void HandleSendFromHandset(UnaryCall<v1::HandsetSend, v1::Message>* call) {
    auto account = Authenticate(deps_, call->context());
    if (!account.ok()) return call->Reply(account.status());
    if (!deps_.authority->SeesAllHandsets(AdminToken(call->context()))) {
      // Only to the caller's own numbers; another account's answers as a number nobody owns.
      const auto number = deps_.directory->FindNumber(call->request.to());
      if (number && number->account_sid() != account->sid()) {
        return call->Reply(deps_.inbound->NotAProviderNumber(call->request.to()));
      }
    }
    deps_.inbound->Receive(call->request, [call](absl::StatusOr<v1::Message> got) {
      if (!got.ok()) return call->Reply(got.status());
      call->response = std::move(*got);
      call->Reply(absl::OkStatus());
    });
  }

  void HandleGetHandsetInbox(UnaryCall<v1::GetHandsetInboxRequest, v1::HandsetInbox>* call) {
    auto account = Authenticate(deps_, call->context());
    if (!account.ok()) return call->Reply(account.status());
    const bool everything = deps_.authority->SeesAllHandsets(AdminToken(call->context()));
    std::string number = call->request.number();
    if (auto parsed = carriers::ParseValidNumber(number)) number = parsed->e164;
    deps_.handsets->ReadInbox(number, [this, call, everything,
                                       account_sid = account->sid()](v1::HandsetInbox inbox) {
      if (everything) {
        call->response = std::move(inbox);
        return call->Reply(absl::OkStatus());
      }
      // Only what this account sent: each entry's message is looked up in the store, which
      // answers NotFound for another account's SID.
      deps_.run_on_storage([this, call, account_sid, inbox = std::move(inbox)]() mutable {
        call->response.set_number(inbox.number());
        for (auto& entry : *inbox.mutable_messages()) {
          if (deps_.messages->Get(account_sid, entry.message_sid(), /*with_attempts=*/false).ok()) {
            *call->response.add_messages() = std::move(entry);
          }
        }
        call->Reply(absl::OkStatus());
      });
    });
  }

  const FrontDoorDependencies& deps_;
};

using ServiceMethods = v1::Accounts::WithRawCallbackMethod_CreateMessagingService<
    v1::Accounts::WithRawCallbackMethod_ListMessagingServices<
        v1::Accounts::WithRawCallbackMethod_AddServiceNumber<
            v1::Accounts::WithRawCallbackMethod_RemoveServiceNumber<
                v1::Accounts::WithRawCallbackMethod_DeleteMessagingService<
                    v1::Accounts::Service>>>>>;

using AccountsBase = v1::Accounts::WithRawCallbackMethod_CreateAccount<
    v1::Accounts::WithRawCallbackMethod_ResetAccount<v1::Accounts::WithRawCallbackMethod_GetAccount<
        v1::Accounts::WithRawCallbackMethod_UpdateAccountSettings<
            v1::Accounts::WithRawCallbackMethod_ListNumbers<
                v1::Accounts::WithRawCallbackMethod_ProvisionNumber<
                    v1::Accounts::WithRawCallbackMethod_UpdateNumber<
                        v1::Accounts::WithRawCallbackMethod_EnableShortCodeMms<
                            v1::Accounts::WithRawCallbackMethod_ReleaseNumber<
                                v1::Accounts::WithRawCallbackMethod_GetUsage<
                                    v1::Accounts::WithRawCallbackMethod_ListOptOuts<
                                        v1::Accounts::WithRawCallbackMethod_SetOptOut<
                                            ServiceMethods>>>>>>>>>>>>;

class AccountsService final : public AccountsBase {
 public:
  explicit AccountsService(const FrontDoorDependencies& deps) : deps_(deps) {}

  grpc::ServerUnaryReactor* CreateAccount(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::CreateAccountRequest, v1::CreateAccountResponse>(
        deps_, "Accounts", "CreateAccount", context, request, response, [this](auto* call) {
          // No account credentials: the caller has no account yet.
          if (auto status = deps_.authority->AuthorizeAccountCreation(AdminToken(call->context()));
              !status.ok()) {
            return call->Reply(status);
          }
          auto created = deps_.directory->CreateAccount(call->request.friendly_name(),
                                                        call->request.provision_defaults());
          if (!created.ok()) return call->Reply(created.status());
          call->response = std::move(*created);
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* ResetAccount(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::ResetAccountRequest, v1::ResetAccountResponse>(
        deps_, "Accounts", "ResetAccount", context, request, response, [this](auto* call) {
          auto account = AuthorizeAccountChange(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          auto reset = deps_.reset_account(account->sid());
          if (!reset.ok()) return call->Reply(reset.status());
          call->response = std::move(*reset);
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* GetAccount(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override {
    return ServeApi<v1::GetAccountRequest, v1::Account>(
        deps_, "Accounts", "GetAccount", context, request, response, [this](auto* call) {
          auto account = Authenticate(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          call->response = std::move(*account);
          call->response.clear_auth_token();
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* UpdateAccountSettings(grpc::CallbackServerContext* context,
                                                  const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::UpdateAccountSettingsRequest, v1::Account>(
        deps_, "Accounts", "UpdateAccountSettings", context, request, response, [this](auto* call) {
          auto account = AuthorizeAccountChange(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          auto updated =
              deps_.directory->SetAccountSettings(account->sid(), call->request.settings());
          if (!updated.ok()) return call->Reply(updated.status());
          call->response = std::move(*updated);
          call->response.clear_auth_token();
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* ListNumbers(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override {
    return ServeApi<v1::ListNumbersRequest, v1::ListNumbersResponse>(
        deps_, "Accounts", "ListNumbers", context, request, response, [this](auto* call) {
          auto account = Authenticate(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          for (auto& number : deps_.directory->NumbersOf(account->sid())) {
            *call->response.add_numbers() = std::move(number);
          }
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* ProvisionNumber(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::ProvisionNumberRequest, v1::Number>(
        deps_, "Accounts", "ProvisionNumber", context, request, response, [this](auto* call) {
          auto account = AuthorizeAccountChange(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          auto number = deps_.directory->Provision(account->sid(), call->request.number());
          if (!number.ok()) return call->Reply(number.status());
          call->response = std::move(*number);
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* UpdateNumber(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::UpdateNumberRequest, v1::Number>(
        deps_, "Accounts", "UpdateNumber", context, request, response, [this](auto* call) {
          auto account = AuthorizeAccountChange(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          const auto& update = call->request;
          auto number = deps_.directory->UpdateWebhooks(account->sid(), update.number(),
                                                        update.sms_url(), update.status_callback());
          if (!number.ok()) return call->Reply(number.status());
          call->response = std::move(*number);
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* EnableShortCodeMms(grpc::CallbackServerContext* context,
                                               const grpc::ByteBuffer* request,
                                               grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::EnableShortCodeMmsRequest, v1::Number>(
        deps_, "Accounts", "EnableShortCodeMms", context, request, response, [this](auto* call) {
          auto account = AuthorizeAccountChange(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          auto number = deps_.directory->EnableShortCodeMms(account->sid(), call->request.number());
          if (!number.ok()) return call->Reply(number.status());
          call->response = std::move(*number);
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* ReleaseNumber(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::ReleaseNumberRequest, v1::ReleaseNumberResponse>(
        deps_, "Accounts", "ReleaseNumber", context, request, response, [this](auto* call) {
          auto account = AuthorizeAccountChange(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          call->Reply(deps_.directory->Release(account->sid(), call->request.number()));
        });
  }

  grpc::ServerUnaryReactor* GetUsage(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::GetUsageRequest, v1::Usage>(
        deps_, "Accounts", "GetUsage", context, request, response, [this](auto* call) {
          auto account = Authenticate(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          call->response = deps_.directory->Usage(account->sid());
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* ListOptOuts(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override {
    return ServeApi<v1::ListOptOutsRequest, v1::ListOptOutsResponse>(
        deps_, "Accounts", "ListOptOuts", context, request, response, [this](auto* call) {
          auto account = Authenticate(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          for (auto& opt_out : deps_.directory->OptOutsOf(account->sid(), call->request.number(),
                                                          call->request.subscriber())) {
            *call->response.add_opt_outs() = std::move(opt_out);
          }
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* CreateMessagingService(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::MessagingService, v1::MessagingService>(
        deps_, "Accounts", "CreateMessagingService", context, request, response,
        [this](auto* call) {
          auto account = AuthorizeAccountChange(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          auto created = deps_.directory->CreateService(account->sid(), call->request);
          if (!created.ok()) return call->Reply(created.status());
          call->response = std::move(*created);
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* ListMessagingServices(grpc::CallbackServerContext* context,
                                                  const grpc::ByteBuffer* request,
                                                  grpc::ByteBuffer* response) override {
    return ServeApi<v1::ListMessagingServicesRequest, v1::ListMessagingServicesResponse>(
        deps_, "Accounts", "ListMessagingServices", context, request, response, [this](auto* call) {
          auto account = Authenticate(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          for (auto& service : deps_.directory->ServicesOf(account->sid())) {
            *call->response.add_services() = std::move(service);
          }
          call->Reply(absl::OkStatus());
        });
  }

  grpc::ServerUnaryReactor* AddServiceNumber(grpc::CallbackServerContext* context,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override {
    return ChangeServiceNumber(context, request, response, /*add=*/true);
  }
  grpc::ServerUnaryReactor* RemoveServiceNumber(grpc::CallbackServerContext* context,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response) override {
    return ChangeServiceNumber(context, request, response, /*add=*/false);
  }

  grpc::ServerUnaryReactor* DeleteMessagingService(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::DeleteMessagingServiceRequest, v1::DeleteMessagingServiceResponse>(
        deps_, "Accounts", "DeleteMessagingService", context, request, response,
        [this](auto* call) {
          auto account = AuthorizeAccountChange(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          call->Reply(deps_.directory->DeleteService(account->sid(),
                                                     call->request.messaging_service_sid()));
        });
  }

  grpc::ServerUnaryReactor* SetOptOut(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override {
    return ServeApiBlocking<v1::SetOptOutRequest, v1::OptOut>(
        deps_, "Accounts", "SetOptOut", context, request, response, [this](auto* call) {
          auto account = AuthorizeAccountChange(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          const auto& change = call->request;
          auto opt_out = deps_.directory->SetOptOut(
              account->sid(), change.number(), change.messaging_service_sid(), change.subscriber(),
              change.opted_out(), "api", ToNanoseconds(deps_.clock->Now()));
          if (!opt_out.ok()) return call->Reply(opt_out.status());
          call->response = std::move(*opt_out);
          call->Reply(absl::OkStatus());
        });
  }

 private:
  grpc::ServerUnaryReactor* ChangeServiceNumber(grpc::CallbackServerContext* context,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response, bool add) {
    return ServeApiBlocking<v1::ServiceNumberRequest, v1::MessagingService>(
        deps_, "Accounts", add ? "AddServiceNumber" : "RemoveServiceNumber", context, request,
        response, [this, add](auto* call) {
          auto account = AuthorizeAccountChange(deps_, call->context());
          if (!account.ok()) return call->Reply(account.status());
          const auto& change = call->request;
          auto changed = add ? deps_.directory->AddServiceNumber(
                                   account->sid(), change.messaging_service_sid(), change.number())
                             : deps_.directory->RemoveServiceNumber(
                                   account->sid(), change.messaging_service_sid(), change.number());
          if (!changed.ok()) return call->Reply(changed.status());
          call->response = std::move(*changed);
          call->Reply(absl::OkStatus());
        });
  }

  const FrontDoorDependencies& deps_;
};

}  // namespace

// Connections are accepted by a TcpAcceptor and handed to gRPC as file descriptors, so that
// running out of descriptors is survivable (gRPC's own accept loop is not: grpc/grpc#20418).
// `server` is read by the acceptor's callback; `mutex` keeps Shutdown from resetting it while a
// connection is being handed over.
struct GrpcFrontDoor::Impl {
  FrontDoorDependencies deps;
  std::unique_ptr<MessagingService> messaging;
  std::unique_ptr<SimulatorService> simulator;
  std::unique_ptr<AccountsService> accounts;
  std::mutex mutex;
  std::unique_ptr<grpc::Server> server;  // guarded by mutex
  std::shared_ptr<TcpAcceptor> acceptor;
  int port = 0;

  // On the acceptor's strand.
  void HandOver(boost::asio::ip::tcp::socket socket) {
    boost::system::error_code ec;
    // What gRPC's own accept path sets: without TCP_NODELAY small replies wait for Nagle.
    socket.set_option(boost::asio::ip::tcp::no_delay(true), ec);
    socket.non_blocking(true, ec);
    std::lock_guard lock(mutex);
    if (!server) return;  // shutting down: `socket` closes on return
    const int fd = socket.release(ec);
    if (ec) return;
    grpc::AddInsecureChannelFromFd(server.get(), fd);
  }
};

absl::StatusOr<std::unique_ptr<GrpcFrontDoor>> GrpcFrontDoor::Start(
    const std::string& address, FrontDoorDependencies dependencies) {
  const auto colon = address.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      port = std::stoi(address.substr(colon + 1));
    } catch (const std::exception&) {
    }
  }
  if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535) {
    return absl::InvalidArgumentError("--grpc " + address + " is not HOST:PORT");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // [::1]
  }

  auto impl = std::make_unique<Impl>();
  impl->deps = std::move(dependencies);
  impl->messaging = std::make_unique<MessagingService>(impl->deps);
  impl->simulator = std::make_unique<SimulatorService>(impl->deps);
  impl->accounts = std::make_unique<AccountsService>(impl->deps);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  // Slow and idle clients: a connection may carry this many calls at once (a client opening
  // more waits for a slot rather than making the server hold unbounded streams); the server
  // pings a connection quiet for a minute and drops it if the ping goes unanswered for 20 s (a
  // vanished client's WatchEvents streams end); a connection with no call for 30 minutes is
  // closed (clients reconnect by themselves); and clients may keep alive every 10 s.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 30 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  builder.RegisterService(impl->messaging.get());
  builder.RegisterService(impl->simulator.get());
  builder.RegisterService(impl->accounts.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server) return absl::InternalError("cannot start the gRPC server");

  Impl* raw = impl.get();
  auto acceptor = TcpAcceptor::Listen(
      *impl->deps.io, host, static_cast<uint16_t>(port),
      [raw](boost::asio::ip::tcp::socket socket) { raw->HandOver(std::move(socket)); },
      [address](const std::string& reason) {
        spdlog::error(
            "gRPC listener {}: cannot accept ({}); retrying every 100 ms until "
            "descriptors are free",
            address, reason);
      });
  if (!acceptor.ok()) {
    impl->server->Shutdown();
    return absl::UnavailableError("cannot listen for gRPC on " + address + " (" +
                                  std::string(acceptor.status().message()) +
                                  "); pick another with --grpc");
  }
  impl->acceptor = std::move(*acceptor);
  impl->port = impl->acceptor->local_endpoint().port();
  return std::unique_ptr<GrpcFrontDoor>(new GrpcFrontDoor(std::move(impl)));
}

GrpcFrontDoor::GrpcFrontDoor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcFrontDoor::~GrpcFrontDoor() { Shutdown(std::chrono::milliseconds(0)); }

int GrpcFrontDoor::port() const { return impl_->port; }

void GrpcFrontDoor::Shutdown(std::chrono::milliseconds grace) {
  if (impl_->acceptor) impl_->acceptor->Stop();
  std::unique_ptr<grpc::Server> server;
  {
    std::lock_guard lock(impl_->mutex);
    server = std::move(impl_->server);
  }
  if (!server) return;
  server->Shutdown(std::chrono::system_clock::now() + grace);
  server->Wait();
}

}  // namespace mmsgate::gateway
