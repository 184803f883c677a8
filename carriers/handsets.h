#pragma once
// Simulated handsets: what each subscriber's phone has received.
//
// Thread-safe. Entries are keyed by the gateway message SID, so a delivery repeated after a
// restart (at-least-once towards the carrier) shows once on the phone, as a real handset
// de-duplicates a resent message.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mmsgate/v1/simulator.pb.h"

namespace mmsgate::carriers {

// Media as it travels to a handset: the bytes themselves, shared, not copied per recipient.
struct MediaPayload {
  std::string content_type;
  std::shared_ptr<const std::string> data;
};

// One message as a carrier hands it to a phone.
struct HandsetDelivery {
  std::string message_sid;
  std::string from;
  std::string to;
  std::string carrier_id;
  mmsgate::v1::HandsetMessage::Kind kind = mmsgate::v1::HandsetMessage::SMS;
  std::string text;
  int segments = 1;
  std::vector<MediaPayload> media;
  // The message's acceptance order; with the seed it fixes this message's random draws.
  uint64_t sequence = 0;
  // Real time after which the message may no longer wait in a queue (validity period).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

class Handsets {
 public:
  // Records a delivery on the destination's phone. The phone computes the SHA-256 of every media
  // item it received, so a test can check the bytes arrived intact. Returns false if this
  // message was already on the phone.
  bool Receive(const HandsetDelivery& delivery);

  // Everything `number` received, oldest first. Empty for an unknown number.
  mmsgate::v1::HandsetInbox Inbox(const std::string& number) const;

 private:
  struct Phone {
    std::vector<mmsgate::v1::HandsetMessage> messages;
    std::unordered_set<std::string> seen_sids;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Phone> phones_;
};

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace mmsgate::carriers
