#include "gateway/core/resumer.h"

namespace mmsgate::gateway {

uint64_t FirstSequence(const MessageStore& store) {
  const auto stored = store.LoadNextSequence();
  return stored ? *stored + kSequenceRestartGap : 0;
}

std::size_t ResumeUnfinished(MessageStore& store, const mmsc::MediaStore& media_store,
                             MessageLifecycle& lifecycle) {
  std::size_t resumed = 0;
  for (auto& message : store.LoadUnfinished()) {
    std::vector<carriers::MediaPayload> media;
    bool media_lost = false;
    for (const auto& item : message.media()) {
      auto bytes = media_store.Read(item.sha256());
      if (!bytes.ok()) {
        media_lost = true;
        break;
      }
      media.push_back(
          {item.content_type(), std::make_shared<const std::string>(std::move(*bytes))});
    }
    lifecycle.Resume(std::move(message), std::move(media), media_lost);
    ++resumed;
  }
  return resumed;
}

}  // namespace mmsgate::gateway
