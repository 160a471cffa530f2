// Packing a QuantMatrix into the LUT layout, and back. docs/kernels.md draws the layout;
// kernels/lut_kernel-inl.h is the reader.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "formats/half.h"
#include "formats/lut_view.h"
#include "kernels/lut_kernels.h"
#include "runtime/aligned_buffer.h"
#include "tmac/error.h"
#include "tmac/tune.h"
#include "tmac/lut.h"

namespace tmac {

namespace {

constexpr int kPair = kernels::kPair;
constexpr int kMaxSuperGroup = 4096;

void StoreParam(uint8_t* base, int64_t index, float value, ScaleType type) {
  if (type == ScaleType::kF16) {
    const uint16_t h = FloatToHalf(value);
    std::memcpy(base + 2 * index, &h, 2);
  } else {
    std::memcpy(base + 4 * index, &value, 4);
  }
}

float LoadParam(const uint8_t* base, int64_t index, ScaleType type) {
  if (type == ScaleType::kF16) {
    uint16_t h;
    std::memcpy(&h, base + 2 * index, 2);
    return HalfToFloat(h);
  }
  float f;
  std::memcpy(&f, base + 4 * index, 4);
  return f;
}

// Bit p of the 4 codes of `chunk`, as a 4-bit index (weight i of the chunk -> bit i).
int Nibble(const uint8_t* codes, int chunk, int p) {
  // The chunk's four codes as one little-endian word: bit p of code i sits at bit 8i + p. The
  // multiply moves bit 8i to bit 24 + i (the partial products never carry into bits 24..27).
  static_assert(kernels::kChunk == 4);
  uint32_t four;
  std::memcpy(&four, codes + chunk * kernels::kChunk, sizeof(four));
  return static_cast<int>((((four >> p) & 0x01010101u) * 0x01020408u) >> 24) & 0xF;
}

void SetNibble(uint8_t* codes, int chunk, int p, int nibble) {
  for (int i = 0; i < kernels::kChunk; ++i) {
    codes[chunk * kernels::kChunk + i] |= static_cast<uint8_t>(((nibble >> i) & 1) << p);
  }
}

// Half the largest code: the zero point at which bit planes read as +-1 need no bias.
float Midpoint(int bits) { return 0.5f * static_cast<float>((1 << bits) - 1); }

// The bias term stored for group g of row m: s * (mid - z), or s * mid - min in the min form
// (see docs/kernels.md). Only for matrices that are not symmetric.
float Bias(const QuantMatrix& w, float mid, int64_t m, int64_t g) {
  const float s = w.scale(m, g);
  return w.mins.empty() ? s * (mid - w.zero(m, g))
                        : s * mid - w.mins[static_cast<size_t>(m * w.groups_per_row() + g)];
}

// How Pack keeps w's bias terms: the fewest bytes that hold them exactly.
LutBias BiasOf(const QuantMatrix& w) {
  if (w.symmetric()) return {};
  if (!w.mins.empty()) return {BiasForm::kMin};
  if (std::all_of(w.zeros.begin(), w.zeros.end(), [&](float z) { return z == w.zeros[0]; })) {
    const float per_scale = Midpoint(w.bits) - w.zeros[0];
    return per_scale == 0.f ? LutBias{} : LutBias{BiasForm::kPerScale, per_scale};
  }
  return {BiasForm::kStored};
}

// The value a block stores for the bias of group g of row m (LutBias::stored()).
float StoredBias(const QuantMatrix& w, const LutBias& bias, float mid, int64_t m, int64_t g) {
  return bias.form == BiasForm::kMin ? w.mins[static_cast<size_t>(m * w.groups_per_row() + g)] : Bias(w, mid, m, g);
}

// The layout's own parameters (bits and group are checked against the matrix by the caller).
void CheckLayout(const LutLayout& layout, const LutBias& bias) {
  Require(layout.tile_rows == 64 || layout.tile_rows == 128,
          "unsupported tile_rows " + std::to_string(layout.tile_rows) + " (expected 64 or 128)");
  Require(layout.scale_type == ScaleType::kF16 || layout.scale_type == ScaleType::kF32 ||
              layout.scale_type == ScaleType::kTwoLevel,
          "unknown scale type");
  if (layout.scale_type == ScaleType::kTwoLevel) {
    Require(layout.super_group > 0 && layout.super_group <= kMaxSuperGroup && layout.super_group % layout.group == 0,
            "a two-level super-group must be a multiple of the group " + std::to_string(layout.group) +
                " up to " + std::to_string(kMaxSuperGroup) + ", got " + std::to_string(layout.super_group));
    Require(bias.form != BiasForm::kStored, "two-level scales cannot hold stored bias terms");
  } else {
    Require(layout.super_group == 0, "a super-group is for two-level scales only");
  }
  Require(layout.order == IndexOrder::kChunkPairs || layout.order == IndexOrder::kChunkQuads,
          "unknown index order");
  Require(layout.order != IndexOrder::kChunkQuads || layout.group % 32 == 0,
          "chunk quads need a group of at least 32, got " + std::to_string(layout.group));
}

}  // namespace

std::string_view ScaleTypeName(ScaleType type) {
  switch (type) {
    case ScaleType::kF16: return "f16";
    case ScaleType::kF32: return "f32";
    case ScaleType::kTwoLevel: return "i8xf16";
  }
  return "?";
}

LutMatrix::LutMatrix() : storage_(nullptr, &std::free) {}
LutMatrix::~LutMatrix() = default;
LutMatrix::LutMatrix(LutMatrix&&) noexcept = default;
LutMatrix& LutMatrix::operator=(LutMatrix&&) noexcept = default;

int64_t LutMatrix::tiles() const {
  return layout_.tile_rows > 0 ? (rows_ + layout_.tile_rows - 1) / layout_.tile_rows : 0;
}

namespace {

bool AllHalf(const std::vector<float>& values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return RoundToHalf(v) == v; });
}

