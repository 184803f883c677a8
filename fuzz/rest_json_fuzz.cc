// The REST JSON writers with any stored message: a Message parsed from arbitrary bytes (as a
// damaged record would be) is written as the provider's JSON or refused, never a crash; and the
// JSON text is valid JSON.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "gateway/api/rest/rest_json.h"
#include "mmsgate/v1/message.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mmsgate::v1::Message message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  try {
    const std::string text = mmsgate::gateway::MessageJson(message).dump();
    if (nlohmann::json::parse(text, nullptr, false).is_discarded()) std::abort();
    for (const auto& media : message.media()) {
      (void)mmsgate::gateway::MediaJson(media, message.account_sid()).dump();
    }
  } catch (const nlohmann::json::type_error&) {
    // dump() refuses text that is not UTF-8; the stores never hold such text (a record is
    // checked before it is written), so this input is not one mmsgate can meet.
  }
  return 0;
}
