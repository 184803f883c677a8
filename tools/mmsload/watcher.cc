#include "mmsload/harness.h"
#include "mmsload/stats.h"

namespace mmsload {

using namespace std::chrono_literals;

Watcher::Watcher(Harness& harness, v1::Messaging::Stub& stub, const std::string& authorization,
                 bool final_only)
    : harness_(harness) {
  context_.AddMetadata("authorization", authorization);
  if (final_only) {
    for (auto status : {v1::DELIVERED, v1::UNDELIVERED, v1::FAILED}) request_.add_statuses(status);
  }
  stub.async()->WatchEvents(&context_, &request_, this);
  StartRead(&event_);
  StartCall();
}

void Watcher::OnReadInitialMetadataDone(bool ok) {
  std::lock_guard lock(signal_->mutex);
  if (ok) signal_->registered = true;
  signal_->changed.notify_all();
}

void Watcher::OnReadDone(bool ok) {
  if (!ok) return;  // OnDone follows.
  harness_.OnEvent(event_);
  StartRead(&event_);
}

void Watcher::OnDone(const grpc::Status& status) {
  harness_.OnWatchEnded();
  // From here on only the local copy: the owner deletes `this` once it sees `done`.
  auto signal = signal_;
  std::lock_guard lock(signal->mutex);
  signal->done = true;
  signal->status = status;
  signal->changed.notify_all();
}

bool Watcher::WaitRegistered(std::chrono::nanoseconds limit) {
  std::unique_lock lock(signal_->mutex);
  signal_->changed.wait_for(lock, limit, [&] { return signal_->registered || signal_->done; });
  return signal_->registered && !signal_->done;
}

void Watcher::WaitDone() {
  std::unique_lock lock(signal_->mutex);
  signal_->changed.wait(lock, [&] { return signal_->done; });
}

bool Watcher::done() {
  std::lock_guard lock(signal_->mutex);
  return signal_->done;
}

grpc::Status Watcher::status() {
  std::lock_guard lock(signal_->mutex);
  return signal_->status;
}

// ---------------------------------------------------------------------------------------------
}  // namespace mmsload