// Whether w's factors fit kTwoLevel storage: f16 super-values, and bias terms the kernels derive
// (`bias` is BiasOf(w)).
bool FitsTwoLevel(const QuantMatrix& w, const LutBias& bias) {
  return !w.factors.empty() && bias.form != BiasForm::kStored && AllHalf(w.factors.super_scales) &&
         AllHalf(w.factors.super_mins);
}

ScaleType NarrowestOneLevel(const QuantMatrix& w, const LutBias& bias) {
  const float mid = Midpoint(w.bits);
  for (int64_t m = 0; m < w.rows; ++m) {
    for (int64_t g = 0; g < w.groups_per_row(); ++g) {
      const float s = w.scale(m, g);
      if (RoundToHalf(s) != s) return ScaleType::kF32;
      if (w.symmetric()) continue;
      const float stored = StoredBias(w, bias, mid, m, g);
      if (RoundToHalf(stored) != stored) return ScaleType::kF32;
    }
  }
  return ScaleType::kF16;
}

}  // namespace

LutLayout WithLosslessScales(LutLayout layout, const QuantMatrix& w) {
  const LutBias bias = BiasOf(w);
  if (FitsTwoLevel(w, bias)) {
    layout.scale_type = ScaleType::kTwoLevel;
    layout.super_group = w.factors.super_group;
  } else {
    layout.scale_type = NarrowestOneLevel(w, bias);
    layout.super_group = 0;
  }
  return layout;
}

