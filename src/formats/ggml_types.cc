// ggml's tensor types: ids, names and storage sizes, from llama.cpp (ggml.c's type traits, and
// GGML_QUANT_SIZES in its gguf Python package, which tests/gguf_roundtrip_test.py compares with).
#include <algorithm>
#include <string>

#include "gguf/gguf_format.h"
#include "tmac/error.h"
#include "tmac/ggml_types.h"

namespace tmac {

namespace {

constexpr int64_t kQK_K = 256;  // elements per "K-quant" super-block

constexpr GgmlTypeInfo kTypes[] = {
    {GgmlType::kF32, "F32", 1, 4},
    {GgmlType::kF16, "F16", 1, 2},
    {GgmlType::kQ4_0, "Q4_0", 32, 2 + 16},
    {GgmlType::kQ4_1, "Q4_1", 32, 2 + 2 + 16},
    {GgmlType::kQ5_0, "Q5_0", 32, 2 + 4 + 16},
    {GgmlType::kQ5_1, "Q5_1", 32, 2 + 2 + 4 + 16},
    {GgmlType::kQ8_0, "Q8_0", 32, 2 + 32},
    {GgmlType::kQ8_1, "Q8_1", 32, 4 + 4 + 32},
    {GgmlType::kQ2_K, "Q2_K", kQK_K, 2 + 2 + kQK_K / 16 + kQK_K / 4},
    {GgmlType::kQ3_K, "Q3_K", kQK_K, 2 + kQK_K / 4 + kQK_K / 8 + 12},
    {GgmlType::kQ4_K, "Q4_K", kQK_K, 2 + 2 + kQK_K / 2 + 12},
    {GgmlType::kQ5_K, "Q5_K", kQK_K, 2 + 2 + kQK_K / 2 + kQK_K / 8 + 12},
    {GgmlType::kQ6_K, "Q6_K", kQK_K, 2 + kQK_K / 2 + kQK_K / 4 + kQK_K / 16},
    {GgmlType::kQ8_K, "Q8_K", kQK_K, 4 + kQK_K + kQK_K / 8},
    {GgmlType::kIQ2_XXS, "IQ2_XXS", kQK_K, 2 + kQK_K / 4},
    {GgmlType::kIQ2_XS, "IQ2_XS", kQK_K, 2 + kQK_K / 4 + kQK_K / 32},
    {GgmlType::kIQ3_XXS, "IQ3_XXS", kQK_K, 2 + kQK_K / 4 + kQK_K / 8},
    {GgmlType::kIQ1_S, "IQ1_S", kQK_K, 2 + kQK_K / 8 + kQK_K / 16},
    {GgmlType::kIQ4_NL, "IQ4_NL", 32, 2 + 16},
    {GgmlType::kIQ3_S, "IQ3_S", kQK_K, 2 + kQK_K / 4 + kQK_K / 8 + kQK_K / 32 + 4},
    {GgmlType::kIQ2_S, "IQ2_S", kQK_K, 2 + kQK_K / 4 + kQK_K / 16},
    {GgmlType::kIQ4_XS, "IQ4_XS", kQK_K, 2 + 2 + kQK_K / 2 + kQK_K / 64},
    {GgmlType::kI8, "I8", 1, 1},
    {GgmlType::kI16, "I16", 1, 2},
    {GgmlType::kI32, "I32", 1, 4},
    {GgmlType::kI64, "I64", 1, 8},
    {GgmlType::kF64, "F64", 1, 8},
    {GgmlType::kIQ1_M, "IQ1_M", kQK_K, kQK_K / 8 + kQK_K / 16 + kQK_K / 32},
    {GgmlType::kBF16, "BF16", 1, 2},
    {GgmlType::kTQ1_0, "TQ1_0", kQK_K, 2 + 4 * 13},
    {GgmlType::kTQ2_0, "TQ2_0", kQK_K, 2 + 64},
    {GgmlType::kMXFP4, "MXFP4", 32, 1 + 16},
    {GgmlType::kNVFP4, "NVFP4", 64, 4 + 32},
    {GgmlType::kQ1_0, "Q1_0", 128, 2 + 16},
};

// tmac's private types (src/formats/lut_gguf.h): bytes of a packed matrix.
constexpr GgmlTypeInfo kTmacTypes[] = {
    {GgmlType::kTmacLut, "TMAC_LUT", 1, 1},
    {GgmlType::kTmacTl2, "TMAC_TL2", 1, 1},
};

constexpr bool SortedById() {
  for (size_t i = 1; i < std::size(kTypes); ++i) {
    if (kTypes[i - 1].type >= kTypes[i].type) return false;
  }
  return true;
}
static_assert(SortedById(), "FindGgmlType binary-searches kTypes by id");

}  // namespace

std::span<const GgmlTypeInfo> GgmlTypes() { return kTypes; }

const GgmlTypeInfo* FindGgmlType(uint32_t id) {
  const auto* it = std::lower_bound(std::begin(kTypes), std::end(kTypes), id,
                                    [](const GgmlTypeInfo& t, uint32_t v) { return uint32_t(t.type) < v; });
  if (it != std::end(kTypes) && uint32_t(it->type) == id) return it;
  for (const GgmlTypeInfo& info : kTmacTypes) {
    if (uint32_t(info.type) == id) return &info;
  }
  return nullptr;
}

const GgmlTypeInfo& GgmlTypeInfoOf(GgmlType type) {
  const GgmlTypeInfo* info = FindGgmlType(uint32_t(type));
  Require(info != nullptr, "unknown ggml type id " + std::to_string(uint32_t(type)));
  return *info;
}

int64_t GgmlTensorBytes(std::span<const int64_t> shape, GgmlType type) {
  const GgmlTypeInfo& info = GgmlTypeInfoOf(type);
  Require(!shape.empty() && shape.size() <= gguf::kMaxDims,
          std::to_string(shape.size()) + " dimensions; a tensor has 1 to 4");
  for (size_t i = 0; i < shape.size(); ++i) {
    Require(shape[i] > 0, "dimension " + std::to_string(i) + " is " + std::to_string(shape[i]) +
                              "; dimensions must be positive");
  }
  Require(shape[0] % info.block_size == 0, "row length " + std::to_string(shape[0]) +
                                               " is not a multiple of the " + std::string(info.name) +
                                               " block size " + std::to_string(info.block_size));
  int64_t bytes = info.type_size;
  bool overflow = __builtin_mul_overflow(bytes, shape[0] / info.block_size, &bytes);
  for (size_t i = 1; i < shape.size(); ++i) overflow |= __builtin_mul_overflow(bytes, shape[i], &bytes);
  Require(!overflow, "the tensor's byte size overflows 64 bits");
  return bytes;
}

}  // namespace tmac
