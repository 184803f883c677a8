#include "gateway/api/rest/form_encoding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace mmsgate::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(FormEncodingTest, EncodesSpacesAsPlusAndEscapesEverythingButUnreserved) {
  EXPECT_EQ(FormEncode({{"Body", "a b&c=d+e%f/g?h"}}), "Body=a+b%26c%3Dd%2Be%25f%2Fg%3Fh");
  EXPECT_EQ(FormEncode({{"k", "AZaz09-._~"}}), "k=AZaz09-._~");
  EXPECT_EQ(FormEncode({{"To", "+12025550100"}, {"From", "+1 (202) 555"}}),
            "To=%2B12025550100&From=%2B1+%28202%29+555");
  EXPECT_EQ(FormEncode({{"new\nline", "tab\there"}}), "new%0Aline=tab%09here");
  EXPECT_EQ(FormEncode({}), "");
  // A NUL byte is escaped, and what follows it kept (uriparser alone stops there; found by
  // fuzz/form_fuzz.cc).
  EXPECT_EQ(FormEncode({{"Body", std::string("a\0b c\0", 6)}}), "Body=a%00b+c%00");
  EXPECT_EQ(*FormDecode("Body=a%00b+c%00"), (FormParams{{"Body", std::string("a\0b c\0", 6)}}));
  EXPECT_EQ(FormEncode({{"", ""}}), "=");
}

TEST(FormEncodingTest, EncodesUtf8BytesWithUppercaseHex) {
  EXPECT_EQ(FormEncode({{"Body", "héllo ✓ 👍"}}), "Body=h%C3%A9llo+%E2%9C%93+%F0%9F%91%8D");
}

TEST(FormEncodingTest, RoundTripsTrickyTextAndRepeatedKeys) {
  const FormParams params = {{"Body", "Grüße aus Köln 🌍 & more=yes + 100% sure"},
                             {"MediaUrl", "http://127.0.0.1:8080/a.png?x=1&y=2"},
                             {"To", "+12025550142"},
                             {"MediaUrl", "http://127.0.0.1:8080/b.jpg"},
                             {"Empty", ""},
                             {"a=b&c", "=&+%"}};
  const std::string body = FormEncode(params);
  auto decoded = FormDecode(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, params);
}

TEST(FormEncodingTest, DecodesWhatTheOfficialLibrariesSend) {
  // Python sends spaces as '+', Node as %20; both must read the same.
  auto python = FormDecode("To=%2B12025550142&Body=hello+there&MediaUrl=u1&MediaUrl=u2");
  auto node = FormDecode("Body=hello%20there&MediaUrl=u1&To=%2B12025550142&MediaUrl=u2");
  ASSERT_TRUE(python.ok()) << python.status();
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_THAT(*python, ElementsAre(Pair("To", "+12025550142"), Pair("Body", "hello there"),
                                   Pair("MediaUrl", "u1"), Pair("MediaUrl", "u2")));
  EXPECT_THAT(*node, ElementsAre(Pair("Body", "hello there"), Pair("MediaUrl", "u1"),
                                 Pair("To", "+12025550142"), Pair("MediaUrl", "u2")));
}

TEST(FormEncodingTest, DecodesEdgeCases) {
  auto decoded = FormDecode("a=1&&b&c=&=d&e=x=y&lower=%c3%a9&");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_THAT(*decoded, ElementsAre(Pair("a", "1"), Pair("b", ""), Pair("c", ""), Pair("", "d"),
                                    Pair("e", "x=y"), Pair("lower", "é")));
  decoded = FormDecode("");
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->empty());
  decoded = FormDecode("nul=%00");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ((*decoded)[0].second, std::string(1, '\0'));
}

TEST(FormEncodingTest, RefusesMalformedEscapes) {
  struct Case {
    std::string body;
    std::string escape;
    std::size_t offset;
  };
  for (const Case& c : {Case{"a=%G1", "%G1", 2}, Case{"a=%4", "%4", 2}, Case{"a=%", "%", 2},
                        Case{"a=1&b=x%", "%", 7}, Case{"a=%4&b=1", "%4", 2},
                        Case{"%zz=1", "%zz", 0}, Case{"a=%1G", "%1G", 2}}) {
    auto decoded = FormDecode(c.body);
    ASSERT_FALSE(decoded.ok()) << c.body;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(decoded.status().message());
    EXPECT_THAT(message, HasSubstr("malformed percent-escape \"" + c.escape + "\""));
    EXPECT_THAT(message, HasSubstr("at byte " + std::to_string(c.offset)));
  }
}

TEST(FormEncodingTest, BoundsTheNumberOfFields) {
  std::string body;
  for (int i = 0; i < 1000; ++i) body += "k=v&";
  auto decoded = FormDecode(body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->size(), 1000u);
  body += "one=more";
  decoded = FormDecode(body);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(decoded.status().message()), HasSubstr("more than 1000 fields"));
  EXPECT_FALSE(FormDecode("a=1&b=2&c=3", 2).ok());
  EXPECT_TRUE(FormDecode("a=1&b=2", 2).ok());
}

TEST(FormEncodingTest, CountsFieldsOfANameWithoutDecoding) {
  EXPECT_EQ(
      CountFormFields("MediaUrl=a&Body=x&MediaUrl=b&MediaUrls=c&MediaUrl&XMediaUrl=d", "MediaUrl"),
      3u);
  EXPECT_EQ(CountFormFields("", "MediaUrl"), 0u);
  EXPECT_EQ(CountFormFields("%4", "MediaUrl"), 0u);
}

}  // namespace
}  // namespace mmsgate::gateway