LutMatrix LutMatrix::Pack(const QuantMatrix& w, const LutLayout& layout) {
  w.Validate();
  Require(layout.bits == w.bits, "layout bits " + std::to_string(layout.bits) + " differ from the matrix's " +
                                     std::to_string(w.bits));
  Require(layout.group == w.group, "layout group " + std::to_string(layout.group) +
                                       " differs from the matrix's " + std::to_string(w.group));
  const LutBias bias = BiasOf(w);
  CheckLayout(layout, bias);
  const bool two_level = layout.scale_type == ScaleType::kTwoLevel;
  if (two_level) {
    Require(w.factors.super_group == layout.super_group,
            "two-level scales need the matrix's scale factors for super-group " + std::to_string(layout.super_group));
    Require(FitsTwoLevel(w, bias), "two-level scales need f16 super-scales and super-mins");
  }

  LutMatrix out;
  out.rows_ = w.rows;
  out.cols_ = w.cols;
  out.layout_ = layout;
  out.bias_ = bias;
  const LutGeometry geo = GeometryOf(out);
  out.bytes_ = geo.total_bytes;
  out.storage_ = AllocateAligned(static_cast<size_t>(geo.total_bytes), /*huge_pages=*/true);
  out.data_ = out.storage_.get();

  const int rows_per_tile = layout.tile_rows;
  const float mid = Midpoint(w.bits);
  uint8_t* data = out.storage_.get();
  for (int64_t tile = 0; tile < geo.tiles; ++tile) {
    for (int64_t g = 0; g < geo.groups; ++g) {
      uint8_t* header = data + geo.BlockOffset(tile, g);
      uint8_t* index = data + geo.GroupOffset(tile, g);
      uint8_t* scales = index + geo.index_bytes;
      uint8_t* biases = scales + geo.param_bytes;
      for (int r = 0; r < rows_per_tile; ++r) {
        const int64_t m = tile * rows_per_tile + r;
        if (m >= w.rows) break;  // padding rows keep zero codes, scales and biases
        const uint8_t* codes = w.codes.data() + m * w.cols + g * w.group;
        for (int j = 0; j < w.group / kPair; ++j) {
          for (int p = 0; p < w.bits; ++p) {
            const IndexSlot slot = SlotOf(layout, j, p, r);
            index[slot.offset] =
                static_cast<uint8_t>(Nibble(codes, slot.chunk_lo, p) | Nibble(codes, slot.chunk_hi, p) << 4);
          }
        }
        const auto i = static_cast<size_t>(m * geo.groups + g);
        if (!two_level) {
          StoreParam(scales, r, w.scales[i], layout.scale_type);
          if (bias.stored()) StoreParam(biases, r, StoredBias(w, bias, mid, m, g), layout.scale_type);
          continue;
        }
        scales[r] = static_cast<uint8_t>(w.factors.scale_factors[i]);
        if (bias.stored()) biases[r] = static_cast<uint8_t>(w.factors.min_factors[i]);
        if (g % geo.sub_groups == 0) {  // the block's first group: its super-values too
          const auto j = static_cast<size_t>(m * geo.blocks + g / geo.sub_groups);
          StoreParam(header, r, w.factors.super_scales[j], ScaleType::kF16);
          if (bias.stored()) StoreParam(header + 2 * rows_per_tile, r, w.factors.super_mins[j], ScaleType::kF16);
        }
      }
    }
  }
  return out;
}

LutMatrix LutMatrix::Clone() const {
  if (data_ == nullptr) return LutMatrix();
  LutMatrix copy = FromBytes(rows_, cols_, layout_, bias_, {data_, static_cast<size_t>(bytes_)});
  copy.tuning_ = tuning_;
  return copy;
}

void LutMatrix::set_tuning(const KernelTuning& tuning) {
  CheckTuning(tuning);
  tuning_ = tuning;
}

LutMatrix LutMatrix::FromBytes(int64_t rows, int64_t cols, const LutLayout& layout, const LutBias& bias,
                               std::span<const uint8_t> bytes) {
  Require(rows > 0 && cols > 0, "a packed matrix needs positive rows and cols");
  Require(layout.bits >= kMinBits && layout.bits <= kMaxBits,
          "unsupported bits " + std::to_string(layout.bits));
  Require(IsSupportedGroup(layout.group), "unsupported group " + std::to_string(layout.group));
  Require(cols % layout.group == 0,
          "cols " + std::to_string(cols) + " is not a multiple of the group " + std::to_string(layout.group));
  CheckLayout(layout, bias);
  Require(layout.super_group == 0 || cols % layout.super_group == 0,
          "cols " + std::to_string(cols) + " is not a multiple of the super-group " + std::to_string(layout.super_group));
  Require(bias.form == BiasForm::kPerScale ? std::isfinite(bias.per_scale) && bias.per_scale != 0.f
                                           : bias.per_scale == 0.f,
          "a bias per scale must be finite and not 0, and is only for BiasForm::kPerScale");
  LutMatrix out;
  out.rows_ = rows;
  out.cols_ = cols;
  out.layout_ = layout;
  out.bias_ = bias;
  const LutGeometry geo = GeometryOf(out);
  Require(static_cast<int64_t>(bytes.size()) == geo.total_bytes,
          std::to_string(bytes.size()) + " bytes for a packed matrix of " + std::to_string(geo.total_bytes));
  out.bytes_ = geo.total_bytes;
  out.storage_ = CopyAligned(bytes.data(), bytes.size(), /*huge_pages=*/true);
  out.data_ = out.storage_.get();
  return out;
}

