// Strings from a file, made safe to show in a message or a listing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tmac::gguf {

// `text` in double quotes: valid UTF-8 as it is, quotes and backslashes escaped, control
// characters and bytes that are not UTF-8 escaped as \n, \t, \xNN... After about `max_bytes`
// bytes of `text` the rest is left out and "..." follows the closing quote.
std::string Quoted(std::string_view text, size_t max_bytes = 80);

}  // namespace tmac::gguf
