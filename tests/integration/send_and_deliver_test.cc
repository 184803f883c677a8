// End to end over real gRPC: SMS and MMS accepted, routed, delivered to handsets, watched.

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>

#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::ElementsAre;

std::string RandomBytes(std::size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string bytes(size, '\0');
  for (auto& b : bytes) b = static_cast<char>(random());
  return bytes;
}

class SendAndDeliverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MmsgateProcess::Options options;
    options.scenario_text = TestScenario();
    gateway_ = MmsgateProcess::Start(options);
    channel_ = gateway_->Channel();
    messaging_ = v1::Messaging::NewStub(channel_);
    simulator_ = v1::Simulator::NewStub(channel_);
  }
  void TearDown() override {
    // Close the client side first: the server's graceful shutdown waits for open connections.
    messaging_.reset();
    simulator_.reset();
    channel_.reset();
    EXPECT_EQ(gateway_->Stop(), 0) << gateway_->Log();
  }

  v1::Message Send(const v1::SendMessageRequest& request) {
    v1::Message message;
    auto context = gateway_->Context();
    grpc::Status status = messaging_->SendMessage(context.get(), request, &message);
    EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    return message;
  }

  // An open WatchEvents stream, registered (the server sent its initial metadata), so no event
  // published after this returns is missed. Cancel() ends it.
  struct Watch {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::Event>> reader;
    grpc::ClientReader<v1::Event>* get() const { return reader.get(); }
    void Cancel() const { context->TryCancel(); }
  };
  Watch OpenWatch(const v1::WatchEventsRequest& request = {}) {
    Watch watch{gateway_->Context(60), nullptr};
    watch.reader = messaging_->WatchEvents(watch.context.get(), request);
    watch.reader->WaitForInitialMetadata();
    return watch;
  }

  // Reads events until every SID in `sids` has reached a final status; returns each message's
  // statuses in order.
  std::map<std::string, std::vector<v1::MessageStatus>> AwaitFinal(
      grpc::ClientReader<v1::Event>* reader, const std::set<std::string>& sids) {
    std::map<std::string, std::vector<v1::MessageStatus>> seen;
    std::set<std::string> open = sids;
    v1::Event event;
    while (!open.empty() && reader->Read(&event)) {
      const auto& message = event.message();
      if (!sids.contains(message.sid())) continue;
      seen[message.sid()].push_back(message.status());
      if (message.status() == v1::DELIVERED || message.status() == v1::UNDELIVERED ||
          message.status() == v1::FAILED) {
        open.erase(message.sid());
      }
    }
    EXPECT_TRUE(open.empty()) << "events stopped before every message finished";
    return seen;
  }

  v1::HandsetInbox Inbox(const std::string& number) {
    v1::GetHandsetInboxRequest request;
    request.set_number(number);
    v1::HandsetInbox inbox;
    auto context = gateway_->Context();
    EXPECT_TRUE(simulator_->GetHandsetInbox(context.get(), request, &inbox).ok());
    return inbox;
  }

  std::unique_ptr<MmsgateProcess> gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
};

