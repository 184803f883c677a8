#include "gateway/console/console.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <vector>

#include "carriers/base/crypto.h"
#include "carriers/base/encoding.h"
#include "carriers/base/html_escape.h"
#include "gateway/accounts/directory.h"
#include "gateway/api/rest/form_encoding.h"
#include "gateway/api/rest/rest_facade.h"
#include "gateway/api/rest/rest_json.h"
#include "gateway/console/console_assets.h"
#include "gateway/core/events.h"
#include "mmsgate/v1/accounts.pb.h"
#include "mmsgate/v1/messaging.pb.h"
#include "mmsgate/v1/simulator.pb.h"

namespace mmsgate::gateway {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kCookieName = "mmsgate_console";
constexpr auto kSessionIdle = std::chrono::hours(8);
// Each session may hold kMaxBufferedEvents events (a few MB under load); past this many the
// least recently used session is signed out.
constexpr std::size_t kMaxSessions = 200;
// Events a session keeps for its page; a page further behind is told to reload its lists.
constexpr std::size_t kMaxBufferedEvents = 2000;
constexpr std::size_t kMaxEventsPerAnswer = 500;
constexpr int kEventRetryMs = 200;
constexpr auto kRpcDeadline = std::chrono::seconds(30);

// Scripts and styles only from the gateway itself, no inline script: a body that slipped through
// escaping still could not run.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

bool SameSecret(std::string_view a, std::string_view b) {
  return !a.empty() && ConstantTimeEquals(a, b);
}

HttpResponse Answer(const HttpRequest& request, http::status status, std::string_view content_type,
                    std::string body) {
  HttpResponse response(status, request.version());
  response.set(http::field::content_type, content_type);
  response.set(http::field::cache_control, "no-store");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "same-origin");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  return response;
}

HttpResponse JsonError(const HttpRequest& request, int http_status, int code,
                       std::string_view message) {
  return Answer(request, static_cast<http::status>(http_status), "application/json",
                ErrorJson(code, std::string(message), http_status).dump());
}

HttpResponse Redirect(const HttpRequest& request, std::string location) {
  auto response = Answer(request, http::status::see_other, "text/plain", "");
  response.set(http::field::location, std::move(location));
  return response;
}

std::string CookieValue(const HttpRequest& request, std::string_view name) {
  for (auto it = request.find(http::field::cookie);
       it != request.end() && it->name() == http::field::cookie; ++it) {
    std::string_view header = it->value();
    while (!header.empty()) {
      const std::size_t end = std::min(header.find(';'), header.size());
      std::string_view pair = header.substr(0, end);
      header.remove_prefix(std::min(end + 1, header.size()));
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const std::size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
        return std::string(pair.substr(eq + 1));
      }
    }
  }
  return "";
}

std::string QueryValue(std::string_view target, std::string_view name) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  auto params = FormDecode(std::string(target.substr(q + 1)));
  if (!params.ok()) return "";
  for (const auto& [key, value] : *params) {
    if (key == name) return value;
  }
  return "";
}

// The pages the single-page app draws; each is answered with the same document.
bool IsPagePath(std::string_view path) {
  if (path == "/console/" || path == "/console" || path == "/console/messages" ||
      path == "/console/handsets" || path == "/console/carriers" || path == "/console/numbers") {
    return true;
  }
  for (std::string_view prefix : {"/console/messages/", "/console/handsets/"}) {
    if (path.starts_with(prefix) && path.size() > prefix.size() &&
        path.find('/', prefix.size()) == std::string_view::npos) {
      return true;
    }
  }
  return false;
}

struct Waiter {
  uint64_t id;
  HttpRequest request;  // for the answer's version and keep-alive
  std::function<void(HttpResponse)> respond;
  // Answers the request empty when no event came in time. It lives on its own strand: started
  // and cancelled only through it, from whichever thread answers the waiter.
  std::shared_ptr<boost::asio::steady_timer> timer;
};

// Called once the waiter is answered (and out of its session's list).
void CancelTimer(const Waiter& waiter) {
  if (auto timer = waiter.timer) {
    boost::asio::post(timer->get_executor(), [timer] { timer->cancel(); });
  }
}

