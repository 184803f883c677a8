#include "gateway/core/send_service.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "absl/strings/str_format.h"
#include "carriers/base/errors.h"
#include "carriers/base/text.h"
#include "carriers/phone_numbers.h"
#include "mmsc/media_fetcher.h"

namespace mmsgate::gateway {

namespace v1 = mmsgate::v1;
using google::protobuf::util::TimeUtil;

absl::Status StageAdmitted(mmsc::MediaStore& media_store, MessageStore& store,
                           storage::Batch& batch, const AdmittedMessage& admitted,
                           const v1::Message& stored, const NewMessageExtras& extras,
                           std::vector<std::string>* staged_blobs) {
  const v1::Message& message = admitted.message;
  for (int i = 0; i < message.media_size(); ++i) {
    const std::string& sha256 = message.media(i).sha256();
    if (auto status = media_store.StageMedia(batch, sha256, *admitted.media[i].data, message.sid());
        !status.ok()) {
      return status;
    }
    staged_blobs->push_back(sha256);
  }
  return store.StageNew(batch, stored, extras);
}

SendService::SendService(boost::asio::io_context& io, boost::asio::any_io_executor storage_executor,
                         Clock& clock, storage::Database& database, MessageStore& store,
                         mmsc::MediaStore& media_store, Directory& directory,
                         carriers::CarrierFleet& fleet, SenderLimits& senders,
                         MessageLifecycle& lifecycle, SendSettings settings)
    : io_(io),
      storage_executor_(std::move(storage_executor)),
      clock_(clock),
      database_(database),
      store_(store),
      media_store_(media_store),
      directory_(directory),
      fleet_(fleet),
      senders_(senders),
      lifecycle_(lifecycle),
      settings_(std::move(settings)),
      next_sequence_(settings_.first_sequence) {}

AdmissionContext SendService::MakeAdmissionContext() const {
  AdmissionContext context;
  context.directory = &directory_;
  context.number_plan_owner = fleet_.plan();
  context.number_plan = context.number_plan_owner.get();
  context.public_base_url = settings_.public_base_url;
  context.now_ns = ToNanoseconds(clock_.Now());
  return context;
}

bool SendService::ReserveMedia(int64_t bytes, Done& done) {
  int64_t in_flight = media_in_flight_.load(std::memory_order_relaxed);
  do {
    if (in_flight + bytes > settings_.media_budget_bytes) {
      stats_.refused.fetch_add(1, std::memory_order_relaxed);
      done(ProviderError(
          absl::StatusCode::kResourceExhausted, error_codes::kQueueFull,
          "too much media is being received at once: this message's " + std::to_string(bytes) +
              " bytes would pass the gateway's budget of " +
              std::to_string(settings_.media_budget_bytes) + " bytes (" +
              std::to_string(in_flight) +
              " in progress; mmsgate --media-budget-bytes); retry shortly or send fewer MMS "
              "at once"));
      return false;
    }
  } while (!media_in_flight_.compare_exchange_weak(in_flight, in_flight + bytes,
                                                   std::memory_order_relaxed));
  // Built in place: a temporary MediaReservation would give the bytes back as it died.
  auto reservation = std::make_shared<MediaReservation>(&media_in_flight_, bytes);
  done = [reservation, inner = std::move(done)](absl::StatusOr<v1::Message> result) mutable {
    inner(std::move(result));
    reservation.reset();  // The bytes are committed (or refused): they leave RAM.
  };
  return true;
}

absl::Status SendService::CheckSchedule(const v1::SendMessageRequest& request) const {
  if (request.schedule_type().empty() && !request.has_send_at()) return absl::OkStatus();
  if (request.messaging_service_sid().empty()) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kSchedulingNeedsService,
                         "a message can be scheduled only through a Messaging Service: give "
                         "MessagingServiceSid with ScheduleType and SendAt");
  }
  if (request.schedule_type() != "fixed" || !request.has_send_at()) {
    return ProviderError(
        absl::StatusCode::kInvalidArgument, error_codes::kInvalidScheduleType,
        request.schedule_type() != "fixed"
            ? "ScheduleType " + QuoteText(request.schedule_type()) +
                  " is not supported: the only schedule type is \"fixed\" (with SendAt)"
            : std::string("ScheduleType fixed needs SendAt, the time to send the message"));
  }
  if (request.send_at().nanos() < 0 || request.send_at().nanos() > 999'999'999) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidSendAt,
                         "send_at has nanos " + std::to_string(request.send_at().nanos()) +
                             ", which is not a time: give 0..999999999");
  }
  const SimTime now = clock_.Now();
  // Compared in seconds first: a send_at centuries away would overflow nanoseconds.
  const int64_t now_seconds = ToNanoseconds(now) / 1'000'000'000;
  // In floating point: a hostile send_at (INT64_MIN seconds) must not overflow the difference.
  const double seconds_ahead =
      static_cast<double>(request.send_at().seconds()) - static_cast<double>(now_seconds);
  const bool far_outside =
      request.send_at().seconds() < now_seconds - 1 ||
      request.send_at().seconds() >
          now_seconds + 1 +
              std::chrono::duration_cast<std::chrono::seconds>(kMaxScheduleAhead).count();
  const SimTime send_at =
      far_outside ? now : FromNanoseconds(TimeUtil::TimestampToNanoseconds(request.send_at()));
  if (far_outside || send_at < now + kMinScheduleAhead || send_at > now + kMaxScheduleAhead) {
    return ProviderError(
        absl::StatusCode::kInvalidArgument, error_codes::kSendAtOutsideWindow,
        "SendAt " + (far_outside ? std::string() : TimeUtil::ToString(request.send_at()) + " ") +
            "is " + absl::StrFormat("%.0f", seconds_ahead) + " s from now (" +
            TimeUtil::ToString(TimeUtil::NanosecondsToTimestamp(ToNanoseconds(now))) +
            " on the simulation clock); it must be between 900 s (15 minutes) and 3024000 s "
            "(35 days) ahead");
  }
  return absl::OkStatus();
}