TEST_F(SendAndDeliverTest, SmsAndMmsWithTwoInlineMediaAreDeliveredIntact) {
  const Watch watch = OpenWatch();

  v1::SendMessageRequest sms;
  sms.set_from(kMmsLongCode);
  sms.set_to(kUsMmsSubscriber);
  sms.set_body("Hello from mmsgate");
  const v1::Message sent_sms = Send(sms);

  const std::string png = RandomBytes(150 * 1024, 1);
  const std::string jpeg = RandomBytes(80 * 1024, 2);
  v1::SendMessageRequest mms;
  mms.set_from(kMmsLongCode);
  mms.set_to(kUsMmsSubscriber);
  mms.set_body("Two pictures");
  auto* first = mms.add_media();
  first->set_content_type("image/png");
  first->set_data(png);
  auto* second = mms.add_media();
  second->set_content_type("image/jpeg");
  second->set_data(jpeg);
  const v1::Message sent_mms = Send(mms);

  EXPECT_THAT(sent_sms.sid(), ::testing::MatchesRegex("SM[0-9a-f]{32}"));
  EXPECT_THAT(sent_mms.sid(), ::testing::MatchesRegex("MM[0-9a-f]{32}"));
  EXPECT_EQ(sent_sms.status(), v1::QUEUED);
  EXPECT_EQ(sent_mms.status(), v1::QUEUED);
  EXPECT_EQ(sent_mms.delivered_as(), v1::MMS);
  EXPECT_EQ(sent_mms.carrier_id(), "mmsnet");
  EXPECT_EQ(sent_mms.num_media(), 2);

  auto statuses = AwaitFinal(watch.get(), {sent_sms.sid(), sent_mms.sid()});
  for (const auto& sid : {sent_sms.sid(), sent_mms.sid()}) {
    EXPECT_THAT(statuses[sid],
                ElementsAre(v1::ACCEPTED, v1::QUEUED, v1::SENDING, v1::SENT, v1::DELIVERED))
        << sid;
  }
  watch.Cancel();

  // The handset has both, and the media bytes it received hash to what was sent.
  const v1::HandsetInbox inbox = Inbox(kUsMmsSubscriber);
  ASSERT_EQ(inbox.messages_size(), 2);
  std::map<std::string, v1::HandsetMessage> by_sid;
  for (const auto& message : inbox.messages()) by_sid[message.message_sid()] = message;
  const auto& got_sms = by_sid.at(sent_sms.sid());
  EXPECT_EQ(got_sms.kind(), v1::HandsetMessage::SMS);
  EXPECT_EQ(got_sms.text(), "Hello from mmsgate");
  EXPECT_EQ(got_sms.from(), kMmsLongCode);
  EXPECT_EQ(got_sms.segments(), 1);
  const auto& got_mms = by_sid.at(sent_mms.sid());
  EXPECT_EQ(got_mms.kind(), v1::HandsetMessage::MMS);
  EXPECT_EQ(got_mms.text(), "Two pictures");
  ASSERT_EQ(got_mms.media_size(), 2);
  EXPECT_EQ(got_mms.media(0).content_type(), "image/png");
  EXPECT_EQ(got_mms.media(0).size(), static_cast<int64_t>(png.size()));
  EXPECT_EQ(got_mms.media(0).sha256(), Sha256Hex(png));
  EXPECT_EQ(got_mms.media(1).content_type(), "image/jpeg");
  EXPECT_EQ(got_mms.media(1).sha256(), Sha256Hex(jpeg));

  // The stored message says what happened, and lists its media.
  v1::GetMessageRequest get;
  get.set_sid(sent_mms.sid());
  v1::Message stored;
  auto context = gateway_->Context();
  ASSERT_TRUE(messaging_->GetMessage(context.get(), get, &stored).ok());
  EXPECT_EQ(stored.status(), v1::DELIVERED);
  EXPECT_EQ(stored.error_code(), 0);
  EXPECT_TRUE(stored.has_date_sent());
  v1::ListMediaRequest list_media;
  list_media.set_message_sid(sent_mms.sid());
  v1::ListMediaResponse media;
  context = gateway_->Context();
  ASSERT_TRUE(messaging_->ListMedia(context.get(), list_media, &media).ok());
  ASSERT_EQ(media.media_size(), 2);
  EXPECT_THAT(media.media(0).sid(), ::testing::MatchesRegex("ME[0-9a-f]{32}"));
  EXPECT_EQ(media.media(0).sha256(), Sha256Hex(png));
  EXPECT_EQ(media.media(1).sha256(), Sha256Hex(jpeg));
}

// A watcher that asks for outcomes only gets the final status of each message, nothing before
// it; one that asks for no status at all (UNSPECIFIED) is refused with 21200.
TEST_F(SendAndDeliverTest, AWatcherCanAskForFinalStatusesOnly) {
  v1::WatchEventsRequest finals;
  for (auto status : {v1::DELIVERED, v1::UNDELIVERED, v1::FAILED}) finals.add_statuses(status);
  const Watch final_watch = OpenWatch(finals);
  const Watch all_watch = OpenWatch();

  v1::SendMessageRequest sms;
  sms.set_from(kMmsLongCode);
  sms.set_to(kUsMmsSubscriber);
  sms.set_body("only the outcome");
  const v1::Message first = Send(sms);
  const v1::Message second = Send(sms);
  // The unfiltered watcher sees every step (and so both messages are final by its end).
  const auto all = AwaitFinal(all_watch.get(), {first.sid(), second.sid()});
  EXPECT_THAT(all.at(first.sid()),
              ElementsAre(v1::ACCEPTED, v1::QUEUED, v1::SENDING, v1::SENT, v1::DELIVERED));
  const auto outcomes = AwaitFinal(final_watch.get(), {first.sid(), second.sid()});
  EXPECT_THAT(outcomes.at(first.sid()), ElementsAre(v1::DELIVERED));
  EXPECT_THAT(outcomes.at(second.sid()), ElementsAre(v1::DELIVERED));
  final_watch.Cancel();
  all_watch.Cancel();

  // UNSPECIFIED is checked by the service, a number outside the enum while decoding: both 21200.
  for (int bad : {0, 99}) {
    SCOPED_TRACE(bad);
    v1::WatchEventsRequest request;
    request.add_statuses(static_cast<v1::MessageStatus>(bad));
    auto context = gateway_->Context();
    auto refused = messaging_->WatchEvents(context.get(), request);
    v1::Event event;
    EXPECT_FALSE(refused->Read(&event));
    const grpc::Status status = refused->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("21200"));
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr("statuses[0] = " + std::to_string(bad)));
  }
}

