// Every store's contract, checked on both implementations: the RocksDB ones mmsgate runs on, and
// the in-memory fakes other unit tests stand on. A behaviour the fakes get wrong would make those
// tests prove nothing; a behaviour the RocksDB stores get wrong is a bug users would meet.

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "carriers/base/crypto.h"
#include "carriers/base/errors.h"
#include "carriers/base/sids.h"
#include "carriers/handsets.h"
#include "fakes/in_memory_stores.h"
#include "fakes/manual_clock.h"
#include "gateway/core/admission.h"
#include "gateway/core/messages.h"
#include "gateway/core/send_service.h"
#include "gateway/storage/rocks_attempt_log.h"
#include "gateway/storage/rocks_directory_store.h"
#include "gateway/storage/rocks_inbox_store.h"
#include "gateway/storage/rocks_message_store.h"
#include "mmsc/storage/rocks_database.h"
#include "mmsc/storage/rocks_media_store.h"

namespace mmsgate::gateway {
namespace {

namespace fs = std::filesystem;
namespace v1 = mmsgate::v1;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

constexpr char kAccount[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kOtherAccount[] = "ACfedcba9876543210fedcba9876543210";
constexpr int64_t kBaseNs = 1'700'000'000'000'000'000;

// One implementation of every store over one database.
struct Stores {
  virtual ~Stores() = default;
  storage::Database* database = nullptr;
  mmsc::MediaStore* media = nullptr;
  MessageStore* messages = nullptr;
  AttemptLog* attempts = nullptr;
  DirectoryStore* directory = nullptr;
  InboxStore* inbox = nullptr;
};

struct RocksStores : Stores {
  explicit RocksStores(const fs::path& dir) {
    std::vector<storage::FamilySpec> families;
    for (auto part : {mmsc::RocksMediaStore::Families(), RocksMessageStore::Families(),
                      RocksAttemptLog::Families(), RocksDirectoryStore::Families(),
                      RocksInboxStore::Families()}) {
      families.insert(families.end(), part.begin(), part.end());
    }
    storage::DatabaseOptions options;
    options.sync_writes = false;  // durability is not under test here
    auto opened = storage::RocksDatabase::Open(dir.string(), options, families);
    EXPECT_TRUE(opened.ok()) << opened.status();
    db = std::move(*opened);
    rocks_media = std::make_unique<mmsc::RocksMediaStore>(*db);
    rocks_messages = std::make_unique<RocksMessageStore>(*db);
    rocks_attempts = std::make_unique<RocksAttemptLog>(*db);
    rocks_directory = std::make_unique<RocksDirectoryStore>(*db);
    rocks_inbox = std::make_unique<RocksInboxStore>(*db, io.get_executor(), io.get_executor());
    database = db.get();
    media = rocks_media.get();
    messages = rocks_messages.get();
    attempts = rocks_attempts.get();
    directory = rocks_directory.get();
    inbox = rocks_inbox.get();
  }
  boost::asio::io_context io;
  std::unique_ptr<storage::RocksDatabase> db;
  std::unique_ptr<mmsc::RocksMediaStore> rocks_media;
  std::unique_ptr<RocksMessageStore> rocks_messages;
  std::unique_ptr<RocksAttemptLog> rocks_attempts;
  std::unique_ptr<RocksDirectoryStore> rocks_directory;
  std::unique_ptr<RocksInboxStore> rocks_inbox;
};

struct FakeStores : Stores {
  FakeStores() {
    database = &db;
    media = &fake_media;
    messages = &fake_messages;
    attempts = &fake_attempts;
    directory = &fake_directory;
    inbox = &fake_inbox;
  }
  testing::InMemoryDatabase db;
  testing::InMemoryMediaStore fake_media{db};
  testing::InMemoryMessageStore fake_messages{db};
  testing::InMemoryAttemptLog fake_attempts{db};
  testing::InMemoryDirectoryStore fake_directory{db};
  testing::InMemoryInboxStore fake_inbox{db};
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
  m.set_num_segments(1);
  m.set_validity_period_seconds(14400);
  *m.mutable_date_created() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(created_ns);
  *m.mutable_date_updated() = m.date_created();
  return admitted;
}

AdmittedMessage MakeMms(const std::vector<std::string>& media, int64_t created_ns,
                        v1::MessageStatus status = v1::ACCEPTED) {
  auto admitted = MakeMessage(kAccount, "+12025550100", "+12025550123", created_ns, status);
  admitted.message.set_sid(NewSid("MM"));
  for (const auto& bytes : media) {
    AddMedia(admitted, "image/png", std::make_shared<const std::string>(bytes), "");
  }
  admitted.message.set_num_media(admitted.message.media_size());
  return admitted;
}

class StoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "rocksdb") {
      std::random_device random;
      dir_ = fs::temp_directory_path() / ("mmsgate-store-contract-" + std::to_string(::getpid()) +
                                          "-" + std::to_string(random()));
      stores_ = std::make_unique<RocksStores>(dir_);
    } else {
      stores_ = std::make_unique<FakeStores>();
    }
    service_ = std::make_unique<MessageService>(*stores_->database, *stores_->messages,
                                                *stores_->attempts, *stores_->media, clock_);
  }
  void TearDown() override {
    service_.reset();
    stores_.reset();
    if (!dir_.empty()) {
      std::error_code ignored;
      fs::remove_all(dir_, ignored);
    }
  }