void SendService::Send(const v1::Account& account, const v1::SendMessageRequest& request, Done done,
                       SendOptions options) {
  if (account.test_credentials()) {
    // Validated and answered; nothing stored, delivered or reported (no media fetched either:
    // the provider's test credentials do not fetch them).
    done(AnswerWithTestCredentials(account, request, MakeAdmissionContext()));
    return;
  }
  if (options.messaging_service_sid.empty()) {
    // Checked once, on the request as the application sent it (a service's send comes back here
    // with the service moved into `options`).
    if (auto scheduled = CheckSchedule(request); !scheduled.ok()) {
      stats_.refused.fetch_add(1, std::memory_order_relaxed);
      done(scheduled);
      return;
    }
  }
  if (!request.messaging_service_sid().empty()) {
    // The service picks the sender (unless From is given) and lends its status callback; the
    // rest is an ordinary send that records the service.
    v1::SendMessageRequest routed = request;
    routed.clear_messaging_service_sid();
    auto service = directory_.FindService(request.messaging_service_sid());
    if (!service || service->account_sid() != account.sid()) {
      stats_.refused.fetch_add(1, std::memory_order_relaxed);
      done(ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidMessagingService,
                         "MessagingServiceSid " + QuoteText(request.messaging_service_sid()) +
                             " is not a Messaging Service of account " + account.sid() +
                             "; create it first (Accounts.CreateMessagingService)"));
      return;
    }
    if (routed.from().empty()) {
      auto to = carriers::ParseValidNumber(request.to());
      const bool needs_mms = request.media_size() + request.media_url_size() > 0;
      auto picked =
          directory_.PickSender(*service, to ? to->e164 : "", to ? to->region : "", needs_mms);
      if (!picked.ok()) {
        stats_.refused.fetch_add(1, std::memory_order_relaxed);
        done(picked.status());
        return;
      }
      routed.set_from(picked->number);
      if (picked->new_sticky) options.new_sticky_recipient = to->e164;
    }
    if (routed.status_callback().empty()) routed.set_status_callback(service->status_callback());
    options.messaging_service_sid = service->sid();
    Send(account, routed, std::move(done), std::move(options));
    return;
  }
  if (metrics_ != nullptr) {
    done = [metrics = metrics_, started = std::chrono::steady_clock::now(),
            inner = std::move(done)](absl::StatusOr<v1::Message> result) mutable {
      metrics->admission.Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (!result.ok()) {
        metrics->refusals.Add({std::to_string(ProviderErrorCode(result.status()))});
      } else if (result->fallback_reason() != v1::NONE) {
        metrics->fallbacks.Add({v1::FallbackReason_Name(result->fallback_reason())});
      }
      inner(std::move(result));
    };
  }
  int64_t inline_bytes = 0;
  for (const auto& media : request.media()) {
    inline_bytes += static_cast<int64_t>(media.data().size());
  }
  if (inline_bytes > 0 && !ReserveMedia(inline_bytes, done)) return;
  if (request.media_url_size() == 0 && request.media_size() == 0) {
    // Nothing to fetch and no blob to look up: nothing here blocks, so no hop to another thread.
    AdmitAndStore(account, request, {}, std::move(done), options);
    return;
  }
  if (request.media_url_size() == 0) {
    boost::asio::post(storage_executor_,
                      [this, account, request, options, done = std::move(done)]() mutable {
                        AdmitAndStore(account, request, {}, std::move(done), options);
                      });
    return;
  }
  // Media URLs: check what needs no media first, so a doomed request costs no fetch.
  AdmissionContext context = MakeAdmissionContext();
  context.ignore_opt_outs = options.ignore_opt_outs;
  if (auto status = CheckEnvelope(account, request, context); !status.ok()) {
    stats_.refused.fetch_add(1, std::memory_order_relaxed);
    done(status);
    return;
  }
  mmsc::FetchOptions fetch;
  fetch.total_timeout = settings_.media_fetch_timeout;
  fetch.connect_timeout = std::min(fetch.connect_timeout, settings_.media_fetch_timeout);
  fetch.max_total_bytes = std::max<int64_t>(0, mmsc::kMaxTotalMediaBytes - inline_bytes);
  fetch.address_policy = settings_.media_address_policy;
  std::vector<std::string> urls(request.media_url().begin(), request.media_url().end());
  auto owned_request = std::make_shared<v1::SendMessageRequest>(request);
  mmsc::FetchMedia(io_, std::move(urls), fetch,
                   [this, account, owned_request, options, done = std::move(done)](
                       absl::StatusOr<std::vector<mmsc::FetchedMedia>> fetched) mutable {
                     if (!fetched.ok()) {
                       stats_.refused.fetch_add(1, std::memory_order_relaxed);
                       done(fetched.status());
                       return;
                     }
                     int64_t fetched_bytes = 0;
                     for (const auto& media : *fetched) {
                       fetched_bytes += media.data ? static_cast<int64_t>(media.data->size()) : 0;
                     }
                     if (fetched_bytes > 0 && !ReserveMedia(fetched_bytes, done)) return;
                     boost::asio::post(storage_executor_, [this, account, owned_request, options,
                                                           fetched = std::move(*fetched),
                                                           done = std::move(done)]() mutable {
                       AdmitAndStore(account, *owned_request, fetched, std::move(done), options);
                     });
                   });
}

