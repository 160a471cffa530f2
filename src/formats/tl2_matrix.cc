// Packing a ternary QuantMatrix into the TL2 layout, and back. include/tmac/ternary.h and
// docs/kernels.md describe the layout; kernels/tl2_kernel-inl.h is the reader.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "formats/half.h"
#include "formats/tl2_view.h"
#include "kernels/tl2_kernels.h"
#include "runtime/aligned_buffer.h"
#include "tmac/error.h"
#include "tmac/tune.h"
#include "tmac/ternary.h"

namespace tmac {

namespace {

constexpr int kTriple = kernels::kTl2TripleWeights;

// Ternary as MakeTernary defines it: 2-bit codes {0, 1, 2} meaning {-1, 0, 1}, zero points 1.
// (The loops test before they build a message: this runs over every weight.)
void CheckTernary(const QuantMatrix& w) {
  w.Validate();
  Require(w.group >= 32, "Tl2Matrix needs a group of at least 32, got " + std::to_string(w.group));
  Require(w.bits == 2, "TL2 needs ternary weights (2-bit codes), got " + std::to_string(w.bits) + " bits");
  Require(!w.symmetric(), "TL2 needs ternary weights: zero points must be 1, the matrix is symmetric");
  for (size_t i = 0; i < w.zeros.size(); ++i) {
    if (w.zeros[i] != 1.f) {
      throw Error("TL2 needs ternary weights: zero point " + std::to_string(w.zeros[i]) + " at index " +
                  std::to_string(i) + ", expected 1");
    }
  }
  for (size_t i = 0; i < w.codes.size(); ++i) {
    if (w.codes[i] > 2) {
      throw Error("TL2 needs ternary weights: code " + std::to_string(w.codes[i]) + " at index " +
                  std::to_string(i) + ", expected 0, 1 or 2");
    }
  }
}

// Where chunk c of row r lives in a block: its nibble, and its bit in the sign rows.
struct ChunkPlace {
  int64_t index_byte, sign_byte;
  int nibble_shift, sign_bit;
};

ChunkPlace PlaceOf(int chunk, int r, int tile_rows) {
  const int pair = chunk / 2;
  const int sign_row = pair / kernels::kTl2PairsPerSignByte;
  return {Tl2IndexRowOffset(pair, tile_rows) + r, Tl2SignRowOffset(sign_row, tile_rows) + r, 4 * (chunk % 2),
          chunk % 8};
}

}  // namespace

Tl2Matrix::Tl2Matrix() : storage_(nullptr, &std::free) {}
Tl2Matrix::~Tl2Matrix() = default;
Tl2Matrix::Tl2Matrix(Tl2Matrix&&) noexcept = default;
Tl2Matrix& Tl2Matrix::operator=(Tl2Matrix&&) noexcept = default;

int64_t Tl2Matrix::tiles() const {
  return layout_.tile_rows > 0 ? (rows_ + layout_.tile_rows - 1) / layout_.tile_rows : 0;
}

Tl2Matrix Tl2Matrix::Pack(const QuantMatrix& ternary, const Tl2Layout& layout) {
  CheckTernary(ternary);
  Require(layout.tile_rows == 64 || layout.tile_rows == 128,
          "unsupported tile_rows " + std::to_string(layout.tile_rows) + " (expected 64 or 128)");
  const QuantMatrix& w = ternary;

  Tl2Matrix out;
  out.rows_ = w.rows;
  out.cols_ = w.cols;
  out.group_ = w.group;
  out.layout_ = layout;
  const Tl2Geometry geo = Tl2GeometryOf(out);
  out.bytes_ = geo.total_bytes;
  out.storage_ = AllocateAligned(static_cast<size_t>(geo.total_bytes), /*huge_pages=*/true);
  out.data_ = out.storage_.get();

  // Every chunk's place in row 0 of a block, once: row r's is r bytes further. (Packing runs over
  // every weight of a model at load, so the inner loop does no layout arithmetic.)
  const int rows_per_tile = layout.tile_rows;
  std::vector<ChunkPlace> places(static_cast<size_t>(geo.triples + 1));
  for (int c = 0; c <= geo.triples; ++c) places[static_cast<size_t>(c)] = PlaceOf(c, 0, rows_per_tile);
  const int fallback = kTriple * geo.triples;  // the leftover weights: 1 or 2 of them
  for (int64_t tile = 0; tile < geo.tiles; ++tile) {
    for (int64_t g = 0; g < geo.groups; ++g) {
      uint8_t* block = out.storage_.get() + (tile * geo.groups + g) * geo.block_bytes;
      for (int r = 0; r < rows_per_tile; ++r) {
        const int64_t m = tile * rows_per_tile + r;
        if (m >= w.rows) break;  // padding rows keep zero indices, signs and scales
        const uint8_t* codes = w.codes.data() + m * w.cols + g * w.group;
        uint8_t* row = block + r;
        // Codes are ternary + 1, so 9 c0 + 3 c1 + c2 - 13 = 9 w0 + 3 w1 + w2.
        for (int c = 0; c < geo.triples; ++c) {
          const uint8_t* k = codes + kTriple * c;
          const int v = 9 * k[0] + 3 * k[1] + k[2] - 13;
          const ChunkPlace& place = places[static_cast<size_t>(c)];
          row[place.index_byte] |= static_cast<uint8_t>((v < 0 ? -v : v) << place.nibble_shift);
          row[place.sign_byte] |= static_cast<uint8_t>((v < 0 ? 1 : 0) << place.sign_bit);
        }
        // The fallback chunk pairs a lone leftover weight with 0: index 3 w0 + w1 + 4, no sign.
        const int w1 = fallback + 1 < w.group ? codes[fallback + 1] - 1 : 0;
        const ChunkPlace& place = places[static_cast<size_t>(geo.triples)];
        row[place.index_byte] |= static_cast<uint8_t>((3 * (codes[fallback] - 1) + w1 + 4) << place.nibble_shift);
        const uint16_t scale = FloatToHalf(w.scale(m, g));
        std::memcpy(block + geo.index_bytes + 2 * r, &scale, 2);
      }
    }
  }
  return out;
}

Tl2Matrix Tl2Matrix::Clone() const {
  if (data_ == nullptr) return Tl2Matrix();
  Tl2Matrix copy = FromBytes(rows_, cols_, group_, layout_, {data_, static_cast<size_t>(bytes_)});
  copy.tuning_ = tuning_;
  return copy;
}

void Tl2Matrix::set_tuning(const KernelTuning& tuning) {
  CheckTuning(tuning);
  tuning_ = tuning;
}

Tl2Matrix Tl2Matrix::FromBytes(int64_t rows, int64_t cols, int group, const Tl2Layout& layout,
                               std::span<const uint8_t> bytes) {
  Require(rows > 0 && cols > 0, "a packed matrix needs positive rows and cols");
  Require(IsSupportedGroup(group) && group >= 32,
          "unsupported TL2 group " + std::to_string(group) + " (expected 32, 64, 128 or 256)");
  Require(cols % group == 0, "cols " + std::to_string(cols) + " is not a multiple of the group " + std::to_string(group));
  Require(layout.tile_rows == 64 || layout.tile_rows == 128,
          "unsupported tile_rows " + std::to_string(layout.tile_rows) + " (expected 64 or 128)");
  Tl2Matrix out;
  out.rows_ = rows;
  out.cols_ = cols;
  out.group_ = group;
  out.layout_ = layout;
  const Tl2Geometry geo = Tl2GeometryOf(out);
  Require(static_cast<int64_t>(bytes.size()) == geo.total_bytes,
          std::to_string(bytes.size()) + " bytes for a packed matrix of " + std::to_string(geo.total_bytes));
  out.bytes_ = geo.total_bytes;
  out.storage_ = CopyAligned(bytes.data(), bytes.size(), /*huge_pages=*/true);
  out.data_ = out.storage_.get();
  return out;
}

QuantMatrix Tl2Matrix::Unpack() const {
  Require(data_ != nullptr, "unpacking an empty Tl2Matrix");
  const Tl2Geometry geo = Tl2GeometryOf(*this);
  QuantMatrix w;
  w.rows = rows_;
  w.cols = cols_;
  w.bits = 2;
  w.group = group_;
  w.codes.resize(static_cast<size_t>(rows_ * cols_));
  w.scales.resize(static_cast<size_t>(rows_ * geo.groups));
  w.zeros.assign(w.scales.size(), 1.f);
  const int rows_per_tile = layout_.tile_rows;
  for (int64_t m = 0; m < rows_; ++m) {
    const int64_t tile = m / rows_per_tile;
    const int r = static_cast<int>(m % rows_per_tile);
    for (int64_t g = 0; g < geo.groups; ++g) {
      const uint8_t* block = data_ + (tile * geo.groups + g) * geo.block_bytes;
      uint8_t* codes = w.codes.data() + m * cols_ + g * group_;
      const auto set = [&](int k, int t) {
        if (k < group_) codes[k] = static_cast<uint8_t>(t + 1);
      };
      for (int c = 0; c <= geo.triples; ++c) {
        const ChunkPlace place = PlaceOf(c, r, rows_per_tile);
        const int index = (block[place.index_byte] >> place.nibble_shift) & 15;
        const int k = kTriple * c;
        if (c < geo.triples) {
          const int sign = (block[place.sign_byte] >> place.sign_bit) & 1 ? -1 : 1;
          for (int j = 0; j < kTriple; ++j) set(k + j, sign * kernels::kTl2TripleDigits[index][j]);
        } else {
          set(k, index / 3 - 1);
          set(k + 1, index % 3 - 1);
        }
      }
      uint16_t scale;
      std::memcpy(&scale, block + geo.index_bytes + 2 * r, 2);
      w.scales[static_cast<size_t>(m * geo.groups + g)] = HalfToFloat(scale);
    }
  }
  return w;
}

}  // namespace tmac
