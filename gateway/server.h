#pragma once
// The gateway, assembled: the composition root. It builds every component from one validated
// Settings, in dependency order, opens the listeners, resumes what was unfinished, and stops it
// all in reverse. Nothing is configured after construction.
//
// Threads it owns: the io_context's threads (strands of messages, carriers, senders, the HTTP
// connections), the storage executor (blocking store work), the database's writer, and gRPC's
// own. The threading rule every component follows: nothing blocks an io_context or gRPC
// callback thread.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/config/settings.h"

namespace mmsgate::gateway {

class Server {
 public:
  // Opens the data directory, builds everything, resumes unfinished messages and starts
  // serving. The error says what failed (a busy data directory, an address in use, …).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Server>> Start(Settings settings);
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // "HOST:PORT" actually bound.
  const std::string& grpc_address() const;
  const std::string& http_address() const;
  // The first account of the scenario (printed at start, per the process contract).
  const mmsgate::v1::Account& default_account() const;

  // Blocks until SIGTERM or SIGINT; returns the signal.
  int WaitForSignal();

  // Stops taking work, lets replies in flight go out, stops the simulation and closes the store.
  // Accepted messages are durable already; those still with a carrier resume at the next start.
  // Idempotent; the destructor calls it.
  void Stop();

 private:
  struct Parts;
  explicit Server(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace mmsgate::gateway
