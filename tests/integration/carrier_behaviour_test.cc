// Carrier behaviour and sender rate limits over the real binary, in virtual time: latency and
// failure distributions, throughput caps, bursts, outages, validity periods, faults,
// reproducibility, and SendMessage staying responsive with 10,000 messages waiting.

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <thread>

#include "integration/mmsgate_process.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using google::protobuf::util::TimeUtil;

constexpr const char* kAccount = "AC00000000000000000000000000000a11";
constexpr const char* kToken = "carrier-behaviour-token";
constexpr const char* kLongCode = "+12025550100";
constexpr const char* kShortCode = "55501";

// A scenario with one account, a US long code and short code, and the given carriers and
// simulation settings (text-format fragments).
std::string Scenario(const std::string& carriers, const std::string& simulation) {
  return std::string("accounts { sid: \"") + kAccount + "\" auth_token: \"" + kToken + "\" }\n" +
         carriers + "\nnumbers { number: \"+12025550100\" account_sid: \"" + kAccount +
         "\" type: LONG_CODE country: \"US\" capabilities { sms: true mms: true } }\n"
         "numbers { number: \"55501\" account_sid: \"" +
         kAccount +
         "\" type: SHORT_CODE country: \"US\" capabilities { sms: true mms: true } }\n"
         "simulation { " +
         simulation + " }\n";
}

class CarrierBehaviourTest : public ::testing::Test {
 protected:
  void Start(const std::string& scenario) {
    MmsgateProcess::Options options;
    options.scenario_text = scenario;
    gateway_ = MmsgateProcess::Start(options);
    channel_ = gateway_->Channel();
    messaging_ = v1::Messaging::NewStub(channel_);
    simulator_ = v1::Simulator::NewStub(channel_);
  }
  void TearDown() override {
    messaging_.reset();
    simulator_.reset();
    channel_.reset();
    if (gateway_) {
      EXPECT_EQ(gateway_->Stop(), 0) << gateway_->Log();
    }
  }

  std::unique_ptr<grpc::ClientContext> Context(int seconds = 30) {
    return MmsgateProcess::ContextFor(kAccount, kToken, seconds);
  }

  static v1::SendMessageRequest Sms(const std::string& from, const std::string& to,
                                    const std::string& body = "hi") {
    v1::SendMessageRequest request;
    request.set_from(from);
    request.set_to(to);
    request.set_body(body);
    return request;
  }

