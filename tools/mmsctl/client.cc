#include "mmsctl/client.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/escaping.h"

namespace mmsctl {

namespace {

// The built-in scenario's account (gateway/config/scenario.cc), so that mmsctl works straight
// after tools/run.sh.
constexpr const char* kDefaultAddress = "127.0.0.1:50051";
constexpr const char* kDefaultAccountSid = "AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e";
constexpr const char* kDefaultAuthToken = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";

void FromEnvironment(std::string& value, const char* name, const char* fallback) {
  if (!value.empty()) return;
  if (const char* set = std::getenv(name); set != nullptr && *set != '\0') {
    value = set;
  } else {
    value = fallback;
  }
}

std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const auto index = static_cast<std::size_t>(code);
  return index < std::size(kNames) ? kNames[index] : "CODE_" + std::to_string(index);
}

}  // namespace

void ApplyDefaults(Target& target) {
  FromEnvironment(target.address, "MMSGATE_ADDR", kDefaultAddress);
  FromEnvironment(target.account_sid, "MMSGATE_ACCOUNT_SID", kDefaultAccountSid);
  FromEnvironment(target.auth_token, "MMSGATE_AUTH_TOKEN", kDefaultAuthToken);
  FromEnvironment(target.admin_token, "MMSGATE_ADMIN_TOKEN", "");
}

Client::Client(Target target) : target_(std::move(target)) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  channel_ = grpc::CreateCustomChannel(target_.address, grpc::InsecureChannelCredentials(), args);
  messaging_ = v1::Messaging::NewStub(channel_);
  simulator_ = v1::Simulator::NewStub(channel_);
  accounts_ = v1::Accounts::NewStub(channel_);
}

bool Client::Connect() {
  const auto deadline =
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(target_.timeout_seconds * 1000));
  if (channel_->WaitForConnected(deadline)) return true;
  std::cerr << "mmsctl: cannot connect to mmsgate at " << target_.address << " within "
            << target_.timeout_seconds
            << " s. Is it running (tools/run.sh)? Set the address with --addr or MMSGATE_ADDR.\n";
  return false;
}

std::unique_ptr<grpc::ClientContext> Client::Context(bool streaming) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", "Basic " + absl::Base64Escape(target_.account_sid + ":" +
                                                                      target_.auth_token));
  if (!target_.admin_token.empty()) context->AddMetadata("x-admin-token", target_.admin_token);
  if (!streaming) {
    context->set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(target_.timeout_seconds * 1000)));
  }
  return context;
}

int Fail(const std::string& what, const grpc::Status& status, const Target& target) {
  const std::string& message = status.error_message();
  // The gateway starts its messages with the provider code: "21211: 'To' is not ...".
  std::string code;
  for (char c : message) {
    if (c < '0' || c > '9') break;
    code += c;
  }
  if (code.empty() || message.size() <= code.size() || message[code.size()] != ':') code.clear();
  std::cerr << "mmsctl: " << what << ": ";
  if (!code.empty()) std::cerr << "error " << code << " ";
  std::cerr << "(" << CodeName(status.error_code()) << "): "
            << (code.empty() ? message : message.substr(std::min(message.size(), code.size() + 2)))
            << "\n";
  if (!code.empty()) std::cerr << "  see docs/errors.md#" << code << "\n";
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      std::cerr << "  is mmsgate running at " << target.address << "? (--addr, MMSGATE_ADDR)\n";
      return kExitNoConnection;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      std::cerr << "  check --account/--token (MMSGATE_ACCOUNT_SID, MMSGATE_AUTH_TOKEN) and, for "
                   "Simulator and Accounts calls on a gateway run with --admin-token, "
                   "--admin-token (MMSGATE_ADMIN_TOKEN)\n";
      return kExitAuth;
    default:
      return kExitRefused;
  }
}

}  // namespace mmsctl
