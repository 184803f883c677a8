#include "carriers/handsets.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>

#include "carriers/base/crypto.h"

namespace mmsgate::carriers {

// Hashes the media: call outside any lock.
mmsgate::v1::HandsetMessage Handsets::Entry(const HandsetDelivery& delivery) {
  mmsgate::v1::HandsetMessage entry;
  entry.set_kind(delivery.kind);
  entry.set_text(delivery.text);
  entry.set_segments(delivery.segments);
  entry.set_from(delivery.from);
  entry.set_message_sid(delivery.message_sid);
  entry.set_carrier_id(delivery.carrier_id);
  const int64_t received_ns = delivery.received_at != SimTime{}
                                  ? ToNanoseconds(delivery.received_at)
                                  : std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
  *entry.mutable_received_at() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(received_ns);
  for (const auto& media : delivery.media) {
    auto* item = entry.add_media();
    item->set_content_type(media.content_type);
    if (media.data) {
      item->set_size(static_cast<int64_t>(media.data->size()));
      item->set_sha256(Sha256Hex(*media.data));
    } else {
      // The bytes are in the MMSC's store under their SHA-256, checked when they were stored
      // (and when a restart read them back).
      item->set_size(media.size);
      item->set_sha256(media.sha256);
    }
  }
  return entry;
}

bool Handsets::Add(const std::string& number, const mmsgate::v1::HandsetMessage& entry) {
  std::lock_guard lock(mutex_);
  Phone& phone = phones_[number];
  if (!phone.seen_sids.insert(entry.message_sid()).second) return false;
  phone.messages.push_back(entry);
  return true;
}

bool Handsets::Receive(const HandsetDelivery& delivery) {
  const auto entry = Entry(delivery);
  if (journal_) {
    journal_->Append(delivery.to, entry, delivery.resubmitted, [] {});
    return true;
  }
  return Add(delivery.to, entry);
}

void Handsets::Receive(const HandsetDelivery& delivery, std::function<void()> done) {
  const auto entry = Entry(delivery);
  if (journal_) {
    journal_->Append(delivery.to, entry, delivery.resubmitted, std::move(done));
    return;
  }
  Add(delivery.to, entry);  // A message already on the phone shows once.
  done();
}

void Handsets::ReadInbox(const std::string& number,
                         std::function<void(mmsgate::v1::HandsetInbox)> done) {
  if (journal_) {
    journal_->Read(number, std::move(done));
    return;
  }
  done(Inbox(number));
}

mmsgate::v1::HandsetInbox Handsets::Inbox(const std::string& number) const {
  mmsgate::v1::HandsetInbox inbox;
  inbox.set_number(number);
  std::lock_guard lock(mutex_);
  auto it = phones_.find(number);
  if (it == phones_.end()) return inbox;
  for (const auto& message : it->second.messages) *inbox.add_messages() = message;
  return inbox;
}

}  // namespace mmsgate::carriers
