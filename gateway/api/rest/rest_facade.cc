#include "gateway/api/rest/rest_facade.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "carriers/base/errors.h"
#include "carriers/base/sids.h"
#include "carriers/phone_numbers.h"
#include "gateway/accounts/authority.h"
#include "gateway/api/rest/form_encoding.h"
#include "gateway/api/rest/rest_json.h"
#include "gateway/core/rules.h"
#include "mmsc/media_rules.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;
using nlohmann::json;

// Provider codes for answers that carry no code of their own.
using error_codes::kForbidden;
using error_codes::kInternalError;
using error_codes::kMethodNotAllowed;
using error_codes::kServiceUnavailable;

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;
// Page=N without a PageToken walks N pages from the start; more than this is refused.
constexpr int kMaxPageWalk = 1000;

// ---------------------------------------------------------------------------------------------
// Responses

HttpResponse JsonResponse(const HttpRequest& request, http::status status, const json& body) {
  HttpResponse response(status, request.version());
  response.set(http::field::content_type, "application/json; charset=utf-8");
  response.keep_alive(request.keep_alive());
  // Error messages may quote what the client sent; invalid UTF-8 must not make dump() throw.
  response.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  response.prepare_payload();
  return response;
}

HttpResponse NoContent(const HttpRequest& request) {
  HttpResponse response(http::status::no_content, request.version());
  response.keep_alive(request.keep_alive());
  response.prepare_payload();
  return response;
}

int DefaultCodeFor(int http_status) {
  switch (http_status) {
    case 400:
      return error_codes::kInvalidParameter;
    case 401:
      return error_codes::kAuthenticationFailed;
    case 403:
      return kForbidden;
    case 404:
      return error_codes::kNotFound;
    case 405:
      return kMethodNotAllowed;
    case 429:
      return error_codes::kQueueFull;
    case 503:
      return kServiceUnavailable;
    default:
      return kInternalError;
  }
}

// "21623: 11 media given…" → "11 media given…": the code has its own field in the JSON.
std::string WithoutCodePrefix(std::string_view message) {
  std::size_t digits = 0;
  while (digits < message.size() && message[digits] >= '0' && message[digits] <= '9') ++digits;
  if (digits > 0 && message.substr(digits).starts_with(": ")) message.remove_prefix(digits + 2);
  return std::string(message);
}

HttpResponse ErrorResponse(const HttpRequest& request, int http_status, int code,
                           const std::string& message) {
  auto response = JsonResponse(request, static_cast<http::status>(http_status),
                               ErrorJson(code, message, http_status));
  if (http_status == 401) response.set(http::field::www_authenticate, "Basic realm=\"mmsgate\"");
  if (http_status == 429) response.set(http::field::retry_after, "1");
  return response;
}

HttpResponse ErrorResponse(const HttpRequest& request, const absl::Status& status) {
  const int http_status = HttpStatusFor(status.code());
  int code = ProviderErrorCode(status);
  if (code == 0) code = DefaultCodeFor(http_status);
  const auto message = status.message();  // absl::string_view, not std::string_view here
  return ErrorResponse(request, http_status, code,
                       WithoutCodePrefix(std::string_view(message.data(), message.size())));
}

HttpResponse InvalidParameter(const HttpRequest& request, const std::string& message,
                              int code = error_codes::kInvalidParameter) {
  return ErrorResponse(request, 400, code, message);
}

HttpResponse ResourceNotFound(const HttpRequest& request, std::string_view path) {
  return ErrorResponse(
      request, 404, error_codes::kNotFound,
      "The requested resource " + std::string(path.substr(0, 200)) + " was not found");
}

HttpResponse MethodNotAllowed(const HttpRequest& request, const char* allow) {
  auto response = ErrorResponse(
      request, 405, kMethodNotAllowed,
      "Method " + std::string(request.method_string()) + " not allowed; use " + allow);
  response.set(http::field::allow, allow);
  return response;
}

// ---------------------------------------------------------------------------------------------
// Parameters

// The first value of `name`, if given.
std::optional<std::string> Param(const FormParams& params, std::string_view name) {
  for (const auto& [key, value] : params) {
    if (key == name) return value;
  }
  return std::nullopt;
}