  // Stores a message as SendService does: media, records, extras, one commit.
  void Save(const AdmittedMessage& admitted, NewMessageExtras extras = {}) {
    auto batch = stores_->database->NewBatch();
    std::vector<std::string> blobs;
    ASSERT_TRUE(StageAdmitted(*stores_->media, *stores_->messages, *batch, admitted,
                              admitted.message, extras, &blobs)
                    .ok());
    ASSERT_TRUE(stores_->database->CommitNow(std::move(batch)).ok());
    stores_->media->StagingDone(blobs);
  }
  void SetStatus(v1::Message message, v1::MessageStatus status) {
    message.set_status(status);
    auto batch = stores_->database->NewBatch();
    const bool final = status == v1::DELIVERED || status == v1::UNDELIVERED || status == v1::FAILED;
    ASSERT_TRUE(stores_->messages->StageStatus(*batch, message, final).ok());
    ASSERT_TRUE(stores_->database->CommitNow(std::move(batch)).ok());
  }
  static std::vector<std::string> Sids(const v1::ListMessagesResponse& response) {
    std::vector<std::string> sids;
    for (const auto& m : response.messages()) sids.push_back(m.sid());
    return sids;
  }
  MessageStore& store() { return *stores_->messages; }

  fs::path dir_;
  std::unique_ptr<Stores> stores_;
  testing::ManualClock clock_;
  std::unique_ptr<MessageService> service_;
};

INSTANTIATE_TEST_SUITE_P(Implementations, StoreContractTest,
                         ::testing::Values("rocksdb", "in_memory"),
                         [](const auto& info) { return info.param; });

TEST_P(StoreContractTest, StoredMessageReadsBackAsItWasWritten) {
  const auto admitted = MakeMms({"picture"}, kBaseNs);
  Save(admitted);
  auto read = store().Get(admitted.message.sid());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->SerializeAsString(), admitted.message.SerializeAsString());
}

TEST_P(StoreContractTest, StagedButUncommittedMessageIsNotVisible) {
  const auto admitted = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs);
  auto batch = stores_->database->NewBatch();
  ASSERT_TRUE(store().StageNew(*batch, admitted.message, {}).ok());
  EXPECT_FALSE(store().Get(admitted.message.sid()).ok());
}

TEST_P(StoreContractTest, UnknownSidIsNotFoundWith20404) {
  auto read = store().Get("SM00000000000000000000000000000000");
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ProviderErrorCode(read.status()), 20404);
}