  // Sends every request with up to `concurrency` in flight; returns the SIDs in request order
  // (empty where refused) and each call's latency in ms.
  std::vector<std::string> SendMany(const std::vector<v1::SendMessageRequest>& requests,
                                    int concurrency = 32,
                                    std::vector<double>* latencies_ms = nullptr) {
    std::vector<std::string> sids(requests.size());
    std::vector<double> latencies(requests.size());
    std::mutex mutex;
    std::condition_variable cv;
    int in_flight = 0;
    std::size_t done = 0;
    struct Call {
      std::unique_ptr<grpc::ClientContext> context;
      v1::Message response;
      std::chrono::steady_clock::time_point start;
    };
    std::vector<Call> calls(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return in_flight < concurrency; });
        ++in_flight;
      }
      calls[i].context = Context();
      calls[i].start = std::chrono::steady_clock::now();
      messaging_->async()->SendMessage(
          calls[i].context.get(), &requests[i], &calls[i].response, [&, i](grpc::Status status) {
            std::lock_guard lock(mutex);
            latencies[i] = std::chrono::duration<double, std::milli>(
                               std::chrono::steady_clock::now() - calls[i].start)
                               .count();
            if (status.ok())
              sids[i] = calls[i].response.sid();
            else
              ADD_FAILURE() << "send " << i << ": " << status.error_message();
            --in_flight;
            ++done;
            cv.notify_all();
          });
    }
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return done == requests.size(); });
    if (latencies_ms) *latencies_ms = latencies;
    return sids;
  }

  v1::CarrierState Carrier(const std::string& id) {
    v1::ListCarriersResponse response;
    auto context = Context();
    EXPECT_TRUE(simulator_->ListCarriers(context.get(), {}, &response).ok());
    for (const auto& state : response.carriers()) {
      if (state.carrier().id() == id) return state;
    }
    ADD_FAILURE() << "no carrier " << id;
    return {};
  }

  static int64_t Finished(const v1::CarrierState& state) {
    int64_t undelivered = 0;
    for (const auto& [code, count] : state.stats().undelivered_by_code()) undelivered += count;
    return state.stats().delivered() + undelivered;
  }

  // Waits (bounded) until `count` messages at `carrier` reached a final report.
  void AwaitCarrierFinished(const std::string& carrier, int64_t count, int seconds = 120) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (Finished(Carrier(carrier)) < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_GE(Finished(Carrier(carrier)), count) << "carrier " << carrier << " did not finish";
  }

  v1::Message Get(const std::string& sid) {
    v1::GetMessageRequest request;
    request.set_sid(sid);
    v1::Message message;
    auto context = Context();
    EXPECT_TRUE(messaging_->GetMessage(context.get(), request, &message).ok());
    return message;
  }

  static bool IsFinal(v1::MessageStatus status) {
    return status == v1::DELIVERED || status == v1::UNDELIVERED || status == v1::FAILED;
  }

  // Polls until every SID is final (bounded); returns the messages.
  std::vector<v1::Message> AwaitAllFinal(const std::vector<std::string>& sids, int seconds = 60) {
    std::vector<v1::Message> messages(sids.size());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (std::size_t i = 0; i < sids.size(); ++i) {
      messages[i] = Get(sids[i]);
      while (!IsFinal(messages[i].status()) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        messages[i] = Get(sids[i]);
      }
      EXPECT_TRUE(IsFinal(messages[i].status()))
          << sids[i] << " still " << v1::MessageStatus_Name(messages[i].status());
    }
    return messages;
  }

  // The messages' date_sent (simulated nanoseconds), ascending.
  static std::vector<int64_t> SortedSentTimes(const std::vector<v1::Message>& messages) {
    std::vector<int64_t> sent;
    for (const auto& message : messages) {
      sent.push_back(TimeUtil::TimestampToNanoseconds(message.date_sent()));
    }
    std::sort(sent.begin(), sent.end());
    return sent;
  }

  std::unique_ptr<MmsgateProcess> gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
};

std::vector<v1::SendMessageRequest> Spread(int count, const std::string& from,
                                           const std::string& prefix) {
  std::vector<v1::SendMessageRequest> requests;
  for (int i = 0; i < count; ++i) {
    char to[32];
    // Subscriber numbers 2000-9999 of the prefix: never the provider numbers (…0100).
    std::snprintf(to, sizeof to, "%s%04d", prefix.c_str(), 2000 + i % 8000);
    v1::SendMessageRequest request;
    request.set_from(from);
    request.set_to(to);
    request.set_body("message " + std::to_string(i));
    requests.push_back(std::move(request));
  }
  return requests;
}

TEST_F(CarrierBehaviourTest, LatencyPercentilesFollowTheConfiguredLognormal) {
  Start(Scenario(R"pb(carriers {
                        id: "lat"
                        country: "US"
                        prefixes: "+1202555"
                        latency { median_ms: 1000 p99_ms: 5000 }
                      })pb",
                 "time_scale: 1000 seed: 3 disable_sender_rate_limits: true"));
  constexpr int kCount = 3000;
  SendMany(Spread(kCount, kLongCode, "+1202555"));
  AwaitCarrierFinished("lat", kCount);
  const auto stats = Carrier("lat").stats();
  // Expected: median 1000, p90 = exp(ln 1000 + 1.2816 * ln(5) / 2.3263) = 2427, p99 5000.
  EXPECT_NEAR(stats.latency_p50_ms(), 1000, 100);
  EXPECT_NEAR(stats.latency_p90_ms(), 2427, 2427 * 0.15);
  EXPECT_NEAR(stats.latency_p99_ms(), 5000, 5000 * 0.25);
  EXPECT_EQ(stats.delivered(), kCount);
}

