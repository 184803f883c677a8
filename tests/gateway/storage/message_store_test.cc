#include "gateway/storage/message_store.h"

#include <google/protobuf/util/time_util.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "carriers/handsets.h"
#include "carriers/base/sids.h"
#include "mmsc/storage/database.h"
#include "mmsc/storage/media_store.h"
#include "carriers/base/errors.h"

namespace mmsgate::gateway {
namespace {

namespace fs = std::filesystem;
namespace v1 = mmsgate::v1;
using ::testing::ElementsAre;

constexpr char kAccount[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kOtherAccount[] = "ACfedcba9876543210fedcba9876543210";
constexpr int64_t kBaseNs = 1'700'000'000'000'000'000;

// A fresh directory under the system temp dir, removed with everything in it afterwards.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = fs::temp_directory_path() /
            ("mmsgate-message-store-test-" + std::to_string(::getpid()) + "-" +
             std::to_string(random()) + "-" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string path() const { return path_.string(); }

 private:
  static inline std::atomic<int> counter_{0};
  fs::path path_;
};

AdmittedMessage MakeMessage(const std::string& account, const std::string& from,
                            const std::string& to, int64_t created_ns,
                            v1::MessageStatus status = v1::ACCEPTED) {
  AdmittedMessage admitted;
  v1::Message& m = admitted.message;
  m.set_sid(NewSid("SM"));
  m.set_account_sid(account);
  m.set_from(from);
  m.set_to(to);
  m.set_body("hello");
  m.set_status(status);
  m.set_direction(v1::OUTBOUND_API);
  m.set_delivered_as(v1::SMS);
  m.set_num_segments(1);
  const auto created = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(created_ns);
  *m.mutable_date_created() = created;
  *m.mutable_date_updated() = created;
  return admitted;
}

AdmittedMessage MakeMms(const std::string& bytes, int64_t created_ns) {
  AdmittedMessage admitted = MakeMessage(kAccount, "+12025550100", "+12025550123", created_ns);
  v1::Message& m = admitted.message;
  m.set_sid(NewSid("MM"));
  m.set_delivered_as(v1::MMS);
  m.set_num_media(1);
  auto data = std::make_shared<const std::string>(bytes);
  auto* media = m.add_media();
  media->set_sid(NewSid("ME"));
  media->set_parent_sid(m.sid());
  media->set_content_type("image/png");
  media->set_size(static_cast<int64_t>(bytes.size()));
  media->set_sha256(carriers::Sha256Hex(bytes));
  admitted.media.push_back({"image/png", data});
  return admitted;
}

class MessageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mmsc::DatabaseOptions options;
    options.sync_writes = false;  // Durability is not under test here; keep the suite fast.
    auto database = mmsc::Database::Open(dir_.path(), options);
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = std::move(*database);
    media_store_ = std::make_unique<mmsc::MediaStore>(*database_);
    store_ = std::make_unique<MessageStore>(*database_, *media_store_);
  }
  void TearDown() override {
    store_.reset();
    media_store_.reset();
    database_.reset();
  }

  void Save(const AdmittedMessage& admitted) {
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(store_->StageNew(batch, admitted).ok());
    ASSERT_TRUE(database_->WriteNow(std::move(batch)).ok());
  }

  std::vector<std::string> Sids(const v1::ListMessagesResponse& response) {
    std::vector<std::string> sids;
    for (const auto& m : response.messages()) sids.push_back(m.sid());
    return sids;
  }

  TempDir dir_;
  std::unique_ptr<mmsc::Database> database_;
  std::unique_ptr<mmsc::MediaStore> media_store_;
  std::unique_ptr<MessageStore> store_;
};

TEST_F(MessageStoreTest, StagedAndWrittenMessageCanBeReadBack) {
  const auto admitted = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs);
  Save(admitted);
  auto read = store_->Get(admitted.message.sid());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->sid(), admitted.message.sid());
  EXPECT_EQ(read->to(), "+12025550123");
  EXPECT_EQ(read->body(), "hello");
  EXPECT_EQ(read->status(), v1::ACCEPTED);
  EXPECT_EQ(read->SerializeAsString(), admitted.message.SerializeAsString());
}

