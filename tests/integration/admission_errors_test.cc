// Every refusal of SendMessage over real gRPC: the right status, the provider code in the
// message, the trailer and the structured detail, and nothing stored.

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/messaging.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;

struct Refusal {
  grpc::StatusCode status;
  int code;
};

class AdmissionErrorsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MmsgateProcess::Options options;
    options.scenario_text = TestScenario();
    gateway_ = MmsgateProcess::Start(options).release();
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(gateway_->Stop(), 0) << gateway_->Log();
    delete gateway_;
    gateway_ = nullptr;
  }
  void SetUp() override {
    channel_ = gateway_->Channel();
    messaging_ = v1::Messaging::NewStub(channel_);
  }

  static v1::SendMessageRequest ValidSms() {
    v1::SendMessageRequest request;
    request.set_from(kMmsLongCode);
    request.set_to(kUsMmsSubscriber);
    request.set_body("hello");
    return request;
  }

  static void AddMedia(v1::SendMessageRequest& request, const std::string& type, std::size_t size) {
    auto* media = request.add_media();
    media->set_content_type(type);
    media->set_data(std::string(size, 'x'));
  }

  // Every message of both test accounts, across pages.
  int StoredMessageCount() {
    int count = 0;
    for (auto [sid, token] : {std::pair{kAccountSid, kAuthToken},
                              std::pair{kNoConversionAccountSid, kNoConversionAuthToken}}) {
      std::string page_token;
      do {
        v1::ListMessagesRequest request;
        request.set_page_size(1000);
        request.set_page_token(page_token);
        v1::ListMessagesResponse response;
        auto context = MmsgateProcess::ContextFor(sid, token);
        EXPECT_TRUE(messaging_->ListMessages(context.get(), request, &response).ok());
        count += response.messages_size();
        page_token = response.next_page_token();
      } while (!page_token.empty());
    }
    return count;
  }

  // Sends `request` and checks it is refused with `expected`, with the code everywhere a
  // client may look, and that nothing was stored.
  void ExpectRefused(const v1::SendMessageRequest& request, Refusal expected,
                     std::unique_ptr<grpc::ClientContext> context = nullptr) {
    const int before = StoredMessageCount();
    if (!context) context = gateway_->Context();
    v1::Message message;
    grpc::Status status = messaging_->SendMessage(context.get(), request, &message);
    EXPECT_EQ(status.error_code(), expected.status) << status.error_message();
    const std::string code = std::to_string(expected.code);
    EXPECT_THAT(status.error_message(), ::testing::StartsWith(code + ": "));
    EXPECT_LT(status.error_message().size(), 1000u) << "the error echoes too much input";
    auto trailers = context->GetServerTrailingMetadata();
    auto it = trailers.find("mmsgate-error-code");
    ASSERT_NE(it, trailers.end());
    EXPECT_EQ(std::string(it->second.data(), it->second.size()), code);
    v1::RpcStatus details;
    ASSERT_TRUE(details.ParseFromString(status.error_details()));
    ASSERT_EQ(details.details_size(), 1);
    v1::ErrorDetail detail;
    ASSERT_TRUE(details.details(0).UnpackTo(&detail));
    EXPECT_EQ(detail.code(), expected.code);
    EXPECT_EQ(StoredMessageCount(), before) << "a refused message was stored";
  }

  static MmsgateProcess* gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Messaging::Stub> messaging_;
};

MmsgateProcess* AdmissionErrorsTest::gateway_ = nullptr;

constexpr auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;

TEST_F(AdmissionErrorsTest, MissingCredentialsAreUnauthenticated) {
  auto context = std::make_unique<grpc::ClientContext>();
  ExpectRefused(ValidSms(), {grpc::StatusCode::UNAUTHENTICATED, 20003}, std::move(context));
}

TEST_F(AdmissionErrorsTest, WrongTokenIsUnauthenticated) {
  ExpectRefused(ValidSms(), {grpc::StatusCode::UNAUTHENTICATED, 20003},
                MmsgateProcess::ContextFor(kAccountSid, "wrong-token"));
}

TEST_F(AdmissionErrorsTest, GarbageAuthorizationIsUnauthenticated) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", "Basic !!!not-base64!!!");
  ExpectRefused(ValidSms(), {grpc::StatusCode::UNAUTHENTICATED, 20003}, std::move(context));
}

TEST_F(AdmissionErrorsTest, InvalidToIs21211) {
  auto request = ValidSms();
  request.set_to("+1555");
  ExpectRefused(request, {kInvalid, 21211});
  request.set_to("not a number");
  ExpectRefused(request, {kInvalid, 21211});
}

TEST_F(AdmissionErrorsTest, EmptyToAndFromAreRequired) {
  auto request = ValidSms();
  request.set_to("");
  ExpectRefused(request, {kInvalid, 21604});
  request = ValidSms();
  request.set_from("");
  ExpectRefused(request, {kInvalid, 21603});
}

