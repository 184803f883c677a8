// Running out of file descriptors is survivable: after a flood of idle connections has used up
// the process's open-file limit and gone away, both listeners accept new connections again.
// (gRPC's own accept loop never recovered from one EMFILE: grpc/grpc#20418.)

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/messaging.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;

// A connected, idle TCP socket to `host_port`, or -1.
int Connect(const std::string& host_port) {
  const auto colon = host_port.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
  inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &address.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendOneMessage(MmsgateProcess& gateway) {
  // A new channel, so a new TCP connection must be accepted.
  grpc::ChannelArguments arguments;
  arguments.SetInt("grpc.use_local_subchannel_pool", 1);
  auto channel = grpc::CreateCustomChannel(gateway.grpc_address(),
                                           grpc::InsecureChannelCredentials(), arguments);
  auto messaging = v1::Messaging::NewStub(channel);
  v1::SendMessageRequest request;
  request.set_from(kMmsLongCode);
  request.set_to(kUsMmsSubscriber);
  request.set_body("after the flood");
  v1::Message message;
  auto context = gateway.Context(/*deadline_seconds=*/2);
  return messaging->SendMessage(context.get(), request, &message).ok();
}

TEST(FdExhaustionTest, BothListenersAcceptAgainAfterTheDescriptorsRanOut) {
  // The test's own side of the flood needs more descriptors than the gateway has.
  rlimit own{};
  ::getrlimit(RLIMIT_NOFILE, &own);
  own.rlim_cur = own.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &own);

  MmsgateProcess::Options options;
  options.scenario_text = TestScenario();
  options.max_open_files = 256;
  auto gateway = MmsgateProcess::Start(options);
  ASSERT_TRUE(SendOneMessage(*gateway));

  // Idle connections to both ports, more than the gateway can hold open.
  std::vector<int> flood;
  for (int i = 0; i < 300; ++i) {
    if (int fd = Connect(gateway->http_address()); fd >= 0) flood.push_back(fd);
    if (int fd = Connect(gateway->grpc_address()); fd >= 0) flood.push_back(fd);
  }
  // Wait (bounded) until the gateway has run into its limit, as its log says.
  for (int i = 0; i < 100 && gateway->Log().find("cannot accept") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(gateway->Log(), ::testing::HasSubstr("cannot accept"));
  for (int fd : flood) ::close(fd);

  // Bounded waits for what must happen; the machine's speed decides only how soon.
  bool grpc_ok = false;
  for (int i = 0; i < 30 && !grpc_ok; ++i) grpc_ok = SendOneMessage(*gateway);
  EXPECT_TRUE(grpc_ok) << "gRPC never accepted again; log:\n" << gateway->Log();
  bool http_ok = false;
  for (int i = 0; i < 30 && !http_ok; ++i) {
    try {
      http_ok = HttpRequestTo(gateway->http_address(), "GET", "/healthz").status == 200;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  EXPECT_TRUE(http_ok);
  // The start-up log says what the limits are.
  EXPECT_THAT(gateway->Log(), ::testing::HasSubstr("open files"));
}

}  // namespace
}  // namespace mmsgate::testing
