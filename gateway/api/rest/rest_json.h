#pragma once
// The REST facade's JSON: the provider's 2010-04-01 API shapes that its official Node and Python
// libraries read (DESIGN.md, "REST facade notes"). Pure rendering, no I/O.
//
// The functions return nlohmann::json so a caller can assemble a list from rendered records and
// serialise once (`.dump()`); this header includes only <nlohmann/json_fwd.hpp>, so code that
// merely passes the values around does not compile the whole JSON library. Code that inspects
// or dumps them includes <nlohmann/json.hpp> (Debian nlohmann-json3-dev, header-only).
//
// Every object has exactly the keys listed here: the Python library fails on extra keys in a
// list envelope, and the Node library raises a different exception class for extra error keys.

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "mmsgate/v1/message.pb.h"

namespace mmsgate::gateway {

inline constexpr char kApiVersion[] = "2010-04-01";

// RFC 2822 date in UTC as the provider writes it, e.g. "Thu, 27 Nov 2025 10:11:12 +0000";
// fractions of a second are dropped. An unset Timestamp (0 seconds, 0 nanos) gives "", which
// the JSON functions render as null.
[[nodiscard]] std::string Rfc2822(const google::protobuf::Timestamp& t);

// "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}.json".
[[nodiscard]] std::string MessageUri(const std::string& account_sid,
                                     const std::string& message_sid);

// A Message resource with exactly these keys:
//   sid, account_sid, api_version ("2010-04-01"), body, from, to (strings);
//   direction: "outbound-api" | "inbound" | "outbound-reply" (unspecified: "outbound-api");
//   status: "accepted" | "queued" | "sending" | "sent" | "delivered" | "undelivered" | "failed" |
//     "received" (unspecified: "accepted");
//   num_media, num_segments: decimal strings ("2");
//   price: null; price_unit: "USD"; messaging_service_sid: null;
//   error_code: number, or null when 0; error_message: string, or null when empty;
//   date_created, date_updated, date_sent: RFC 2822 strings, or null when unset;
//   uri: MessageUri(...);
//   subresource_uris: {"media": ".../Messages/{sid}/Media.json",
//                      "feedback": ".../Messages/{sid}/Feedback.json"}.
[[nodiscard]] nlohmann::json MessageJson(const mmsgate::v1::Message& m);

// A Media resource with exactly these keys: sid, account_sid, parent_sid, content_type,
// date_created, date_updated (both from media.date_created: media never change; null when
// unset), uri ("/2010-04-01/Accounts/{account_sid}/Messages/{parent_sid}/Media/{sid}.json").
[[nodiscard]] nlohmann::json MediaJson(const mmsgate::v1::Media& media,
                                       const std::string& account_sid);

// A list page with exactly these keys: `records_key` (e.g. "messages", "media_list") holding
// `records` (a JSON array), and end, first_page_uri, last_page_uri (null), next_page_uri,
// num_pages (null), page, page_size, previous_page_uri, start, total (null), uri.
//
// `base_uri` is the list's path ("/2010-04-01/Accounts/AC…/Messages.json"); `query_without_paging`
// is the request's filters, already form-encoded and without a leading '?' ("To=%2B1202…"), or
// empty. Page URIs are paths that the libraries follow verbatim:
//   uri             base_uri?{query&}PageSize={page_size}&Page={page}[&PageToken=…]
//   first_page_uri  base_uri?{query&}PageSize={page_size}&Page=0
//   next_page_uri   base_uri?{query&}PageSize={page_size}&Page={page+1}[&PageToken=
//                   {next_page_token}], or null when !has_next
//   previous_page_uri null on page 0; otherwise base_uri?{query&}PageSize={page_size}&Page=
//                   {page-1} without a token (the store's tokens only go forward; the libraries
//                   never follow this link).
// The current page's `uri` carries `current_page_token` when given. Tokens are
// percent-encoded here. start = page * page_size; end = start + records - 1 (start when the
// page is empty), as the provider writes them.
[[nodiscard]] nlohmann::json ListEnvelope(const std::string& records_key, nlohmann::json records,
                                          const std::string& base_uri, int page, int page_size,
                                          bool has_next, const std::string& query_without_paging,
                                          const std::string& next_page_token = "",
                                          const std::string& current_page_token = "");

// An error body with exactly {code, message, more_info, status}; more_info is
// "https://www.twilio.com/docs/errors/{code}" (the libraries show it to users).
[[nodiscard]] nlohmann::json ErrorJson(int code, const std::string& message, int http_status);

}  // namespace mmsgate::gateway
