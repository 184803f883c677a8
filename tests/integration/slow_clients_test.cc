// Slow and idle clients cannot starve the others: a slowloris is cut off by the header timeout,
// one client address can hold only so many connections, an idle keep-alive connection expires,
// and a media server that accepts and never answers fails that send at the fetch timeout.
//
// The attackers connect from other loopback addresses (127.0.0.2, 127.0.0.3) than the normal
// client (127.0.0.1), as they would from other hosts. Nothing here judges how fast the machine
// is: waits are bounded polls that pass as soon as the expected state is reached.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/messaging.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;

void RaiseOwnOpenFileLimit() {
  rlimit own{};
  ::getrlimit(RLIMIT_NOFILE, &own);
  own.rlim_cur = own.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &own);
}

sockaddr_in Address(const std::string& ip, int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &address.sin_addr);
  return address;
}

// A TCP connection from `source_ip` to "HOST:PORT", or -1.
int ConnectFrom(const std::string& source_ip, const std::string& host_port) {
  const auto colon = host_port.rfind(':');
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in source = Address(source_ip, 0);
  sockaddr_in destination =
      Address(host_port.substr(0, colon), std::stoi(host_port.substr(colon + 1)));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&destination), sizeof destination) != 0) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Whether the server has closed `fd` (EOF or reset), without waiting.
