// The message lifecycle: its table, the path a message takes through it, and what happens on a
// restart, a repeated report and a store that fails. Single-threaded, on a manual clock.

#include "gateway/core/lifecycle.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "carriers/base/errors.h"
#include "fakes/test_gateway.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::ElementsAre;
using testing::TestGateway;

v1::SendMessageRequest Sms(const std::string& to = "+12025550142") {
  v1::SendMessageRequest request;
  request.set_from("+12025550100");
  request.set_to(to);
  request.set_body("hello");
  return request;
}

std::vector<v1::MessageStatus> Statuses(const std::vector<v1::Message>& messages) {
  std::vector<v1::MessageStatus> statuses;
  for (const auto& message : messages) statuses.push_back(message.status());
  return statuses;
}

// Every event the bus publishes for the account.
class EventLog {
 public:
  explicit EventLog(EventBus& events) {
    EventFilter filter;
    filter.account_sid = testing::kTestAccount;
    events.Subscribe(
        filter, [this](const v1::Event& event) { statuses.push_back(event.message().status()); });
  }
  std::vector<v1::MessageStatus> statuses;
};

TEST(LifecycleTableTest, AllowsOnlyTheDocumentedChanges) {
  using L = MessageLifecycle;
  EXPECT_TRUE(L::Allowed(v1::ACCEPTED, v1::QUEUED));
  EXPECT_TRUE(L::Allowed(v1::QUEUED, v1::SENDING));
  EXPECT_TRUE(L::Allowed(v1::SENDING, v1::SENT));
  EXPECT_TRUE(L::Allowed(v1::SENT, v1::DELIVERED));
  EXPECT_TRUE(L::Allowed(v1::SENDING, v1::FAILED));  // a carrier refusing at once (30001)
  EXPECT_FALSE(L::Allowed(v1::SENT, v1::SENT));      // a resubmission's repeated SENT
  EXPECT_FALSE(L::Allowed(v1::DELIVERED, v1::UNDELIVERED));
  EXPECT_FALSE(L::Allowed(v1::QUEUED, v1::DELIVERED));
  EXPECT_FALSE(L::Allowed(v1::ACCEPTED, v1::ACCEPTED));
  for (auto status : {v1::DELIVERED, v1::UNDELIVERED, v1::FAILED, v1::CANCELED}) {
    EXPECT_TRUE(L::IsFinal(status));
  }
  EXPECT_TRUE(L::Allowed(v1::SCHEDULED, v1::QUEUED));
  EXPECT_TRUE(L::Allowed(v1::SCHEDULED, v1::CANCELED));
  EXPECT_FALSE(L::Allowed(v1::QUEUED, v1::CANCELED));  // released: too late to cancel
  EXPECT_FALSE(L::Allowed(v1::CANCELED, v1::QUEUED));  // a release after the cancel
  EXPECT_FALSE(L::IsFinal(v1::SENT));
  // Every status an outbound message can have has a rule.
  std::vector<v1::MessageStatus> covered;
  for (const auto& rule : L::Rules()) covered.push_back(rule.status);
  EXPECT_THAT(covered, ::testing::UnorderedElementsAre(v1::SCHEDULED, v1::ACCEPTED, v1::QUEUED,
                                                       v1::SENDING, v1::SENT, v1::DELIVERED,
                                                       v1::UNDELIVERED, v1::FAILED, v1::CANCELED));
}

constexpr char kService[] = "MG0123456789abcdef0123456789abcdef";

// The test gateway with a Messaging Service (scheduling needs one) holding +12025550100.
std::string ScenarioWithService() {
  return testing::TestGatewayScenario() + R"pb(
    messaging_services {
      sid: "MG0123456789abcdef0123456789abcdef"
      account_sid: "AC0123456789abcdef0123456789abcdef"
      numbers: "+12025550100"
    }
  )pb";
}

v1::SendMessageRequest Scheduled(const TestGateway& gateway, SimDuration ahead) {
  v1::SendMessageRequest request;
  request.set_messaging_service_sid(kService);
  request.set_to("+12025550142");
  request.set_body("later");
  request.set_schedule_type("fixed");
  *request.mutable_send_at() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      ToNanoseconds(gateway.clock.Now() + ahead));
  return request;
}