TEST_F(MessageStoreTest, StagedButUncommittedMessageIsNotVisible) {
  const auto admitted = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs);
  rocksdb::WriteBatch batch;
  ASSERT_TRUE(store_->StageNew(batch, admitted).ok());
  EXPECT_FALSE(store_->Get(admitted.message.sid()).ok());
}

TEST_F(MessageStoreTest, UnknownSidIsNotFoundWith20404) {
  auto read = store_->Get("SM00000000000000000000000000000000");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ProviderErrorCode(read.status()), 20404);
}

TEST_F(MessageStoreTest, ListIsNewestFirst) {
  // Written out of creation order on purpose.
  const auto middle = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + 2000);
  const auto oldest = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + 1000);
  const auto newest = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + 3000);
  Save(middle);
  Save(oldest);
  Save(newest);
  auto list = store_->List(kAccount, {});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(Sids(*list), ElementsAre(newest.message.sid(), middle.message.sid(),
                                       oldest.message.sid()));
  EXPECT_TRUE(list->next_page_token().empty());
}

TEST_F(MessageStoreTest, ListOnlyShowsTheAccountsOwnMessages) {
  const auto mine = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs);
  const auto theirs = MakeMessage(kOtherAccount, "+12025550199", "+12025550123", kBaseNs + 1);
  Save(mine);
  Save(theirs);
  auto list = store_->List(kAccount, {});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(Sids(*list), ElementsAre(mine.message.sid()));
}

TEST_F(MessageStoreTest, ListFiltersByToFromAndStatus) {
  const auto a = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + 1);
  const auto b = MakeMessage(kAccount, "+12025550100", "+12065550123", kBaseNs + 2, v1::DELIVERED);
  const auto c = MakeMessage(kAccount, "55501", "+12025550123", kBaseNs + 3, v1::DELIVERED);
  Save(a);
  Save(b);
  Save(c);

  v1::ListMessagesRequest by_to;
  by_to.set_to("+12025550123");
  auto list = store_->List(kAccount, by_to);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(Sids(*list), ElementsAre(c.message.sid(), a.message.sid()));

  v1::ListMessagesRequest by_from;
  by_from.set_from("+12025550100");
  list = store_->List(kAccount, by_from);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(Sids(*list), ElementsAre(b.message.sid(), a.message.sid()));

  v1::ListMessagesRequest by_status;
  by_status.set_status(v1::DELIVERED);
  list = store_->List(kAccount, by_status);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(Sids(*list), ElementsAre(c.message.sid(), b.message.sid()));

  v1::ListMessagesRequest combined;
  combined.set_to("+12025550123");
  combined.set_status(v1::ACCEPTED);
  list = store_->List(kAccount, combined);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(Sids(*list), ElementsAre(a.message.sid()));
}

TEST_F(MessageStoreTest, PageTokensWalkAllMessagesWithoutDuplicatesOrGaps) {
  std::vector<std::string> expected;  // newest first
  {
    rocksdb::WriteBatch batch;
    for (int i = 0; i < 120; ++i) {
      const auto admitted =
          MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + i * 1000);
      ASSERT_TRUE(store_->StageNew(batch, admitted).ok());
      expected.insert(expected.begin(), admitted.message.sid());
    }
    ASSERT_TRUE(database_->WriteNow(std::move(batch)).ok());
  }

  std::vector<std::string> seen;
  std::vector<int> page_sizes;
  v1::ListMessagesRequest request;
  request.set_page_size(50);
  for (int pages = 0; pages < 10; ++pages) {
    auto list = store_->List(kAccount, request);
    ASSERT_TRUE(list.ok()) << list.status();
    page_sizes.push_back(list->messages_size());
    for (const auto& sid : Sids(*list)) seen.push_back(sid);
    if (list->next_page_token().empty()) break;
    request.set_page_token(list->next_page_token());
  }
  EXPECT_THAT(page_sizes, ElementsAre(50, 50, 20));
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 120u);
}

