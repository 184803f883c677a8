#pragma once
// mmsctl's connection to a gateway: address and credentials (flags, then the environment, then
// the built-in scenario's defaults), call contexts, and what a failed call means for the exit
// code and the message on stderr.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsctl {

namespace v1 = mmsgate::v1;

// Exit codes scripts can rely on (docs/mmsctl.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;  // the gateway refused the request (its code printed)
inline constexpr int kExitUsage = 2;    // bad flags or arguments
inline constexpr int kExitNoConnection = 3;
inline constexpr int kExitAuth = 4;  // wrong account SID, auth token or admin token

struct Target {
  std::string address;      // MMSGATE_ADDR
  std::string account_sid;  // MMSGATE_ACCOUNT_SID
  std::string auth_token;   // MMSGATE_AUTH_TOKEN
  std::string admin_token;  // MMSGATE_ADMIN_TOKEN (only when the gateway runs --admin-token)
  double timeout_seconds = 10;
};

// Fills what the flags left empty from the environment, then from the built-in scenario.
void ApplyDefaults(Target& target);

class Client {
 public:
  explicit Client(Target target);

  // Waits for the connection; false (with the reason on stderr) if none within the timeout.
  bool Connect();

  // A context with the account's Basic credentials (and the admin token, if any) and a
  // deadline of the timeout; `streaming` contexts have no deadline.
  std::unique_ptr<grpc::ClientContext> Context(bool streaming = false) const;

  v1::Messaging::Stub& messaging() { return *messaging_; }
  v1::Simulator::Stub& simulator() { return *simulator_; }
  v1::Accounts::Stub& accounts() { return *accounts_; }
  const Target& target() const { return target_; }

 private:
  Target target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
  std::unique_ptr<v1::Accounts::Stub> accounts_;
};

// Prints "mmsctl: WHAT: CODE (GRPC_STATUS): message" and where docs/errors.md explains the code,
// and returns the exit code for the failure.
int Fail(const std::string& what, const grpc::Status& status, const Target& target);

}  // namespace mmsctl
