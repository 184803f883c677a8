#pragma once
// The REST facade: the provider's 2010-04-01 Messages and IncomingPhoneNumbers API over the HTTP
// listener, so the provider's official helper libraries work against mmsgate unchanged
// (DESIGN.md, "REST facade notes"; user documentation in docs/rest-facade.md).
//
//   POST|GET  /2010-04-01/Accounts/{AC}/Messages.json
//   GET|DELETE /2010-04-01/Accounts/{AC}/Messages/{SM|MM}.json
//   GET       /2010-04-01/Accounts/{AC}/Messages/{SID}/Media.json
//   GET|DELETE /2010-04-01/Accounts/{AC}/Messages/{SID}/Media/{ME}.json
//   GET|POST  /2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json
//   GET|POST|DELETE /2010-04-01/Accounts/{AC}/IncomingPhoneNumbers/{PN}.json
// (HEAD wherever GET is allowed.) The media content (the same URI as a media item without
// `.json`) is served by the HTTP routes (gateway/http/http_routes.h), which pass every other
// /2010-04-01/ request here.
//
// Sends go through SendService, the admission and router the gRPC front door uses. Every
// request is authenticated with HTTP Basic AccountSid:AuthToken (401, code 20003, otherwise);
// a URL naming another account than the credentials' answers 404 (20404), as does another
// account's resource. Errors are the provider's JSON {code, message, more_info, status}.
//
// Threading rule: the handler only posts the request to the storage executor; everything that
// may block (directory changes, store reads and deletes) runs there, and sends are answered from
// SendService's callback. Nothing runs on the io_context thread that calls the handler.

#include <boost/asio/any_io_executor.hpp>

#include "absl/status/status.h"
#include "gateway/accounts/authority.h"
#include "gateway/accounts/directory.h"
#include "gateway/api/api_chaos.h"
#include "gateway/core/messages.h"
#include "gateway/core/send_service.h"
#include "gateway/http/http_server.h"

namespace mmsgate::gateway {

// The HTTP listener's limits chosen for the facade: 1 MiB bodies (a send with a 1600-character
// body and 10 media URLs needs a few KB), 16 KiB headers, 10 s to send a header, 30 s for the
// whole request, 60 s keep-alive idle.
[[nodiscard]] HttpServerOptions RestFacadeServerOptions();

// The one place an absl status code becomes an HTTP status:
//   OK 200; INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE, ALREADY_EXISTS 400;
//   UNAUTHENTICATED 401; PERMISSION_DENIED 403; NOT_FOUND 404; ABORTED 409 (20009: delete of
//   an unfinished message); RESOURCE_EXHAUSTED 429; UNIMPLEMENTED 501; UNAVAILABLE and
//   CANCELLED 503; DEADLINE_EXCEEDED 504; anything else 500.
[[nodiscard]] int HttpStatusFor(absl::StatusCode code);

// The handler for /2010-04-01/ requests. API chaos (api_chaos.h) is asked first: a request it
// answers with an error is not served. The references must outlive every request in flight
// (in mmsgate: until the storage executor was drained).
[[nodiscard]] HttpHandler MakeRestFacade(Directory& directory, const Authority& authority,
                                         SendService& sender, MessageService& messages,
                                         ApiChaos& chaos,
                                         boost::asio::any_io_executor storage_executor);

}  // namespace mmsgate::gateway
