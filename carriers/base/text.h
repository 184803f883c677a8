#pragma once
// Text that crosses an edge: UTF-8 validity, quoting user input inside error messages, and
// finding the field of a protobuf record (or of a serialized request) that is not valid UTF-8.
//
// Why this matters: protobuf `string` fields must hold valid UTF-8. A record serialized with a
// bad one is written without complaint but can never be parsed again, so every text field is
// checked where it enters (REST, gRPC, scenario, TwiML) and once more before a record is stored.
//
// Pure functions, safe from any thread.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace google::protobuf {
class Descriptor;
class Message;
}  // namespace google::protobuf

namespace mmsgate {

// The byte offset of the first byte that breaks UTF-8 (overlongs, surrogates, code points above
// U+10FFFF, truncated or stray sequences, as Unicode Table 3-7 defines well-formed UTF-8);
// nullopt when the whole text is well-formed.
[[nodiscard]] std::optional<std::size_t> FirstInvalidUtf8(std::string_view text);

[[nodiscard]] inline bool IsValidUtf8(std::string_view text) {
  return !FirstInvalidUtf8(text).has_value();
}

// `text` with every byte that breaks UTF-8 replaced by U+FFFD, for text from outside (a server's
// answer, a parser's description of foreign input) that goes into a stored record.
[[nodiscard]] std::string ToValidUtf8(std::string_view text);

// User input made safe to put inside an error message: in double quotes, control characters
// and bytes that are not UTF-8 written as \n, \t, \xNN, and cut (at a character boundary) after
// `max_bytes` with the full length noted, so a 10 MB field does not come back. The result is
// always valid UTF-8.
[[nodiscard]] std::string QuoteText(std::string_view text, std::size_t max_bytes = 40);

// The path of the first string field (nested and repeated ones included) of `message` that is
// not valid UTF-8, such as "media[2].filename"; nullopt when every one is valid.
[[nodiscard]] std::optional<std::string> FindInvalidUtf8Field(
    const google::protobuf::Message& message);

// The same for serialized bytes of a message of type `type`, for input that protobuf refused to
// parse: walks the wire format and names the first string field whose bytes are not UTF-8.
// nullopt when no such field is found (the bytes are broken in some other way).
[[nodiscard]] std::optional<std::string> FindInvalidUtf8InWire(
    const google::protobuf::Descriptor& type, std::string_view bytes);

}  // namespace mmsgate
