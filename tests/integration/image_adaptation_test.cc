// Image content adaptation over the real binary: a 1.4 MB JPEG to a carrier whose max_mms_bytes
// is 1 MB is delivered as MMS, and the phone gets a JPEG under 1 MB that decodes, with the
// message recording both sizes; media that cannot be adapted (not an image, or a limit too small
// for a readable picture) go out as SMS + link, the link serving the original.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "fakes/test_images.h"
#include "integration/await_message.h"
#include "integration/http_client.h"
#include "integration/mmsgate_process.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;

constexpr const char* kAccount = "AC6666666666666666666666666666abcd";
constexpr const char* kToken = "adaptation-test-auth-token";
constexpr const char* kSender = "+12025550160";
constexpr const char* kOneMegabytePhone = "+12025550161";  // carrier "onemb": 1,000,000 bytes
constexpr const char* kTinyLimitPhone = "+13035550161";    // carrier "tiny": 1,500 bytes

class ImageAdaptationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = MmsgateProcess::MakeTempDir("adaptation");
    MmsgateProcess::Options options;
    options.data_dir = data_dir_;
    options.scenario_text = ScenarioAccountWithLongCode(kAccount, kToken, kSender) +
                            R"pb(carriers {
                                   id: "onemb"
                                   country: "US"
                                   prefixes: "+1202555"
                                   supports_mms: true
                                   max_mms_bytes: 1000000
                                   latency { median_ms: 5 }
                                 }
                                 carriers {
                                   id: "tiny"
                                   country: "US"
                                   prefixes: "+1303555"
                                   supports_mms: true
                                   max_mms_bytes: 1500
                                   latency { median_ms: 5 }
                                 }
                                 simulation { seed: 3 disable_sender_rate_limits: true })pb";
    gateway_ = MmsgateProcess::Start(options);
    auto channel = gateway_->Channel();
    messaging_ = v1::Messaging::NewStub(channel);
    simulator_ = v1::Simulator::NewStub(channel);
  }
  void TearDown() override {
    if (gateway_) gateway_->Stop();
    std::filesystem::remove_all(data_dir_);
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    return MmsgateProcess::ContextFor(kAccount, kToken);
  }

  grpc::Status SendMms(const std::string& to, const std::string& type, const std::string& bytes,
                       v1::Message* sent) {
    v1::SendMessageRequest request;
    request.set_from(kSender);
    request.set_to(to);
    request.set_body("a picture");
    auto* media = request.add_media();
    media->set_content_type(type);
    media->set_data(bytes);
    media->set_filename("picture");
    auto context = Context();
    return messaging_->SendMessage(context.get(), request, sent);
  }

  v1::Message AwaitDelivered(const std::string& sid) {
    return AwaitMessage(*messaging_, kAccount, kToken, sid, [](const v1::Message& message) {
      return message.status() == v1::DELIVERED;
    });
  }

  v1::HandsetInbox Inbox(const std::string& number) {
    v1::GetHandsetInboxRequest request;
    request.set_number(number);
    v1::HandsetInbox inbox;
    auto context = Context();
    EXPECT_TRUE(simulator_->GetHandsetInbox(context.get(), request, &inbox).ok());
    return inbox;
  }

  // The media's bytes as the REST facade serves them.
  std::string MediaBytes(const v1::Message& message, int index) {
    const auto response =
        HttpRequestTo(gateway_->http_address(), "GET",
                      std::string("/2010-04-01/Accounts/") + kAccount + "/Messages/" +
                          message.sid() + "/Media/" + message.media(index).sid());
    EXPECT_EQ(response.status, 200);
    return response.body;
  }

  std::string data_dir_;
  std::unique_ptr<MmsgateProcess> gateway_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
  std::unique_ptr<v1::Simulator::Stub> simulator_;
};

TEST_F(ImageAdaptationTest, A14MbJpegToA1MbCarrierArrivesAsADecodableJpegUnder1Mb) {
  const std::string original = JpegOfAbout(1'400'000);
  const auto before = Decode(original);
  ASSERT_TRUE(before.has_value());
  v1::Message sent;
  const grpc::Status status = SendMms(kOneMegabytePhone, "image/jpeg", original, &sent);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(sent.delivered_as(), v1::MMS) << "adapted, not turned into a link";
  EXPECT_EQ(sent.fallback_reason(), v1::NONE);
  EXPECT_TRUE(sent.link_url().empty());
  ASSERT_EQ(sent.media_size(), 1);
  EXPECT_EQ(sent.media(0).original_size(), static_cast<int64_t>(original.size()));
  EXPECT_EQ(sent.media(0).original_content_type(), "image/jpeg");
  EXPECT_EQ(sent.media(0).content_type(), "image/jpeg");
  EXPECT_LT(sent.media(0).size(), 1'000'000);

  const v1::Message delivered = AwaitDelivered(sent.sid());
  ASSERT_EQ(delivered.status(), v1::DELIVERED);
  EXPECT_EQ(delivered.media(0).original_size(), static_cast<int64_t>(original.size()));
  const auto inbox = Inbox(kOneMegabytePhone);
  ASSERT_EQ(inbox.messages_size(), 1);
  const auto& arrived = inbox.messages(0);
  EXPECT_EQ(arrived.kind(), v1::HandsetMessage::MMS);
  ASSERT_EQ(arrived.media_size(), 1);
  EXPECT_LT(arrived.media(0).size(), 1'000'000);
  EXPECT_EQ(arrived.media(0).sha256(), delivered.media(0).sha256());

  const std::string bytes = MediaBytes(delivered, 0);
  EXPECT_EQ(static_cast<int64_t>(bytes.size()), arrived.media(0).size());
  const auto after = Decode(bytes);
  ASSERT_TRUE(after.has_value()) << "the phone's picture decodes";
  EXPECT_EQ(after->loader, "jpegload_buffer");
  EXPECT_NEAR(double(after->width) / after->height, double(before->width) / before->height, 0.01)
      << "aspect ratio kept";
}

TEST_F(ImageAdaptationTest, WhatCannotBeAdaptedGoesOutAsSmsWithALinkToTheOriginal) {
  const std::string picture = JpegOfAbout(200'000);
  for (const auto& [to, type, bytes] :
       {std::tuple{kTinyLimitPhone, "image/jpeg", picture},
        std::tuple{kOneMegabytePhone, "video/mp4", std::string(1'200'000, 'v')}}) {
    v1::Message sent;
    const grpc::Status status = SendMms(to, type, bytes, &sent);
    ASSERT_TRUE(status.ok()) << type << ": " << status.error_message();
    EXPECT_EQ(sent.delivered_as(), v1::SMS_WITH_LINK) << type;
    EXPECT_EQ(sent.fallback_reason(), v1::OVER_CARRIER_SIZE_LIMIT) << type;
    EXPECT_EQ(sent.media(0).original_size(), 0) << type << " was not adapted";
    ASSERT_FALSE(sent.link_url().empty());
    EXPECT_EQ(AwaitDelivered(sent.sid()).status(), v1::DELIVERED);
    const auto link = HttpGetUrl(sent.link_url());
    EXPECT_EQ(link.status, 200) << type;
    EXPECT_EQ(link.body.size(), bytes.size()) << type << ": the link serves the original";
  }
}

}  // namespace
}  // namespace mmsgate::testing
