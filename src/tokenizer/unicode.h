// The Unicode support the tokenizers need: UTF-8 decoding that never fails (the way llama.cpp's
// unicode_cpts_from_utf8 treats invalid bytes), encoding, the class of a code point (its general
// category's first letter, from the generated table in unicode_tables.cc) and white space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tmac::tokenizer {

// A code point's general category, grouped by first letter as regex \p{L}, \p{N}, ... see it.
enum class CodepointClass : uint8_t {
  kUndefined,  // unassigned (Cn), and anything past U+10FFFF
  kNumber,
  kLetter,
  kSeparator,
  kMark,
  kPunctuation,
  kSymbol,
  kControl,  // Cc, Cf, Co, Cs
};

struct ClassRange {
  uint32_t first;
  CodepointClass cls;
};
extern const ClassRange kClassRanges[];
extern const size_t kClassRangeCount;

inline constexpr uint32_t kReplacementCharacter = 0xFFFD;

CodepointClass ClassOf(uint32_t cpt);
// Unicode's White_Space property (regex \s).
bool IsWhitespace(uint32_t cpt);
inline bool IsLetter(uint32_t cpt) { return ClassOf(cpt) == CodepointClass::kLetter; }
inline bool IsNumber(uint32_t cpt) { return ClassOf(cpt) == CodepointClass::kNumber; }

// The length of the UTF-8 sequence that `lead` starts, from its high bits alone (1 for a
// continuation byte), as llama.cpp's unicode_len_utf8.
size_t Utf8SequenceLength(uint8_t lead);

// Decodes `text` leniently, as llama.cpp does: a sequence whose lead byte announces n bytes and is
// followed by n-1 continuation bytes decodes by its bits (overlong forms and surrogates included);
// any other byte becomes U+FFFD and decoding resumes at the next byte. Sequences that would decode
// past U+10FFFF also become U+FFFD per byte (llama.cpp cannot re-encode them and fails).
std::vector<uint32_t> DecodeUtf8(std::string_view text);

// Appends the UTF-8 form of `cpt` (at most U+10FFFF) to `out`.
void AppendUtf8(uint32_t cpt, std::string& out);

}  // namespace tmac::tokenizer
