#pragma once
// The HTTP listener's routes: media links (/m/<token>), health.
//
// Storage reads happen on `storage_pool`, never on the io_context; the reply is posted back by
// the HTTP server.

#include <boost/asio/thread_pool.hpp>

#include "gateway/http/http_server.h"
#include "gateway/storage/message_store.h"

namespace mmsgate::gateway {

// GET|HEAD /m/<token>: one media item answers with its bytes and content type; several answer
// with an HTML page linking /m/<token>/<n> (n from 0), each fetchable. Unknown tokens: 404.
// A single `Range: bytes=…` is honoured (206, or 416 when unsatisfiable).
// GET /healthz: 200 "ok". GET /metrics: Prometheus text from `metrics` (run on the pool).
// GET|HEAD /2010-04-01/Accounts/{AC}/Messages/{SID}/Media/{ME}: a media item's content.
// Every other /2010-04-01/ request goes to `rest_api` (the REST facade) when given.
HttpHandler MakeHttpRoutes(MessageStore& store, boost::asio::thread_pool& storage_pool,
                           std::function<std::string()> metrics, HttpHandler rest_api = nullptr);

}  // namespace mmsgate::gateway
