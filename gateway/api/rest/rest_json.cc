#include "gateway/api/rest/rest_json.h"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "carriers/base/encoding.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using nlohmann::json;

std::string AccountUri(const std::string& account_sid) {
  return std::string("/") + kApiVersion + "/Accounts/" + account_sid;
}

// Null for an unset time: the provider writes `"date_sent": null` before a message is sent.
json DateOrNull(const google::protobuf::Timestamp& t) {
  std::string text = Rfc2822(t);
  return text.empty() ? json(nullptr) : json(std::move(text));
}

json StringOrNull(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

const char* StatusName(v1::MessageStatus status) {
  switch (status) {
    case v1::QUEUED:
      return "queued";
    case v1::SENDING:
      return "sending";
    case v1::SENT:
      return "sent";
    case v1::DELIVERED:
      return "delivered";
    case v1::UNDELIVERED:
      return "undelivered";
    case v1::FAILED:
      return "failed";
    case v1::RECEIVED:
      return "received";
    case v1::SCHEDULED:
      return "scheduled";
    case v1::CANCELED:
      return "canceled";
    case v1::ACCEPTED:
    default:
      // A stored message always has a status; "accepted" is the state before any other.
      return "accepted";
  }
}

const char* DirectionName(v1::Direction direction) {
  switch (direction) {
    case v1::INBOUND:
      return "inbound";
    case v1::OUTBOUND_REPLY:
      return "outbound-reply";
    case v1::OUTBOUND_API:
    default:
      return "outbound-api";
  }
}

// Page tokens are opaque bytes to this layer; they must survive the trip through a URL.

}  // namespace

std::string Rfc2822(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "";
  // Names spelled out rather than strftime's %a/%b, which follow the process locale.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t seconds = static_cast<std::time_t>(t.seconds());
  std::tm tm{};
  if (gmtime_r(&seconds, &tm) == nullptr) return "";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buffer;
}

std::string MessageUri(const std::string& account_sid, const std::string& message_sid) {
  return AccountUri(account_sid) + "/Messages/" + message_sid + ".json";
}

json MessageJson(const v1::Message& m) {
  const std::string message_base = AccountUri(m.account_sid()) + "/Messages/" + m.sid();
  return json{
      {"sid", m.sid()},
      {"account_sid", m.account_sid()},
      {"api_version", kApiVersion},
      {"body", m.body()},
      {"direction", DirectionName(m.direction())},
      {"from", m.from()},
      {"to", m.to()},
      {"status", StatusName(m.status())},
      // The provider sends these counts as strings; the libraries keep them as such.
      {"num_media", std::to_string(m.num_media())},
      {"num_segments", std::to_string(m.num_segments())},
      {"price", nullptr},
      {"price_unit", "USD"},
      {"error_code", m.error_code() == 0 ? json(nullptr) : json(m.error_code())},
      {"error_message", StringOrNull(m.error_message())},
      {"messaging_service_sid", StringOrNull(m.messaging_service_sid())},
      {"date_created", DateOrNull(m.date_created())},
      {"date_updated", DateOrNull(m.date_updated())},
      {"date_sent", DateOrNull(m.date_sent())},
      {"uri", message_base + ".json"},
      {"subresource_uris",
       {{"media", message_base + "/Media.json"}, {"feedback", message_base + "/Feedback.json"}}},
  };
}

json MediaJson(const v1::Media& media, const std::string& account_sid) {
  return json{
      {"sid", media.sid()},
      {"account_sid", account_sid},
      {"parent_sid", media.parent_sid()},
      {"content_type", media.content_type()},
      {"date_created", DateOrNull(media.date_created())},
      {"date_updated", DateOrNull(media.date_created())},
      {"uri", AccountUri(account_sid) + "/Messages/" + media.parent_sid() + "/Media/" +
                  media.sid() + ".json"},
  };
}

json ListEnvelope(const std::string& records_key, json records, const std::string& base_uri,
                  int page, int page_size, bool has_next, const std::string& query_without_paging,
                  const std::string& next_page_token, const std::string& current_page_token) {
  std::string prefix = base_uri + "?";
  if (!query_without_paging.empty()) prefix += query_without_paging + "&";
  prefix += "PageSize=" + std::to_string(page_size) + "&Page=";
  auto page_uri = [&prefix](int number, const std::string& token) {
    std::string uri = prefix + std::to_string(number);
    if (!token.empty()) uri += "&PageToken=" + PercentEncode(token, /*space_as_plus=*/false);
    return uri;
  };

  const std::int64_t count = records.is_array() ? static_cast<std::int64_t>(records.size()) : 0;
  const std::int64_t start = static_cast<std::int64_t>(page) * page_size;
  const std::int64_t end = count == 0 ? start : start + count - 1;
  json envelope{
      {"end", end},
      {"first_page_uri", page_uri(0, "")},
      {"last_page_uri", nullptr},
      {"next_page_uri", has_next ? json(page_uri(page + 1, next_page_token)) : json(nullptr)},
      {"num_pages", nullptr},
      {"page", page},
      {"page_size", page_size},
      {"previous_page_uri", page == 0 ? json(nullptr) : json(page_uri(page - 1, ""))},
      {"start", start},
      {"total", nullptr},
      {"uri", page_uri(page, current_page_token)},
  };
  envelope[records_key] = std::move(records);
  return envelope;
}

json ErrorJson(int code, const std::string& message, int http_status) {
  return json{
      {"code", code},
      {"message", message},
      {"more_info", "https://www.twilio.com/docs/errors/" + std::to_string(code)},
      {"status", http_status},
  };
}

}  // namespace mmsgate::gateway