TEST(ScheduledLifecycleTest, WaitsForSendAtThenGoesOutWithoutCountingAgainstItsSenderBefore) {
  TestGateway gateway(ScenarioWithService());
  EventLog events(gateway.events);
  auto sent = gateway.Send(Scheduled(gateway, std::chrono::minutes(20)));
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->status(), v1::SCHEDULED);
  gateway.Advance(std::chrono::minutes(20) - std::chrono::seconds(1));
  EXPECT_EQ(gateway.Stored(sent->sid())->status(), v1::SCHEDULED);
  EXPECT_THAT(events.statuses, ElementsAre(v1::SCHEDULED));
  EXPECT_TRUE(gateway.listener.statuses.empty()) << "no callback for the initial status";
  EXPECT_EQ(gateway.senders.Backlog("+12025550100"), 0u);
  EXPECT_EQ(gateway.Inbox("+12025550142").messages_size(), 0);
  // Released at SendAt, delivered a carrier latency (1 s) later.
  gateway.Advance(std::chrono::seconds(2));
  const auto stored = gateway.Stored(sent->sid());
  EXPECT_EQ(stored->status(), v1::DELIVERED);
  EXPECT_THAT(Statuses(gateway.listener.statuses),
              ElementsAre(v1::QUEUED, v1::SENDING, v1::SENT, v1::DELIVERED));
  EXPECT_EQ(gateway.Inbox("+12025550142").messages_size(), 1);
  EXPECT_EQ(gateway.senders.Backlog("+12025550100"), 0u);
  EXPECT_EQ(gateway.lifecycle.in_flight(), 0u);
}

TEST(ScheduledLifecycleTest, ACanceledMessageEndsCanceledAndIsNeverReleased) {
  TestGateway gateway(ScenarioWithService());
  auto sent = gateway.Send(Scheduled(gateway, std::chrono::minutes(30)));
  ASSERT_TRUE(sent.ok()) << sent.status();
  gateway.Advance(std::chrono::minutes(10));
  std::optional<absl::StatusOr<v1::Message>> canceled;
  gateway.lifecycle.Cancel(
      sent->sid(), [&](absl::StatusOr<v1::Message> result) { canceled = std::move(result); });
  gateway.Run();
  ASSERT_TRUE(canceled.has_value() && canceled->ok());
  EXPECT_EQ((*canceled)->status(), v1::CANCELED);
  EXPECT_THAT(Statuses(gateway.listener.statuses), ElementsAre(v1::CANCELED));
  EXPECT_FALSE(gateway.message_store.IsUnfinished(sent->sid()));
  gateway.Advance(std::chrono::hours(1));
  EXPECT_EQ(gateway.Stored(sent->sid())->status(), v1::CANCELED);
  EXPECT_EQ(gateway.Inbox("+12025550142").messages_size(), 0);
  EXPECT_EQ(gateway.lifecycle.stats().canceled.load(), 1);
  // Once canceled, or once released, it cannot be canceled again.
  std::optional<absl::StatusOr<v1::Message>> again;
  gateway.lifecycle.Cancel(sent->sid(), [&](absl::StatusOr<v1::Message> r) { again = r; });
  gateway.Run();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(ProviderErrorCode(again->status()), error_codes::kNotCancelable);
}

TEST(LifecycleTest, AMessageGoesThroughEveryStatusOnTheSimulatedSchedule) {
  TestGateway gateway;
  EventLog events(gateway.events);
  auto sent = gateway.Send(Sms());
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->status(), v1::QUEUED) << "the create answers the initial status";
  gateway.Run();
  EXPECT_THAT(events.statuses, ElementsAre(v1::ACCEPTED, v1::QUEUED, v1::SENDING, v1::SENT));
  EXPECT_EQ(gateway.Stored(sent->sid())->status(), v1::SENT);
  // The carrier's latency is one simulated second: nothing before it, DELIVERED at it.
  gateway.Advance(std::chrono::milliseconds(999));
  EXPECT_EQ(gateway.Stored(sent->sid())->status(), v1::SENT);
  gateway.Advance(std::chrono::milliseconds(1));
  const auto stored = gateway.Stored(sent->sid());
  EXPECT_EQ(stored->status(), v1::DELIVERED);
  using google::protobuf::util::TimeUtil;
  EXPECT_EQ(TimeUtil::TimestampToNanoseconds(stored->date_updated()) -
                TimeUtil::TimestampToNanoseconds(stored->date_sent()),
            1'000'000'000);
  // Status callbacks hear every change after the status the create answered (QUEUED), in order;
  // the handset has it; it is done.
  EXPECT_THAT(Statuses(gateway.listener.statuses),
              ElementsAre(v1::SENDING, v1::SENT, v1::DELIVERED));
  EXPECT_EQ(gateway.Inbox("+12025550142").messages_size(), 1);
  EXPECT_FALSE(gateway.message_store.IsUnfinished(sent->sid()));
  EXPECT_EQ(gateway.lifecycle.in_flight(), 0u);
  EXPECT_EQ(gateway.lifecycle.stats().delivered.load(), 1);
}

