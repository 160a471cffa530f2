#include "gguf/quote.h"

namespace tmac::gguf {

namespace {

// The length of the UTF-8 sequence of two to four bytes that `text` starts with, or 0 when it
// does not start with one (ASCII, a stray continuation byte, a cut-off sequence, ...).
size_t MultibyteLength(std::string_view text) {
  const auto lead = static_cast<unsigned char>(text[0]);
  const size_t length = lead >= 0xc2 && lead <= 0xdf   ? 2
                        : lead >= 0xe0 && lead <= 0xef ? 3
                        : lead >= 0xf0 && lead <= 0xf4 ? 4
                                                       : 0;
  if (length > text.size()) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80) return 0;
  }
  return length;
}

}  // namespace

std::string Quoted(std::string_view text, size_t max_bytes) {
  std::string out = "\"";
  size_t i = 0;
  while (i < text.size() && i < max_bytes) {
    if (const size_t length = MultibyteLength(text.substr(i)); length != 0) {
      out += text.substr(i, length);
      i += length;
      continue;
    }
    const char c = text[i++];
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (byte < 0x20 || byte >= 0x7f) {
          constexpr char kHex[] = "0123456789abcdef";
          out += {'\\', 'x', kHex[byte >> 4], kHex[byte & 15]};
        } else {
          out += c;
        }
    }
  }
  out += i < text.size() ? "\"..." : "\"";
  return out;
}

}  // namespace tmac::gguf
