#include "mmsctl/commands.h"

#include <google/protobuf/util/time_util.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/time/time.h"
#include "mmsctl/format.h"

namespace mmsctl {

namespace {

using google::protobuf::util::TimeUtil;

bool IsFinal(v1::MessageStatus status) {
  return status == v1::DELIVERED || status == v1::UNDELIVERED || status == v1::FAILED ||
         status == v1::CANCELED;
}

std::string ContentTypeOf(const std::string& path) {
  const auto dot = path.rfind('.');
  std::string extension = dot == std::string::npos ? "" : path.substr(dot + 1);
  std::transform(extension.begin(), extension.end(), extension.begin(), ::tolower);
  static const std::map<std::string, std::string> kTypes = {
      {"png", "image/png"},      {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},      {"mp4", "video/mp4"},  {"3gp", "video/3gpp"},
      {"mp3", "audio/mpeg"},     {"txt", "text/plain"}, {"vcf", "text/vcard"},
      {"pdf", "application/pdf"}};
  const auto it = kTypes.find(extension);
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

// Adds --media arguments: URLs to media_url, @FILE as inline bytes. False (with the reason on
// stderr) for a file that cannot be read.
template <typename Request>
bool AddMedia(Request& request, const std::vector<std::string>& media,
              google::protobuf::RepeatedPtrField<std::string>* urls) {
  for (const auto& item : media) {
    if (!item.starts_with("@")) {
      if (urls == nullptr) {
        std::cerr << "mmsctl: --media " << item << ": only @FILE is possible here\n";
        return false;
      }
      *urls->Add() = item;
      continue;
    }
    const std::string path = item.substr(1);
    std::ifstream file(path, std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    if (!file) {
      std::cerr << "mmsctl: --media @" << path << ": cannot read " << path << "\n";
      return false;
    }
    auto* content = request.add_media();
    content->set_content_type(ContentTypeOf(path));
    content->set_data(bytes.str());
    content->set_filename(path.substr(path.rfind('/') + 1));
  }
  return true;
}

void PrintMessage(const v1::Message& message, bool colour) {
  auto row = [](const char* name, const std::string& value) {
    if (!value.empty())
      std::cout << name << std::string(15 - std::string(name).size(), ' ') << value << "\n";
  };
  row("sid", message.sid());
  row("status", Coloured(v1::MessageStatus_Name(message.status()), colour));
  if (message.error_code() != 0) {
    row("error", std::to_string(message.error_code()) + ": " + message.error_message() +
                     " (docs/errors.md#" + std::to_string(message.error_code()) + ")");
  }
  row("from", message.from());
  row("to", message.to());
  row("direction", v1::Direction_Name(message.direction()));
  row("body", message.body());
  if (message.delivered_as() != v1::DELIVERED_AS_UNSPECIFIED) {
    row("delivered as", v1::DeliveredAs_Name(message.delivered_as()));
  }
  if (message.fallback_reason() != v1::NONE) {
    row("fallback", v1::FallbackReason_Name(message.fallback_reason()));
  }
  if (message.delivered_text() != message.body()) row("delivered text", message.delivered_text());
  row("link", message.link_url());
  row("carrier", message.carrier_id());
  row("segments", std::to_string(message.num_segments()));
  for (const auto& media : message.media()) {
    row("media", media.sid() + " " + media.content_type() + " " + std::to_string(media.size()) +
                     " bytes sha256 " + media.sha256());
  }
  row("created", FormatTime(message.date_created()));
  row("sent", FormatTime(message.date_sent()));
  row("updated", FormatTime(message.date_updated()));
}

// Follows the accepted message on `reader` (an account-wide watch opened before it was sent, so
// no status is missed) to a final status: one line per status with the time spent in the one
// before (on a terminal, one line that grows). Returns the final message, or nullopt.
std::optional<v1::Message> FollowToFinal(Client& client, grpc::ClientContext& context,
                                         grpc::ClientReader<v1::Event>& reader,
                                         const v1::Message& accepted, double timeout_seconds,
                                         bool live) {
  const bool colour = UseColour();
  std::string trail;
  v1::MessageStatus last = v1::MESSAGE_STATUS_UNSPECIFIED;
  int64_t last_ns = TimeUtil::TimestampToNanoseconds(accepted.date_created());
  // Statuses only move forward (the table in gateway/core/lifecycle.h).
  auto rank = [](v1::MessageStatus status) { return IsFinal(status) ? 100 : int{status}; };
  std::optional<v1::Message> final_message;
  v1::Event event;
  while (reader.Read(&event)) {
    if (event.kind() != v1::Event::STATUS_CHANGED || event.message().sid() != accepted.sid()) {
      continue;
    }
    const auto& message = event.message();
    if (last != v1::MESSAGE_STATUS_UNSPECIFIED && rank(message.status()) <= rank(last)) continue;
    const int64_t at = TimeUtil::TimestampToNanoseconds(message.date_updated());
    const std::string name = v1::MessageStatus_Name(message.status());
    std::string step = Coloured(name, colour);
    if (last != v1::MESSAGE_STATUS_UNSPECIFIED) {
      step = " → " + step + " (+" + FormatSeconds(double(at - last_ns) / 1e9) + ")";
    }
    if (live) {
      trail += step;
      std::cerr << "\r" << trail << std::flush;
    } else {
      std::cerr << (last == v1::MESSAGE_STATUS_UNSPECIFIED ? "" : "  ") << step << "\n";
    }
    last = message.status();
    last_ns = at;
    if (IsFinal(message.status())) {
      final_message = message;
      context.TryCancel();
      break;
    }
  }
  if (live) std::cerr << "\n";
  const auto status = reader.Finish();
  if (!final_message && !status.ok() &&
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    std::cerr << "mmsctl: " << accepted.sid() << " was not final within " << timeout_seconds
              << " s (--wait-timeout); it is " << v1::MessageStatus_Name(last) << "\n";
  } else if (!final_message && !status.ok()) {
    Fail("watching " + accepted.sid(), status, client.target());
  }
  return final_message;
}

std::optional<int64_t> ParseWhen(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (auto ago = ParseDuration(text)) {
    return absl::ToUnixNanos(absl::Now()) - static_cast<int64_t>(*ago * 1e9);
  }
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &time, &error)) return absl::ToUnixNanos(time);
  return std::nullopt;
}

}  // namespace

int Send(Client& client, const SendOptions& options) {
  v1::SendMessageRequest request;
  // Through a service its pool picks the sender, unless --from was given.
  request.set_from(options.service.empty() || options.from != SendOptions().from ? options.from
                                                                                 : "");
  request.set_messaging_service_sid(options.service);
  request.set_to(options.to);
  request.set_body(options.body);
  request.set_status_callback(options.status_callback);
  request.set_validity_period_seconds(options.validity_period);
  if (!AddMedia(request, options.media, request.mutable_media_url())) return kExitUsage;
  if (!client.Connect()) return kExitNoConnection;
  if (!options.send_at.empty()) {
    request.set_schedule_type("fixed");
    if (const auto ahead = ParseDuration(options.send_at)) {
      // Ahead of the gateway's simulated present, which runs time_scale times faster than ours.
      v1::SimulationClock clock;
      auto clock_context = client.Context();
      const auto status =
          client.simulator().GetClock(clock_context.get(), v1::GetClockRequest(), &clock);
      if (!status.ok()) return Fail("reading the simulation clock", status, client.target());
      *request.mutable_send_at() = TimeUtil::NanosecondsToTimestamp(
          TimeUtil::TimestampToNanoseconds(clock.now()) + static_cast<int64_t>(*ahead * 1e9));
    } else if (!TimeUtil::FromString(options.send_at, request.mutable_send_at())) {
      std::cerr << "mmsctl: --send-at takes an RFC 3339 time (2026-12-04T15:30:00Z) or a "
                   "duration ahead on the simulation clock (20m, 2h); got "
                << options.send_at << "\n";
      return kExitUsage;
    }
  }
  // --wait: the watch is open before the send, so every status of the message is seen.
  std::unique_ptr<grpc::ClientContext> watch_context;
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader;
  if (options.wait) {
    watch_context = client.Context(/*streaming=*/true);
    watch_context->set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(options.wait_timeout * 1000)));
    reader = client.messaging().WatchEvents(watch_context.get(), v1::WatchEventsRequest());
    reader->WaitForInitialMetadata();  // The gateway answers it once the watch is registered.
  }
  v1::Message message;
  auto context = client.Context();
  const auto status = client.messaging().SendMessage(context.get(), request, &message);
  if (!status.ok()) {
    if (watch_context) {
      watch_context->TryCancel();
      (void)reader->Finish();
    }
    return Fail("send refused", status, client.target());
  }
  if (!options.wait) {
    if (options.json) {
      std::cout << ToJson(message) << "\n";
    } else {
      std::cout << message.sid() << " " << v1::MessageStatus_Name(message.status()) << "\n";
    }
    return kExitOk;
  }
  std::cerr << message.sid() << ": ";
  const auto final_message = FollowToFinal(client, *watch_context, *reader, message,
                                           options.wait_timeout, isatty(STDERR_FILENO) == 1);
  if (!final_message) return kExitRefused;
  if (options.json) {
    std::cout << ToJson(*final_message) << "\n";
  } else {
    PrintMessage(*final_message, UseColour());
  }
  if (final_message->status() == v1::DELIVERED) return kExitOk;
  std::cerr << "mmsctl: " << final_message->sid() << " "
            << v1::MessageStatus_Name(final_message->status()) << ": error "
            << final_message->error_code() << ": " << final_message->error_message()
            << "\n  see docs/errors.md#" << final_message->error_code() << "\n";
  return kExitRefused;
}

