// A record that cannot be read at start (written by an older mmsgate, or damaged) is reported
// with its key and kept aside in the quarantine family instead of being skipped.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "carriers/base/sids.h"
#include "carriers/handsets.h"
#include "gateway/accounts/directory.h"
#include "gateway/config/scenario.h"
#include "gateway/storage/rocks_directory_store.h"
#include "gateway/storage/rocks_inbox_store.h"
#include "gateway/storage/rocks_message_store.h"
#include "mmsc/storage/rocks_database.h"
#include "mmsgate/storage/records.pb.h"

namespace mmsgate::gateway {
namespace {

namespace fs = std::filesystem;
namespace v1 = mmsgate::v1;
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
    Close();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  void Close() {
    messages_.reset();
    directory_store_.reset();
    inbox_.reset();
    database_.reset();
  }
  void Open() {
    Close();
    std::vector<storage::FamilySpec> families;
    for (auto part : {RocksMessageStore::Families(), RocksDirectoryStore::Families(),
                      RocksInboxStore::Families()}) {
      families.insert(families.end(), part.begin(), part.end());
    }
    storage::DatabaseOptions options;
    options.sync_writes = false;
    auto database = storage::RocksDatabase::Open(dir_.string(), options, families);
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = std::move(*database);
    messages_ = std::make_unique<RocksMessageStore>(*database_);
    directory_store_ = std::make_unique<RocksDirectoryStore>(*database_);
    inbox_ = std::make_unique<RocksInboxStore>(*database_, io_.get_executor(), io_.get_executor());
  }

  static v1::Message Message() {
    v1::Message m;
    m.set_sid(NewSid("SM"));
    m.set_account_sid(kAccount);
    m.set_from("+12025550100");
    m.set_to("+12025550142");
    m.set_body("hello");
    m.set_status(v1::ACCEPTED);
    m.mutable_date_created()->set_seconds(1'700'000'000);
    return m;
  }

  // Writes bytes as an older mmsgate did: serialized without the UTF-8 check.
  void PutRaw(const char* family, const std::string& key, const std::string& value) {
    auto batch = database_->NewBatch();
    database_->Put(*batch, database_->Family(family), key, value);
    ASSERT_TRUE(database_->CommitNow(std::move(batch)).ok());
  }
  bool Has(const char* family, const std::string& key) {
    return database_->Get(database_->Family(family), key).ok();
  }

  fs::path dir_;
  boost::asio::io_context io_;
  std::unique_ptr<storage::RocksDatabase> database_;
  std::unique_ptr<RocksMessageStore> messages_;
  std::unique_ptr<RocksDirectoryStore> directory_store_;
  std::unique_ptr<RocksInboxStore> inbox_;
};

TEST_F(UnreadableRecordsTest, UnreadableOutboxRecordIsQuarantinedWithItsKey) {
  const v1::Message good = Message();
  auto batch = database_->NewBatch();
  ASSERT_TRUE(messages_->StageNew(*batch, good, {}).ok());
  ASSERT_TRUE(database_->CommitNow(std::move(batch)).ok());
  storage::MessageRecord poisoned;
  poisoned.set_sid(NewSid("SM"));
  poisoned.set_status_callback("http://127.0.0.1:18081/cb\xff");
  const std::string sid = poisoned.sid();
  PutRaw("messages", sid, poisoned.SerializePartialAsString());
  PutRaw("status", sid, storage::StatusRecord().SerializeAsString());
  PutRaw("outbox", sid, "");

  const auto resumed = messages_->LoadUnfinished();
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_EQ(resumed[0].sid(), good.sid());
  // Kept aside, under keys that say where each part came from, and out of the outbox.
  EXPECT_TRUE(Has("quarantine", "messages/" + sid));
  EXPECT_TRUE(Has("quarantine", "outbox/" + sid));
  EXPECT_FALSE(Has("outbox", sid));
  EXPECT_FALSE(Has("messages", sid));
  EXPECT_EQ(*database_->Get(database_->Family("quarantine"), "messages/" + sid),
            poisoned.SerializePartialAsString());
  const uint64_t quarantined = database_->stats().quarantined;
  EXPECT_EQ(quarantined, 3u);  // record, status, outbox entry

  Open();  // the count survives a restart, and nothing is quarantined twice
  EXPECT_EQ(database_->stats().quarantined, quarantined);
  EXPECT_EQ(messages_->LoadUnfinished().size(), 1u);
  EXPECT_EQ(database_->stats().quarantined, quarantined);
}

TEST_F(UnreadableRecordsTest, DirectoryKeepsAsideUnreadableNumbersAndSettings) {
  auto scenario = ParseScenario(R"pb(
    accounts { sid: "AC0123456789abcdef0123456789abcdef" auth_token: "token-0123456789" }
    numbers { number: "+12025550100" account_sid: "AC0123456789abcdef0123456789abcdef"
              type: LONG_CODE country: "US" capabilities { sms: true mms: true } }
  )pb",
                                "test");
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  v1::Number poisoned;
  poisoned.set_number("+12025550177");
  poisoned.set_account_sid(kAccount);
  poisoned.set_sms_url("http://127.0.0.1:18081/\xff");
  PutRaw("numbers", "+12025550177", poisoned.SerializePartialAsString());
  PutRaw("settings", kAccount, "\x0a\x05garbage");

