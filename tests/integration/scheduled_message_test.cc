// Scheduled messages over the real binary: a message scheduled through a Messaging Service is
// answered SCHEDULED and released at its SendAt on the simulation clock (time_scale 300 here, so
// 17 simulated minutes pass in a few real seconds); one canceled before then ends CANCELED and
// never reaches the handset; a scheduled message survives a restart; and the scheduling
// refusals (35111, 35115, 35118, 30409) leave nothing stored.

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <limits>

#include "integration/await_message.h"
#include "integration/mmsgate_process.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;

constexpr const char* kAccount = "AC5555555555555555555555555555abcd";
constexpr const char* kToken = "scheduled-test-auth-token";
constexpr const char* kService = "MG5555555555555555555555555555abcd";
constexpr const char* kSender = "+12025550150";

class ScheduledMessageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = MmsgateProcess::MakeTempDir("scheduled");
    Start();
  }
  void TearDown() override {
    if (gateway_) gateway_->Stop();
    std::filesystem::remove_all(data_dir_);
  }

  void Start() {
    const std::string account = std::string("\"") + kAccount + "\"";
    MmsgateProcess::Options options;
    options.data_dir = data_dir_;
    options.scenario_text = ScenarioAccountWithLongCode(kAccount, kToken, kSender) +
                            "messaging_services { sid: \"" + kService +
                            "\" account_sid: " + account + " numbers: \"" + kSender + "\" }\n" +
                            R"pb(carriers {
                                   id: "usnet"
                                   country: "US"
                                   default_for_country: true
                                   supports_mms: true
                                   latency { median_ms: 5 }
                                 }
                                 simulation { time_scale: 300 seed: 5 })pb";
    gateway_ = MmsgateProcess::Start(options);
    auto channel = gateway_->Channel();
    messaging_ = v1::Messaging::NewStub(channel);
    simulator_ = v1::Simulator::NewStub(channel);
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    return MmsgateProcess::ContextFor(kAccount, kToken);
  }

  // The simulation's present, as the gateway sees it.
  google::protobuf::Timestamp SimulatedNow() {
    v1::SimulationClock clock;
    auto context = Context();
    EXPECT_TRUE(simulator_->GetClock(context.get(), v1::GetClockRequest(), &clock).ok());
    return clock.now();
  }

  grpc::Status Schedule(const std::string& to, google::protobuf::Timestamp send_at,
                        v1::Message* sent, const std::string& service = kService,
                        const std::string& type = "fixed") {
    v1::SendMessageRequest request;
    request.set_messaging_service_sid(service);
    if (service.empty()) request.set_from(kSender);
    request.set_to(to);
    request.set_body("see you later");
    request.set_schedule_type(type);
    *request.mutable_send_at() = send_at;
    auto context = Context();
    return messaging_->SendMessage(context.get(), request, sent);
  }

  // Schedules `ahead` after the simulated present. The window is judged when the request
  // arrives, so on a machine slow enough for the simulation to pass the lower bound meanwhile
  // (35115) it asks again with a fresh present.
  v1::Message ScheduleAhead(const std::string& to, std::chrono::minutes ahead) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      const auto send_at = TimeUtil::NanosecondsToTimestamp(
          TimeUtil::TimestampToNanoseconds(SimulatedNow()) +
          std::chrono::duration_cast<std::chrono::nanoseconds>(ahead).count());
      v1::Message sent;
      const grpc::Status status = Schedule(to, send_at, &sent);
      if (status.ok()) return sent;
      EXPECT_THAT(status.error_message(), HasSubstr("35115"));
    }
    ADD_FAILURE() << "could not schedule " << ahead.count() << " minutes ahead";
    return {};
  }

  v1::Message Get(const std::string& sid) {
    v1::GetMessageRequest get;
    get.set_sid(sid);
    v1::Message message;
    auto context = Context();
    EXPECT_TRUE(messaging_->GetMessage(context.get(), get, &message).ok());
    return message;
  }

  v1::Message AwaitFinal(const std::string& sid) {
    return AwaitMessage(*messaging_, kAccount, kToken, sid);
  }

  grpc::Status Cancel(const std::string& sid, v1::Message* canceled) {
    v1::CancelMessageRequest cancel;
    cancel.set_sid(sid);
    auto context = Context();
    return messaging_->CancelMessage(context.get(), cancel, canceled);
  }

  v1::HandsetInbox Inbox(const std::string& number) {
    v1::GetHandsetInboxRequest request;
    request.set_number(number);
    v1::HandsetInbox inbox;
    auto context = Context();
    EXPECT_TRUE(simulator_->GetHandsetInbox(context.get(), request, &inbox).ok());
    return inbox;
  }

  std::string data_dir_;
  std::unique_ptr<MmsgateProcess> gateway_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
};