int Get(Client& client, const std::string& sid, bool json) {
  if (!client.Connect()) return kExitNoConnection;
  v1::GetMessageRequest request;
  request.set_sid(sid);
  v1::Message message;
  auto context = client.Context();
  const auto status = client.messaging().GetMessage(context.get(), request, &message);
  if (!status.ok()) return Fail("get " + sid, status, client.target());
  if (json) {
    std::cout << ToJson(message) << "\n";
  } else {
    PrintMessage(message, UseColour());
  }
  return kExitOk;
}

int Cancel(Client& client, const std::string& sid, bool json) {
  if (!client.Connect()) return kExitNoConnection;
  v1::CancelMessageRequest request;
  request.set_sid(sid);
  v1::Message message;
  auto context = client.Context();
  const auto status = client.messaging().CancelMessage(context.get(), request, &message);
  if (!status.ok()) return Fail("cancel " + sid, status, client.target());
  if (json) {
    std::cout << ToJson(message) << "\n";
  } else {
    std::cout << message.sid() << " " << v1::MessageStatus_Name(message.status()) << "\n";
  }
  return kExitOk;
}

int List(Client& client, const ListOptions& options) {
  v1::ListMessagesRequest request;
  request.set_from(options.from);
  request.set_to(options.to);
  if (!options.status.empty()) {
    std::string upper = options.status;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    v1::MessageStatus status;
    if (!v1::MessageStatus_Parse(upper, &status) || status == v1::MESSAGE_STATUS_UNSPECIFIED) {
      std::cerr << "mmsctl: --status " << options.status
                << ": not a status (accepted, queued, sending, sent, delivered, undelivered, "
                   "failed, receiving, received)\n";
      return kExitUsage;
    }
    request.set_status(status);
  }
  std::optional<v1::Direction> direction;
  if (!options.direction.empty()) {
    std::string upper = options.direction;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    if (upper == "OUTBOUND") upper = "OUTBOUND_API";
    v1::Direction parsed;
    if (!v1::Direction_Parse(upper, &parsed) || parsed == v1::DIRECTION_UNSPECIFIED) {
      std::cerr << "mmsctl: --direction " << options.direction << ": inbound or outbound\n";
      return kExitUsage;
    }
    direction = parsed;
  }
  const auto since = ParseWhen(options.since);
  const auto until = ParseWhen(options.until);
  if ((!options.since.empty() && !since) || (!options.until.empty() && !until)) {
    std::cerr << "mmsctl: --since/--until take an RFC 3339 time (2026-12-03T07:00:00Z) or a "
                 "duration ago (10m, 2h)\n";
    return kExitUsage;
  }
  if (!client.Connect()) return kExitNoConnection;
  std::vector<v1::Message> messages;
  std::string page_token;
  do {
    request.set_page_size(std::min(options.limit, 1000));
    request.set_page_token(page_token);
    v1::ListMessagesResponse page;
    auto context = client.Context();
    const auto status = client.messaging().ListMessages(context.get(), request, &page);
    if (!status.ok()) return Fail("list", status, client.target());
    for (auto& message : *page.mutable_messages()) {
      const int64_t created = TimeUtil::TimestampToNanoseconds(message.date_created());
      if (direction && message.direction() != *direction) continue;
      if (since && created < *since) continue;
      if (until && created > *until) continue;
      if (static_cast<int>(messages.size()) < options.limit) messages.push_back(std::move(message));
    }
    page_token = page.next_page_token();
  } while (!page_token.empty() && static_cast<int>(messages.size()) < options.limit);
  if (options.json) {
    std::cout << "[";
    for (std::size_t i = 0; i < messages.size(); ++i) {
      std::cout << (i == 0 ? "\n  " : ",\n  ") << ToJson(messages[i]);
    }
    std::cout << (messages.empty() ? "]\n" : "\n]\n");
    return kExitOk;
  }
  Table table({"SID", "STATUS", "FROM", "TO", "AS", "CARRIER", "CREATED", "BODY"}, 7,
              /*drop_order=*/{6, 5, 4, 2});
  for (const auto& m : messages) {
    table.Add(
        {m.sid(), v1::MessageStatus_Name(m.status()), m.from(), m.to(),
         m.delivered_as() == v1::DELIVERED_AS_UNSPECIFIED ? "-"
                                                          : v1::DeliveredAs_Name(m.delivered_as()),
         m.carrier_id().empty() ? "-" : m.carrier_id(), FormatTime(m.date_created()), m.body()});
  }
  std::cout << table.Render(TerminalWidth(), UseColour(), 1);
  if (messages.empty()) std::cout << "(no messages)\n";
  return kExitOk;
}

