#pragma once
// Sending: a request from an application (gRPC, REST, a TwiML reply) becomes a durably stored
// ACCEPTED message, or a refusal with nothing stored.
//
// The steps: the checks that need no media (so a doomed request costs no fetch), the media
// fetch (asynchronous, on the io_context), admission (pure: validation, routing, the record),
// the sender's backlog reservation (21611), one atomic commit of the message, its media, its
// outbox entry and its usage, and then the reply. The message's life goes on in
// MessageLifecycle.
//
// Threading rule: Send may be called from any thread and never blocks it: a message with media
// is staged on the storage executor (staging a blob reads whether it is stored already); `done`
// runs on the storage executor, an io_context thread, or (a refusal found at once) the caller's.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "carriers/base/clock.h"
#include "carriers/fleet.h"
#include "gateway/accounts/directory.h"
#include "gateway/core/admission.h"
#include "gateway/core/lifecycle.h"
#include "gateway/core/metrics.h"
#include "gateway/core/sender_limits.h"
#include "gateway/storage/message_store.h"
#include "mmsc/address_policy.h"
#include "mmsc/image_adapter.h"
#include "mmsc/storage/database.h"
#include "mmsc/storage/media_store.h"

namespace mmsgate::gateway {

struct SendStats {
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> refused{0};
  std::atomic<int64_t> store_errors{0};
};

// How far ahead a scheduled message's send_at may be (the provider's window, inclusive).
inline constexpr SimDuration kMinScheduleAhead = std::chrono::minutes(15);
inline constexpr SimDuration kMaxScheduleAhead = std::chrono::hours(24 * 35);

struct SendOptions {
  mmsgate::v1::Direction direction = mmsgate::v1::OUTBOUND_API;
  // For a TwiML reply: the inbound message it answers.
  std::string reply_to_sid;
  // The provider's confirmation of an opt-out keyword goes to a subscriber who just opted out.
  bool ignore_opt_outs = false;
  // Set by Send for a request naming a Messaging Service: the service, and the recipient when
  // the service's sticky sender was chosen for it just now (stored with the message).
  std::string messaging_service_sid;
  std::string new_sticky_recipient;
  // Set by Send once the images were adapted to the carrier's size limit (or could not be):
  // per media item, its size and type before adaptation (0 and "" for an item kept as it was).
  bool adaptation_tried = false;
  std::vector<std::pair<int64_t, std::string>> originals;
};

struct SendSettings {
  // Base of media links, e.g. "http://127.0.0.1:8080".
  std::string public_base_url;
  // Real time one media URL may take, redirects included.
  std::chrono::milliseconds media_fetch_timeout{15000};
  // How long links and media are kept (simulated).
  SimDuration media_retention{std::chrono::hours(24 * 7)};
  // The sequence of the first message this process accepts (kept increasing across restarts).
  uint64_t first_sequence = 0;
  // Media bytes admission may hold at once, from a request's arrival (or its fetch) until its
  // commit: beyond it a message with media is refused with 20429, so RSS under MMS load stays
  // bounded. At least mmsc::kMaxTotalMediaBytes. Once stored, media wait on disk, not in RAM.
  int64_t media_budget_bytes = int64_t{256} << 20;
  // Which addresses media URLs may reach (every redirect hop too).
  std::shared_ptr<const mmsc::AddressPolicy> media_address_policy;
};

// Stages everything an admitted message needs (its media blobs and references, its records as
// `stored`: the admitted message in the status it is stored with, and `extras`) into `batch`.
// `staged_blobs` gets the blobs to pass to MediaStore::StagingDone once the batch is committed
// or abandoned. Staging media reads the store: storage executor only.
[[nodiscard]] absl::Status StageAdmitted(mmsc::MediaStore& media_store, MessageStore& store,
                                         storage::Batch& batch, const AdmittedMessage& admitted,
                                         const mmsgate::v1::Message& stored,
                                         const NewMessageExtras& extras,
                                         std::vector<std::string>* staged_blobs);

class SendService {
 public:
  SendService(boost::asio::io_context& io, boost::asio::any_io_executor storage_executor,
              Clock& clock, storage::Database& database, MessageStore& store,
              mmsc::MediaStore& media_store, Directory& directory, carriers::CarrierFleet& fleet,
              SenderLimits& senders, MessageLifecycle& lifecycle, SendSettings settings);

