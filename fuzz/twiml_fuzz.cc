// A webhook's answer, whatever its bytes: parsed into replies or refused with 12100/12200,
// never a crash, and never more replies or media than the limits allow.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "carriers/base/errors.h"
#include "gateway/inbound/twiml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string xml(reinterpret_cast<const char*>(data), size);
  const auto replies = mmsgate::gateway::ParseMessagingTwiml(xml);
  if (replies.ok()) {
    if (replies->size() > mmsgate::gateway::kMaxTwimlMessages) std::abort();
    for (const auto& reply : *replies) {
      if (reply.media_urls.size() > mmsgate::gateway::kMaxTwimlMedia) std::abort();
    }
  } else {
    const int code = mmsgate::ProviderErrorCode(replies.status());
    if (code != 12100 && code != 12200 && code != 21623) std::abort();
  }
  return 0;
}
