#pragma once

#include <string_view>

#include "carriers/base/text.h"

namespace mmsgate::mmsc {

enum class TextEncoding { kGsm7, kUcs2 };

struct SegmentInfo {
  TextEncoding encoding;
  int units;       // GSM-7 septets (extension characters count 2) or UTF-16 code units
  int segments;    // number of SMS parts; an empty text is 1 segment
  int characters;  // Unicode code points
};

// True when `utf8` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
using ::mmsgate::IsValidUtf8;

// Number of Unicode code points in well-formed UTF-8.
int CountCharacters(std::string_view utf8);

// How a text is split into SMS segments. Precondition: IsValidUtf8(utf8).
SegmentInfo CountSegments(std::string_view utf8);

}  // namespace mmsgate::mmsc
