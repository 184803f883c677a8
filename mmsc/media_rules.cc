#include "mmsc/media_rules.h"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "carriers/base/crypto.h"

namespace mmsgate::mmsc {
namespace {
// The provider's list of accepted MMS types (its "supported file types" page), sorted.
constexpr std::array<std::string_view, 45> kAcceptedTypes = {
    "application/pdf",
    "application/rtf",
    "application/vnd.apple.pkpass",
    "audio/3gpp",
    "audio/3gpp2",
    "audio/aac",
    "audio/ac3",
    "audio/adts",
    "audio/amr",
    "audio/amr-nb",
    "audio/basic",
    "audio/mp3",
    "audio/mp4",
    "audio/mpeg",
    "audio/mpeg3",
    "audio/ogg",
    "audio/vnd.rn-realaudio",
    "audio/vnd.wave",
    "audio/wav",
    "audio/webm",
    "image/bmp",
    "image/gif",
    "image/jpeg",
    "image/jpg",
    "image/png",
    "image/tiff",
    "image/webp",
    "text/calendar",
    "text/csv",
    "text/directory",
    "text/plain",
    "text/richtext",
    "text/vcard",
    "text/x-vcard",
    "video/3gpp",
    "video/3gpp-tt",
    "video/3gpp2",
    "video/h261",
    "video/h263",
    "video/h264",
    "video/mp4",
    "video/mpeg",
    "video/quicktime",
    "video/webm",
    "video/x-msvideo",
};
}  // namespace

std::string NormalizeContentType(std::string_view content_type) {
  auto end = content_type.find(';');
  std::string_view base = content_type.substr(0, end);
  while (!base.empty() && (base.back() == ' ' || base.back() == '\t')) base.remove_suffix(1);
  while (!base.empty() && (base.front() == ' ' || base.front() == '\t')) base.remove_prefix(1);
  std::string normalized(base);
  std::transform(normalized.begin(), normalized.end(), normalized.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return normalized;
}

bool IsAcceptedMediaType(std::string_view content_type) {
  static_assert(std::is_sorted(kAcceptedTypes.begin(), kAcceptedTypes.end()));
  return std::binary_search(kAcceptedTypes.begin(), kAcceptedTypes.end(),
                            NormalizeContentType(content_type));
}

std::string NewLinkToken() { return RandomHex(20); }

std::string ComposeLinkText(std::string_view body, std::string_view link_url) {
  if (body.empty()) return std::string(link_url);
  std::string text;
  text.reserve(body.size() + 1 + link_url.size());
  text.append(body);
  text.push_back('\n');
  text.append(link_url);
  return text;
}

}  // namespace mmsgate::mmsc