std::optional<int64_t> ParseInteger(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// A phone number as a form-encoding client that forgot to escape '+' sends it: "+1202…" arrives
// as " 1202…". Put the '+' back, as the provider does.
std::string PhoneParam(std::string value) {
  if (value.size() > 1 && value[0] == ' ' && value[1] >= '0' && value[1] <= '9') value[0] = '+';
  return value;
}

bool IsTrue(const std::string& value) {
  return value == "true" || value == "True" || value == "TRUE" || value == "1";
}

bool IsFalse(const std::string& value) {
  return value == "false" || value == "False" || value == "FALSE" || value == "0";
}

// "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" (what the helper libraries send) in UTC. Returns
// seconds since the epoch and whether a time of day other than midnight was given.
struct ParsedDate {
  int64_t seconds = 0;
  bool has_time = false;
};

std::optional<ParsedDate> ParseDate(const std::string& text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char tail[4] = {0};
  int consumed = 0;
  if (text.size() == 10 &&
      std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &consumed) == 3 &&
      consumed == 10) {
  } else if (text.size() == 20 &&
             std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%1[Z]%n", &year, &month, &day, &hour,
                         &minute, &second, tail, &consumed) == 7 &&
             consumed == 20) {
  } else {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::time_t seconds = timegm(&tm);
  if (tm.tm_mday != day) return std::nullopt;  // 31 February and the like.
  return ParsedDate{static_cast<int64_t>(seconds), hour != 0 || minute != 0 || second != 0};
}

// The DateSent filters as a half-open range of seconds.
struct DateSentRange {
  bool active = false;
  int64_t from = std::numeric_limits<int64_t>::min();
  int64_t until = std::numeric_limits<int64_t>::max();  // exclusive
};

constexpr int64_t kDay = 86400;

int64_t DayStart(int64_t seconds) { return seconds - ((seconds % kDay) + kDay) % kDay; }

