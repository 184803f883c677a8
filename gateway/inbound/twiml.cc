#include "gateway/inbound/twiml.h"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <pugixml.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "carriers/base/errors.h"
#include "carriers/base/text.h"

namespace mmsgate::gateway {
namespace {

constexpr std::string_view kWhitespace = " \t\r\n";

std::string Trim(std::string_view text) {
  const auto begin = text.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return "";
  const auto end = text.find_last_not_of(kWhitespace);
  return std::string(text.substr(begin, end - begin + 1));
}

bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  return std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && StartsWithIgnoringCase(a, b);
}

absl::Status ParseFailure(const std::string& message) {
  return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kTwimlParseFailure,
                       "TwiML document parse failure: " + message);
}

absl::Status SchemaError(const std::string& message) {
  return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kTwimlSchemaError,
                       "TwiML schema error: " + message);
}

// The first bytes of a document, printable, for error messages about what came back instead.
std::string Excerpt(std::string_view text) {
  constexpr std::size_t kMax = 40;
  std::string out;
  for (char c : text.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u != 0x7f) ? c : ' ';
  }
  if (text.size() > kMax) out += "...";
  return out;
}

// A webhook that is misconfigured typically answers with its framework's HTML error page or
// with JSON; saying so is more useful than pugixml's view of where that stops being XML.
absl::Status CheckLooksLikeXml(std::string_view text) {
  if (text.front() != '<') {
    const bool json = text.front() == '{' || text.front() == '[';
    return ParseFailure(std::string("the webhook's response is not XML (") +
                        (json ? "it looks like JSON" : "it is plain text") + "): \"" +
                        Excerpt(text) + "\"; answer with <Response>...</Response>");
  }
  if (StartsWithIgnoringCase(text, "<!doctype html") || StartsWithIgnoringCase(text, "<html")) {
    return ParseFailure("the webhook's response is an HTML page, not TwiML: \"" + Excerpt(text) +
                        "\"; answer with <Response>...</Response>");
  }
  return absl::OkStatus();
}

absl::Status MalformedXml(const std::string& xml, const pugi::xml_parse_result& result) {
  // pugixml reports a byte offset; line and column (in bytes, from 1) help a person find it.
  const auto offset = static_cast<std::size_t>(std::max<std::ptrdiff_t>(result.offset, 0));
  const std::size_t limit = std::min(offset, xml.size());
  const std::size_t line = 1 + std::count(xml.begin(), xml.begin() + limit, '\n');
  const std::size_t line_start = xml.rfind('\n', limit == 0 ? 0 : limit - 1);
  const std::size_t column =
      (line_start == std::string::npos || limit == 0) ? limit + 1 : limit - line_start;
  return ParseFailure("malformed XML at byte " + std::to_string(offset) + " (line " +
                      std::to_string(line) + ", column " + std::to_string(column) +
                      "): " + result.description());
}

// Text and CDATA directly inside `node` (a <Body> or <Media>), entities decoded.
absl::StatusOr<std::string> TextOnly(const pugi::xml_node& node, const std::string& where) {
  std::string text;
  for (const pugi::xml_node& child : node.children()) {
    switch (child.type()) {
      case pugi::node_pcdata:
      case pugi::node_cdata:
        text += child.value();
        break;
      case pugi::node_element:
        return SchemaError("<" + std::string(child.name()) + "> inside <" + node.name() + "> of " +
                           where + ": <" + node.name() +
                           "> holds text only (escape markup as &lt; or use CDATA)");
      default:  // Comments and processing instructions carry nothing to send.
        break;
    }
  }
  return text;
}

absl::StatusOr<TwimlMessage> ParseMessage(const pugi::xml_node& verb, int index) {
  const std::string where = "<Message> " + std::to_string(index);
  TwimlMessage message;
  message.to = Trim(verb.attribute("to").value());
  message.from = Trim(verb.attribute("from").value());
  message.status_callback = Trim(verb.attribute("statusCallback").value());
  if (message.status_callback.empty()) {
    message.status_callback = Trim(verb.attribute("action").value());
  }

  bool has_body = false;
  int media_count = 0;
  std::string loose_text;
  for (const pugi::xml_node& child : verb.children()) {
    switch (child.type()) {
      case pugi::node_pcdata:
      case pugi::node_cdata:
        loose_text += child.value();
        break;
      case pugi::node_element: {
        const std::string name = child.name();
        if (name == "Body") {
          if (has_body) return SchemaError(where + " has more than one <Body>");
          has_body = true;
          auto text = TextOnly(child, where);
          if (!text.ok()) return text.status();
          message.body = Trim(*text);
        } else if (name == "Media") {
          ++media_count;
          auto text = TextOnly(child, where);
          if (!text.ok()) return text.status();
          std::string url = Trim(*text);
          if (url.empty()) {
            return SchemaError("<Media> " + std::to_string(media_count) + " of " + where +
                               " is empty; it must hold a media URL");
          }
          message.media_urls.push_back(std::move(url));
        } else {
          return SchemaError("unknown element <" + name + "> inside " + where +
                             "; a <Message> holds <Body> and <Media>, or plain text");
        }
        break;
      }
      default:
        break;
    }
  }
  if (media_count > kMaxTwimlMedia) {
    return ProviderError(absl::StatusCode::kInvalidArgument, error_codes::kTooManyMedia,
                         std::to_string(media_count) + " <Media> in " + where + ", at most " +
                             std::to_string(kMaxTwimlMedia) + " allowed");
  }
  // Short form: with no nouns the verb's own text is the body; with nouns, stray text between
  // them (usually indentation or a leftover) is not part of the message.
  if (!has_body && media_count == 0) message.body = Trim(loose_text);
  if (message.body.empty() && message.media_urls.empty()) {
    return SchemaError(where + " has neither a body nor media");
  }
  return message;
}

}  // namespace

