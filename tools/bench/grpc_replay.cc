// grpc_replay: the one client of the gRPC admission figure (tools/bench.sh). It serializes a few
// Messaging.SendMessage requests once, then replays their bytes through gRPC's generic callback
// API with --concurrency calls in flight over --channels connections for --seconds, and prints
// calls/s and latency. Against mmsgate and against grpc_echo it does exactly the same work per
// call, so the ratio of the two is what mmsgate adds to gRPC.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "mmsgate/v1/messaging.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string method = "/mmsgate.v1.Messaging/SendMessage";
  std::string account = "AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e";
  std::string token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
  std::string from = "+12025550100";
  std::string to_prefix = "+1202555";
  std::string body = "replayed message";
  int variants = 1000;
  int concurrency = 64;
  int channels = 4;
  double seconds = 10;
  double warmup = 1;
};

struct Results {
  std::mutex mutex;
  std::vector<double> latencies_us;
  std::map<std::string, int64_t> errors;
  int64_t ok = 0;
  int64_t response_bytes = 0;
};

class Replay {
 public:
  Replay(const Options& options, std::vector<grpc::ByteBuffer> requests)
      : options_(options), requests_(std::move(requests)) {
    for (int k = 0; k < options_.channels; ++k) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // A connection per channel.
      args.SetInt("grpc_replay.channel", k);
      stubs_.push_back(std::make_unique<grpc::GenericStub>(
          grpc::CreateCustomChannel(options_.target, grpc::InsecureChannelCredentials(), args)));
    }
    authorization_ = "Basic " + absl::Base64Escape(options_.account + ":" + options_.token);
  }

  // Runs warm-up then the measured window; returns false if nothing succeeded.
  bool Run() {
    start_ = Clock::now();
    measure_from_ = start_ + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(options_.warmup));
    stop_at_ = measure_from_ + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(options_.seconds));
    for (int i = 0; i < options_.concurrency; ++i) Start(i);
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [&] { return in_flight_ == 0; });
    return results_.ok > 0;
  }

  void Print() {
    auto& l = results_.latencies_us;
    std::sort(l.begin(), l.end());
    auto pct = [&](double p) {
      return l.empty() ? 0.0 : l[std::min(l.size() - 1, static_cast<std::size_t>(p * l.size()))];
    };
    const double rate = static_cast<double>(results_.ok) / options_.seconds;
    std::printf("calls_per_s %.1f\n", rate);
    std::printf(
        "detail ok=%lld seconds=%.1f concurrency=%d channels=%d p50_us=%.0f p99_us=%.0f "
        "response_bytes=%lld",
        static_cast<long long>(results_.ok), options_.seconds, options_.concurrency,
        options_.channels, pct(0.5), pct(0.99),
        static_cast<long long>(results_.ok > 0 ? results_.response_bytes / results_.ok : 0));
    for (const auto& [error, count] : results_.errors) {
      std::printf(" error[%s]=%lld", error.c_str(), static_cast<long long>(count));
    }
    std::printf("\n");
  }

 private:
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer response;
    Clock::time_point started;
  };

  void Start(uint64_t n) {
    const auto now = Clock::now();
    if (now >= stop_at_) return;
    {
      std::lock_guard lock(mutex_);
      ++in_flight_;
    }
    auto* call = new Call;
    call->context.AddMetadata("authorization", authorization_);
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    call->started = now;
    const grpc::ByteBuffer& request = requests_[n % requests_.size()];
    stubs_[n % stubs_.size()]->UnaryCall(
        &call->context, options_.method, grpc::StubOptions(), &request, &call->response,
        [this, call, n](grpc::Status status) { Done(call, n, status); });
  }

  void Done(Call* call, uint64_t n, const grpc::Status& status) {
    const auto finished = Clock::now();
    if (call->started >= measure_from_ && finished <= stop_at_) {
      std::lock_guard lock(results_.mutex);
      if (status.ok()) {
        ++results_.ok;
        results_.response_bytes += static_cast<int64_t>(call->response.Length());
        results_.latencies_us.push_back(
            std::chrono::duration<double, std::micro>(finished - call->started).count());
      } else {
        ++results_.errors[std::to_string(status.error_code()) + " " +
                          status.error_message().substr(0, 60)];
      }
    }
    delete call;
    // The next call of this slot; n advances by the concurrency so requests rotate.
    Start(n + static_cast<uint64_t>(options_.concurrency));
    std::lock_guard lock(mutex_);
    if (--in_flight_ == 0) finished_.notify_all();
  }

  const Options& options_;
  std::vector<grpc::ByteBuffer> requests_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::string authorization_;
  Clock::time_point start_, measure_from_, stop_at_;
  std::mutex mutex_;
  std::condition_variable finished_;
  int in_flight_ = 0;
  Results results_;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{
      "grpc_replay: replays serialized SendMessage requests with many calls in flight and "
      "prints calls/s (the same client for mmsgate and for the bare reference server)"};
  app.add_option("--target", options.target, "HOST:PORT")->capture_default_str();
  app.add_option("--method", options.method, "full method name")->capture_default_str();
  app.add_option("--account", options.account, "account SID")->capture_default_str();
  app.add_option("--token", options.token, "auth token")->capture_default_str();
  app.add_option("--from", options.from, "sender")->capture_default_str();
  app.add_option("--to-prefix", options.to_prefix,
                 "destination i is PREFIX + 4 digits of i (i < --variants)")
      ->capture_default_str();
  app.add_option("--body", options.body, "text")->capture_default_str();
  app.add_option("--variants", options.variants, "distinct requests (destinations) replayed")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--concurrency", options.concurrency, "calls in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--channels", options.channels, "connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--seconds", options.seconds, "measured window")->capture_default_str();
  app.add_option("--warmup", options.warmup, "seconds before the window")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<grpc::ByteBuffer> requests;
  for (int i = 0; i < options.variants; ++i) {
    mmsgate::v1::SendMessageRequest request;
    request.set_from(options.from);
    char digits[8];
    std::snprintf(digits, sizeof digits, "%04d", (i + 1) % 10000);
    request.set_to(options.to_prefix + digits);
    if (request.to() == request.from()) request.set_to(options.to_prefix + "9999");
    request.set_body(options.body);
    const std::string bytes = request.SerializeAsString();
    grpc::Slice slice(bytes);
    requests.emplace_back(&slice, 1);
  }
  Replay replay(options, std::move(requests));
  const bool ok = replay.Run();
  replay.Print();
  return ok ? 0 : 1;
}
