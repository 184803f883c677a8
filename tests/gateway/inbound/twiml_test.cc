#include "gateway/inbound/twiml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "carriers/base/errors.h"

namespace mmsgate::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Parses a document that must be valid.
std::vector<TwimlMessage> ParseOk(const std::string& xml) {
  auto parsed = ParseMessagingTwiml(xml);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : std::vector<TwimlMessage>{};
}

// The refusal of a document that must be refused.
absl::Status ParseError(const std::string& xml) {
  auto parsed = ParseMessagingTwiml(xml);
  EXPECT_FALSE(parsed.ok()) << "accepted: " << xml;
  return parsed.status();
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(Twiml, BodyAndTwoMedia) {
  auto messages = ParseOk(R"(<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Message>
    <Body>  Here are the photos  </Body>
    <Media>http://127.0.0.1:9000/a.jpg</Media>
    <Media>
      http://127.0.0.1:9000/b.png
    </Media>
  </Message>
</Response>)");
  ASSERT_THAT(messages, SizeIs(1));
  EXPECT_EQ(messages[0].body, "Here are the photos");
  EXPECT_THAT(messages[0].media_urls,
              ElementsAre("http://127.0.0.1:9000/a.jpg", "http://127.0.0.1:9000/b.png"));
  EXPECT_EQ(messages[0].to, "");
  EXPECT_EQ(messages[0].from, "");
  EXPECT_EQ(messages[0].status_callback, "");
}

TEST(Twiml, MediaOnly) {
  auto messages = ParseOk("<Response><Message><Media>http://x/y.gif</Media></Message></Response>");
  ASSERT_THAT(messages, SizeIs(1));
  EXPECT_EQ(messages[0].body, "");
  EXPECT_THAT(messages[0].media_urls, ElementsAre("http://x/y.gif"));
}

TEST(Twiml, ShortFormIsTheBody) {
  auto messages = ParseOk("<Response><Message>\n  Thanks, got it!\n</Message></Response>");
  ASSERT_THAT(messages, SizeIs(1));
  EXPECT_EQ(messages[0].body, "Thanks, got it!");
  EXPECT_THAT(messages[0].media_urls, IsEmpty());
}

TEST(Twiml, TextBesideNounsIsIgnored) {
  auto messages =
      ParseOk("<Response><Message>stray<Body>real</Body> more stray</Message></Response>");
  ASSERT_THAT(messages, SizeIs(1));
  EXPECT_EQ(messages[0].body, "real");
}

TEST(Twiml, SeveralMessagesInDocumentOrder) {
  auto messages = ParseOk(
      "<Response><Message>one</Message><Message><Body>two</Body></Message>"
      "<!-- a comment --><Message>three</Message></Response>");
  ASSERT_THAT(messages, SizeIs(3));
  EXPECT_EQ(messages[0].body, "one");
  EXPECT_EQ(messages[1].body, "two");
  EXPECT_EQ(messages[2].body, "three");
}

TEST(Twiml, ToFromAndCallbackAttributes) {
  auto messages = ParseOk(
      R"(<Response>
           <Message to=" +12025550123 " from="+12025550100" action="http://cb/a">hi</Message>
           <Message to="+12025550124" statusCallback="http://cb/s" action="http://cb/a">yo</Message>
         </Response>)");
  ASSERT_THAT(messages, SizeIs(2));
  EXPECT_EQ(messages[0].to, "+12025550123");
  EXPECT_EQ(messages[0].from, "+12025550100");
  EXPECT_EQ(messages[0].status_callback, "http://cb/a");
  EXPECT_EQ(messages[1].to, "+12025550124");
  EXPECT_EQ(messages[1].from, "");
  EXPECT_EQ(messages[1].status_callback, "http://cb/s");  // statusCallback wins over action.
}

TEST(Twiml, EmptyDocumentsAreNoReply) {
  EXPECT_THAT(ParseOk(""), IsEmpty());
  EXPECT_THAT(ParseOk("  \r\n\t "), IsEmpty());
  EXPECT_THAT(ParseOk("<Response/>"), IsEmpty());
  EXPECT_THAT(ParseOk("<?xml version=\"1.0\"?>\n<Response></Response>\n"), IsEmpty());
  EXPECT_THAT(ParseOk("\xEF\xBB\xBF<Response>\n</Response>"), IsEmpty());
}

TEST(Twiml, MalformedXmlNamesDescriptionAndOffset) {
  absl::Status status = ParseError("<Response>\n<Message><Body>hi</Message>\n</Response>");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ProviderErrorCode(status), error_codes::kTwimlParseFailure);
  EXPECT_THAT(Message(status), StartsWith("12100: "));
  EXPECT_THAT(Message(status), HasSubstr("Start-end tags mismatch"));
  EXPECT_THAT(Message(status), HasSubstr("at byte "));
  EXPECT_THAT(Message(status), HasSubstr("line 2"));

  status = ParseError("<Response><Message>unclosed");
  EXPECT_EQ(ProviderErrorCode(status), error_codes::kTwimlParseFailure);
}