struct Session {
  std::string id;
  std::string account_sid;
  std::string auth_token;
  std::string admin_token;
  std::string friendly_name;
  std::string csrf_token;
  Clock::time_point last_used;
  uint64_t subscription = 0;

  std::mutex mutex;                                     // the fields below
  std::deque<std::pair<uint64_t, std::string>> events;  // id, Event as JSON
  uint64_t last_event_id = 0;
  std::vector<Waiter> waiters;
  uint64_t next_waiter_id = 1;
  bool closed = false;
};

std::string EventStream(const std::vector<std::pair<uint64_t, std::string>>& events, bool gap) {
  std::string body = "retry: " + std::to_string(kEventRetryMs) + "\n\n";
  if (gap) body += "event: gap\ndata: {}\n\n";
  for (const auto& [id, json] : events) {
    body += "id: " + std::to_string(id) + "\ndata: " + json + "\n\n";
  }
  if (events.empty() && !gap) body += ": nothing new\n\n";
  return body;
}

HttpResponse EventAnswer(const HttpRequest& request,
                         const std::vector<std::pair<uint64_t, std::string>>& events, bool gap) {
  return Answer(request, http::status::ok, "text/event-stream", EventStream(events, gap));
}

}  // namespace

struct Console::Impl : std::enable_shared_from_this<Console::Impl> {
  explicit Impl(ConsoleDependencies deps) : deps(std::move(deps)) {}

  ConsoleDependencies deps;
  std::mutex mutex;  // sessions, stub
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions;
  Clock::time_point last_sweep = Clock::now();
  std::string grpc_target;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> stub;
  bool stopped = false;

  bool IsStopped() {
    std::lock_guard lock(mutex);
    return stopped;
  }

  // ---- sessions ---------------------------------------------------------------------------

  std::shared_ptr<Session> FindSession(const HttpRequest& request) {
    const std::string id = CookieValue(request, kCookieName);
    if (id.empty()) return nullptr;
    std::vector<std::shared_ptr<Session>> expired;
    std::shared_ptr<Session> found;
    {
      std::lock_guard lock(mutex);
      const auto now = Clock::now();
      if (now - last_sweep > std::chrono::minutes(1)) {
        last_sweep = now;
        for (auto it = sessions.begin(); it != sessions.end();) {
          if (now - it->second->last_used > kSessionIdle) {
            expired.push_back(it->second);
            it = sessions.erase(it);
          } else {
            ++it;
          }
        }
      }
      auto it = sessions.find(id);
      if (it != sessions.end() && SameSecret(it->first, id)) {
        if (now - it->second->last_used > kSessionIdle) {
          expired.push_back(it->second);
          sessions.erase(it);
        } else {
          found = it->second;
          found->last_used = now;
        }
      }
    }
    for (auto& session : expired) Close(*session);
    return found;
  }

  std::shared_ptr<Session> StartSession(const v1::Account& account, std::string auth_token,
                                        std::string admin_token) {
    auto session = std::make_shared<Session>();
    session->id = RandomHex(32);
    session->csrf_token = RandomHex(32);
    session->account_sid = account.sid();
    session->friendly_name = account.friendly_name();
    session->auth_token = std::move(auth_token);
    session->admin_token = std::move(admin_token);
    session->last_used = Clock::now();
    std::weak_ptr<Session> weak = session;
    EventFilter filter;
    filter.account_sid = account.sid();
    session->subscription =
        deps.events->Subscribe(std::move(filter), [weak](const v1::Event& event) {
          if (auto s = weak.lock()) Deliver(*s, event);
        });
    std::shared_ptr<Session> evicted;
    {
      std::lock_guard lock(mutex);
      if (sessions.size() >= kMaxSessions) {
        auto oldest = std::min_element(sessions.begin(), sessions.end(), [](auto& a, auto& b) {
          return a.second->last_used < b.second->last_used;
        });
        evicted = oldest->second;
        sessions.erase(oldest);
      }
      sessions.emplace(session->id, session);
    }
    if (evicted) Close(*evicted);
    return session;
  }