absl::StatusOr<std::vector<TwimlMessage>> ParseMessagingTwiml(const std::string& xml) {
  if (xml.size() > kMaxTwimlBytes) {
    return ParseFailure("the document is " + std::to_string(xml.size()) + " bytes, at most " +
                        std::to_string(kMaxTwimlBytes) + " allowed");
  }
  std::string_view text = xml;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 byte order mark.
  const auto first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return std::vector<TwimlMessage>{};  // "No reply".
  text.remove_prefix(first);
  // UTF-16/32 documents start with a BOM or a zero byte; let pugixml detect and convert those.
  const auto lead = static_cast<unsigned char>(text.front());
  if (lead != 0xFE && lead != 0xFF && lead != 0x00) {
    // Everything taken from the document ends up in stored records (a reply's fields, an error
    // quoting an element name), and stored text must be UTF-8.
    if (const auto bad = FirstInvalidUtf8(xml)) {
      return ParseFailure("the document is not valid UTF-8 (byte " + std::to_string(*bad) +
                          "); answer with UTF-8 TwiML");
    }
    if (absl::Status status = CheckLooksLikeXml(text); !status.ok()) return status;
  }

  // parse_default decodes entities and CDATA and normalises line ends; without parse_doctype
  // a DOCTYPE (and any entity it declares) is skipped, never expanded.
  pugi::xml_document document;
  const pugi::xml_parse_result result =
      document.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_auto);
  if (!result) return MalformedXml(xml, result);

  pugi::xml_node root;
  for (const pugi::xml_node& node : document.children()) {
    if (node.type() == pugi::node_element) {
      if (root) return SchemaError("more than one top-level element; expected one <Response>");
      root = node;
    } else if ((node.type() == pugi::node_pcdata || node.type() == pugi::node_cdata) &&
               !Trim(node.value()).empty()) {
      return SchemaError("text outside <Response>");
    }
  }
  if (!root) return ParseFailure("the document has no element; expected <Response>");
  const std::string root_name = root.name();
  if (EqualsIgnoringCase(root_name, "html")) {
    return ParseFailure("the webhook's response is an HTML page, not TwiML");
  }
  if (root_name != "Response") {
    std::string hint = EqualsIgnoringCase(root_name, "Response")
                           ? " (TwiML element names are case-sensitive)"
                           : "";
    return SchemaError("the root element is <" + root_name + ">, expected <Response>" + hint);
  }

  std::vector<TwimlMessage> messages;
  for (const pugi::xml_node& node : root.children()) {
    switch (node.type()) {
      case pugi::node_element: {
        const std::string name = node.name();
        if (name != "Message") {
          return SchemaError("unsupported verb <" + name +
                             "> in <Response>; mmsgate's messaging TwiML supports only <Message>" +
                             (name == "Redirect" ? " (<Redirect> is not followed)" : ""));
        }
        if (static_cast<int>(messages.size()) == kMaxTwimlMessages) {
          return SchemaError("more than " + std::to_string(kMaxTwimlMessages) +
                             " <Message> verbs in one response");
        }
        auto message = ParseMessage(node, static_cast<int>(messages.size()) + 1);
        if (!message.ok()) return message.status();
        messages.push_back(*std::move(message));
        break;
      }
      case pugi::node_pcdata:
      case pugi::node_cdata:
        if (!Trim(node.value()).empty()) {
          return SchemaError("text directly inside <Response>: \"" + Excerpt(Trim(node.value())) +
                             "\"; put it in <Message>");
        }
        break;
      default:
        break;
    }
  }
  return messages;
}

}  // namespace mmsgate::gateway
