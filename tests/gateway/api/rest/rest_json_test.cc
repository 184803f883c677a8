#include "gateway/api/rest/rest_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using nlohmann::json;
using ::testing::UnorderedElementsAre;

constexpr char kAccount[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kSid[] = "MM11111111111111111111111111111111";
constexpr char kMediaSid[] = "ME22222222222222222222222222222222";
// Thu, 27 Nov 2025 10:11:12 UTC.
constexpr int64_t kThursday = 1764238272;

google::protobuf::Timestamp At(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  return t;
}

std::set<std::string> Keys(const json& object) {
  std::set<std::string> keys;
  for (const auto& item : object.items()) keys.insert(item.key());
  return keys;
}

v1::Message FullMessage() {
  v1::Message m;
  m.set_sid(kSid);
  m.set_account_sid(kAccount);
  m.set_from("+12025550100");
  m.set_to("+12025550123");
  m.set_body("Hello & \"world\" 👋");
  m.set_num_media(2);
  m.set_num_segments(1);
  m.set_status(v1::UNDELIVERED);
  m.set_error_code(30003);
  m.set_error_message("Unreachable destination handset");
  m.set_direction(v1::OUTBOUND_API);
  m.set_delivered_as(v1::MMS);
  m.set_carrier_id("northwind");
  *m.mutable_date_created() = At(kThursday);
  *m.mutable_date_sent() = At(kThursday + 1, 500000000);
  *m.mutable_date_updated() = At(kThursday + 3600 * 14);  // Thu 24:11:12 -> Fri 00:11:12.
  return m;
}

TEST(Rfc2822, FormatsUtcWithDayAndMonthNames) {
  EXPECT_EQ(Rfc2822(At(kThursday)), "Thu, 27 Nov 2025 10:11:12 +0000");
  EXPECT_EQ(Rfc2822(At(kThursday, 999999999)), "Thu, 27 Nov 2025 10:11:12 +0000");
  EXPECT_EQ(Rfc2822(At(1)), "Thu, 01 Jan 1970 00:00:01 +0000");
  EXPECT_EQ(Rfc2822(At(951782400)), "Tue, 29 Feb 2000 00:00:00 +0000");
  EXPECT_EQ(Rfc2822(google::protobuf::Timestamp()), "");
}

TEST(MessageJson, EveryFieldHasTheProvidersValueAndType) {
  const json j = MessageJson(FullMessage());
  EXPECT_EQ(
      Keys(j),
      (std::set<std::string>{
          "sid",          "account_sid",  "api_version", "body",          "direction",
          "from",         "to",           "status",      "num_media",     "num_segments",
          "price",        "price_unit",   "error_code",  "error_message", "messaging_service_sid",
          "date_created", "date_updated", "date_sent",   "uri",           "subresource_uris"}));
  EXPECT_EQ(j["sid"], kSid);
  EXPECT_EQ(j["account_sid"], kAccount);
  EXPECT_EQ(j["api_version"], "2010-04-01");
  EXPECT_EQ(j["body"], "Hello & \"world\" 👋");
  EXPECT_EQ(j["direction"], "outbound-api");
  EXPECT_EQ(j["from"], "+12025550100");
  EXPECT_EQ(j["to"], "+12025550123");
  EXPECT_EQ(j["status"], "undelivered");
  ASSERT_TRUE(j["num_media"].is_string());
  EXPECT_EQ(j["num_media"], "2");
  ASSERT_TRUE(j["num_segments"].is_string());
  EXPECT_EQ(j["num_segments"], "1");
  EXPECT_TRUE(j["price"].is_null());
  EXPECT_EQ(j["price_unit"], "USD");
  ASSERT_TRUE(j["error_code"].is_number_integer());
  EXPECT_EQ(j["error_code"], 30003);
  EXPECT_EQ(j["error_message"], "Unreachable destination handset");
  EXPECT_TRUE(j["messaging_service_sid"].is_null());
  EXPECT_EQ(j["date_created"], "Thu, 27 Nov 2025 10:11:12 +0000");
  EXPECT_EQ(j["date_sent"], "Thu, 27 Nov 2025 10:11:13 +0000");
  EXPECT_EQ(j["date_updated"], "Fri, 28 Nov 2025 00:11:12 +0000");
  EXPECT_EQ(j["uri"],
            std::string("/2010-04-01/Accounts/") + kAccount + "/Messages/" + kSid + ".json");
  EXPECT_EQ(Keys(j["subresource_uris"]), (std::set<std::string>{"media", "feedback"}));
  EXPECT_EQ(j["subresource_uris"]["media"],
            std::string("/2010-04-01/Accounts/") + kAccount + "/Messages/" + kSid + "/Media.json");
  EXPECT_EQ(j["subresource_uris"]["feedback"], std::string("/2010-04-01/Accounts/") + kAccount +
                                                   "/Messages/" + kSid + "/Feedback.json");
  // Internal fields never leak into the provider's shape.
  EXPECT_FALSE(j.contains("carrier_id"));
  EXPECT_FALSE(j.contains("delivered_as"));
}

TEST(MessageJson, UnsetErrorAndDatesAreNull) {
  v1::Message m = FullMessage();
  m.set_status(v1::QUEUED);
  m.set_error_code(0);
  m.clear_error_message();
  m.clear_date_sent();
  m.set_num_media(0);
  const json j = MessageJson(m);
  EXPECT_TRUE(j["error_code"].is_null());
  EXPECT_TRUE(j["error_message"].is_null());
  EXPECT_TRUE(j["date_sent"].is_null());
  EXPECT_TRUE(j["date_created"].is_string());
  EXPECT_EQ(j["num_media"], "0");
  EXPECT_EQ(j["status"], "queued");
  // The key set does not change when values are null.
  EXPECT_EQ(Keys(j), Keys(MessageJson(FullMessage())));
}

TEST(MessageJson, StatusesAndDirectionsAreLowercaseWords) {
  const std::pair<v1::MessageStatus, const char*> statuses[] = {
      {v1::ACCEPTED, "accepted"}, {v1::QUEUED, "queued"},       {v1::SENDING, "sending"},
      {v1::SENT, "sent"},         {v1::DELIVERED, "delivered"}, {v1::UNDELIVERED, "undelivered"},
      {v1::FAILED, "failed"},     {v1::RECEIVED, "received"}};
  for (const auto& [status, name] : statuses) {
    v1::Message m = FullMessage();
    m.set_status(status);
    EXPECT_EQ(MessageJson(m)["status"], name);
  }
  const std::pair<v1::Direction, const char*> directions[] = {
      {v1::OUTBOUND_API, "outbound-api"},
      {v1::INBOUND, "inbound"},
      {v1::OUTBOUND_REPLY, "outbound-reply"}};
  for (const auto& [direction, name] : directions) {
    v1::Message m = FullMessage();
    m.set_direction(direction);
    EXPECT_EQ(MessageJson(m)["direction"], name);
  }
}

TEST(MediaJson, FieldsAndUri) {
  v1::Media media;
  media.set_sid(kMediaSid);
  media.set_parent_sid(kSid);
  media.set_content_type("image/jpeg");
  media.set_size(1234);
  *media.mutable_date_created() = At(kThursday);
  const json j = MediaJson(media, kAccount);
  EXPECT_EQ(Keys(j), (std::set<std::string>{"sid", "account_sid", "parent_sid", "content_type",
                                            "date_created", "date_updated", "uri"}));
  EXPECT_EQ(j["sid"], kMediaSid);
  EXPECT_EQ(j["account_sid"], kAccount);
  EXPECT_EQ(j["parent_sid"], kSid);
  EXPECT_EQ(j["content_type"], "image/jpeg");
  EXPECT_EQ(j["date_created"], "Thu, 27 Nov 2025 10:11:12 +0000");
  EXPECT_EQ(j["date_updated"], "Thu, 27 Nov 2025 10:11:12 +0000");
  EXPECT_EQ(j["uri"], std::string("/2010-04-01/Accounts/") + kAccount + "/Messages/" + kSid +
                          "/Media/" + kMediaSid + ".json");
}

TEST(ListEnvelope, HasExactlyTheProvidersKeys) {
  const std::string base = std::string("/2010-04-01/Accounts/") + kAccount + "/Messages.json";
  json records = json::array({MessageJson(FullMessage()), MessageJson(FullMessage())});
  const json j = ListEnvelope("messages", records, base, 0, 2, true, "To=%2B12025550123", "tok/1=");
  EXPECT_EQ(Keys(j),
            (std::set<std::string>{"end", "first_page_uri", "last_page_uri", "next_page_uri",
                                   "num_pages", "page", "page_size", "previous_page_uri", "start",
                                   "total", "uri", "messages"}));
  EXPECT_EQ(j["messages"], records);
  EXPECT_EQ(j["start"], 0);
  EXPECT_EQ(j["end"], 1);
  EXPECT_EQ(j["page"], 0);
  EXPECT_EQ(j["page_size"], 2);
  EXPECT_TRUE(j["last_page_uri"].is_null());
  EXPECT_TRUE(j["num_pages"].is_null());
  EXPECT_TRUE(j["total"].is_null());
  EXPECT_TRUE(j["previous_page_uri"].is_null());
  EXPECT_EQ(j["uri"], base + "?To=%2B12025550123&PageSize=2&Page=0");
  EXPECT_EQ(j["first_page_uri"], base + "?To=%2B12025550123&PageSize=2&Page=0");
  EXPECT_EQ(j["next_page_uri"], base + "?To=%2B12025550123&PageSize=2&Page=1&PageToken=tok%2F1%3D");
}

TEST(ListEnvelope, LastAndLaterPages) {
  const std::string base =
      std::string("/2010-04-01/Accounts/") + kAccount + "/Messages/" + kSid + "/Media.json";
  json records = json::array({json::object({{"sid", kMediaSid}})});
  const json j = ListEnvelope("media_list", records, base, 2, 50, false, "", "", "cur");
  EXPECT_EQ(Keys(j),
            (std::set<std::string>{"end", "first_page_uri", "last_page_uri", "next_page_uri",
                                   "num_pages", "page", "page_size", "previous_page_uri", "start",
                                   "total", "uri", "media_list"}));
  EXPECT_TRUE(j["next_page_uri"].is_null());
  EXPECT_EQ(j["start"], 100);
  EXPECT_EQ(j["end"], 100);
  EXPECT_EQ(j["uri"], base + "?PageSize=50&Page=2&PageToken=cur");
  EXPECT_EQ(j["first_page_uri"], base + "?PageSize=50&Page=0");
  EXPECT_EQ(j["previous_page_uri"], base + "?PageSize=50&Page=1");

  const json empty = ListEnvelope("messages", json::array(), base, 0, 50, false, "");
  EXPECT_TRUE(empty["messages"].is_array());
  EXPECT_TRUE(empty["messages"].empty());
  EXPECT_EQ(empty["start"], 0);
  EXPECT_EQ(empty["end"], 0);
}

TEST(ErrorJson, HasExactlyFourKeys) {
  const json j = ErrorJson(20003, "Authenticate", 401);
  EXPECT_EQ(Keys(j), (std::set<std::string>{"code", "message", "more_info", "status"}));
  ASSERT_TRUE(j["code"].is_number_integer());
  EXPECT_EQ(j["code"], 20003);
  EXPECT_EQ(j["message"], "Authenticate");
  EXPECT_EQ(j["more_info"], "https://www.twilio.com/docs/errors/20003");
  ASSERT_TRUE(j["status"].is_number_integer());
  EXPECT_EQ(j["status"], 401);
}

TEST(ErrorJson, SerialisesUnicodeAsUtf8) {
  const std::string dumped = ErrorJson(21211, "'To' \"+1555\" — invalid", 400).dump();
  EXPECT_EQ(json::parse(dumped)["message"], "'To' \"+1555\" — invalid");
}

}  // namespace
}  // namespace mmsgate::gateway
