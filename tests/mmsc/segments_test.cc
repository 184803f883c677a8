#include "mmsc/segments.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace mmsgate::mmsc {
namespace {

std::string Repeat(std::string_view piece, int times) {
  std::string text;
  for (int i = 0; i < times; ++i) text += piece;
  return text;
}

// Every GSM 03.38 basic-table character except the escape (0x1B), in table order.
constexpr std::string_view kGsmBasicTable =
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
constexpr std::string_view kGsmExtensionTable = "\f^{}\\[~]|€";

constexpr std::string_view kEuro = "€";         // GSM-7 extension, U+20AC
constexpr std::string_view kCyrillicZhe = "ж";  // U+0436, BMP, not GSM
constexpr std::string_view kEmoji = "😀";        // U+1F600, surrogate pair in UTF-16

TEST(CountSegmentsTest, EmptyTextIsOneGsm7Segment) {
  const SegmentInfo info = CountSegments("");
  EXPECT_EQ(info.encoding, TextEncoding::kGsm7);
  EXPECT_EQ(info.units, 0);
  EXPECT_EQ(info.segments, 1);
  EXPECT_EQ(info.characters, 0);
}

TEST(CountSegmentsTest, AsciiUpTo160FitsOneSegment) {
  const SegmentInfo info = CountSegments(Repeat("a", 160));
  EXPECT_EQ(info.encoding, TextEncoding::kGsm7);
  EXPECT_EQ(info.units, 160);
  EXPECT_EQ(info.segments, 1);
  EXPECT_EQ(info.characters, 160);
}

TEST(CountSegmentsTest, Ascii161NeedsTwoSegments) {
  const SegmentInfo info = CountSegments(Repeat("a", 161));
  EXPECT_EQ(info.encoding, TextEncoding::kGsm7);
  EXPECT_EQ(info.units, 161);
  EXPECT_EQ(info.segments, 2);
}

TEST(CountSegmentsTest, Gsm7PartsHold153Septets) {
  EXPECT_EQ(CountSegments(Repeat("a", 306)).segments, 2);  // 153 + 153
  EXPECT_EQ(CountSegments(Repeat("a", 307)).segments, 3);  // 153 + 153 + 1
}

TEST(CountSegmentsTest, NonAsciiGsmCharactersCostOneSeptet) {
  // è (2 UTF-8 bytes) and Δ (2 bytes) are basic-table characters: 1 septet each.
  const SegmentInfo info = CountSegments(Repeat("èΔ", 153));
  EXPECT_EQ(info.encoding, TextEncoding::kGsm7);
  EXPECT_EQ(info.units, 306);
  EXPECT_EQ(info.segments, 2);
  EXPECT_EQ(info.characters, 306);
}

TEST(CountSegmentsTest, WholeBasicTableIsGsm7) {
  const SegmentInfo info = CountSegments(kGsmBasicTable);
  EXPECT_EQ(info.encoding, TextEncoding::kGsm7);
  EXPECT_EQ(info.units, 127);
  EXPECT_EQ(info.characters, 127);
  EXPECT_EQ(info.segments, 1);
}

TEST(CountSegmentsTest, EveryExtensionCharacterCostsTwoSeptets) {
  const SegmentInfo info = CountSegments(kGsmExtensionTable);
  EXPECT_EQ(info.encoding, TextEncoding::kGsm7);
  EXPECT_EQ(info.characters, 10);
  EXPECT_EQ(info.units, 20);
  for (char c : std::string_view("\f^{}\\[~]|")) {
    EXPECT_EQ(CountSegments(std::string(1, c)).units, 2) << "char code " << int{c};
  }
}

TEST(CountSegmentsTest, EightyEuroSignsFillExactlyOneSegment) {
  const SegmentInfo info = CountSegments(Repeat(kEuro, 80));
  EXPECT_EQ(info.encoding, TextEncoding::kGsm7);
  EXPECT_EQ(info.units, 160);
  EXPECT_EQ(info.segments, 1);
  EXPECT_EQ(info.characters, 80);
}

TEST(CountSegmentsTest, EightyOneEuroSignsNeedTwoSegments) {
  // 162 septets; part 1 holds 76 euros (152 septets) since a 77th would end on the escape.
  const SegmentInfo info = CountSegments(Repeat(kEuro, 81));
  EXPECT_EQ(info.units, 162);
  EXPECT_EQ(info.segments, 2);
}

TEST(CountSegmentsTest, EscapePairIsNotSplitAcrossParts) {
  // 152 + 2 + 152 = 306 septets: a naive ceil(306 / 153) gives 2, but the euro would
  // straddle septets 153/154, so it moves to part 2 (153 full), leaving 1 septet for part 3.
  const std::string text = Repeat("a", 152) + std::string(kEuro) + Repeat("a", 152);
  const SegmentInfo info = CountSegments(text);
  EXPECT_EQ(info.encoding, TextEncoding::kGsm7);
  EXPECT_EQ(info.units, 306);
  EXPECT_EQ(info.segments, 3);
}

TEST(CountSegmentsTest, EscapePairEndingExactlyAtPartBoundaryStaysInPart) {
  // 151 + 2 = 153 fills part 1 exactly, then 153 more fill part 2.
  const std::string text = Repeat("a", 151) + std::string(kEuro) + Repeat("a", 153);
  const SegmentInfo info = CountSegments(text);
  EXPECT_EQ(info.units, 306);
  EXPECT_EQ(info.segments, 2);
}

TEST(CountSegmentsTest, Ucs2UpTo70FitsOneSegment) {
  const SegmentInfo info = CountSegments(Repeat(kCyrillicZhe, 70));
  EXPECT_EQ(info.encoding, TextEncoding::kUcs2);
  EXPECT_EQ(info.units, 70);
  EXPECT_EQ(info.segments, 1);
  EXPECT_EQ(info.characters, 70);
}

TEST(CountSegmentsTest, Ucs2Of71NeedsTwoSegments) {
  const SegmentInfo info = CountSegments(Repeat(kCyrillicZhe, 71));
  EXPECT_EQ(info.encoding, TextEncoding::kUcs2);
  EXPECT_EQ(info.units, 71);
  EXPECT_EQ(info.segments, 2);
}

TEST(CountSegmentsTest, Ucs2PartsHold67Units) {
  EXPECT_EQ(CountSegments(Repeat(kCyrillicZhe, 134)).segments, 2);  // 67 + 67
  EXPECT_EQ(CountSegments(Repeat(kCyrillicZhe, 135)).segments, 3);  // 67 + 67 + 1
}

TEST(CountSegmentsTest, EmojiCountsTwoUtf16Units) {
  const SegmentInfo info = CountSegments(Repeat(kEmoji, 35));
  EXPECT_EQ(info.encoding, TextEncoding::kUcs2);
  EXPECT_EQ(info.units, 70);
  EXPECT_EQ(info.segments, 1);
  EXPECT_EQ(info.characters, 35);
}

TEST(CountSegmentsTest, ThirtySixEmojiNeedTwoSegments) {
  // 72 units; part 1 holds 33 emoji (66 units) because a 34th would be split at unit 67.
  const SegmentInfo info = CountSegments(Repeat(kEmoji, 36));
  EXPECT_EQ(info.units, 72);
  EXPECT_EQ(info.segments, 2);
}

TEST(CountSegmentsTest, SurrogatePairIsNotSplitAcrossParts) {
  // 66 + 2 + 66 = 134 units: naive ceil(134 / 67) gives 2, but the emoji would straddle
  // units 67/68, so it moves to part 2 (67 full), leaving 1 unit for part 3.
  const std::string text =
      Repeat(kCyrillicZhe, 66) + std::string(kEmoji) + Repeat(kCyrillicZhe, 66);
  const SegmentInfo info = CountSegments(text);
  EXPECT_EQ(info.encoding, TextEncoding::kUcs2);
  EXPECT_EQ(info.units, 134);
  EXPECT_EQ(info.segments, 3);
  EXPECT_EQ(info.characters, 133);
}

TEST(CountSegmentsTest, SurrogatePairEndingExactlyAtPartBoundaryStaysInPart) {
  const std::string text =
      Repeat(kCyrillicZhe, 65) + std::string(kEmoji) + Repeat(kCyrillicZhe, 67);
  const SegmentInfo info = CountSegments(text);
  EXPECT_EQ(info.units, 134);
  EXPECT_EQ(info.segments, 2);
}

TEST(CountSegmentsTest, LowercaseCCedillaSwitchesWholeTextToUcs2) {
  // The basic table has uppercase Ç (0x09) but not lowercase ç (U+00E7).
  EXPECT_EQ(CountSegments("Ç").encoding, TextEncoding::kGsm7);
  const SegmentInfo info = CountSegments(Repeat("a", 100) + "ç");
  EXPECT_EQ(info.encoding, TextEncoding::kUcs2);
  EXPECT_EQ(info.units, 101);
  EXPECT_EQ(info.segments, 2);  // 67 + 34
  EXPECT_EQ(info.characters, 101);
}

TEST(CountSegmentsTest, ChineseCharacterSwitchesToUcs2) {
  const SegmentInfo info = CountSegments("Hi 中");
  EXPECT_EQ(info.encoding, TextEncoding::kUcs2);
  EXPECT_EQ(info.units, 4);
  EXPECT_EQ(info.segments, 1);
  EXPECT_EQ(info.characters, 4);
}

TEST(CountSegmentsTest, ExtensionCharactersCostOneUnitInUcs2) {
  // Once the text is UCS-2 there is no escape: the 80 euros are 80 units, plus the ж.
  const SegmentInfo info = CountSegments(Repeat(kEuro, 80) + std::string(kCyrillicZhe));
  EXPECT_EQ(info.encoding, TextEncoding::kUcs2);
  EXPECT_EQ(info.units, 81);
  EXPECT_EQ(info.segments, 2);
}

TEST(CountSegmentsTest, AsciiOutsideGsmAlphabetSwitchesToUcs2) {
  EXPECT_EQ(CountSegments("`").encoding, TextEncoding::kUcs2);
  EXPECT_EQ(CountSegments("a\tb").encoding, TextEncoding::kUcs2);
  EXPECT_EQ(CountSegments("\x7f").encoding, TextEncoding::kUcs2);
}

TEST(CountSegmentsTest, GreekOutsideGsmSubsetSwitchesToUcs2) {
  EXPECT_EQ(CountSegments("ΔΦΓΛΩΠΨΣΘΞ").encoding, TextEncoding::kGsm7);
  EXPECT_EQ(CountSegments("α").encoding, TextEncoding::kUcs2);  // lowercase alpha
  EXPECT_EQ(CountSegments("Α").encoding, TextEncoding::kUcs2);  // capital alpha U+0391
}

TEST(IsValidUtf8Test, AcceptsWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("é€😀中"));
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(IsValidUtf8("\xEE\x80\x80"));      // U+E000, just above the surrogates
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the maximum
  EXPECT_TRUE(IsValidUtf8(std::string_view("a\0b", 3)));
}

