// mmsgate's log, as an operator reads it and as a log shipper parses it: --log-format json gives
// one JSON object per line, and no credential (auth token, Basic header, wrong token tried,
// media link token) ever appears in a full run's log, whatever the level.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;

TEST(LogsTest, JsonLinesWithoutCredentials) {
  MmsgateProcess::Options options;
  options.scenario_text = TestScenario(0);
  options.extra_args = {"--log-level", "trace", "--log-format", "json"};
  auto gateway = MmsgateProcess::Start(options);
  auto messaging = v1::Messaging::NewStub(gateway->Channel());

  // A delivered SMS, an MMS abroad (an SMS with a link), a wrong token, a REST send.
  v1::SendMessageRequest sms;
  sms.set_from(kMmsLongCode);
  sms.set_to(kUsMmsSubscriber);
  sms.set_body("hello");
  v1::Message sent;
  ASSERT_TRUE(messaging->SendMessage(gateway->Context().get(), sms, &sent).ok());
  v1::SendMessageRequest mms = sms;
  mms.set_to(kGbSubscriber);
  auto* media = mms.add_media();
  media->set_content_type("image/png");
  media->set_data(std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, 'x'));
  v1::Message converted;
  ASSERT_TRUE(messaging->SendMessage(gateway->Context().get(), mms, &converted).ok());
  ASSERT_FALSE(converted.link_url().empty());
  const std::string link_token = converted.link_url().substr(converted.link_url().rfind('/') + 1);
  ASSERT_GE(link_token.size(), 16u);
  EXPECT_EQ(HttpGetUrl(converted.link_url()).status, 200);

  const std::string wrong_token = "wrong-secret-token-4711";
  v1::Message refused;
  EXPECT_FALSE(
      messaging
          ->SendMessage(MmsgateProcess::ContextFor(kAccountSid, wrong_token).get(), sms, &refused)
          .ok());
  const std::string basic = absl::Base64Escape(std::string(kAccountSid) + ":" + kAuthToken);
  const auto rest = HttpRequestTo(
      gateway->http_address(), "POST",
      std::string("/2010-04-01/Accounts/") + kAccountSid + "/Messages.json",
      {{"Authorization", "Basic " + basic}, {"Content-Type", "application/x-www-form-urlencoded"}},
      "To=%2B12025550142&From=%2B12025550100&Body=rest");
  EXPECT_EQ(rest.status, 201) << rest.body;
  const auto wrong_rest = HttpRequestTo(
      gateway->http_address(), "GET",
      std::string("/2010-04-01/Accounts/") + kAccountSid + "/Messages.json",
      {{"Authorization",
        "Basic " + absl::Base64Escape(std::string(kAccountSid) + ":" + wrong_token)}});
  EXPECT_EQ(wrong_rest.status, 401);

  // The first SMS reaches DELIVERED before the gateway stops (bounded wait, not a timing check).
  for (int i = 0; i < 200; ++i) {
    v1::GetMessageRequest get;
    get.set_sid(sent.sid());
    v1::Message current;
    if (messaging->GetMessage(gateway->Context().get(), get, &current).ok() &&
        current.status() == v1::DELIVERED) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(gateway->Stop(), 0);
  const std::string log = gateway->Log();
  ASSERT_FALSE(log.empty());
  // Every line is one JSON object with time, level and msg.
  std::istringstream lines(log);
  int count = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    ++count;
    const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(parsed.is_object()) << line;
    EXPECT_TRUE(parsed.contains("time") && parsed.contains("level") && parsed.contains("msg"))
        << line;
  }
  EXPECT_GE(count, 3);
  // At debug level and below, every stored status is a line naming its message.
  EXPECT_NE(log.find(sent.sid() + ": DELIVERED (as SMS, carrier mmsnet)"), std::string::npos)
      << log;
  // No credential anywhere.
  for (const std::string& secret : {std::string(kAuthToken), basic, wrong_token, link_token}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "the log contains " << secret << ":\n" << log;
  }
}

}  // namespace
}  // namespace mmsgate::testing