TEST_F(CarrierBehaviourTest, FailureRatesMatchWithTheirCodes) {
  Start(Scenario(R"pb(carriers {
                        id: "lossy"
                        country: "US"
                        prefixes: "+1202555"
                        failures { error_code: 30003 rate: 0.10 }
                        failures { error_code: 30005 rate: 0.05 }
                        failures { error_code: 30006 rate: 0.05 }
                      })pb",
                 "time_scale: 1 seed: 5 disable_sender_rate_limits: true"));
  constexpr int kCount = 3000;
  const auto sids = SendMany(Spread(kCount, kLongCode, "+1202555"));
  AwaitCarrierFinished("lossy", kCount);
  const auto stats = Carrier("lossy").stats();
  // Each count within 4 standard deviations of n * p.
  auto expect_near_rate = [&](int code, double rate) {
    const auto it = stats.undelivered_by_code().find(code);
    const double got = it == stats.undelivered_by_code().end() ? 0 : it->second;
    const double sigma = std::sqrt(kCount * rate * (1 - rate));
    EXPECT_NEAR(got, kCount * rate, 4 * sigma) << code;
  };
  expect_near_rate(30003, 0.10);
  expect_near_rate(30005, 0.05);
  expect_near_rate(30006, 0.05);
  EXPECT_NEAR(static_cast<double>(stats.delivered()), kCount * 0.8,
              4 * std::sqrt(kCount * 0.8 * 0.2));
  // The messages themselves carry the codes.
  int undelivered_seen = 0;
  for (const auto& message : AwaitAllFinal({sids.begin(), sids.begin() + 200})) {
    if (message.status() == v1::UNDELIVERED) {
      ++undelivered_seen;
      EXPECT_THAT(message.error_code(), ::testing::AnyOf(30003, 30005, 30006));
    } else {
      EXPECT_EQ(message.status(), v1::DELIVERED);
    }
  }
  EXPECT_GT(undelivered_seen, 0);
}

TEST_F(CarrierBehaviourTest, MaxMpsIsRespected) {
  Start(Scenario(R"pb(carriers { id: "narrow" country: "US" prefixes: "+1202555" max_mps: 100 })pb",
                 "time_scale: 4 seed: 1 disable_sender_rate_limits: true"));
  constexpr int kCount = 800;
  const auto sids = SendMany(Spread(kCount, kLongCode, "+1202555"), 64);
  AwaitCarrierFinished("narrow", kCount);
  const auto sent = SortedSentTimes(AwaitAllFinal(sids));
  // Dates are on the simulation clock, and each send has the slot the carrier's schedule gave
  // it: no two sends are closer than 1/max_mps, however loaded the machine is.
  ASSERT_EQ(sent.size(), static_cast<std::size_t>(kCount));
  for (std::size_t i = 1; i < sent.size(); ++i) {
    EXPECT_GE(sent[i] - sent[i - 1], 10'000'000 - 1) << i;
  }
}

