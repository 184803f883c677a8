// MessageStore::Delete and DeleteMedia (the REST facade's DELETE of messages and media).

#include <google/protobuf/util/time_util.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include <unistd.h>

#include "carriers/handsets.h"
#include "gateway/storage/message_store.h"
#include "carriers/base/sids.h"
#include "mmsc/storage/database.h"
#include "mmsc/storage/media_store.h"
#include "carriers/base/errors.h"

namespace mmsgate::gateway {
namespace {

namespace fs = std::filesystem;
namespace v1 = mmsgate::v1;

constexpr char kAccount[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kOtherAccount[] = "ACfedcba9876543210fedcba9876543210";
constexpr int64_t kBaseNs = 1'700'000'000'000'000'000;

class DeleteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() / ("mmsgate-delete-test-" + std::to_string(::getpid()) +
                                        "-" + std::to_string(random()));
    fs::create_directories(dir_);
    mmsc::DatabaseOptions options;
    options.sync_writes = false;
    auto database = mmsc::Database::Open(dir_.string(), options);
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = std::move(*database);
    media_store_ = std::make_unique<mmsc::MediaStore>(*database_);
    store_ = std::make_unique<MessageStore>(*database_, *media_store_);
  }
  void TearDown() override {
    store_.reset();
    media_store_.reset();
    database_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // An MMS with one media item per entry of `bytes`, saved as ACCEPTED (in the outbox).
  AdmittedMessage SaveMms(const std::vector<std::string>& bytes, int64_t created_ns,
                          const std::string& link_token = "") {
    AdmittedMessage admitted;
    v1::Message& m = admitted.message;
    m.set_sid(NewSid("MM"));
    m.set_account_sid(kAccount);
    m.set_from("+12025550100");
    m.set_to("+12025550123");
    m.set_status(v1::ACCEPTED);
    m.set_num_media(static_cast<int>(bytes.size()));
    *m.mutable_date_created() =
        google::protobuf::util::TimeUtil::NanosecondsToTimestamp(created_ns);
    for (const auto& data : bytes) {
      auto* media = m.add_media();
      media->set_sid(NewSid("ME"));
      media->set_parent_sid(m.sid());
      media->set_content_type("image/png");
      media->set_size(static_cast<int64_t>(data.size()));
      media->set_sha256(carriers::Sha256Hex(data));
      admitted.media.push_back({"image/png", std::make_shared<const std::string>(data)});
    }
    if (!link_token.empty()) {
      admitted.link_token = link_token;
      m.set_link_url("http://127.0.0.1:1/m/" + link_token);
    }
    rocksdb::WriteBatch batch;
    EXPECT_TRUE(store_->StageNew(batch, admitted).ok());
    EXPECT_TRUE(database_->WriteNow(std::move(batch)).ok());
    std::vector<std::string> staged;
    for (const auto& media : m.media()) staged.push_back(media.sha256());
    media_store_->StagingDone(staged);
    return admitted;
  }

  void Finish(v1::Message message, v1::MessageStatus status = v1::DELIVERED) {
    message.set_status(status);
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(store_->StageUpdate(batch, message, /*finished=*/true).ok());
    ASSERT_TRUE(database_->WriteNow(std::move(batch)).ok());
  }

  fs::path dir_;
  std::unique_ptr<mmsc::Database> database_;
  std::unique_ptr<mmsc::MediaStore> media_store_;
  std::unique_ptr<MessageStore> store_;
};

TEST_F(DeleteTest, UnfinishedMessageIsRefusedWith20009AndKept) {
  const auto admitted = SaveMms({"png-bytes"}, kBaseNs);
  const std::string sid = admitted.message.sid();
  for (auto status : {v1::ACCEPTED, v1::QUEUED, v1::SENDING, v1::SENT}) {
    v1::Message m = admitted.message;
    m.set_status(status);
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(store_->StageUpdate(batch, m, /*finished=*/false).ok());
    ASSERT_TRUE(database_->WriteNow(std::move(batch)).ok());
    const auto deleted = store_->Delete(kAccount, sid);
    EXPECT_EQ(deleted.code(), absl::StatusCode::kAborted) << v1::MessageStatus_Name(status);
    EXPECT_EQ(ProviderErrorCode(deleted), 20009);
    EXPECT_TRUE(store_->Get(sid).ok());
  }
  EXPECT_EQ(ProviderErrorCode(store_->DeleteMedia(kAccount, sid, admitted.message.media(0).sid())),
            20009);
  EXPECT_THAT(store_->Unfinished(), ::testing::ElementsAre(sid));
  EXPECT_EQ(media_store_->CountBlobs(), 1u);
}

TEST_F(DeleteTest, AnotherAccountsOrUnknownMessageIsNotFound) {
  const auto admitted = SaveMms({"png-bytes"}, kBaseNs);
  Finish(admitted.message);
  auto deleted = store_->Delete(kOtherAccount, admitted.message.sid());
  EXPECT_EQ(deleted.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ProviderErrorCode(deleted), 20404);
  EXPECT_EQ(store_->Delete(kAccount, "MM00000000000000000000000000000000").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteMedia(kAccount, admitted.message.sid(), "ME0").code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->Get(admitted.message.sid()).ok());
}

TEST_F(DeleteTest, FinishedMessageGoesWithIndexLinkAndUnsharedMedia) {
  const std::string token(40, 'a');
  const auto shared_a = SaveMms({"shared", "only-mine"}, kBaseNs, token);
  const auto shared_b = SaveMms({"shared"}, kBaseNs + 1000);
  Finish(shared_a.message, v1::UNDELIVERED);
  ASSERT_EQ(media_store_->CountBlobs(), 2u);

  ASSERT_TRUE(store_->Delete(kAccount, shared_a.message.sid()).ok());
  EXPECT_EQ(store_->Get(shared_a.message.sid()).status().code(), absl::StatusCode::kNotFound);
  auto list = store_->List(kAccount, {});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->messages_size(), 1);
  EXPECT_EQ(list->messages(0).sid(), shared_b.message.sid());
  EXPECT_FALSE(store_->MessageSidForLink(token).ok());
  // "shared" is still used by the other message; "only-mine" is gone.
  EXPECT_EQ(media_store_->CountBlobs(), 1u);
  EXPECT_TRUE(media_store_->Read(carriers::Sha256Hex("shared")).ok());
  EXPECT_FALSE(media_store_->Read(carriers::Sha256Hex("only-mine")).ok());
  // Deleting again: not found.
  EXPECT_EQ(store_->Delete(kAccount, shared_a.message.sid()).code(), absl::StatusCode::kNotFound);
}

TEST_F(DeleteTest, DeleteMediaKeepsTheMessageAndItsOtherMedia) {
  const auto admitted = SaveMms({"first", "second", "first"}, kBaseNs);
  Finish(admitted.message);
  const std::string sid = admitted.message.sid();
  // The first of two items with the same bytes: the blob stays for the other.
  ASSERT_TRUE(store_->DeleteMedia(kAccount, sid, admitted.message.media(0).sid()).ok());
  auto message = store_->Get(sid);
  ASSERT_TRUE(message.ok());
  ASSERT_EQ(message->media_size(), 2);
  EXPECT_EQ(message->media(0).sid(), admitted.message.media(1).sid());
  EXPECT_EQ(message->status(), v1::DELIVERED);
  EXPECT_EQ(media_store_->CountBlobs(), 2u);
  ASSERT_TRUE(store_->DeleteMedia(kAccount, sid, admitted.message.media(1).sid()).ok());
  EXPECT_FALSE(media_store_->Read(carriers::Sha256Hex("second")).ok());
  EXPECT_TRUE(media_store_->Read(carriers::Sha256Hex("first")).ok());
  EXPECT_EQ(store_->DeleteMedia(kAccount, sid, admitted.message.media(1).sid()).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->Unfinished().empty());
}

TEST_F(DeleteTest, ListAcceptsAnExtraFilter) {
  const auto a = SaveMms({"x"}, kBaseNs);
  const auto b = SaveMms({"y"}, kBaseNs + 1000);
  ASSERT_NE(a.message.sid(), b.message.sid());
  v1::ListMessagesRequest request;
  auto list = store_->List(kAccount, request, [&](const v1::Message& m) {
    return m.sid() == a.message.sid();
  });
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->messages_size(), 1);
  EXPECT_EQ(list->messages(0).sid(), a.message.sid());
}

}  // namespace
}  // namespace mmsgate::gateway
