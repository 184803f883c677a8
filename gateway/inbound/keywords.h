#pragma once
// The provider's standard messaging keywords on long codes: a subscriber texts a single word to
// opt out of a number (STOP and its synonyms), opt back in (START), or ask for help (HELP). The
// provider acts on them itself and answers with a confirmation; short codes are left to the
// application.

#include <string_view>

namespace mmsgate::gateway {

enum class Keyword {
  kNone,    // an ordinary message
  kOptOut,  // STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT
  kOptIn,   // START, YES, UNSTOP
  kHelp,    // HELP, INFO
};

// The keyword `body` is, if it is exactly one (case-insensitive, surrounding whitespace
// ignored: "Stop\n" is STOP, "stop it" and "STOP." are ordinary messages).
[[nodiscard]] Keyword MatchKeyword(std::string_view body);

// The keyword as written in upper case ("UNSUBSCRIBE"), for records; empty for kNone.
[[nodiscard]] std::string_view KeywordText(std::string_view body);

// The provider's default confirmation for a keyword; empty for kNone.
[[nodiscard]] std::string_view KeywordReply(Keyword keyword);

}  // namespace mmsgate::gateway
