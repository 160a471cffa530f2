#include "tokenizer/pretokenizer.h"

#include <cstdint>

#include "tokenizer/unicode.h"

namespace tmac::tokenizer {

namespace {

// One piece of the text being split: code points [begin, end). Reads outside the piece see
// kOutside, which no class or white-space test accepts, so the expressions' lookaheads stop at
// the piece's edges as llama.cpp's do.
class Piece {
 public:
  static constexpr uint32_t kOutside = 0xFFFFFFFF;

  Piece(const std::vector<uint32_t>& cpts, size_t begin, size_t end, std::vector<size_t>& lengths)
      : cpts_(cpts), begin_(begin), end_(end), word_start_(begin), lengths_(lengths) {}

  size_t begin() const { return begin_; }
  size_t end() const { return end_; }
  uint32_t At(size_t pos) const { return pos >= begin_ && pos < end_ ? cpts_[pos] : kOutside; }
  bool Inside(size_t pos) const { return pos >= begin_ && pos < end_; }
  bool Letter(size_t pos) const { return Inside(pos) && IsLetter(cpts_[pos]); }
  bool Number(size_t pos) const { return Inside(pos) && IsNumber(cpts_[pos]); }
  bool Space(size_t pos) const { return Inside(pos) && IsWhitespace(cpts_[pos]); }
  // [^\s\p{L}\p{N}] inside the piece.
  bool Other(size_t pos) const { return Inside(pos) && !Space(pos) && !Letter(pos) && !Number(pos); }

  // Ends the current word at `end` (nothing when empty) and returns its length.
  size_t EndWord(size_t end) {
    const size_t length = end - word_start_;
    if (length > 0) lengths_.push_back(length);
    word_start_ = end;
    return length;
  }