TEST_P(StoreContractTest, AStatusChangeKeepsTheRestOfTheRecord) {
  const auto admitted = MakeMms({"a", "b"}, kBaseNs);
  Save(admitted);
  v1::Message changed = admitted.message;
  changed.set_status(v1::UNDELIVERED);
  changed.set_error_code(30003);
  changed.set_error_message("unreachable");
  *changed.mutable_date_sent() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(kBaseNs + 5);
  *changed.mutable_date_updated() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(kBaseNs + 9);
  auto batch = stores_->database->NewBatch();
  ASSERT_TRUE(store().StageStatus(*batch, changed, /*finished=*/true).ok());
  ASSERT_TRUE(stores_->database->CommitNow(std::move(batch)).ok());
  auto read = store().Get(admitted.message.sid());
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->SerializeAsString(), changed.SerializeAsString());
  EXPECT_FALSE(store().IsUnfinished(admitted.message.sid()));
}

TEST_P(StoreContractTest, ListIsNewestFirstAndOnlyTheAccountsOwn) {
  // Written out of creation order on purpose.
  const auto middle = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + 2000);
  const auto oldest = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + 1000);
  const auto newest = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + 3000);
  const auto theirs = MakeMessage(kOtherAccount, "+12025550199", "+12025550123", kBaseNs + 1);
  for (const auto* m : {&middle, &oldest, &newest, &theirs}) Save(*m);
  auto list = store().List(kAccount, {});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(Sids(*list),
              ElementsAre(newest.message.sid(), middle.message.sid(), oldest.message.sid()));
  EXPECT_TRUE(list->next_page_token().empty());
}

TEST_P(StoreContractTest, ListFiltersByToFromStatusAndAnExtraFilter) {
  const auto a = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + 1);
  const auto b = MakeMessage(kAccount, "+12025550100", "+12065550123", kBaseNs + 2, v1::DELIVERED);
  const auto c = MakeMessage(kAccount, "55501", "+12025550123", kBaseNs + 3, v1::DELIVERED);
  for (const auto* m : {&a, &b, &c}) Save(*m);
  v1::ListMessagesRequest by_to;
  by_to.set_to("+12025550123");
  EXPECT_THAT(Sids(*store().List(kAccount, by_to)), ElementsAre(c.message.sid(), a.message.sid()));
  v1::ListMessagesRequest by_from;
  by_from.set_from("+12025550100");
  EXPECT_THAT(Sids(*store().List(kAccount, by_from)),
              ElementsAre(b.message.sid(), a.message.sid()));
  v1::ListMessagesRequest by_status;
  by_status.set_status(v1::DELIVERED);
  EXPECT_THAT(Sids(*store().List(kAccount, by_status)),
              ElementsAre(c.message.sid(), b.message.sid()));
  auto also =
      store().List(kAccount, {}, [&](const v1::Message& m) { return m.sid() == a.message.sid(); });
  EXPECT_THAT(Sids(*also), ElementsAre(a.message.sid()));
}

TEST_P(StoreContractTest, PageTokensWalkAllMessagesWithoutDuplicatesOrGaps) {
  std::vector<std::string> expected;  // newest first
  auto batch = stores_->database->NewBatch();
  for (int i = 0; i < 120; ++i) {
    const auto admitted = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + i * 1000);
    ASSERT_TRUE(store().StageNew(*batch, admitted.message, {}).ok());
    expected.insert(expected.begin(), admitted.message.sid());
  }
  ASSERT_TRUE(stores_->database->CommitNow(std::move(batch)).ok());
  std::vector<std::string> seen;
  std::vector<int> page_sizes;
  v1::ListMessagesRequest request;
  request.set_page_size(50);
  for (int pages = 0; pages < 10; ++pages) {
    auto list = store().List(kAccount, request);
    ASSERT_TRUE(list.ok()) << list.status();
    page_sizes.push_back(list->messages_size());
    for (const auto& sid : Sids(*list)) seen.push_back(sid);
    if (list->next_page_token().empty()) break;
    request.set_page_token(list->next_page_token());
  }
  EXPECT_THAT(page_sizes, ElementsAre(50, 50, 20));
  EXPECT_EQ(seen, expected);
  // The default page is 50.
  EXPECT_EQ(store().List(kAccount, {})->messages_size(), 50);
}

