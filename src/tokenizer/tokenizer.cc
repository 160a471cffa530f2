// tmac::Tokenizer: special tokens cut out first, then SentencePiece or byte-level BPE merges on
// the text between them, in the steps and order of llama.cpp's llama_vocab::impl::tokenize.
#include "tmac/tokenizer.h"

#include <charconv>
#include <optional>

#include "tmac/error.h"
#include "tmac/gguf.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/merge.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

namespace tmac {

using tokenizer::kNoToken;
using tokenizer::Vocab;

namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // "▁", SentencePiece's space

std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0;;) {
    const size_t found = text.find(from, pos);
    out += text.substr(pos, found == std::string_view::npos ? std::string_view::npos : found - pos);
    if (found == std::string_view::npos) return out;
    out += to;
    pos = found + from.size();
  }
}

// A run of the input: a special token's id, or text[offset, offset + length) to tokenize.
struct Fragment {
  int32_t token;  // kNoToken for text
  size_t offset, length;
};

// Cuts the special tokens out of `text`, longest first (llama.cpp's tokenizer_st_partition).
// Control and unknown tokens count only with `parse_special`; user-defined ones always.
std::vector<Fragment> Partition(const Vocab& v, std::string_view text, bool parse_special) {
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({kNoToken, 0, text.size()});
  for (const int32_t id : v.special_by_length) {
    if (!parse_special && v.Has(id, tokenizer::kAttrControl | tokenizer::kAttrUnknown)) continue;
    const std::string& special = v.texts[static_cast<size_t>(id)];
    std::vector<Fragment> next;
    next.reserve(fragments.size());
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      size_t begin = f.offset;
      const size_t end = f.offset + f.length;
      for (size_t match; (match = text.substr(0, end).find(special, begin)) != std::string_view::npos;) {
        if (match > begin) next.push_back({kNoToken, begin, match - begin});
        next.push_back({id, match, special.size()});
        begin = match + special.size();
      }
      if (begin < end) next.push_back({kNoToken, begin, end - begin});
    }
    fragments = std::move(next);
  }
  return fragments;
}

void EncodeSentencePiece(const Vocab& v, std::string_view text, std::vector<int32_t>& out) {
  const auto score = [&](std::string_view left, std::string_view right) -> std::optional<double> {
    const int32_t id = v.Find(std::string_view(left.data(), left.size() + right.size()));
    if (id == kNoToken) return std::nullopt;
    return v.scores[static_cast<size_t>(id)];
  };
  for (const std::string_view symbol : tokenizer::MergeSymbols(text, score)) {
    if (const int32_t id = v.Find(symbol); id != kNoToken) {
      out.push_back(id);
      continue;
    }
    for (const char c : symbol) {  // byte fallback
      const int32_t id = v.ByteToken(static_cast<uint8_t>(c));
      Require(id != kNoToken, "the vocabulary has no token for byte " +
                                  std::to_string(static_cast<uint8_t>(c)) + " and no unknown token");
      out.push_back(id);
    }
  }
}

// One pre-tokenized word, already byte-level encoded.
void EncodeByteLevelWord(const Vocab& v, std::string_view word, std::vector<int32_t>& out) {
  if (v.ignore_merges) {
    if (const int32_t id = v.Find(word); id != kNoToken) {
      out.push_back(id);
      return;
    }
  }
  const auto rank = [&](std::string_view left, std::string_view right) -> std::optional<double> {
    const int32_t r = v.MergeRank(left, right);
    if (r < 0) return std::nullopt;
    return -static_cast<double>(r);  // lower rank merges first
  };
  for (const std::string_view symbol : tokenizer::MergeSymbols(word, rank)) {
    if (const int32_t id = v.Find(symbol); id != kNoToken) {
      out.push_back(id);
      continue;
    }
    // llama.cpp looks each byte of the encoded symbol up as a one-byte token and drops the
    // bytes that are none (only ASCII can be); merges normally leave no such symbol.
    for (const char c : symbol) {
      if (const int32_t id = v.Find(std::string_view(&c, 1)); id != kNoToken) out.push_back(id);
    }
  }
}

// The byte a <0xXX> token stands for.
std::optional<uint8_t> ParseByteToken(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text.back() != '>') return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data() + 3, text.data() + 5, value, 16);
  if (ec != std::errc() || end != text.data() + 5) return std::nullopt;
  return static_cast<uint8_t>(value);
}