int Watch(Client& client, const WatchOptions& options) {
  std::vector<v1::MessageStatus> statuses;
  for (const auto& name : options.statuses) {
    std::string upper = name;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    v1::MessageStatus status;
    if (!v1::MessageStatus_Parse(upper, &status)) {
      std::cerr << "mmsctl: --status " << name << ": not a status\n";
      return kExitUsage;
    }
    statuses.push_back(status);
  }
  if (!client.Connect()) return kExitNoConnection;
  auto context = client.Context(/*streaming=*/true);
  v1::WatchEventsRequest request;
  for (const auto& sid : options.sids) request.add_message_sids(sid);
  request.set_send_current(!options.sids.empty());
  auto reader = client.messaging().WatchEvents(context.get(), request);
  const bool colour = UseColour();
  int seen = 0;
  v1::Event event;
  while (reader->Read(&event)) {
    const auto& m = event.message();
    if (!statuses.empty() &&
        std::find(statuses.begin(), statuses.end(), m.status()) == statuses.end()) {
      continue;
    }
    if (options.json) {
      std::cout << ToJson(event) << std::endl;
    } else {
      std::cout << FormatTime(event.time()) << "  "
                << (event.kind() == v1::Event::INBOUND_RECEIVED ? "INBOUND " : "") << m.sid()
                << "  " << Coloured(v1::MessageStatus_Name(m.status()), colour) << "  " << m.from()
                << " → " << m.to();
      if (m.error_code() != 0)
        std::cout << "  error " << m.error_code() << ": " << m.error_message();
      std::cout << std::endl;
    }
    if (options.count > 0 && ++seen >= options.count) {
      context->TryCancel();
      break;
    }
  }
  const auto status = reader->Finish();
  if (options.count > 0 && seen >= options.count) return kExitOk;
  return status.ok() ? kExitOk : Fail("watch", status, client.target());
}