// DateSent=D: sent that UTC day. DateSent<=D: sent on or before it (the whole day for a date or
// midnight, up to and including the second otherwise). DateSent>=D: sent at or after it.
absl::Status ApplyDateFilter(const std::string& name, const std::string& value,
                             DateSentRange& range) {
  auto date = ParseDate(value);
  if (!date) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                         name + " \"" + value.substr(0, 40) +
                             "\" is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)");
  }
  range.active = true;
  if (name == "DateSent") {
    range.from = std::max(range.from, DayStart(date->seconds));
    range.until = std::min(range.until, DayStart(date->seconds) + kDay);
  } else if (name == "DateSent<") {
    range.until =
        std::min(range.until, date->has_time ? date->seconds + 1 : DayStart(date->seconds) + kDay);
  } else {
    range.from = std::max(range.from, date->seconds);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Numbers

std::string AccountBase(const std::string& account_sid) {
  return std::string("/") + kApiVersion + "/Accounts/" + account_sid;
}

// An IncomingPhoneNumber resource, with the keys the provider's libraries read.
json NumberJson(const v1::Number& number) {
  const std::string uri =
      AccountBase(number.account_sid()) + "/IncomingPhoneNumbers/" + number.sid() + ".json";
  return json{
      {"account_sid", number.account_sid()},
      {"address_requirements", "none"},
      {"address_sid", nullptr},
      {"api_version", kApiVersion},
      {"beta", false},
      {"bundle_sid", nullptr},
      {"capabilities",
       {{"voice", false},
        {"sms", number.capabilities().sms()},
        {"mms", number.capabilities().mms()},
        {"fax", false}}},
      {"date_created", nullptr},
      {"date_updated", nullptr},
      {"emergency_address_sid", nullptr},
      {"emergency_address_status", "unregistered"},
      {"emergency_status", "Inactive"},
      {"friendly_name", number.number()},
      {"identity_sid", nullptr},
      {"origin", "twilio"},
      {"phone_number", number.number()},
      {"sid", number.sid()},
      {"sms_application_sid", ""},
      {"sms_fallback_method", "POST"},
      {"sms_fallback_url", ""},
      {"sms_method", "POST"},
      {"sms_url", number.sms_url()},
      {"status", "in-use"},
      {"status_callback", number.status_callback()},
      {"status_callback_method", "POST"},
      {"subresource_uris",
       {{"assigned_add_ons", AccountBase(number.account_sid()) + "/IncomingPhoneNumbers/" +
                                 number.sid() + "/AssignedAddOns.json"}}},
      {"trunk_sid", nullptr},
      {"uri", uri},
      {"voice_application_sid", ""},
      {"voice_caller_id_lookup", false},
      {"voice_fallback_method", "POST"},
      {"voice_fallback_url", ""},
      {"voice_method", "POST"},
      {"voice_receive_mode", "voice"},
      {"voice_url", ""},
  };
}

// ---------------------------------------------------------------------------------------------
// The facade

class Facade : public std::enable_shared_from_this<Facade> {
 public:
  Facade(Directory& directory, const Authority& authority, SendService& sender,
         MessageService& messages, ApiChaos& chaos, boost::asio::any_io_executor storage_executor)
      : directory_(directory),
        authority_(authority),
        sender_(sender),
        messages_(messages),
        chaos_(chaos),
        storage_executor_(std::move(storage_executor)) {}

  void Handle(HttpRequest request, std::function<void(HttpResponse)> respond) {
    auto verdict = chaos_.Decide([&request] {
      const std::string_view target = request.target();
      return ApiChaos::RestRouteName(request.method_string(), target.substr(0, target.find('?')));
    });
    if (verdict.delay.count() > 0) {
      // Late, then as decided: a timer, not a sleep.
      auto timer = std::make_shared<boost::asio::steady_timer>(storage_executor_, verdict.delay);
      timer->async_wait([self = shared_from_this(), timer, verdict, request = std::move(request),
                         respond = std::move(respond)](const boost::system::error_code&) mutable {
        verdict.delay = std::chrono::milliseconds(0);
        self->Serve(std::move(request), std::move(respond), verdict);
      });
      return;
    }
    Serve(std::move(request), std::move(respond), verdict);
  }

 private:
  void Serve(HttpRequest request, std::function<void(HttpResponse)> respond,
             const ChaosVerdict& verdict) {
    if (verdict.refusal) {
      const int code = ProviderErrorCode(*verdict.refusal);
      const auto message = verdict.refusal->message();
      return respond(
          ErrorResponse(request, verdict.http_status, code,
                        WithoutCodePrefix(std::string_view(message.data(), message.size()))));
    }
    // Nothing here may block the io_context: the whole request is served on the storage pool.
    boost::asio::post(storage_executor_, [self = shared_from_this(), request = std::move(request),
                                          respond = std::move(respond)]() mutable {
      try {
        self->Dispatch(request, respond);
      } catch (const std::exception& e) {
        spdlog::error("REST {} {}: {}", std::string(request.method_string()),
                      std::string(request.target()), e.what());
        respond(ErrorResponse(request, 500, kInternalError, "internal error"));
      }
    });
  }

  using Respond = std::function<void(HttpResponse)>;

  void Dispatch(const HttpRequest& request, const Respond& respond) {
    const std::string_view target = request.target();
    const auto question = target.find('?');
    const std::string path(target.substr(0, question));
    const std::string query(question == std::string_view::npos ? std::string_view()
                                                               : target.substr(question + 1));

    auto account = directory_.Authenticate(request[http::field::authorization]);
    if (!account.ok()) return respond(ErrorResponse(request, account.status()));

    const std::vector<std::string> parts = PathSegments(path);
    // "2010-04-01", "Accounts", AC, resource...
    if (parts.size() < 4 || parts[0] != kApiVersion || parts[1] != "Accounts" ||
        parts[2] != account->sid()) {
      return respond(ResourceNotFound(request, path));
    }
    const std::vector<std::string> rest(parts.begin() + 3, parts.end());
    const auto method = request.method();
    const bool read = method == http::verb::get || method == http::verb::head;

    if (rest.size() == 1 && rest[0] == "Messages.json") {
      if (read) return ListMessages(request, *account, path, query, respond);
      if (method == http::verb::post) return CreateMessage(request, *account, respond);
      return respond(MethodNotAllowed(request, "GET, HEAD, POST"));
    }
    if (rest.size() == 2 && rest[0] == "Messages" && rest[1].ends_with(".json")) {
      const std::string sid = rest[1].substr(0, rest[1].size() - 5);
      if (read) return respond(FetchMessage(request, *account, path, sid));
      if (method == http::verb::delete_) {
        return respond(Deleted(request, path, messages_.Delete(account->sid(), sid)));
      }
      if (method == http::verb::post) return respond(UpdateMessage(request, *account, path, sid));
      return respond(MethodNotAllowed(request, "GET, HEAD, POST, DELETE"));
    }
    if (rest.size() == 3 && rest[0] == "Messages" && rest[2] == "Media.json") {
      if (read) return respond(ListMedia(request, *account, path, query, rest[1]));
      return respond(MethodNotAllowed(request, "GET, HEAD"));
    }
    if (rest.size() == 4 && rest[0] == "Messages" && rest[2] == "Media") {
      if (!rest[3].ends_with(".json")) {
        // The content: GET and HEAD are served by the HTTP routes before they get here.
        if (read) return respond(ResourceNotFound(request, path));
        return respond(MethodNotAllowed(request, "GET, HEAD"));
      }
      const std::string media_sid = rest[3].substr(0, rest[3].size() - 5);
      if (read) return respond(FetchMedia(request, *account, path, rest[1], media_sid));
      if (method == http::verb::delete_) {
        return respond(
            Deleted(request, path, messages_.DeleteMedia(account->sid(), rest[1], media_sid)));
      }
      return respond(MethodNotAllowed(request, "GET, HEAD, DELETE"));
    }
    // Changing numbers needs the admin token when the gateway has one (accounts/authority.h).
    const bool numbers_change = rest[0].starts_with("IncomingPhoneNumbers") && !read;
    if (numbers_change) {
      if (auto status = authority_.AuthorizeAccountChange(request[Authority::kHttpHeader]);
          !status.ok()) {
        return respond(ErrorResponse(request, status));
      }
    }
    if (rest.size() == 1 && rest[0] == "IncomingPhoneNumbers.json") {
      if (read) return respond(ListNumbers(request, *account, path, query));
      if (method == http::verb::post) return respond(ProvisionNumber(request, *account));
      return respond(MethodNotAllowed(request, "GET, HEAD, POST"));
    }
    if (rest.size() == 2 && rest[0] == "IncomingPhoneNumbers" && rest[1].ends_with(".json")) {
      const std::string sid = rest[1].substr(0, rest[1].size() - 5);
      auto number = FindNumber(*account, sid);
      if (!number) return respond(ResourceNotFound(request, path));
      if (read) return respond(JsonResponse(request, http::status::ok, NumberJson(*number)));
      if (method == http::verb::post) return respond(UpdateNumber(request, *account, *number));
      if (method == http::verb::delete_) {
        return respond(
            Deleted(request, path, directory_.Release(account->sid(), number->number())));
      }
      return respond(MethodNotAllowed(request, "GET, HEAD, POST, DELETE"));
    }
    respond(ResourceNotFound(request, path));
  }

  // The form fields of a POST body. Only application/x-www-form-urlencoded is accepted.
  static absl::StatusOr<FormParams> BodyParams(const HttpRequest& request) {
    const std::string_view type = request[http::field::content_type];
    if (!request.body().empty() && !type.empty()) {
      std::string lower(type.substr(0, type.find(';')));
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      while (!lower.empty() && lower.back() == ' ') lower.pop_back();
      if (lower != "application/x-www-form-urlencoded") {
        return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                             "the body must be application/x-www-form-urlencoded, not " +
                                 std::string(type.substr(0, 80)));
      }
    }
    auto params = FormDecode(request.body());
    if (absl::IsOutOfRange(params.status())) {
      // Too many fields: when MediaUrl is what overflows, the user wants the media code.
      const std::size_t media = CountFormFields(request.body(), "MediaUrl");
      if (media > static_cast<std::size_t>(mmsc::kMaxMediaPerMessage)) {
        return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kTooManyMedia,
                             std::to_string(media) + " MediaUrl parameters given, at most " +
                                 std::to_string(mmsc::kMaxMediaPerMessage) + " allowed");
      }
    }
    if (!params.ok()) {
      return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                           "malformed form body: " + std::string(params.status().message()));
    }
    if (auto status = CheckParamsText(*params); !status.ok()) return status;
    return params;
  }

  // Every parameter, known or not, must be UTF-8 text: whatever is kept from a request ends up
  // in a protobuf record, which cannot hold anything else.
  static absl::Status CheckParamsText(const FormParams& params) {
    for (const auto& [name, value] : params) {
      if (auto status = CheckText("a parameter name", name, error_codes::kInvalidParameter);
          !status.ok()) {
        return status;
      }
      if (auto status = CheckText(name, value, CodeForInvalidParameter(name)); !status.ok()) {
        return status;
      }
    }
    return absl::OkStatus();
  }

  static absl::StatusOr<FormParams> QueryParams(const std::string& query) {
    auto params = FormDecode(query);
    if (!params.ok()) {
      return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                           "malformed query string: " + std::string(params.status().message()));
    }
    if (auto status = CheckParamsText(*params); !status.ok()) return status;
    return params;
  }

  // PageSize (1..1000, default 50) and Page (>= 0, default 0).
  static absl::Status PagingParams(const FormParams& params, int& page_size, int& page) {
    page_size = kDefaultPageSize;
    page = 0;
    if (auto text = Param(params, "PageSize")) {
      auto value = ParseInteger(*text);
      if (!value || *value < 1 || *value > kMaxPageSize) {
        return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                             "PageSize \"" + text->substr(0, 20) + "\" must be within 1.." +
                                 std::to_string(kMaxPageSize));
      }
      page_size = static_cast<int>(*value);
    }
    if (auto text = Param(params, "Page")) {
      auto value = ParseInteger(*text);
      if (!value || *value < 0 || *value > std::numeric_limits<int>::max() / kMaxPageSize) {
        return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                             "Page \"" + text->substr(0, 20) + "\" must be a page number from 0");
      }
      page = static_cast<int>(*value);
    }
    return absl::OkStatus();
  }

  void CreateMessage(const HttpRequest& request, const v1::Account& account,
                     const Respond& respond) {
    auto params = BodyParams(request);
    if (!params.ok()) return respond(ErrorResponse(request, params.status()));
    v1::SendMessageRequest send;
    if (auto to = Param(*params, "To")) send.set_to(PhoneParam(*to));
    if (auto from = Param(*params, "From")) send.set_from(PhoneParam(*from));
    if (auto service = Param(*params, "MessagingServiceSid")) {
      send.set_messaging_service_sid(*service);
    }
    if (auto body = Param(*params, "Body")) send.set_body(*body);
    for (const auto& [key, value] : *params) {
      if (key == "MediaUrl") send.add_media_url(value);
    }
    if (auto callback = Param(*params, "StatusCallback")) send.set_status_callback(*callback);
    if (auto validity = Param(*params, "ValidityPeriod")) {
      auto seconds = ParseInteger(*validity);
      if (!seconds || *seconds < 1 || *seconds > kMaxValidityPeriodSeconds) {
        return respond(InvalidParameter(request,
                                        "ValidityPeriod \"" + validity->substr(0, 20) +
                                            "\" must be a number of seconds " + "within 1.." +
                                            std::to_string(kMaxValidityPeriodSeconds),
                                        error_codes::kInvalidValidityPeriod));
      }
      send.set_validity_period_seconds(static_cast<int32_t>(*seconds));
    }
    if (auto type = Param(*params, "ScheduleType")) send.set_schedule_type(*type);
    if (auto send_at = Param(*params, "SendAt")) {
      google::protobuf::Timestamp at;
      if (!google::protobuf::util::TimeUtil::FromString(*send_at, &at)) {
        return respond(ErrorResponse(
            request, ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidSendAt,
                                   "SendAt \"" + send_at->substr(0, 40) +
                                       "\" is not an ISO 8601 time; send it in UTC as "
                                       "YYYY-MM-DDTHH:MM:SSZ, e.g. 2026-12-04T15:30:00Z")));
      }
      *send.mutable_send_at() = at;
    }
    sender_.Send(account, send, [request, respond](absl::StatusOr<v1::Message> result) {
      if (!result.ok()) return respond(ErrorResponse(request, result.status()));
      respond(JsonResponse(request, http::status::created, MessageJson(*result)));
    });
  }

  void ListMessages(const HttpRequest& request, const v1::Account& account, const std::string& path,
                    const std::string& query, const Respond& respond) {
    auto params = QueryParams(query);
    if (!params.ok()) return respond(ErrorResponse(request, params.status()));
    int page_size = 0, page = 0;
    if (auto status = PagingParams(*params, page_size, page); !status.ok()) {
      return respond(ErrorResponse(request, status));
    }
    v1::ListMessagesRequest list;
    FormParams filters;
    if (auto to = Param(*params, "To")) {
      list.set_to(PhoneParam(*to));
      filters.emplace_back("To", list.to());
    }
    if (auto from = Param(*params, "From")) {
      list.set_from(PhoneParam(*from));
      filters.emplace_back("From", list.from());
    }
    DateSentRange range;
    for (const char* name : {"DateSent", "DateSent<", "DateSent>"}) {
      if (auto value = Param(*params, name)) {
        if (auto status = ApplyDateFilter(name, *value, range); !status.ok()) {
          return respond(ErrorResponse(request, status));
        }
        filters.emplace_back(name, *value);
      }
    }
    std::function<bool(const v1::Message&)> also;
    if (range.active) {
      also = [range](const v1::Message& message) {
        if (message.date_sent().seconds() == 0 && message.date_sent().nanos() == 0) return false;
        const int64_t sent = message.date_sent().seconds();
        return sent >= range.from && sent < range.until;
      };
    }
    list.set_page_size(page_size);
    std::string token = Param(*params, "PageToken").value_or("");
    if (token.empty() && page > 0) {
      // No token: walk from the first page, as the provider's numbered pages allow.
      if (page > kMaxPageWalk) {
        return respond(InvalidParameter(request, "Page " + std::to_string(page) +
                                                     " without a PageToken is too far; follow "
                                                     "next_page_uri instead"));
      }
      for (int i = 0; i < page; ++i) {
        list.set_page_token(token);
        auto skipped = messages_.List(account.sid(), list, also);
        if (!skipped.ok()) return respond(ErrorResponse(request, skipped.status()));
        token = skipped->next_page_token();
        if (token.empty()) break;
      }
      if (token.empty()) {
        // Past the last page: an empty page, as the provider answers.
        return respond(JsonResponse(request, http::status::ok,
                                    ListEnvelope("messages", json::array(), path, page, page_size,
                                                 false, FormEncode(filters))));
      }
    }
    list.set_page_token(token);
    auto result = messages_.List(account.sid(), list, also);
    if (!result.ok()) return respond(ErrorResponse(request, result.status()));
    json records = json::array();
    for (const auto& message : result->messages()) records.push_back(MessageJson(message));
    respond(JsonResponse(request, http::status::ok,
                         ListEnvelope("messages", std::move(records), path, page, page_size,
                                      !result->next_page_token().empty(), FormEncode(filters),
                                      result->next_page_token(), token)));
  }

  // The account's message, or 404 for an unknown SID and for another account's.
  absl::StatusOr<v1::Message> OwnMessage(const v1::Account& account, const std::string& sid,
                                         const std::string& path) {
    auto message = messages_.Get(account.sid(), sid, /*with_attempts=*/false);
    if (absl::IsNotFound(message.status())) {
      return ProviderError(absl::StatusCode::kNotFound, error_codes::kNotFound,
                           "The requested resource " + path.substr(0, 200) + " was not found");
    }
    return message;
  }

  HttpResponse FetchMessage(const HttpRequest& request, const v1::Account& account,
                            const std::string& path, const std::string& sid) {
    auto message = OwnMessage(account, sid, path);
    if (!message.ok()) return ErrorResponse(request, message.status());
    return JsonResponse(request, http::status::ok, MessageJson(*message));
  }

  // The provider's message update: an empty Body redacts a finished message's text;
  // Status=canceled cancels a scheduled one.
  HttpResponse UpdateMessage(const HttpRequest& request, const v1::Account& account,
                             const std::string& path, const std::string& sid) {
    auto params = BodyParams(request);
    if (!params.ok()) return ErrorResponse(request, params.status());
    if (const auto status = Param(*params, "Status")) {
      if (*status != "canceled") {
        return ErrorResponse(
            request,
            ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                          "Status \"" + status->substr(0, 20) +
                              "\" cannot be set: the only status a message "
                              "can be given is canceled (of a scheduled one)"));
      }
      auto canceled = messages_.Cancel(account.sid(), sid);
      if (absl::IsNotFound(canceled.status())) return ResourceNotFound(request, path);
      if (!canceled.ok()) return ErrorResponse(request, canceled.status());
      return JsonResponse(request, http::status::ok, MessageJson(*canceled));
    }
    const auto body = Param(*params, "Body");
    if (!body || !body->empty()) {
      return ErrorResponse(
          request, ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                                 body ? "a message's Body cannot be changed, only redacted: send "
                                        "an empty Body"
                                      : "nothing to update: send an empty Body to redact the "
                                        "message's text"));
    }
    auto redacted = messages_.Redact(account.sid(), sid);
    if (absl::IsNotFound(redacted.status())) return ResourceNotFound(request, path);
    if (!redacted.ok()) return ErrorResponse(request, redacted.status());
    return JsonResponse(request, http::status::ok, MessageJson(*redacted));
  }

  HttpResponse Deleted(const HttpRequest& request, const std::string& path,
                       const absl::Status& status) {
    if (status.ok()) return NoContent(request);
    if (absl::IsNotFound(status)) return ResourceNotFound(request, path);
    return ErrorResponse(request, status);
  }

  HttpResponse ListMedia(const HttpRequest& request, const v1::Account& account,
                         const std::string& path, const std::string& query,
                         const std::string& message_sid) {
    auto params = QueryParams(query);
    if (!params.ok()) return ErrorResponse(request, params.status());
    int page_size = 0, page = 0;
    if (auto status = PagingParams(*params, page_size, page); !status.ok()) {
      return ErrorResponse(request, status);
    }
    auto message = OwnMessage(account, message_sid, path);
    if (!message.ok()) return ErrorResponse(request, message.status());
    json records = json::array();
    const int64_t first = static_cast<int64_t>(page) * page_size;
    for (int64_t i = first; i < message->media_size() && i < first + page_size; ++i) {
      records.push_back(MediaJson(message->media(static_cast<int>(i)), account.sid()));
    }
    const bool has_next = first + page_size < message->media_size();
    return JsonResponse(
        request, http::status::ok,
        ListEnvelope("media_list", std::move(records), path, page, page_size, has_next, ""));
  }

  HttpResponse FetchMedia(const HttpRequest& request, const v1::Account& account,
                          const std::string& path, const std::string& message_sid,
                          const std::string& media_sid) {
    auto message = OwnMessage(account, message_sid, path);
    if (!message.ok()) return ErrorResponse(request, message.status());
    for (const auto& media : message->media()) {
      if (media.sid() == media_sid) {
        return JsonResponse(request, http::status::ok, MediaJson(media, account.sid()));
      }
    }
    return ResourceNotFound(request, path);
  }

  std::optional<v1::Number> FindNumber(const v1::Account& account, const std::string& sid) {
    for (auto& number : directory_.NumbersOf(account.sid())) {
      if (number.sid() == sid) return std::move(number);
    }
    return std::nullopt;
  }

  HttpResponse ListNumbers(const HttpRequest& request, const v1::Account& account,
                           const std::string& path, const std::string& query) {
    auto params = QueryParams(query);
    if (!params.ok()) return ErrorResponse(request, params.status());
    int page_size = 0, page = 0;
    if (auto status = PagingParams(*params, page_size, page); !status.ok()) {
      return ErrorResponse(request, status);
    }
    FormParams filters;
    const std::string contains = PhoneParam(Param(*params, "PhoneNumber").value_or(""));
    if (!contains.empty()) filters.emplace_back("PhoneNumber", contains);
    std::vector<v1::Number> numbers;
    for (auto& number : directory_.NumbersOf(account.sid())) {
      if (contains.empty() || number.number().find(contains) != std::string::npos) {
        numbers.push_back(std::move(number));
      }
    }
    json records = json::array();
    const int64_t first = static_cast<int64_t>(page) * page_size;
    for (int64_t i = first; i < static_cast<int64_t>(numbers.size()) && i < first + page_size;
         ++i) {
      records.push_back(NumberJson(numbers[static_cast<std::size_t>(i)]));
    }
    const bool has_next = first + page_size < static_cast<int64_t>(numbers.size());
    return JsonResponse(request, http::status::ok,
                        ListEnvelope("incoming_phone_numbers", std::move(records), path, page,
                                     page_size, has_next, FormEncode(filters)));
  }

  // PhoneNumber (E.164 long code or toll-free, or a 5-6 digit US short code), SmsUrl,
  // StatusCallback; mmsgate's own SmsEnabled/MmsEnabled ask for capabilities. By default a
  // number gets SMS, and MMS where rule 1 allows it.
  HttpResponse ProvisionNumber(const HttpRequest& request, const v1::Account& account) {
    auto params = BodyParams(request);
    if (!params.ok()) return ErrorResponse(request, params.status());
    const std::string phone = PhoneParam(Param(*params, "PhoneNumber").value_or(""));
    if (phone.empty()) {
      return InvalidParameter(request, Param(*params, "AreaCode")
                                           ? "AreaCode search is not simulated; give PhoneNumber"
                                           : "PhoneNumber is required");
    }
    v1::Number number;
    number.set_number(phone);
    if (carriers::LooksLikeShortCode(phone)) {
      number.set_type(v1::SHORT_CODE);
      number.set_country("US");
    } else {
      auto parsed = carriers::ParseValidNumber(phone);
      number.set_type(parsed && parsed->toll_free ? v1::TOLL_FREE : v1::LONG_CODE);
      if (parsed) number.set_country(parsed->region);
    }
    const bool mms_allowed = MmsAllowedOn(number.type(), number.country());
    bool sms = true, mms = mms_allowed;
    for (auto [name, flag] : {std::pair{"SmsEnabled", &sms}, std::pair{"MmsEnabled", &mms}}) {
      if (auto value = Param(*params, name)) {
        if (!IsTrue(*value) && !IsFalse(*value)) {
          return InvalidParameter(request, std::string(name) + " must be true or false");
        }
        *flag = IsTrue(*value);
      }
    }
    number.mutable_capabilities()->set_sms(sms);
    number.mutable_capabilities()->set_mms(mms);
    number.set_sms_url(Param(*params, "SmsUrl").value_or(""));
    number.set_status_callback(Param(*params, "StatusCallback").value_or(""));
    for (auto status :
         {CheckCallbackUrl("SmsUrl", number.sms_url(), error_codes::kInvalidParameter),
          CheckCallbackUrl("StatusCallback", number.status_callback(),
                           error_codes::kInvalidParameter)}) {
      if (!status.ok()) return ErrorResponse(request, status);
    }
    auto provisioned = directory_.Provision(account.sid(), number);
    if (!provisioned.ok()) return ErrorResponse(request, provisioned.status());
    return JsonResponse(request, http::status::created, NumberJson(*provisioned));
  }

  // SmsUrl and StatusCallback; a field not given keeps its value, an empty one clears it.
  HttpResponse UpdateNumber(const HttpRequest& request, const v1::Account& account,
                            const v1::Number& number) {
    auto params = BodyParams(request);
    if (!params.ok()) return ErrorResponse(request, params.status());
    const std::string sms_url = Param(*params, "SmsUrl").value_or(number.sms_url());
    const std::string callback =
        Param(*params, "StatusCallback").value_or(number.status_callback());
    auto updated = directory_.UpdateWebhooks(account.sid(), number.number(), sms_url, callback);
    if (!updated.ok()) return ErrorResponse(request, updated.status());
    return JsonResponse(request, http::status::ok, NumberJson(*updated));
  }

  Directory& directory_;
  const Authority& authority_;
  SendService& sender_;
  MessageService& messages_;
  ApiChaos& chaos_;
  boost::asio::any_io_executor storage_executor_;
};

}  // namespace

HttpServerOptions RestFacadeServerOptions() {
  HttpServerOptions options;
  options.max_body_bytes = 1024 * 1024;
  options.max_header_bytes = 16 * 1024;
  options.header_timeout = std::chrono::milliseconds(10000);
  options.request_timeout = std::chrono::milliseconds(30000);
  options.idle_timeout = std::chrono::milliseconds(60000);
  return options;
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

HttpHandler MakeRestFacade(Directory& directory, const Authority& authority, SendService& sender,
                           MessageService& messages, ApiChaos& chaos,
                           boost::asio::any_io_executor storage_executor) {
  auto facade = std::make_shared<Facade>(directory, authority, sender, messages, chaos,
                                         std::move(storage_executor));
  return [facade](HttpRequest request, std::function<void(HttpResponse)> respond) {
    facade->Handle(std::move(request), std::move(respond));
  };
}

}  // namespace mmsgate::gateway