TEST_F(SendAndDeliverTest, MmsToCarrierWithoutMmsArrivesAsSmsWithLink) {
  const Watch watch = OpenWatch();

  v1::SendMessageRequest mms;
  mms.set_from(kMmsLongCode);
  mms.set_to(kUsSmsOnlySubscriber);
  mms.set_body("See this");
  auto* media = mms.add_media();
  media->set_content_type("image/gif");
  media->set_data(RandomBytes(2000, 3));
  const v1::Message sent = Send(mms);
  EXPECT_EQ(sent.delivered_as(), v1::SMS_WITH_LINK);
  EXPECT_EQ(sent.fallback_reason(), v1::CARRIER_NO_MMS);
  EXPECT_THAT(sent.link_url(),
              ::testing::MatchesRegex("http://127\\.0\\.0\\.1:[0-9]+/m/[0-9a-f]{40}"));
  AwaitFinal(watch.get(), {sent.sid()});
  watch.Cancel();

  const v1::HandsetInbox inbox = Inbox(kUsSmsOnlySubscriber);
  ASSERT_EQ(inbox.messages_size(), 1);
  EXPECT_EQ(inbox.messages(0).kind(), v1::HandsetMessage::SMS);
  EXPECT_EQ(inbox.messages(0).text(), "See this\n" + sent.link_url());
  EXPECT_EQ(inbox.messages(0).media_size(), 0);
}

