#pragma once
// What every part of the load harness shares: its clock, small helpers and exit codes.

#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "mmsgate/v1/message.pb.h"

namespace mmsload {

namespace v1 = mmsgate::v1;

inline constexpr int kExitBadUsage = 2;
inline constexpr int kReconcileConcurrency = 32;

// ---------------------------------------------------------------------------------------------
// Time: a monotonic clock expressed as wall-clock nanoseconds since the epoch, so our own stamps
// never go backwards during a run. The gateway's dates are on its simulation clock, which runs
// time_scale times faster than real time from the gateway's start; LocalOf maps them onto this
// clock (anchored with Simulator.GetClock at connect), so every time mmsload reports or writes
// is on one real timeline.

class Clock {
 public:
  Clock()
      : offset_ns_(ToNs(std::chrono::system_clock::now().time_since_epoch()) -
                   ToNs(std::chrono::steady_clock::now().time_since_epoch())) {}
  int64_t NowNs() const {
    return offset_ns_ + ToNs(std::chrono::steady_clock::now().time_since_epoch());
  }

  // The gateway's simulated time `gateway_ns` was `local_ns` on this clock; it runs
  // `time_scale` simulated seconds per real second.
  void Anchor(int64_t gateway_ns, int64_t local_ns, double time_scale) {
    gateway_anchor_ns_ = gateway_ns;
    local_anchor_ns_ = local_ns;
    time_scale_ = time_scale > 0 ? time_scale : 1.0;
  }
  double time_scale() const { return time_scale_; }
  // A gateway date (simulated) on this clock. Before Anchor (or against a gateway without
  // Simulator.GetClock) the two are taken to be the same clock.
  int64_t LocalOf(int64_t gateway_ns) const {
    if (gateway_anchor_ns_ == 0) return gateway_ns;
    return local_anchor_ns_ +
           static_cast<int64_t>(static_cast<double>(gateway_ns - gateway_anchor_ns_) / time_scale_);
  }

 private:
  template <typename D>
  static int64_t ToNs(D d) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  }
  int64_t offset_ns_;
  int64_t gateway_anchor_ns_ = 0;
  int64_t local_anchor_ns_ = 0;
  double time_scale_ = 1.0;
};

inline int64_t TimestampNs(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1'000'000'000LL + t.nanos();
}

// splitmix64: fast, good enough for filler bytes that must differ between messages.
struct FillerRandom {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::string Bytes(std::size_t n) {
    std::string out(n, '\0');
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const uint64_t v = Next();
      std::memcpy(out.data() + i, &v, 8);
    }
    if (i < n) {
      const uint64_t v = Next();
      std::memcpy(out.data() + i, &v, n - i);
    }
    return out;
  }
};

// 400 -> "400", 2.5 -> "2.5".
inline std::string Number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

inline bool IsFinal(int status) {
  return status == v1::DELIVERED || status == v1::UNDELIVERED || status == v1::FAILED;
}

}  // namespace mmsload