  using Done = std::function<void(absl::StatusOr<mmsgate::v1::Message>)>;
  // Admits `request` for `account`; `done` gets the ACCEPTED message once it is durably stored,
  // or the refusal (nothing stored).
  void Send(const mmsgate::v1::Account& account, const mmsgate::v1::SendMessageRequest& request,
            Done done, SendOptions options = {});

  // What admission needs to know now (the number plan as it is, the clock, the link base).
  [[nodiscard]] AdmissionContext MakeAdmissionContext() const;

  const SendStats& stats() const { return stats_; }

  // Times admissions and counts refusals and fallbacks (GET /metrics); optional.
  // Sequences start again at `first` (Simulator.Reset: as a fresh start on an empty store).
  void ResetSequence(uint64_t first) { next_sequence_.store(first, std::memory_order_relaxed); }
  void set_metrics(PipelineMetrics* metrics) { metrics_ = metrics; }
  // Where images over a carrier's size limit are adapted to fit; optional (without it they go
  // out as SMS + link).
  void set_image_adapter(mmsc::ImageAdapter* adapter) { image_adapter_ = adapter; }

  // Media bytes admission holds now (see SendSettings::media_budget_bytes).
  int64_t media_in_flight_bytes() const { return media_in_flight_.load(std::memory_order_relaxed); }

 private:
  // Holds bytes of the media budget until destroyed.
  struct MediaReservation {
    MediaReservation(std::atomic<int64_t>* in_flight, int64_t bytes)
        : in_flight(in_flight), bytes(bytes) {}
    MediaReservation(const MediaReservation&) = delete;
    MediaReservation& operator=(const MediaReservation&) = delete;
    std::atomic<int64_t>* in_flight;
    int64_t bytes;
    ~MediaReservation() { in_flight->fetch_sub(bytes, std::memory_order_relaxed); }
  };
  // Reserves `bytes` (> 0) and makes `done` release them once called; false (and `done` called
  // with 20429) when they do not fit.
  bool ReserveMedia(int64_t bytes, Done& done);

  // The scheduling parameters (35111, 35115, 35118), against the simulation clock.
  [[nodiscard]] absl::Status CheckSchedule(const mmsgate::v1::SendMessageRequest& request) const;

  // For a message admitted as SMS + link only because its media are over the carrier's
  // max_mms_bytes: adapts its images on the adapter's pool, then admits it again with them.
  // False when there is nothing to adapt (the fallback stands); otherwise `done` is taken.
  bool AdaptThenAdmit(const mmsgate::v1::Account& account,
                      const mmsgate::v1::SendMessageRequest& request,
                      const std::vector<mmsc::FetchedMedia>& fetched,
                      const AdmittedMessage& admitted, const AdmissionContext& context, Done& done,
                      const SendOptions& options);

  // Admits with media already fetched, reserves the sender, stages and commits.
  void AdmitAndStore(const mmsgate::v1::Account& account,
                     const mmsgate::v1::SendMessageRequest& request,
                     const std::vector<mmsc::FetchedMedia>& fetched, Done done,
                     const SendOptions& options);

  boost::asio::io_context& io_;
  boost::asio::any_io_executor storage_executor_;
  Clock& clock_;
  storage::Database& database_;
  MessageStore& store_;
  mmsc::MediaStore& media_store_;
  Directory& directory_;
  carriers::CarrierFleet& fleet_;
  SenderLimits& senders_;
  MessageLifecycle& lifecycle_;
  const SendSettings settings_;
  std::atomic<uint64_t> next_sequence_;
  SendStats stats_;
  std::atomic<int64_t> media_in_flight_{0};
  PipelineMetrics* metrics_ = nullptr;
  mmsc::ImageAdapter* image_adapter_ = nullptr;
};

}  // namespace mmsgate::gateway
