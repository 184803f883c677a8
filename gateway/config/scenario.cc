#include "gateway/config/scenario.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "carriers/base/errors.h"
#include "carriers/base/sids.h"
#include "carriers/base/text.h"
#include "carriers/outcome_rules.h"
#include "carriers/phone_numbers.h"
#include "gateway/core/rules.h"

namespace mmsgate::gateway {
namespace {

class CollectingErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!text_.empty()) text_ += "; ";
    text_ += "line " + std::to_string(line + 1) + " column " + std::to_string(column + 1) + ": " +
             message;
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

absl::Status Invalid(const std::string& text) {
  return absl::InvalidArgumentError("invalid scenario: " + text);
}

}  // namespace

const std::string& DefaultScenarioText() {
  // One account; US and Canadian carriers with and without MMS; two carriers abroad; an
  // MMS-capable US long code and short code, a Canadian long code, an SMS-only number.
  static const std::string kText = R"pb(
    accounts {
      sid: "AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e"
      auth_token: "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
      friendly_name: "Default account"
      settings { disable_international_mms_conversion: false }
    }
    carriers {
      id: "northwind"
      name: "Northwind Wireless"
      country: "US"
      prefixes: "+1202555"
      prefixes: "+1212555"
      supports_mms: true
      default_for_country: true
      latency { median_ms: 800 p99_ms: 4000 }
      max_mps: 500
    }
    carriers {
      id: "pinecone"
      name: "Pinecone Mobile (no MMS)"
      country: "US"
      prefixes: "+1206555"
      prefixes: "+1503555"
      supports_mms: false
      latency { median_ms: 600 p99_ms: 3000 }
      max_mps: 200
    }
    carriers {
      id: "maplelink"
      name: "MapleLink"
      country: "CA"
      prefixes: "+1416555"
      prefixes: "+1604555"
      supports_mms: true
      max_mms_bytes: 1048576
      default_for_country: true
      latency { median_ms: 900 p99_ms: 5000 }
      max_mps: 300
    }
    carriers {
      id: "tundra"
      name: "Tundra Cellular (no MMS)"
      country: "CA"
      prefixes: "+1867555"
      supports_mms: false
      latency { median_ms: 1200 p99_ms: 6000 }
      max_mps: 50
    }
    carriers {
      id: "albion"
      name: "Albion Telecom"
      country: "GB"
      supports_mms: true
      default_for_country: true
      latency { median_ms: 1500 p99_ms: 8000 }
      max_mps: 200
    }
    carriers {
      id: "rheinfunk"
      name: "Rheinfunk"
      country: "DE"
      supports_mms: true
      default_for_country: true
      latency { median_ms: 1400 p99_ms: 7000 }
      max_mps: 200
    }
    numbers {
      number: "+12025550100"
      account_sid: "AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e"
      type: LONG_CODE
      country: "US"
      capabilities { sms: true mms: true }
    }
    numbers {
      number: "55501"
      account_sid: "AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e"
      type: SHORT_CODE
      country: "US"
      capabilities { sms: true mms: true }
    }
    numbers {
      number: "+14165550100"
      account_sid: "AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e"
      type: LONG_CODE
      country: "CA"
      capabilities { sms: true mms: true }
    }
    numbers {
      number: "+12065550100"
      account_sid: "AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e"
      type: LONG_CODE
      country: "US"
      capabilities { sms: true mms: false }
    }
    numbers {
      number: "+18445550100"
      account_sid: "AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e"
      type: TOLL_FREE
      country: "US"
      capabilities { sms: true mms: false }
    }
    simulation { time_scale: 1.0 seed: 42 disable_sender_rate_limits: false }
  )pb";
  return kText;
}

absl::StatusOr<mmsgate::v1::Scenario> ParseScenario(const std::string& text,
                                                    const std::string& origin) {
  mmsgate::v1::Scenario scenario;
  google::protobuf::TextFormat::Parser parser;
  CollectingErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &scenario)) {
    return absl::InvalidArgumentError("cannot parse scenario " + origin + ": " + errors.text());
  }
  if (auto status = ValidateScenario(scenario); !status.ok()) {
    return absl::InvalidArgumentError(origin + ": " + std::string(status.message()));
  }
  return scenario;
}

absl::StatusOr<mmsgate::v1::Scenario> LoadScenarioFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read scenario file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return ParseScenario(text.str(), path);
}