TEST_F(ScheduledMessageTest, IsReleasedAtSendAtOnTheSimulationClockAndDelivered) {
  const v1::Message scheduled = ScheduleAhead("+13105550101", std::chrono::minutes(17));
  ASSERT_FALSE(scheduled.sid().empty());
  EXPECT_EQ(scheduled.status(), v1::SCHEDULED) << "the create answers scheduled";
  EXPECT_EQ(scheduled.messaging_service_sid(), kService);
  EXPECT_EQ(scheduled.from(), kSender);
  ASSERT_TRUE(scheduled.has_send_at());

  const v1::Message delivered = AwaitFinal(scheduled.sid());
  ASSERT_EQ(delivered.status(), v1::DELIVERED);
  // Judged on the simulated schedule: sent no earlier than SendAt, 17 simulated minutes after
  // its creation.
  EXPECT_GE(TimeUtil::TimestampToNanoseconds(delivered.date_sent()),
            TimeUtil::TimestampToNanoseconds(scheduled.send_at()));
  EXPECT_GE(TimeUtil::TimestampToNanoseconds(delivered.send_at()) -
                TimeUtil::TimestampToNanoseconds(delivered.date_created()),
            int64_t{900} * 1000000000);
  const auto inbox = Inbox("+13105550101");
  ASSERT_EQ(inbox.messages_size(), 1);
  EXPECT_EQ(inbox.messages(0).text(), "see you later");
}