TEST_F(AdmissionErrorsTest, FromNotOwnedIs21606) {
  auto request = ValidSms();
  request.set_from("+12025550199");
  ExpectRefused(request, {kInvalid, 21606});
  // A number of another account is not yours either.
  request.set_from(kStrictLongCode);
  ExpectRefused(request, {kInvalid, 21606});
}

TEST_F(AdmissionErrorsTest, MediaFromSmsOnlyNumberIs21621) {
  auto request = ValidSms();
  request.set_from(kSmsOnlyLongCode);
  AddMedia(request, "image/png", 100);
  ExpectRefused(request, {kInvalid, 21621});
}

TEST_F(AdmissionErrorsTest, NoBodyAndNoMediaIs21602) {
  auto request = ValidSms();
  request.set_body("");
  ExpectRefused(request, {kInvalid, 21602});
}

TEST_F(AdmissionErrorsTest, ElevenMediaIs21623) {
  auto request = ValidSms();
  for (int i = 0; i < 11; ++i) AddMedia(request, "image/png", 10);
  ExpectRefused(request, {kInvalid, 21623});
}

TEST_F(AdmissionErrorsTest, BodyOver1600CharactersIs21617) {
  auto request = ValidSms();
  request.set_body(std::string(1601, 'a'));
  ExpectRefused(request, {kInvalid, 21617});
}

TEST_F(AdmissionErrorsTest, TenMegabyteBodyIs21617) {
  auto request = ValidSms();
  request.set_body(std::string(10 * 1024 * 1024, 'a'));
  ExpectRefused(request, {kInvalid, 21617});
}

TEST_F(AdmissionErrorsTest, UnsupportedMediaTypeIsRefusedNamingTheType) {
  auto request = ValidSms();
  AddMedia(request, "application/x-msdownload", 100);
  const int before = StoredMessageCount();
  auto context = gateway_->Context();
  v1::Message message;
  grpc::Status status = messaging_->SendMessage(context.get(), request, &message);
  EXPECT_EQ(status.error_code(), kInvalid);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("application/x-msdownload"));
  EXPECT_EQ(StoredMessageCount(), before);
  ExpectRefused(request, {kInvalid, 12300});
}

TEST_F(AdmissionErrorsTest, MediaOverFiveMegabytesIs11751) {
  auto request = ValidSms();
  AddMedia(request, "image/jpeg", 3 * 1024 * 1024);
  AddMedia(request, "image/jpeg", 3 * 1024 * 1024);
  ExpectRefused(request, {kInvalid, 11751});
}

TEST_F(AdmissionErrorsTest, UnroutableDestinationIs21612) {
  auto request = ValidSms();
  request.set_to(kUnroutableSubscriber);
  ExpectRefused(request, {grpc::StatusCode::FAILED_PRECONDITION, 21612});
}

TEST_F(AdmissionErrorsTest, InternationalMmsWithConversionDisabledIsRefused) {
  v1::SendMessageRequest request;
  request.set_from(kStrictLongCode);
  request.set_to(kGbSubscriber);
  request.set_body("picture");
  AddMedia(request, "image/png", 100);
  ExpectRefused(request, {grpc::StatusCode::FAILED_PRECONDITION, 30011},
                MmsgateProcess::ContextFor(kNoConversionAccountSid, kNoConversionAuthToken));
}

TEST_F(AdmissionErrorsTest, BadStatusCallbackIs21609) {
  auto request = ValidSms();
  request.set_status_callback("ftp://example.invalid/cb");
  ExpectRefused(request, {kInvalid, 21609});
}

TEST_F(AdmissionErrorsTest, MalformedProtobufIsRefusedAndNothingStored) {
  const int before = StoredMessageCount();
  grpc::GenericStub generic(channel_);
  // Field 1 (from) declared as a 200-byte string but the buffer ends after 3 bytes; and a
  // proto3 string field holding invalid UTF-8.
  for (const std::string& bytes : {std::string("\x0a\xc8\x01"
                                               "abc",
                                               6),
                                   std::string("\x0a\x0c+12025550100\x12\x02\xff\xfe", 18)}) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    auto context = gateway_->Context();
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    generic.UnaryCall(context.get(), "/mmsgate.v1.Messaging/SendMessage", grpc::StubOptions(),
                      &request, &response, [&](grpc::Status s) {
                        std::lock_guard lock(mutex);
                        status = s;
                        done = true;
                        cv.notify_one();
                      });
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return done; });
    EXPECT_FALSE(status.ok());
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNKNOWN) << status.error_message();
  }
  EXPECT_EQ(StoredMessageCount(), before);
}

TEST_F(AdmissionErrorsTest, AValidMessageIsStoredAfterAllThoseRefusals) {
  // The control: the same helper sees a stored message when one is accepted.
  const int before = StoredMessageCount();
  v1::Message message;
  auto context = gateway_->Context();
  ASSERT_TRUE(messaging_->SendMessage(context.get(), ValidSms(), &message).ok());
  EXPECT_EQ(StoredMessageCount(), before + 1);
}

}  // namespace
}  // namespace mmsgate::testing