int Inbox(Client& client, const std::string& number, bool json, bool links_only) {
  if (!client.Connect()) return kExitNoConnection;
  v1::GetHandsetInboxRequest request;
  request.set_number(number);
  v1::HandsetInbox inbox;
  auto context = client.Context();
  const auto status = client.simulator().GetHandsetInbox(context.get(), request, &inbox);
  if (!status.ok()) return Fail("inbox " + number, status, client.target());
  if (json) {
    std::cout << ToJson(inbox) << "\n";
    return kExitOk;
  }
  if (links_only) {
    for (const auto& m : inbox.messages()) {
      std::istringstream text(m.text());
      for (std::string word; text >> word;) {
        if (word.starts_with("http://") || word.starts_with("https://")) std::cout << word << "\n";
      }
    }
    return kExitOk;
  }
  std::cout << inbox.number() << ": " << inbox.messages_size() << " message(s)\n";
  for (const auto& m : inbox.messages()) {
    std::cout << "\n"
              << FormatTime(m.received_at()) << "  from " << m.from() << "  "
              << v1::HandsetMessage::Kind_Name(m.kind()) << "  via " << m.carrier_id() << "  ("
              << m.message_sid() << ")\n";
    // The text as the phone shows it, link included, on its own lines.
    std::istringstream text(m.text());
    for (std::string line; std::getline(text, line);) std::cout << "  " << line << "\n";
    for (const auto& media : m.media()) {
      std::cout << "  [" << media.content_type() << ", " << media.size() << " bytes, sha256 "
                << media.sha256().substr(0, 16) << "…]\n";
    }
  }
  return kExitOk;
}