TEST(IsValidUtf8Test, RejectsOverlongEncodings) {
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // U+0000 in two bytes
  EXPECT_FALSE(IsValidUtf8("\xC1\xBF"));          // U+007F in two bytes
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\x80"));      // U+0000 in three bytes
  EXPECT_FALSE(IsValidUtf8("\xE0\x9F\xBF"));      // U+07FF in three bytes
  EXPECT_FALSE(IsValidUtf8("\xF0\x8F\xBF\xBF"));  // U+FFFF in four bytes
}

TEST(IsValidUtf8Test, RejectsSurrogates) {
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));  // U+D800
  EXPECT_FALSE(IsValidUtf8("\xED\xBF\xBF"));  // U+DFFF
}

TEST(IsValidUtf8Test, RejectsTruncatedSequences) {
  EXPECT_FALSE(IsValidUtf8("\xC3"));
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98"));
  EXPECT_FALSE(
      IsValidUtf8("\xE2\x82"
                  "a"));  // continuation replaced by ASCII
}

TEST(IsValidUtf8Test, RejectsCodePointsAboveUnicodeRange) {
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(IsValidUtf8Test, RejectsStrayContinuationBytes) {
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("a\xBF"));
}

TEST(CountCharactersTest, CountsCodePointsNotBytes) {
  EXPECT_EQ(CountCharacters(""), 0);
  EXPECT_EQ(CountCharacters("abc"), 3);
  EXPECT_EQ(CountCharacters("aé€😀"), 4);  // 1 + 2 + 3 + 4 bytes
  EXPECT_EQ(CountCharacters(Repeat(kEmoji, 10)), 10);
}

}  // namespace
}  // namespace mmsgate::mmsc
