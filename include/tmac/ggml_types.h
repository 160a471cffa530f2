// llama.cpp (ggml) tensor types that tmac reads from GGUF files, and their decoding to float.
//
// A ggml tensor row is a sequence of fixed-size blocks, each holding `block_size` weights in
// `type_size` bytes (for F32, F16 and BF16 a block is one value). DecodeRow turns a row back
// into floats bit for bit as llama.cpp's reference dequantizers and gguf-py's gguf.quants do:
// the same float32 operations in the same order, so -0.0 and every rounding match too. It is
// the load/convert path and the definition that lossless repacks into tmac's layouts are
// tested against, so it is plain scalar code, not a fast kernel.
//
// Blocks are read as little-endian, as GGUF stores them; tmac's targets (x86-64, AArch64) are.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tmac {

// Tensor element types ---------------------------------------------------------------

// ggml's tensor types, with llama.cpp's ids; the gaps are ids llama.cpp has retired.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
  kNVFP4 = 40,
  kQ1_0 = 41,
  // tmac's private types, not llama.cpp's (src/formats/lut_gguf.h, docs/format.md): packed
  // matrices stored as raw bytes, block size 1 and type size 1, so the GGUF shape is the byte
  // count. FindGgmlType knows them; GgmlTypes() lists only ggml's own types.
  kTmacLut = 1000,
  kTmacTl2 = 1001,
};

// How a type stores elements: each block of `block_size` consecutive elements of a row takes
// `type_size` bytes.
struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;  // as llama.cpp's gguf Python package spells it: "F32", "Q4_K", ...
  int64_t block_size;
  int64_t type_size;
};

// Every type above, by increasing id.
std::span<const GgmlTypeInfo> GgmlTypes();
// The type with this id (a ggml type or one of tmac's private ones), or nullptr for an id
// that is neither (or no longer a ggml type).
const GgmlTypeInfo* FindGgmlType(uint32_t id);
// The type's entry; throws tmac::Error for a value outside the enum.
const GgmlTypeInfo& GgmlTypeInfoOf(GgmlType type);
// Bytes of a tensor of `shape` (ggml order) and `type`. Throws tmac::Error unless there are 1 to
// 4 dimensions, each positive, the row length is a multiple of the block size, and the size fits
// in int64.
int64_t GgmlTensorBytes(std::span<const int64_t> shape, GgmlType type);

// Decoding -----------------------------------------------------------------------------------

// ggml's name for the type ("Q4_K"), or "id <n>" for a value outside the enum.
std::string GgmlTypeName(GgmlType type);

struct GgmlBlockInfo {
  int block_size = 0;  // weights per block
  int type_size = 0;   // bytes per block
};

// Whether DecodeRow decodes `type`.
bool IsDecodable(GgmlType type);

// Throws tmac::Error naming the type when DecodeRow does not support it.
GgmlBlockInfo GgmlBlock(GgmlType type);

// Bytes that n weights of `type` occupy. Throws tmac::Error when the type is unsupported or n
// is negative or not a multiple of the block size.
int64_t GgmlRowBytes(GgmlType type, int64_t n);

// Decodes n weights stored as `type` (GgmlRowBytes(type, n) bytes at `blocks`, any alignment)
// into out[0..n). Throws tmac::Error, before writing anything, on the conditions of GgmlRowBytes.
void DecodeRow(GgmlType type, const void* blocks, int64_t n, float* out);

}  // namespace tmac
