// Packed tmac matrices as GGUF tensors; docs/format.md is the specification.
#include "formats/lut_gguf.h"

#include <algorithm>
#include <initializer_list>
#include <span>

#include "tmac/error.h"

namespace tmac {

namespace {

std::string_view OrderName(IndexOrder order) {
  return order == IndexOrder::kChunkPairs ? "chunk_pairs" : "chunk_quads";
}

void AddShape(GgufWriter& writer, const std::string& name, int64_t rows, int64_t cols) {
  writer.Add(TmacTensorKey(name, "shape"), GgufArray{std::vector<int64_t>{cols, rows}});
}

void CheckVersion(const GgufFile& file) {
  const uint32_t version = file.GetU32(kTmacFormatVersionKey);
  Require(version == kTmacFormatVersion, file.name() + ": tmac format version " + std::to_string(version) +
                                             ", this build reads version " + std::to_string(kTmacFormatVersion));
}

int GetInt(const GgufFile& file, const std::string& tensor, std::string_view field) {
  const uint32_t v = file.GetU32(TmacTensorKey(tensor, field));
  Require(v <= 1u << 20, file.name() + ": " + TmacTensorKey(tensor, field) + " is out of range");
  return static_cast<int>(v);
}

std::string Where(const GgufFile& file, const GgufTensor& tensor) {
  return file.name() + ": tensor " + tensor.name;
}

}  // namespace

std::string TmacTensorKey(std::string_view tensor, std::string_view field) {
  std::string key = "tmac.tensor.";
  key += tensor;
  key += '.';
  key += field;
  return key;
}

bool IsPackedGgufType(GgmlType type) { return type == kLutGgufType || type == kTl2GgufType; }

void AddLutTensor(GgufWriter& writer, const std::string& name, const LutMatrix& w) {
  const LutLayout& l = w.layout();
  AddShape(writer, name, w.rows(), w.cols());
  writer.Add(TmacTensorKey(name, "bits"), uint32_t(l.bits));
  writer.Add(TmacTensorKey(name, "group"), uint32_t(l.group));
  writer.Add(TmacTensorKey(name, "tile_rows"), uint32_t(l.tile_rows));
  writer.Add(TmacTensorKey(name, "scale_type"), std::string(ScaleTypeName(l.scale_type)));
  if (l.scale_type == ScaleType::kTwoLevel) writer.Add(TmacTensorKey(name, "super_group"), uint32_t(l.super_group));
  writer.Add(TmacTensorKey(name, "index_order"), std::string(OrderName(l.order)));
  writer.Add(TmacTensorKey(name, "has_bias"), w.bias().stored());
  if (w.bias().form == BiasForm::kMin) writer.Add(TmacTensorKey(name, "bias_is_min"), true);
  if (w.bias().form == BiasForm::kPerScale) writer.Add(TmacTensorKey(name, "bias_per_scale"), w.bias().per_scale);
  writer.AddTensor(name, {w.bytes()}, kLutGgufType, std::span<const uint8_t>(w.data(), size_t(w.bytes())));
}

void AddTl2Tensor(GgufWriter& writer, const std::string& name, const Tl2Matrix& w) {
  AddShape(writer, name, w.rows(), w.cols());
  writer.Add(TmacTensorKey(name, "group"), uint32_t(w.group()));
  writer.Add(TmacTensorKey(name, "tile_rows"), uint32_t(w.layout().tile_rows));
  writer.AddTensor(name, {w.bytes()}, kTl2GgufType, std::span<const uint8_t>(w.data(), size_t(w.bytes())));
}

std::vector<int64_t> PackedLogicalShape(const GgufFile& file, const GgufTensor& tensor) {
  const std::vector<int64_t>& shape = file.GetArrayOf<int64_t>(TmacTensorKey(tensor.name, "shape"));
  Require(shape.size() == 2 && shape[0] > 0 && shape[1] > 0,
          Where(file, tensor) + ": the logical shape must be two positive sizes");
  return shape;
}

// What both readers share: the tensor's type, the file's format version, and errors from
// rebuilding the matrix prefixed with where the tensor is.
template <class Rebuild>
auto ReadPacked(const GgufFile& file, const GgufTensor& tensor, GgmlType expected, const Rebuild& rebuild) {
  Require(tensor.type == expected, Where(file, tensor) + " has type " + GgmlTypeName(tensor.type) + ", expected " +
                                       GgmlTypeName(expected));
  CheckVersion(file);
  const std::vector<int64_t> shape = PackedLogicalShape(file, tensor);
  try {
    return rebuild(shape[1], shape[0]);
  } catch (const Error& e) {
    throw Error(Where(file, tensor) + ": " + e.what());
  }
}

LutMatrix ReadLutTensor(const GgufFile& file, const GgufTensor& tensor) {
  return ReadPacked(file, tensor, kLutGgufType, [&](int64_t rows, int64_t cols) {
    LutLayout layout;
    layout.bits = GetInt(file, tensor.name, "bits");
    layout.group = GetInt(file, tensor.name, "group");
    layout.tile_rows = GetInt(file, tensor.name, "tile_rows");
    const std::string& scale = file.GetString(TmacTensorKey(tensor.name, "scale_type"));
    const auto known = {ScaleType::kF16, ScaleType::kF32, ScaleType::kTwoLevel};
    const auto type = std::find_if(known.begin(), known.end(), [&](ScaleType t) { return ScaleTypeName(t) == scale; });
    Require(type != known.end(), "unknown scale_type " + scale);
    layout.scale_type = *type;
    if (layout.scale_type == ScaleType::kTwoLevel) layout.super_group = GetInt(file, tensor.name, "super_group");
    const std::string& order = file.GetString(TmacTensorKey(tensor.name, "index_order"));
    Require(order == "chunk_pairs" || order == "chunk_quads", "unknown index_order " + order);
    layout.order = order == "chunk_pairs" ? IndexOrder::kChunkPairs : IndexOrder::kChunkQuads;
    LutBias bias;
    const bool* is_min = file.Find<bool>(TmacTensorKey(tensor.name, "bias_is_min"));
    const float* per_scale = file.Find<float>(TmacTensorKey(tensor.name, "bias_per_scale"));
    if (file.Get<bool>(TmacTensorKey(tensor.name, "has_bias"))) {
      Require(per_scale == nullptr, "bias_per_scale is for matrices without stored bias terms");
      bias.form = is_min != nullptr && *is_min ? BiasForm::kMin : BiasForm::kStored;
    } else if (per_scale != nullptr) {
      Require(is_min == nullptr || !*is_min, "bias_is_min needs has_bias");
      bias = {BiasForm::kPerScale, *per_scale};
    }
    return LutMatrix::FromBytes(rows, cols, layout, bias, tensor.data);
  });
}

Tl2Matrix ReadTl2Tensor(const GgufFile& file, const GgufTensor& tensor) {
  return ReadPacked(file, tensor, kTl2GgufType, [&](int64_t rows, int64_t cols) {
    Tl2Layout layout;
    layout.tile_rows = GetInt(file, tensor.name, "tile_rows");
    return Tl2Matrix::FromBytes(rows, cols, GetInt(file, tensor.name, "group"), layout, tensor.data);
  });
}

}  // namespace tmac
