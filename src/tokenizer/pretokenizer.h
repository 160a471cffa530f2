// Pre-tokenizers of byte-level BPE vocabularies: the regular expressions that cut text into words
// before merges run, written out by hand as llama.cpp's unicode.cpp does for the common ones, so
// that no regex engine is needed and the splits are exactly llama.cpp's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tmac::tokenizer {

enum class PreTokenizer {
  // llama.cpp's fallback for an unnamed pre-tokenizer, four expressions applied in turn:
  // [\p{P}\$\+<=>\^~\|]+, then the GPT-2 expression, then \p{N}+, then [0-9][0-9][0-9].
  kDefault,
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  // \s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // StarCoder's (SmolLM's): every \p{N} on its own, then the GPT-2 expression.
  kStarCoder,
};

// Cuts `text` into words, each in UTF-8. The text is decoded as DecodeUtf8 does (an invalid byte
// becomes U+FFFD) and the words re-encoded, as in llama.cpp; their concatenation is the text when
// it is valid UTF-8. Every expression splits the pieces the previous one made, and the parts of a
// piece that an expression does not match are words too (llama.cpp's unicode_regex_split).
std::vector<std::string> PreTokenize(std::string_view text, PreTokenizer kind);

}  // namespace tmac::tokenizer