 private:
  const std::vector<uint32_t>& cpts_;
  size_t begin_, end_, word_start_;
  std::vector<size_t>& lengths_;
};

bool IsNewline(uint32_t cpt) { return cpt == '\r' || cpt == '\n'; }

uint32_t AsciiLower(uint32_t cpt) { return cpt >= 'A' && cpt <= 'Z' ? cpt + ('a' - 'A') : cpt; }

// 's|'t|'re|'ve|'m|'ll|'d at `pos` (any case when `ignore_case`): the length matched, or 0.
size_t Contraction(const Piece& p, size_t pos, bool ignore_case) {
  if (p.At(pos) != '\'' || pos + 1 >= p.end()) return 0;
  const auto lower = [&](size_t i) { return ignore_case ? AsciiLower(p.At(i)) : p.At(i); };
  const uint32_t c1 = lower(pos + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (pos + 2 >= p.end()) return 0;
  const uint32_t c2 = lower(pos + 2);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

// The white space run at `pos` ends the word either whole (\s+ at the piece's end) or but its last
// code point, which then leads the next word (\s+(?!\S)).
void WhitespaceWord(Piece& p, size_t& pos) {
  size_t n = 0;
  while (p.Space(pos + n)) ++n;
  if (n > 1 && p.Inside(pos + n)) {
    pos += n - 1;
  } else {
    pos += n > 0 ? n : 1;  // n == 0 cannot happen after the other branches; take one code point
  }
  p.EndWord(pos);
}

void SplitGpt2(Piece& p) {
  for (size_t pos = p.begin(); pos < p.end();) {
    if (const size_t n = Contraction(p, pos, /*ignore_case=*/false)) {
      pos += p.EndWord(pos + n);
      continue;
    }
    // ` ?X+` for X = \p{L}, \p{N}, [^\s\p{L}\p{N}]: an optional space, then a run of one class.
    const size_t first = p.At(pos) == ' ' ? pos + 1 : pos;
    using Test = bool (Piece::*)(size_t) const;
    bool matched = false;
    for (Test test : {&Piece::Letter, &Piece::Number, &Piece::Other}) {
      if (!(p.*test)(first)) continue;
      pos = first;
      while ((p.*test)(pos)) ++pos;
      p.EndWord(pos);
      matched = true;
      break;
    }
    if (!matched) WhitespaceWord(p, pos);
  }
}

void SplitLlama3(Piece& p) {
  for (size_t pos = p.begin(); pos < p.end();) {
    const uint32_t cpt = p.At(pos);
    if (const size_t n = Contraction(p, pos, /*ignore_case=*/true)) {
      pos += p.EndWord(pos + n);
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!IsNewline(cpt) && !p.Number(pos) && (p.Letter(pos) || p.Letter(pos + 1))) {
      ++pos;
      while (p.Letter(pos)) ++pos;
      p.EndWord(pos);
      continue;
    }
    // \p{N}{1,3}
    if (p.Number(pos)) {
      size_t start = pos;
      while (p.Number(pos)) {
        if (++pos - start >= 3) {
          p.EndWord(pos);
          start = pos;
        }
      }
      p.EndWord(pos);
      continue;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`. As in llama.cpp, a lone space at the piece's end also lands
    // here (nothing follows it to test), which makes the same word \s+ would.
    const size_t first = cpt == ' ' ? pos + 1 : pos;
    if (p.Other(first) || (cpt == ' ' && !p.Inside(first))) {
      pos = first;
      while (p.Other(pos)) ++pos;
      while (IsNewline(p.At(pos))) ++pos;
      p.EndWord(pos);
      continue;
    }
    // \s*[\r\n]+: white space up to and including its last newline.
    size_t n = 0, after_last_newline = 0;
    for (; p.Space(pos + n); ++n) {
      if (IsNewline(p.At(pos + n))) after_last_newline = pos + n + 1;
    }
    if (after_last_newline > 0) {
      pos = after_last_newline;
      p.EndWord(pos);
      continue;
    }
    WhitespaceWord(p, pos);
  }
}

// X+ as a regex_iterator would split: runs of code points that `in_class` accepts, and the runs
// between them, each a word.
template <class Pred>
void SplitRuns(Piece& p, Pred in_class) {
  for (size_t pos = p.begin(); pos < p.end();) {
    const bool inside = in_class(p.At(pos));
    while (pos < p.end() && in_class(p.At(pos)) == inside) ++pos;
    p.EndWord(pos);
  }
}

// X alone: each accepted code point a word, the runs between them words.
template <class Pred>
void SplitEach(Piece& p, Pred in_class) {
  for (size_t pos = p.begin(); pos < p.end(); ++pos) {
    if (in_class(p.At(pos))) {
      p.EndWord(pos);
      p.EndWord(pos + 1);
    }
  }
  p.EndWord(p.end());
}

bool IsAsciiDigit(uint32_t cpt) { return cpt >= '0' && cpt <= '9'; }

// [0-9][0-9][0-9]: leftmost non-overlapping triples of ASCII digits.
void SplitDigitTriples(Piece& p) {
  for (size_t pos = p.begin(); pos + 3 <= p.end();) {
    if (IsAsciiDigit(p.At(pos)) && IsAsciiDigit(p.At(pos + 1)) && IsAsciiDigit(p.At(pos + 2))) {
      p.EndWord(pos);
      p.EndWord(pos + 3);
      pos += 3;
    } else {
      ++pos;
    }
  }
  p.EndWord(p.end());
}

// [\p{P}\$\+<=>\^~\|]
bool IsDefaultPunctuation(uint32_t cpt) {
  if (cpt < 0x80) {
    for (char c : std::string_view("$+<=>^~|")) {
      if (cpt == static_cast<uint32_t>(c)) return true;
    }
  }
  return ClassOf(cpt) == CodepointClass::kPunctuation;
}

using Splitter = void (*)(Piece&);

// Runs `split` over every piece of `lengths` (code point counts), returning the new pieces.
std::vector<size_t> Apply(const std::vector<uint32_t>& cpts, const std::vector<size_t>& lengths,
                          Splitter split) {
  std::vector<size_t> out;
  out.reserve(lengths.size());
  size_t begin = 0;
  for (const size_t length : lengths) {
    Piece piece(cpts, begin, begin + length, out);
    split(piece);
    begin += length;
  }
  return out;
}

std::vector<Splitter> SplittersOf(PreTokenizer kind) {
  switch (kind) {
    case PreTokenizer::kDefault:
      return {[](Piece& p) { SplitRuns(p, IsDefaultPunctuation); }, SplitGpt2,
              [](Piece& p) { SplitRuns(p, IsNumber); }, SplitDigitTriples};
    case PreTokenizer::kGpt2: return {SplitGpt2};
    case PreTokenizer::kLlama3: return {SplitLlama3};
    case PreTokenizer::kStarCoder: return {[](Piece& p) { SplitEach(p, IsNumber); }, SplitGpt2};
  }
  return {};
}

}  // namespace

std::vector<std::string> PreTokenize(std::string_view text, PreTokenizer kind) {
  const std::vector<uint32_t> cpts = DecodeUtf8(text);
  std::vector<size_t> lengths;
  if (!cpts.empty()) lengths.push_back(cpts.size());
  for (Splitter split : SplittersOf(kind)) lengths = Apply(cpts, lengths, split);

  std::vector<std::string> words;
  words.reserve(lengths.size());
  size_t begin = 0;
  for (const size_t length : lengths) {
    std::string& word = words.emplace_back();
    for (size_t i = begin; i < begin + length; ++i) AppendUtf8(cpts[i], word);
    begin += length;
  }
  return words;
}

}  // namespace tmac::tokenizer
