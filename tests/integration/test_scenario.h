#pragma once
// The scenario the integration tests run: fast carriers so a delivery takes milliseconds.

#include <string>

namespace mmsgate::testing {

inline constexpr const char* kAccountSid = "AC0123456789abcdef0123456789abcdef";
inline constexpr const char* kAuthToken = "test-auth-token-0123456789";
inline constexpr const char* kNoConversionAccountSid = "ACfedcba9876543210fedcba9876543210";
inline constexpr const char* kNoConversionAuthToken = "strict-token-0123456789";

inline constexpr const char* kMmsLongCode = "+12025550100";
inline constexpr const char* kSmsOnlyLongCode = "+12065550100";
inline constexpr const char* kShortCode = "55501";
inline constexpr const char* kStrictLongCode = "+12025550111";

// Destinations: one per carrier.
inline constexpr const char* kUsMmsSubscriber = "+12025550142";
inline constexpr const char* kUsSmsOnlySubscriber = "+12065550142";
inline constexpr const char* kCaMmsSubscriber = "+14165550142";
inline constexpr const char* kGbSubscriber = "+447400123456";
inline constexpr const char* kUnroutableSubscriber = "+61291234567";

// `latency_ms` sets every carrier's fixed latency.
inline std::string TestScenario(int latency_ms = 20) {
  const std::string latency = "latency { median_ms: " + std::to_string(latency_ms) + " } ";
  return std::string(R"pb(
accounts { sid: "AC0123456789abcdef0123456789abcdef" auth_token: "test-auth-token-0123456789" }
accounts {
  sid: "ACfedcba9876543210fedcba9876543210" auth_token: "strict-token-0123456789"
  settings { disable_international_mms_conversion: true }
}
carriers { id: "mmsnet" name: "MMS Net" country: "US" prefixes: "+1202555" supports_mms: true )pb") +
         latency + R"pb( }
carriers { id: "plainnet" name: "Plain Net" country: "US" prefixes: "+1206555" supports_mms: false )pb" +
         latency + R"pb( }
carriers { id: "maple" name: "Maple" country: "CA" supports_mms: true default_for_country: true )pb" +
         latency + R"pb( }
carriers { id: "albion" name: "Albion" country: "GB" supports_mms: true default_for_country: true )pb" +
         latency + R"pb( }
numbers { number: "+12025550100" account_sid: "AC0123456789abcdef0123456789abcdef" type: LONG_CODE
          country: "US" capabilities { sms: true mms: true } }
numbers { number: "+12065550100" account_sid: "AC0123456789abcdef0123456789abcdef" type: LONG_CODE
          country: "US" capabilities { sms: true mms: false } }
numbers { number: "55501" account_sid: "AC0123456789abcdef0123456789abcdef" type: SHORT_CODE
          country: "US" capabilities { sms: true mms: true } }
numbers { number: "+12025550111" account_sid: "ACfedcba9876543210fedcba9876543210" type: LONG_CODE
          country: "US" capabilities { sms: true mms: true } }
simulation { time_scale: 1.0 seed: 7 }
)pb";
}

}  // namespace mmsgate::testing
