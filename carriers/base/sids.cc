#include "carriers/base/sids.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>

#include "carriers/base/crypto.h"

namespace mmsgate {
namespace {

// Strictly increasing across calls, and across restarts while the wall clock moves forward: the
// nanoseconds since the epoch, or one more than the last value when two calls meet.
uint64_t NextOrderedPart() {
  static std::atomic<uint64_t> last{0};
  const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  uint64_t previous = last.load(std::memory_order_relaxed);
  uint64_t next = 0;
  do {
    next = std::max(now, previous + 1);
  } while (!last.compare_exchange_weak(previous, next, std::memory_order_relaxed));
  return next;
}

}  // namespace

std::string NewSid(std::string_view prefix) {
  // The first 16 hex digits grow with creation time, the last 16 are random. Records keyed by
  // SID (a message's record, its status, its outbox entry) are then written near the end of
  // RocksDB's sorted memtable, where the skiplist's path is already in the CPU cache, instead
  // of at a random place in it: fully random SIDs made those inserts the largest item in the
  // gateway's profile (docs/performance.md).
  char ordered[17];
  std::snprintf(ordered, sizeof ordered, "%016" PRIx64, NextOrderedPart());
  return std::string(prefix) + ordered + RandomHex(8);
}

bool IsSid(std::string_view sid, std::string_view prefix) {
  if (sid.size() != prefix.size() + 32 || !sid.starts_with(prefix)) return false;
  return std::all_of(sid.begin() + prefix.size(), sid.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace mmsgate
