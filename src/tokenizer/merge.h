// The merge loop both BPE flavours share (llama.cpp's llm_tokenizer_spm_session and
// llm_tokenizer_bpe_session): start from one symbol per UTF-8 character, repeatedly merge the
// adjacent pair with the best priority (the leftmost among equals), until no pair qualifies.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <queue>
#include <string_view>
#include <vector>

#include "tokenizer/unicode.h"

namespace tmac::tokenizer {

// `priority(left, right)` returns the pair's priority (higher merges first), or nullopt when
// the pair may not merge. Returns the final symbols in order, as views into `text`.
template <class Priority>
std::vector<std::string_view> MergeSymbols(std::string_view text, Priority&& priority) {
  struct Symbol {
    size_t offset, length;  // length 0: merged into its left neighbour
    int prev, next;         // neighbours in the live chain, -1 at the ends
  };
  struct Candidate {
    int left, right;
    double priority;
    size_t length;  // of the pair when queued; a different sum now means a side has changed
    bool operator<(const Candidate& other) const {  // "merges later than"
      return priority < other.priority || (priority == other.priority && left > other.left);
    }
  };

  std::vector<Symbol> symbols;
  for (size_t offset = 0; offset < text.size();) {
    const size_t length =
        std::min(Utf8SequenceLength(static_cast<uint8_t>(text[offset])), text.size() - offset);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({offset, length, index - 1, offset + length == text.size() ? -1 : index + 1});
    offset += length;
  }
  const auto view = [&](const Symbol& s) { return text.substr(s.offset, s.length); };

  std::priority_queue<Candidate> queue;
  const auto consider = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    if (const std::optional<double> p = priority(view(l), view(r))) {
      queue.push({left, right, *p, l.length + r.length});
    }
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) consider(i - 1, i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(c.left)];
    Symbol& right = symbols[static_cast<size_t>(c.right)];
    if (left.length == 0 || right.length == 0 || left.length + right.length != c.length) continue;  // stale
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = c.left;
    consider(left.prev, c.left);
    consider(c.left, left.next);
  }

  std::vector<std::string_view> out;
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    out.push_back(view(symbols[static_cast<size_t>(i)]));
  }
  return out;
}

}  // namespace tmac::tokenizer
