// API chaos (Simulator.SetApiChaos) over the real binary: calls answer the error asked for
// (429/20429 as the provider throttles, 500 and 503 with the provider's error body), over gRPC
// and the REST facade; nothing such a call carried is stored; chaos ends by itself after its
// duration; probability 0.3 refuses about 30% of 1,000 calls; the same seed gives the same
// answers; latency_ms delays answers; and a bad setting changes nothing.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/gateway_fixture.h"
#include "integration/http_client.h"
#include "mmsgate/v1/accounts.grpc.pb.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using nlohmann::json;
using ::testing::HasSubstr;

v1::ApiChaos Chaos(const std::string& method, double probability, int http_status, int error_code,
                   double duration_seconds) {
  v1::ApiChaos chaos;
  chaos.set_method(method);
  chaos.set_probability(probability);
  chaos.set_http_status(http_status);
  chaos.set_error_code(error_code);
  chaos.set_duration_seconds(duration_seconds);
  return chaos;
}

class ApiChaosTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    simulator_ = v1::Simulator::NewStub(gateway().Channel());
  }

  grpc::Status SetChaos(const v1::ApiChaos& chaos, v1::ApiChaosList* now = nullptr) {
    v1::ApiChaosList ignored;
    auto context = account().Context();
    return simulator_->SetApiChaos(context.get(), chaos, now ? now : &ignored);
  }
  v1::ApiChaosList GetChaos() {
    v1::ApiChaosList list;
    auto context = account().Context();
    EXPECT_TRUE(simulator_->GetApiChaos(context.get(), v1::GetApiChaosRequest(), &list).ok());
    return list;
  }
  v1::SendMessageRequest Sms(const std::string& body) const {
    v1::SendMessageRequest request;
    request.set_from(account().number);
    request.set_to("+12025550142");
    request.set_body(body);
    return request;
  }
  int StoredMessages() {
    v1::ListMessagesRequest list;
    list.set_page_size(1000);
    v1::ListMessagesResponse page;
    auto context = account().Context();
    EXPECT_TRUE(messaging().ListMessages(context.get(), list, &page).ok());
    return page.messages_size();
  }
  std::map<std::string, std::string> BasicAuth() const {
    return {{"authorization", "Basic " + Base64(account().sid + ":" + account().auth_token)}};
  }
  std::string MessagesPath() const {
    return "/2010-04-01/Accounts/" + account().sid + "/Messages.json";
  }

  std::unique_ptr<v1::Simulator::Stub> simulator_;
};

TEST_F(ApiChaosTest, ACreateAnswers429WithProbabilityOneThenWorksAfterTheDurationNothingStored) {
  v1::ApiChaosList now;
  ASSERT_TRUE(SetChaos(Chaos("SendMessage", 1, 429, 20429, 2), &now).ok());
  ASSERT_EQ(now.chaos_size(), 1);
  EXPECT_EQ(now.chaos(0).chaos().method(), "mmsgate.v1.Messaging/SendMessage");
  EXPECT_GT(now.chaos(0).remaining_seconds(), 0);
  EXPECT_LE(now.chaos(0).remaining_seconds(), 2);
  ASSERT_TRUE(
      SetChaos(Chaos("POST /2010-04-01/Accounts/{AccountSid}/Messages.json", 1, 429, 0, 2)).ok());

  // gRPC: RESOURCE_EXHAUSTED with 20429, as the provider throttles.
  v1::Message sent;
  auto context = account().Context();
  const grpc::Status throttled = messaging().SendMessage(context.get(), Sms("one"), &sent);
  EXPECT_EQ(throttled.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ErrorCodeOf(*context), 20429);
  EXPECT_THAT(throttled.error_message(), HasSubstr("Too Many Requests"));
  EXPECT_THAT(throttled.error_message(), HasSubstr("nothing was stored"));
  EXPECT_TRUE(sent.sid().empty());

  // REST: 429 with the provider's error body and Retry-After.
  const auto rest = HttpRequestTo(
      gateway().http_address(), "POST", MessagesPath(),
      [&] {
        auto headers = BasicAuth();
        headers["content-type"] = "application/x-www-form-urlencoded";
        return headers;
      }(),
      FormBody({{"From", account().number}, {"To", "+12025550142"}, {"Body", "two"}}));
  EXPECT_EQ(rest.status, 429);
  const json body = json::parse(rest.body);
  EXPECT_EQ(body["code"], 20429);
  EXPECT_EQ(body["status"], 429);
  EXPECT_THAT(body["message"].get<std::string>(), HasSubstr("Too Many Requests"));
  EXPECT_EQ(rest.headers.count("retry-after"), 1u);

  EXPECT_EQ(StoredMessages(), 0) << "a chaos answer leaves nothing stored";
  const auto during = GetChaos();
  ASSERT_EQ(during.chaos_size(), 2);
  for (const auto& active : during.chaos()) {
    EXPECT_EQ(active.calls(), 1) << active.chaos().method();
    EXPECT_EQ(active.injected(), 1) << active.chaos().method();
  }

  // It ends by itself after 2 simulated seconds (time_scale 1 here); the bound only guards
  // against a hang.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (GetChaos().chaos_size() > 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(GetChaos().chaos_size(), 0);
  auto after = account().Context();
  const grpc::Status served = messaging().SendMessage(after.get(), Sms("three"), &sent);
  EXPECT_TRUE(served.ok()) << served.error_message();
  EXPECT_EQ(StoredMessages(), 1);
}

