#include "gateway/api/rest/form_encoding.h"

#include <algorithm>
#include <string_view>

#include "absl/status/status.h"
#include "carriers/base/encoding.h"

namespace mmsgate::gateway {
namespace {

// Decodes body[begin, end); offsets in errors are within the whole body, so that a client can
// find the bad escape in what it sent.
absl::StatusOr<std::string> DecodeComponent(const std::string& body, std::size_t begin,
                                            std::size_t end) {
  auto decoded = PercentDecode(std::string_view(body).substr(begin, end - begin),
                               /*plus_as_space=*/true, begin);
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(std::string(decoded.status().message()) +
                                      " of the form body");
  }
  return decoded;
}

}  // namespace

std::string FormEncode(const FormParams& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    out += PercentEncode(name, /*space_as_plus=*/true);
    out.push_back('=');
    out += PercentEncode(value, /*space_as_plus=*/true);
  }
  return out;
}

absl::StatusOr<FormParams> FormDecode(const std::string& body, std::size_t max_fields) {
  FormParams params;
  std::size_t begin = 0;
  while (begin <= body.size()) {
    std::size_t end = body.find('&', begin);
    if (end == std::string::npos) end = body.size();
    if (end > begin) {
      if (params.size() == max_fields) {
        return absl::OutOfRangeError("the form body has more than " + std::to_string(max_fields) +
                                     " fields");
      }
      std::size_t equals = body.find('=', begin);
      if (equals == std::string::npos || equals > end) equals = end;
      auto name = DecodeComponent(body, begin, equals);
      if (!name.ok()) return name.status();
      auto value = equals < end ? DecodeComponent(body, equals + 1, end) : std::string();
      if (!value.ok()) return value.status();
      params.emplace_back(*std::move(name), *std::move(value));
    }
    begin = end + 1;
  }
  return params;
}

std::size_t CountFormFields(std::string_view body, std::string_view name) {
  std::size_t count = 0;
  std::size_t begin = 0;
  while (begin <= body.size()) {
    std::size_t end = body.find('&', begin);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view field = body.substr(begin, end - begin);
    if (field.starts_with(name) && (field.size() == name.size() || field[name.size()] == '=')) {
      ++count;
    }
    begin = end + 1;
  }
  return count;
}

}  // namespace mmsgate::gateway
