// Scenario files, however broken: loaded or refused with a message, and a scenario that passes
// the checks passes them again after a round trip through the text format.
#include <google/protobuf/text_format.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "gateway/config/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto scenario = mmsgate::gateway::ParseScenario(text, "fuzz");
  if (!scenario.ok()) {
    if (scenario.status().message().empty()) std::abort();
    return 0;
  }
  std::string printed;
  if (!google::protobuf::TextFormat::PrintToString(*scenario, &printed)) std::abort();
  if (!mmsgate::gateway::ParseScenario(printed, "fuzz round trip").ok()) std::abort();
  return 0;
}