TEST_F(MessageStoreTest, DefaultPageSizeIsFifty) {
  rocksdb::WriteBatch batch;
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(store_
                    ->StageNew(batch, MakeMessage(kAccount, "+12025550100", "+12025550123",
                                                  kBaseNs + i))
                    .ok());
  }
  ASSERT_TRUE(database_->WriteNow(std::move(batch)).ok());
  auto list = store_->List(kAccount, {});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->messages_size(), 50);
  EXPECT_FALSE(list->next_page_token().empty());
}

TEST_F(MessageStoreTest, PageTokenOfAnotherAccountIsRefused) {
  rocksdb::WriteBatch batch;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_
                    ->StageNew(batch, MakeMessage(kAccount, "+12025550100", "+12025550123",
                                                  kBaseNs + i))
                    .ok());
  }
  ASSERT_TRUE(
      store_->StageNew(batch, MakeMessage(kOtherAccount, "+12025550199", "+12025550123", kBaseNs))
          .ok());
  ASSERT_TRUE(database_->WriteNow(std::move(batch)).ok());

  v1::ListMessagesRequest request;
  request.set_page_size(1);
  auto first = store_->List(kAccount, request);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->next_page_token().empty());

  request.set_page_token(first->next_page_token());
  auto stolen = store_->List(kOtherAccount, request);
  ASSERT_FALSE(stolen.ok());
  EXPECT_EQ(stolen.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ProviderErrorCode(stolen.status()), 0);

  request.set_page_token("not-a-token");
  EXPECT_FALSE(store_->List(kAccount, request).ok());

  // The owner can still use it.
  request.set_page_token(first->next_page_token());
  auto second = store_->List(kAccount, request);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->messages_size(), 1);
}

TEST_F(MessageStoreTest, UnfinishedListsNewMessagesButNotFinishedOnes) {
  const auto pending = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs);
  auto done = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + 1);
  Save(pending);
  Save(done);
  EXPECT_THAT(store_->Unfinished(),
              ::testing::UnorderedElementsAre(pending.message.sid(), done.message.sid()));

  done.message.set_status(v1::DELIVERED);
  rocksdb::WriteBatch batch;
  ASSERT_TRUE(store_->StageUpdate(batch, done.message, /*finished=*/true).ok());
  ASSERT_TRUE(database_->WriteNow(std::move(batch)).ok());

  EXPECT_THAT(store_->Unfinished(), ElementsAre(pending.message.sid()));
  auto read = store_->Get(done.message.sid());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->status(), v1::DELIVERED);
}

TEST_F(MessageStoreTest, IdenticalMediaBytesAreStoredOnce) {
  std::string bytes(10000, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 31 + 7);
  const auto first = MakeMms(bytes, kBaseNs);
  const auto second = MakeMms(bytes, kBaseNs + 1);
  Save(first);
  Save(second);

  EXPECT_EQ(media_store_->CountBlobs(), 1u);
  const std::string sha = carriers::Sha256Hex(bytes);
  EXPECT_TRUE(media_store_->IsReferenced(sha));
  for (const auto* admitted : {&first, &second}) {
    auto message = store_->Get(admitted->message.sid());
    ASSERT_TRUE(message.ok()) << message.status();
    ASSERT_EQ(message->media_size(), 1);
    EXPECT_EQ(message->media(0).sha256(), sha);
    auto read = media_store_->Read(message->media(0).sha256());
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, bytes);
  }

  // Different bytes make a second blob.
  Save(MakeMms("other bytes", kBaseNs + 2));
  EXPECT_EQ(media_store_->CountBlobs(), 2u);
  EXPECT_FALSE(media_store_->Read(carriers::Sha256Hex("never stored")).ok());
}

