// Writing GGUF v3 files, laid out as llama.cpp's gguf Python package lays them out (each tensor's
// data padded to the alignment, the last one too), so that both write identical bytes.
#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <type_traits>

#include "gguf/atomic_file.h"
#include "gguf/gguf_format.h"
#include "tmac/error.h"
#include "tmac/gguf.h"

namespace tmac {

namespace {

// Appends values in their GGUF encoding.
class Encoder {
 public:
  explicit Encoder(std::vector<uint8_t>& out) : out_(out) {}

  template <class T>
  void Scalar(T value) {
    static_assert(std::is_arithmetic_v<T>);
    Append(&value, sizeof(T));
  }

  void String(std::string_view text) {
    Scalar<uint64_t>(text.size());
    Append(text.data(), text.size());
  }

  void Value(const GgufValue& value) {
    std::visit([&](const auto& item) { Item<std::decay_t<decltype(item)>>(item); }, value);
  }

 private:
  template <class T>
  void Item(const T& item) {
    if constexpr (std::is_same_v<T, bool>) {
      Scalar<uint8_t>(item ? 1 : 0);
    } else if constexpr (std::is_same_v<T, std::string>) {
      String(item);
    } else if constexpr (std::is_same_v<T, GgufArray>) {
      Scalar(static_cast<uint32_t>(item.element_type()));
      Scalar<uint64_t>(item.size());
      std::visit(
          [&](const auto& items) {
            using Element = typename std::decay_t<decltype(items)>::value_type;
            for (auto&& element : items) Item<Element>(element);  // auto&&: vector<bool> yields proxies
          },
          item.elements);
    } else {
      Scalar(item);
    }
  }

  // resize + memcpy rather than vector::insert, on which GCC 12 warns falsely (-Warray-bounds).
  void Append(const void* bytes, size_t count) {
    const size_t at = out_.size();
    out_.resize(at + count);
    if (count != 0) std::memcpy(out_.data() + at, bytes, count);
  }

  std::vector<uint8_t>& out_;
};

// The start of an error message about a tensor.
std::string TensorWhat(const std::string& name) { return "GGUF tensor \"" + name + "\": "; }

}  // namespace

void GgufWriter::Add(std::string key, GgufValue value) {
  Require(
      std::none_of(metadata_.begin(), metadata_.end(), [&](const GgufKeyValue& kv) { return kv.key == key; }),
      "GGUF metadata key \"" + key + "\" added twice");
  if (key == gguf::kAlignmentKey) {
    const auto* alignment = std::get_if<uint32_t>(&value);
    Require(alignment != nullptr && std::has_single_bit(*alignment),
            std::string(gguf::kAlignmentKey) + " must be a u32 power of two");
  }
  metadata_.push_back({std::move(key), std::move(value)});
}

uint64_t GgufWriter::CheckTensor(const std::string& name, const std::vector<int64_t>& shape,
                                 GgmlType type) const {
  const std::string what = TensorWhat(name);
  Require(name.size() <= gguf::kMaxTensorName,
          what + "the name is longer than " + std::to_string(gguf::kMaxTensorName) + " bytes");
  Require(std::none_of(tensors_.begin(), tensors_.end(), [&](const Tensor& t) { return t.name == name; }),
          what + "added twice");
  try {
    return static_cast<uint64_t>(GgmlTensorBytes(shape, type));
  } catch (const Error& e) {
    throw Error(what + e.what());
  }
}

void GgufWriter::AddTensor(std::string name, std::vector<int64_t> shape, GgmlType type,
                           std::span<const uint8_t> data) {
  const uint64_t bytes = CheckTensor(name, shape, type);
  Require(bytes == data.size(), TensorWhat(name) + "has " + std::to_string(data.size()) +
                                    " bytes of data; its shape and type need " + std::to_string(bytes));
  tensors_.push_back(
      {std::move(name), std::move(shape), type, bytes, [data](const TensorSink& sink) { sink(data); }});
}

void GgufWriter::AddTensor(std::string name, std::vector<int64_t> shape, GgmlType type,
                           TensorProducer produce) {
  const uint64_t bytes = CheckTensor(name, shape, type);
  tensors_.push_back({std::move(name), std::move(shape), type, bytes, std::move(produce)});
}

uint32_t GgufWriter::Alignment() const {
  for (const GgufKeyValue& kv : metadata_) {
    if (kv.key == gguf::kAlignmentKey) return std::get<uint32_t>(kv.value);  // Add checked the type
  }
  return gguf::kDefaultAlignment;
}

void GgufWriter::Write(const std::filesystem::path& path, bool overwrite) const {
  const uint32_t alignment = Alignment();
  std::vector<uint8_t> head(gguf::kMagic.begin(), gguf::kMagic.end());
  Encoder out(head);
  out.Scalar(gguf::kWrittenVersion);
  out.Scalar<uint64_t>(tensors_.size());
  out.Scalar<uint64_t>(metadata_.size());
  for (const GgufKeyValue& kv : metadata_) {
    out.String(kv.key);
    out.Scalar(static_cast<uint32_t>(TypeOf(kv.value)));
    out.Value(kv.value);
  }
  uint64_t offset = 0;  // in the data section
  for (const Tensor& t : tensors_) {
    out.String(t.name);
    out.Scalar(static_cast<uint32_t>(t.shape.size()));
    for (const int64_t size : t.shape) out.Scalar(size);
    out.Scalar(static_cast<uint32_t>(t.type));
    out.Scalar(offset);
    offset = gguf::AlignUp(offset + t.bytes, alignment);
  }

  AtomicFile file(path, overwrite);
  file.Write(head);
  file.WriteZeros(gguf::AlignUp(head.size(), alignment) - head.size());
  for (const Tensor& t : tensors_) {
    // The table above already holds the offsets, so a producer must give exactly t.bytes.
    const std::string need = "; its shape and type need " + std::to_string(t.bytes);
    uint64_t produced = 0;
    t.produce([&](std::span<const uint8_t> piece) {
      Require(piece.size() <= t.bytes - produced, TensorWhat(t.name) + "the producer gave more bytes" + need);
      produced += piece.size();
      file.Write(piece);
    });
    Require(produced == t.bytes,
            TensorWhat(t.name) + "the producer gave " + std::to_string(produced) + " bytes" + need);
    file.WriteZeros(gguf::AlignUp(t.bytes, alignment) - t.bytes);
  }
  file.Commit();
}

}  // namespace tmac
