// Repacking ggml blocks into QuantMatrix (tmac/ggml_repack.h).
//
// Each Repack overload mirrors its type's Decode in ggml_decode.cc: the same bit fields give the
// codes, and the scale and zero or min are the float32 values the decoder multiplies and adds,
// computed by the same operations, so QuantMatrix::Weight redoes the decoder's arithmetic:
// d * (q - z) with q - z exact for the zeros form, and dl * q - ml for the min form (Q4_1's
// d * q + m as d * q - (-m), the same IEEE sum).
#include "tmac/ggml_repack.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "formats/ggml_blocks.h"
#include "formats/half.h"
#include "tmac/error.h"

namespace tmac {
namespace {

using namespace ggml;  // the block structs and their bit fields

// Where one block goes in the QuantMatrix: its Block::kWeights codes, and the scale and the
// zero point or min of each of its groups.
struct BlockOut {
  uint8_t* codes;
  float* scales;
  float* offsets;  // zeros or mins, as the type's Form says
  // K-quants (Form::factored): the block's f16 scale (and min) and its groups' 8-bit factors.
  float* super_scale;
  float* super_min;
  int8_t* scale_factors;
  int8_t* min_factors;
};

// The QuantMatrix form of a type.
struct Form {
  int bits, group;
  bool min_form;  // offsets are mins (w = s * q - min), else zero points (w = s * (q - z))
  bool factored;  // scales (and mins) are 8-bit factors of the 256-weight block's f16 values
};

// Group j's scale d * sc, and its factors (ScaleFactors).
void SetFactoredScale(const BlockOut& out, int j, float d, int sc) {
  out.scales[j] = d * static_cast<float>(sc);
  out.scale_factors[j] = static_cast<int8_t>(sc);
}
void SetFactoredMin(const BlockOut& out, int j, float dmin, int m) {
  out.offsets[j] = dmin * static_cast<float>(m);
  out.min_factors[j] = static_cast<int8_t>(m);
}

void Repack(const BlockQ4_0& b, const BlockOut& out) {
  for (int k = 0; k < 32; ++k) out.codes[k] = static_cast<uint8_t>(Nibble(b.qs, k, 16));
  out.scales[0] = HalfToFloat(b.d);
  out.offsets[0] = 8.f;
}

void Repack(const BlockQ4_1& b, const BlockOut& out) {
  for (int k = 0; k < 32; ++k) out.codes[k] = static_cast<uint8_t>(Nibble(b.qs, k, 16));
  out.scales[0] = HalfToFloat(b.d);
  out.offsets[0] = -HalfToFloat(b.m);
}

void Repack(const BlockQ2_K& b, const BlockOut& out) {
  const float d = HalfToFloat(b.d), dmin = HalfToFloat(b.dmin);
  *out.super_scale = d;
  *out.super_min = dmin;
  for (int k = 0; k < 256; ++k) out.codes[k] = static_cast<uint8_t>(Crumb(b.qs, k));
  for (int j = 0; j < 16; ++j) {
    SetFactoredScale(out, j, d, b.scales[j] & 0xF);
    SetFactoredMin(out, j, dmin, b.scales[j] >> 4);
  }
}

void Repack(const BlockQ3_K& b, const BlockOut& out) {
  const float d = HalfToFloat(b.d);
  *out.super_scale = d;
  for (int k = 0; k < 256; ++k) out.codes[k] = static_cast<uint8_t>(Q3Code(b, k));
  for (int j = 0; j < 16; ++j) {
    SetFactoredScale(out, j, d, Q3Scale(b.scales, j));
    out.offsets[j] = 4.f;
  }
}

void Repack(const BlockQ4_K& b, const BlockOut& out) {
  const float d = HalfToFloat(b.d), dmin = HalfToFloat(b.dmin);
  *out.super_scale = d;
  *out.super_min = dmin;
  for (int k = 0; k < 256; ++k) out.codes[k] = static_cast<uint8_t>(Nibble(b.qs, k, 32));
  for (int j = 0; j < 8; ++j) {
    const ScaleMin sm = KScaleMin(b.scales, j);
    SetFactoredScale(out, j, d, sm.scale);
    SetFactoredMin(out, j, dmin, sm.min);
  }
}

void Repack(const BlockTQ1_0& b, const BlockOut& out) {
  ForEachTrit(b, [&](int k, int t) { out.codes[k] = static_cast<uint8_t>(t); });
  out.scales[0] = HalfToFloat(b.d);
  out.offsets[0] = 1.f;
}

void Repack(const BlockTQ2_0& b, const BlockOut& out) {
  for (int k = 0; k < 256; ++k) out.codes[k] = static_cast<uint8_t>(Crumb(b.qs, k));
  out.scales[0] = HalfToFloat(b.d);
  out.offsets[0] = 1.f;
}

// Calls visit(Block{}, form) for a type that repacks losslessly; throws naming the type and the
// reason for any other.
template <typename Visitor>
auto VisitRepack(GgmlType type, Visitor&& visit) {
  switch (type) {
    case GgmlType::kQ4_0: return visit(BlockQ4_0{}, Form{4, 32, false, false});
    case GgmlType::kQ4_1: return visit(BlockQ4_1{}, Form{4, 32, true, false});
    case GgmlType::kQ2_K: return visit(BlockQ2_K{}, Form{2, 16, true, true});
    case GgmlType::kQ3_K: return visit(BlockQ3_K{}, Form{3, 16, false, true});
    case GgmlType::kQ4_K: return visit(BlockQ4_K{}, Form{4, 32, true, true});
    case GgmlType::kTQ1_0: return visit(BlockTQ1_0{}, Form{2, 256, false, false});
    case GgmlType::kTQ2_0: return visit(BlockTQ2_0{}, Form{2, 256, false, false});
    default: break;
  }
  std::string reason;
  switch (type) {
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
    case GgmlType::kQ8_0:
    case GgmlType::kQ8_1:
    case GgmlType::kQ8_K: reason = "codes wider than 4 bits"; break;
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kF64: reason = "a float type has no codes"; break;
    default: reason = "not codes times a group scale"; break;  // codebooks (IQ*), FP4 values
  }
  throw Error("cannot repack " + GgmlTypeName(type) + " losslessly: " + reason + "; requantize instead");
}

}  // namespace

QuantMatrix RepackGgml(GgmlType type, const void* data, int64_t rows, int64_t cols) {
  return VisitRepack(type, [&](auto block, Form form) {
    using Block = decltype(block);
    // Validates the shape (positive, whole blocks, byte size in int64) before anything else.
    GgmlTensorBytes(std::array{cols, rows}, type);
    Require(cols <= std::numeric_limits<int64_t>::max() / rows,
            std::to_string(rows) + " x " + std::to_string(cols) + " weights overflow 64 bits");
    QuantMatrix w;
    w.rows = rows;
    w.cols = cols;
    w.bits = form.bits;
    w.group = form.group;
    const int64_t groups = rows * w.groups_per_row();
    w.codes.resize(static_cast<size_t>(rows * cols));
    w.scales.resize(static_cast<size_t>(groups));
    std::vector<float>& offsets = form.min_form ? w.mins : w.zeros;
    offsets.resize(static_cast<size_t>(groups));
    // Rows are whole blocks, so block i of the stream holds codes i * kWeights.. and groups
    // i * (kWeights / group).. of the row-major matrix, across row boundaries too, and is
    // super-block i.
    const int64_t blocks = rows * (cols / Block::kWeights);
    ScaleFactors& f = w.factors;
    if (form.factored) {
      f.super_group = Block::kWeights;
      f.super_scales.resize(static_cast<size_t>(blocks));
      f.scale_factors.resize(static_cast<size_t>(groups));
      if (form.min_form) {
        f.super_mins.resize(static_cast<size_t>(blocks));
        f.min_factors.resize(static_cast<size_t>(groups));
      }
    }
    // The factor outputs of block i, or nullptr for a type without them (its Repack ignores them).
    const auto at = [](auto& v, int64_t i) { return v.empty() ? nullptr : v.data() + i; };

    const auto* src = static_cast<const uint8_t*>(data);
    for (int64_t i = 0; i < blocks; ++i) {
      const int64_t g = i * (Block::kWeights / form.group);
      Repack(LoadBlock<Block>(src, i), {w.codes.data() + i * Block::kWeights, w.scales.data() + g,
                                        offsets.data() + g, at(f.super_scales, i), at(f.super_mins, i),
                                        at(f.scale_factors, g), at(f.min_factors, g)});
    }
    w.Validate();  // rejects non-finite fp16 scales, which no QuantMatrix holds
    return w;
  });
}

}  // namespace tmac
