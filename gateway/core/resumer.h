#pragma once
// The start after a stop or a crash: every message that was accepted and not finished is picked
// up where its stored status says (MessageLifecycle's table), with its media read back, and the
// acceptance sequence continues past anything that could have been given before.
//
// Blocking (it reads the database): call once at start, before serving.

#include <cstdint>

#include "gateway/core/lifecycle.h"
#include "gateway/storage/message_store.h"
#include "mmsc/storage/media_store.h"

namespace mmsgate::gateway {

// More than can be accepted but not yet stored when the process stops: a restart starts this far
// past the stored sequence, so a sequence is never given twice.
inline constexpr uint64_t kSequenceRestartGap = 1u << 20;

// The sequence the next accepted message gets.
[[nodiscard]] uint64_t FirstSequence(const MessageStore& store);

// Hands every unfinished message to `lifecycle`. Returns how many.
std::size_t ResumeUnfinished(MessageStore& store, const mmsc::MediaStore& media_store,
                             MessageLifecycle& lifecycle);

}  // namespace mmsgate::gateway