TEST_P(StoreContractTest, PageTokenOfAnotherAccountAndBadPageSizesAreRefused) {
  for (int i = 0; i < 3; ++i) {
    Save(MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + i));
  }
  v1::ListMessagesRequest request;
  request.set_page_size(1);
  auto first = store().List(kAccount, request);
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->next_page_token().empty());
  request.set_page_token(first->next_page_token());
  auto stolen = store().List(kOtherAccount, request);
  ASSERT_FALSE(stolen.ok());
  EXPECT_EQ(ProviderErrorCode(stolen.status()), 21200);
  EXPECT_EQ(store().List(kAccount, request)->messages_size(), 1);
  v1::ListMessagesRequest too_big;
  too_big.set_page_size(1001);
  EXPECT_EQ(ProviderErrorCode(store().List(kAccount, too_big).status()), 21200);
}

TEST_P(StoreContractTest, UnfinishedHoldsAcceptedMessagesUntilTheyFinish) {
  const auto pending = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs);
  const auto done = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs + 1);
  Save(pending);
  Save(done);
  std::vector<std::string> sids;
  for (const auto& m : store().LoadUnfinished()) sids.push_back(m.sid());
  EXPECT_THAT(sids, UnorderedElementsAre(pending.message.sid(), done.message.sid()));
  SetStatus(done.message, v1::DELIVERED);
  sids.clear();
  for (const auto& m : store().LoadUnfinished()) sids.push_back(m.sid());
  EXPECT_THAT(sids, ElementsAre(pending.message.sid()));
  EXPECT_TRUE(store().IsUnfinished(pending.message.sid()));
}

TEST_P(StoreContractTest, SequenceResumesWhereItWasLeft) {
  EXPECT_FALSE(store().LoadNextSequence().has_value());
  auto batch = stores_->database->NewBatch();
  store().StageNextSequence(*batch, 42);
  ASSERT_TRUE(stores_->database->CommitNow(std::move(batch)).ok());
  EXPECT_EQ(store().LoadNextSequence(), 42u);
}

TEST_P(StoreContractTest, IdenticalMediaBytesAreStoredOnce) {
  std::string bytes(10000, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 31 + 7);
  Save(MakeMms({bytes}, kBaseNs));
  Save(MakeMms({bytes}, kBaseNs + 1));
  EXPECT_EQ(stores_->media->CountBlobs(), 1u);
  auto read = stores_->media->Read(Sha256Hex(bytes));
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, bytes);
  Save(MakeMms({"other bytes"}, kBaseNs + 2));
  EXPECT_EQ(stores_->media->CountBlobs(), 2u);
  EXPECT_FALSE(stores_->media->Read(Sha256Hex("never stored")).ok());
}

