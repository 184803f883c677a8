#pragma once
// The HTTP listener's routes:
//   GET /healthz                      200 "ok"
//   GET /metrics                      Prometheus text from `metrics`
//   GET|HEAD /m/...                   media links (mmsc/link_server.h)
//   GET|HEAD /2010-04-01/Accounts/{AC}/Messages/{SID}/Media/{ME}
//                                     a media item's content: public, as the provider's media
//                                     URLs are by default (the SIDs are unguessable), unless
//                                     the account enforces HTTP auth on media
//                                     (AccountSettings.enforce_media_auth)
//   every other /2010-04-01/...       the REST facade (`rest_api`)
//   / and /console/...                the web console (`console`, gateway/console/console.h)
//
// Threading rule: storage reads run on `storage_executor`, never on the io_context; the reply is
// posted back by the HTTP server.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <string>

#include "gateway/accounts/directory.h"
#include "gateway/core/messages.h"
#include "gateway/http/http_server.h"
#include "mmsc/storage/media_store.h"

namespace mmsgate::gateway {

HttpHandler MakeHttpRoutes(const Directory& directory, MessageService& messages,
                           mmsc::MediaStore& media_store,
                           boost::asio::any_io_executor storage_executor,
                           std::function<std::string()> metrics, HttpHandler rest_api = nullptr,
                           HttpHandler console = nullptr);

}  // namespace mmsgate::gateway