  Directory directory(*scenario, *database_, *directory_store_);
  const auto numbers = directory.NumbersOf(kAccount);
  ASSERT_EQ(numbers.size(), 1u);
  EXPECT_EQ(numbers[0].number(), "+12025550100");
  EXPECT_TRUE(Has("quarantine", "numbers/+12025550177"));
  EXPECT_TRUE(Has("quarantine", std::string("settings/") + kAccount));
  EXPECT_FALSE(Has("numbers", "+12025550177"));

  // Provisioning refuses the same bad URL before anything is stored.
  v1::Number again = poisoned;
  again.clear_sid();
  again.set_type(v1::LONG_CODE);
  auto provisioned = directory.Provision(kAccount, again);
  ASSERT_FALSE(provisioned.ok());
  EXPECT_THAT(std::string(provisioned.status().message()), HasSubstr("sms_url"));
  EXPECT_FALSE(Has("numbers", "+12025550177"));
}

TEST_F(UnreadableRecordsTest, InboxStoreKeepsAsideUnreadableEntries) {
  v1::HandsetMessage good;
  good.set_message_sid(NewSid("SM"));
  good.set_text("hi");
  PutRaw("inbox", "+12025550142/00000000000000000001/" + good.message_sid(),
         good.SerializeAsString());
  v1::HandsetMessage bad = good;
  bad.set_message_sid(NewSid("SM"));
  bad.set_text("bad \xff");
  const std::string bad_key = "+12025550142/00000000000000000002/" + bad.message_sid();
  PutRaw("inbox", bad_key, bad.SerializePartialAsString());

  EXPECT_EQ(inbox_->CheckStored(), 1u);
  EXPECT_TRUE(Has("quarantine", "inbox/" + bad_key));
  EXPECT_FALSE(Has("inbox", bad_key));
}

TEST(ScenarioTextTest, InvalidUtf8AnywhereIsRefusedNamingTheField) {
  auto scenario = ParseScenario(R"pb(
    accounts { sid: "AC0123456789abcdef0123456789abcdef" auth_token: "token-0123456789"
               friendly_name: "caf\351" }
  )pb",
                                "test");
  ASSERT_FALSE(scenario.ok());
  EXPECT_THAT(std::string(scenario.status().message()), HasSubstr("accounts[0].friendly_name"));

  auto url = ParseScenario(R"pb(
    accounts { sid: "AC0123456789abcdef0123456789abcdef" auth_token: "token-0123456789" }
    numbers { number: "+12025550100" account_sid: "AC0123456789abcdef0123456789abcdef"
              type: LONG_CODE country: "US" sms_url: "http://127.0.0.1:9000/in bound" }
  )pb",
                           "test");
  ASSERT_FALSE(url.ok());
  EXPECT_THAT(std::string(url.status().message()), HasSubstr("sms_url"));
}

}  // namespace
}  // namespace mmsgate::gateway
