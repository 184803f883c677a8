#include "gateway/api/api_chaos.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <cmath>

#include "carriers/base/errors.h"
#include "mmsgate/v1/accounts.pb.h"
#include "mmsgate/v1/messaging.pb.h"

namespace mmsgate::gateway {
namespace {

namespace v1 = mmsgate::v1;

constexpr std::string_view kPackage = "mmsgate.v1.";
constexpr double kMaxDurationSeconds = 86400;
constexpr int64_t kMaxLatencyMs = 60000;

absl::Status Invalid(const std::string& message) {
  return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kInvalidParameter,
                       "ApiChaos." + message);
}

// The services chaos covers: what a client of the provider calls (the Simulator is the test's
// own control panel, and chaos on it would only get in the way of turning chaos off).
std::vector<const google::protobuf::ServiceDescriptor*> ClientServices() {
  return {v1::SendMessageRequest::descriptor()->file()->FindServiceByName("Messaging"),
          v1::GetAccountRequest::descriptor()->file()->FindServiceByName("Accounts")};
}

// "SendMessage", "Messaging/SendMessage", "mmsgate.v1.Messaging/SendMessage" (with or without a
// leading slash) → the canonical name; nullopt for anything else.
std::optional<std::string> CanonicalRpc(std::string_view name) {
  if (name.starts_with('/')) name.remove_prefix(1);
  std::string_view service_name;
  std::string_view method_name = name;
  if (const auto slash = name.find('/'); slash != std::string_view::npos) {
    service_name = name.substr(0, slash);
    method_name = name.substr(slash + 1);
    if (service_name.starts_with(kPackage)) service_name.remove_prefix(kPackage.size());
  }
  for (const auto* service : ClientServices()) {
    if (service == nullptr) continue;
    if (!service_name.empty() && service->name() != service_name) continue;
    if (service->FindMethodByName(std::string(method_name)) != nullptr) {
      return ApiChaos::RpcName(service->name(), method_name);
    }
  }
  return std::nullopt;
}

// "[VERB ]/2010-04-01/Accounts/{AccountSid}/…" → the canonical route (verbless when given
// without a verb); nullopt for anything else.
std::optional<std::string> CanonicalRoute(std::string_view name) {
  std::string_view verb;
  if (const auto space = name.find(' '); space != std::string_view::npos) {
    verb = name.substr(0, space);
    name = name.substr(space + 1);
    if (verb != "GET" && verb != "HEAD" && verb != "POST" && verb != "DELETE") return std::nullopt;
  }
  std::string route = ApiChaos::RestRouteName("X", name);
  if (route.empty()) return std::nullopt;
  route.erase(0, 2);  // "X "
  return verb.empty() ? route : std::string(verb) + " " + route;
}

int DefaultCode(int http_status) {
  if (http_status == 401) return error_codes::kAuthenticationFailed;
  return 20000 + http_status;  // the provider's 20404, 20429, 20500, 20503, ...
}

absl::StatusCode GrpcCodeFor(int http_status) {
  switch (http_status) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kAborted;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 502:
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return http_status < 500 ? absl::StatusCode::kFailedPrecondition
                               : absl::StatusCode::kInternal;
  }
}

std::string Reason(int http_status) {
  switch (http_status) {
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "HTTP " + std::to_string(http_status);
  }
}

}  // namespace

ApiChaos::ApiChaos(const Clock& clock, uint64_t seed)
    : clock_(clock), random_(seed ^ 0x6368616f73ULL /* "chaos": its own stream */) {}

std::string ApiChaos::RpcName(std::string_view service, std::string_view method) {
  std::string name(kPackage);
  name.append(service).append("/").append(method);
  return name;
}

std::string ApiChaos::RestRouteName(std::string_view verb, std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const auto part = path.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  if (parts.size() < 4 || parts[0] != "2010-04-01" || parts[1] != "Accounts") return "";
  const std::vector<std::string_view> rest(parts.begin() + 3, parts.end());
  std::string route;
  if (rest.size() == 1 && (rest[0] == "Messages.json" || rest[0] == "IncomingPhoneNumbers.json")) {
    route = std::string(rest[0]);
  } else if (rest.size() == 2 && (rest[0] == "Messages" || rest[0] == "IncomingPhoneNumbers") &&
             rest[1].ends_with(".json")) {
    route = std::string(rest[0]) + "/{Sid}.json";
  } else if (rest.size() == 3 && rest[0] == "Messages" && rest[2] == "Media.json") {
    route = "Messages/{MessageSid}/Media.json";
  } else if (rest.size() == 4 && rest[0] == "Messages" && rest[2] == "Media" &&
             rest[3].ends_with(".json")) {
    route = "Messages/{MessageSid}/Media/{Sid}.json";
  } else {
    return "";
  }
  return std::string(verb) + " /2010-04-01/Accounts/{AccountSid}/" + route;
}

