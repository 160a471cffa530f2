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

std::string MatrixName(const GgufTensor& tensor) { return StrCat("tensor '", tensor.name, "'"); }

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

Linear Linear::Load(const GgufFile& file, const GgufTensor& tensor, Isa isa) {
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
    file.ReleasePages(tensor);  // read into aligned memory: the mapped copy is not needed
    return linear;
  }
  if (!Repackable(tensor.type)) return Mapped(tensor);

  Require(tensor.shape.size() == 2, MatrixName(tensor) + " is not a matrix");
  Linear linear;
  linear.cols_ = tensor.shape[0];
  linear.rows_ = tensor.shape[1];
  const QuantMatrix q = RepackGgml(tensor.type, tensor.data.data(), linear.rows_, linear.cols_);
  LutLayout layout = DefaultLutLayout(q.bits, q.group, isa);
  layout.scale_type = LosslessScaleType(q);  // the decoders' scales exactly, in f16 when they fit
  linear.weights_ = LutMatrix::Pack(q, layout);
  file.ReleasePages(tensor);  // only the repacked form stays in memory
  return linear;
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
    return StrCat("lut ", l.bits, "-bit g", l.group, " ", l.scale_type == ScaleType::kF32 ? "f32" : "f16",
                  " ", l.order == IndexOrder::kChunkQuads ? "quads" : "pairs");
  }
  return StrCat("tl2 g", std::get<Tl2Matrix>(weights_).group());
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
          // TL2 builds int8 tables only.
          MatmulOptions tl2 = options;
          tl2.mode = TableMode::kInt8;
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

}  // namespace tmac