int Carriers(Client& client, bool json, double watch_seconds) {
  if (!client.Connect()) return kExitNoConnection;
  const bool terminal = isatty(STDOUT_FILENO) == 1;
  while (true) {
    v1::ListCarriersResponse response;
    auto context = client.Context();
    const auto status =
        client.simulator().ListCarriers(context.get(), v1::ListCarriersRequest(), &response);
    if (!status.ok()) return Fail("carriers", status, client.target());
    if (json) {
      std::cout << ToJson(response) << std::endl;
    } else {
      Table table({"ID", "NAME", "COUNTRY", "MMS", "SUBMITTED", "DELIVERED", "UNDELIVERED",
                   "QUEUED", "P50 MS", "P99 MS", "FAULTS"},
                  10, /*drop_order=*/{1, 2, 6, 8, 9});
      for (const auto& state : response.carriers()) {
        const auto& c = state.carrier();
        const auto& s = state.stats();
        int64_t undelivered = 0;
        for (const auto& [code, n] : s.undelivered_by_code()) undelivered += n;
        std::string faults;
        for (const auto& active : state.faults()) {
          std::string kind = v1::CarrierFault::Kind_Name(active.fault().kind());
          if (active.fault().kind() == v1::CarrierFault::EXTRA_LATENCY) {
            kind += " +" + FormatSeconds(active.fault().extra_latency_ms() / 1000);
          } else if (active.fault().kind() == v1::CarrierFault::EXTRA_LOSS) {
            char loss[32];
            std::snprintf(loss, sizeof loss, " %.0f%%", active.fault().extra_loss() * 100);
            kind += loss;
          }
          faults += (faults.empty() ? "" : ", ") + kind + " (" +
                    FormatSeconds(active.remaining_seconds()) + " left)";
        }
        char p50[32], p99[32];
        std::snprintf(p50, sizeof p50, "%.0f", s.latency_p50_ms());
        std::snprintf(p99, sizeof p99, "%.0f", s.latency_p99_ms());
        table.Add({c.id(), c.name(), c.country(), c.supports_mms() ? "yes" : "no",
                   std::to_string(s.submitted()), std::to_string(s.delivered()),
                   std::to_string(undelivered), std::to_string(s.queued_now()), p50, p99,
                   faults.empty() ? "-" : faults});
      }
      if (watch_seconds > 0 && terminal) std::cout << "\033[H\033[2J";
      std::cout << table.Render(TerminalWidth());
      std::cout.flush();
    }
    if (watch_seconds <= 0) return kExitOk;
    std::this_thread::sleep_for(
        std::chrono::milliseconds(static_cast<int64_t>(watch_seconds * 1000)));
  }
}

int Fault(Client& client, const FaultOptions& options) {
  v1::SetCarrierFaultRequest request;
  request.set_carrier_id(options.carrier);
  auto* fault = request.mutable_fault();
  int chosen = 0;
  std::string duration_text;
  if (!options.outage.empty()) {
    ++chosen;
    fault->set_kind(v1::CarrierFault::OUTAGE);
    duration_text = options.outage;
  }
  if (!options.no_mms.empty()) {
    ++chosen;
    fault->set_kind(v1::CarrierFault::MMS_UNSUPPORTED);
    duration_text = options.no_mms;
  }
  if (!options.latency.empty()) {
    ++chosen;
    fault->set_kind(v1::CarrierFault::EXTRA_LATENCY);
    const auto extra = ParseDuration(
        options.latency[0].starts_with("+") ? options.latency[0].substr(1) : options.latency[0]);
    if (!extra || options.latency.size() != 2) {
      std::cerr << "mmsctl: --latency takes the added latency and the duration, e.g. --latency "
                   "+800ms 2m\n";
      return kExitUsage;
    }
    fault->set_extra_latency_ms(*extra * 1000);
    duration_text = options.latency[1];
  }
  if (!options.loss.empty()) {
    ++chosen;
    fault->set_kind(v1::CarrierFault::EXTRA_LOSS);
    char* end = nullptr;
    const double loss = std::strtod(options.loss[0].c_str(), &end);
    if (options.loss.size() != 2 || *end != '\0' || !(loss > 0 && loss <= 1)) {
      std::cerr << "mmsctl: --loss takes a probability in (0, 1] and the duration, e.g. --loss "
                   "0.2 1m\n";
      return kExitUsage;
    }
    fault->set_extra_loss(loss);
    duration_text = options.loss[1];
  }
  if (chosen != 1) {
    std::cerr << "mmsctl: fault: give exactly one of --outage, --no-mms, --latency, --loss\n";
    return kExitUsage;
  }
  const auto duration = ParseDuration(duration_text);
  if (!duration || *duration <= 0) {
    std::cerr << "mmsctl: fault: " << duration_text
              << " is not a duration (simulated time: 90s, 5m, 1h)\n";
    return kExitUsage;
  }
  fault->set_duration_seconds(*duration);
  if (!client.Connect()) return kExitNoConnection;
  v1::CarrierState state;
  auto context = client.Context();
  const auto status = client.simulator().SetCarrierFault(context.get(), request, &state);
  if (!status.ok()) return Fail("fault " + options.carrier, status, client.target());
  if (options.json) {
    std::cout << ToJson(state) << "\n";
  } else {
    std::cout << options.carrier << ": " << v1::CarrierFault::Kind_Name(fault->kind()) << " for "
              << FormatSeconds(*duration) << " (simulated); " << state.faults_size()
              << " fault(s) active\n";
  }
  return kExitOk;
}

