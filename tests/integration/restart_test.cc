// Accepted messages survive the process: a clean stop, and a SIGKILL.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;

std::vector<v1::Message> SendSome(MmsgateProcess& gateway, int count) {
  auto channel = gateway.Channel();
  auto messaging = v1::Messaging::NewStub(channel);
  std::vector<v1::Message> sent;
  for (int i = 0; i < count; ++i) {
    v1::SendMessageRequest request;
    request.set_from(kMmsLongCode);
    request.set_to(kUsMmsSubscriber);
    request.set_body("survivor " + std::to_string(i));
    if (i % 2 == 1) {
      auto* media = request.add_media();
      media->set_content_type("image/png");
      media->set_data("picture " + std::to_string(i));
    }
    v1::Message message;
    auto context = gateway.Context();
    grpc::Status status = messaging->SendMessage(context.get(), request, &message);
    EXPECT_TRUE(status.ok()) << status.error_message();
    sent.push_back(message);
  }
  return sent;
}

int InboxSize(MmsgateProcess& gateway, const std::string& number) {
  auto channel = gateway.Channel();
  auto simulator = v1::Simulator::NewStub(channel);
  v1::GetHandsetInboxRequest request;
  request.set_number(number);
  v1::HandsetInbox inbox;
  auto context = gateway.Context();
  EXPECT_TRUE(simulator->GetHandsetInbox(context.get(), request, &inbox).ok());
  return inbox.messages_size();
}

v1::Message Get(v1::Messaging::Stub& messaging, MmsgateProcess& gateway, const std::string& sid) {
  v1::GetMessageRequest request;
  request.set_sid(sid);
  v1::Message message;
  auto context = gateway.Context();
  grpc::Status status = messaging.GetMessage(context.get(), request, &message);
  EXPECT_TRUE(status.ok()) << sid << ": " << status.error_message();
  return message;
}

// Waits (bounded) until every message reads DELIVERED; returns how many did.
int AwaitDelivered(v1::Messaging::Stub& messaging, MmsgateProcess& gateway,
                   const std::vector<v1::Message>& sent) {
  v1::WatchEventsRequest watch;
  for (const auto& message : sent) watch.add_message_sids(message.sid());
  watch.set_send_current(true);
  auto context = gateway.Context(60);
  auto reader = messaging.WatchEvents(context.get(), watch);
  std::set<std::string> open;
  for (const auto& message : sent) open.insert(message.sid());
  v1::Event event;
  while (!open.empty() && reader->Read(&event)) {
    if (event.message().status() == v1::DELIVERED) open.erase(event.message().sid());
  }
  context->TryCancel();
  return static_cast<int>(sent.size() - open.size());
}

class RestartTest : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove_all(data_dir_); }
  std::string data_dir_ = MmsgateProcess::MakeTempDir("restart");
};

TEST_F(RestartTest, AcceptedMessagesAreReadableAfterStopAndStart) {
  MmsgateProcess::Options options;
  options.data_dir = data_dir_;
  // Carriers so slow that nothing finishes before the stop: the restart must resume them.
  options.scenario_text = TestScenario(/*latency_ms=*/600000);
  auto first = MmsgateProcess::Start(options);
  const auto sent = SendSome(*first, 6);
  ASSERT_EQ(first->Stop(), 0) << first->Log();

  options.scenario_text = TestScenario(/*latency_ms=*/10);
  auto second = MmsgateProcess::Start(options);
  auto channel = second->Channel();
  auto messaging = v1::Messaging::NewStub(channel);
  for (const auto& message : sent) {
    const v1::Message stored = Get(*messaging, *second, message.sid());
    EXPECT_EQ(stored.body(), message.body());
    EXPECT_EQ(stored.num_media(), message.num_media());
  }
  // The unfinished messages were resumed and now reach the handset, each exactly once.
  EXPECT_EQ(AwaitDelivered(*messaging, *second, sent), 6);
  auto simulator = v1::Simulator::NewStub(channel);
  v1::GetHandsetInboxRequest inbox_request;
  inbox_request.set_number(kUsMmsSubscriber);
  v1::HandsetInbox inbox;
  auto context = second->Context();
  ASSERT_TRUE(simulator->GetHandsetInbox(context.get(), inbox_request, &inbox).ok());
  EXPECT_EQ(inbox.messages_size(), 6);
  for (const auto& got : inbox.messages()) {
    if (got.kind() == v1::HandsetMessage::MMS) {
      ASSERT_EQ(got.media_size(), 1);
      EXPECT_THAT(got.text(), ::testing::StartsWith("survivor "));
      const std::string index = got.text().substr(std::string("survivor ").size());
      EXPECT_EQ(got.media(0).sha256(), Sha256Hex("picture " + index));
    }
  }
  messaging.reset();
  simulator.reset();
  channel.reset();
  EXPECT_EQ(second->Stop(), 0);

  // The phone remembers what it received across restarts, once each.
  auto third = MmsgateProcess::Start(options);
  EXPECT_EQ(InboxSize(*third, kUsMmsSubscriber), 6);
  EXPECT_EQ(third->Stop(), 0);
}

TEST_F(RestartTest, AcceptedMessagesSurviveSigkill) {
  MmsgateProcess::Options options;
  options.data_dir = data_dir_;
  options.scenario_text = TestScenario(/*latency_ms=*/600000);
  auto first = MmsgateProcess::Start(options);
  const auto sent = SendSome(*first, 10);
  first->Kill();

  options.scenario_text = TestScenario(/*latency_ms=*/10);
  auto second = MmsgateProcess::Start(options);
  auto channel = second->Channel();
  auto messaging = v1::Messaging::NewStub(channel);
  for (const auto& message : sent) {
    EXPECT_EQ(Get(*messaging, *second, message.sid()).body(), message.body());
  }
  EXPECT_EQ(AwaitDelivered(*messaging, *second, sent), 10);
  messaging.reset();
  channel.reset();
  // Every message that reads DELIVERED is on the phone, and stays there through a SIGKILL.
  second->Kill();
  auto third = MmsgateProcess::Start(options);
  EXPECT_EQ(InboxSize(*third, kUsMmsSubscriber), 10);
  EXPECT_EQ(third->Stop(), 0);
}

}  // namespace
}  // namespace mmsgate::testing