TEST(LifecycleTest, ARepeatedReportAfterTheFinalStatusIsDropped) {
  TestGateway gateway;
  auto sent = gateway.Send(Sms());
  ASSERT_TRUE(sent.ok());
  gateway.Advance(std::chrono::seconds(1));
  ASSERT_EQ(gateway.Stored(sent->sid())->status(), v1::DELIVERED);
  EventLog events(gateway.events);
  gateway.lifecycle.OnDeliveryReport(
      {sent->sid(), {}, carriers::DeliveryReport::Outcome::kUndelivered, 30003, "late"});
  gateway.lifecycle.OnCarrierAccepted(sent->sid(), {});
  gateway.Run();
  EXPECT_TRUE(events.statuses.empty());
  EXPECT_EQ(gateway.Stored(sent->sid())->status(), v1::DELIVERED);
  EXPECT_EQ(gateway.Stored(sent->sid())->error_code(), 0);
}

TEST(LifecycleTest, AStatusThatCannotBeStoredStopsTheMessageWhereItWas) {
  TestGateway gateway;
  EventLog events(gateway.events);
  // The acceptance (stored as QUEUED) commits; the next change (SENDING) fails.
  std::optional<absl::StatusOr<v1::Message>> sent;
  gateway.sender.Send(gateway.account(), Sms(), [&](absl::StatusOr<v1::Message> reply) {
    sent = reply;
    gateway.database.FailNextCommits(1);
  });
  gateway.Advance(std::chrono::seconds(5));
  ASSERT_TRUE(sent.has_value() && sent->ok());
  EXPECT_THAT(events.statuses, ElementsAre(v1::ACCEPTED, v1::QUEUED));
  const std::string sid = (*sent)->sid();
  EXPECT_EQ(gateway.Stored(sid)->status(), v1::QUEUED);
  // Still in the outbox, so the next start resumes it; nothing more happens in this process.
  EXPECT_TRUE(gateway.message_store.IsUnfinished(sid));
  EXPECT_EQ(gateway.lifecycle.stats().store_errors.load(), 1);
  EXPECT_EQ(gateway.lifecycle.in_flight(), 0u);
  EXPECT_EQ(gateway.Inbox("+12025550142").messages_size(), 0);
}

TEST(LifecycleTest, APhonesEntryIsStoredWithTheDeliveredStatusOrNotAtAll) {
  TestGateway gateway;
  EventLog events(gateway.events);
  auto sent = gateway.Send(Sms());
  ASSERT_TRUE(sent.ok());
  gateway.Run();
  ASSERT_EQ(gateway.Stored(sent->sid())->status(), v1::SENT);
  // The commit that would make it DELIVERED fails: the phone shows nothing either, because a
  // message reads DELIVERED exactly when its phone's entry is durable.
  gateway.database.FailNextCommits(1);
  gateway.Advance(std::chrono::seconds(1));
  EXPECT_EQ(gateway.Stored(sent->sid())->status(), v1::SENT);
  EXPECT_EQ(gateway.Inbox("+12025550142").messages_size(), 0);
  EXPECT_EQ(gateway.lifecycle.stats().store_errors.load(), 1);
  EXPECT_THAT(events.statuses, ElementsAre(v1::ACCEPTED, v1::QUEUED, v1::SENDING, v1::SENT));
  // Still in the outbox: the next start resubmits it.
  EXPECT_TRUE(gateway.message_store.IsUnfinished(sent->sid()));
}

TEST(LifecycleTest, ChangesArrivingDuringACommitShareTheNextAndArePublishedInOrder) {
  // A carrier with no latency reports DELIVERED while SENT is still being written.
  std::string scenario = testing::TestGatewayScenario();
  const std::string slow = "latency { median_ms: 1000 }";
  scenario.replace(scenario.find(slow), slow.size(), "latency { median_ms: 0 }");
  TestGateway gateway(scenario);
  EventLog events(gateway.events);
  const auto commits_before = gateway.database.stats().batches_committed;
  auto sent = gateway.Send(Sms());
  ASSERT_TRUE(sent.ok());
  gateway.Run();
  const auto stored = gateway.Stored(sent->sid());
  EXPECT_EQ(stored->status(), v1::DELIVERED);
  EXPECT_TRUE(stored->has_date_sent());
  // Acceptance (stored as QUEUED), SENDING, then SENT and DELIVERED with the phone's entry.
  EXPECT_EQ(gateway.database.stats().batches_committed - commits_before, 3u);
  EXPECT_THAT(events.statuses,
              ElementsAre(v1::ACCEPTED, v1::QUEUED, v1::SENDING, v1::SENT, v1::DELIVERED));
  EXPECT_THAT(Statuses(gateway.listener.statuses),
              ElementsAre(v1::SENDING, v1::SENT, v1::DELIVERED));
  // Each published step is the message as that change left it: SENDING has no date_sent yet,
  // SENT has it; only DELIVERED left the outbox.
  ASSERT_EQ(gateway.listener.statuses.size(), 3u);
  EXPECT_FALSE(gateway.listener.statuses[0].has_date_sent());
  EXPECT_TRUE(gateway.listener.statuses[1].has_date_sent());
  EXPECT_FALSE(gateway.message_store.IsUnfinished(sent->sid()));
  EXPECT_EQ(gateway.Inbox("+12025550142").messages_size(), 1);
  EXPECT_EQ(gateway.lifecycle.in_flight(), 0u);
  EXPECT_EQ(gateway.lifecycle.stats().delivered.load(), 1);
}

