#pragma once
// TwiML for messaging: what an application's webhook may answer to an inbound message (rule 8).
//
// Pure parsing, no I/O. The parser checks the document's structure only; the replies it returns
// go through admission like any other send, which applies rules 2-5 and 9 (From ownership,
// media URL validity, body length, UTF-8, ...). The one send rule checked here as well is the
// media count, because TwiML names each <Media> and the error can point at the <Message>.
//
// Accepted document:
//   <Response>
//     <Message to="+1..." from="+1..." statusCallback="http://..." action="http://...">
//       <Body>text</Body>            at most one
//       <Media>http://...</Media>    0 to 10
//     </Message>
//     ... at most kMaxTwimlMessages <Message> verbs
//   </Response>
// or the short form <Message>text</Message>. Text and CDATA, entities included, are decoded;
// leading and trailing ASCII whitespace of the body, each URL and each attribute is trimmed
// (inner whitespace and newlines are kept). When a <Message> has <Body> or <Media> children,
// text directly inside it is ignored. Comments are ignored. `statusCallback` wins over `action`
// when both are given; `method` and other attributes are ignored (callbacks are always POST).
// Element names are case-sensitive, as in TwiML.
//
// Refused (absl InvalidArgument carrying a provider code, see mmsgate/errors.h):
//   12100 kTwimlParseFailure: not XML (JSON, plain text, an HTML page), malformed XML (the
//         message has pugixml's description, the byte offset, line and column), or a document
//         larger than kMaxTwimlBytes.
//   12200 kTwimlSchemaError: root other than <Response>; a verb other than <Message> —
//         <Redirect> included, which the simulator does not follow — named in the message;
//         text directly inside <Response>; an unknown element or more than one <Body> inside
//         <Message>; markup inside <Body> or <Media>; an empty <Media>; a <Message> with
//         neither body nor media; more than kMaxTwimlMessages <Message> verbs.
//   21623 kTooManyMedia: more than 10 <Media> in one <Message>.
// Refusing rather than skipping what the simulator does not understand makes a mistake in the
// application visible at once instead of as a reply that silently never arrives.
//
// A DOCTYPE is skipped and its entity declarations are not expanded, so a hostile document
// cannot make the parser fetch files or expand entities exponentially.

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mmsgate::gateway {

// Largest TwiML document accepted, in bytes (the provider's limit for a TwiML response).
inline constexpr std::size_t kMaxTwimlBytes = 64 * 1024;
// Most <Message> verbs one response may hold.
inline constexpr int kMaxTwimlMessages = 10;
// Most <Media> nouns one <Message> may hold (rule 2).
inline constexpr int kMaxTwimlMedia = 10;

// One <Message> verb. Empty `to`/`from` mean the defaults: reply to the inbound message's sender
// from the number it was sent to. Empty `status_callback` means none.
struct TwimlMessage {
  std::string body;
  std::vector<std::string> media_urls;
  std::string to;
  std::string from;
  std::string status_callback;
};

// The replies a webhook's response asks for, in document order. An empty (or whitespace-only)
// string and a <Response> without <Message> are a valid "no reply": an empty vector.
[[nodiscard]] absl::StatusOr<std::vector<TwimlMessage>> ParseMessagingTwiml(const std::string& xml);

}  // namespace mmsgate::gateway
