#include "mmsc/link_server.h"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <charconv>
#include <optional>

#include "carriers/base/html_escape.h"

namespace mmsgate::mmsc {
namespace {

namespace http = boost::beast::http;

LinkResponse MakeResponse(const LinkRequest& request, http::status status, std::string content_type,
                          std::string body) {
  LinkResponse response(status, request.version());
  response.set(http::field::content_type, content_type);
  response.keep_alive(request.keep_alive());
  if (request.method() == http::verb::head) {
    // The Content-Length the GET would have, and no body.
    response.content_length(body.size());
  } else {
    response.body() = std::move(body);
    response.prepare_payload();
  }
  return response;
}

bool IsToken(std::string_view token) {
  return token.size() == 40 &&
         token.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// One byte range ("bytes=a-b", "bytes=a-", "bytes=-n") of `bytes`, per RFC 9110. Several
// ranges, or a malformed header, get the whole body (which the RFC allows); an unsatisfiable
// range gets 416.
LinkResponse ServeRange(const LinkRequest& request, const std::string& content_type,
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
    if (suffix == 0 || size == 0)
      first = size;  // Unsatisfiable below.
    else
      first = size - std::min(suffix, size);
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
    LinkResponse response(http::status::range_not_satisfiable, request.version());
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

}  // namespace

LinkResponse MediaNotFound(const LinkRequest& request) {
  // Nothing about why (unknown, expired, wrong index): a token is a capability, not a hint.
  return MakeResponse(request, http::status::not_found, "application/json",
                      R"({"code":20404,"message":"not found","status":404})");
}

LinkResponse ServeBytes(const LinkRequest& request, const std::string& content_type,
                        const std::string& bytes) {
  const auto range = request[http::field::range];
  if (!range.empty()) return ServeRange(request, content_type, bytes, range);
  auto response = MakeResponse(request, http::status::ok, content_type, bytes);
  response.set(http::field::accept_ranges, "bytes");
  return response;
}

LinkResponse ServeLink(const LinkResolver& resolver, const MediaStore& media_store,
                       const LinkRequest& request, std::string_view rest) {
  std::string_view token = rest;
  std::optional<int> index;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    token = rest.substr(0, slash);
    std::string_view number = rest.substr(slash + 1);
    int value = -1;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || end != number.data() + number.size() || value < 0) {
      return MediaNotFound(request);
    }
    index = value;
  }
  if (!IsToken(token)) return MediaNotFound(request);
  auto items = resolver.Resolve(std::string(token));
  if (!items.ok() || items->empty()) return MediaNotFound(request);
  if (!index && items->size() > 1) {
    std::string page =
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Media</title></head><body>"
        "\n<ul>\n";
    for (std::size_t i = 0; i < items->size(); ++i) {
      const LinkedMedia& media = (*items)[i];
      page +=
          "<li><a href=\"/m/" + std::string(token) + "/" + std::to_string(i) + "\">" +
          HtmlEscape(media.filename.empty() ? "media " + std::to_string(i + 1) : media.filename) +
          "</a> (" + HtmlEscape(media.content_type) + ", " + std::to_string(media.size) +
          " bytes)</li>\n";
    }
    page += "</ul>\n</body></html>\n";
    return MakeResponse(request, http::status::ok, "text/html; charset=utf-8", std::move(page));
  }
  const std::size_t i = static_cast<std::size_t>(index.value_or(0));
  if (i >= items->size()) return MediaNotFound(request);
  const LinkedMedia& media = (*items)[i];
  auto bytes = media_store.Read(media.sha256);
  if (!bytes.ok()) return MediaNotFound(request);
  auto response = ServeBytes(request, media.content_type, *bytes);
  response.set(http::field::cache_control, "private, max-age=3600");
  return response;
}

}  // namespace mmsgate::mmsc
