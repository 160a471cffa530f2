// One weight matrix of the model graph and the kernel that multiplies by it.
//
// The storage depends on where the matrix came from: a LUT or TL2 matrix (repacked at load, or
// read from a `tmac convert` file) runs on the T-MAC kernels; any other ggml type runs on
// GgmlMatmul straight from the memory-mapped file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "tmac/ggml_matmul.h"
#include "tmac/gguf.h"
#include "tmac/lut.h"
#include "tmac/ternary.h"
#include "tmac/tune.h"

namespace tmac {

// The tuned configurations Linear::Load packs and runs matrices with (include/tmac/tune.h).
struct LoadTuning {
  const TuneTable* table = nullptr;  // nullptr: defaults everywhere
  int threads = 1;                   // the thread count to look entries up for
};

class Linear {
 public:
  Linear() = default;  // an empty matrix, to be assigned
  // The matrix of tensor `tensor` (ggml shape {cols, rows}) of `file`. Low-bit types that
  // RepackGgml reads are repacked: ternary TQ1_0/TQ2_0 into TL2, the others into the LUT layout
  // `isa` runs fastest on. Packed tmac types are read; other types are viewed in place. Throws
  // tmac::Error naming the tensor when its type has no kernel.
  // With a tuning table (`tmac tune`), a repacked matrix is packed and run with the entry for its
  // kind on `tuning.threads` threads, and a packed tmac matrix takes the entry's run-time
  // parameters when the entry's layout is the stored one; without an entry, DefaultConfig.
  static Linear Load(const GgufFile& file, const GgufTensor& tensor, Isa isa, const LoadTuning& tuning = {});
  // The matrix used in place in the mapping, whatever its type (embeddings: GetRow needs this).
  // Throws tmac::Error naming the tensor when GgmlMatmul has no kernel for its type.
  static Linear Mapped(const GgufTensor& tensor);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // Bytes one product with a single activation vector reads.
  int64_t bytes() const;
  // What the matrix is stored as, e.g. "lut 4-bit g32 f32-scales", "tl2 g256", "Q8_0"; for a LUT
  // or TL2 matrix followed by ", tuned <parameters>" or ", default".
  std::string Describe() const;
  // The kind `tmac tune` tunes this matrix as; nullopt for a matrix used in place.
  std::optional<TuneKey> tune_key(Isa isa, int threads) const;
  // The layout and run-time parameters of a LUT or TL2 matrix; nullopt for others.
  std::optional<TunedConfig> kernel_config() const;
  // Whether Load packed and set it up with a tuned entry.
  bool tuned() const { return tuned_; }
  // A deep copy of a LUT or TL2 matrix (a view for others): `tmac tune` streams over copies.
  Linear Clone() const;
  // Sets the run-time parameters of a LUT or TL2 matrix (`tmac tune` times them); no-op for others.
  void set_kernel_tuning(const KernelTuning& tuning);

  // A per-tensor output scale (bitnet's optional "<name>.scale" tensors); 1 by default.
  void set_output_scale(float scale) { output_scale_ = scale; }

  // y[n] = W x[n] for n < batch (x: batch x cols, y: batch x rows, row-major).
  void Forward(const float* x, int64_t batch, float* y, const MatmulOptions& options) const;
  // The same with activations quantized to int8 per row (BitNet b1.58's absmax recipe): LUT and
  // TL2 matrices run their exact integer kernels; other types multiply the dequantized int8
  // activations.
  void ForwardInt8(const Int8Activations& x, float* y, const MatmulOptions& options) const;
  // Row `row` decoded to floats: the embedding lookup. Only for Mapped matrices.
  void GetRow(int64_t row, float* out) const;
  // The codes, scales and zeros of a LUT matrix (LutMatrix::Unpack); nullopt for other storage.
  std::optional<QuantMatrix> UnpackLut() const;

 private:
  void ApplyOutputScale(int64_t batch, float* y) const;
  // A matrix read packed keeps its layout; it takes the tuned run-time parameters of an entry
  // with that layout.
  void ApplyStoredLayoutTuning(Isa isa, const LoadTuning& tuning);
  // ", tuned <parameters>" or ", default", for Describe.
  std::string TuningText() const;

  int64_t rows_ = 0, cols_ = 0;
  float output_scale_ = 1.0f;
  bool tuned_ = false;
  std::variant<GgmlMatrixView, LutMatrix, Tl2Matrix> weights_;
};

}  // namespace tmac
