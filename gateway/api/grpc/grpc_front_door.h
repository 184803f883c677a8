#pragma once
// The gRPC front door: the Messaging, Simulator and Accounts services, health checking and
// server reflection. This header does not include gRPC, so only grpc_front_door.cc pays for it.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "mmsgate/v1/accounts.pb.h"
#include "mmsgate/v1/simulator.pb.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace mmsgate {
class Clock;
}  // namespace mmsgate

namespace mmsgate::carriers {
class CarrierFleet;
class Handsets;
}  // namespace mmsgate::carriers

namespace mmsgate::gateway {

class ApiChaos;
class Directory;
class EventBus;
class InboundHandler;
class Authority;
class MessageService;
class SendService;

// Bounds on WatchEvents, so a reader that stops reading cannot hold memory.
struct WatchLimits {
  // A stream this many events (or bytes of events) behind is cut off with 20429.
  std::size_t max_queued_events = 10000;
  std::size_t max_queued_bytes = 8u << 20;
  // Streams one account may hold open at once.
  int max_per_account = 16;
};

// What the services use. Threading rule: a call that would block (a store read, a directory
// change that commits) is posted to `storage_executor`; nothing blocks a gRPC callback thread.
struct FrontDoorDependencies {
  // Runs the listener that accepts gRPC connections.
  boost::asio::io_context* io = nullptr;
  // Where blocking work runs (a thread pool's executor).
  std::function<void(std::function<void()>)> run_on_storage;
  Directory* directory = nullptr;
  SendService* sender = nullptr;
  MessageService* messages = nullptr;
  EventBus* events = nullptr;
  carriers::CarrierFleet* fleet = nullptr;
  carriers::Handsets* handsets = nullptr;
  InboundHandler* inbound = nullptr;
  // The simulation clock (Simulator.GetClock).
  const Clock* clock = nullptr;
  // Who may control carriers, change accounts and see which handsets (the admin token).
  const Authority* authority = nullptr;
  // Simulator.SetApiChaos; consulted before every Messaging and Accounts call.
  ApiChaos* chaos = nullptr;
  // Simulator.Reset: the whole gateway back to its scenario. Blocking (storage executor).
  std::function<absl::StatusOr<mmsgate::v1::ResetResponse>()> reset;
  // Accounts.ResetAccount: one account's data gone. Blocking (storage executor).
  std::function<absl::StatusOr<mmsgate::v1::ResetAccountResponse>(const std::string&)>
      reset_account;
  WatchLimits watch_limits;
};

class GrpcFrontDoor {
 public:
  // Starts serving on `address` ("127.0.0.1:0" picks a free port).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<GrpcFrontDoor>> Start(
      const std::string& address, FrontDoorDependencies dependencies);
  ~GrpcFrontDoor();

  // The port actually bound.
  int port() const;

  // Stops accepting calls and cancels open streams after `grace`. Blocks: call from a thread
  // that is not serving gRPC or the io_context.
  void Shutdown(std::chrono::milliseconds grace);

 private:
  struct Impl;
  explicit GrpcFrontDoor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmsgate::gateway