bool SendService::AdaptThenAdmit(const v1::Account& account, const v1::SendMessageRequest& request,
                                 const std::vector<mmsc::FetchedMedia>& fetched,
                                 const AdmittedMessage& admitted, const AdmissionContext& context,
                                 Done& done, const SendOptions& options) {
  const v1::Carrier* carrier = context.number_plan->FindCarrier(admitted.message.carrier_id());
  if (carrier == nullptr || carrier->max_mms_bytes() <= 0) return false;
  std::vector<mmsc::MediaItem> items;
  bool any_image = false;
  for (const auto& media : admitted.media) {
    items.push_back({media.content_type, media.data});
    any_image = any_image || mmsc::IsAdaptableImage(media.content_type);
  }
  if (!any_image) return false;
  std::vector<std::string> filenames;
  for (const auto& media : admitted.message.media()) filenames.push_back(media.filename());
  auto owned_done = std::make_shared<Done>(std::move(done));
  const bool submitted = image_adapter_->Submit(
      [this, account, request, fetched = std::vector<mmsc::FetchedMedia>(fetched),
       items = std::move(items), filenames = std::move(filenames), limit = carrier->max_mms_bytes(),
       options, owned_done]() mutable {
        SendOptions next = options;
        next.adaptation_tried = true;
        auto adapted = mmsc::AdaptImages(items, limit);
        v1::SendMessageRequest rebuilt = request;
        if (adapted.ok()) {
          // The same message with the adapted bytes inline, in the same order.
          rebuilt.clear_media_url();
          rebuilt.clear_media();
          for (std::size_t i = 0; i < adapted->size(); ++i) {
            const auto& item = (*adapted)[i];
            auto* media = rebuilt.add_media();
            media->set_content_type(item.content_type);
            media->set_data(*item.data);
            media->set_filename(filenames[i]);
            const bool changed = item.data != items[i].data;
            next.originals.emplace_back(changed ? static_cast<int64_t>(items[i].data->size()) : 0,
                                        changed ? items[i].content_type : std::string());
          }
          fetched.clear();
        } else {
          // The provider's 30019 case: the SMS + link fallback stands.
          spdlog::debug("media not adapted to {} bytes: {}", limit,
                        std::string(adapted.status().message()));
        }
        boost::asio::post(storage_executor_, [this, account, rebuilt = std::move(rebuilt),
                                              fetched = std::move(fetched), next = std::move(next),
                                              owned_done]() mutable {
          AdmitAndStore(account, rebuilt, fetched, std::move(*owned_done), next);
        });
      });
  if (!submitted) {
    stats_.refused.fetch_add(1, std::memory_order_relaxed);
    (*owned_done)(
        ProviderError(absl::StatusCode::kResourceExhausted, error_codes::kQueueFull,
                      "too many images are being adapted to their carriers' size limits at once (" +
                          std::to_string(image_adapter_->max_waiting()) +
                          "); retry shortly, or send images within the carrier's max_mms_bytes"));
  }
  return true;
}