TEST_F(CarrierBehaviourTest, LongCodeBurstOfTwentyAtOneMpsTakesTwentySimulatedSeconds) {
  Start(Scenario(R"pb(carriers { id: "fast" country: "US" prefixes: "+1202555" })pb",
                 "time_scale: 20 seed: 1"));
  const auto sids = SendMany(Spread(20, kLongCode, "+1202555"), 20);
  const auto messages = AwaitAllFinal(sids);
  for (const auto& message : messages) EXPECT_EQ(message.status(), v1::DELIVERED);
  // 20 messages at 1 per second, burst 1: each leaves at least a simulated second after the one
  // before, so the last at least 19 seconds after the first (judged on the simulated schedule).
  const auto sent = SortedSentTimes(messages);
  for (std::size_t i = 1; i < sent.size(); ++i) {
    EXPECT_GE(sent[i] - sent[i - 1], 1'000'000'000 - 1) << i;
  }
  // A short code's 100 MPS spaces the same burst by a hundredth of a second.
  const auto short_sent =
      SortedSentTimes(AwaitAllFinal(SendMany(Spread(20, kShortCode, "+1202555"), 20)));
  for (std::size_t i = 1; i < short_sent.size(); ++i) {
    EXPECT_GE(short_sent[i] - short_sent[i - 1], 10'000'000 - 1) << i;
  }
}

TEST_F(CarrierBehaviourTest, ASenderHoldingTenHoursOfItsRateRefusesNewMessagesWith21611) {
  // 0.0001 messages per second: ten hours of this rate is 3.6 messages.
  Start(Scenario(std::string(R"pb(carriers { id: "fast" country: "US" prefixes: "+1202555" })pb") +
                     "\nnumbers { number: \"+12025550177\" account_sid: \"" + kAccount +
                     "\" type: LONG_CODE country: \"US\" capabilities { sms: true } mps: 0.0001 }",
                 "time_scale: 1 seed: 1"));
  std::vector<grpc::Status> statuses;
  for (int i = 0; i < 8; ++i) {
    v1::Message message;
    auto context = Context();
    statuses.push_back(messaging_->SendMessage(
        context.get(), Sms("+12025550177", "+1202555300" + std::to_string(i)), &message));
  }
  // Counted from acceptance: the fifth message finds four held (4 >= 3.6) and is refused, and
  // so is every later one while the first ones wait (the first may already have left, so the
  // fifth or the sixth is the first refusal).
  int accepted = 0;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i].ok()) {
      ++accepted;
      continue;
    }
    EXPECT_GE(i, 4u) << "refused too early";
    EXPECT_EQ(statuses[i].error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(statuses[i].error_message(), ::testing::StartsWith("21611: "));
  }
  EXPECT_GE(accepted, 4);
  EXPECT_LE(accepted, 5);
}

TEST_F(CarrierBehaviourTest, AnOutageHoldsMessagesAndTheyAreDeliveredAfterIt) {
  Start(Scenario(R"pb(carriers { id: "flaky" country: "US" prefixes: "+1202555" })pb",
                 "time_scale: 20 seed: 1 disable_sender_rate_limits: true"));
  // A message sent before the fault marks a simulated time no later than the fault's start.
  const int64_t before_fault = TimeUtil::TimestampToNanoseconds(
      AwaitAllFinal(SendMany({Sms(kLongCode, "+12025550199")}))[0].date_created());
  v1::SetCarrierFaultRequest fault;
  fault.set_carrier_id("flaky");
  fault.mutable_fault()->set_kind(v1::CarrierFault::OUTAGE);
  fault.mutable_fault()->set_duration_seconds(40);  // 2 s real.
  v1::CarrierState state;
  auto context = Context();
  ASSERT_TRUE(simulator_->SetCarrierFault(context.get(), fault, &state).ok());
  ASSERT_EQ(state.faults_size(), 1);
  const auto sids = SendMany(Spread(5, kLongCode, "+1202555"));
  for (const auto& message : AwaitAllFinal(sids, 30)) {
    EXPECT_EQ(message.status(), v1::DELIVERED);
    // Held by the outage: on the simulated schedule, not sent before the fault's 40 s were over.
    EXPECT_GE(TimeUtil::TimestampToNanoseconds(message.date_sent()) - before_fault,
              40'000'000'000LL);
  }
  EXPECT_EQ(Carrier("flaky").faults_size(), 0) << "the fault ended by itself";
}

TEST_F(CarrierBehaviourTest, ScenarioScheduledFaultsStartAndEndOnTime) {
  Start(Scenario(R"pb(carriers { id: "planned" country: "US" prefixes: "+1202555" }
                      scheduled_faults {
                        carrier_id: "planned"
                        at_seconds: 10
                        fault { kind: OUTAGE duration_seconds: 100 }
                      })pb",
                 "time_scale: 20 seed: 1 disable_sender_rate_limits: true"));
  // At 10 simulated seconds (0.5 s real) the outage starts; at 110 (5.5 s real) it ends. The
  // polls are bounded waits for what must happen, with a window wide enough for a busy machine.
  // Before the start there is no fault: judged on the simulation clock, not on how fast this
  // test got here.
  const int faults_early = Carrier("planned").faults_size();
  {
    grpc::ClientContext context;
    v1::SimulationClock clock;
    ASSERT_TRUE(simulator_->GetClock(&context, v1::GetClockRequest(), &clock).ok());
    if (TimeUtil::TimestampToNanoseconds(clock.now()) -
            TimeUtil::TimestampToNanoseconds(clock.started()) <
        9'000'000'000) {
      EXPECT_EQ(faults_early, 0);
    }
  }
  int active = 0;
  for (int i = 0; i < 100 && active == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    active = Carrier("planned").faults_size();
  }
  ASSERT_EQ(active, 1);
  EXPECT_EQ(Carrier("planned").faults(0).fault().kind(), v1::CarrierFault::OUTAGE);
  for (int i = 0; i < 400 && active == 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    active = Carrier("planned").faults_size();
  }
  EXPECT_EQ(active, 0);
}

