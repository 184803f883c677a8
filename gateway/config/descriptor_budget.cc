#include "gateway/config/descriptor_budget.h"

#include <sys/resource.h>

#include <algorithm>

namespace mmsgate::gateway {

DescriptorBudget BudgetFor(uint64_t limit, uint64_t max_http_connections) {
  DescriptorBudget budget;
  budget.limit = budget.limit_before = limit;
  budget.base = 64;
  budget.rocksdb_files = std::clamp<uint64_t>(limit / 8, 32, 1000);
  budget.outbound = std::clamp<uint64_t>(limit / 8, 32, 4096);
  const uint64_t reserved = budget.base + budget.rocksdb_files + budget.outbound;
  const uint64_t remaining = limit > reserved ? limit - reserved : 0;
  // Half of the rest for HTTP, at least a handful so that the server still serves something
  // under a tiny limit; gRPC clients hold few connections each, but get the other half.
  budget.http_connections = std::clamp<uint64_t>(remaining / 2, 16, max_http_connections);
  budget.grpc_connections =
      remaining > budget.http_connections ? remaining - budget.http_connections : 0;
  return budget;
}

DescriptorBudget RaiseOpenFileLimit(uint64_t max_http_connections) {
  rlimit limits{};
  uint64_t before = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &limits) == 0) {
    before = limits.rlim_cur;
    if (limits.rlim_cur < limits.rlim_max) {
      rlimit raised = limits;
      raised.rlim_cur = limits.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limits = raised;
    }
  }
  // RLIM_INFINITY is not a count; treat it as plenty.
  const uint64_t now = limits.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : limits.rlim_cur;
  DescriptorBudget budget = BudgetFor(now, max_http_connections);
  budget.limit_before = before;
  return budget;
}

}  // namespace mmsgate::gateway
