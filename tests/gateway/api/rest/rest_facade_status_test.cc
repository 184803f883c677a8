// The REST facade's one mapping from absl status codes to HTTP statuses.

#include <gtest/gtest.h>

#include "gateway/api/rest/rest_facade.h"

namespace mmsgate::gateway {
namespace {

TEST(RestFacadeStatusTest, EveryCodeMapsAsDocumented) {
  using absl::StatusCode;
  EXPECT_EQ(HttpStatusFor(StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);     // 21211, 21623, 21200…
  EXPECT_EQ(HttpStatusFor(StatusCode::kFailedPrecondition), 400);  // 21612, 30011
  EXPECT_EQ(HttpStatusFor(StatusCode::kOutOfRange), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAlreadyExists), 400);    // 21422
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);  // 20003
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);           // 20404
  EXPECT_EQ(HttpStatusFor(StatusCode::kAborted), 409);            // 20009
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), 429);  // 21611
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);  // 30500 while stopping
  EXPECT_EQ(HttpStatusFor(StatusCode::kCancelled), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDataLoss), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnknown), 500);
}

TEST(RestFacadeStatusTest, ServerOptionsCapRequests) {
  const auto options = RestFacadeServerOptions();
  EXPECT_EQ(options.max_body_bytes, 1024u * 1024u);
  EXPECT_LE(options.header_timeout, options.request_timeout);
}

}  // namespace
}  // namespace mmsgate::gateway