TEST_P(StoreContractTest, LinkTokensFindTheirMessageAndItsMedia) {
  auto admitted = MakeMms({"abc", "defg"}, kBaseNs);
  admitted.message.set_delivered_as(v1::SMS_WITH_LINK);
  const std::string token = "00112233445566778899aabbccddeeff00112233";
  admitted.message.set_link_url("http://127.0.0.1:8080/m/" + token);
  NewMessageExtras extras;
  extras.link_token = token;
  Save(admitted, extras);
  EXPECT_EQ(*store().MessageSidForLink(token), admitted.message.sid());
  auto media = service_->Resolve(token);
  ASSERT_TRUE(media.ok());
  ASSERT_EQ(media->size(), 2u);
  EXPECT_EQ((*media)[1].size, 4);
  EXPECT_EQ(store().MessageSidForLink("ffffffffffffffffffffffffffffffffffffffff").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, DeletingRefusesUnfinishedAndForeignMessages) {
  const auto admitted = MakeMms({"one"}, kBaseNs);
  Save(admitted);
  const std::string sid = admitted.message.sid();
  for (auto status : {v1::ACCEPTED, v1::QUEUED, v1::SENDING, v1::SENT}) {
    SetStatus(admitted.message, status);
    const absl::Status deleted = service_->Delete(kAccount, sid);
    EXPECT_EQ(ProviderErrorCode(deleted), 20009) << v1::MessageStatus_Name(status);
    EXPECT_TRUE(store().Get(sid).ok());
  }
  EXPECT_EQ(
      ProviderErrorCode(service_->DeleteMedia(kAccount, sid, admitted.message.media(0).sid())),
      20009);
  EXPECT_EQ(ProviderErrorCode(service_->Delete(kOtherAccount, sid)), 20404);
  EXPECT_EQ(ProviderErrorCode(service_->Delete(kAccount, "MM00000000000000000000000000000000")),
            20404);
  EXPECT_EQ(stores_->media->CountBlobs(), 1u);
}

TEST_P(StoreContractTest, RedactionEmptiesTheTextOfAFinishedMessageOnly) {
  auto admitted = MakeMms({"one"}, kBaseNs);
  admitted.message.set_delivered_text("hello");
  Save(admitted);
  const std::string sid = admitted.message.sid();
  for (auto status : {v1::QUEUED, v1::SENDING, v1::SENT}) {
    SetStatus(admitted.message, status);
    auto refused = service_->Redact(kAccount, sid);
    EXPECT_EQ(ProviderErrorCode(refused.status()), 20009) << v1::MessageStatus_Name(status);
    EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("redact"));
    EXPECT_EQ(store().Get(sid)->body(), admitted.message.body());
  }
  SetStatus(admitted.message, v1::DELIVERED);
  EXPECT_EQ(ProviderErrorCode(service_->Redact(kOtherAccount, sid).status()), 20404);
  clock_.Advance(std::chrono::seconds(5));
  auto redacted = service_->Redact(kAccount, sid);
  ASSERT_TRUE(redacted.ok()) << redacted.status();
  EXPECT_EQ(redacted->body(), "");
  EXPECT_EQ(redacted->delivered_text(), "");
  EXPECT_EQ(redacted->status(), v1::DELIVERED);
  EXPECT_EQ(redacted->media_size(), 1) << "only the text goes";
  const auto stored = store().Get(sid);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->body(), "");
  EXPECT_EQ(stored->to(), admitted.message.to());
  EXPECT_EQ(google::protobuf::util::TimeUtil::TimestampToNanoseconds(stored->date_updated()),
            ToNanoseconds(clock_.Now()));
}