int HandsetSend(Client& client, const HandsetSendOptions& options) {
  v1::HandsetSend request;
  request.set_from(options.from);
  request.set_to(options.to);
  request.set_body(options.body);
  if (!AddMedia(request, options.media, nullptr)) return kExitUsage;
  if (!client.Connect()) return kExitNoConnection;
  v1::Message message;
  auto context = client.Context();
  const auto status = client.simulator().SendFromHandset(context.get(), request, &message);
  if (!status.ok()) return Fail("handset send refused", status, client.target());
  if (options.json) {
    std::cout << ToJson(message) << "\n";
  } else {
    std::cout << message.sid() << " " << v1::MessageStatus_Name(message.status()) << "\n";
  }
  return kExitOk;
}

int Numbers(Client& client, const NumbersOptions& options) {
  if (!options.action.empty() && options.number.empty()) {
    std::cerr << "mmsctl: numbers " << options.action << " needs a NUMBER\n";
    return kExitUsage;
  }
  v1::NumberType type = v1::LONG_CODE;
  if (options.type == "short-code") {
    type = v1::SHORT_CODE;
  } else if (options.type == "toll-free") {
    type = v1::TOLL_FREE;
  } else if (options.type != "long-code") {
    std::cerr << "mmsctl: --type " << options.type << ": long-code, short-code or toll-free\n";
    return kExitUsage;
  }
  if (!client.Connect()) return kExitNoConnection;
  auto context = client.Context();
  v1::Number number;
  grpc::Status status;
  if (options.action == "provision") {
    v1::ProvisionNumberRequest request;
    auto* wanted = request.mutable_number();
    wanted->set_number(options.number);
    wanted->set_type(type);
    wanted->set_country(options.country);
    wanted->mutable_capabilities()->set_sms(true);
    wanted->mutable_capabilities()->set_mms(options.mms);
    wanted->set_sms_url(options.sms_url);
    wanted->set_status_callback(options.status_callback);
    status = client.accounts().ProvisionNumber(context.get(), request, &number);
  } else if (options.action == "update") {
    v1::UpdateNumberRequest request;
    request.set_number(options.number);
    request.set_sms_url(options.sms_url);
    request.set_status_callback(options.status_callback);
    status = client.accounts().UpdateNumber(context.get(), request, &number);
  } else if (options.action == "enable-mms") {
    v1::EnableShortCodeMmsRequest request;
    request.set_number(options.number);
    status = client.accounts().EnableShortCodeMms(context.get(), request, &number);
  } else if (options.action == "release") {
    v1::ReleaseNumberRequest request;
    request.set_number(options.number);
    v1::ReleaseNumberResponse response;
    status = client.accounts().ReleaseNumber(context.get(), request, &response);
    if (!status.ok()) return Fail("release " + options.number, status, client.target());
    std::cout << options.number << " released\n";
    return kExitOk;
  } else {
    v1::ListNumbersResponse response;
    status = client.accounts().ListNumbers(context.get(), v1::ListNumbersRequest(), &response);
    if (!status.ok()) return Fail("numbers", status, client.target());
    if (options.json) {
      std::cout << ToJson(response) << "\n";
      return kExitOk;
    }
    Table table({"NUMBER", "TYPE", "COUNTRY", "SMS", "MMS", "SMS URL", "STATUS CALLBACK"}, 5);
    for (const auto& n : response.numbers()) {
      table.Add({n.number(), v1::NumberType_Name(n.type()), n.country(),
                 n.capabilities().sms() ? "yes" : "no", n.capabilities().mms() ? "yes" : "no",
                 n.sms_url().empty() ? "-" : n.sms_url(),
                 n.status_callback().empty() ? "-" : n.status_callback()});
    }
    std::cout << table.Render(TerminalWidth());
    return kExitOk;
  }
  if (!status.ok()) return Fail(options.action + " " + options.number, status, client.target());
  if (options.json) {
    std::cout << ToJson(number) << "\n";
  } else {
    std::cout << number.number() << "  " << v1::NumberType_Name(number.type()) << "  "
              << number.country() << "  sms " << (number.capabilities().sms() ? "yes" : "no")
              << "  mms " << (number.capabilities().mms() ? "yes" : "no") << "\n";
  }
  return kExitOk;
}