TEST_F(CarrierBehaviourTest, MessagesOutlivingTheirValidityPeriodFailWith30036) {
  Start(Scenario(R"pb(carriers { id: "fast" country: "US" prefixes: "+1202555" })pb",
                 "time_scale: 10 seed: 1"));
  auto requests = Spread(10, kLongCode, "+1202555");
  for (auto& request : requests) request.set_validity_period_seconds(3);
  const auto messages = AwaitAllFinal(SendMany(requests, 10));
  int delivered = 0, expired = 0;
  for (const auto& message : messages) {
    const int64_t created = TimeUtil::TimestampToNanoseconds(message.date_created());
    if (message.status() == v1::DELIVERED) {
      ++delivered;
      // Left within its validity on the simulated schedule.
      EXPECT_LE(TimeUtil::TimestampToNanoseconds(message.date_sent()) - created, 3'000'000'000LL);
    } else {
      EXPECT_EQ(message.status(), v1::FAILED);
      EXPECT_EQ(message.error_code(), 30036);
      EXPECT_GE(TimeUtil::TimestampToNanoseconds(message.date_updated()) - created,
                3'000'000'000LL);
      ++expired;
    }
  }
  // At 1 MPS with a 3 s validity, the tokens at 0, 1 and 2 s always fall inside the validity of
  // whoever holds them; the rest expire unless their arrival was spread out (a busy machine).
  EXPECT_GE(delivered, 3);
  EXPECT_EQ(delivered + expired, 10);
}

TEST_F(CarrierBehaviourTest, MessagesHeldByAnOutagePastTheirValidityFail) {
  Start(Scenario(R"pb(carriers { id: "down" country: "US" prefixes: "+1202555" })pb",
                 "time_scale: 10 seed: 1 disable_sender_rate_limits: true"));
  v1::SetCarrierFaultRequest fault;
  fault.set_carrier_id("down");
  fault.mutable_fault()->set_kind(v1::CarrierFault::OUTAGE);
  fault.mutable_fault()->set_duration_seconds(3600);
  v1::CarrierState state;
  auto context = Context();
  ASSERT_TRUE(simulator_->SetCarrierFault(context.get(), fault, &state).ok());
  auto request = Sms(kLongCode, "+12025550142");
  request.set_validity_period_seconds(5);
  const auto messages = AwaitAllFinal(SendMany({request}), 30);
  EXPECT_EQ(messages[0].status(), v1::FAILED);
  EXPECT_EQ(messages[0].error_code(), 30036);
  EXPECT_EQ(Carrier("down").stats().expired(), 1);
}

TEST_F(CarrierBehaviourTest, MmsUnsupportedFaultSendsNewMmsAsSmsWithLinkUntilItEnds) {
  Start(Scenario(
      R"pb(carriers { id: "pics" country: "US" prefixes: "+1202555" supports_mms: true })pb",
      "time_scale: 20 seed: 1 disable_sender_rate_limits: true"));
  auto mms = Sms(kLongCode, "+12025550142", "pic");
  auto* media = mms.add_media();
  media->set_content_type("image/png");
  media->set_data("png bytes");
  v1::Message before;
  auto context = Context();
  ASSERT_TRUE(messaging_->SendMessage(context.get(), mms, &before).ok());
  EXPECT_EQ(before.delivered_as(), v1::MMS);

  v1::SetCarrierFaultRequest fault;
  fault.set_carrier_id("pics");
  fault.mutable_fault()->set_kind(v1::CarrierFault::MMS_UNSUPPORTED);
  fault.mutable_fault()->set_duration_seconds(100);  // 5 s real.
  v1::CarrierState state;
  context = Context();
  ASSERT_TRUE(simulator_->SetCarrierFault(context.get(), fault, &state).ok());
  ASSERT_EQ(state.faults_size(), 1);
  EXPECT_EQ(state.faults(0).fault().kind(), v1::CarrierFault::MMS_UNSUPPORTED);
  // Routing sees the fault as soon as SetCarrierFault has answered.
  v1::Message during;
  context = Context();
  ASSERT_TRUE(messaging_->SendMessage(context.get(), mms, &during).ok());
  EXPECT_EQ(during.delivered_as(), v1::SMS_WITH_LINK);
  EXPECT_EQ(during.fallback_reason(), v1::CARRIER_NO_MMS);
  EXPECT_GE(Carrier("pics").stats().fallback_count(), 1);

  v1::Message after;
  for (int i = 0; i < 300; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    context = Context();
    ASSERT_TRUE(messaging_->SendMessage(context.get(), mms, &after).ok());
    if (after.delivered_as() == v1::MMS) break;
  }
  EXPECT_EQ(after.delivered_as(), v1::MMS) << "the fault did not end by itself";
}

TEST_F(CarrierBehaviourTest, UpsertCarrierChangesBehaviourAtRunTime) {
  Start(Scenario(
      R"pb(carriers { id: "pics" country: "US" prefixes: "+1202555" supports_mms: true })pb",
      "time_scale: 1 seed: 1 disable_sender_rate_limits: true"));
  v1::UpsertCarrierRequest upsert;
  auto* carrier = upsert.mutable_carrier();
  carrier->set_id("pics");
  carrier->set_country("US");
  carrier->add_prefixes("+1202555");
  carrier->set_supports_mms(false);
  v1::CarrierState state;
  auto context = Context();
  ASSERT_TRUE(simulator_->UpsertCarrier(context.get(), upsert, &state).ok());
  EXPECT_FALSE(state.carrier().supports_mms());
  auto mms = Sms(kLongCode, "+12025550142", "pic");
  auto* media = mms.add_media();
  media->set_content_type("image/png");
  media->set_data("png bytes");
  v1::Message message;
  context = Context();
  ASSERT_TRUE(messaging_->SendMessage(context.get(), mms, &message).ok());
  EXPECT_EQ(message.delivered_as(), v1::SMS_WITH_LINK);

  // An invalid carrier is refused with a reason.
  carrier->add_failures()->set_error_code(12345);
  context = Context();
  grpc::Status status = simulator_->UpsertCarrier(context.get(), upsert, &state);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("12345"));
}

TEST_F(CarrierBehaviourTest, TheSameSeedGivesTheSameOutcomes) {
  auto run = [this](uint64_t seed) {
    Start(Scenario(
        R"pb(carriers {
               id: "dice"
               country: "US"
               prefixes: "+1202555"
               latency { median_ms: 500 p99_ms: 3000 }
               failures { error_code: 30003 rate: 0.2 }
               failures { error_code: 30008 rate: 0.1 }
             })pb",
        "time_scale: 100 seed: " + std::to_string(seed) + " disable_sender_rate_limits: true"));
    // Sent one at a time, so the carrier sees them in the same order every run.
    std::vector<std::string> sids;
    for (const auto& request : Spread(200, kLongCode, "+1202555")) {
      sids.push_back(SendMany({request}, 1)[0]);
    }
    std::vector<std::pair<int, int>> outcomes;
    for (const auto& message : AwaitAllFinal(sids)) {
      outcomes.emplace_back(message.status(), message.error_code());
    }
    const auto stats = Carrier("dice").stats();
    TearDown();
    gateway_.reset();
    return std::make_pair(outcomes, stats.latency_p50_ms());
  };
  const auto first = run(42);
  const auto second = run(42);
  const auto other = run(43);
  EXPECT_EQ(first.first, second.first);
  EXPECT_DOUBLE_EQ(first.second, second.second);
  EXPECT_NE(first.first, other.first);
}