QuantMatrix LutMatrix::Unpack() const {
  Require(data_ != nullptr, "unpacking an empty LutMatrix");
  const LutGeometry geo = GeometryOf(*this);
  const bool two_level = layout_.scale_type == ScaleType::kTwoLevel;
  QuantMatrix w;
  w.rows = rows_;
  w.cols = cols_;
  w.bits = layout_.bits;
  w.group = layout_.group;
  w.codes.resize(static_cast<size_t>(rows_ * cols_));
  w.scales.resize(static_cast<size_t>(rows_ * geo.groups));
  if (bias_.form == BiasForm::kMin) {
    w.mins.resize(w.scales.size());
  } else if (bias_.form != BiasForm::kNone) {
    w.zeros.resize(w.scales.size());
  }
  ScaleFactors& f = w.factors;
  if (two_level) {
    f.super_group = layout_.super_group;
    f.super_scales.resize(static_cast<size_t>(rows_ * geo.blocks));
    f.scale_factors.resize(w.scales.size());
    if (bias_.stored()) {
      f.super_mins.resize(f.super_scales.size());
      f.min_factors.resize(w.scales.size());
    }
  }
  const float mid = Midpoint(w.bits);
  const int rows_per_tile = layout_.tile_rows;
  for (int64_t m = 0; m < rows_; ++m) {
    const int64_t tile = m / rows_per_tile;
    const int r = static_cast<int>(m % rows_per_tile);
    for (int64_t g = 0; g < geo.groups; ++g) {
      const uint8_t* index = data_ + geo.GroupOffset(tile, g);
      const uint8_t* scales = index + geo.index_bytes;
      const uint8_t* biases = scales + geo.param_bytes;
      uint8_t* codes = w.codes.data() + m * cols_ + g * w.group;
      for (int j = 0; j < w.group / kPair; ++j) {
        for (int p = 0; p < w.bits; ++p) {
          const IndexSlot slot = SlotOf(layout_, j, p, r);
          SetNibble(codes, slot.chunk_lo, p, index[slot.offset] & 0xF);
          SetNibble(codes, slot.chunk_hi, p, index[slot.offset] >> 4);
        }
      }
      const auto i = static_cast<size_t>(m * geo.groups + g);
      // The scale and the stored bias value, as the kernels compute them.
      float s, stored = 0.f;
      if (two_level) {
        const auto j = static_cast<size_t>(m * geo.blocks + g / geo.sub_groups);
        if (g % geo.sub_groups == 0) {  // the block's first group: read its super-values
          const uint8_t* header = data_ + geo.BlockOffset(tile, g);
          f.super_scales[j] = LoadParam(header, r, ScaleType::kF16);
          if (bias_.stored()) f.super_mins[j] = LoadParam(header + 2 * rows_per_tile, r, ScaleType::kF16);
        }
        f.scale_factors[i] = static_cast<int8_t>(scales[r]);
        s = f.super_scales[j] * static_cast<float>(f.scale_factors[i]);
        if (bias_.stored()) {
          f.min_factors[i] = static_cast<int8_t>(biases[r]);
          stored = f.super_mins[j] * static_cast<float>(f.min_factors[i]);
        }
      } else {
        s = LoadParam(scales, r, layout_.scale_type);
        if (bias_.stored()) stored = LoadParam(biases, r, layout_.scale_type);
      }
      w.scales[i] = s;
      switch (bias_.form) {
        case BiasForm::kNone: break;
        case BiasForm::kStored: w.zeros[i] = s != 0.f ? mid - stored / s : mid; break;
        case BiasForm::kPerScale: w.zeros[i] = mid - bias_.per_scale; break;
        case BiasForm::kMin: w.mins[i] = stored; break;
      }
    }
  }
  return w;
}

}  // namespace tmac
