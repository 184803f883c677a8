#pragma once
// The link server (rules 4-6): what answers the link an SMS-plus-link carries.
//
//   GET|HEAD /m/<token>      one media item: its bytes and content type; several: a small HTML
//                            page linking /m/<token>/<n> (n from 0)
//   GET|HEAD /m/<token>/<n>  item n
// Unknown or expired tokens: 404, saying nothing about why (a token is a capability, not a
// hint). A single `Range: bytes=...` is honoured (206, or 416 when unsatisfiable).
//
// The HTTP listener (gateway/http/) routes /m/ here; this component does not depend on it.
// Threading rule: the functions read the media store and block: storage executor only.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mmsc/storage/media_store.h"

namespace mmsgate::mmsc {

using LinkRequest = boost::beast::http::request<boost::beast::http::string_body>;
using LinkResponse = boost::beast::http::response<boost::beast::http::string_body>;

// One media item a link stands for.
struct LinkedMedia {
  std::string content_type;
  int64_t size = 0;
  std::string sha256;
  std::string filename;
};

// What a token stands for (implemented where the messages are kept). NotFound for a token that
// does not (or no longer) resolve.
class LinkResolver {
 public:
  virtual ~LinkResolver() = default;
  [[nodiscard]] virtual absl::StatusOr<std::vector<LinkedMedia>> Resolve(
      const std::string& token) const = 0;
};

// Answers a request for /m/<rest>.
LinkResponse ServeLink(const LinkResolver& resolver, const MediaStore& media,
                       const LinkRequest& request, std::string_view rest);

// Answers with `bytes` of `content_type`, honouring a single Range (per RFC 9110; several
// ranges, or a malformed header, get the whole body). HEAD gets the headers only.
LinkResponse ServeBytes(const LinkRequest& request, const std::string& content_type,
                        const std::string& bytes);

// The 404 every unknown media resource gets.
LinkResponse MediaNotFound(const LinkRequest& request);

}  // namespace mmsgate::mmsc
