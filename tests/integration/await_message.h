#pragma once
// Waiting for a message's status from a test: polls Messaging.GetMessage until the condition
// holds, within a bound no machine reaches (the simulated schedules in these tests take seconds).

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "integration/mmsgate_process.h"
#include "mmsgate/v1/messaging.grpc.pb.h"

namespace mmsgate::testing {

inline bool IsFinalStatus(mmsgate::v1::MessageStatus status) {
  return status == mmsgate::v1::DELIVERED || status == mmsgate::v1::UNDELIVERED ||
         status == mmsgate::v1::FAILED || status == mmsgate::v1::CANCELED;
}

// The message as last read: once `reached(message)` holds, or after 120 s.
inline mmsgate::v1::Message AwaitMessage(
    mmsgate::v1::Messaging::Stub& messaging, const std::string& account_sid,
    const std::string& auth_token, const std::string& sid,
    const std::function<bool(const mmsgate::v1::Message&)>& reached =
        [](const mmsgate::v1::Message& message) { return IsFinalStatus(message.status()); }) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  mmsgate::v1::Message message;
  while (true) {
    mmsgate::v1::GetMessageRequest get;
    get.set_sid(sid);
    auto context = MmsgateProcess::ContextFor(account_sid, auth_token);
    if (messaging.GetMessage(context.get(), get, &message).ok() && reached(message)) break;
    if (std::chrono::steady_clock::now() > give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return message;
}

}  // namespace mmsgate::testing
