#include "carriers/base/text.h"

#include <gtest/gtest.h>

#include "mmsgate/v1/messaging.pb.h"

namespace mmsgate {
namespace {

TEST(FirstInvalidUtf8Test, PointsAtTheFirstBadByte) {
  EXPECT_FALSE(FirstInvalidUtf8("héllo €").has_value());
  EXPECT_EQ(FirstInvalidUtf8("ab\xff"), 2u);
  EXPECT_EQ(FirstInvalidUtf8("é\xc3"), 2u);         // truncated sequence
  EXPECT_EQ(FirstInvalidUtf8("\xed\xa0\x80"), 0u);  // a surrogate
}

TEST(QuoteTextTest, EscapesControlAndInvalidBytesAndStaysUtf8) {
  EXPECT_EQ(QuoteText("cb\xff"), "\"cb\\xff\"");
  EXPECT_EQ(QuoteText("a\nb\"c"), "\"a\\nb\\\"c\"");
  EXPECT_EQ(QuoteText("é"), "\"é\"");
  const std::string quoted = QuoteText(std::string(100, 'x') + "\xff", 10);
  EXPECT_EQ(quoted, "\"xxxxxxxxxx\"… (101 bytes)");
  // A cut never splits a character.
  EXPECT_TRUE(IsValidUtf8(QuoteText("ééééé", 3)));
}

TEST(ToValidUtf8Test, ReplacesOnlyTheBadBytes) {
  EXPECT_EQ(ToValidUtf8("ok é"), "ok é");
  EXPECT_EQ(ToValidUtf8("a\xff"
                        "b"),
            "a\xEF\xBF\xBD"
            "b");
}

TEST(FindInvalidUtf8FieldTest, NamesNestedAndRepeatedFields) {
  v1::SendMessageRequest request;
  request.set_body("fine");
  EXPECT_FALSE(FindInvalidUtf8Field(request).has_value());
  request.add_media()->set_filename("ok.png");
  request.add_media()->set_filename("bad\xff.png");
  EXPECT_EQ(FindInvalidUtf8Field(request), "media[1].filename");
  request.mutable_media(1)->set_filename("good.png");
  request.set_status_callback("http://127.0.0.1/cb\xff");
  EXPECT_EQ(FindInvalidUtf8Field(request), "status_callback");
}

TEST(FindInvalidUtf8InWireTest, NamesTheFieldProtobufRefusedToParse) {
  v1::SendMessageRequest request;
  request.set_from("+12025550100");
  request.add_media_url("http://a/1");
  request.add_media_url("http://a/2\xff");
  const std::string bytes = request.SerializePartialAsString();
  v1::SendMessageRequest parsed;
  EXPECT_FALSE(parsed.ParseFromString(bytes));
  EXPECT_EQ(FindInvalidUtf8InWire(*v1::SendMessageRequest::descriptor(), bytes), "media_url[1]");

  v1::SendMessageRequest nested;
  nested.add_media()->set_content_type("image/\xff");
  EXPECT_EQ(FindInvalidUtf8InWire(*v1::SendMessageRequest::descriptor(),
                                  nested.SerializePartialAsString()),
            "media[0].content_type");
  // Bytes fields may hold anything; broken framing is reported as "no such field".
  v1::SendMessageRequest binary;
  binary.add_media()->set_data("\xff\xfe");
  EXPECT_FALSE(
      FindInvalidUtf8InWire(*v1::SendMessageRequest::descriptor(), binary.SerializeAsString())
          .has_value());
  EXPECT_FALSE(
      FindInvalidUtf8InWire(*v1::SendMessageRequest::descriptor(), "\x0a\x7f").has_value());
}

}  // namespace
}  // namespace mmsgate
