#include "gateway/core/send_service.h"

#include <boost/asio/post.hpp>

#include "carriers/base/errors.h"
#include "carriers/base/text.h"
#include "carriers/phone_numbers.h"
#include "mmsc/media_fetcher.h"

namespace mmsgate::gateway {

namespace v1 = mmsgate::v1;

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

void SendService::Send(const v1::Account& account, const v1::SendMessageRequest& request, Done done,
                       SendOptions options) {
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

void SendService::AdmitAndStore(const v1::Account& account, const v1::SendMessageRequest& request,
                                const std::vector<mmsc::FetchedMedia>& fetched, Done done,
                                const SendOptions& options) {
  AdmissionContext context = MakeAdmissionContext();
  context.ignore_opt_outs = options.ignore_opt_outs;
  auto admitted = Admit(account, request, context, fetched);
  if (admitted.ok()) {
    admitted->message.set_direction(options.direction);
    admitted->message.set_reply_to_sid(options.reply_to_sid);
    admitted->message.set_messaging_service_sid(options.messaging_service_sid);
    if (auto reserved = senders_.Reserve(admitted->message.from()); !reserved.ok()) {
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
    senders_.Cancel(message.from());
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
                   [this, owned, staged_blobs = std::move(staged_blobs), fail,
                    done = std::move(done)](absl::Status status) mutable {
                     media_store_.StagingDone(staged_blobs);
                     if (!status.ok()) {
                       // Not durable, so not accepted: the caller gets the error and may retry.
                       fail(owned->message, status, done);
                       return;
                     }
                     stats_.accepted.fetch_add(1, std::memory_order_relaxed);
                     if (owned->message.messaging_service_sid().empty()) {
                       done(owned->message);
                     } else {
                       // A service's create answers accepted (the provider's initial status
                       // for it); QUEUED follows with its status callback.
                       v1::Message accepted = owned->message;
                       accepted.set_status(v1::ACCEPTED);
                       done(std::move(accepted));
                     }
                     lifecycle_.Start(std::move(owned->message), std::move(owned->media));
                   });
}

}  // namespace mmsgate::gateway