TEST_F(SendAndDeliverTest, RedactionEmptiesAFinishedMessagesText) {
  const Watch watch = OpenWatch();
  v1::SendMessageRequest request;
  request.set_from(kMmsLongCode);
  request.set_to(kUsMmsSubscriber);
  request.set_body("your code is 1234");
  const v1::Message sent = Send(request);
  v1::RedactMessageRequest redact;
  redact.set_sid(sent.sid());
  v1::Message redacted;
  // (An unfinished message's refusal, 20009, is checked where nothing races it: the store
  // contract test, and the Python test with a carrier that holds messages for minutes.)
  AwaitFinal(watch.get(), {sent.sid()});
  watch.Cancel();
  {
    auto context = gateway_->Context();
    const grpc::Status status = messaging_->RedactMessage(context.get(), redact, &redacted);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(redacted.body(), "");
  EXPECT_EQ(redacted.delivered_text(), "");
  EXPECT_EQ(redacted.status(), v1::DELIVERED);
  v1::GetMessageRequest get;
  get.set_sid(sent.sid());
  v1::Message fetched;
  auto context = gateway_->Context();
  ASSERT_TRUE(messaging_->GetMessage(context.get(), get, &fetched).ok());
  EXPECT_EQ(fetched.body(), "");
  EXPECT_EQ(fetched.to(), kUsMmsSubscriber);
  // The phone keeps what it received: redaction is of the provider's record.
  EXPECT_EQ(Inbox(kUsMmsSubscriber).messages(0).text(), "your code is 1234");
}

TEST_F(SendAndDeliverTest, MmsAbroadArrivesAsSmsWithLink) {
  v1::SendMessageRequest mms;
  mms.set_from(kMmsLongCode);
  mms.set_to(kGbSubscriber);
  mms.set_body("Hello London");
  auto* media = mms.add_media();
  media->set_content_type("image/jpeg");
  media->set_data(RandomBytes(1000, 4));
  const v1::Message sent = Send(mms);
  EXPECT_EQ(sent.delivered_as(), v1::SMS_WITH_LINK);
  EXPECT_EQ(sent.fallback_reason(), v1::INTERNATIONAL);
  EXPECT_EQ(sent.carrier_id(), "albion");
}

TEST_F(SendAndDeliverTest, ListMessagesPagesNewestFirstWithFilters) {
  std::vector<std::string> sids;
  for (int i = 0; i < 7; ++i) {
    v1::SendMessageRequest sms;
    sms.set_from(i % 2 == 0 ? kMmsLongCode : kShortCode);
    sms.set_to(kCaMmsSubscriber);
    sms.set_body("message " + std::to_string(i));
    sids.push_back(Send(sms).sid());
  }
  std::vector<std::string> listed;
  std::string token;
  int pages = 0;
  do {
    v1::ListMessagesRequest request;
    request.set_page_size(3);
    request.set_page_token(token);
    v1::ListMessagesResponse response;
    auto context = gateway_->Context();
    ASSERT_TRUE(messaging_->ListMessages(context.get(), request, &response).ok());
    for (const auto& message : response.messages()) listed.push_back(message.sid());
    token = response.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  std::vector<std::string> newest_first(sids.rbegin(), sids.rend());
  EXPECT_EQ(listed, newest_first);

  v1::ListMessagesRequest filtered;
  filtered.set_from(kShortCode);
  v1::ListMessagesResponse response;
  auto context = gateway_->Context();
  ASSERT_TRUE(messaging_->ListMessages(context.get(), filtered, &response).ok());
  EXPECT_EQ(response.messages_size(), 3);
  for (const auto& message : response.messages()) EXPECT_EQ(message.from(), kShortCode);
}

TEST_F(SendAndDeliverTest, AnotherAccountCannotSeeTheMessage) {
  v1::SendMessageRequest sms;
  sms.set_from(kMmsLongCode);
  sms.set_to(kUsMmsSubscriber);
  sms.set_body("private");
  const v1::Message sent = Send(sms);

  auto context = MmsgateProcess::ContextFor(kNoConversionAccountSid, kNoConversionAuthToken);
  v1::GetMessageRequest get;
  get.set_sid(sent.sid());
  v1::Message message;
  grpc::Status status = messaging_->GetMessage(context.get(), get, &message);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), ::testing::StartsWith("20404: "));
}

TEST_F(SendAndDeliverTest, HealthCheckingIsServing) {
  auto context = gateway_->Context();
  grpc::ByteBuffer request_buffer;
  // grpc.health.v1.HealthCheckRequest{service: ""} is the empty message.
  grpc::GenericStub generic(channel_);
  grpc::ByteBuffer response;
  grpc::Status status;
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  grpc::Slice empty;
  grpc::ByteBuffer empty_request(&empty, 1);
  generic.UnaryCall(context.get(), "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                    &empty_request, &response, [&](grpc::Status s) {
                      std::lock_guard lock(mutex);
                      status = s;
                      done = true;
                      done_cv.notify_one();
                    });
  std::unique_lock lock(mutex);
  done_cv.wait(lock, [&] { return done; });
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& slice : slices)
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  // HealthCheckResponse{status: SERVING(1)} is field 1, varint 1.
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(SendAndDeliverTest, ServerReflectionListsTheServices) {
  // A raw bidi call, as generic tools (grpcurl, Postman) make it.
  grpc::GenericStub generic(channel_);
  grpc::CompletionQueue cq;
  auto context = gateway_->Context();
  auto call = generic.PrepareCall(
      context.get(), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](int expected_tag) {
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, reinterpret_cast<void*>(expected_tag));
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  // ServerReflectionRequest{list_services: ""}: field 7, length 0.
  grpc::Slice request_slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer request(&request_slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  step(2);
  call->WritesDone(reinterpret_cast<void*>(3));
  step(3);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(4));
  step(4);
  ASSERT_TRUE(ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& slice : slices)
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  EXPECT_THAT(bytes, ::testing::HasSubstr("mmsgate.v1.Messaging"));
  EXPECT_THAT(bytes, ::testing::HasSubstr("mmsgate.v1.Simulator"));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  EXPECT_TRUE(status.ok()) << status.error_message();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace
}  // namespace mmsgate::testing
