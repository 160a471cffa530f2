// Constants of the GGUF file format that the reader and the writer share.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tmac::gguf {

// Files are little-endian and both sides copy scalars in host order.
static_assert(std::endian::native == std::endian::little, "GGUF I/O assumes a little-endian host");

inline constexpr std::string_view kMagic = "GGUF";
inline constexpr uint32_t kWrittenVersion = 3;  // v2 differs only in allowing big-endian files
inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr std::string_view kAlignmentKey = "general.alignment";
inline constexpr size_t kMaxDims = 4;
// The spec allows 64 bytes, but llama.cpp keeps names in char[64] with a terminating NUL and
// rejects files with longer ones; both sides hold to llama.cpp's limit.
inline constexpr size_t kMaxTensorName = 63;

inline uint64_t AlignUp(uint64_t offset, uint64_t alignment) {
  return (offset + alignment - 1) / alignment * alignment;
}

}  // namespace tmac::gguf