TEST_F(ScheduledMessageTest, OneCanceledBeforeItsTimeIsNeverSentAndStaysCanceledAfterARestart) {
  // 30 days ahead: nothing releases it during the test (30 days are 2.4 real hours at 300x).
  const auto far = TimeUtil::NanosecondsToTimestamp(
      TimeUtil::TimestampToNanoseconds(SimulatedNow()) + int64_t{30} * 24 * 3600 * 1000000000);
  v1::Message kept, canceled_one;
  ASSERT_TRUE(Schedule("+13105550102", far, &kept).ok());
  ASSERT_TRUE(Schedule("+13105550103", far, &canceled_one).ok());

  v1::Message canceled;
  const grpc::Status status = Cancel(canceled_one.sid(), &canceled);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(canceled.status(), v1::CANCELED);
  EXPECT_EQ(Get(canceled_one.sid()).status(), v1::CANCELED);
  // Canceling twice is the provider's 30409.
  v1::Message again;
  const grpc::Status twice = Cancel(canceled_one.sid(), &again);
  EXPECT_EQ(twice.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(twice.error_message(), HasSubstr("30409"));

  // After a restart the other is still waiting (and can still be canceled); the canceled one
  // stays canceled.
  ASSERT_EQ(gateway_->Stop(), 0);
  Start();
  EXPECT_EQ(Get(canceled_one.sid()).status(), v1::CANCELED);
  EXPECT_EQ(Get(kept.sid()).status(), v1::SCHEDULED);
  v1::Message after_restart;
  const grpc::Status resumed = Cancel(kept.sid(), &after_restart);
  ASSERT_TRUE(resumed.ok()) << resumed.error_message();
  EXPECT_EQ(after_restart.status(), v1::CANCELED);
  EXPECT_EQ(Inbox("+13105550102").messages_size(), 0);
  EXPECT_EQ(Inbox("+13105550103").messages_size(), 0);
}

TEST_F(ScheduledMessageTest, AReleasedScheduleSurvivesARestartAndGoesOut) {
  const v1::Message scheduled = ScheduleAhead("+13105550104", std::chrono::minutes(20));
  ASSERT_FALSE(scheduled.sid().empty());
  ASSERT_EQ(gateway_->Stop(), 0);
  Start();
  const v1::Message delivered = AwaitFinal(scheduled.sid());
  EXPECT_EQ(delivered.status(), v1::DELIVERED);
  EXPECT_EQ(Inbox("+13105550104").messages_size(), 1);
}

TEST_F(ScheduledMessageTest, SchedulingMistakesAreRefusedWithTheProvidersCodesAndNothingStored) {
  const int64_t now = TimeUtil::TimestampToNanoseconds(SimulatedNow());
  const int64_t minute = int64_t{60} * 1000000000;
  const auto at = [&](int64_t minutes) {
    return TimeUtil::NanosecondsToTimestamp(now + minutes * minute);
  };
  struct Case {
    const char* what;
    google::protobuf::Timestamp send_at;
    std::string service;
    std::string type;
    const char* code;
  };
  const Case cases[] = {
      {"five minutes ahead", at(5), kService, "fixed", "35115"},
      {"in the past", at(-60), kService, "fixed", "35115"},
      {"36 days ahead", at(36 * 24 * 60), kService, "fixed", "35115"},
      {"an unknown schedule type", at(60), kService, "daily", "35111"},
      {"no Messaging Service", at(60), "", "fixed", "35118"},
      {"the Unix epoch", TimeUtil::NanosecondsToTimestamp(0), kService, "fixed", "35115"},
  };
  google::protobuf::Timestamp hostile;
  hostile.set_seconds(std::numeric_limits<int64_t>::max());
  v1::Message refused_hostile;
  EXPECT_THAT(Schedule("+13105550105", hostile, &refused_hostile).error_message(),
              HasSubstr("35115"));
  hostile.set_seconds(std::numeric_limits<int64_t>::min());
  EXPECT_THAT(Schedule("+13105550105", hostile, &refused_hostile).error_message(),
              HasSubstr("35115"));
  hostile.set_seconds(0);
  hostile.set_nanos(-1);
  EXPECT_THAT(Schedule("+13105550105", hostile, &refused_hostile).error_message(),
              HasSubstr("35114"));
  for (const auto& c : cases) {
    v1::Message refused;
    const grpc::Status status = Schedule("+13105550105", c.send_at, &refused, c.service, c.type);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_THAT(status.error_message(), HasSubstr(c.code)) << c.what;
  }
  v1::ListMessagesRequest list;
  v1::ListMessagesResponse listed;
  auto context = Context();
  ASSERT_TRUE(messaging_->ListMessages(context.get(), list, &listed).ok());
  EXPECT_EQ(listed.messages_size(), 0) << "a refusal stores nothing";

  // A message that was never scheduled cannot be canceled; an unknown SID is not found.
  v1::SendMessageRequest now_request;
  now_request.set_from(kSender);
  now_request.set_to("+13105550106");
  now_request.set_body("right away");
  v1::Message sent;
  auto send_context = Context();
  ASSERT_TRUE(messaging_->SendMessage(send_context.get(), now_request, &sent).ok());
  v1::Message refused;
  const grpc::Status not_scheduled = Cancel(sent.sid(), &refused);
  EXPECT_EQ(not_scheduled.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(not_scheduled.error_message(), HasSubstr("30409"));
  const grpc::Status unknown = Cancel("SM" + std::string(32, '0'), &refused);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace mmsgate::testing