TEST_F(CarrierBehaviourTest, SendMessageStaysResponsiveWithTenThousandMessagesWaiting) {
  std::string carriers;
  for (int i = 0; i < 5; ++i) {
    carriers += "carriers { id: \"slow" + std::to_string(i) +
                "\" country: \"US\" prefixes: \"+120255" + std::to_string(i) +
                "\" latency { median_ms: 3600000 } }\n";
  }
  Start(Scenario(carriers, "time_scale: 1 seed: 1 disable_sender_rate_limits: true"));
  std::vector<v1::SendMessageRequest> requests;
  for (int i = 0; i < 5; ++i) {
    auto part = Spread(2000, kLongCode, "+120255" + std::to_string(i));
    requests.insert(requests.end(), part.begin(), part.end());
  }
  SendMany(requests, 64);
  int64_t waiting = 0;
  for (int i = 0; i < 5; ++i) waiting += Carrier("slow" + std::to_string(i)).stats().queued_now();
  // Sent to the carriers and waiting on their (hour-long) delivery timers, not on threads.
  EXPECT_EQ(waiting, 0);
  int64_t submitted = 0;
  for (int i = 0; i < 5; ++i) submitted += Carrier("slow" + std::to_string(i)).stats().submitted();
  EXPECT_EQ(submitted, 10000);
  std::vector<double> latencies;
  SendMany(Spread(50, kLongCode, "+1202550"), 1, &latencies);
  std::sort(latencies.begin(), latencies.end());
  RecordProperty("send_p50_ms", std::to_string(latencies[25]));
  RecordProperty("send_max_ms", std::to_string(latencies.back()));
  std::printf("SendMessage with 10,000 waiting: p50 %.2f ms, max %.2f ms\n", latencies[25],
              latencies.back());
  // A generous bound that only a blocked thread would break; the figure above is the measure.
  EXPECT_LT(latencies[25], 1000);
}

