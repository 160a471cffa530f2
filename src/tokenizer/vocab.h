// A GGUF vocabulary as the tokenizers read it: token texts, scores and attributes, the merge
// ranks of byte-level BPE, the special ids and the flags llama.cpp derives from the metadata.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tmac/tokenizer.h"
#include "tokenizer/pretokenizer.h"

namespace tmac {
class GgufFile;
}

namespace tmac::tokenizer {

// llama.cpp's token attributes (llama_token_attr), from the GGUF token types.
enum TokenAttr : uint8_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1 << 0,
  kAttrUnused = 1 << 1,
  kAttrNormal = 1 << 2,
  kAttrControl = 1 << 3,
  kAttrUserDefined = 1 << 4,
  kAttrByte = 1 << 5,
};

inline constexpr int32_t kNoToken = -1;

// Hash and equality that accept std::string_view, so lookups need no temporary strings.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIds = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct Vocab {
  Tokenizer::Kind kind = Tokenizer::Kind::kSentencePiece;
  PreTokenizer pre = PreTokenizer::kDefault;  // byte-level BPE only

  std::vector<std::string> texts;
  std::vector<float> scores;
  std::vector<uint8_t> attrs;  // TokenAttr bits
  TokenIds ids;                // text -> id; the last id wins when texts repeat, as in llama.cpp
  TokenIds merge_ranks;        // MergeKey(left, right) -> rank (byte-level BPE)

  int32_t bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken, unk = kNoToken;
  std::set<int32_t> end_of_generation;
  // Ids of the control, user-defined and unknown tokens, longest text first: the order in which
  // they are cut out of the text.
  std::vector<int32_t> special_by_length;

  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  bool ignore_merges = false;  // a word that is a token is taken whole (llama3)

  static Vocab FromGguf(const GgufFile& file);

  int32_t size() const { return static_cast<int32_t>(texts.size()); }
  int32_t Find(std::string_view text) const {
    const auto it = ids.find(text);
    return it == ids.end() ? kNoToken : it->second;
  }
  // Whether token `id` has any of the TokenAttr bits in `mask`.
  bool Has(int32_t id, unsigned mask) const { return (attrs[static_cast<size_t>(id)] & mask) != 0; }
  // The rank of merging `left` with `right`, or -1 when the merges do not list the pair.
  int32_t MergeRank(std::string_view left, std::string_view right) const;
  // The SentencePiece token of byte `byte`: <0xXX>, else the one-byte text, else unk.
  int32_t ByteToken(uint8_t byte) const;
};

// The key of a merge pair in Vocab::merge_ranks: unambiguous whatever the two texts hold.
std::string MergeKey(std::string_view left, std::string_view right);

}  // namespace tmac::tokenizer
