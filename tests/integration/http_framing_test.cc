// Request smuggling through Transfer-Encoding, over the real binary: a body that is a complete,
// authenticated create-message request must never run as a second request.

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/messaging.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;

// Sends `bytes` on a fresh connection and returns everything received until the server closes
// (or 10 s pass, which fails the caller's expectations on its own).
std::string Exchange(const std::string& host_port, const std::string& bytes) {
  const auto colon = host_port.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
  inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &address.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return "";
  }
  for (std::size_t sent = 0; sent < bytes.size();) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string received;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd poll_fd{fd, POLLIN, 0};
    if (::poll(&poll_fd, 1, 200) <= 0) continue;
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;  // closed (or reset) by the server
    received.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return received;
}

int CountOf(const std::string& text, const std::string& needle) {
  int count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

TEST(HttpFramingTest, ASmuggledCreateMessageNeverRuns) {
  MmsgateProcess::Options options;
  options.scenario_text = TestScenario();
  auto gateway = MmsgateProcess::Start(options);
  const std::string form = "From=%2B12025550100&To=%2B12025550142&Body=smuggled";
  const std::string inner =
      std::string("POST /2010-04-01/Accounts/") + kAccountSid +
      "/Messages.json HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " +
      Base64(std::string(kAccountSid) + ":" + kAuthToken) +
      "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
      std::to_string(form.size()) + "\r\n\r\n" + form;
  for (const std::string coding : {"gzip", "identity", "chunked, identity", "xchunked"}) {
    SCOPED_TRACE(coding);
    const std::string answer = Exchange(
        gateway->http_address(),
        "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding + "\r\n\r\n" + inner);
    // Exactly one answer, a 400 that closes the connection; no 201 after it.
    EXPECT_EQ(CountOf(answer, "HTTP/1.1 "), 1) << answer;
    EXPECT_THAT(answer, ::testing::StartsWith("HTTP/1.1 400 "));
    EXPECT_THAT(answer, ::testing::HasSubstr("Connection: close"));
  }
  // And no message was created.
  auto messaging = v1::Messaging::NewStub(gateway->Channel());
  v1::ListMessagesResponse list;
  auto context = gateway->Context();
  ASSERT_TRUE(messaging->ListMessages(context.get(), v1::ListMessagesRequest(), &list).ok());
  EXPECT_EQ(list.messages_size(), 0);
}

}  // namespace
}  // namespace mmsgate::testing
