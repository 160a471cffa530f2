#include "model/linear.h"

#include <vector>

#include "formats/lut_gguf.h"
#include "tmac/error.h"
#include "tmac/ggml_repack.h"
#include "util/str_cat.h"

namespace tmac {
namespace {

// Types RepackGgml reads without loss (include/tmac/ggml_repack.h).
bool Repackable(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ4_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ2_K:
    case GgmlType::kTQ1_0:
    case GgmlType::kTQ2_0: return true;
    default: return false;
  }
}

bool IsTernary(GgmlType type) { return type == GgmlType::kTQ1_0 || type == GgmlType::kTQ2_0; }

std::string MatrixName(const GgufTensor& tensor) { return StrCat("tensor '", tensor.name, "'"); }

const TunedConfig* FindTuned(const LoadTuning& tuning, const std::optional<TuneKey>& key) {
  return tuning.table != nullptr && key ? tuning.table->Find(*key) : nullptr;
}

}  // namespace

Linear Linear::Mapped(const GgufTensor& tensor) {
  Require(tensor.shape.size() == 2, MatrixName(tensor) + " is not a matrix");
  Require(GgmlMatmulSupports(tensor.type),
          MatrixName(tensor) + ": tensor type " + GgmlTypeName(tensor.type) + " is not supported");
  Linear linear;
  linear.cols_ = tensor.shape[0];
  linear.rows_ = tensor.shape[1];
  linear.weights_ = GgmlMatrixView{tensor.type, linear.rows_, linear.cols_, tensor.data.data()};
  return linear;
}

Linear Linear::Load(const GgufFile& file, const GgufTensor& tensor, Isa isa, const LoadTuning& tuning) {
  if (tensor.type == GgmlType::kTmacLut || tensor.type == GgmlType::kTmacTl2) {
    const std::vector<int64_t> shape = PackedLogicalShape(file, tensor);
    Linear linear;
    linear.cols_ = shape[0];
    linear.rows_ = shape[1];
    if (tensor.type == GgmlType::kTmacLut) {
      LutMatrix w = ReadLutTensor(file, tensor);
      Require(IsaReadsOrder(isa, w.layout().order), MatrixName(tensor) +
                                                        ": its index order needs AVX-512 VNNI, which --isa " +
                                                        std::string(IsaName(isa)) + " does not read");
      linear.weights_ = std::move(w);
    } else {
      linear.weights_ = ReadTl2Tensor(file, tensor);
    }
    linear.ApplyStoredLayoutTuning(isa, tuning);
    file.ReleasePages(tensor);  // read into aligned memory: the mapped copy is not needed
    return linear;
  }
  if (!Repackable(tensor.type)) return Mapped(tensor);

  Require(tensor.shape.size() == 2, MatrixName(tensor) + " is not a matrix");
  Linear linear;
  linear.cols_ = tensor.shape[0];
  linear.rows_ = tensor.shape[1];
  const QuantMatrix q = RepackGgml(tensor.type, tensor.data.data(), linear.rows_, linear.cols_);
  // The tuned layout and run-time parameters for this kind of matrix, else the defaults.
  const auto configure = [&](PackedFormat format) {
    const TuneKey key{isa, format, q.bits, q.group, linear.rows_, linear.cols_, tuning.threads};
    const TunedConfig* entry = FindTuned(tuning, key);
    linear.tuned_ = entry != nullptr;
    return entry != nullptr ? *entry : DefaultConfig(key);
  };
  if (IsTernary(tensor.type)) {
    // TL2 keeps TQ1_0/TQ2_0 whole (codes and f16 block scales) in 1.75 bits per weight against
    // the 2-bit LUT layout's 2.125, and streams that many fewer bytes per token.
    const TunedConfig config = configure(PackedFormat::kTl2);
    Tl2Matrix w = Tl2Matrix::Pack(q, Tl2Layout{config.tile_rows});
    w.set_tuning(config.runtime);
    linear.weights_ = std::move(w);
    file.ReleasePages(tensor);
    return linear;
  }
  const TunedConfig config = configure(PackedFormat::kLut);
  LutLayout layout = DefaultLutLayout(q.bits, q.group, isa);
  layout.tile_rows = config.tile_rows;
  layout.order = config.order;
  // The decoders' scales exactly, in the fewest bytes that hold them.
  LutMatrix w = LutMatrix::Pack(q, WithLosslessScales(layout, q));
  w.set_tuning(config.runtime);
  linear.weights_ = std::move(w);
  file.ReleasePages(tensor);  // only the repacked form stays in memory
  return linear;
}

void Linear::ApplyStoredLayoutTuning(Isa isa, const LoadTuning& tuning) {
  const TunedConfig* entry = FindTuned(tuning, tune_key(isa, tuning.threads));
  if (entry == nullptr) return;
  if (auto* lut = std::get_if<LutMatrix>(&weights_)) {
    if (entry->tile_rows != lut->layout().tile_rows || entry->order != lut->layout().order) return;
    lut->set_tuning(entry->runtime);
  } else if (auto* tl2 = std::get_if<Tl2Matrix>(&weights_)) {
    if (entry->tile_rows != tl2->layout().tile_rows) return;
    tl2->set_tuning(entry->runtime);
  }
  tuned_ = true;
}

