// Packing a QuantMatrix into the dequantization layout, and back. include/tmac/dequant.h
// describes the layout, kernels/dequant_kernels.h has its constants, and
// kernels/dequant_kernel-inl.h is the reader.
#include <cmath>
#include <string>

#include "formats/half.h"
#include "kernels/dequant_kernels.h"
#include "runtime/aligned_buffer.h"
#include "tmac/dequant.h"
#include "tmac/error.h"

namespace tmac {

namespace {

using kernels::DequantBlockBytes;
using kernels::DequantFieldBit;
using kernels::DequantPlane;
using kernels::kDequantBlock;
using kernels::kDequantPlanes;

float Midpoint(int bits) { return 0.5f * static_cast<float>((1 << bits) - 1); }

int64_t CodeBytes(int bits, int group) { return group / kDequantBlock * DequantBlockBytes(bits); }

void StoreU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t LoadU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
void StoreHalf(uint8_t* p, uint16_t h) {
  p[0] = static_cast<uint8_t>(h);
  p[1] = static_cast<uint8_t>(h >> 8);
}
float LoadHalf(const uint8_t* p) { return HalfToFloat(static_cast<uint16_t>(p[0] | (p[1] << 8))); }

// v rounded to fp16; throws when it does not fit.
uint16_t ToHalf(float v, const char* what, int64_t m, int64_t g) {
  const uint16_t h = FloatToHalf(v);
  Require(std::isfinite(HalfToFloat(h)), std::string(what) + " " + std::to_string(v) + " of row " +
                                             std::to_string(m) + ", group " + std::to_string(g) +
                                             " does not fit fp16");
  return h;
}

}  // namespace

DequantMatrix::DequantMatrix() : storage_(nullptr, &std::free) {}
DequantMatrix::~DequantMatrix() = default;
DequantMatrix::DequantMatrix(DequantMatrix&&) noexcept = default;
DequantMatrix& DequantMatrix::operator=(DequantMatrix&&) noexcept = default;

DequantMatrix DequantMatrix::Pack(const QuantMatrix& w) {
  w.Validate();
  Require(w.group >= 32, "DequantMatrix needs a group of at least 32, got " + std::to_string(w.group));
  DequantMatrix out;
  out.rows_ = w.rows;
  out.cols_ = w.cols;
  out.bits_ = w.bits;
  out.group_ = w.group;
  out.symmetric_ = w.symmetric();
  const int64_t groups = w.groups_per_row();
  const int64_t code_bytes = CodeBytes(w.bits, w.group);
  const int64_t group_bytes = code_bytes + (out.symmetric_ ? 2 : 4);
  out.row_bytes_ = groups * group_bytes;
  out.storage_ = AllocateAligned(static_cast<size_t>(out.bytes() + kernels::kDequantPadding), /*huge_pages=*/true);
  out.data_ = out.storage_.get();

  const kernels::DequantPlanes& planes = kDequantPlanes[w.bits];
  for (int64_t m = 0; m < w.rows; ++m) {
    for (int64_t g = 0; g < groups; ++g) {
      uint8_t* dst = out.storage_.get() + m * out.row_bytes_ + g * group_bytes;
      const uint8_t* codes = w.codes.data() + m * w.cols + g * w.group;
      for (int b = 0; b < w.group / kDequantBlock; ++b) {
        for (int p = 0; p < planes.count; ++p) {
          const DequantPlane& plane = planes.plane[p];
          uint32_t words[4] = {};
          for (int k = 0; k < kDequantBlock; ++k) {
            const uint32_t field = (codes[b * kDequantBlock + k] >> plane.shift) & ((1u << plane.width) - 1);
            words[k % plane.width] |= field << DequantFieldBit(plane.width, k);
          }
          for (int i = 0; i < plane.width; ++i) {
            StoreU32(dst + b * DequantBlockBytes(w.bits) + plane.offset + 4 * i, words[i]);
          }
        }
      }
      const uint16_t scale = ToHalf(w.scale(m, g), "scale", m, g);
      StoreHalf(dst + code_bytes, scale);
      if (!out.symmetric_) {
        // The zero term from the stored scale, so that a zero scale stores a zero term too.
        StoreHalf(dst + code_bytes + 2, ToHalf(-HalfToFloat(scale) * w.zero(m, g), "zero term", m, g));
      }
    }
  }
  return out;
}

DequantMatrix DequantMatrix::Clone() const {
  DequantMatrix out;
  out.rows_ = rows_;
  out.cols_ = cols_;
  out.bits_ = bits_;
  out.group_ = group_;
  out.symmetric_ = symmetric_;
  out.row_bytes_ = row_bytes_;
  if (data_ != nullptr) {
    out.storage_ = CopyAligned(data_, static_cast<size_t>(bytes() + kernels::kDequantPadding), /*huge_pages=*/true);
    out.data_ = out.storage_.get();
  }
  return out;
}

QuantMatrix DequantMatrix::Unpack() const {
  Require(data_ != nullptr, "unpacking an empty DequantMatrix");
  QuantMatrix w;
  w.rows = rows_;
  w.cols = cols_;
  w.bits = bits_;
  w.group = group_;
  const int64_t groups = w.groups_per_row();
  const int64_t code_bytes = CodeBytes(bits_, group_);
  const int64_t group_bytes = code_bytes + (symmetric_ ? 2 : 4);
  w.codes.resize(static_cast<size_t>(rows_ * cols_));
  w.scales.resize(static_cast<size_t>(rows_ * groups));
  if (!symmetric_) w.zeros.resize(w.scales.size());

  const kernels::DequantPlanes& planes = kDequantPlanes[bits_];
  for (int64_t m = 0; m < rows_; ++m) {
    for (int64_t g = 0; g < groups; ++g) {
      const uint8_t* src = data_ + m * row_bytes_ + g * group_bytes;
      uint8_t* codes = w.codes.data() + m * cols_ + g * group_;
      for (int b = 0; b < group_ / kDequantBlock; ++b) {
        for (int p = 0; p < planes.count; ++p) {
          const DequantPlane& plane = planes.plane[p];
          const uint8_t* words = src + b * DequantBlockBytes(bits_) + plane.offset;
          for (int k = 0; k < kDequantBlock; ++k) {
            const uint32_t word = LoadU32(words + 4 * (k % plane.width));
            const uint32_t field = (word >> DequantFieldBit(plane.width, k)) & ((1u << plane.width) - 1);
            codes[b * kDequantBlock + k] |= static_cast<uint8_t>(field << plane.shift);
          }
        }
      }
      const float scale = LoadHalf(src + code_bytes);
      const size_t i = static_cast<size_t>(m * groups + g);
      w.scales[i] = scale;
      if (!symmetric_) {
        const float term = LoadHalf(src + code_bytes + 2);
        w.zeros[i] = scale != 0.f ? -term / scale : Midpoint(bits_);
      }
    }
  }
  return w;
}

}  // namespace tmac
