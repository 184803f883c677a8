// GET /metrics as Prometheus scrapes it: the counters and histograms move with the traffic.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;

// Every sample of a scrape: "name{labels}" -> value. Checks each line's syntax on the way.
std::map<std::string, double> Scrape(const MmsgateProcess& gateway) {
  const auto response = HttpRequestTo(gateway.http_address(), "GET", "/metrics");
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(response.headers.at("content-type"), ::testing::HasSubstr("version=0.0.4"));
  std::map<std::string, double> samples;
  static const std::regex kSample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (\S+))");
  std::istringstream lines(response.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    std::smatch match;
    EXPECT_TRUE(std::regex_match(line, match, kSample)) << "not a sample: " << line;
    if (!match.empty()) samples[match[1]] = std::stod(match[3]);
  }
  return samples;
}

double Get(const std::map<std::string, double>& samples, const std::string& name) {
  const auto it = samples.find(name);
  return it == samples.end() ? 0 : it->second;
}

TEST(MetricsTest, CountersAndHistogramsMoveWithTheTraffic) {
  MmsgateProcess::Options options;
  options.scenario_text = TestScenario(0);
  auto gateway = MmsgateProcess::Start(options);
  auto messaging = v1::Messaging::NewStub(gateway->Channel());
  const auto before = Scrape(*gateway);

  // The application's status callback endpoint: answers 200.
  LocalHttpServer callbacks(
      [](gateway::HttpRequest request, std::function<void(gateway::HttpResponse)> respond) {
        gateway::HttpResponse response(boost::beast::http::status::ok, request.version());
        response.prepare_payload();
        respond(std::move(response));
      });
  v1::SendMessageRequest sms;
  sms.set_from(kMmsLongCode);
  sms.set_to(kUsMmsSubscriber);
  sms.set_body("counted");
  sms.set_status_callback(callbacks.base_url() + "/status");
  v1::Message sent;
  ASSERT_TRUE(messaging->SendMessage(gateway->Context().get(), sms, &sent).ok());
  v1::SendMessageRequest abroad = sms;
  abroad.clear_status_callback();
  abroad.set_to(kGbSubscriber);
  auto* media = abroad.add_media();
  media->set_content_type("image/png");
  media->set_data(std::string("\x89PNG\r\n\x1a\n", 8) + "x");
  ASSERT_TRUE(messaging->SendMessage(gateway->Context().get(), abroad, &sent).ok());
  v1::SendMessageRequest invalid = sms;
  invalid.clear_status_callback();
  invalid.set_to("nonsense");
  EXPECT_FALSE(messaging->SendMessage(gateway->Context().get(), invalid, &sent).ok());

  // Both reach DELIVERED (zero latency; the sender's 1 MPS spaces them a second apart).
  const std::string delivered_sms =
      R"(mmsgate_message_status_changes_total{status="DELIVERED",delivered_as="SMS",carrier="mmsnet"})";
  const std::string delivered_link =
      R"(mmsgate_message_status_changes_total{status="DELIVERED",delivered_as="SMS_WITH_LINK",carrier="albion"})";
  // The SMS's callback hears SENDING, SENT and DELIVERED (none for QUEUED, the status the
  // create answered).
  const std::string callbacks_ok =
      R"(mmsgate_webhook_attempts_total{kind="STATUS_CALLBACK",result="2xx"})";
  std::map<std::string, double> after;
  for (int i = 0; i < 100; ++i) {
    after = Scrape(*gateway);
    if (Get(after, delivered_sms) >= 1 && Get(after, delivered_link) >= 1 &&
        Get(after, callbacks_ok) >= 3) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(Get(after, delivered_sms) - Get(before, delivered_sms), 1);
  EXPECT_EQ(Get(after, delivered_link) - Get(before, delivered_link), 1);
  EXPECT_EQ(
      Get(after,
          R"(mmsgate_message_status_changes_total{status="SENT",delivered_as="SMS",carrier="mmsnet"})"),
      1);
  EXPECT_EQ(Get(after, R"(mmsgate_mms_fallbacks_total{reason="INTERNATIONAL"})"), 1);
  EXPECT_EQ(Get(after, callbacks_ok), 3);
  EXPECT_EQ(Get(after, R"(mmsgate_refusals_total{code="21211"})"), 1);
  // The existing names are kept.
  EXPECT_EQ(Get(after, "mmsgate_messages_accepted_total") -
                Get(before, "mmsgate_messages_accepted_total"),
            2);
  // Histograms: every admission timed (refusals too), both final statuses timed, buckets
  // cumulative up to +Inf.
  EXPECT_EQ(Get(after, "mmsgate_admission_seconds_count") -
                Get(before, "mmsgate_admission_seconds_count"),
            3);
  EXPECT_EQ(Get(after, R"(mmsgate_admission_seconds_bucket{le="+Inf"})"),
            Get(after, "mmsgate_admission_seconds_count"));
  EXPECT_GT(Get(after, "mmsgate_admission_seconds_sum"), 0);
  EXPECT_EQ(Get(after, "mmsgate_end_to_end_seconds_count"), 2);
  EXPECT_LE(Get(after, R"(mmsgate_end_to_end_seconds_bucket{le="1"})"),
            Get(after, R"(mmsgate_end_to_end_seconds_bucket{le="5"})"));
  // Gauges.
  EXPECT_TRUE(after.contains(R"(mmsgate_carrier_queue_depth{carrier="mmsnet"})"));
  EXPECT_EQ(Get(after, "mmsgate_media_in_flight_bytes"), 0);
  EXPECT_GT(Get(after, "mmsgate_database_size_bytes"), 0);
}

// The queue gauges show work that waits: messages behind a slow sender's rate limit, and a
// status callback whose endpoint never answers.
TEST(MetricsTest, QueueGaugesShowWhatWaits) {
  MmsgateProcess::Options options;
  options.scenario_text = TestScenario(0);
  auto gateway = MmsgateProcess::Start(options);
  auto messaging = v1::Messaging::NewStub(gateway->Channel());
  auto accounts = v1::Accounts::NewStub(gateway->Channel());

  // One message per 1,000 s: the first goes at once (the bucket starts full), two wait.
  v1::ProvisionNumberRequest provision;
  provision.mutable_number()->set_number("+12025550177");
  provision.mutable_number()->set_mps(0.001);
  provision.mutable_number()->set_burst(1);
  v1::Number slow_sender;
  ASSERT_TRUE(accounts->ProvisionNumber(gateway->Context().get(), provision, &slow_sender).ok());

  // Holds every request unanswered until the test ends.
  std::mutex held_mutex;
  std::vector<std::function<void(gateway::HttpResponse)>> held;
  LocalHttpServer silent_endpoint(
      [&](gateway::HttpRequest, std::function<void(gateway::HttpResponse)> respond) {
        std::lock_guard lock(held_mutex);
        held.push_back(std::move(respond));
      });
  for (int i = 0; i < 3; ++i) {
    v1::SendMessageRequest sms;
    sms.set_from("+12025550177");
    sms.set_to(kUsMmsSubscriber);
    sms.set_body("waits " + std::to_string(i));
    if (i == 0) sms.set_status_callback(silent_endpoint.base_url() + "/status");
    v1::Message sent;
    ASSERT_TRUE(messaging->SendMessage(gateway->Context().get(), sms, &sent).ok());
  }
  std::map<std::string, double> samples;
  for (int i = 0; i < 100; ++i) {
    samples = Scrape(*gateway);
    if (Get(samples, "mmsgate_sender_queue_depth") == 2 &&
        Get(samples, "mmsgate_webhooks_in_flight") == 1) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(Get(samples, "mmsgate_sender_queue_depth"), 2);
  // Status callbacks of one message go in order, so only the first is posted.
  EXPECT_EQ(Get(samples, "mmsgate_webhooks_in_flight"), 1);
  // Answer what was held while the endpoint still exists: the replies belong to its
  // connections (AddressSanitizer found them outliving it).
  std::lock_guard lock(held_mutex);
  for (auto& respond : held) {
    gateway::HttpResponse response(boost::beast::http::status::ok, 11);
    response.prepare_payload();
    respond(std::move(response));
  }
  held.clear();
}

}  // namespace
}  // namespace mmsgate::testing