bool ClosedByServer(int fd) {
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

int CountClosed(const std::vector<int>& fds) {
  int closed = 0;
  for (int fd : fds) closed += ClosedByServer(fd) ? 1 : 0;
  return closed;
}

// Polls `done` every 50 ms for at most `limit`.
template <typename Predicate>
bool WaitFor(Predicate done, std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto give_up = SteadyClock::now() + limit;
  while (!done()) {
    if (SteadyClock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void CloseAll(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

std::string MessagesPath() {
  return std::string("/2010-04-01/Accounts/") + kAccountSid + "/Messages.json";
}

std::map<std::string, std::string> RestHeaders() {
  return {
      {"Authorization", "Basic " + absl::Base64Escape(std::string(kAccountSid) + ":" + kAuthToken)},
      {"Content-Type", "application/x-www-form-urlencoded"}};
}

// The gauge `name` from /metrics, or -1.
double MetricValue(const std::string& http_address, const std::string& name) {
  const auto response = HttpRequestTo(http_address, "GET", "/metrics");
  const auto at = response.body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(response.body.substr(at + name.size() + 2));
}

TEST(SlowClientsTest, SlowlorisAndIdleFloodsDoNotStopANormalClient) {
  RaiseOwnOpenFileLimit();
  MmsgateProcess::Options options;
  options.scenario_text = TestScenario(0);
  options.extra_args = {"--http-header-timeout-ms", "3000", "--http-max-connections-per-address",
                        "500"};
  auto gateway = MmsgateProcess::Start(options);

  // 2,000 idle connections from one address: the first 500 are held, the rest closed on accept.
  std::vector<int> idle;
  for (int i = 0; i < 2000; ++i) {
    if (int fd = ConnectFrom("127.0.0.3", gateway->http_address()); fd >= 0) idle.push_back(fd);
  }
  ASSERT_EQ(idle.size(), 2000u) << "the test could not open its idle connections";
  // 200 slowloris connections from another address, each sending its header a byte a second.
  std::vector<int> slowloris;
  for (int i = 0; i < 200; ++i) {
    if (int fd = ConnectFrom("127.0.0.2", gateway->http_address()); fd >= 0) {
      slowloris.push_back(fd);
    }
  }
  ASSERT_EQ(slowloris.size(), 200u);
  std::atomic<bool> trickling{true};
  std::thread trickle([&] {
    const std::string header = "POST " + MessagesPath() + " HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for (std::size_t at = 0; trickling; ++at) {
      const char byte = at < header.size() ? header[at] : 'a';
      for (int fd : slowloris) (void)::send(fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      for (int i = 0; i < 20 && trickling; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });

  // Meanwhile a normal client is served over REST and gRPC, through and past the header timeout.
  auto messaging = v1::Messaging::NewStub(gateway->Channel());
  const auto normal_until = SteadyClock::now() + std::chrono::seconds(5);
  // However many the floods attempt, the gateway holds at most 500 + 200 (+ this request).
  EXPECT_LE(MetricValue(gateway->http_address(), "mmsgate_http_connections"), 701);
  int rest_created = 0;
  int grpc_sent = 0;
  while (SteadyClock::now() < normal_until) {
    const auto created = HttpRequestTo(
        gateway->http_address(), "POST", MessagesPath(), RestHeaders(),
        FormBody({{"From", kMmsLongCode}, {"To", kUsMmsSubscriber}, {"Body", "served"}}));
    ASSERT_EQ(created.status, 201) << created.body;
    ++rest_created;
    v1::SendMessageRequest sms;
    sms.set_from(kMmsLongCode);
    sms.set_to(kUsMmsSubscriber);
    sms.set_body("served over gRPC");
    v1::Message sent;
    const grpc::Status status = messaging->SendMessage(gateway->Context().get(), sms, &sent);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ++grpc_sent;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GT(rest_created, 0);
  EXPECT_GT(grpc_sent, 0);

  // The idle address never held more than its 500: the other 1,500 were closed on accept.
  ASSERT_TRUE(WaitFor([&] { return CountClosed(idle) >= 1500; }));
  // Every slowloris is cut off by the header timeout (it never completes a header), and every
  // idle connection too.
  EXPECT_TRUE(WaitFor([&] { return CountClosed(slowloris) == 200; }))
      << CountClosed(slowloris) << " of 200 slowloris connections were closed";
  EXPECT_TRUE(WaitFor([&] { return CountClosed(idle) == 2000; }));
  trickling = false;
  trickle.join();
  CloseAll(slowloris);
  CloseAll(idle);
  EXPECT_TRUE(WaitFor(
      [&] { return MetricValue(gateway->http_address(), "mmsgate_http_connections") <= 1; }));
  EXPECT_EQ(gateway->Stop(), 0) << gateway->Log();
}

TEST(SlowClientsTest, OneAddressHoldsOnlyItsShareAndIdleKeepAliveExpires) {
  RaiseOwnOpenFileLimit();
  MmsgateProcess::Options options;
  options.scenario_text = TestScenario(0);
  // Header timeout long enough that the held connections stay for the test (they are still cut
  // off by the 30 s request timeout).
  options.extra_args = {"--http-max-connections-per-address",
                        "100",
                        "--http-header-timeout-ms",
                        "600000",
                        "--http-idle-timeout-ms",
                        "300"};
  auto gateway = MmsgateProcess::Start(options);

  std::vector<int> held;
  for (int i = 0; i < 300; ++i) {
    if (int fd = ConnectFrom("127.0.0.3", gateway->http_address()); fd >= 0) held.push_back(fd);
  }
  ASSERT_EQ(held.size(), 300u);
  // Exactly 200 are closed on accept, and the 100 held stay open.
  ASSERT_TRUE(WaitFor([&] { return CountClosed(held) >= 200; }));
  EXPECT_EQ(MetricValue(gateway->http_address(), "mmsgate_http_connections"), 101)
      << "100 held from 127.0.0.3 plus this request";
  EXPECT_EQ(CountClosed(held), 200);
  // One more from that address is closed at once; another address is served.
  const int one_more = ConnectFrom("127.0.0.3", gateway->http_address());
  ASSERT_GE(one_more, 0);
  EXPECT_TRUE(WaitFor([&] { return ClosedByServer(one_more); }));
  ::close(one_more);
  EXPECT_EQ(HttpRequestTo(gateway->http_address(), "GET", "/healthz").status, 200);

  // When that address lets go of its connections, it may connect again.
  CloseAll(held);
  EXPECT_TRUE(WaitFor(
      [&] { return MetricValue(gateway->http_address(), "mmsgate_http_connections") <= 1; }));
  const int again = ConnectFrom("127.0.0.3", gateway->http_address());
  ASSERT_GE(again, 0);
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(again, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  pollfd readable{again, POLLIN, 0};
  ASSERT_EQ(::poll(&readable, 1, 30000), 1);
  char answer[512];
  const ssize_t n = ::recv(again, answer, sizeof answer, 0);
  ASSERT_GT(n, 0);
  EXPECT_THAT(std::string(answer, static_cast<std::size_t>(n)), HasSubstr("HTTP/1.1 200"));
  // The connection was kept alive; idle past --http-idle-timeout-ms, the server closes it.
  EXPECT_TRUE(WaitFor([&] {
    char byte;
    const ssize_t r = ::recv(again, &byte, 1, MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }));
  ::close(again);
  EXPECT_EQ(gateway->Stop(), 0) << gateway->Log();
}

TEST(SlowClientsTest, AMediaServerThatNeverAnswersFailsTheSendAtTheFetchTimeout) {
  // A listener whose connections complete in the kernel's backlog and are never answered.
  const int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(silent, 0);
  sockaddr_in address = Address("127.0.0.1", 0);
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(silent, 16), 0);
  socklen_t length = sizeof address;
  ::getsockname(silent, reinterpret_cast<sockaddr*>(&address), &length);
  const int silent_port = ntohs(address.sin_port);

  MmsgateProcess::Options options;
  options.scenario_text =
      absl::StrReplaceAll(TestScenario(0), {{"seed: 7", "seed: 7 media_fetch_timeout_ms: 1000"}});
  auto gateway = MmsgateProcess::Start(options);
  auto messaging = v1::Messaging::NewStub(gateway->Channel());
  v1::SendMessageRequest mms;
  mms.set_from(kMmsLongCode);
  mms.set_to(kUsMmsSubscriber);
  mms.add_media_url("http://127.0.0.1:" + std::to_string(silent_port) + "/never.png");
  v1::Message sent;
  const auto started = SteadyClock::now();
  const grpc::Status status = messaging->SendMessage(gateway->Context(60).get(), mms, &sent);
  const auto waited = SteadyClock::now() - started;
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.error_message(), HasSubstr("21620"));
  EXPECT_THAT(status.error_message(), HasSubstr("timed out"));
  // It waited for the documented timeout (not less), and then answered.
  EXPECT_GE(waited, std::chrono::milliseconds(1000));
  // Nothing was stored.
  v1::ListMessagesRequest list;
  v1::ListMessagesResponse listed;
  ASSERT_TRUE(messaging->ListMessages(gateway->Context().get(), list, &listed).ok());
  EXPECT_EQ(listed.messages_size(), 0);
  ::close(silent);
  EXPECT_EQ(gateway->Stop(), 0) << gateway->Log();
}

}  // namespace
}  // namespace mmsgate::testing
