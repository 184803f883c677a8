#include "mmsc/storage/rocks_database.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "carriers/base/errors.h"

namespace mmsgate::storage {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ =
        fs::temp_directory_path() / ("mmsgate-rocks-database-test-" + std::to_string(::getpid()) +
                                     "-" + std::to_string(random()));
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

const std::vector<FamilySpec> kFamilies = {{"records", FamilyKind::kRecords},
                                           {"index", FamilyKind::kIndex},
                                           {"counters", FamilyKind::kCounters}};

TEST(RocksDatabaseTest, ConcurrentGroupCommitsAllSucceedOnTheirExecutorAndSurviveReopen) {
  TempDir dir;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  constexpr int kTotal = kThreads * kPerThread;
  std::mutex mutex;
  std::condition_variable all_done;
  int completed = 0;
  std::atomic<int> ok{0};
  std::atomic<int> on_pool{0};
  {
    auto database = RocksDatabase::Open(dir.path(), DatabaseOptions{}, kFamilies);
    ASSERT_TRUE(database.ok()) << database.status();
    auto& db = **database;
    const auto records = db.Family("records");
    const auto index = db.Family("index");
    const auto counters = db.Family("counters");
    boost::asio::thread_pool pool(2);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          auto batch = db.NewBatch();
          const std::string key = "key-" + std::to_string(t) + "-" + std::to_string(i);
          db.Put(*batch, records, key, "value-" + key);
          db.Put(*batch, index, key, "");
          // Every kind of record, so batches written as one group keep all of theirs.
          db.AddCounter(*batch, counters, "total", 1);
          db.Delete(*batch, index, "never-written-" + key);
          db.Commit(std::move(batch), pool.get_executor(), [&](absl::Status status) {
            if (status.ok()) ok.fetch_add(1);
            if (pool.get_executor().running_in_this_thread()) on_pool.fetch_add(1);
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
      ASSERT_TRUE(
          all_done.wait_for(lock, std::chrono::seconds(60), [&] { return completed == kTotal; }));
    }
    pool.join();
    EXPECT_EQ(ok.load(), kTotal);
    // Completions ran on the executor the callers named, never on the writer thread.
    EXPECT_EQ(on_pool.load(), kTotal);
    EXPECT_EQ(db.stats().batches_committed, static_cast<uint64_t>(kTotal));
    EXPECT_LE(db.stats().groups_committed, static_cast<uint64_t>(kTotal));
  }
  auto reopened = RocksDatabase::Open(dir.path(), DatabaseOptions{}, kFamilies);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto total = (*reopened)->Get((*reopened)->Family("counters"), "total");
  ASSERT_TRUE(total.ok());
  EXPECT_EQ(DecodeCounter(*total), kTotal);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const std::string key = "key-" + std::to_string(t) + "-" + std::to_string(i);
      auto value = (*reopened)->Get((*reopened)->Family("records"), key);
      ASSERT_TRUE(value.ok()) << key;
      EXPECT_EQ(*value, "value-" + key);
    }
  }
}

TEST(RocksDatabaseTest, CommitAfterCloseFailsInsteadOfHanging) {
  TempDir dir;
  auto database = RocksDatabase::Open(dir.path(), DatabaseOptions{}, kFamilies);
  ASSERT_TRUE(database.ok());
  (*database)->Close();
  boost::asio::io_context io;
  absl::Status result = absl::OkStatus();
  bool called = false;
  auto batch = (*database)->NewBatch();
  (*database)->Put(*batch, (*database)->Family("records"), "k", "v");
  (*database)->Commit(std::move(batch), io.get_executor(), [&](absl::Status status) {
    called = true;
    result = status;
  });
  io.run();
  EXPECT_TRUE(called);
  EXPECT_EQ(ProviderErrorCode(result), 30500);
}

TEST(RocksDatabaseTest, CountersAddWithoutReadingAndScansStayWithinTheirPrefix) {
  TempDir dir;
  auto database = RocksDatabase::Open(dir.path(), DatabaseOptions{}, kFamilies);
  ASSERT_TRUE(database.ok());
  auto& db = **database;
  auto batch = db.NewBatch();
  db.AddCounter(*batch, db.Family("counters"), "a/x", 5);
  db.AddCounter(*batch, db.Family("counters"), "a/x", -2);
  db.Put(*batch, db.Family("index"), "a/1", "");
  db.Put(*batch, db.Family("index"), "a/2", "");
  db.Put(*batch, db.Family("index"), "b/1", "");
  ASSERT_TRUE(db.CommitNow(std::move(batch)).ok());
  EXPECT_EQ(DecodeCounter(*db.Get(db.Family("counters"), "a/x")), 3);
  std::vector<std::string> keys;
  ASSERT_TRUE(db.Scan(db.Family("index"), "a/", "", [&](std::string_view key, std::string_view) {
                  keys.emplace_back(key);
                  return true;
                }).ok());
  EXPECT_THAT(keys, ::testing::ElementsAre("a/1", "a/2"));
  EXPECT_TRUE(db.HasPrefix(db.Family("index"), "b/"));
  EXPECT_FALSE(db.HasPrefix(db.Family("index"), "c/"));
}

TEST(RocksDatabaseTest, QuarantineMovesARecordAsideUnchanged) {
  TempDir dir;
  {
    auto database = RocksDatabase::Open(dir.path(), DatabaseOptions{}, kFamilies);
    ASSERT_TRUE(database.ok());
    auto& db = **database;
    auto batch = db.NewBatch();
    db.Put(*batch, db.Family("records"), "k", "garbage\xff");
    ASSERT_TRUE(db.CommitNow(std::move(batch)).ok());
    ASSERT_TRUE(db.Quarantine(db.Family("records"), "k").ok());
    EXPECT_FALSE(db.Get(db.Family("records"), "k").ok());
    EXPECT_EQ(db.stats().quarantined, 1u);
  }
  auto reopened = RocksDatabase::Open(dir.path(), DatabaseOptions{}, kFamilies);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->stats().quarantined, 1u);
}

TEST(RocksDatabaseTest, ADataDirectoryOfTheOldFormatIsRefusedWithAReason) {
  TempDir dir;
  {
    // What mmsgate 0.1 left: families, and no "format" family.
    auto database = RocksDatabase::Open(dir.path(), DatabaseOptions{}, kFamilies);
    ASSERT_TRUE(database.ok());
    auto& db = **database;
    auto batch = db.NewBatch();
    db.Put(*batch, db.Family("format"), "version", "1");
    ASSERT_TRUE(db.CommitNow(std::move(batch)).ok());
  }
  auto reopened = RocksDatabase::Open(dir.path(), DatabaseOptions{}, kFamilies);
  ASSERT_FALSE(reopened.ok());
  EXPECT_THAT(std::string(reopened.status().message()), ::testing::HasSubstr("--data-dir"));
}

}  // namespace
}  // namespace mmsgate::storage
