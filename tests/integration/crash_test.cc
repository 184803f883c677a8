// Crash safety under load: senders keep sending SMS and MMS concurrently while mmsgate is killed
// with SIGKILL at random moments and restarted on the same data. Every SID the gateway
// acknowledged must exist afterwards, reach a final status, and be on its handset exactly once;
// a send whose client saw an error may or may not exist, but never twice. A SIGTERM in the
// middle of the load then exits 0 and loses nothing acknowledged either.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_replace.h"
#include "integration/mmsgate_process.h"
#include "integration/test_scenario.h"
#include "mmsgate/v1/messaging.grpc.pb.h"
#include "mmsgate/v1/simulator.grpc.pb.h"

namespace mmsgate::testing {
namespace {

namespace v1 = mmsgate::v1;

constexpr int kKills = 3;
constexpr int kSenders = 8;
// Destinations: MMS-capable at home, SMS-only at home (MMS there goes as SMS + link).
const std::vector<std::string> kDestinations = {kUsMmsSubscriber, kUsSmsOnlySubscriber};

struct Gateway {
  std::mutex mutex;
  std::unique_ptr<MmsgateProcess> process;  // guarded by mutex
  std::string address;                      // guarded by mutex
  uint64_t generation = 0;                  // guarded by mutex
};

TEST(CrashTest, AcknowledgedMessagesSurviveRepeatedSigkillUnderLoad) {
  MmsgateProcess::Options options;
  options.data_dir = MmsgateProcess::MakeTempDir("crash");
  options.scenario_text = absl::StrReplaceAll(
      TestScenario(5), {{"seed: 7", "seed: 7 disable_sender_rate_limits: true"}});
  Gateway gateway;
  gateway.process = MmsgateProcess::Start(options);
  gateway.address = gateway.process->grpc_address();

  std::mutex acknowledged_mutex;
  std::vector<std::string> acknowledged;  // guarded by acknowledged_mutex
  std::atomic<int> errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      std::mt19937 random(s);
      std::shared_ptr<grpc::Channel> channel;
      std::unique_ptr<v1::Messaging::Stub> stub;
      uint64_t generation = ~uint64_t{0};
      for (int i = 0; !stop; ++i) {
        {
          std::lock_guard lock(gateway.mutex);
          if (generation != gateway.generation || !stub) {
            generation = gateway.generation;
            channel = grpc::CreateChannel(gateway.address, grpc::InsecureChannelCredentials());
            stub = v1::Messaging::NewStub(channel);
          }
        }
        v1::SendMessageRequest request;
        request.set_from(kMmsLongCode);
        request.set_to(kDestinations[random() % kDestinations.size()]);
        request.set_body("crash " + std::to_string(s) + "/" + std::to_string(i));
        if (random() % 3 == 0) {
          auto* media = request.add_media();
          media->set_content_type("image/png");
          media->set_data(std::string("\x89PNG\r\n\x1a\n", 8) + std::string(20000 + s, 'p'));
        }
        auto context = MmsgateProcess::ContextFor(kAccountSid, kAuthToken, /*deadline=*/10);
        v1::Message sent;
        if (stub->SendMessage(context.get(), request, &sent).ok()) {
          std::lock_guard lock(acknowledged_mutex);
          acknowledged.push_back(sent.sid());
        } else {
          ++errors;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    });
  }

  // Kill at random moments, restarting on the same data each time.
  std::mt19937 random(2026);
  for (int kill = 0; kill < kKills; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + random() % 700));
    std::unique_ptr<MmsgateProcess> dead;
    {
      std::lock_guard lock(gateway.mutex);
      gateway.process->Kill();
      dead = std::move(gateway.process);
    }
    dead.reset();
    auto restarted = MmsgateProcess::Start(options);
    std::lock_guard lock(gateway.mutex);
    gateway.process = std::move(restarted);
    gateway.address = gateway.process->grpc_address();
    ++gateway.generation;
  }
  // Then a graceful stop in the middle of the load: SIGTERM exits 0, within the deadline the
  // process contract gives, and loses nothing acknowledged either.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int term_exit = -1;
  double term_seconds = 0;
  {
    std::lock_guard lock(gateway.mutex);
    const auto begin = std::chrono::steady_clock::now();
    term_exit = gateway.process->Stop();
    term_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    gateway.process.reset();
  }
  EXPECT_EQ(term_exit, 0);
  EXPECT_LT(term_seconds, 30) << "SIGTERM under load took too long";
  {
    auto restarted = MmsgateProcess::Start(options);
    std::lock_guard lock(gateway.mutex);
    gateway.process = std::move(restarted);
    gateway.address = gateway.process->grpc_address();
    ++gateway.generation;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& sender : senders) sender.join();

  // Every acknowledged SID exists and reaches a final status.
  MmsgateProcess& last = *gateway.process;
  auto messaging = v1::Messaging::NewStub(last.Channel());
  int lost = 0;
  int unfinished = 0;
  for (const auto& sid : acknowledged) {
    v1::Message message;
    grpc::Status status;
    for (int attempt = 0; attempt < 600; ++attempt) {
      v1::GetMessageRequest request;
      request.set_sid(sid);
      status = messaging->GetMessage(last.Context().get(), request, &message);
      if (!status.ok() || message.status() == v1::DELIVERED ||
          message.status() == v1::UNDELIVERED || message.status() == v1::FAILED) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!status.ok()) {
      ++lost;
      ADD_FAILURE() << "acknowledged " << sid << " is gone: " << status.error_message();
    } else if (message.status() != v1::DELIVERED) {
      ++unfinished;
      ADD_FAILURE() << sid << " ended " << v1::MessageStatus_Name(message.status());
    }
  }
  // Each is on its handset exactly once; nothing is there twice.
  auto simulator = v1::Simulator::NewStub(last.Channel());
  std::map<std::string, int> on_handsets;
  for (const auto& number : kDestinations) {
    v1::GetHandsetInboxRequest request;
    request.set_number(number);
    v1::HandsetInbox inbox;
    ASSERT_TRUE(simulator->GetHandsetInbox(last.Context().get(), request, &inbox).ok());
    for (const auto& entry : inbox.messages()) ++on_handsets[entry.message_sid()];
  }
  int duplicated = 0;
  for (const auto& [sid, count] : on_handsets) {
    if (count > 1) {
      ++duplicated;
      ADD_FAILURE() << sid << " is on a handset " << count << " times";
    }
  }
  int missing_from_handsets = 0;
  for (const auto& sid : acknowledged) {
    if (!on_handsets.contains(sid)) ++missing_from_handsets;
  }
  EXPECT_EQ(missing_from_handsets, 0);
  std::printf(
      "crash test: %zu acknowledged, %d lost, %d duplicated, %d not delivered, %d missing from "
      "handsets, %d sends saw an error, %d kills survived, SIGTERM under load exited %d in %.1f "
      "s\n",
      acknowledged.size(), lost, duplicated, unfinished, missing_from_handsets, errors.load(),
      kKills, term_exit, term_seconds);
  EXPECT_GT(acknowledged.size(), 100u) << "too little load to mean anything";
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(duplicated, 0);
  EXPECT_EQ(last.Stop(), 0);
}

}  // namespace
}  // namespace mmsgate::testing