std::optional<TuneKey> Linear::tune_key(Isa isa, int threads) const {
  if (const auto* lut = std::get_if<LutMatrix>(&weights_))
    return TuneKey{isa, PackedFormat::kLut, lut->layout().bits, lut->layout().group, rows_, cols_, threads};
  if (const auto* tl2 = std::get_if<Tl2Matrix>(&weights_))
    return TuneKey{isa, PackedFormat::kTl2, 2, tl2->group(), rows_, cols_, threads};
  return std::nullopt;
}

Linear Linear::Clone() const {
  Linear copy;
  copy.rows_ = rows_;
  copy.cols_ = cols_;
  copy.output_scale_ = output_scale_;
  copy.tuned_ = tuned_;
  std::visit(
      [&](const auto& w) {
        if constexpr (std::is_same_v<std::decay_t<decltype(w)>, GgmlMatrixView>) {
          copy.weights_ = w;
        } else {
          copy.weights_ = w.Clone();
        }
      },
      weights_);
  return copy;
}

void Linear::set_kernel_tuning(const KernelTuning& tuning) {
  if (auto* lut = std::get_if<LutMatrix>(&weights_)) lut->set_tuning(tuning);
  if (auto* tl2 = std::get_if<Tl2Matrix>(&weights_)) tl2->set_tuning(tuning);
}

int64_t Linear::bytes() const {
  if (const auto* view = std::get_if<GgmlMatrixView>(&weights_))
    return view->rows * GgmlRowBytes(view->type, view->cols);
  if (const auto* lut = std::get_if<LutMatrix>(&weights_)) return lut->bytes();
  return std::get<Tl2Matrix>(weights_).bytes();
}

std::string Linear::Describe() const {
  if (const auto* view = std::get_if<GgmlMatrixView>(&weights_)) return GgmlTypeName(view->type);
  if (const auto* lut = std::get_if<LutMatrix>(&weights_)) {
    const LutLayout& l = lut->layout();
    return StrCat("lut ", l.bits, "-bit g", l.group, " ", ScaleTypeName(l.scale_type), " ",
                  l.order == IndexOrder::kChunkQuads ? "quads" : "pairs", TuningText());
  }
  return StrCat("tl2 g", std::get<Tl2Matrix>(weights_).group(), TuningText());
}

std::string Linear::TuningText() const {
  if (!tuned_) return ", default";
  const PackedFormat format = std::holds_alternative<LutMatrix>(weights_) ? PackedFormat::kLut : PackedFormat::kTl2;
  return ", tuned " + DescribeConfig(format, *kernel_config());
}

std::optional<TunedConfig> Linear::kernel_config() const {
  if (const auto* lut = std::get_if<LutMatrix>(&weights_))
    return TunedConfig{lut->layout().tile_rows, lut->layout().order, lut->tuning()};
  if (const auto* tl2 = std::get_if<Tl2Matrix>(&weights_))
    return TunedConfig{tl2->layout().tile_rows, IndexOrder::kChunkPairs, tl2->tuning()};
  return std::nullopt;
}

void Linear::ApplyOutputScale(int64_t batch, float* y) const {
  if (output_scale_ == 1.0f) return;
  for (int64_t i = 0; i < batch * rows_; ++i) y[i] *= output_scale_;
}

void Linear::Forward(const float* x, int64_t batch, float* y, const MatmulOptions& options) const {
  std::visit(
      [&](const auto& w) {
        using W = std::decay_t<decltype(w)>;
        if constexpr (std::is_same_v<W, GgmlMatrixView>) {
          GgmlMatmul(w, x, batch, y, options);
        } else if constexpr (std::is_same_v<W, LutMatrix>) {
          LutMatmul(w, x, batch, y, options);
        } else {
          // TL2 has no averaging shortcut: kInt8Fast runs as kInt8.
          MatmulOptions tl2 = options;
          if (tl2.mode == TableMode::kInt8Fast) tl2.mode = TableMode::kInt8;
          Tl2Matmul(w, x, batch, y, tl2);
        }
      },
      weights_);
  ApplyOutputScale(batch, y);
}

void Linear::ForwardInt8(const Int8Activations& x, float* y, const MatmulOptions& options) const {
  if (const auto* lut = std::get_if<LutMatrix>(&weights_)) {
    LutMatmulInt8(*lut, x, y, options);
  } else if (const auto* tl2 = std::get_if<Tl2Matrix>(&weights_)) {
    Tl2MatmulInt8(*tl2, x, y, options);
  } else {
    std::vector<float> dequantized(static_cast<size_t>(x.batch * x.cols));
    for (int64_t n = 0; n < x.batch; ++n) {
      for (int64_t k = 0; k < x.cols; ++k) {
        dequantized[static_cast<size_t>(n * x.cols + k)] =
            x.scale[static_cast<size_t>(n)] * x.q[static_cast<size_t>(n * x.cols + k)];
      }
    }
    GgmlMatmul(std::get<GgmlMatrixView>(weights_), dequantized.data(), x.batch, y, options);
  }
  ApplyOutputScale(x.batch, y);
}

void Linear::GetRow(int64_t row, float* out) const {
  const auto* view = std::get_if<GgmlMatrixView>(&weights_);
  Require(view != nullptr, "GetRow on a packed matrix");
  Require(row >= 0 && row < rows_, StrCat("row ", row, " out of range [0, ", rows_, ")"));
  GgmlGetRow(*view, row, out);
}

std::optional<QuantMatrix> Linear::UnpackLut() const {
  if (const auto* lut = std::get_if<LutMatrix>(&weights_)) return lut->Unpack();
  return std::nullopt;
}

}  // namespace tmac
