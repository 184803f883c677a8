// SendService's media budget: admission holds at most so many media bytes at once, and refuses
// what would pass it with 20429 instead of letting RSS grow with the load.

#include "gateway/core/send_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>

#include "carriers/base/errors.h"
#include "fakes/test_gateway.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using ::testing::HasSubstr;
using testing::TestGateway;

v1::SendMessageRequest Mms(std::size_t media_bytes, char fill) {
  v1::SendMessageRequest request;
  request.set_from("+12025550100");
  request.set_to("+12025550142");
  request.set_body("picture");
  auto* media = request.add_media();
  media->set_content_type("image/png");
  media->set_data(std::string(media_bytes, fill));
  return request;
}

TEST(SendServiceTest, MediaBeyondTheBudgetIsRefusedWith20429AndNothingIsStored) {
  TestGateway gateway;
  SendSettings settings;
  settings.public_base_url = "http://127.0.0.1:8080";
  settings.media_budget_bytes = 6 << 20;
  SendService sender(gateway.io, gateway.io.get_executor(), gateway.clock, gateway.database,
                     gateway.message_store, gateway.media_store, gateway.directory, gateway.fleet,
                     gateway.senders, gateway.lifecycle, settings);
  std::optional<absl::StatusOr<v1::Message>> first, second, third;
  // Both arrive before either is stored: 8 MB would be held at once.
  sender.Send(gateway.account(), Mms(4 << 20, 'a'), [&](auto result) { first = result; });
  ASSERT_FALSE(first.has_value()) << first->status();
  EXPECT_EQ(sender.media_in_flight_bytes(), 4 << 20);
  sender.Send(gateway.account(), Mms(4 << 20, 'b'), [&](auto result) { second = result; });
  ASSERT_TRUE(second.has_value()) << "refused at once, before any work";
  ASSERT_FALSE(second->ok());
  EXPECT_EQ(second->status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ProviderErrorCode(second->status()), 20429);
  EXPECT_THAT(std::string(second->status().message()),
              HasSubstr("would pass the gateway's budget of 6291456 bytes"));
  EXPECT_THAT(std::string(second->status().message()), HasSubstr("--media-budget-bytes"));

  for (int i = 0; i < 100 && !first; ++i) gateway.Run();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->ok()) << first->status();
  // Stored: the bytes are no longer held, and the next MMS fits.
  EXPECT_EQ(sender.media_in_flight_bytes(), 0);
  sender.Send(gateway.account(), Mms(4 << 20, 'c'), [&](auto result) { third = result; });
  for (int i = 0; i < 100 && !third; ++i) gateway.Run();
  ASSERT_TRUE(third.has_value());
  EXPECT_TRUE(third->ok()) << third->status();
  EXPECT_EQ(sender.media_in_flight_bytes(), 0);

  // The refused one left nothing behind: two messages and their media, no third.
  v1::ListMessagesRequest list;
  list.set_page_size(10);
  const auto page = gateway.message_store.List(testing::kTestAccount, list, nullptr);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->messages_size(), 2);
}

}  // namespace
}  // namespace mmsgate::gateway
