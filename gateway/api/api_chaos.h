#pragma once
// API chaos (Simulator.SetApiChaos): for a while, calls to chosen API methods answer an error
// (429 with 20429, 500, 503, ...) instead of being served, or answer late, so a test suite can
// exercise its own client's error handling. Both front doors ask Decide() before serving a
// call of the Messaging or Accounts API or of the REST facade; a call answered with the error
// never reaches its handler, so nothing is stored.
//
// Methods are named canonically: an RPC as "mmsgate.v1.Messaging/SendMessage", a REST route as
// "POST /2010-04-01/Accounts/{AccountSid}/Messages.json". Set() accepts the short forms
// ("SendMessage", "Messaging/SendMessage", a route without its verb) and "*".
//
// Chaos lasts a span of simulated time and ends by itself. Whether a call gets the error is
// drawn from a generator seeded by the scenario's seed, so a run with the same calls in the same
// order gets the same answers.
//
// Thread-safe; Decide() takes no lock while no chaos is in force, and never blocks.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "carriers/base/clock.h"
#include "mmsgate/v1/simulator.pb.h"

namespace mmsgate::gateway {

// What chaos does to one call.
struct ChaosVerdict {
  // Answer this much later (real time).
  std::chrono::milliseconds delay{0};
  // When set, answer this instead of serving the call; `http_status` is what REST answers.
  std::optional<absl::Status> refusal;
  int http_status = 0;
};

class ApiChaos {
 public:
  ApiChaos(const Clock& clock, uint64_t seed);

  // Replaces the chaos of `chaos.method` (duration_seconds 0 removes it) and answers what is in
  // force. INVALID_ARGUMENT (21200) naming the field for an unknown method, a probability
  // outside 0..1, a status outside 400..599, a code outside 10000..99999, a duration outside
  // 0..86400 s or a latency outside 0..60000 ms; nothing changes then.
  [[nodiscard]] absl::StatusOr<std::vector<mmsgate::v1::ActiveApiChaos>> Set(
      const mmsgate::v1::ApiChaos& chaos);
  // The chaos in force, by method.
  [[nodiscard]] std::vector<mmsgate::v1::ActiveApiChaos> List();
  // Ends all chaos (Simulator.Reset).
  void Clear();

  // What to do with a call of `method` (canonical form). `method` is built only when chaos is
  // in force: pass a function making it.
  template <class MakeName>
  ChaosVerdict Decide(MakeName&& make_name) {
    if (!active_.load(std::memory_order_acquire)) return {};
    return DecideFor(make_name());
  }
  ChaosVerdict DecideFor(const std::string& method);

  // The canonical name of an RPC ("mmsgate.v1.Messaging/SendMessage").
  static std::string RpcName(std::string_view service, std::string_view method);
  // The canonical name of a REST request: its verb and route template, or "" for a path that is
  // no route of the facade.
  static std::string RestRouteName(std::string_view verb, std::string_view path);

 private:
  struct Entry {
    mmsgate::v1::ApiChaos chaos;
    SimTime ends;
    int64_t calls = 0;
    int64_t injected = 0;
  };
  // Drops what has ended, and keeps active_ in step. mutex_ held.
  void ExpireLocked(SimTime now);

  const Clock& clock_;
  // !entries_.empty(), read without the lock: calls pay nothing once chaos has ended.
  std::atomic<bool> active_{false};
  std::mutex mutex_;
  std::vector<Entry> entries_;  // guarded by mutex_, by method
  std::mt19937_64 random_;      // guarded by mutex_
};

}  // namespace mmsgate::gateway