int Services(Client& client, const ServicesOptions& options) {
  const std::size_t needed = options.action.empty()                                  ? 0
                             : options.action == "add" || options.action == "remove" ? 2
                                                                                     : 1;
  if (options.args.size() != needed) {
    std::cerr << "mmsctl: services " << options.action << " takes " << needed
              << " argument(s); see mmsctl services --help\n";
    return kExitUsage;
  }
  if (!client.Connect()) return kExitNoConnection;
  auto context = client.Context();
  grpc::Status status;
  v1::MessagingService service;
  if (options.action.empty()) {
    v1::ListMessagingServicesResponse response;
    status = client.accounts().ListMessagingServices(context.get(),
                                                     v1::ListMessagingServicesRequest(), &response);
    if (!status.ok()) return Fail("services", status, client.target());
    if (options.json) {
      std::cout << ToJson(response) << "\n";
      return kExitOk;
    }
    Table table({"SID", "NAME", "STICKY", "NUMBERS"}, 3);
    for (const auto& s : response.services()) {
      std::string numbers;
      for (const auto& n : s.numbers()) numbers += (numbers.empty() ? "" : " ") + n;
      table.Add({s.sid(), s.friendly_name(), s.sticky_sender() ? "yes" : "no",
                 numbers.empty() ? "-" : numbers});
    }
    std::cout << table.Render(TerminalWidth());
    return kExitOk;
  }
  if (options.action == "create") {
    v1::MessagingService wanted;
    wanted.set_friendly_name(options.args[0]);
    wanted.set_sticky_sender(options.sticky);
    for (const auto& number : options.numbers) wanted.add_numbers(number);
    status = client.accounts().CreateMessagingService(context.get(), wanted, &service);
  } else if (options.action == "delete") {
    v1::DeleteMessagingServiceRequest request;
    request.set_messaging_service_sid(options.args[0]);
    v1::DeleteMessagingServiceResponse response;
    status = client.accounts().DeleteMessagingService(context.get(), request, &response);
    if (!status.ok()) return Fail("services delete", status, client.target());
    std::cout << options.args[0] << " deleted\n";
    return kExitOk;
  } else {
    v1::ServiceNumberRequest request;
    request.set_messaging_service_sid(options.args[0]);
    request.set_number(options.args[1]);
    status = options.action == "add"
                 ? client.accounts().AddServiceNumber(context.get(), request, &service)
                 : client.accounts().RemoveServiceNumber(context.get(), request, &service);
  }
  if (!status.ok()) return Fail("services " + options.action, status, client.target());
  if (options.json) {
    std::cout << ToJson(service) << "\n";
  } else {
    std::cout << service.sid() << "  " << service.friendly_name() << "  " << service.numbers_size()
              << " numbers\n";
  }
  return kExitOk;
}

int OptOuts(Client& client, const OptOutsOptions& options) {
  if (!options.action.empty() && (options.number.empty() || options.subscriber.empty())) {
    std::cerr << "mmsctl: optouts " << options.action << " needs NUMBER and SUBSCRIBER\n";
    return kExitUsage;
  }
  if (!client.Connect()) return kExitNoConnection;
  auto context = client.Context();
  if (options.action.empty()) {
    v1::ListOptOutsRequest request;
    request.set_number(options.number);
    v1::ListOptOutsResponse response;
    const grpc::Status status = client.accounts().ListOptOuts(context.get(), request, &response);
    if (!status.ok()) return Fail("optouts", status, client.target());
    if (options.json) {
      std::cout << ToJson(response) << "\n";
      return kExitOk;
    }
    Table table({"NUMBER", "SUBSCRIBER", "KEYWORD", "SINCE"}, 3);
    for (const auto& opt_out : response.opt_outs()) {
      table.Add({opt_out.number(), opt_out.subscriber(), opt_out.keyword(),
                 FormatTime(opt_out.date_updated())});
    }
    std::cout << table.Render(TerminalWidth());
    return kExitOk;
  }
  v1::SetOptOutRequest request;
  request.set_number(options.number);
  request.set_subscriber(options.subscriber);
  request.set_opted_out(options.action == "out");
  v1::OptOut opt_out;
  const grpc::Status status = client.accounts().SetOptOut(context.get(), request, &opt_out);
  if (!status.ok()) {
    return Fail("optouts " + options.action + " " + options.number, status, client.target());
  }
  if (options.json) {
    std::cout << ToJson(opt_out) << "\n";
  } else {
    std::cout << opt_out.subscriber() << (opt_out.opted_out() ? " opted out of " : " opted in to ")
              << opt_out.number() << "\n";
  }
  return kExitOk;
}