absl::StatusOr<std::vector<v1::ActiveApiChaos>> ApiChaos::Set(const v1::ApiChaos& chaos) {
  v1::ApiChaos entry = chaos;
  const std::string& method = chaos.method();
  if (method == "*") {
    // as is
  } else if (auto rpc = CanonicalRpc(method)) {
    entry.set_method(*rpc);
  } else if (auto route = CanonicalRoute(method)) {
    entry.set_method(*route);
  } else {
    return Invalid("method \"" + method.substr(0, 120) +
                   "\" is not an RPC of the Messaging or Accounts service (\"SendMessage\"), a "
                   "REST route (\"POST /2010-04-01/Accounts/{AccountSid}/Messages.json\") or "
                   "\"*\"");
  }
  if (!(chaos.probability() >= 0 && chaos.probability() <= 1)) {
    return Invalid("probability must be between 0 and 1, not " +
                   std::to_string(chaos.probability()));
  }
  if (chaos.http_status() != 0 && (chaos.http_status() < 400 || chaos.http_status() > 599)) {
    return Invalid("http_status must be an error status 400..599 (or 0 for latency only), not " +
                   std::to_string(chaos.http_status()));
  }
  if (chaos.error_code() != 0 && (chaos.error_code() < 10000 || chaos.error_code() > 99999)) {
    return Invalid(
        "error_code must be a provider code 10000..99999 (or 0 for the status's own), "
        "not " +
        std::to_string(chaos.error_code()));
  }
  if (chaos.error_code() != 0 && chaos.http_status() == 0) {
    return Invalid("error_code needs an http_status to answer with");
  }
  if (!(chaos.duration_seconds() >= 0 && chaos.duration_seconds() <= kMaxDurationSeconds)) {
    return Invalid(
        "duration_seconds must be between 0 (removes the method's chaos) and 86400, "
        "not " +
        std::to_string(chaos.duration_seconds()));
  }
  if (chaos.latency_ms() < 0 || chaos.latency_ms() > kMaxLatencyMs) {
    return Invalid("latency_ms must be between 0 and 60000, not " +
                   std::to_string(chaos.latency_ms()));
  }
  if (chaos.http_status() != 0 && chaos.error_code() == 0) {
    entry.set_error_code(DefaultCode(chaos.http_status()));
  }
  {
    std::lock_guard lock(mutex_);
    const SimTime now = clock_.Now();
    ExpireLocked(now);
    std::erase_if(entries_, [&](const Entry& e) { return e.chaos.method() == entry.method(); });
    if (chaos.duration_seconds() > 0) {
      entries_.push_back(Entry{entry, now + SimSeconds(chaos.duration_seconds())});
      std::sort(entries_.begin(), entries_.end(),
                [](const Entry& a, const Entry& b) { return a.chaos.method() < b.chaos.method(); });
    }
    active_.store(!entries_.empty(), std::memory_order_release);
  }
  return List();
}

std::vector<v1::ActiveApiChaos> ApiChaos::List() {
  std::lock_guard lock(mutex_);
  const SimTime now = clock_.Now();
  ExpireLocked(now);
  std::vector<v1::ActiveApiChaos> active;
  for (const auto& entry : entries_) {
    auto& item = active.emplace_back();
    *item.mutable_chaos() = entry.chaos;
    item.set_remaining_seconds(ToSeconds(entry.ends - now));
    item.set_calls(entry.calls);
    item.set_injected(entry.injected);
  }
  return active;
}

void ApiChaos::Clear() {
  std::lock_guard lock(mutex_);
  entries_.clear();
  active_.store(false, std::memory_order_release);
}

void ApiChaos::ExpireLocked(SimTime now) {
  std::erase_if(entries_, [now](const Entry& entry) { return entry.ends <= now; });
  active_.store(!entries_.empty(), std::memory_order_release);
}

ChaosVerdict ApiChaos::DecideFor(const std::string& method) {
  std::lock_guard lock(mutex_);
  if (entries_.empty()) return {};
  ExpireLocked(clock_.Now());
  auto find = [this](std::string_view name) -> Entry* {
    for (auto& entry : entries_) {
      if (entry.chaos.method() == name) return &entry;
    }
    return nullptr;
  };
  Entry* entry = find(method);
  if (entry == nullptr) {
    if (const auto space = method.find(' '); space != std::string::npos) {
      entry = find(std::string_view(method).substr(space + 1));
    }
  }
  if (entry == nullptr) entry = find("*");
  if (entry == nullptr) return {};
  ++entry->calls;
  ChaosVerdict verdict;
  const auto& chaos = entry->chaos;
  verdict.delay = std::chrono::milliseconds(chaos.latency_ms());
  if (chaos.http_status() == 0) return verdict;
  // Always one draw per call, so the sequence of answers depends only on the calls' order.
  const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
  if (draw >= chaos.probability()) return verdict;
  ++entry->injected;
  verdict.http_status = chaos.http_status();
  verdict.refusal = ProviderError(
      GrpcCodeFor(chaos.http_status()), chaos.error_code(),
      Reason(chaos.http_status()) + ": simulated by Simulator.SetApiChaos on " + chaos.method() +
          "; this call was not served and nothing was stored, so it is safe to retry");
  return verdict;
}

}  // namespace mmsgate::gateway