TEST(Twiml, NotXmlIsAClearError) {
  absl::Status json = ParseError(R"({"message": "hello"})");
  EXPECT_EQ(json.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ProviderErrorCode(json), error_codes::kTwimlParseFailure);
  EXPECT_THAT(Message(json), HasSubstr("not XML"));
  EXPECT_THAT(Message(json), HasSubstr("JSON"));

  absl::Status text = ParseError("OK");
  EXPECT_EQ(ProviderErrorCode(text), error_codes::kTwimlParseFailure);
  EXPECT_THAT(Message(text), HasSubstr("plain text"));

  absl::Status html = ParseError(
      "<!DOCTYPE html>\n<html><head><meta charset=utf-8><title>500</title></head>"
      "<body><p>Internal Server Error<br></body></html>");
  EXPECT_EQ(ProviderErrorCode(html), error_codes::kTwimlParseFailure);
  EXPECT_THAT(Message(html), HasSubstr("HTML page"));

  absl::Status xhtml = ParseError("<?xml version=\"1.0\"?><html><body>hi</body></html>");
  EXPECT_EQ(ProviderErrorCode(xhtml), error_codes::kTwimlParseFailure);
  EXPECT_THAT(Message(xhtml), HasSubstr("HTML page"));
}

TEST(Twiml, ElevenMediaIsTooMany) {
  std::string xml = "<Response><Message><Body>b</Body>";
  for (int i = 0; i < 11; ++i) xml += "<Media>http://x/" + std::to_string(i) + ".jpg</Media>";
  xml += "</Message></Response>";
  absl::Status status = ParseError(xml);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ProviderErrorCode(status), error_codes::kTooManyMedia);
  EXPECT_THAT(Message(status), StartsWith("21623: 11 <Media>"));
  EXPECT_THAT(Message(status), HasSubstr("at most 10"));
}

TEST(Twiml, TenMediaAreAllowed) {
  std::string xml = "<Response><Message>";
  for (int i = 0; i < 10; ++i) xml += "<Media>http://x/" + std::to_string(i) + ".jpg</Media>";
  xml += "</Message></Response>";
  auto messages = ParseOk(xml);
  ASSERT_THAT(messages, SizeIs(1));
  EXPECT_THAT(messages[0].media_urls, SizeIs(10));
}

TEST(Twiml, UnknownAndRedirectVerbsAreRefusedByName) {
  absl::Status redirect =
      ParseError("<Response><Message>hi</Message><Redirect>http://x/next</Redirect></Response>");
  EXPECT_EQ(redirect.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ProviderErrorCode(redirect), error_codes::kTwimlSchemaError);
  EXPECT_THAT(Message(redirect), StartsWith("12200: "));
  EXPECT_THAT(Message(redirect), HasSubstr("<Redirect>"));

  absl::Status say = ParseError("<Response><Say>hello</Say></Response>");
  EXPECT_EQ(ProviderErrorCode(say), error_codes::kTwimlSchemaError);
  EXPECT_THAT(Message(say), HasSubstr("<Say>"));

  absl::Status noun = ParseError("<Response><Message><Bdy>typo</Bdy></Message></Response>");
  EXPECT_EQ(ProviderErrorCode(noun), error_codes::kTwimlSchemaError);
  EXPECT_THAT(Message(noun), HasSubstr("<Bdy>"));
}