TEST_P(StoreContractTest, DeletingAFinishedMessageTakesItsLinkAttemptsAndUnsharedMedia) {
  auto mine = MakeMms({"shared", "only-mine"}, kBaseNs, v1::DELIVERED);
  const std::string token = "aa112233445566778899aabbccddeeff00112233";
  mine.message.set_link_url("http://x/m/" + token);
  NewMessageExtras extras;
  extras.link_token = token;
  extras.finished = true;
  Save(mine, extras);
  const auto other = MakeMms({"shared"}, kBaseNs + 1, v1::DELIVERED);
  Save(other, NewMessageExtras{"", 0, true});
  {
    auto batch = stores_->database->NewBatch();
    v1::WebhookAttempt attempt;
    attempt.set_url("http://127.0.0.1/cb");
    ASSERT_TRUE(stores_->attempts->StageAttempt(*batch, mine.message.sid(), attempt).ok());
    ASSERT_TRUE(stores_->database->CommitNow(std::move(batch)).ok());
  }
  ASSERT_EQ(service_->Get(kAccount, mine.message.sid())->webhook_attempts_size(), 1);
  ASSERT_EQ(stores_->media->CountBlobs(), 2u);

  ASSERT_TRUE(service_->Delete(kAccount, mine.message.sid()).ok());
  EXPECT_EQ(store().Get(mine.message.sid()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Sids(*store().List(kAccount, {})), ElementsAre(other.message.sid()));
  EXPECT_FALSE(store().MessageSidForLink(token).ok());
  EXPECT_TRUE(stores_->attempts->List(mine.message.sid()).empty());
  EXPECT_TRUE(stores_->media->Read(Sha256Hex("shared")).ok());
  EXPECT_FALSE(stores_->media->Read(Sha256Hex("only-mine")).ok());
  EXPECT_EQ(ProviderErrorCode(service_->Delete(kAccount, mine.message.sid())), 20404);
}

TEST_P(StoreContractTest, DeletingOneMediaItemKeepsTheMessageAndItsOthers) {
  const auto admitted = MakeMms({"first", "second"}, kBaseNs, v1::DELIVERED);
  Save(admitted, NewMessageExtras{"", 0, true});
  const std::string sid = admitted.message.sid();
  ASSERT_TRUE(service_->DeleteMedia(kAccount, sid, admitted.message.media(0).sid()).ok());
  auto message = store().Get(sid);
  ASSERT_TRUE(message.ok());
  ASSERT_EQ(message->media_size(), 1);
  EXPECT_EQ(message->media(0).sid(), admitted.message.media(1).sid());
  EXPECT_EQ(message->status(), v1::DELIVERED);
  EXPECT_FALSE(stores_->media->Read(Sha256Hex("first")).ok());
  EXPECT_TRUE(stores_->media->Read(Sha256Hex("second")).ok());
  EXPECT_EQ(
      ProviderErrorCode(service_->DeleteMedia(kAccount, sid, admitted.message.media(0).sid())),
      20404);
}

TEST_P(StoreContractTest, ExpiredMediaLoseTheirLinkAndUnusedBlobs) {
  auto admitted = MakeMms({"short-lived"}, kBaseNs, v1::DELIVERED);
  const std::string token = "bb112233445566778899aabbccddeeff00112233";
  admitted.message.set_link_url("http://x/m/" + token);
  NewMessageExtras extras;
  extras.link_token = token;
  extras.finished = true;
  extras.media_expires_at_ns = kBaseNs + 1000;
  Save(admitted, extras);
  EXPECT_EQ(*service_->SweepExpiredMedia(kBaseNs + 999), 0);
  EXPECT_TRUE(store().MessageSidForLink(token).ok());
  EXPECT_EQ(*service_->SweepExpiredMedia(kBaseNs + 1000), 1);
  EXPECT_FALSE(store().MessageSidForLink(token).ok());
  EXPECT_EQ(stores_->media->CountBlobs(), 0u);
  EXPECT_TRUE(store().Get(admitted.message.sid()).ok()) << "the message itself stays";
  EXPECT_EQ(*service_->SweepExpiredMedia(kBaseNs + 5000), 0);
}

TEST_P(StoreContractTest, RecordsThatCouldNotBeReadBackAreRefusedBeforeStaging) {
  auto bad = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs);
  bad.message.set_status_callback("http://127.0.0.1/cb\xff");
  auto batch = stores_->database->NewBatch();
  const absl::Status status = store().StageNew(*batch, bad.message, {});
  EXPECT_EQ(ProviderErrorCode(status), 30500);
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("status_callback"));
  EXPECT_EQ(batch->size(), 0u);
  v1::WebhookAttempt attempt;
  attempt.set_error("bad \xc3");
  EXPECT_FALSE(stores_->attempts->StageAttempt(*batch, "SM1", attempt).ok());
  v1::Number number;
  number.set_number("+12025550177");
  number.set_sms_url("http://x/\xff");
  EXPECT_FALSE(stores_->directory->StageNumber(*batch, number).ok());
}

