#pragma once
// The provider's media limits (rule 9) and the link text of an SMS-plus-link (rules 4-6).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace mmsgate::mmsc {

inline constexpr int kMaxMediaPerMessage = 10;

// A media item brought from a media URL (http:// or data:).
struct FetchedMedia {
  std::string url;
  // Normalized ("image/jpeg").
  std::string content_type;
  std::shared_ptr<const std::string> data;
};

inline constexpr int64_t kMaxTotalMediaBytes = 5 * 1024 * 1024;

// True for the content types an MMS may carry (images, audio, video, vCard, text, PDF…).
bool IsAcceptedMediaType(std::string_view content_type);

// The content type without parameters, lowercased ("Image/JPEG; q=1" -> "image/jpeg").
std::string NormalizeContentType(std::string_view content_type);

// A new random link token: 160 bits from OpenSSL's CSPRNG, lowercase hex; unrelated to any SID.
std::string NewLinkToken();

// The SMS text that replaces an MMS: the body, a newline, then the link (just the link when
// the body is empty).
std::string ComposeLinkText(std::string_view body, std::string_view link_url);

}  // namespace mmsgate::mmsc
