#include "carriers/carrier_node.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "carriers/base/crypto.h"
#include "carriers/base/errors.h"
#include "carriers/handsets.h"
#include "fakes/manual_clock.h"

namespace mmsgate::carriers {
namespace {

namespace v1 = mmsgate::v1;

// Records every callback, in order, as "accepted:<sid>" / "report:<sid>".
class RecordingListener : public DeliveryListener {
 public:
  void OnCarrierAccepted(const std::string& message_sid, SimTime) override {
    std::lock_guard lock(mutex_);
    events_.push_back("accepted:" + message_sid);
  }
  void OnDeliveryReport(DeliveryReport report) override {
    std::lock_guard lock(mutex_);
    events_.push_back("report:" + report.message_sid);
    reports_.push_back(std::move(report));
  }
  std::vector<std::string> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::vector<DeliveryReport> reports() const {
    std::lock_guard lock(mutex_);
    return reports_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> events_;
  std::vector<DeliveryReport> reports_;
};

v1::Carrier MakeCarrier(double median_ms, double failure_rate = 0.0) {
  v1::Carrier carrier;
  carrier.set_id("northwind");
  carrier.set_country("US");
  carrier.add_prefixes("+1202555");
  carrier.set_supports_mms(true);
  carrier.mutable_latency()->set_median_ms(median_ms);
  carrier.set_failure_rate(failure_rate);
  return carrier;
}

HandsetDelivery MakeMms(const std::string& sid, const std::string& bytes,
                        DeliveryListener* listener = nullptr) {
  HandsetDelivery delivery;
  delivery.listener = listener;
  delivery.message_sid = sid;
  delivery.from = "+12025550100";
  delivery.to = "+12025550123";
  delivery.carrier_id = "northwind";
  delivery.kind = v1::HandsetMessage::MMS;
  delivery.text = "hello with a picture";
  delivery.segments = 1;
  delivery.media.push_back({"image/png", std::make_shared<const std::string>(bytes)});
  return delivery;
}

constexpr char kSid[] = "MM0123456789abcdef0123456789abcdef";

// Runs every handler that is ready now, at the manual clock's present.
void Settle(boost::asio::io_context& io) {
  io.restart();
  io.poll();
}

// Moves simulated time on by `by`, running what comes due on the way.
void Advance(testing::ManualClock& clock, boost::asio::io_context& io, SimDuration by) {
  Settle(io);
  clock.Advance(by, [&io] { Settle(io); });
}
constexpr char kSha256OfAbc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(CarrierNode, DeliversMmsToHandsetThenReportsDeliveredOnce) {
  boost::asio::io_context io;
  testing::ManualClock clock;
  Handsets handsets;
  RecordingListener listener;
  auto node =
      std::make_shared<CarrierNode>(io, clock, MakeCarrier(5), SimulationSettings{7}, handsets);
  node->Submit(MakeMms(kSid, "abc", &listener));
  Advance(clock, io, std::chrono::milliseconds(5));

  EXPECT_EQ(listener.events(), (std::vector<std::string>{std::string("accepted:") + kSid,
                                                         std::string("report:") + kSid}));
  const auto reports = listener.reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].delivered());
  EXPECT_EQ(reports[0].error_code, 0);

  const auto inbox = handsets.Inbox("+12025550123");
  ASSERT_EQ(inbox.messages_size(), 1);
  const auto& entry = inbox.messages(0);
  EXPECT_EQ(entry.kind(), v1::HandsetMessage::MMS);
  EXPECT_EQ(entry.text(), "hello with a picture");
  EXPECT_EQ(entry.from(), "+12025550100");
  EXPECT_EQ(entry.message_sid(), kSid);
  EXPECT_EQ(entry.carrier_id(), "northwind");
  ASSERT_EQ(entry.media_size(), 1);
  EXPECT_EQ(entry.media(0).content_type(), "image/png");
  EXPECT_EQ(entry.media(0).size(), 3);
  EXPECT_EQ(entry.media(0).sha256(), kSha256OfAbc);
  EXPECT_EQ(entry.media(0).sha256(), Sha256Hex("abc"));

  // Nobody else's phone got it.
  EXPECT_EQ(handsets.Inbox("+12025550100").messages_size(), 0);

