#pragma once
// The console's files (gateway/console/assets/ and docs/errors.md), embedded in the binary at
// build time by embed_assets.cmake, so the console needs nothing installed and fetches nothing.

#include <string_view>

namespace mmsgate::gateway::console_assets {

struct Asset {
  std::string_view name;          // "app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;
};

// The asset named `name`, or nullptr.
[[nodiscard]] const Asset* Find(std::string_view name);

}  // namespace mmsgate::gateway::console_assets
