#include "gateway/inbound/keywords.h"

#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace mmsgate::gateway {
namespace {

constexpr std::array<std::pair<std::string_view, Keyword>, 13> kKeywords{{
    {"STOP", Keyword::kOptOut},
    {"STOPALL", Keyword::kOptOut},
    {"UNSUBSCRIBE", Keyword::kOptOut},
    {"CANCEL", Keyword::kOptOut},
    {"END", Keyword::kOptOut},
    {"QUIT", Keyword::kOptOut},
    {"REVOKE", Keyword::kOptOut},
    {"OPTOUT", Keyword::kOptOut},
    {"START", Keyword::kOptIn},
    {"YES", Keyword::kOptIn},
    {"UNSTOP", Keyword::kOptIn},
    {"HELP", Keyword::kHelp},
    {"INFO", Keyword::kHelp},
}};

const std::pair<std::string_view, Keyword>* Find(std::string_view body) {
  // Debian's Abseil has its own string_view type.
  const absl::string_view word =
      absl::StripAsciiWhitespace(absl::string_view(body.data(), body.size()));
  for (const auto& entry : kKeywords) {
    if (absl::EqualsIgnoreCase(word, absl::string_view(entry.first.data(), entry.first.size()))) {
      return &entry;
    }
  }
  return nullptr;
}

}  // namespace

Keyword MatchKeyword(std::string_view body) {
  const auto* entry = Find(body);
  return entry == nullptr ? Keyword::kNone : entry->second;
}

std::string_view KeywordText(std::string_view body) {
  const auto* entry = Find(body);
  return entry == nullptr ? std::string_view() : entry->first;
}

std::string_view KeywordReply(Keyword keyword) {
  // The provider's default texts for its Advanced Opt-Out keywords.
  switch (keyword) {
    case Keyword::kOptOut:
      return "You have successfully been unsubscribed. You will not receive any more messages "
             "from this number. Reply START to resubscribe.";
    case Keyword::kOptIn:
      return "You have successfully been re-subscribed to messages from this number. Reply HELP "
             "for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.";
    case Keyword::kHelp:
      return "Reply STOP to unsubscribe. Msg&Data Rates May Apply.";
    case Keyword::kNone:
      break;
  }
  return {};
}

}  // namespace mmsgate::gateway