TEST(LifecycleTest, AFailedAcceptanceIsRefusedAndCountsNothingAgainstTheSender) {
  TestGateway gateway;
  gateway.database.FailNextCommits(1);
  auto refused = gateway.Send(Sms());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ProviderErrorCode(refused.status()), 30500);
  EXPECT_EQ(gateway.senders.Backlog("+12025550100"), 0u);
  EXPECT_TRUE(gateway.message_store.LoadUnfinished().empty());
}

TEST(LifecycleTest, ResumedMessagesContinueFromTheirStoredStatus) {
  TestGateway gateway;
  // Three messages stored by an earlier process, at three points of their lives.
  std::vector<std::string> sids;
  for (int i = 0; i < 3; ++i) {
    auto message = gateway.Send(Sms());
    ASSERT_TRUE(message.ok());
    sids.push_back(message->sid());
  }
  // (They were sent through this process only to be stored; forget what it did with them.)
  TestGateway restarted;
  for (std::size_t i = 0; i < sids.size(); ++i) {
    auto stored = gateway.Stored(sids[i]);
    ASSERT_TRUE(stored.ok());
    v1::Message message = *stored;
    message.set_status(i == 0 ? v1::ACCEPTED : i == 1 ? v1::QUEUED : v1::SENT);
    auto batch = restarted.database.NewBatch();
    ASSERT_TRUE(restarted.message_store.StageNew(*batch, message, {}).ok());
    ASSERT_TRUE(restarted.database.CommitNow(std::move(batch)).ok());
  }
  for (auto& message : restarted.message_store.LoadUnfinished()) {
    restarted.lifecycle.Resume(std::move(message), {}, /*media_lost=*/false);
  }
  // The long code's one message per second applies to the two that had not left their sender.
  restarted.Advance(std::chrono::seconds(3));
  for (const auto& sid : sids) {
    EXPECT_EQ(restarted.Stored(sid)->status(), v1::DELIVERED) << sid;
  }
  EXPECT_EQ(restarted.Inbox("+12025550142").messages_size(), 3);
  EXPECT_EQ(restarted.senders.Backlog("+12025550100"), 0u);
}

TEST(LifecycleTest, AResumedMessageWhoseMediaWereLostFailsWith30500) {
  TestGateway gateway;
  auto message = gateway.Send(Sms());
  ASSERT_TRUE(message.ok());
  TestGateway restarted;
  auto batch = restarted.database.NewBatch();
  ASSERT_TRUE(restarted.message_store.StageNew(*batch, *message, {}).ok());
  ASSERT_TRUE(restarted.database.CommitNow(std::move(batch)).ok());
  restarted.lifecycle.Resume(*message, {}, /*media_lost=*/true);
  restarted.Advance(std::chrono::seconds(1));
  const auto stored = restarted.Stored(message->sid());
  EXPECT_EQ(stored->status(), v1::FAILED);
  EXPECT_EQ(stored->error_code(), 30500);
  EXPECT_EQ(restarted.senders.Backlog("+12025550100"), 0u);
}

TEST(LifecycleTest, AMessageOutlivingItsValidityWhileQueuedFailsWith30036) {
  TestGateway gateway;
  std::vector<std::string> sids;
  for (int i = 0; i < 3; ++i) {
    auto request = Sms();
    request.set_validity_period_seconds(1);
    auto sent = gateway.Send(request);
    ASSERT_TRUE(sent.ok());
    sids.push_back(sent->sid());
  }
  gateway.Advance(std::chrono::seconds(5));
  // One per second: the first leaves at once, the second at exactly 1 s (its deadline: too
  // late), the third's deadline passes while it waits.
  EXPECT_EQ(gateway.Stored(sids[0])->status(), v1::DELIVERED);
  for (int i : {1, 2}) {
    EXPECT_EQ(gateway.Stored(sids[i])->status(), v1::FAILED);
    EXPECT_EQ(gateway.Stored(sids[i])->error_code(), 30036);
  }
}

}  // namespace
}  // namespace mmsgate::gateway
