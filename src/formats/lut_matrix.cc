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
void CheckLayout(const LutLayout& layout) {
  Require(layout.tile_rows == 64 || layout.tile_rows == 128,
          "unsupported tile_rows " + std::to_string(layout.tile_rows) + " (expected 64 or 128)");
  Require(layout.scale_type == ScaleType::kF16 || layout.scale_type == ScaleType::kF32, "unknown scale type");
  Require(layout.order == IndexOrder::kChunkPairs || layout.order == IndexOrder::kChunkQuads,
          "unknown index order");
  Require(layout.order != IndexOrder::kChunkQuads || layout.group % 32 == 0,
          "chunk quads need a group of at least 32, got " + std::to_string(layout.group));
}

}  // namespace

LutMatrix::LutMatrix() : storage_(nullptr, &std::free) {}
LutMatrix::~LutMatrix() = default;
LutMatrix::LutMatrix(LutMatrix&&) noexcept = default;
LutMatrix& LutMatrix::operator=(LutMatrix&&) noexcept = default;

int64_t LutMatrix::tiles() const {
  return layout_.tile_rows > 0 ? (rows_ + layout_.tile_rows - 1) / layout_.tile_rows : 0;
}

ScaleType LosslessScaleType(const QuantMatrix& w) {
  const float mid = Midpoint(w.bits);
  for (int64_t m = 0; m < w.rows; ++m) {
    for (int64_t g = 0; g < w.groups_per_row(); ++g) {
      const float s = w.scale(m, g);
      if (RoundToHalf(s) != s) return ScaleType::kF32;
      if (w.symmetric()) continue;
      const float stored = w.mins.empty() ? Bias(w, mid, m, g) : w.mins[static_cast<size_t>(m * w.groups_per_row() + g)];
      if (RoundToHalf(stored) != stored) return ScaleType::kF32;
    }
  }
  return ScaleType::kF16;
}

LutMatrix LutMatrix::Pack(const QuantMatrix& w, const LutLayout& layout) {
  w.Validate();
  Require(layout.bits == w.bits, "layout bits " + std::to_string(layout.bits) + " differ from the matrix's " +
                                     std::to_string(w.bits));
  Require(layout.group == w.group, "layout group " + std::to_string(layout.group) +
                                       " differs from the matrix's " + std::to_string(w.group));
  CheckLayout(layout);

  LutMatrix out;
  out.rows_ = w.rows;
  out.cols_ = w.cols;
  out.layout_ = layout;
  out.bias_ = BiasOf(w);
  const LutGeometry geo = GeometryOf(out);
  out.bytes_ = geo.total_bytes;
  out.storage_ = AllocateAligned(static_cast<size_t>(geo.total_bytes), /*huge_pages=*/true);
  out.data_ = out.storage_.get();

  const int rows_per_tile = layout.tile_rows;
  const float mid = Midpoint(w.bits);
  for (int64_t tile = 0; tile < geo.tiles; ++tile) {
    for (int64_t g = 0; g < geo.groups; ++g) {
      uint8_t* block = out.storage_.get() + (tile * geo.groups + g) * geo.block_bytes;
      for (int r = 0; r < rows_per_tile; ++r) {
        const int64_t m = tile * rows_per_tile + r;
        if (m >= w.rows) break;  // padding rows keep zero codes, scales and biases
        const uint8_t* codes = w.codes.data() + m * w.cols + g * w.group;
        for (int j = 0; j < w.group / kPair; ++j) {
          for (int p = 0; p < w.bits; ++p) {
            const IndexSlot slot = SlotOf(layout, j, p, r);
            block[slot.offset] =
                static_cast<uint8_t>(Nibble(codes, slot.chunk_lo, p) | Nibble(codes, slot.chunk_hi, p) << 4);
          }
        }
        const float s = w.scale(m, g);
        uint8_t* params = block + geo.index_bytes;
        StoreParam(params, r, s, layout.scale_type);
        if (out.bias_.stored())
          StoreParam(params + geo.param_bytes, r, StoredBias(w, out.bias_, mid, m, g), layout.scale_type);
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
  CheckLayout(layout);
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
  const float mid = Midpoint(w.bits);
  const int rows_per_tile = layout_.tile_rows;
  for (int64_t m = 0; m < rows_; ++m) {
    const int64_t tile = m / rows_per_tile;
    const int r = static_cast<int>(m % rows_per_tile);
    for (int64_t g = 0; g < geo.groups; ++g) {
      const uint8_t* block = data_ + (tile * geo.groups + g) * geo.block_bytes;
      uint8_t* codes = w.codes.data() + m * cols_ + g * w.group;
      for (int j = 0; j < w.group / kPair; ++j) {
        for (int p = 0; p < w.bits; ++p) {
          const IndexSlot slot = SlotOf(layout_, j, p, r);
          SetNibble(codes, slot.chunk_lo, p, block[slot.offset] & 0xF);
          SetNibble(codes, slot.chunk_hi, p, block[slot.offset] >> 4);
        }
      }
      const uint8_t* params = block + geo.index_bytes;
      const float s = LoadParam(params, r, layout_.scale_type);
      w.scales[static_cast<size_t>(m * geo.groups + g)] = s;
      const size_t i = static_cast<size_t>(m * geo.groups + g);
      switch (bias_.form) {
        case BiasForm::kNone: break;
        case BiasForm::kStored: {
          const float bias = LoadParam(params + geo.param_bytes, r, layout_.scale_type);
          w.zeros[i] = s != 0.f ? mid - bias / s : mid;
          break;
        }
        case BiasForm::kPerScale: w.zeros[i] = mid - bias_.per_scale; break;
        case BiasForm::kMin: w.mins[i] = LoadParam(params + geo.param_bytes, r, layout_.scale_type); break;
      }
    }
  }
  return w;
}

}  // namespace tmac
