#include "tokenizer/unicode.h"

#include <algorithm>

namespace tmac::tokenizer {

CodepointClass ClassOf(uint32_t cpt) {
  if (cpt > 0x10FFFF) return CodepointClass::kUndefined;
  // The last range that starts at or before cpt; the table starts at 0, so there is one.
  const ClassRange* after = std::upper_bound(kClassRanges, kClassRanges + kClassRangeCount, cpt,
                                             [](uint32_t c, const ClassRange& r) { return c < r.first; });
  return (after - 1)->cls;
}

bool IsWhitespace(uint32_t cpt) {
  // PropList.txt's White_Space, the list llama.cpp's unicode-data.cpp holds.
  if (cpt >= 0x09 && cpt <= 0x0D) return true;
  if (cpt >= 0x2000 && cpt <= 0x200A) return true;
  switch (cpt) {
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return false;
  }
}

size_t Utf8SequenceLength(uint8_t lead) {
  static constexpr uint8_t kLengthByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengthByHighNibble[lead >> 4];
}

namespace {

bool IsContinuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// The code point at text[pos] and its length in bytes, or length 0 when the bytes there are not
// a sequence llama.cpp's unicode_cpt_from_utf8 accepts.
struct Decoded {
  uint32_t cpt;
  size_t length;
};

Decoded DecodeOne(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[pos + i]); };
  const uint8_t lead = byte(0);
  if (lead < 0x80) return {lead, 1};
  size_t length = 0;
  uint32_t cpt = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, cpt = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, cpt = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, cpt = lead & 0x07;
  } else {
    return {0, 0};  // a continuation byte, or 0xF8..0xFF
  }
  if (pos + length > text.size()) return {0, 0};
  for (size_t i = 1; i < length; ++i) {
    if (!IsContinuation(byte(i))) return {0, 0};
    cpt = (cpt << 6) | (byte(i) & 0x3F);
  }
  if (cpt > 0x10FFFF) return {0, 0};
  return {cpt, length};
}

}  // namespace

std::vector<uint32_t> DecodeUtf8(std::string_view text) {
  std::vector<uint32_t> cpts;
  cpts.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const Decoded d = DecodeOne(text, pos);
    if (d.length == 0) {
      cpts.push_back(kReplacementCharacter);
      ++pos;
    } else {
      cpts.push_back(d.cpt);
      pos += d.length;
    }
  }
  return cpts;
}

void AppendUtf8(uint32_t cpt, std::string& out) {
  if (cpt <= 0x7F) {
    out += static_cast<char>(cpt);
  } else if (cpt <= 0x7FF) {
    out += static_cast<char>(0xC0 | (cpt >> 6));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else if (cpt <= 0xFFFF) {
    out += static_cast<char>(0xE0 | (cpt >> 12));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cpt >> 18));
    out += static_cast<char>(0x80 | ((cpt >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  }
}

}  // namespace tmac::tokenizer