TEST(Twiml, SchemaErrors) {
  const std::vector<std::string> documents = {
      "<Reply><Message>hi</Message></Reply>",        // Wrong root.
      "<response><Message>hi</Message></response>",  // Case matters.
      "<Response>hello</Response>",                  // Text in <Response>.
      "<Response><Message><Body>a</Body><Body>b</Body></Message></Response>",
      "<Response><Message><Body>a <b>bold</b></Body></Message></Response>",
      "<Response><Message><Body>a</Body><Media> </Media></Message></Response>",
      "<Response><Message/></Response>",  // Nothing to send.
      "<Response><Message>  </Message></Response>",
  };
  for (const auto& xml : documents) {
    absl::Status status = ParseError(xml);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << xml;
    EXPECT_EQ(ProviderErrorCode(status), error_codes::kTwimlSchemaError) << xml << " " << status;
  }
  EXPECT_THAT(Message(ParseError("<response/>")), HasSubstr("case-sensitive"));
}

TEST(Twiml, LimitsOnMessagesAndSize) {
  std::string ten = "<Response>";
  for (int i = 0; i < kMaxTwimlMessages; ++i) ten += "<Message>m</Message>";
  EXPECT_THAT(ParseOk(ten + "</Response>"), SizeIs(kMaxTwimlMessages));
  absl::Status eleven = ParseError(ten + "<Message>m</Message></Response>");
  EXPECT_EQ(ProviderErrorCode(eleven), error_codes::kTwimlSchemaError);

  std::string big =
      "<Response><Message>" + std::string(kMaxTwimlBytes, 'x') + "</Message></Response>";
  absl::Status too_big = ParseError(big);
  EXPECT_EQ(ProviderErrorCode(too_big), error_codes::kTwimlParseFailure);
  EXPECT_THAT(Message(too_big), HasSubstr("at most 65536"));
}

TEST(Twiml, EntitiesAndCdataAreDecoded) {
  auto messages = ParseOk(
      "<Response>"
      "<Message><Body>Tom &amp; Jerry &lt;3 &#x263A; &quot;hi&quot;</Body></Message>"
      "<Message><Body><![CDATA[<b>raw</b> & more]]></Body></Message>"
      "<Message>Q&amp;A</Message>"
      "<Message><Media>http://x/a.jpg?w=1&amp;h=2</Media></Message>"
      "</Response>");
  ASSERT_THAT(messages, SizeIs(4));
  EXPECT_EQ(messages[0].body, "Tom & Jerry <3 \xE2\x98\xBA \"hi\"");
  EXPECT_EQ(messages[1].body, "<b>raw</b> & more");
  EXPECT_EQ(messages[2].body, "Q&A");
  EXPECT_THAT(messages[3].media_urls, ElementsAre("http://x/a.jpg?w=1&h=2"));
}

TEST(Twiml, Utf8TextIsPreserved) {
  const std::string text = "Grüße aus Köln — 日本語 👍";
  auto messages = ParseOk("<Response><Message><Body>" + text + "</Body></Message></Response>");
  ASSERT_THAT(messages, SizeIs(1));
  EXPECT_EQ(messages[0].body, text);
}

TEST(Twiml, InnerWhitespaceAndNewlinesAreKept) {
  auto messages = ParseOk(
      "<Response><Message><Body>\n line one\n line two  \n</Body></Message>"
      "</Response>");
  ASSERT_THAT(messages, SizeIs(1));
  EXPECT_EQ(messages[0].body, "line one\n line two");
}

TEST(Twiml, DoctypeEntitiesAreNotExpanded) {
  // A "billion laughs" document must not blow up; its entity is simply not expanded.
  auto parsed = ParseMessagingTwiml(
      "<?xml version=\"1.0\"?><!DOCTYPE Response [<!ENTITY a \"aaaaaaaaaa\">"
      "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
      "<Response><Message>&b;</Message></Response>");
  if (parsed.ok()) {
    ASSERT_THAT(*parsed, SizeIs(1));
    EXPECT_LT((*parsed)[0].body.size(), 10u);
  }
}

}  // namespace
}  // namespace mmsgate::gateway
