#pragma once
// The web console (docs/console.md): a browser UI served from the HTTP listener.
//
//   GET  /                              303 to /console/
//   GET  /console/login                 the sign-in form (fields account_sid, auth_token and an
//                                       optional admin_token)
//   POST /console/login                 checks the credentials, sets the session cookie
//   POST /console/logout                ends the session (CSRF token required)
//   GET  /console/assets/<file>         the page's CSS and JS modules, embedded at build time
//   GET  /console/, /console/messages[/<SID>], /console/handsets[/<E.164>], /console/carriers,
//        /console/numbers               the page (signed in), else 303 to the sign-in form
//   GET  /console/api/session           who is signed in, and the session's CSRF token
//   POST /console/api/rpc/<Service>/<Method>
//                                       one unary RPC of mmsgate.v1 as JSON (CSRF token required)
//   GET  /console/api/events            the account's events as Server-Sent Events
//   GET  /console/media/<MessageSID>/<MediaSID>
//                                       a media item's content, for the session's account
//
// The console holds no rules of its own: every RPC is made over gRPC to this gateway's own
// front door with the session's AccountSid:AuthToken (and admin token, when given at sign-in),
// so scope, validation, the --admin-token rule and error codes are exactly the API's.
//
// Sessions live in memory: a random 256-bit id in an HttpOnly, SameSite=Strict cookie, expiring
// after 8 hours without use. A restart signs everybody out.
//
// Threading: the handler never blocks the io_context. RPCs complete on gRPC's callback threads,
// events are queued by the event bus's publisher, and a waiting event request is answered by an
// Asio timer or by the next event; HttpServer posts every answer back to its connection's strand.
// This header does not include gRPC.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "gateway/http/http_server.h"

namespace mmsgate::gateway {

class Directory;
class EventBus;

struct ConsoleDependencies {
  boost::asio::io_context* io = nullptr;  // for the event requests' timers
  const Directory* directory = nullptr;   // checks the sign-in credentials
  EventBus* events = nullptr;             // each session watches its account's events
  // Serves /2010-04-01/Accounts/{AC}/Messages/{SID}/Media/{ME} (the HTTP routes): the console's
  // media URLs are answered by it with the session's credentials.
  HttpHandler media_content;
  // How long an event request waits for an event before it is answered empty.
  std::chrono::milliseconds event_wait{15000};
};

class Console {
 public:
  explicit Console(ConsoleDependencies dependencies);
  ~Console();  // ends every session's subscription; waiting event requests are answered

  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Where the gateway's gRPC front door listens ("127.0.0.1:50051"; a wildcard host is reached
  // on loopback). Set once, before the HTTP listener accepts.
  void SetGrpcTarget(const std::string& address);

  // Signs every session out and closes the console's gRPC connection (before the front door
  // shuts down). Later requests are answered 503.
  void Stop();

  // Answers / and every /console path; safe to call after the console is gone (503).
  [[nodiscard]] HttpHandler handler();

  // Signed-in sessions (for tests and stats).
  [[nodiscard]] std::size_t session_count() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mmsgate::gateway
