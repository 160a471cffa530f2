// The T-MAC matrix product: y = W x by table lookup, for 1..4-bit weights.
//
// W is packed once (LutMatrix::Pack) into bit planes laid out so that one SIMD load feeds one
// table lookup; docs/kernels.md draws the layout. For every activation vector the kernels build
// one 16-entry table per 4 activations, look weight nibbles up in it and combine the bit planes
// by shift-and-add, then apply the group scales.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "tmac/isa.h"
#include "tmac/quant.h"

namespace tmac {

class ThreadPool;

// How scales and zero terms are stored in a packed matrix.
enum class ScaleType {
  kF16,
  kF32,
  // llama.cpp's K-quant scales (QuantMatrix::factors): an int8 factor per group times an f16
  // value per super-group, multiplied in f32 by the kernels as the decoders do. Q2_K reads 3.1
  // bits per weight this way where f32 products cost 6.
  kTwoLevel,
};

// How index nibbles are interleaved (docs/kernels.md draws both).
enum class IndexOrder {
  // A byte holds one row's nibbles for two consecutive chunks; consecutive bytes are
  // consecutive rows. One 16-entry table per 16-byte lane (PSHUFB/TBL): every ISA runs it.
  kChunkPairs,
  // Four consecutive bytes hold one row's nibbles for eight chunks, so one VPERMB over four
  // tables and one VPDPBUSD sum a row's lookups into int32. Needs Isa::kAvx512Vnni (or scalar).
  kChunkQuads,
};

// "f16", "f32" or "i8xf16" (kTwoLevel): the names docs/format.md gives them.
std::string_view ScaleTypeName(ScaleType type);

// Parameters of the packed layout. The kernels read them from the matrix; nothing about the
// layout is a constant elsewhere.
struct LutLayout {
  int bits = 0;        // 1..4
  int group = 0;       // weights per scale group along K (IsSupportedGroup)
  int tile_rows = 64;  // rows interleaved in one tile: 64 or 128
  ScaleType scale_type = ScaleType::kF16;
  IndexOrder order = IndexOrder::kChunkPairs;
  int super_group = 0;  // kTwoLevel: weights per super-group along K (a multiple of group); else 0
};

// Run-time parameters of the kernels for one packed matrix. They decide how fast a product runs,
// never a bit of its result (each output is summed by one thread in one order whatever they
// are), so `tmac tune` may pick them per machine (docs/kernels.md, "Tuning").
struct KernelTuning {
  int prefetch_bytes = 2048;  // distance ahead of each weight load that is prefetched; 0: none ahead
  int tiles_per_item = 0;     // 0: thread i runs the i-th contiguous part of the tiles; n > 0: threads
                              // take chunks of n tiles round-robin
  bool operator==(const KernelTuning&) const = default;
};
// What LutMatrix runs with until told otherwise.
inline constexpr KernelTuning kDefaultLutTuning{2048, 0};

// The layout the kernels of `isa` run fastest on, for b-bit weights in groups of `group`.
LutLayout DefaultLutLayout(int bits, int group, Isa isa = DefaultIsa());
// Whether the kernels of `isa` can read `order`.
bool IsaReadsOrder(Isa isa, IndexOrder order);

// How tables are built from fp32 activations.
enum class TableMode {
  kInt8,      // int8 tables, one scale per group: lossy with a bound (docs/kernels.md)
  kInt8Fast,  // kInt8 whose chunk pairs are merged with the averaging instruction: lossier,
              // faster (kChunkPairs only; quads sum exactly in VPDPBUSD at no extra cost)
  kInt16,     // activations rounded to int8 per weight group (scale absmax / 127, as llama.cpp
              // quantizes them to Q8 blocks for its low-bit dot products), then exact int16
              // tables: llama.cpp's accuracy, twice kInt8's lookups
};

// `layout` with the scale storage of fewest bytes that holds w's scales and bias terms (or mins)
// exactly: kTwoLevel when w keeps its K-quant factors, kF16 when every value is an f16 one
// (Q4_0, Q4_1 and TQ1_0/TQ2_0 repacks: llama.cpp's f16 scales), else kF32.
LutLayout WithLosslessScales(LutLayout layout, const QuantMatrix& w);

// How a packed matrix keeps its groups' bias terms s * (mid - z), mid = (2^b - 1) / 2
// (docs/kernels.md). What is stored sits after each block's scales, in the scale type. Each form
// gives the kernels the same float bias Pack computes, so the form never changes a result.
enum class BiasForm {
  kNone,      // symmetric weights: no bias term
  kStored,    // the term itself, per row and group
  kPerScale,  // every group has the same zero point z (Q4_0's 8): nothing stored, the term is
              // s * per_scale with per_scale = mid - z, so the matrix reads a symmetric one's bytes
  kMin,       // scale-and-min groups (w = s * q - min: llama.cpp's Q4_1 and K-quants): the min is
              // stored and the term is s * mid - min, so f16 scales and mins fit f16 storage
};
struct LutBias {
  BiasForm form = BiasForm::kNone;
  float per_scale = 0.f;  // kPerScale only
  // Whether each block stores a value per row for the bias (the term, or the min).
  bool stored() const { return form == BiasForm::kStored || form == BiasForm::kMin; }
  bool operator==(const LutBias&) const = default;
};

// A b-bit matrix in the LUT layout. Movable, not copyable; the storage is 64-byte aligned.
class LutMatrix {
 public:
  LutMatrix();
  ~LutMatrix();
  LutMatrix(LutMatrix&&) noexcept;
  LutMatrix& operator=(LutMatrix&&) noexcept;