TEST_F(MessageStoreTest, MessageSidForLinkFindsTheSmsWithLinkMessage) {
  auto admitted = MakeMms("abc", kBaseNs);
  admitted.message.set_delivered_as(v1::SMS_WITH_LINK);
  admitted.message.set_fallback_reason(v1::CARRIER_NO_MMS);
  admitted.link_token = "00112233445566778899aabbccddeeff00112233";
  admitted.message.set_link_url("http://127.0.0.1:8080/m/" + admitted.link_token);
  Save(admitted);

  auto sid = store_->MessageSidForLink(admitted.link_token);
  ASSERT_TRUE(sid.ok()) << sid.status();
  EXPECT_EQ(*sid, admitted.message.sid());

  auto unknown = store_->MessageSidForLink("ffffffffffffffffffffffffffffffffffffffff");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
}

TEST(Database, ConcurrentGroupCommitWritesAllSucceedAndSurviveReopen) {
  TempDir dir;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  constexpr int kTotal = kThreads * kPerThread;
  // Declared before the database so they outlive it: closing it runs pending callbacks.
  std::mutex mutex;
  std::condition_variable all_done;
  int completed = 0;
  std::atomic<int> ok{0};
  {
    auto database = mmsc::Database::Open(dir.path(), mmsc::DatabaseOptions{});
    ASSERT_TRUE(database.ok()) << database.status();
    auto& db = **database;

    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          rocksdb::WriteBatch batch;
          const std::string key = "key-" + std::to_string(t) + "-" + std::to_string(i);
          batch.Put(db.family(mmsc::Family::kMessages), key, "value-" + key).PermitUncheckedError();
          batch.Put(db.family(mmsc::Family::kOutbox), key, "").PermitUncheckedError();
          db.Write(std::move(batch), [&](absl::Status status) {
            if (status.ok()) ok.fetch_add(1);
            std::lock_guard lock(mutex);
            ++completed;
            all_done.notify_all();
          });
        }
      });
    }
    for (auto& thread : threads) thread.join();
    {
      std::unique_lock lock(mutex);
      ASSERT_TRUE(all_done.wait_for(lock, std::chrono::seconds(20),
                                    [&] { return completed == kTotal; }))
          << completed << " of " << kTotal << " writes completed";
    }
    EXPECT_EQ(ok.load(), kTotal);
    EXPECT_EQ(db.batches_committed(), static_cast<uint64_t>(kTotal));
    EXPECT_GE(db.groups_committed(), 1u);
    EXPECT_LE(db.groups_committed(), static_cast<uint64_t>(kTotal));
  }  // Closes the database.

  auto reopened = mmsc::Database::Open(dir.path(), mmsc::DatabaseOptions{});
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const std::string key = "key-" + std::to_string(t) + "-" + std::to_string(i);
      auto value = (*reopened)->Get(mmsc::Family::kMessages, key);
      ASSERT_TRUE(value.ok()) << key << ": " << value.status();
      EXPECT_EQ(*value, "value-" + key);
      ASSERT_TRUE((*reopened)->Get(mmsc::Family::kOutbox, key).ok()) << key;
    }
  }
}

TEST(Database, WriteAfterCloseFailsInsteadOfHanging) {
  TempDir dir;
  auto database = mmsc::Database::Open(dir.path(), mmsc::DatabaseOptions{});
  ASSERT_TRUE(database.ok()) << database.status();
  (*database)->Close();
  absl::Status result = absl::OkStatus();
  bool called = false;
  rocksdb::WriteBatch batch;
  batch.Put((*database)->family(mmsc::Family::kMessages), "k", "v").PermitUncheckedError();
  (*database)->Write(std::move(batch), [&](absl::Status status) {
    called = true;
    result = status;
  });
  EXPECT_TRUE(called);
  EXPECT_FALSE(result.ok());
}

}  // namespace
}  // namespace mmsgate::gateway
