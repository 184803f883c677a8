// The storage layer never commits a record it could not read back, and a record that cannot be
// read at start (written by an older mmsgate, or damaged) is reported with its key and kept
// aside in the quarantine family instead of being skipped.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "carriers/handsets.h"
#include "gateway/accounts/directory.h"
#include "gateway/storage/inbox_journal.h"
#include "gateway/storage/message_store.h"
#include "gateway/config/scenario.h"
#include "carriers/base/sids.h"
#include "mmsc/storage/database.h"
#include "mmsc/storage/media_store.h"
#include "carriers/base/errors.h"

namespace mmsgate::gateway {
namespace {

namespace fs = std::filesystem;
namespace v1 = mmsgate::v1;
using mmsc::Family;
using ::testing::HasSubstr;

constexpr char kAccount[] = "AC0123456789abcdef0123456789abcdef";

class UnreadableRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    dir_ = fs::temp_directory_path() / ("mmsgate-unreadable-test-" + std::to_string(::getpid()) +
                                        "-" + std::to_string(random()));
    Open();
  }
  void TearDown() override {
    store_.reset();
    media_.reset();
    database_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  void Open() {
    store_.reset();
    media_.reset();
    database_.reset();
    mmsc::DatabaseOptions options;
    options.sync_writes = false;
    auto database = mmsc::Database::Open(dir_.string(), options);
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = std::move(*database);
    media_ = std::make_unique<mmsc::MediaStore>(*database_);
    store_ = std::make_unique<MessageStore>(*database_, *media_);
  }

  static AdmittedMessage Message(const std::string& status_callback = "") {
    AdmittedMessage admitted;
    v1::Message& m = admitted.message;
    m.set_sid(NewSid("SM"));
    m.set_account_sid(kAccount);
    m.set_from("+12025550100");
    m.set_to("+12025550142");
    m.set_body("hello");
    m.set_status(v1::ACCEPTED);
    m.set_status_callback(status_callback);
    m.mutable_date_created()->set_seconds(1'700'000'000);
    return admitted;
  }

  // Writes bytes as an older mmsgate did: serialized without the UTF-8 check.
  void PutRaw(Family family, const std::string& key, const std::string& value) {
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(batch.Put(database_->family(family), key, value).ok());
    ASSERT_TRUE(database_->WriteNow(std::move(batch)).ok());
  }

  bool Has(Family family, const std::string& key) { return database_->Get(family, key).ok(); }

  fs::path dir_;
  std::unique_ptr<mmsc::Database> database_;
  std::unique_ptr<mmsc::MediaStore> media_;
  std::unique_ptr<MessageStore> store_;
};

TEST_F(UnreadableRecordsTest, StoreRefusesAMessageItCouldNotReadBack) {
  const auto bad = Message("http://127.0.0.1:18081/cb\xff");
  rocksdb::WriteBatch batch;
  const absl::Status status = store_->StageNew(batch, bad);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(ProviderErrorCode(status), error_codes::kStorageFailure);
  EXPECT_THAT(std::string(status.message()), HasSubstr("status_callback"));
  // Nothing was staged, so even committing the batch stores nothing.
  EXPECT_EQ(batch.Count(), 0);

  const auto good = Message();
  rocksdb::WriteBatch update;
  auto changed = good.message;
  changed.set_error_message("bad \xc3");
  const absl::Status update_status = store_->StageUpdate(update, changed, false);
  EXPECT_FALSE(update_status.ok());
  EXPECT_THAT(std::string(update_status.message()), HasSubstr("error_message"));
}

TEST_F(UnreadableRecordsTest, UnreadableOutboxRecordIsQuarantinedWithItsKey) {
  const auto good = Message();
  rocksdb::WriteBatch batch;
  ASSERT_TRUE(store_->StageNew(batch, good).ok());
  ASSERT_TRUE(database_->WriteNow(std::move(batch)).ok());
  const auto poisoned = Message("http://127.0.0.1:18081/cb\xff");
  const std::string sid = poisoned.message.sid();
  PutRaw(Family::kMessages, sid, poisoned.message.SerializePartialAsString());
  PutRaw(Family::kOutbox, sid, "");

  const auto resumed = store_->LoadUnfinished();
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_EQ(resumed[0].sid(), good.message.sid());
  // Kept aside, under keys that say where each part came from, and out of the outbox.
  EXPECT_TRUE(Has(Family::kQuarantine, "messages/" + sid));
  EXPECT_TRUE(Has(Family::kQuarantine, "outbox/" + sid));
  EXPECT_FALSE(Has(Family::kOutbox, sid));
  EXPECT_FALSE(Has(Family::kMessages, sid));
  EXPECT_EQ(database_->quarantined(), 2u);
  // The quarantined bytes are the stored ones, untouched.
  EXPECT_EQ(*database_->Get(Family::kQuarantine, "messages/" + sid),
            poisoned.message.SerializePartialAsString());

  Open();  // the count survives a restart, and nothing is quarantined twice
  EXPECT_EQ(database_->quarantined(), 2u);
  EXPECT_EQ(store_->LoadUnfinished().size(), 1u);
  EXPECT_EQ(database_->quarantined(), 2u);
}

TEST_F(UnreadableRecordsTest, DirectoryKeepsAsideUnreadableNumbersAndSettings) {
  auto scenario = ParseScenario(
      R"pb(
        accounts { sid: "AC0123456789abcdef0123456789abcdef" auth_token: "token-0123456789" }
        numbers {
          number: "+12025550100"
          account_sid: "AC0123456789abcdef0123456789abcdef"
          type: LONG_CODE
          country: "US"
          capabilities { sms: true mms: true }
        }
      )pb",
      "test");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  v1::Number poisoned;
  poisoned.set_number("+12025550177");
  poisoned.set_account_sid(kAccount);
  poisoned.set_sms_url("http://127.0.0.1:18081/\xff");
  PutRaw(Family::kMeta, "number/+12025550177", poisoned.SerializePartialAsString());
  PutRaw(Family::kMeta, std::string("settings/") + kAccount, "\x0a\x05garbage");

  Directory directory(*scenario, database_.get());
  const auto numbers = directory.NumbersOf(kAccount);
  ASSERT_EQ(numbers.size(), 1u);
  EXPECT_EQ(numbers[0].number(), "+12025550100");
  EXPECT_TRUE(Has(Family::kQuarantine, "meta/number/+12025550177"));
  EXPECT_TRUE(Has(Family::kQuarantine, std::string("meta/settings/") + kAccount));
  EXPECT_FALSE(Has(Family::kMeta, "number/+12025550177"));

  // Provisioning refuses the same bad URL before anything is stored.
  v1::Number again = poisoned;
  again.clear_sid();
  again.set_type(v1::LONG_CODE);
  auto provisioned = directory.Provision(kAccount, again);
  ASSERT_FALSE(provisioned.ok());
  EXPECT_THAT(std::string(provisioned.status().message()), HasSubstr("sms_url"));
  EXPECT_FALSE(Has(Family::kMeta, "number/+12025550177"));
}

TEST_F(UnreadableRecordsTest, InboxJournalKeepsAsideUnreadableEntries) {
  RocksDbInboxJournal journal(*database_);
  v1::HandsetMessage good;
  good.set_message_sid(NewSid("SM"));
  good.set_text("hi");
  good.mutable_received_at()->set_seconds(1'700'000'000);
  PutRaw(Family::kInbox, "+12025550142/00000000000000000001/" + good.message_sid(),
         good.SerializeAsString());
  v1::HandsetMessage bad = good;
  bad.set_message_sid(NewSid("SM"));
  bad.set_text("bad \xff");
  const std::string bad_key = "+12025550142/00000000000000000002/" + bad.message_sid();
  PutRaw(Family::kInbox, bad_key, bad.SerializePartialAsString());

  carriers::Handsets handsets;
  EXPECT_EQ(journal.RestoreInto(handsets), 1u);
  EXPECT_EQ(handsets.Inbox("+12025550142").messages_size(), 1);
  EXPECT_TRUE(Has(Family::kQuarantine, "inbox/" + bad_key));
  EXPECT_FALSE(Has(Family::kInbox, bad_key));
}

TEST(ScenarioTextTest, InvalidUtf8AnywhereIsRefusedNamingTheField) {
  auto scenario = ParseScenario(R"pb(
                                  accounts {
                                    sid: "AC0123456789abcdef0123456789abcdef"
                                    auth_token: "token-0123456789"
                                    friendly_name: "caf\351"
                                  }
                                )pb",
                                "test");
  ASSERT_FALSE(scenario.ok());
  EXPECT_THAT(std::string(scenario.status().message()), HasSubstr("accounts[0].friendly_name"));

  auto url = ParseScenario(
      R"pb(
        accounts { sid: "AC0123456789abcdef0123456789abcdef" auth_token: "token-0123456789" }
        numbers {
          number: "+12025550100"
          account_sid: "AC0123456789abcdef0123456789abcdef"
          type: LONG_CODE
          country: "US"
          sms_url: "http://127.0.0.1:9000/in bound"
        }
      )pb",
      "test");
  ASSERT_FALSE(url.ok());
  EXPECT_THAT(std::string(url.status().message()), HasSubstr("sms_url"));
}

}  // namespace
}  // namespace mmsgate::gateway