void SendService::AdmitAndStore(const v1::Account& account, const v1::SendMessageRequest& request,
                                const std::vector<mmsc::FetchedMedia>& fetched, Done done,
                                const SendOptions& options) {
  AdmissionContext context = MakeAdmissionContext();
  context.ignore_opt_outs = options.ignore_opt_outs;
  auto admitted = Admit(account, request, context, fetched);
  if (admitted.ok() && admitted->message.fallback_reason() == v1::OVER_CARRIER_SIZE_LIMIT &&
      image_adapter_ != nullptr && !options.adaptation_tried &&
      AdaptThenAdmit(account, request, fetched, *admitted, context, done, options)) {
    return;
  }
  if (admitted.ok()) {
    for (std::size_t i = 0; i < options.originals.size() &&
                            i < static_cast<std::size_t>(admitted->message.media_size());
         ++i) {
      if (options.originals[i].first == 0) continue;
      auto* media = admitted->message.mutable_media(static_cast<int>(i));
      media->set_original_size(options.originals[i].first);
      media->set_original_content_type(options.originals[i].second);
    }
    admitted->message.set_direction(options.direction);
    admitted->message.set_reply_to_sid(options.reply_to_sid);
    admitted->message.set_messaging_service_sid(options.messaging_service_sid);
    if (request.has_send_at()) {
      // Counted against its sender from its release (MessageLifecycle), not now.
      *admitted->message.mutable_send_at() = request.send_at();
    } else if (auto reserved = senders_.Reserve(admitted->message.from()); !reserved.ok()) {
      admitted = reserved;
    }
  }
  if (!admitted.ok()) {
    stats_.refused.fetch_add(1, std::memory_order_relaxed);
    done(admitted.status());
    return;
  }
  v1::Message& message = admitted->message;
  if (message.delivered_as() == v1::SMS_WITH_LINK) {
    if (auto node = fleet_.Node(message.carrier_id())) node->CountFallback();
  }
  const uint64_t sequence = next_sequence_.fetch_add(1, std::memory_order_relaxed);
  message.set_sequence(sequence);
  NewMessageExtras extras;
  extras.link_token = admitted->link_token;
  extras.media_expires_at_ns =
      message.media_size() > 0 ? ToNanoseconds(clock_.Now() + settings_.media_retention) : 0;

  auto batch = database_.NewBatch();
  // Read after the batch was made (a Reset bumps it before it clears the store): a message
  // stored before a Reset is not started after it.
  const uint64_t generation = lifecycle_.generation();
  std::vector<std::string> staged_blobs;
  v1::Message queued = MessageLifecycle::StoredAtAcceptance(admitted->message);
  absl::Status staged =
      StageAdmitted(media_store_, store_, *batch, *admitted, queued, extras, &staged_blobs);
  if (staged.ok()) {
    // Where the sequence resumes after a restart (batches may commit out of order; a restart
    // skips ahead past anything that could have been in flight).
    store_.StageNextSequence(*batch, sequence + 1);
    if (!options.new_sticky_recipient.empty()) {
      directory_.StageStickySender(*batch, options.messaging_service_sid,
                                   options.new_sticky_recipient, message.from());
    }
    directory_.StageUsage(*batch, message.account_sid(),
                          message.num_media() > 0 ? "mms-outbound" : "sms-outbound", 1,
                          message.num_segments(), 0);
  }
  auto fail = [this](const v1::Message& message, const absl::Status& status, Done& done) {
    if (!message.has_send_at()) senders_.Cancel(message.from());
    stats_.store_errors.fetch_add(1, std::memory_order_relaxed);
    done(status);
  };
  if (!staged.ok()) {
    media_store_.StagingDone(staged_blobs);
    fail(message, staged, done);
    return;
  }
  // The create answers the message as stored: QUEUED, the provider's initial status for a send
  // from a number.
  admitted->message = std::move(queued);
  auto owned = std::make_shared<AdmittedMessage>(std::move(*admitted));
  // The completion runs on the storage executor: releasing staged blobs takes their stripe
  // lock, and the reply may serialize a large message.
  database_.Commit(std::move(batch), storage_executor_,
                   [this, owned, generation, staged_blobs = std::move(staged_blobs), fail,
                    done = std::move(done)](absl::Status status) mutable {
                     media_store_.StagingDone(staged_blobs);
                     if (!status.ok()) {
                       // Not durable, so not accepted: the caller gets the error and may retry.
                       fail(owned->message, status, done);
                       return;
                     }
                     stats_.accepted.fetch_add(1, std::memory_order_relaxed);
                     if (owned->message.messaging_service_sid().empty() ||
                         owned->message.status() == v1::SCHEDULED) {
                       done(owned->message);
                     } else {
                       // A service's create answers accepted (the provider's initial status
                       // for it); QUEUED follows with its status callback.
                       v1::Message accepted = owned->message;
                       accepted.set_status(v1::ACCEPTED);
                       done(std::move(accepted));
                     }
                     lifecycle_.Start(std::move(owned->message), std::move(owned->media),
                                      generation);
                   });
}

}  // namespace mmsgate::gateway
