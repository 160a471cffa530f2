// GPT-2's bytes_to_unicode: byte-level BPE vocabularies write every byte as a printable code
// point (the printable Latin-1 bytes as themselves, the others as U+0100 upwards), so that token
// texts never hold spaces or control characters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tmac::tokenizer {

// `bytes` with every byte replaced by its code point's UTF-8.
std::string ByteLevelEncode(std::string_view bytes);

// The byte code point `cpt` stands for, or nullopt when it is none of the 256.
std::optional<uint8_t> ByteOfCodepoint(uint32_t cpt);

}  // namespace tmac::tokenizer