  const auto state = node->State();
  EXPECT_EQ(state.stats().submitted(), 1);
  EXPECT_EQ(state.stats().delivered(), 1);
  EXPECT_EQ(state.stats().queued_now(), 0);
}

TEST(CarrierNode, FailureRateOneReportsUnreachableHandsetAndDeliversNothing) {
  boost::asio::io_context io;
  testing::ManualClock clock;
  Handsets handsets;
  RecordingListener listener;
  auto node = std::make_shared<CarrierNode>(io, clock, MakeCarrier(5, /*failure_rate=*/1.0),
                                            SimulationSettings{7}, handsets);
  node->Submit(MakeMms(kSid, "abc", &listener));
  Advance(clock, io, std::chrono::milliseconds(5));

  const auto reports = listener.reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].message_sid, kSid);
  EXPECT_FALSE(reports[0].delivered());
  EXPECT_EQ(reports[0].error_code, 30003);
  EXPECT_EQ(reports[0].error_code, error_codes::kUnreachableHandset);
  EXPECT_FALSE(reports[0].error_message.empty());
  EXPECT_EQ(handsets.Inbox("+12025550123").messages_size(), 0);

  const auto state = node->State();
  EXPECT_EQ(state.stats().delivered(), 0);
  EXPECT_EQ(state.stats().undelivered_by_code().at(30003), 1);
}

TEST(CarrierNode, SameMessageSidDeliveredTwiceShowsOnceInInbox) {
  boost::asio::io_context io;
  testing::ManualClock clock;
  Handsets handsets;
  RecordingListener listener;
  auto node =
      std::make_shared<CarrierNode>(io, clock, MakeCarrier(1), SimulationSettings{7}, handsets);
  node->Submit(MakeMms(kSid, "abc", &listener));
  node->Submit(MakeMms(kSid, "abc", &listener));
  Advance(clock, io, std::chrono::milliseconds(1));

  // Each submission is reported (at-least-once towards the carrier)…
  EXPECT_EQ(listener.reports().size(), 2u);
  // …but the phone shows the message once.
  EXPECT_EQ(handsets.Inbox("+12025550123").messages_size(), 1);
}

TEST(Handsets, ReceiveReturnsFalseForARepeatedSid) {
  Handsets handsets;
  EXPECT_TRUE(handsets.Receive(MakeMms(kSid, "abc")));
  EXPECT_FALSE(handsets.Receive(MakeMms(kSid, "abc")));
  EXPECT_EQ(handsets.Inbox("+12025550123").messages_size(), 1);
  EXPECT_EQ(handsets.Inbox("+19995550000").messages_size(), 0);
}

TEST(CarrierNode, LatencyIsSpentInSimulatedTime) {
  boost::asio::io_context io;
  testing::ManualClock clock;
  Handsets handsets;
  RecordingListener listener;
  // A fixed 10 simulated seconds: nothing before, the report exactly then.
  auto node =
      std::make_shared<CarrierNode>(io, clock, MakeCarrier(10000), SimulationSettings{7}, handsets);
  const SimTime start = clock.Now();
  node->Submit(MakeMms(kSid, "abc", &listener));
  Advance(clock, io, std::chrono::milliseconds(9999));
  EXPECT_TRUE(listener.reports().empty());
  Advance(clock, io, std::chrono::milliseconds(1));
  const auto reports = listener.reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].delivered());
  EXPECT_EQ(clock.Now() - start, std::chrono::seconds(10));
  // The phone's receipt is stamped with the simulated time it happened.
  const auto inbox = handsets.Inbox("+12025550123");
  ASSERT_EQ(inbox.messages_size(), 1);
  EXPECT_EQ(
      inbox.messages(0).received_at().seconds(),
      std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count());
}

}  // namespace
}  // namespace mmsgate::carriers

namespace mmsgate::carriers {
namespace {

TEST(CarrierNode, AFullQueueFailsNewMessagesWith30001AndKeepsTheRest) {
  boost::asio::io_context io;
  testing::ManualClock clock;
  Handsets handsets;
  RecordingListener listener;
  auto carrier = MakeCarrier(/*median_ms=*/0);
  // One message per simulated second, room for two waiting.
  carrier.set_max_mps(1);
  carrier.set_queue_capacity(2);
  auto node = std::make_shared<CarrierNode>(io, clock, carrier, SimulationSettings{7}, handsets);
  // Submitted before the io_context runs, so all four reach the queue together: the first is
  // sent at once, the next two wait, the fourth finds the queue full.
  for (int i = 0; i < 4; ++i)
    node->Submit(MakeMms("MM" + std::string(31, '0') + std::to_string(i), "x", &listener));
  Advance(clock, io, std::chrono::seconds(3));

  int delivered = 0, overflowed = 0;
  for (const auto& report : listener.reports()) {
    if (report.delivered()) {
      ++delivered;
    } else {
      EXPECT_EQ(report.outcome, DeliveryReport::Outcome::kFailed);
      EXPECT_EQ(report.error_code, error_codes::kQueueOverflow);
      EXPECT_NE(report.error_message.find("queue is full"), std::string::npos);
      ++overflowed;
    }
  }
  EXPECT_EQ(delivered, 3);
  EXPECT_EQ(overflowed, 1);
  EXPECT_EQ(node->State().stats().rejected_queue_full(), 1);
}

}  // namespace
}  // namespace mmsgate::carriers