TEST_F(CarrierBehaviourTest, GetClockTellsTheSimulationClockThatEveryDateIsOn) {
  Start(Scenario(R"pb(carriers { id: "fast" country: "US" prefixes: "+1202555" })pb",
                 "time_scale: 1000 seed: 1"));
  auto read_clock = [&] {
    grpc::ClientContext context;  // No credentials: the clock is not an account's secret.
    v1::SimulationClock clock;
    const auto status = simulator_->GetClock(&context, v1::GetClockRequest(), &clock);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return clock;
  };
  const auto real_before = std::chrono::steady_clock::now();
  const v1::SimulationClock before = read_clock();
  v1::Message sent;
  {
    auto context = Context();
    const auto status =
        messaging_->SendMessage(context.get(), Sms(kShortCode, "+12025550199"), &sent);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  const v1::SimulationClock after = read_clock();
  const auto real_elapsed = std::chrono::steady_clock::now() - real_before;

  EXPECT_EQ(before.time_scale(), 1000);
  EXPECT_LE(before.started(), before.now());
  EXPECT_EQ(before.started(), after.started());
  // The message's dates are on that clock: between the two readings.
  EXPECT_LE(before.now(), sent.date_created());
  EXPECT_LE(sent.date_created(), after.now());
  // The clock runs 1000 times faster than real time: between the readings it cannot have moved
  // more than 1000 times the real time that passed around them (any machine keeps that bound).
  const int64_t simulated_ns = TimeUtil::TimestampToNanoseconds(after.now()) -
                               TimeUtil::TimestampToNanoseconds(before.now());
  EXPECT_GT(simulated_ns, 0);
  EXPECT_LE(simulated_ns,
            std::chrono::duration_cast<std::chrono::nanoseconds>(real_elapsed).count() * 1000);
}

}  // namespace
}  // namespace mmsgate::testing
