#pragma once
// A message on its way through a simulated carrier, and how its fate travels back up to the
// gateway: each delivery names the listener its reports go to, so the carriers layer needs no
// reference to the layer above (as Kannel's SMSC drivers report through a callback interface).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "carriers/base/clock.h"
#include "mmsgate/v1/simulator.pb.h"

namespace mmsgate::carriers {

// What a phone shows for one delivered message, and whose phone it is.
struct HandsetArrival {
  std::string number;
  mmsgate::v1::HandsetMessage entry;
};

struct DeliveryReport {
  enum class Outcome { kDelivered, kUndelivered, kFailed };
  std::string message_sid;
  // When the outcome happened in the simulation's schedule (the send slot plus the drawn
  // latency), however late the io_context ran the report.
  SimTime at{};
  Outcome outcome = Outcome::kDelivered;
  // Provider code when not delivered (30003, 30008, 30036…); 0 when delivered.
  int error_code = 0;
  std::string error_message;
  // Set on a delivered report when the phone's entry is not durable yet: the listener stores it
  // in the same commit as the DELIVERED status (DeliveryListener::StoresArrivals).
  std::optional<HandsetArrival> arrival;
  bool delivered() const { return outcome == Outcome::kDelivered; }
};

// How delivery results travel back up to the gateway (implemented there). Called on the
// carrier's strand; must not block.
class DeliveryListener {
 public:
  virtual ~DeliveryListener() = default;
  // The carrier took the message from its queue (the provider's SENT) in the slot at `at`.
  virtual void OnCarrierAccepted(const std::string& message_sid, SimTime at) = 0;
  // The final outcome of a submitted message.
  virtual void OnDeliveryReport(DeliveryReport report) = 0;
  // True when the listener makes a delivered message's phone entry durable together with its
  // DELIVERED status (report.arrival): the carrier then reports at once instead of committing
  // the entry on its own first, one commit per message fewer. A resubmitted message's entry
  // still goes through the carrier's Handsets (the phone may have it already).
  [[nodiscard]] virtual bool StoresArrivals() const { return false; }
};

// Media as it travels to a handset. Once the MMSC has stored the bytes, a message in flight
// carries only their size and SHA-256 (the stored blob's address), so media wait on disk, not
// in RAM; `data` is set only where the bytes are at hand (admission, unit tests).
struct MediaPayload {
  std::string content_type;
  std::shared_ptr<const std::string> data;
  int64_t size = 0;
  std::string sha256;  // lowercase hex
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
  // The gateway resumed the message after a restart: the phone may have it already.
  bool resubmitted = false;
  // Simulated time after which the message may no longer wait in a queue (validity period).
  SimTime deadline = kNever;
  // Simulated time the gateway handed it to the carrier: the carrier's schedule starts there.
  SimTime submitted_at{};
  // Where the carrier reports what became of it (OnCarrierAccepted, then OnDeliveryReport);
  // reports go nowhere when null.
  DeliveryListener* listener = nullptr;
  // Simulated time the phone received it (set by the carrier on delivery; the epoch means now
  // on the wall clock).
  SimTime received_at{};
};

}  // namespace mmsgate::carriers
