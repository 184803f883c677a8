#include "gateway/http/http_routes.h"

#include <boost/asio/post.hpp>
#include <vector>

#include "mmsc/link_server.h"

namespace mmsgate::gateway {
namespace {

HttpResponse Plain(const HttpRequest& request, http::status status, std::string content_type,
                   std::string body) {
  HttpResponse response(status, request.version());
  response.set(http::field::content_type, content_type);
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

// /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}; storage executor.
HttpResponse ServeMediaContent(const Directory& directory, MessageService& messages,
                               mmsc::MediaStore& media_store, const HttpRequest& request,
                               const std::string& path) {
  const std::vector<std::string> parts = PathSegments(path);
  // "2010-04-01", "Accounts", AC, "Messages", SID, "Media", ME
  if (parts.size() != 7 || parts[3] != "Messages" || parts[5] != "Media") {
    return mmsc::MediaNotFound(request);
  }
  const auto account = directory.FindAccount(parts[2]);
  if (!account) return mmsc::MediaNotFound(request);
  if (account->settings().enforce_media_auth()) {
    auto caller = directory.Authenticate(request[http::field::authorization]);
    if (!caller.ok() || caller->sid() != account->sid()) {
      auto response = Plain(
          request, http::status::unauthorized, "application/json",
          R"({"code":20003,"message":"this account enforces HTTP auth on media URLs: send its AccountSid:AuthToken as Basic credentials","more_info":"https://www.twilio.com/docs/errors/20003","status":401})");
      response.set(http::field::www_authenticate, "Basic realm=\"mmsgate\"");
      return response;
    }
  }
  auto message = messages.Get(parts[2], parts[4], /*with_attempts=*/false);
  if (!message.ok()) return mmsc::MediaNotFound(request);
  for (const auto& media : message->media()) {
    if (media.sid() != parts[6]) continue;
    auto bytes = media_store.Read(media.sha256());
    if (!bytes.ok()) return mmsc::MediaNotFound(request);
    return mmsc::ServeBytes(request, media.content_type(), *bytes);
  }
  return mmsc::MediaNotFound(request);
}

}  // namespace

HttpHandler MakeHttpRoutes(const Directory& directory, MessageService& messages,
                           mmsc::MediaStore& media_store,
                           boost::asio::any_io_executor storage_executor,
                           std::function<std::string()> metrics, HttpHandler rest_api,
                           HttpHandler console) {
  return [&directory, &messages, &media_store, storage_executor, metrics = std::move(metrics),
          rest_api = std::move(rest_api), console = std::move(console)](
             HttpRequest request, std::function<void(HttpResponse)> respond) {
    const std::string_view target = request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const bool readable =
        request.method() == http::verb::get || request.method() == http::verb::head;
    if (path == "/healthz") {
      respond(Plain(request, http::status::ok, "text/plain", "ok\n"));
      return;
    }
    if (path == "/metrics" && readable) {
      boost::asio::post(storage_executor, [metrics, request = std::move(request),
                                           respond = std::move(respond)]() mutable {
        respond(Plain(request, http::status::ok, "text/plain; version=0.0.4", metrics()));
      });
      return;
    }
    if (readable && path.starts_with("/2010-04-01/Accounts/") &&
        path.find("/Media/") != std::string_view::npos && !path.ends_with(".json")) {
      std::string rest(path);
      boost::asio::post(
          storage_executor, [&directory, &messages, &media_store, request = std::move(request),
                             rest = std::move(rest), respond = std::move(respond)]() mutable {
            respond(ServeMediaContent(directory, messages, media_store, request, rest));
          });
      return;
    }
    if (rest_api && path.starts_with("/2010-04-01/")) {
      rest_api(std::move(request), std::move(respond));
      return;
    }
    if (console && (path == "/" || path == "/console" || path.starts_with("/console/"))) {
      console(std::move(request), std::move(respond));
      return;
    }
    if (path.starts_with("/m/")) {
      if (!readable) {
        auto response = Plain(request, http::status::method_not_allowed, "application/json",
                              R"({"code":20004,"message":"method not allowed","status":405})");
        response.set(http::field::allow, "GET, HEAD");
        respond(std::move(response));
        return;
      }
      std::string rest(path.substr(3));
      boost::asio::post(storage_executor,
                        [&messages, &media_store, request = std::move(request),
                         rest = std::move(rest), respond = std::move(respond)]() mutable {
                          respond(mmsc::ServeLink(messages, media_store, request, rest));
                        });
      return;
    }
    respond(mmsc::MediaNotFound(request));
  };
}

}  // namespace mmsgate::gateway