TEST_P(StoreContractTest, DirectoryChangesAndUsageAreKept) {
  auto batch = stores_->database->NewBatch();
  v1::Number number;
  number.set_number("+12025550177");
  number.set_account_sid(kAccount);
  ASSERT_TRUE(stores_->directory->StageNumber(*batch, number).ok());
  v1::AccountSettings settings;
  settings.set_disable_international_mms_conversion(true);
  ASSERT_TRUE(stores_->directory->StageSettings(*batch, kAccount, settings).ok());
  stores_->directory->StageRelease(*batch, "+12025550100");
  stores_->directory->StageUsage(*batch, kAccount, "sms-outbound", 1, 2, 0);
  stores_->directory->StageUsage(*batch, kAccount, "sms-outbound", 1, 3, 0);
  ASSERT_TRUE(stores_->database->CommitNow(std::move(batch)).ok());
  const StoredDirectory stored = stores_->directory->Load();
  ASSERT_TRUE(stored.numbers.contains("+12025550177"));
  EXPECT_THAT(stored.released, ElementsAre("+12025550100"));
  EXPECT_TRUE(stored.settings.at(kAccount).disable_international_mms_conversion());
  const v1::Usage usage = stores_->directory->Usage(kAccount);
  ASSERT_EQ(usage.entries_size(), 1);
  EXPECT_EQ(usage.entries(0).count(), 2);
  EXPECT_EQ(usage.entries(0).segments(), 5);
  EXPECT_EQ(stores_->directory->Usage(kOtherAccount).entries_size(), 0);
}

TEST_P(StoreContractTest, OptOutsAreKeptUntilTheSubscriberOptsBackIn) {
  v1::OptOut stop;
  stop.set_account_sid(kAccount);
  stop.set_number("+12025550100");
  stop.set_subscriber("+12025550142");
  stop.set_opted_out(true);
  stop.set_keyword("STOP");
  v1::OptOut other = stop;
  other.set_subscriber("+12025550143");
  auto batch = stores_->database->NewBatch();
  ASSERT_TRUE(stores_->directory->StageOptOut(*batch, stop).ok());
  ASSERT_TRUE(stores_->directory->StageOptOut(*batch, other).ok());
  ASSERT_TRUE(stores_->database->CommitNow(std::move(batch)).ok());
  ASSERT_EQ(stores_->directory->Load().opt_outs.size(), 2u);

  v1::OptOut start = stop;
  start.set_opted_out(false);
  start.set_keyword("START");
  batch = stores_->database->NewBatch();
  ASSERT_TRUE(stores_->directory->StageOptOut(*batch, start).ok());
  ASSERT_TRUE(stores_->database->CommitNow(std::move(batch)).ok());
  const StoredDirectory stored = stores_->directory->Load();
  ASSERT_EQ(stored.opt_outs.size(), 1u);
  EXPECT_EQ(stored.opt_outs[0].subscriber(), "+12025550143");
  EXPECT_EQ(stored.opt_outs[0].keyword(), "STOP");
  EXPECT_TRUE(stored.opt_outs[0].opted_out());
}

TEST_P(StoreContractTest, ServicesAndStickySendersAreKeptAndADeletedServiceStaysDeleted) {
  v1::MessagingService service;
  service.set_sid("MG0123456789abcdef0123456789abcdef");
  service.set_account_sid(kAccount);
  service.add_numbers("+12025550100");
  service.set_sticky_sender(true);
  v1::MessagingService other = service;
  other.set_sid("MGfedcba9876543210fedcba9876543210");
  auto batch = stores_->database->NewBatch();
  ASSERT_TRUE(stores_->directory->StageService(*batch, service).ok());
  ASSERT_TRUE(stores_->directory->StageService(*batch, other).ok());
  stores_->directory->StageStickySender(*batch, service.sid(), "+12025550142", "+12025550100");
  ASSERT_TRUE(stores_->database->CommitNow(std::move(batch)).ok());
  batch = stores_->database->NewBatch();
  stores_->directory->StageServiceDeleted(*batch, other.sid());
  ASSERT_TRUE(stores_->database->CommitNow(std::move(batch)).ok());
  const StoredDirectory stored = stores_->directory->Load();
  ASSERT_EQ(stored.services.size(), 1u);
  EXPECT_TRUE(stored.services.at(service.sid()).sticky_sender());
  EXPECT_THAT(stored.deleted_services, ElementsAre(other.sid()));
  EXPECT_EQ(stored.sticky_senders.at(service.sid() + "/+12025550142"), "+12025550100");
}

