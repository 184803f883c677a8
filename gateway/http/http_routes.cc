#include "gateway/http/http_routes.h"

#include <boost/asio/post.hpp>
#include <charconv>

namespace mmsgate::gateway {
namespace {

HttpResponse MakeResponse(const HttpRequest& request, http::status status,
                          std::string content_type, std::string body) {
  HttpResponse response(status, request.version());
  response.set(http::field::content_type, content_type);
  response.keep_alive(request.keep_alive());
  if (request.method() == http::verb::head) {
    PrepareHeadResponse(response, body.size());
  } else {
    response.body() = std::move(body);
    response.prepare_payload();
  }
  return response;
}

HttpResponse NotFound(const HttpRequest& request) {
  // Nothing about why (unknown, expired, wrong index): a token is a capability, not a hint.
  return MakeResponse(request, http::status::not_found, "application/json",
                      R"({"code":20404,"message":"not found","status":404})");
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

bool IsToken(std::string_view token) {
  return token.size() == 40 &&
         token.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// One byte range ("bytes=a-b", "bytes=a-", "bytes=-n") of `bytes`, per RFC 9110. Several
// ranges, or a malformed header, get the whole body (which the RFC allows); an unsatisfiable
// range gets 416.
HttpResponse ServeRange(const HttpRequest& request, const std::string& content_type,
                        const std::string& bytes, std::string_view range) {
  const uint64_t size = bytes.size();
  auto whole = [&] {
    auto response = MakeResponse(request, http::status::ok, content_type, bytes);
    response.set(http::field::accept_ranges, "bytes");
    return response;
  };
  constexpr std::string_view kUnit = "bytes=";
  if (!range.starts_with(kUnit) || range.find(',') != std::string_view::npos) return whole();
  const std::string_view spec = range.substr(kUnit.size());
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return whole();
  auto parse = [](std::string_view text, uint64_t& value) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
  };
  uint64_t first = 0, last = 0;
  const std::string_view first_text = spec.substr(0, dash), last_text = spec.substr(dash + 1);
  if (first_text.empty()) {
    uint64_t suffix = 0;
    if (!parse(last_text, suffix)) return whole();
    if (suffix == 0 || size == 0) first = size;  // Unsatisfiable below.
    else first = size - std::min(suffix, size);
    last = size == 0 ? 0 : size - 1;
  } else {
    if (!parse(first_text, first)) return whole();
    if (last_text.empty()) {
      last = size == 0 ? 0 : size - 1;
    } else if (!parse(last_text, last) || last < first) {
      return whole();
    }
    last = std::min(last, size == 0 ? 0 : size - 1);
  }
  if (first >= size) {
    HttpResponse response(http::status::range_not_satisfiable, request.version());
    response.keep_alive(request.keep_alive());
    response.set(http::field::content_range, "bytes */" + std::to_string(size));
    response.prepare_payload();
    return response;
  }
  auto response = MakeResponse(request, http::status::partial_content, content_type,
                               bytes.substr(first, last - first + 1));
  response.set(http::field::content_range, "bytes " + std::to_string(first) + "-" +
                                               std::to_string(last) + "/" + std::to_string(size));
  response.set(http::field::accept_ranges, "bytes");
  return response;
}

// /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}; storage pool.
HttpResponse ServeMediaContent(MessageStore& store, const HttpRequest& request,
                               const std::string& path) {
  std::vector<std::string> parts;
  for (std::size_t start = 1; start <= path.size();) {
    const auto slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  // "2010-04-01", "Accounts", AC, "Messages", SID, "Media", ME
  if (parts.size() != 7 || parts[3] != "Messages" || parts[5] != "Media") return NotFound(request);
  auto message = store.Get(parts[4]);
  if (!message.ok() || message->account_sid() != parts[2]) return NotFound(request);
  for (const auto& media : message->media()) {
    if (media.sid() != parts[6]) continue;
    auto bytes = store.media_store().Read(media.sha256());
    if (!bytes.ok()) return NotFound(request);
    const auto range = request[http::field::range];
    if (!range.empty()) return ServeRange(request, media.content_type(), *bytes, range);
    return MakeResponse(request, http::status::ok, media.content_type(), std::move(*bytes));
  }
  return NotFound(request);
}

// Serves one link request; runs on the storage pool.
HttpResponse ServeLink(MessageStore& store, const HttpRequest& request, std::string_view rest) {
  std::string_view token = rest;
  std::optional<int> index;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    token = rest.substr(0, slash);
    std::string_view number = rest.substr(slash + 1);
    int value = -1;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || end != number.data() + number.size() || value < 0) {
      return NotFound(request);
    }
    index = value;
  }
  if (!IsToken(token)) return NotFound(request);
  auto sid = store.MessageSidForLink(std::string(token));
  if (!sid.ok()) return NotFound(request);
  auto message = store.Get(*sid);
  if (!message.ok() || message->media_size() == 0) return NotFound(request);
  if (!index && message->media_size() > 1) {
    std::string page =
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Media</title></head><body>"
        "\n<ul>\n";
    for (int i = 0; i < message->media_size(); ++i) {
      const auto& media = message->media(i);
      page += "<li><a href=\"/m/" + std::string(token) + "/" + std::to_string(i) + "\">" +
              HtmlEscape(media.filename().empty() ? "media " + std::to_string(i + 1)
                                                  : media.filename()) +
              "</a> (" + HtmlEscape(media.content_type()) + ", " +
              std::to_string(media.size()) + " bytes)</li>\n";
    }
    page += "</ul>\n</body></html>\n";
    return MakeResponse(request, http::status::ok, "text/html; charset=utf-8", std::move(page));
  }
  const int i = index.value_or(0);
  if (i >= message->media_size()) return NotFound(request);
  const auto& media = message->media(i);
  auto bytes = store.media_store().Read(media.sha256());
  if (!bytes.ok()) return NotFound(request);
  const auto range = request[http::field::range];
  if (!range.empty()) return ServeRange(request, media.content_type(), *bytes, range);
  auto response = MakeResponse(request, http::status::ok, media.content_type(), std::move(*bytes));
  response.set(http::field::cache_control, "private, max-age=3600");
  response.set(http::field::accept_ranges, "bytes");
  return response;
}

}  // namespace

HttpHandler MakeHttpRoutes(MessageStore& store, boost::asio::thread_pool& storage_pool,
                           std::function<std::string()> metrics, HttpHandler rest_api) {
  return [&store, &storage_pool, metrics = std::move(metrics), rest_api = std::move(rest_api)](
             HttpRequest request, std::function<void(HttpResponse)> respond) {
    const std::string_view target = request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const bool readable =
        request.method() == http::verb::get || request.method() == http::verb::head;
    if (path == "/healthz") {
      respond(MakeResponse(request, http::status::ok, "text/plain", "ok\n"));
      return;
    }
    if (path == "/metrics" && readable) {
      boost::asio::post(storage_pool, [metrics, request = std::move(request),
                                       respond = std::move(respond)]() mutable {
        respond(MakeResponse(request, http::status::ok, "text/plain; version=0.0.4", metrics()));
      });
      return;
    }
    if (readable && path.starts_with("/2010-04-01/Accounts/") && path.find("/Media/") != std::string_view::npos &&
        !path.ends_with(".json")) {
      // A media item's content, as MediaUrlN in webhooks and the REST facade point to it. Public,
      // as the provider's media URLs are by default: the SIDs are unguessable.
      std::string rest(path);
      boost::asio::post(storage_pool, [&store, request = std::move(request), rest = std::move(rest),
                                       respond = std::move(respond)]() mutable {
        respond(ServeMediaContent(store, request, rest));
      });
      return;
    }
    if (rest_api && path.starts_with("/2010-04-01/")) {
      rest_api(std::move(request), std::move(respond));
      return;
    }
    if (path.starts_with("/m/")) {
      if (!readable) {
        auto response = MakeResponse(request, http::status::method_not_allowed, "application/json",
                                     R"({"code":20004,"message":"method not allowed","status":405})");
        response.set(http::field::allow, "GET, HEAD");
        respond(std::move(response));
        return;
      }
      std::string rest(path.substr(3));
      boost::asio::post(storage_pool, [&store, request = std::move(request), rest = std::move(rest),
                                       respond = std::move(respond)]() mutable {
        respond(ServeLink(store, request, rest));
      });
      return;
    }
    respond(NotFound(request));
  };
}

}  // namespace mmsgate::gateway