int Settings(Client& client, const std::string& international_conversion,
             const std::string& media_auth, bool json) {
  if (!client.Connect()) return kExitNoConnection;
  v1::Account account;
  auto context = client.Context();
  grpc::Status status =
      client.accounts().GetAccount(context.get(), v1::GetAccountRequest(), &account);
  if (status.ok() && (!international_conversion.empty() || !media_auth.empty())) {
    // The update replaces every setting: start from the current ones.
    v1::UpdateAccountSettingsRequest request;
    *request.mutable_settings() = account.settings();
    if (!international_conversion.empty()) {
      request.mutable_settings()->set_disable_international_mms_conversion(
          international_conversion == "off");
    }
    if (!media_auth.empty()) request.mutable_settings()->set_enforce_media_auth(media_auth == "on");
    auto update_context = client.Context();
    status = client.accounts().UpdateAccountSettings(update_context.get(), request, &account);
  }
  if (!status.ok()) return Fail("settings", status, client.target());
  if (json) {
    account.clear_auth_token();  // Never echo a credential.
    std::cout << ToJson(account) << "\n";
    return kExitOk;
  }
  std::cout << "account                      " << account.sid() << "\n"
            << "name                         " << account.friendly_name() << "\n"
            << "international MMS conversion "
            << (account.settings().disable_international_mms_conversion()
                    ? "off (MMS outside the US and Canada are refused, 30011)"
                    : "on (MMS outside the US and Canada go as SMS with a link)")
            << "\n"
            << "media auth                   "
            << (account.settings().enforce_media_auth()
                    ? "on (media content needs the account's credentials)"
                    : "off (media content URLs are public)")
            << "\n";
  return kExitOk;
}

int Usage(Client& client, bool json) {
  if (!client.Connect()) return kExitNoConnection;
  auto context = client.Context();
  v1::Usage usage;
  const auto status = client.accounts().GetUsage(context.get(), v1::GetUsageRequest(), &usage);
  if (!status.ok()) return Fail("usage", status, client.target());
  if (json) {
    std::cout << ToJson(usage) << "\n";
    return kExitOk;
  }
  Table table({"CATEGORY", "COUNT", "SEGMENTS", "PRICE"});
  for (const auto& entry : usage.entries()) {
    char price[32];
    std::snprintf(price, sizeof price, "$%.2f", double(entry.price_cents()) / 100);
    table.Add(
        {entry.category(), std::to_string(entry.count()), std::to_string(entry.segments()), price});
  }
  std::cout << table.Render(TerminalWidth());
  return kExitOk;
}

std::string BashCompletion() {
  return R"(# bash completion for mmsctl: source <(mmsctl completion bash)
_mmsctl() {
  local cur prev words cword
  _init_completion 2>/dev/null || { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; }
  local commands="send get cancel list watch inbox carriers fault handset numbers services optouts settings usage completion"
  local common="--addr --account --token --admin-token --timeout --json --help"
  local command=${COMP_WORDS[1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur")); return
  fi
  case "$command" in
    send) COMPREPLY=($(compgen -W "--from --to --service --send-at --body --media --status-callback --validity-period --wait --wait-timeout $common" -- "$cur")) ;;
    list) COMPREPLY=($(compgen -W "--status --from --to --direction --since --until --limit $common" -- "$cur")) ;;
    watch) COMPREPLY=($(compgen -W "--sid --status --count $common" -- "$cur")) ;;
    carriers) COMPREPLY=($(compgen -W "--watch $common" -- "$cur")) ;;
    fault) COMPREPLY=($(compgen -W "--outage --no-mms --latency --loss $common" -- "$cur")) ;;
    handset) COMPREPLY=($(compgen -W "send --from --to --body --media $common" -- "$cur")) ;;
    numbers) COMPREPLY=($(compgen -W "provision update enable-mms release --type --country --mms --sms-url --status-callback $common" -- "$cur")) ;;
    settings) COMPREPLY=($(compgen -W "--international-mms-conversion $common" -- "$cur")) ;;
    completion) COMPREPLY=($(compgen -W "bash" -- "$cur")) ;;
    *) COMPREPLY=($(compgen -W "$common" -- "$cur")) ;;
  esac
  [ "$prev" = --media ] && COMPREPLY=($(compgen -f -- "${cur#@}" | sed 's/^/@/'))
}
complete -F _mmsctl mmsctl
)";
}

}  // namespace mmsctl
