// Media URLs and the address policy: any URL is split or refused with 21620 naming it; data:
// URLs decode or are refused; any allow/deny entry parses or is refused, and a parsed policy
// judges any address without crashing.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "carriers/base/errors.h"
#include "mmsc/address_policy.h"
#include "mmsc/media_fetcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string url(reinterpret_cast<const char*>(data), size);
  if (const auto parsed = mmsgate::mmsc::ParseHttpUrl(url); !parsed.ok()) {
    if (mmsgate::ProviderErrorCode(parsed.status()) != 21620) std::abort();
  } else if (parsed->port.empty() || parsed->target.empty() || parsed->target[0] != '/') {
    std::abort();
  }
  if (const auto media = mmsgate::mmsc::DecodeDataUrl(url); media.ok() && media->data->empty()) {
    std::abort();
  }
  const auto policy = mmsgate::mmsc::AddressPolicy::Create({url}, {url});
  if (policy.ok() && size >= 4) {
    boost::asio::ip::address_v4::bytes_type bytes{data[0], data[1], data[2], data[3]};
    (void)(*policy)->Check(boost::asio::ip::address_v4(bytes), 80);
  }
  return 0;
}
