#include "gateway/core/resumer.h"

#include "carriers/base/crypto.h"

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
      // Read back and checked against its address: what the phone will be said to receive.
      auto bytes = media_store.Read(item.sha256());
      if (!bytes.ok() || Sha256Hex(*bytes) != item.sha256()) {
        media_lost = true;
        break;
      }
      media.push_back(
          {item.content_type(), nullptr, static_cast<int64_t>(bytes->size()), item.sha256()});
    }
    lifecycle.Resume(std::move(message), std::move(media), media_lost);
    ++resumed;
  }
  return resumed;
}

}  // namespace mmsgate::gateway
