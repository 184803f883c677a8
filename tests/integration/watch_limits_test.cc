// WatchEvents cannot be used to hold the gateway's memory: a reader that stops reading is cut
// off with 20429 at the documented lag, and an account may hold only so many streams open.

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_replace.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/messaging.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::HasSubstr;

std::string UnthrottledScenario() {
  return absl::StrReplaceAll(TestScenario(0),
                             {{"seed: 7", "seed: 7 disable_sender_rate_limits: true"}});
}

TEST(WatchLimitsTest, AReaderThatStopsReadingIsCutOffWith20429) {
  MmsgateProcess::Options options;
  options.scenario_text = UnthrottledScenario();
  options.extra_args = {"--watch-max-lag", "50", "--no-sync"};
  auto gateway = MmsgateProcess::Start(options);
  auto messaging = v1::Messaging::NewStub(gateway->Channel());

  // The slow reader's own connection announces a small window and never grows it, so what it
  // does not read stays at the gateway (a client on a slow link looks the same).
  grpc::ChannelArguments slow_reader;
  slow_reader.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  slow_reader.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
  auto slow_stub = v1::Messaging::NewStub(grpc::CreateCustomChannel(
      gateway->grpc_address(), grpc::InsecureChannelCredentials(), slow_reader));
  auto watch_context = gateway->Context(120);
  auto watch = slow_stub->WatchEvents(watch_context.get(), v1::WatchEventsRequest());
  watch->WaitForInitialMetadata();
  // The watcher reads nothing while the account's traffic makes far more events than the
  // transport's buffers hold (each message makes five).
  constexpr int kMessages = 1000;
  v1::SendMessageRequest sms;
  sms.set_from(kMmsLongCode);
  sms.set_to(kUsMmsSubscriber);
  sms.set_body("an event for a reader that does not read");
  for (int i = 0; i < kMessages; ++i) {
    v1::Message sent;
    ASSERT_TRUE(messaging->SendMessage(gateway->Context().get(), sms, &sent).ok());
  }
  // Now it reads: what was sent before the cut-off, then the status.
  int events = 0;
  v1::Event event;
  while (watch->Read(&event)) ++events;
  const grpc::Status status = watch->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("20429: this watcher fell 50 events behind"));
  EXPECT_LT(events, kMessages * 4) << "the stream was not cut off";
  // The gateway serves on; a new watcher is welcome.
  auto again_context = gateway->Context(30);
  auto again = messaging->WatchEvents(again_context.get(), v1::WatchEventsRequest());
  again->WaitForInitialMetadata();
  v1::Message sent;
  ASSERT_TRUE(messaging->SendMessage(gateway->Context().get(), sms, &sent).ok());
  // Earlier messages may still be reporting their delivery; the new one's events follow.
  bool saw_new_message = false;
  while (!saw_new_message && again->Read(&event))
    saw_new_message = event.message().sid() == sent.sid();
  EXPECT_TRUE(saw_new_message);
  again_context->TryCancel();
  EXPECT_EQ(gateway->Stop(), 0);
}

TEST(WatchLimitsTest, AnAccountMayHoldOnlySoManyStreams) {
  MmsgateProcess::Options options;
  options.scenario_text = UnthrottledScenario();
  options.extra_args = {"--max-watchers-per-account", "2"};
  auto gateway = MmsgateProcess::Start(options);
  auto messaging = v1::Messaging::NewStub(gateway->Channel());
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::Event>>> streams;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(gateway->Context(60));
    streams.push_back(messaging->WatchEvents(contexts.back().get(), v1::WatchEventsRequest()));
    streams.back()->WaitForInitialMetadata();
  }
  auto third_context = gateway->Context(60);
  auto third = messaging->WatchEvents(third_context.get(), v1::WatchEventsRequest());
  v1::Event event;
  EXPECT_FALSE(third->Read(&event));
  const grpc::Status refused = third->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("20429: this account already has 2 WatchEvents"));
  // Another account is not affected.
  auto other_context = MmsgateProcess::ContextFor(kNoConversionAccountSid, kNoConversionAuthToken);
  auto other = messaging->WatchEvents(other_context.get(), v1::WatchEventsRequest());
  other->WaitForInitialMetadata();
  other_context->TryCancel();
  (void)other->Finish();
  // Closing one frees its slot (once the gateway has seen the stream end).
  contexts[0]->TryCancel();
  (void)streams[0]->Finish();
  bool reopened = false;
  for (int i = 0; i < 200 && !reopened; ++i) {
    auto context = gateway->Context(60);
    auto stream = messaging->WatchEvents(context.get(), v1::WatchEventsRequest());
    stream->WaitForInitialMetadata();
    v1::SendMessageRequest sms;
    sms.set_from(kMmsLongCode);
    sms.set_to(kUsMmsSubscriber);
    sms.set_body("reopened?");
    v1::Message sent;
    ASSERT_TRUE(messaging->SendMessage(gateway->Context().get(), sms, &sent).ok());
    reopened = stream->Read(&event);
    context->TryCancel();
    (void)stream->Finish();
    if (!reopened) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(reopened);
  contexts[1]->TryCancel();
  (void)streams[1]->Finish();
  EXPECT_EQ(gateway->Stop(), 0);
}

}  // namespace
}  // namespace mmsgate::testing
