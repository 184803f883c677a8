#include "gateway/config/descriptor_budget.h"

#include <gtest/gtest.h>

namespace mmsgate::gateway {
namespace {

TEST(DescriptorBudgetTest, SharesNeverExceedTheLimitAndLeaveRoomForGrpc) {
  for (uint64_t limit : {64u, 256u, 1024u, 4096u, 20000u, 1048576u}) {
    SCOPED_TRACE(limit);
    const auto budget = BudgetFor(limit);
    EXPECT_GE(budget.http_connections, 16u);
    if (limit >= 256) {
      EXPECT_LE(budget.base + budget.rocksdb_files + budget.outbound + budget.http_connections +
                    budget.grpc_connections,
                limit);
      EXPECT_GT(budget.grpc_connections, 0u);
    }
    EXPECT_LE(budget.http_connections, 10000u);
  }
  // Debian's default soft limit: HTTP gets far less than the old fixed 10,000.
  EXPECT_LT(BudgetFor(1024).http_connections, 512u);
  EXPECT_EQ(BudgetFor(1048576).http_connections, 10000u);
  EXPECT_EQ(BudgetFor(1048576, 500).http_connections, 500u);
}

TEST(DescriptorBudgetTest, RaisingTheLimitReachesTheHardLimit) {
  const auto budget = RaiseOpenFileLimit();
  EXPECT_GE(budget.limit, budget.limit_before);
}

}  // namespace
}  // namespace mmsgate::gateway
