#pragma once
// How the process's open-file limit is shared out, so that one kind of connection cannot use up
// the descriptors every other part needs (a flood of idle HTTP connections used to leave gRPC
// unable to accept at all).

#include <cstdint>

namespace mmsgate::gateway {

struct DescriptorBudget {
  // The soft RLIMIT_NOFILE in force, and what it was before RaiseOpenFileLimit.
  uint64_t limit = 0;
  uint64_t limit_before = 0;
  // Reserved: standard streams, epoll and event descriptors of gRPC and Asio, RocksDB's WAL,
  // LOCK, LOG and MANIFEST files.
  uint64_t base = 0;
  // RocksDB's table-file cache (its max_open_files).
  uint64_t rocksdb_files = 0;
  // Outbound sockets: media fetches and webhooks, one each while in flight.
  uint64_t outbound = 0;
  // The cap on open HTTP connections; gRPC connections get what remains.
  uint64_t http_connections = 0;
  uint64_t grpc_connections = 0;
};

// The budget for an open-file limit of `limit`. HTTP connections are capped at
// `max_http_connections` at most.
[[nodiscard]] DescriptorBudget BudgetFor(uint64_t limit, uint64_t max_http_connections = 10000);

// Raises the soft RLIMIT_NOFILE to the hard limit and returns the budget for the result.
[[nodiscard]] DescriptorBudget RaiseOpenFileLimit(uint64_t max_http_connections = 10000);

}  // namespace mmsgate::gateway