TEST_F(ApiChaosTest, ServerErrorsAnswerTheirStatusWithTheProvidersErrorBodyAndSpareTheSimulator) {
  ASSERT_TRUE(SetChaos(Chaos("*", 1, 503, 0, 600)).ok());
  ASSERT_TRUE(SetChaos(Chaos("ListMessages", 1, 500, 0, 600)).ok());

  auto accounts = v1::Accounts::NewStub(gateway().Channel());
  v1::Account got;
  auto get_context = account().Context();
  const grpc::Status unavailable =
      accounts->GetAccount(get_context.get(), v1::GetAccountRequest(), &got);
  EXPECT_EQ(unavailable.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ErrorCodeOf(*get_context), 20503);
  EXPECT_THAT(unavailable.error_message(), HasSubstr("Service Unavailable"));

  // A method's own chaos comes before "*".
  v1::ListMessagesResponse page;
  auto list_context = account().Context();
  const grpc::Status internal =
      messaging().ListMessages(list_context.get(), v1::ListMessagesRequest(), &page);
  EXPECT_EQ(internal.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(ErrorCodeOf(*list_context), 20500);

  const auto rest = HttpRequestTo(gateway().http_address(), "GET", MessagesPath(), BasicAuth());
  EXPECT_EQ(rest.status, 503);
  const json body = json::parse(rest.body);
  EXPECT_EQ(body["code"], 20503);
  EXPECT_EQ(body["status"], 503);
  EXPECT_TRUE(body.contains("more_info"));

  // The Simulator is the test's control panel: never subject to chaos, so chaos can be ended.
  v1::SimulationClock clock;
  auto clock_context = account().Context();
  EXPECT_TRUE(simulator_->GetClock(clock_context.get(), v1::GetClockRequest(), &clock).ok());
  ASSERT_TRUE(SetChaos(Chaos("*", 0, 0, 0, 0)).ok());
  ASSERT_TRUE(SetChaos(Chaos("ListMessages", 0, 0, 0, 0)).ok());
  EXPECT_EQ(GetChaos().chaos_size(), 0);
  auto again = account().Context();
  EXPECT_TRUE(accounts->GetAccount(again.get(), v1::GetAccountRequest(), &got).ok());
}

TEST_F(ApiChaosTest, ProbabilityPointThreeRefusesAboutThirtyPercentOfAThousandCallsNoneStored) {
  ASSERT_TRUE(SetChaos(Chaos("SendMessage", 0.3, 429, 20429, 86400)).ok());
  constexpr int kCalls = 1000;
  int refused = 0;
  for (int i = 0; i < kCalls; ++i) {
    v1::Message sent;
    auto context = account().Context();
    const grpc::Status status =
        messaging().SendMessage(context.get(), Sms("call " + std::to_string(i)), &sent);
    if (status.ok()) continue;
    ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
    ++refused;
  }
  // Binomial(1000, 0.3): mean 300, sigma 14.5; 4 sigma either side.
  EXPECT_GE(refused, 300 - 58);
  EXPECT_LE(refused, 300 + 58);
  EXPECT_EQ(StoredMessages(), kCalls - refused) << "exactly the served calls were stored";
  const auto list = GetChaos();
  ASSERT_EQ(list.chaos_size(), 1);
  EXPECT_EQ(list.chaos(0).calls(), kCalls);
  EXPECT_EQ(list.chaos(0).injected(), refused);
}

TEST_F(ApiChaosTest, LatencyDelaysEveryAnswerWithoutAnError) {
  v1::ApiChaos chaos = Chaos("Accounts/GetAccount", 0, 0, 0, 600);
  chaos.set_latency_ms(400);
  ASSERT_TRUE(SetChaos(chaos).ok());
  auto accounts = v1::Accounts::NewStub(gateway().Channel());
  for (int i = 0; i < 3; ++i) {
    v1::Account got;
    auto context = account().Context();
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(accounts->GetAccount(context.get(), v1::GetAccountRequest(), &got).ok());
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(400));
  }
}

