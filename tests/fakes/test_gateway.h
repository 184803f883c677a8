#pragma once
// The gateway's core assembled over in-memory stores and a manual clock, single-threaded: what
// gateway/server.cc builds, minus the listeners and the disk. Unit tests drive it by calling the
// components and then Run() or Advance(), and every simulated delay happens exactly when the
// schedule says, however busy the machine is.

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "carriers/fleet.h"
#include "carriers/handsets.h"
#include "fakes/in_memory_stores.h"
#include "fakes/manual_clock.h"
#include "gateway/accounts/directory.h"
#include "gateway/config/scenario.h"
#include "gateway/core/events.h"
#include "gateway/core/lifecycle.h"
#include "gateway/core/messages.h"
#include "gateway/core/send_service.h"
#include "gateway/core/sender_limits.h"
#include "gateway/inbound/inbound.h"
#include "gateway/webhooks/status_callbacks.h"
#include "gateway/webhooks/webhooks.h"

namespace mmsgate::testing {

inline constexpr char kTestAccount[] = "AC0123456789abcdef0123456789abcdef";
inline constexpr char kTestToken[] = "test-token-0123456789";

// One account, an MMS long code (+12025550100) and an SMS-only one (+12065550100), a carrier
// with MMS (+1202555…) and one without (+1206555…), both with a fixed 1 s latency, and sender
// rate limits as the provider has them (1 per second for long codes).
inline std::string TestGatewayScenario() {
  return R"pb(
    accounts { sid: "AC0123456789abcdef0123456789abcdef" auth_token: "test-token-0123456789" }
    carriers {
      id: "mms"
      country: "US"
      prefixes: "+1202555"
      supports_mms: true
      latency { median_ms: 1000 }
    }
    carriers {
      id: "plain"
      country: "US"
      prefixes: "+1206555"
      supports_mms: false
      latency { median_ms: 1000 }
    }
    numbers {
      number: "+12025550100"
      account_sid: "AC0123456789abcdef0123456789abcdef"
      type: LONG_CODE
      country: "US"
      capabilities { sms: true mms: true }
    }
    numbers {
      number: "+12065550100"
      account_sid: "AC0123456789abcdef0123456789abcdef"
      type: LONG_CODE
      country: "US"
      capabilities { sms: true mms: false }
    }
    simulation { seed: 1 }
  )pb";
}

// Records what the lifecycle tells status listeners.
class RecordingStatusListener final : public gateway::StatusListener {
 public:
  void OnStatus(const mmsgate::v1::Message& message) override { statuses.push_back(message); }
  std::vector<mmsgate::v1::Message> statuses;
};

class TestGateway {
 public:
  explicit TestGateway(const std::string& scenario_text = TestGatewayScenario())
      : scenario_(*gateway::ParseScenario(scenario_text, "test")),
        directory(scenario_, database, directory_store),
        handsets(&inbox_store),
        fleet(io, clock, {scenario_.carriers().begin(), scenario_.carriers().end()},
              carriers::SimulationSettings{scenario_.simulation().seed()}, handsets),
        senders(io, clock, directory, scenario_.simulation().disable_sender_rate_limits()),
        lifecycle(io, clock, database, message_store, senders, fleet, events, listener),
        messages(database, message_store, attempts, media_store, clock),
        sender(io, io.get_executor(), clock, database, message_store, media_store, directory, fleet,
               senders, lifecycle,
               gateway::SendSettings{"http://127.0.0.1:8080", std::chrono::milliseconds(2000),
                                     std::chrono::hours(1), 0}) {
    // As the server does: a phone's entry is stored with its DELIVERED status.
    lifecycle.set_inbox(&inbox_store);
  }

  ~TestGateway() {
    senders.Stop();
    Run();
  }

  // Runs what is ready at the present simulated time.
  void Run() {
    io.restart();
    io.poll();
  }
  // Moves simulated time on, running everything that comes due on the way.
  void Advance(SimDuration by) {
    Run();
    clock.Advance(by, [this] { Run(); });
  }

  const mmsgate::v1::Account& account() const { return scenario_.accounts(0); }

  // Sends and runs until the reply; the reply (or refusal).
  absl::StatusOr<mmsgate::v1::Message> Send(const mmsgate::v1::SendMessageRequest& request) {
    std::optional<absl::StatusOr<mmsgate::v1::Message>> reply;
    sender.Send(account(), request, [&reply](absl::StatusOr<mmsgate::v1::Message> result) {
      reply = std::move(result);
    });
    for (int i = 0; i < 100 && !reply; ++i) Run();
    if (!reply) return absl::DeadlineExceededError("no reply");
    return *reply;
  }

  absl::StatusOr<mmsgate::v1::Message> Stored(const std::string& sid) {
    return message_store.Get(sid);
  }

 private:
  mmsgate::v1::Scenario scenario_;

 public:
  boost::asio::io_context io;
  ManualClock clock;
  InMemoryDatabase database;
  InMemoryMediaStore media_store{database};
  InMemoryMessageStore message_store{database};
  InMemoryAttemptLog attempts{database};
  InMemoryDirectoryStore directory_store{database};
  InMemoryInboxStore inbox_store{database};
  gateway::Directory directory;
  carriers::Handsets handsets;
  gateway::EventBus events{clock};
  // What `number`'s phone shows (read from the journal; the fake answers at once).
  mmsgate::v1::HandsetInbox Inbox(const std::string& number) {
    mmsgate::v1::HandsetInbox inbox;
    handsets.ReadInbox(number, [&](mmsgate::v1::HandsetInbox got) { inbox = std::move(got); });
    return inbox;
  }
  RecordingStatusListener listener;
  carriers::CarrierFleet fleet;
  gateway::SenderLimits senders;
  gateway::MessageLifecycle lifecycle;
  gateway::MessageService messages;
  gateway::SendService sender;
};

}  // namespace mmsgate::testing
