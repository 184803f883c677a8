#include "mmsc/segments.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mmsgate::mmsc {
namespace {

// Payload sizes from 3GPP TS 23.040: a concatenated part loses room to the 6-octet UDH
// (7 septets for GSM-7, 3 UTF-16 units for UCS-2).
constexpr int kGsm7SingleSeptets = 160;
constexpr int kGsm7PartSeptets = 153;
constexpr int kUcs2SingleUnits = 70;
constexpr int kUcs2PartUnits = 67;

// Septet cost of a code point: 0 means "not representable in GSM-7".
constexpr int kNotGsm = 0;
constexpr int kBasic = 1;
constexpr int kExtension = 2;  // escape (0x1B) + character

// Most traffic is ASCII, so ASCII costs come from a direct table instead of a search.
constexpr std::array<std::uint8_t, 128> MakeAsciiCosts() {
  std::array<std::uint8_t, 128> costs{};  // control characters, '`' and DEL stay kNotGsm
  costs['\n'] = kBasic;
  costs['\r'] = kBasic;
  for (int c = ' '; c <= '?'; ++c) costs[c] = kBasic;  // includes '$' (GSM 0x02)
  costs['@'] = kBasic;
  for (int c = 'A'; c <= 'Z'; ++c) costs[c] = kBasic;
  costs['_'] = kBasic;
  for (int c = 'a'; c <= 'z'; ++c) costs[c] = kBasic;
  for (char c : {'\f', '^', '{', '}', '\\', '[', '~', ']', '|'}) costs[c] = kExtension;
  return costs;
}
constexpr std::array<std::uint8_t, 128> kAsciiCosts = MakeAsciiCosts();

// The non-ASCII code points of the GSM 03.38 basic table; sorted for binary search.
constexpr std::array<char32_t, 39> kNonAsciiBasic = {
    0x00A1,  // ¡
    0x00A3,  // £
    0x00A4,  // ¤
    0x00A5,  // ¥
    0x00A7,  // §
    0x00BF,  // ¿
    0x00C4,  // Ä
    0x00C5,  // Å
    0x00C6,  // Æ
    0x00C7,  // Ç
    0x00C9,  // É
    0x00D1,  // Ñ
    0x00D6,  // Ö
    0x00D8,  // Ø
    0x00DC,  // Ü
    0x00DF,  // ß
    0x00E0,  // à
    0x00E4,  // ä
    0x00E5,  // å
    0x00E6,  // æ
    0x00E8,  // è
    0x00E9,  // é
    0x00EC,  // ì
    0x00F1,  // ñ
    0x00F2,  // ò
    0x00F6,  // ö
    0x00F8,  // ø
    0x00F9,  // ù
    0x00FC,  // ü
    0x0393,  // Γ
    0x0394,  // Δ
    0x0398,  // Θ
    0x039B,  // Λ
    0x039E,  // Ξ
    0x03A0,  // Π
    0x03A3,  // Σ
    0x03A6,  // Φ
    0x03A8,  // Ψ
    0x03A9,  // Ω
};
static_assert(std::is_sorted(kNonAsciiBasic.begin(), kNonAsciiBasic.end()),
              "binary search needs a sorted table");

constexpr char32_t kEuroSign = 0x20AC;  // the only non-ASCII extension character

int Gsm7Cost(char32_t code_point) {
  if (code_point < 0x80) return kAsciiCosts[code_point];
  if (code_point == kEuroSign) return kExtension;
  // Every basic-table entry above ASCII is <= U+03A9, so most non-GSM text exits here.
  if (code_point > kNonAsciiBasic.back()) return kNotGsm;
  return std::binary_search(kNonAsciiBasic.begin(), kNonAsciiBasic.end(), code_point) ? kBasic
                                                                                      : kNotGsm;
}

// Decodes the code point starting at `*pos` and advances past it. Assumes well-formed input
// but never reads past the end, so a precondition violation gives a wrong count, not UB.
char32_t DecodeNext(std::string_view utf8, std::size_t* pos) {
  const auto lead = static_cast<unsigned char>(utf8[*pos]);
  int length;
  char32_t code_point;
  if (lead < 0x80) {
    ++*pos;
    return lead;
  } else if (lead >= 0xF0) {
    length = 4;
    code_point = lead & 0x07;
  } else if (lead >= 0xE0) {
    length = 3;
    code_point = lead & 0x0F;
  } else {
    length = 2;
    code_point = lead & 0x1F;
  }
  const std::size_t end = std::min(*pos + length, utf8.size());
  for (++*pos; *pos < end; ++*pos) {
    code_point = (code_point << 6) | (static_cast<unsigned char>(utf8[*pos]) & 0x3F);
  }
  return code_point;
}

// Greedily fills parts so that a multi-unit character (escape pair, surrogate pair) that
// does not fit in the current part moves whole into the next one, as handsets reassemble
// each part independently and a split pair would corrupt both halves.
class PartCounter {
 public:
  explicit PartCounter(int part_capacity) : part_capacity_(part_capacity) {}

  void Add(int cost) {
    if (used_ + cost > part_capacity_) {
      ++parts_;
      used_ = cost;
    } else {
      used_ += cost;
    }
  }

  int parts() const { return parts_; }

 private:
  int part_capacity_;
  int parts_ = 1;
  int used_ = 0;
};

bool IsContinuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

int CountCharacters(std::string_view utf8) {
  // In well-formed UTF-8 every code point has exactly one non-continuation byte.
  int characters = 0;
  for (char byte : utf8) {
    if (!IsContinuation(static_cast<unsigned char>(byte))) ++characters;
  }
  return characters;
}

SegmentInfo CountSegments(std::string_view utf8) {
  // One pass tracks both encodings, because a non-GSM character may appear at the very end
  // and re-reading the whole text would double the work on the common path.
  bool is_gsm7 = true;
  int septets = 0;
  int utf16_units = 0;
  int characters = 0;
  PartCounter gsm7_parts(kGsm7PartSeptets);
  PartCounter ucs2_parts(kUcs2PartUnits);

  std::size_t pos = 0;
  while (pos < utf8.size()) {
    const char32_t code_point = DecodeNext(utf8, &pos);
    ++characters;
    const int units = code_point > 0xFFFF ? 2 : 1;  // surrogate pair outside the BMP
    utf16_units += units;
    ucs2_parts.Add(units);
    if (is_gsm7) {
      const int cost = Gsm7Cost(code_point);
      if (cost == kNotGsm) {
        is_gsm7 = false;
      } else {
        septets += cost;
        gsm7_parts.Add(cost);
      }
    }
  }

  if (is_gsm7) {
    return {TextEncoding::kGsm7, septets, septets <= kGsm7SingleSeptets ? 1 : gsm7_parts.parts(),
            characters};
  }
  return {TextEncoding::kUcs2, utf16_units,
          utf16_units <= kUcs2SingleUnits ? 1 : ucs2_parts.parts(), characters};
}

}  // namespace mmsgate::mmsc
