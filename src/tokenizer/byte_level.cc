#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode.h"

namespace tmac::tokenizer {

namespace {

bool IsPrintableLatin1(int byte) {
  return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
}

// Code point of each byte: itself when printable, else 256, 257, ... in byte order.
constexpr int kMappedLimit = 256 + 68;  // 68 bytes are not printable
const std::array<uint16_t, 256>& CodepointOfByte() {
  static const std::array<uint16_t, 256> table = [] {
    std::array<uint16_t, 256> t{};
    uint16_t next = 256;
    for (int byte = 0; byte < 256; ++byte) t[byte] = IsPrintableLatin1(byte) ? byte : next++;
    return t;
  }();
  return table;
}

}  // namespace

std::string ByteLevelEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) AppendUtf8(CodepointOfByte()[static_cast<uint8_t>(c)], out);
  return out;
}

std::optional<uint8_t> ByteOfCodepoint(uint32_t cpt) {
  static const std::array<int16_t, kMappedLimit> table = [] {
    std::array<int16_t, kMappedLimit> t;
    t.fill(-1);
    for (int byte = 0; byte < 256; ++byte) t[CodepointOfByte()[byte]] = static_cast<int16_t>(byte);
    return t;
  }();
  if (cpt >= kMappedLimit || table[cpt] < 0) return std::nullopt;
  return static_cast<uint8_t>(table[cpt]);
}

}  // namespace tmac::tokenizer