  // Throws tmac::Error when w is invalid or does not fit the layout (K not a multiple of the
  // group, group or tile_rows unsupported, layout.bits != w.bits; kTwoLevel without w's factors
  // for layout.super_group, or with bias terms that are not derived from a min or the scale).
  static LutMatrix Pack(const QuantMatrix& w, const LutLayout& layout);
  // The inverse of Pack: the same codes, and scales and zeros as stored (f16-rounded in kF16;
  // kTwoLevel gives the factors too).
  QuantMatrix Unpack() const;
  // A deep copy (benchmarks rotate over many copies to stream from DRAM).
  LutMatrix Clone() const;
  // A rows x cols matrix whose packed bytes are a copy of `bytes`, as data() returns them for a
  // matrix packed with `layout` and `bias`. Throws tmac::Error for an unsupported layout, cols not
  // a multiple of the group, a non-finite bias, or a byte count other than the layout's.
  static LutMatrix FromBytes(int64_t rows, int64_t cols, const LutLayout& layout, const LutBias& bias,
                             std::span<const uint8_t> bytes);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  const LutLayout& layout() const { return layout_; }
  const LutBias& bias() const { return bias_; }
  int64_t tiles() const;
  // Bytes one product reads: indices, scales and zero terms.
  int64_t bytes() const { return bytes_; }
  const uint8_t* data() const { return data_; }
  // How the kernels run on this matrix (kDefaultLutTuning unless set; Clone copies it).
  const KernelTuning& tuning() const { return tuning_; }
  void set_tuning(const KernelTuning& tuning);

 private:
  int64_t rows_ = 0, cols_ = 0;
  LutLayout layout_;
  KernelTuning tuning_ = kDefaultLutTuning;
  LutBias bias_;
  int64_t bytes_ = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> storage_;
  const uint8_t* data_ = nullptr;
};

struct MatmulOptions {
  TableMode mode = TableMode::kInt8;
  Isa isa = DefaultIsa();
  ThreadPool* pool = nullptr;  // nullptr: the calling thread alone
};

// y[n][m] = sum_k W[m][k] * x[n][k] for n in [0, batch): x is batch x K, y is batch x M,
// both row-major. batch == 1 is the decode GEMV.
void LutMatmul(const LutMatrix& w, const float* x, int64_t batch, float* y,
               const MatmulOptions& options = {});

// Activations quantized to int8 per row with absmax, as BitNet b1.58 does:
// x[n][k] ~= scale[n] * q[n][k], |q| <= 127.
struct Int8Activations {
  int64_t batch = 0, cols = 0;
  std::vector<int8_t> q;
  std::vector<float> scale;
};
Int8Activations QuantizeActivations(const float* x, int64_t batch, int64_t cols);

// The int8-activation product. Tables hold exact int16 sums split into two byte planes, so the
// integer part is exact: the result is bit-identical on every ISA and
// thread count, and equals an integer reference evaluated with the same float epilogue.
void LutMatmulInt8(const LutMatrix& w, const Int8Activations& x, float* y, const MatmulOptions& options = {});

}  // namespace tmac
