// The provider's opt-out, opt-in and help keywords.

#include "gateway/inbound/keywords.h"

#include <gtest/gtest.h>

namespace mmsgate::gateway {
namespace {

TEST(KeywordsTest, EveryStandardKeywordIsRecognizedInAnyCase) {
  for (const char* word :
       {"STOP", "stopall", "Unsubscribe", "CANCEL", "end", "QUIT", "revoke", "OptOut"}) {
    EXPECT_EQ(MatchKeyword(word), Keyword::kOptOut) << word;
  }
  for (const char* word : {"START", "yes", "Unstop"}) {
    EXPECT_EQ(MatchKeyword(word), Keyword::kOptIn) << word;
  }
  for (const char* word : {"HELP", "info"}) EXPECT_EQ(MatchKeyword(word), Keyword::kHelp) << word;
}

TEST(KeywordsTest, SurroundingWhitespaceIsIgnoredButOtherWordsMakeAnOrdinaryMessage) {
  EXPECT_EQ(MatchKeyword("  stop \n"), Keyword::kOptOut);
  EXPECT_EQ(MatchKeyword("\tSTART\r\n"), Keyword::kOptIn);
  for (const char* body :
       {"stop it", "STOP.", "please stop", "", " ", "STOPP", "S TOP", "helpme"}) {
    EXPECT_EQ(MatchKeyword(body), Keyword::kNone) << '"' << body << '"';
  }
}

TEST(KeywordsTest, TheRecordedKeywordIsTheCanonicalWord) {
  EXPECT_EQ(KeywordText(" unsubscribe "), "UNSUBSCRIBE");
  EXPECT_EQ(KeywordText("hello"), "");
}

TEST(KeywordsTest, EachKeywordHasTheProvidersConfirmation) {
  EXPECT_NE(KeywordReply(Keyword::kOptOut).find("Reply START to resubscribe"), std::string::npos);
  EXPECT_NE(KeywordReply(Keyword::kOptIn).find("re-subscribed"), std::string::npos);
  EXPECT_NE(KeywordReply(Keyword::kHelp).find("Reply STOP to unsubscribe"), std::string::npos);
  EXPECT_TRUE(KeywordReply(Keyword::kNone).empty());
}

}  // namespace
}  // namespace mmsgate::gateway