absl::Status ValidateNumber(const mmsgate::v1::Number& number) {
  auto invalid = [](const std::string& text) { return absl::InvalidArgumentError(text); };
  if (number.type() == mmsgate::v1::NUMBER_TYPE_UNSPECIFIED) {
    return invalid("number " + number.number() +
                   " needs a type (LONG_CODE, SHORT_CODE or TOLL_FREE)");
  }
  if (number.country().size() != 2) {
    return invalid("number " + number.number() + " needs a two-letter country");
  }
  if (number.type() == mmsgate::v1::SHORT_CODE) {
    if (!carriers::LooksLikeShortCode(number.number())) {
      return invalid("short code " + number.number() + " must be 5 or 6 digits");
    }
  } else {
    auto parsed = carriers::ParseValidNumber(number.number());
    if (!parsed || parsed->e164 != number.number()) {
      return invalid("number " + number.number() + " is not a valid E.164 number");
    }
    if (parsed->region != number.country()) {
      return invalid("number " + number.number() + " is in " + parsed->region + ", not " +
                     number.country());
    }
  }
  // Bounds far above any real sender (a short code sends 100 per second) but finite: a rate of
  // 1e9 would make the sender's 10-hour queue bound (rule 9) meaningless.
  if (!(number.mps() >= 0 && number.mps() <= kMaxNumberMps)) {
    return invalid("number " + number.number() + " mps must be within 0.." +
                   std::to_string(static_cast<int>(kMaxNumberMps)) +
                   " (0: the default for its type)");
  }
  if (number.burst() < 0 || number.burst() > kMaxNumberBurst) {
    return invalid("number " + number.number() + " burst must be within 0.." +
                   std::to_string(kMaxNumberBurst) + " (0: the default for its type)");
  }
  if (!number.sid().empty() && !IsSid(number.sid(), "PN")) {
    return invalid("number " + number.number() + " sid " + QuoteText(number.sid()) +
                   " must be PN followed by 32 lowercase hex digits");
  }
  for (const auto& [field, url] : {std::pair{"sms_url", &number.sms_url()},
                                   std::pair{"status_callback", &number.status_callback()}}) {
    if (auto status = CheckCallbackUrl(std::string("number ") + number.number() + " " + field, *url,
                                       error_codes::kInvalidParameter);
        !status.ok()) {
      return invalid(std::string(status.message()));
    }
  }
  if (number.capabilities().mms()) {
    // Rule 1: MMS exists on US/CA long codes and US short codes only.
    if (!MmsAllowedOn(number.type(), number.country())) {
      return invalid("number " + number.number() +
                     " cannot have MMS: MMS exists only on US/Canadian long codes and US short "
                     "codes");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateFault(const mmsgate::v1::CarrierFault& fault) {
  if (fault.kind() == mmsgate::v1::CarrierFault::KIND_UNSPECIFIED ||
      fault.duration_seconds() <= 0 || fault.extra_latency_ms() < 0 || fault.extra_loss() < 0 ||
      fault.extra_loss() > 1) {
    return absl::InvalidArgumentError(
        "a fault needs a kind (OUTAGE, MMS_UNSUPPORTED, EXTRA_LATENCY, EXTRA_LOSS), a positive "
        "duration_seconds, extra_latency_ms >= 0 and extra_loss within 0..1");
  }
  return absl::OkStatus();
}

absl::Status ValidateScenario(const mmsgate::v1::Scenario& scenario) {
  // Text format accepts any bytes in a string ("\377"); a record holding them could be written
  // but never read back, so the whole scenario must be UTF-8 before anything is built from it.
  if (auto field = FindInvalidUtf8Field(scenario)) {
    return Invalid(*field + " is not valid UTF-8; write non-ASCII text as UTF-8");
  }
  if (scenario.accounts().empty()) return Invalid("it needs at least one account");
  std::set<std::string> accounts;
  for (const auto& account : scenario.accounts()) {
    if (!IsSid(account.sid(), "AC")) {
      return Invalid("account sid \"" + account.sid() +
                     "\" must be AC followed by 32 lowercase hex digits");
    }
    if (account.auth_token().size() < 8) {
      return Invalid("account " + account.sid() + " needs an auth_token of at least 8 characters");
    }
    if (!accounts.insert(account.sid()).second) {
      return Invalid("account " + account.sid() + " is listed twice");
    }
  }
  std::set<std::string> carrier_ids;
  for (const auto& carrier : scenario.carriers()) {
    if (carrier.id().empty()) return Invalid("every carrier needs an id");
    if (!carrier_ids.insert(carrier.id()).second) {
      return Invalid("carrier " + carrier.id() + " is listed twice");
    }
    if (carrier.country().size() != 2) {
      return Invalid("carrier " + carrier.id() + " needs a two-letter country");
    }
    if (carrier.failure_rate() < 0 || carrier.failure_rate() > 1) {
      return Invalid("carrier " + carrier.id() + " failure_rate must be within 0..1");
    }
    if (carrier.max_mms_bytes() < 0 || carrier.max_mps() < 0 || carrier.queue_capacity() < 0 ||
        carrier.latency().median_ms() < 0 || carrier.latency().p99_ms() < 0) {
      return Invalid("carrier " + carrier.id() + " has a negative limit or latency");
    }
    double total_failure = carrier.failure_rate();
    for (const auto& mode : carrier.failures()) {
      const int code = mode.error_code();
      if (code != 30003 && code != 30005 && code != 30006 && code != 30008) {
        return Invalid("carrier " + carrier.id() + " failure code " + std::to_string(code) +
                       " is not a delivery failure (use 30003, 30005, 30006 or 30008)");
      }
      if (mode.rate() < 0 || mode.rate() > 1) {
        return Invalid("carrier " + carrier.id() + " failure rate for " + std::to_string(code) +
                       " must be within 0..1");
      }
      total_failure += mode.rate();
    }
    if (total_failure > 1.0 + 1e-9) {
      return Invalid("carrier " + carrier.id() + " failure rates add up to more than 1");
    }
    for (const auto& prefix : carrier.prefixes()) {
      if (prefix.size() < 2 || prefix[0] != '+') {
        return Invalid("carrier " + carrier.id() + " prefix \"" + prefix +
                       "\" must be an E.164 prefix such as \"+1202555\"");
      }
    }
  }
  std::set<std::string> numbers;
  for (const auto& number : scenario.numbers()) {
    if (!accounts.contains(number.account_sid())) {
      return Invalid("number " + number.number() + " belongs to unknown account \"" +
                     number.account_sid() + "\"");
    }
    if (!numbers.insert(number.number()).second) {
      return Invalid("number " + number.number() + " is listed twice");
    }
    if (auto status = ValidateNumber(number); !status.ok()) {
      return Invalid(std::string(status.message()));
    }
  }
  std::map<std::string, std::string> number_accounts;
  for (const auto& number : scenario.numbers()) {
    number_accounts[number.number()] = number.account_sid();
  }
  std::set<std::string> services, pooled;
  for (const auto& service : scenario.messaging_services()) {
    if (!IsSid(service.sid(), "MG")) {
      return Invalid("messaging service sid \"" + service.sid() +
                     "\" must be MG followed by 32 lowercase hex digits");
    }
    if (!services.insert(service.sid()).second) {
      return Invalid("messaging service " + service.sid() + " is listed twice");
    }
    if (!accounts.contains(service.account_sid())) {
      return Invalid("messaging service " + service.sid() + " belongs to unknown account \"" +
                     service.account_sid() + "\"");
    }
    for (const auto& number : service.numbers()) {
      auto owner = number_accounts.find(number);
      if (owner == number_accounts.end() || owner->second != service.account_sid()) {
        return Invalid("messaging service " + service.sid() + " lists " + number +
                       ", which is not a number of its account");
      }
      if (!pooled.insert(number).second) {
        return Invalid("number " + number + " is in two messaging services; one at most");
      }
    }
    for (const auto& [field, url] :
         {std::pair{"inbound_request_url", &service.inbound_request_url()},
          std::pair{"status_callback", &service.status_callback()}}) {
      if (auto status = CheckCallbackUrl(field, *url, error_codes::kInvalidParameter);
          !status.ok()) {
        return Invalid("messaging service " + service.sid() + ": " + std::string(status.message()));
      }
    }
  }
  for (int i = 0; i < scenario.number_pool_size(); ++i) {
    const std::string& number = scenario.number_pool(i);
    const auto parsed = carriers::ParseValidNumber(number);
    if (!parsed || parsed->e164 != number || parsed->region != "US") {
      return Invalid("number_pool[" + std::to_string(i) + "] \"" + number.substr(0, 40) +
                     "\" is not a US number in E.164 (\"+12025550100\"); CreateAccount hands "
                     "these out as US long codes");
    }
  }
  for (int i = 0; i < scenario.outcome_rules_size(); ++i) {
    if (auto status = carriers::ValidateOutcomeRule(scenario.outcome_rules(i), i); !status.ok()) {
      return status;
    }
  }
  for (const auto& scheduled : scenario.scheduled_faults()) {
    if (!carrier_ids.contains(scheduled.carrier_id())) {
      return Invalid("scheduled fault names unknown carrier \"" + scheduled.carrier_id() + "\"");
    }
    if (scheduled.at_seconds() < 0) {
      return Invalid("scheduled fault on " + scheduled.carrier_id() + " needs at_seconds >= 0");
    }
    if (auto status = ValidateFault(scheduled.fault()); !status.ok()) {
      return Invalid("scheduled fault on " + scheduled.carrier_id() + ": " +
                     std::string(status.message()));
    }
  }
  const auto& simulation = scenario.simulation();
  if (simulation.time_scale() < 0) return Invalid("simulation.time_scale must be positive");
  if (simulation.media_retention_seconds() < 0 || simulation.media_fetch_timeout_ms() < 0 ||
      simulation.webhook_timeout_ms() < 0) {
    return Invalid(
        "simulation.media_retention_seconds and media_fetch_timeout_ms must not be "
        "negative");
  }
  if (auto status = CheckCallbackUrl("simulation.public_base_url", simulation.public_base_url(),
                                     error_codes::kInvalidParameter);
      !status.ok()) {
    return Invalid(std::string(status.message()));
  }
  return absl::OkStatus();
}

}  // namespace mmsgate::gateway
