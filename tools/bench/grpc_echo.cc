// grpc_echo: the reference for gRPC admission figures (tools/bench.sh). A bare gRPC server on
// the callback API that serves Messaging.SendMessage by answering every call at once with the
// same --response-bytes bytes (the size of mmsgate's answer), without reading the request. What
// it costs per call is what gRPC itself costs: mmsgate's admission is measured against it with
// the same client (grpc_replay) in the same run.

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <string>

#include "mmsgate/v1/messaging.grpc.pb.h"

namespace {

class EchoMessaging final : public mmsgate::v1::Messaging::WithRawCallbackMethod_SendMessage<
                                mmsgate::v1::Messaging::Service> {
 public:
  explicit EchoMessaging(std::size_t response_bytes) {
    const std::string bytes(response_bytes, 'x');
    grpc::Slice slice(bytes);
    response_ = grpc::ByteBuffer(&slice, 1);
  }

  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* /*request*/,
                                        grpc::ByteBuffer* response) override {
    *response = response_;  // Shares the slice: no copy of the bytes.
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  grpc::ByteBuffer response_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1:0";
  std::size_t response_bytes = 200;
  CLI::App app{"grpc_echo: a bare callback-API gRPC server answering Messaging.SendMessage"};
  app.add_option("--address", address, "listen address HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--response-bytes", response_bytes, "size of every answer")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  EchoMessaging service(response_bytes);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "grpc_echo: cannot listen on " << address << "\n";
    return 1;
  }
  std::cout << "grpc_echo ready port=" << port << std::endl;
  // Runs until killed (SIGTERM from tools/bench.sh).
  server->Wait();
  return 0;
}
