#include "carriers/base/text.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/message.h>
#include <google/protobuf/wire_format_lite.h>

#include <map>
#include <vector>

namespace mmsgate {
namespace {

bool IsContinuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// Length of the well-formed sequence starting at text[i], or 0 when it is not one.
std::size_t SequenceLength(std::string_view text, std::size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  if (lead < 0x80) return 1;
  // Ranges for the second byte follow Unicode Table 3-7; narrowing them is what rejects
  // overlongs (E0, F0), surrogates (ED) and code points above U+10FFFF (F4).
  std::size_t length;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return 0;  // stray continuation byte, C0/C1 overlong lead, or F5..FF
  }
  if (text.size() - i < length) return 0;
  const auto second = static_cast<unsigned char>(text[i + 1]);
  if (second < second_min || second > second_max) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (!IsContinuation(static_cast<unsigned char>(text[i + k]))) return 0;
  }
  return length;
}

void AppendPath(std::string& path, const google::protobuf::FieldDescriptor& field, int index) {
  if (!path.empty()) path += '.';
  path += field.name();
  if (index >= 0) path += "[" + std::to_string(index) + "]";
}

std::optional<std::string> FindInMessage(const google::protobuf::Message& message,
                                         const std::string& prefix) {
  const auto* reflection = message.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const auto* field : fields) {
    const bool repeated = field->is_repeated();
    const int count = repeated ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      std::string path = prefix;
      AppendPath(path, *field, repeated ? i : -1);
      if (field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
        std::string scratch;
        const std::string& value =
            repeated ? reflection->GetRepeatedStringReference(message, field, i, &scratch)
                     : reflection->GetStringReference(message, field, &scratch);
        if (!IsValidUtf8(value)) return path;
      } else if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
        const auto& child = repeated ? reflection->GetRepeatedMessage(message, field, i)
                                     : reflection->GetMessage(message, field);
        if (auto found = FindInMessage(child, path)) return found;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> FindInWire(const google::protobuf::Descriptor& type,
                                      google::protobuf::io::CodedInputStream& input,
                                      const std::string& prefix, int depth) {
  using google::protobuf::internal::WireFormatLite;
  if (depth > 64) return std::nullopt;
  std::map<int, int> seen;  // occurrences per field number, for repeated indexes
  for (;;) {
    const uint32_t tag = input.ReadTag();
    if (tag == 0) return std::nullopt;
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const auto* field = type.FindFieldByNumber(number);
    const bool delimited =
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    const bool text =
        field != nullptr && field->type() == google::protobuf::FieldDescriptor::TYPE_STRING;
    const bool nested =
        field != nullptr && field->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE;
    if (!delimited || (!text && !nested)) {
      if (!WireFormatLite::SkipField(&input, tag)) return std::nullopt;
      continue;
    }
    const int index = seen[number]++;
    std::string path = prefix;
    AppendPath(path, *field, field->is_repeated() ? index : -1);
    uint32_t length = 0;
    if (!input.ReadVarint32(&length)) return std::nullopt;
    if (text) {
      std::string value;
      if (!input.ReadString(&value, static_cast<int>(length))) return std::nullopt;
      if (!IsValidUtf8(value)) return path;
      continue;
    }
    const auto limit = input.PushLimit(static_cast<int>(length));
    if (auto found = FindInWire(*field->message_type(), input, path, depth + 1)) return found;
    input.PopLimit(limit);
  }
}

}  // namespace

std::optional<std::size_t> FirstInvalidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t length = SequenceLength(text, i);
    if (length == 0) return i;
    i += length;
  }
  return std::nullopt;
}

std::string ToValidUtf8(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t length = SequenceLength(text, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

std::string QuoteText(std::string_view text, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  std::size_t i = 0;
  while (i < text.size() && i < max_bytes) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const std::size_t length = SequenceLength(text, i);
    if (length > 1) {
      if (i + length > max_bytes) break;  // never cut a character in two
      out.append(text.substr(i, length));
      i += length;
      continue;
    }
    if (length == 1 && byte >= 0x20 && byte != 0x7f && byte != '"' && byte != '\\') {
      out.push_back(static_cast<char>(byte));
    } else if (byte == '\n') {
      out += "\\n";
    } else if (byte == '\r') {
      out += "\\r";
    } else if (byte == '\t') {
      out += "\\t";
    } else if (byte == '"' || byte == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(byte));
    } else {
      out += "\\x";
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
    ++i;
  }
  out += '"';
  if (i < text.size()) out += "… (" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::optional<std::string> FindInvalidUtf8Field(const google::protobuf::Message& message) {
  return FindInMessage(message, "");
}

std::optional<std::string> FindInvalidUtf8InWire(const google::protobuf::Descriptor& type,
                                                 std::string_view bytes) {
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(bytes.data()),
                                               static_cast<int>(bytes.size()));
  return FindInWire(type, input, "", 0);
}

}  // namespace mmsgate