  void EndSession(const std::shared_ptr<Session>& session) {
    {
      std::lock_guard lock(mutex);
      sessions.erase(session->id);
    }
    Close(*session);
  }

  void Close(Session& session) {
    deps.events->Unsubscribe(session.subscription);
    std::vector<Waiter> waiters;
    {
      std::lock_guard lock(session.mutex);
      session.closed = true;
      waiters.swap(session.waiters);
    }
    for (auto& waiter : waiters) {
      CancelTimer(waiter);
      waiter.respond(JsonError(waiter.request, 401, 20003, "the console session has ended"));
    }
  }

  // On the publisher's thread: must not block (the bus's rule).
  static void Deliver(Session& session, const v1::Event& event) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    if (!google::protobuf::util::MessageToJsonString(event, &json, options).ok()) return;
    std::vector<Waiter> ready;
    std::vector<std::pair<uint64_t, std::string>> batch;
    {
      std::lock_guard lock(session.mutex);
      if (session.closed) return;
      session.events.emplace_back(++session.last_event_id, std::move(json));
      if (session.events.size() > kMaxBufferedEvents) session.events.pop_front();
      if (session.waiters.empty()) return;
      ready.swap(session.waiters);
      batch.push_back(session.events.back());
    }
    for (auto& waiter : ready) {
      CancelTimer(waiter);
      waiter.respond(EventAnswer(waiter.request, batch, false));
    }
  }

  // ---- pages --------------------------------------------------------------------------------

  HttpResponse Asset(const HttpRequest& request, std::string_view name) {
    const auto* asset = console_assets::Find(name);
    if (asset == nullptr) {
      return JsonError(request, 404, 20404, "no console asset named " + std::string(name));
    }
    auto response =
        Answer(request, http::status::ok, asset->content_type, std::string(asset->body));
    response.set(http::field::cache_control, "no-cache");
    return response;
  }

  HttpResponse Page(const HttpRequest& request, std::string_view name, std::string_view error,
                    http::status status = http::status::ok) {
    const auto* asset = console_assets::Find(name);
    std::string body(asset ? asset->body : "");
    const std::string placeholder = "{{error}}";
    if (auto at = body.find(placeholder); at != std::string::npos) {
      body.replace(at, placeholder.size(), HtmlEscape(error));
    }
    auto response = Answer(request, status, "text/html; charset=utf-8", std::move(body));
    response.set("Content-Security-Policy", kContentSecurityPolicy);
    response.set("X-Frame-Options", "DENY");
    return response;
  }

  HttpResponse SignIn(const HttpRequest& request) {
    auto form = FormDecode(request.body());
    std::string account_sid, auth_token, admin_token;
    if (form.ok()) {
      for (const auto& [key, value] : *form) {
        if (key == "account_sid") account_sid = value;
        if (key == "auth_token") auth_token = value;
        if (key == "admin_token") admin_token = value;
      }
    }
    auto account = deps.directory->AuthenticateCredentials(account_sid, auth_token);
    if (!account.ok()) {
      return Page(request, "login.html",
                  "20003: that Account SID and auth token do not match an account of this "
                  "gateway. Use the credentials of your scenario's account (mmsgate prints them "
                  "at start) or of Accounts.CreateAccount.",
                  http::status::unauthorized);
    }
    auto session = StartSession(*account, std::move(auth_token), std::move(admin_token));
    std::string next = QueryValue(request.target(), "next");
    // Only a console path: a sign-in link must not send the browser elsewhere.
    if (!next.starts_with("/console/") || next.starts_with("//") ||
        next.find_first_of("\\\r\n") != std::string::npos) {
      next = "/console/";
    }
    auto response = Redirect(request, next);
    response.set(http::field::set_cookie,
                 std::string(kCookieName) + "=" + session->id +
                     "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                     std::to_string(std::chrono::seconds(kSessionIdle).count()));
    return response;
  }

  HttpResponse SessionInfo(const HttpRequest& request, Session& session) {
    uint64_t last_event_id;
    {
      std::lock_guard lock(session.mutex);
      last_event_id = session.last_event_id;
    }
    const nlohmann::json info = {{"account_sid", session.account_sid},
                                 {"friendly_name", session.friendly_name},
                                 {"csrf_token", session.csrf_token},
                                 {"admin_token_given", !session.admin_token.empty()},
                                 {"last_event_id", last_event_id}};
    return Answer(request, http::status::ok, "application/json", info.dump());
  }

  // ---- events -------------------------------------------------------------------------------

  void Events(HttpRequest request, std::function<void(HttpResponse)> respond,
              const std::shared_ptr<Session>& session) {
    uint64_t after = 0;
    std::string from = std::string(request["Last-Event-ID"]);
    if (from.empty()) from = QueryValue(request.target(), "after");
    bool have_after = false;
    if (!from.empty()) {
      try {
        after = std::stoull(from);
        have_after = true;
      } catch (...) {
      }
    }
    std::vector<std::pair<uint64_t, std::string>> batch;
    bool gap = false;
    uint64_t waiter_id = 0;
    auto timer = std::make_shared<boost::asio::steady_timer>(boost::asio::make_strand(*deps.io));
    {
      std::lock_guard lock(session->mutex);
      if (!have_after) after = session->last_event_id;
      if (!session->events.empty() && after + 1 < session->events.front().first) gap = true;
      for (const auto& entry : session->events) {
        if (entry.first > after && batch.size() < kMaxEventsPerAnswer) batch.push_back(entry);
      }
      if (batch.empty() && !gap && !session->closed) {
        waiter_id = session->next_waiter_id++;
        session->waiters.push_back(
            Waiter{waiter_id, std::move(request), std::move(respond), timer});
      }
    }
    if (waiter_id == 0) {
      respond(EventAnswer(request, batch, gap));
      return;
    }
    std::weak_ptr<Session> weak = session;
    boost::asio::post(timer->get_executor(), [timer, weak, waiter_id, wait = deps.event_wait] {
      auto s = weak.lock();
      if (!s) return;
      {
        // Already answered (and its cancel queued behind this): nothing to wait for.
        std::lock_guard lock(s->mutex);
        if (std::none_of(s->waiters.begin(), s->waiters.end(),
                         [&](const Waiter& w) { return w.id == waiter_id; })) {
          return;
        }
      }
      timer->expires_after(wait);
      timer->async_wait([timer, weak, waiter_id](const boost::system::error_code& error) {
        if (error) return;  // cancelled: the waiter was answered
        auto s = weak.lock();
        if (!s) return;
        std::optional<Waiter> waiter;
        {
          std::lock_guard lock(s->mutex);
          auto it = std::find_if(s->waiters.begin(), s->waiters.end(),
                                 [&](const Waiter& w) { return w.id == waiter_id; });
          if (it == s->waiters.end()) return;
          waiter = std::move(*it);
          s->waiters.erase(it);
        }
        waiter->respond(EventAnswer(waiter->request, {}, false));
      });
    });
  }

  // ---- RPCs ---------------------------------------------------------------------------------

  grpc::GenericStub* Stub() {
    std::lock_guard lock(mutex);
    if (!stub && !grpc_target.empty() && !stopped) {
      channel = grpc::CreateChannel(grpc_target, grpc::InsecureChannelCredentials());
      stub = std::make_unique<grpc::GenericStub>(channel);
    }
    return stub.get();
  }

  void Rpc(HttpRequest request, std::function<void(HttpResponse)> respond, Session& session,
           std::string_view service_and_method) {
    if (!SameSecret(request["X-CSRF-Token"], session.csrf_token)) {
      respond(JsonError(request, 403, 20403,
                        "the request lacks the session's CSRF token (header X-CSRF-Token): "
                        "reload the console"));
      return;
    }
    const std::size_t slash = service_and_method.find('/');
    if (slash == std::string_view::npos) {
      respond(JsonError(request, 404, 20404, "expected /console/api/rpc/<Service>/<Method>"));
      return;
    }
    std::string service(service_and_method.substr(0, slash));
    if (!service.starts_with("mmsgate.v1.")) service = "mmsgate.v1." + service;
    const std::string method_name(service_and_method.substr(slash + 1));
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    const auto* service_descriptor = pool->FindServiceByName(service);
    const auto* method =
        service_descriptor ? service_descriptor->FindMethodByName(method_name) : nullptr;
    if (method == nullptr || method->client_streaming() || method->server_streaming()) {
      respond(JsonError(
          request, 404, 20404,
          "no unary RPC " + service + "/" + method_name + " (WatchEvents is /console/api/events)"));
      return;
    }
    auto* factory = google::protobuf::MessageFactory::generated_factory();
    std::unique_ptr<google::protobuf::Message> input(
        factory->GetPrototype(method->input_type())->New());
    google::protobuf::util::JsonParseOptions parse;
    const std::string body = request.body().empty() ? "{}" : request.body();
    if (auto status = google::protobuf::util::JsonStringToMessage(body, input.get(), parse);
        !status.ok()) {
      respond(JsonError(request, 400, 21200,
                        "21200: the request is not a " + method->input_type()->full_name() +
                            " in JSON: " + std::string(status.message())));
      return;
    }
    grpc::GenericStub* generic = Stub();
    if (generic == nullptr) {
      respond(JsonError(request, 503, 20503, "the gateway is still starting; retry"));
      return;
    }
    struct Call {
      grpc::ClientContext context;
      grpc::ByteBuffer request_bytes;
      grpc::ByteBuffer response_bytes;
      HttpRequest request;
      std::function<void(HttpResponse)> respond;
      const google::protobuf::Descriptor* output = nullptr;
    };
    auto call = std::make_shared<Call>();
    call->output = method->output_type();
    call->context.AddMetadata(
        "authorization", "Basic " + Base64Encode(session.account_sid + ":" + session.auth_token));
    if (!session.admin_token.empty())
      call->context.AddMetadata("x-admin-token", session.admin_token);
    call->context.set_deadline(std::chrono::system_clock::now() + kRpcDeadline);
    grpc::Slice slice(input->SerializeAsString());
    call->request_bytes = grpc::ByteBuffer(&slice, 1);
    request.body().clear();
    call->request = std::move(request);
    call->respond = std::move(respond);
    const std::string path = "/" + service + "/" + method_name;
    generic->UnaryCall(&call->context, path, grpc::StubOptions(), &call->request_bytes,
                       &call->response_bytes,
                       [call](grpc::Status status) { call->respond(RpcAnswer(*call, status)); });
  }

  template <class Call>
  static HttpResponse RpcAnswer(Call& call, const grpc::Status& status) {
    if (!status.ok()) {
      int code = 0;
      const auto& trailers = call.context.GetServerTrailingMetadata();
      if (auto it = trailers.find("mmsgate-error-code"); it != trailers.end()) {
        code = std::atoi(std::string(it->second.data(), it->second.size()).c_str());
      }
      const int http_status = HttpStatusFor(static_cast<absl::StatusCode>(status.error_code()));
      return JsonError(call.request, http_status, code == 0 ? 20000 + http_status : code,
                       status.error_message());
    }
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (call.response_bytes.Dump(&slices).ok()) {
      for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    auto* factory = google::protobuf::MessageFactory::generated_factory();
    std::unique_ptr<google::protobuf::Message> output(factory->GetPrototype(call.output)->New());
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    if (!output->ParseFromString(bytes) ||
        !google::protobuf::util::MessageToJsonString(*output, &json, options).ok()) {
      return JsonError(call.request, 500, 20500, "the gateway's answer could not be read");
    }
    return Answer(call.request, http::status::ok, "application/json", std::move(json));
  }

  // ---- media --------------------------------------------------------------------------------

  void Media(HttpRequest request, std::function<void(HttpResponse)> respond, Session& session,
             std::string_view rest) {
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos || rest.find('/', slash + 1) != std::string_view::npos) {
      respond(JsonError(request, 404, 20404, "expected /console/media/<MessageSID>/<MediaSID>"));
      return;
    }
    request.target("/2010-04-01/Accounts/" + session.account_sid + "/Messages/" +
                   std::string(rest.substr(0, slash)) + "/Media/" +
                   std::string(rest.substr(slash + 1)));
    request.set(http::field::authorization,
                "Basic " + Base64Encode(session.account_sid + ":" + session.auth_token));
    request.erase(http::field::cookie);
    deps.media_content(std::move(request), std::move(respond));
  }

  // ---- routing ------------------------------------------------------------------------------

  void Handle(HttpRequest request, std::function<void(HttpResponse)> respond) {
    const std::string target(request.target());
    const std::string path = target.substr(0, target.find('?'));
    const auto verb = request.method();
    const bool get = verb == http::verb::get || verb == http::verb::head;
    const bool post = verb == http::verb::post;

    if (path == "/") {
      respond(Redirect(request, "/console/"));
      return;
    }
    if (path.starts_with("/console/assets/") && get) {
      respond(Asset(request, std::string_view(path).substr(16)));
      return;
    }
    if (path == "/console/login") {
      if (post) {
        respond(SignIn(request));
      } else if (get) {
        respond(Page(request, "login.html", ""));
      } else {
        respond(JsonError(request, 405, 20004, "use GET or POST on /console/login"));
      }
      return;
    }
    auto session = FindSession(request);
    if (IsPagePath(path) && get) {
      if (!session) {
        FormParams next{{"next", path}};
        respond(Redirect(request, "/console/login?" + FormEncode(next)));
      } else {
        respond(Page(request, "index.html", ""));
      }
      return;
    }
    if (!session) {
      respond(JsonError(request, 401, 20003,
                        "not signed in to the console (or the session expired): sign in at "
                        "/console/login"));
      return;
    }
    if (path == "/console/logout" && post) {
      if (!SameSecret(request["X-CSRF-Token"], session->csrf_token)) {
        respond(JsonError(request, 403, 20403, "the request lacks the session's CSRF token"));
        return;
      }
      EndSession(session);
      auto response = Answer(request, http::status::ok, "application/json", "{}");
      response.set(http::field::set_cookie,
                   std::string(kCookieName) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
      respond(std::move(response));
      return;
    }
    if (path == "/console/api/session" && get) {
      respond(SessionInfo(request, *session));
      return;
    }
    if (path == "/console/api/events" && get) {
      Events(std::move(request), std::move(respond), session);
      return;
    }
    if (path.starts_with("/console/api/rpc/") && post) {
      Rpc(std::move(request), std::move(respond), *session, std::string_view(path).substr(17));
      return;
    }
    if (path.starts_with("/console/media/") && get) {
      Media(std::move(request), std::move(respond), *session, std::string_view(path).substr(15));
      return;
    }
    respond(JsonError(request, 404, 20404, "no console resource " + path));
  }
};

Console::Console(ConsoleDependencies dependencies)
    : impl_(std::make_shared<Impl>(std::move(dependencies))) {
  // Link the generated files whose services the console calls by name.
  (void)v1::SendMessageRequest::descriptor();
  (void)v1::GetAccountRequest::descriptor();
  (void)v1::ListCarriersRequest::descriptor();
}

Console::~Console() { Stop(); }

void Console::Stop() {
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [id, session] : impl_->sessions) sessions.push_back(session);
    impl_->sessions.clear();
    impl_->stopped = true;
    impl_->stub.reset();
    impl_->channel.reset();
  }
  for (auto& session : sessions) impl_->Close(*session);
}

void Console::SetGrpcTarget(const std::string& address) {
  std::string target = address;
  const std::size_t colon = target.rfind(':');
  const std::string host = target.substr(0, colon);
  if (host == "0.0.0.0" || host == "[::]" || host == "::" || host.empty()) {
    target = "127.0.0.1" + target.substr(colon);
  }
  std::lock_guard lock(impl_->mutex);
  impl_->grpc_target = target;
}

HttpHandler Console::handler() {
  std::weak_ptr<Impl> weak = impl_;
  return [weak](HttpRequest request, std::function<void(HttpResponse)> respond) {
    auto impl = weak.lock();
    if (!impl || impl->IsStopped()) {
      respond(JsonError(request, 503, 20503, "the console is stopping"));
      return;
    }
    impl->Handle(std::move(request), std::move(respond));
  };
}

std::size_t Console::session_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->sessions.size();
}

}  // namespace mmsgate::gateway
