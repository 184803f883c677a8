// The MMSC path of one MMS that falls back to SMS-plus-link: media validation and SHA-256,
// link token and text, segment count (Admit), then staging the message, media and link and
// committing them to RocksDB (fsync on, as in production).
//
//   build/tests/mmsc_benchmark --benchmark_counters_tabular=true

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "carriers/number_plan.h"
#include "fakes/test_images.h"
#include "gateway/accounts/directory.h"
#include "gateway/core/admission.h"
#include "gateway/core/send_service.h"
#include "gateway/storage/rocks_directory_store.h"
#include "gateway/storage/rocks_message_store.h"
#include "mmsc/image_adapter.h"
#include "mmsc/storage/rocks_database.h"
#include "mmsc/storage/rocks_media_store.h"

namespace {

namespace v1 = mmsgate::v1;

constexpr const char* kAccount = "AC0123456789abcdef0123456789abcdef";

v1::Scenario BenchScenario() {
  v1::Scenario scenario;
  auto* account = scenario.add_accounts();
  account->set_sid(kAccount);
  account->set_auth_token("benchmark-token");
  auto* carrier = scenario.add_carriers();
  carrier->set_id("plain");
  carrier->set_country("US");
  carrier->add_prefixes("+1206555");
  carrier->set_supports_mms(false);
  auto* number = scenario.add_numbers();
  number->set_number("+12025550100");
  number->set_account_sid(kAccount);
  number->set_type(v1::LONG_CODE);
  number->set_country("US");
  number->mutable_capabilities()->set_sms(true);
  number->mutable_capabilities()->set_mms(true);
  return scenario;
}

// range(0): media bytes; range(1): 1 = the same media every time (de-duplicated), 0 = new.
void BM_MmscStoreAndCompose(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const bool same_media = state.range(1) == 1;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("mmsgate-bench-" + std::to_string(::getpid()) + "-" +
                    std::to_string(state.range(0)) + "-" + std::to_string(state.range(1)));
  std::filesystem::remove_all(dir);
  std::vector<mmsgate::storage::FamilySpec> families;
  for (auto part :
       {mmsgate::mmsc::RocksMediaStore::Families(), mmsgate::gateway::RocksMessageStore::Families(),
        mmsgate::gateway::RocksDirectoryStore::Families()}) {
    families.insert(families.end(), part.begin(), part.end());
  }
  auto database = mmsgate::storage::RocksDatabase::Open(dir.string(), {}, families);
  if (!database.ok()) {
    state.SkipWithError("cannot open RocksDB");
    return;
  }
  mmsgate::mmsc::RocksMediaStore media_store(**database);
  mmsgate::gateway::RocksMessageStore store(**database);
  mmsgate::gateway::RocksDirectoryStore directory_store(**database);
  const v1::Scenario scenario = BenchScenario();
  mmsgate::gateway::Directory directory(scenario, **database, directory_store);
  std::vector<v1::Carrier> carriers(scenario.carriers().begin(), scenario.carriers().end());
  mmsgate::carriers::NumberPlan plan(carriers);
  mmsgate::gateway::AdmissionContext context;
  context.directory = &directory;
  context.number_plan = &plan;
  context.public_base_url = "http://127.0.0.1:8080";

  std::mt19937_64 random(42);
  std::string bytes(size, '\0');
  for (auto& b : bytes) b = static_cast<char>(random());
  v1::SendMessageRequest request;
  request.set_from("+12025550100");
  request.set_to("+12065550123");
  request.set_body("Your photo is ready");
  auto* media = request.add_media();
  media->set_content_type("image/jpeg");
  media->set_data(bytes);

  int64_t n = 0;
  for (auto _ : state) {
    if (!same_media) {
      // Change 8 bytes so each message carries new media (no de-duplication).
      auto* data = request.mutable_media(0)->mutable_data();
      std::memcpy(data->data(), &n, sizeof n);
    }
    context.now_ns = ++n;
    auto admitted = mmsgate::gateway::Admit(scenario.accounts(0), request, context);
    if (!admitted.ok()) {
      state.SkipWithError(std::string(admitted.status().message()).c_str());
      break;
    }
    auto batch = (*database)->NewBatch();
    std::vector<std::string> shas;
    if (!mmsgate::gateway::StageAdmitted(media_store, store, *batch, *admitted, admitted->message, {}, &shas).ok() ||
        !(*database)->CommitNow(std::move(batch)).ok()) {
      state.SkipWithError("store failed");
      break;
    }
    media_store.StagingDone(shas);
    benchmark::DoNotOptimize(admitted->message.num_segments());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(size));
  state.counters["msgs/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  database->reset();
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_MmscStoreAndCompose)
    ->ArgNames({"bytes", "same_media"})
    ->Args({100 * 1024, 0})
    ->Args({100 * 1024, 1})
    ->Args({1024 * 1024, 0})
    ->Args({1024 * 1024, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Image adaptation (libvips) of a photo-like JPEG of range(0) bytes to a 1 MB carrier: the CPU a
// 1.4 MB or 4 MB picture costs before it can go out as MMS instead of SMS + link. Compare with
// BM_MmscStoreAndCompose/bytes:1048576 in the same run (what the fallback costs).
void BM_AdaptJpegToOneMegabyte(benchmark::State& state) {
  const auto original =
      std::make_shared<const std::string>(mmsgate::testing::JpegOfAbout(state.range(0)));
  int64_t delivered = 0;
  for (auto _ : state) {
    auto adapted = mmsgate::mmsc::AdaptImages({{"image/jpeg", original}}, 1'000'000);
    if (!adapted.ok()) {
      state.SkipWithError(std::string(adapted.status().message()).c_str());
      break;
    }
    delivered = static_cast<int64_t>((*adapted)[0].data->size());
  }
  state.counters["original_bytes"] = static_cast<double>(original->size());
  state.counters["delivered_bytes"] = static_cast<double>(delivered);
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_AdaptJpegToOneMegabyte)
    ->ArgNames({"bytes"})
    ->Arg(1'400'000)
    ->Arg(4'000'000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
