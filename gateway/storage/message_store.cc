#include "gateway/storage/message_store.h"

#include <string>

#include "carriers/base/errors.h"

namespace mmsgate::gateway {

absl::Status CheckListRequest(const mmsgate::v1::ListMessagesRequest& request) {
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                         "page_size " + std::to_string(request.page_size()) +
                             " must be within 1.." + std::to_string(kMaxPageSize));
  }
  return absl::OkStatus();
}

}  // namespace mmsgate::gateway
