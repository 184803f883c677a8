// Form bodies and percent-escapes as a client may send them: decoded or refused, and what
// decodes encodes back to a body that decodes to the same fields.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "carriers/base/encoding.h"
#include "gateway/api/rest/form_encoding.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  (void)mmsgate::gateway::CountFormFields(body, "MediaUrl");
  (void)mmsgate::PercentDecode(body, /*plus_as_space=*/true);
  const auto fields = mmsgate::gateway::FormDecode(body);
  if (!fields.ok()) return 0;
  const std::string encoded = mmsgate::gateway::FormEncode(*fields);
  const auto again = mmsgate::gateway::FormDecode(encoded);
  if (!again.ok() || *again != *fields) {
    std::fprintf(stderr, "round trip differs: %zu fields -> \"%s\" -> %s\n", fields->size(),
                 encoded.c_str(),
                 again.ok() ? (std::to_string(again->size()) + " fields").c_str()
                            : std::string(again.status().message()).c_str());
    std::abort();
  }
  return 0;
}