// A byte-level token's text with GPT-2's byte mapping undone. A code point outside the mapping
// is written as llama.cpp's llama_decode_text writes it.
std::string ByteLevelDecode(std::string_view text) {
  std::string out;
  for (const uint32_t cpt : tokenizer::DecodeUtf8(text)) {
    if (const std::optional<uint8_t> byte = tokenizer::ByteOfCodepoint(cpt)) {
      out += static_cast<char>(*byte);
      continue;
    }
    std::string utf8;
    tokenizer::AppendUtf8(cpt, utf8);
    out += "[UNK_BYTE_0x";
    for (const char c : utf8) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += kHex[static_cast<uint8_t>(c) >> 4];
      out += kHex[static_cast<uint8_t>(c) & 15];
    }
    out += std::string(text) + "]";
  }
  return out;
}

}  // namespace

struct Tokenizer::Impl {
  Vocab vocab;

  void CheckId(int32_t id) const {
    Require(id >= 0 && id < vocab.size(), "token id " + std::to_string(id) +
                                              " is outside the vocabulary of " +
                                              std::to_string(vocab.size()) + " tokens");
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::FromGguf(const GgufFile& file) {
  auto impl = std::make_unique<Impl>();
  impl->vocab = Vocab::FromGguf(file);
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special, bool parse_special) const {
  const Vocab& v = impl_->vocab;
  std::vector<int32_t> out;
  if (add_special && v.add_bos) {
    Require(v.bos != kNoToken, "the vocabulary asks for a BOS token but has none");
    out.push_back(v.bos);
  }
  // SentencePiece puts a space before the text and after every special token.
  bool after_special = true;
  for (const Fragment& f : Partition(v, text, parse_special)) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      after_special = true;
      continue;
    }
    const std::string_view piece = text.substr(f.offset, f.length);
    if (v.kind == Kind::kSentencePiece) {
      const std::string spaced = (v.add_space_prefix && after_special ? " " : "") + std::string(piece);
      EncodeSentencePiece(v, ReplaceAll(spaced, " ", kSpaceMarker), out);
    } else {
      for (const std::string& word : tokenizer::PreTokenize(piece, v.pre)) {
        EncodeByteLevelWord(v, tokenizer::ByteLevelEncode(word), out);
      }
    }
    after_special = false;
  }
  if (add_special && v.add_eos) {
    Require(v.eos != kNoToken, "the vocabulary asks for an EOS token but has none");
    out.push_back(v.eos);
  }
  return out;
}

std::string Tokenizer::TokenToPiece(int32_t id, bool special) const {
  impl_->CheckId(id);
  const Vocab& v = impl_->vocab;
  const std::string& text = v.texts[static_cast<size_t>(id)];
  if (v.Has(id, tokenizer::kAttrControl | tokenizer::kAttrUnknown)) return special ? text : std::string();
  if (v.Has(id, tokenizer::kAttrUserDefined)) return text;
  if (v.Has(id, tokenizer::kAttrNormal)) {
    return v.kind == Kind::kSentencePiece ? ReplaceAll(text, kSpaceMarker, " ") : ByteLevelDecode(text);
  }
  if (v.Has(id, tokenizer::kAttrByte)) {
    if (const std::optional<uint8_t> byte = ParseByteToken(text))
      return std::string(1, static_cast<char>(*byte));
  }
  return {};  // unused and undefined tokens, as llama.cpp renders them
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool special) const {
  std::string out;
  bool strip_space = impl_->vocab.add_space_prefix;
  for (const int32_t id : ids) {
    std::string piece = TokenToPiece(id, special);
    if (strip_space && !piece.empty()) {
      if (piece.front() == ' ') piece.erase(0, 1);
      strip_space = false;
    }
    out += piece;
  }
  return out;
}

const std::string& Tokenizer::TokenText(int32_t id) const {
  impl_->CheckId(id);
  return impl_->vocab.texts[static_cast<size_t>(id)];
}

Tokenizer::Kind Tokenizer::kind() const { return impl_->vocab.kind; }
int32_t Tokenizer::size() const { return impl_->vocab.size(); }
int32_t Tokenizer::bos() const { return impl_->vocab.bos; }
int32_t Tokenizer::eos() const { return impl_->vocab.eos; }
int32_t Tokenizer::eot() const { return impl_->vocab.eot; }
int32_t Tokenizer::unk() const { return impl_->vocab.unk; }
bool Tokenizer::add_bos() const { return impl_->vocab.add_bos; }
bool Tokenizer::add_eos() const { return impl_->vocab.add_eos; }

bool Tokenizer::IsEndOfGeneration(int32_t id) const { return impl_->vocab.end_of_generation.count(id) > 0; }

bool Tokenizer::IsControl(int32_t id) const {
  impl_->CheckId(id);
  return impl_->vocab.Has(id, tokenizer::kAttrControl);
}

}  // namespace tmac