TEST_F(ApiChaosTest, AnUnknownMethodOrAnOutOfRangeValueIsRefusedAndChangesNothing) {
  const std::vector<std::pair<v1::ApiChaos, std::string>> bad = {
      {Chaos("Frobnicate", 1, 429, 0, 10), "method"},
      {Chaos("GetClock", 1, 429, 0, 10), "method"},  // a Simulator RPC
      {Chaos("PATCH /2010-04-01/Accounts/{AccountSid}/Messages.json", 1, 429, 0, 10), "method"},
      {Chaos("SendMessage", 1.5, 429, 0, 10), "probability"},
      {Chaos("SendMessage", 1, 302, 0, 10), "http_status"},
      {Chaos("SendMessage", 1, 429, 42, 10), "error_code"},
      {Chaos("SendMessage", 1, 429, 0, -1), "duration_seconds"},
      {Chaos("SendMessage", 1, 429, 0, 1e9), "duration_seconds"},
  };
  for (const auto& [chaos, field] : bad) {
    v1::ApiChaosList now;
    auto context = account().Context();
    const grpc::Status status = simulator_->SetApiChaos(context.get(), chaos, &now);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << chaos.ShortDebugString();
    EXPECT_EQ(ErrorCodeOf(*context), 21200) << chaos.ShortDebugString();
    EXPECT_THAT(status.error_message(), HasSubstr("ApiChaos." + field));
  }
  EXPECT_EQ(GetChaos().chaos_size(), 0);
}

// The answers to the same calls, in the same order, on a gateway with `seed`.
std::vector<bool> RefusalsWithSeed(int seed) {
  MmsgateProcess::Options options;
  options.scenario_text = ScenarioAccountWithLongCode("AC31313131313131313131313131313131",
                                                      "seed-token", "+12025550131") +
                          "simulation { seed: " + std::to_string(seed) + " }\n";
  auto gateway = MmsgateProcess::Start(options);
  auto simulator = v1::Simulator::NewStub(gateway->Channel());
  auto accounts = v1::Accounts::NewStub(gateway->Channel());
  v1::ApiChaosList now;
  auto set_context = gateway->Context();
  EXPECT_TRUE(
      simulator->SetApiChaos(set_context.get(), Chaos("GetAccount", 0.5, 503, 0, 600), &now).ok());
  std::vector<bool> refusals;
  for (int i = 0; i < 40; ++i) {
    v1::Account got;
    auto context = gateway->Context();
    refusals.push_back(!accounts->GetAccount(context.get(), v1::GetAccountRequest(), &got).ok());
  }
  gateway->Stop();
  return refusals;
}

TEST(ApiChaosSeed, TheSameSeedGivesTheSameAnswersAndAnotherSeedOthers) {
  const auto first = RefusalsWithSeed(7);
  EXPECT_EQ(RefusalsWithSeed(7), first);
  EXPECT_NE(RefusalsWithSeed(8), first) << "40 draws alike by chance: about 1 in 10^12";
}

}  // namespace
}  // namespace mmsgate::testing