TEST_P(StoreContractTest, InboxesAreReadBackOldestFirstAndAResubmissionShowsOnce) {
  // Completions are posted to the executor (RocksDB: once the commit is durable; reads run on
  // the storage executor, here the same io_context): pump it until `done` (bounded).
  auto await = [&](const std::atomic<bool>& done) {
    if (auto* rocks = dynamic_cast<RocksStores*>(stores_.get())) {
      rocks->io.restart();  // run_for stops the io_context when it runs out of work
      auto work = boost::asio::make_work_guard(rocks->io);
      for (int i = 0; i < 500 && !done; ++i) rocks->io.run_for(std::chrono::milliseconds(10));
    }
    return done.load();
  };
  auto append = [&](const std::string& number, const v1::HandsetMessage& entry, bool resubmitted) {
    std::atomic<bool> appended = false;
    stores_->inbox->Append(number, entry, resubmitted, [&] { appended = true; });
    ASSERT_TRUE(await(appended));
  };
  auto read = [&](const std::string& number) {
    std::atomic<bool> done = false;
    v1::HandsetInbox inbox;
    stores_->inbox->Read(number, [&](v1::HandsetInbox got) {
      inbox = std::move(got);
      done = true;
    });
    EXPECT_TRUE(await(done));
    return inbox;
  };
  auto entry = [](const std::string& text, int64_t seconds) {
    v1::HandsetMessage message;
    message.set_message_sid(NewSid("SM"));
    message.set_text(text);
    message.mutable_received_at()->set_seconds(seconds);
    return message;
  };
  const auto first = entry("first", 1'700'000'000);
  const auto second = entry("second", 1'700'000'005);
  append("+12025550142", second, false);
  append("+12025550142", first, false);
  append("+12025550199", entry("someone else's", 1'700'000'001), false);
  // A message resumed after a restart that the phone already has shows once; one it does not
  // have is added.
  append("+12025550142", first, true);
  append("+12025550142", entry("third", 1'700'000'009), true);

  const auto inbox = read("+12025550142");
  EXPECT_EQ(inbox.number(), "+12025550142");
  ASSERT_EQ(inbox.messages_size(), 3);
  EXPECT_EQ(inbox.messages(0).text(), "first");
  EXPECT_EQ(inbox.messages(1).text(), "second");
  EXPECT_EQ(inbox.messages(2).text(), "third");
  EXPECT_EQ(read("+12025550199").messages_size(), 1);
  EXPECT_EQ(read("+12025550000").messages_size(), 0);
  EXPECT_EQ(stores_->inbox->CheckStored(), 4u);
}

TEST_P(StoreContractTest, AFailedCommitStoresNothing) {
  // Only the in-memory database can be told to fail; RocksDB's failures are not staged here.
  auto* fake = dynamic_cast<FakeStores*>(stores_.get());
  if (fake == nullptr) GTEST_SKIP() << "failures are injected into the in-memory database only";
  fake->db.FailNextCommits(1);
  const auto admitted = MakeMessage(kAccount, "+12025550100", "+12025550123", kBaseNs);
  auto batch = stores_->database->NewBatch();
  ASSERT_TRUE(store().StageNew(*batch, admitted.message, {}).ok());
  EXPECT_EQ(ProviderErrorCode(stores_->database->CommitNow(std::move(batch))), 30500);
  EXPECT_FALSE(store().Get(admitted.message.sid()).ok());
}

}  // namespace
}  // namespace mmsgate::gateway
