#pragma once
// Simulated handsets: what each subscriber's phone has received.
//
// Thread-safe. Entries are keyed by the gateway message SID, so a delivery repeated after a
// restart (at-least-once towards the carrier) shows once on the phone, as a real handset
// de-duplicates a resent message.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "carriers/base/clock.h"
#include "carriers/delivery.h"
#include "mmsgate/v1/simulator.pb.h"

namespace mmsgate::carriers {

// Where phones keep what they received (implemented by the gateway over its database, so this
// layer stays free of storage). With a journal, inboxes live there and not in memory: a million
// deliveries cost disk, not RAM.
class InboxJournal {
 public:
  virtual ~InboxJournal() = default;
  // Makes `entry`, received by `number`, durable; then calls `done` exactly once, on any thread.
  // With `resubmitted` (a message resumed after a restart, which may have reached the phone
  // before it), nothing is added when the phone already has an entry for the message.
  // Must not block the caller.
  virtual void Append(const std::string& number, const mmsgate::v1::HandsetMessage& entry,
                      bool resubmitted, std::function<void()> done) = 0;
  // Everything `number` received, oldest first, passed to `done` on any thread. Must not block
  // the caller.
  virtual void Read(const std::string& number,
                    std::function<void(mmsgate::v1::HandsetInbox)> done) = 0;
};

class Handsets {
 public:
  // Without a journal, inboxes live in memory only.
  explicit Handsets(InboxJournal* journal = nullptr) : journal_(journal) {}

  // Records a delivery on the destination's phone. The phone computes the SHA-256 of every media
  // item it received, so a test can check the bytes arrived intact. `done` runs once the entry
  // is durable (at once without a journal, or when the message was already on the phone), so a
  // delivery report that waits for it never reports what a restart would forget.
  void Receive(const HandsetDelivery& delivery, std::function<void()> done);

  // The same without waiting; returns false if this message was already on the phone.
  bool Receive(const HandsetDelivery& delivery);

  // What the phone shows for `delivery`. Hashes media bytes that are at hand (unit tests);
  // stored media are described by the address they were stored under.
  [[nodiscard]] static mmsgate::v1::HandsetMessage Entry(const HandsetDelivery& delivery);

  // Everything `number` received, oldest first (empty for an unknown number), passed to `done`
  // on any thread: read from the journal when there is one. Never blocks the caller.
  void ReadInbox(const std::string& number, std::function<void(mmsgate::v1::HandsetInbox)> done);

  // The same, synchronously, for phones without a journal (unit tests); empty with one.
  mmsgate::v1::HandsetInbox Inbox(const std::string& number) const;

 private:
  struct Phone {
    std::vector<mmsgate::v1::HandsetMessage> messages;
    std::unordered_set<std::string> seen_sids;
  };
  // False when the message is on the phone already.
  bool Add(const std::string& number, const mmsgate::v1::HandsetMessage& entry);

  InboxJournal* journal_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Phone> phones_;
};

}  // namespace mmsgate::carriers
