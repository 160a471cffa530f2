// GGUF, llama.cpp's model file format: a memory-mapped, strictly validated reader and a writer.
//
// A GGUF file is a header (magic "GGUF", version, tensor and metadata counts), typed key/value
// metadata, a table of tensor descriptions, then the tensor data: each tensor at an offset from
// the start of the data section that is a multiple of `general.alignment` (default 32).
// Everything is little-endian. Shapes are in ggml's order: shape[0] is the number of elements in
// a row (the fastest-varying dimension), so a PyTorch [rows, cols] matrix is {cols, rows}.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tmac/ggml_types.h"

namespace tmac {

// Metadata values -----------------------------------------------------------------------------

// GGUF's metadata value types, with the file format's ids.
enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
inline constexpr uint32_t kGgufTypeCount = 13;

// "u8", "i8", ..., "f32", "bool", "string", "array", "u64", "i64", "f64".
std::string_view GgufTypeName(GgufType type);

struct GgufArray;

// An array's elements as a vector of their C++ type. The alternatives are in GgufType order, so
// index() is the element type's id; arrays may nest (vector<GgufArray>).
using GgufArrayElements =
    std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>, std::vector<int16_t>,
                 std::vector<uint32_t>, std::vector<int32_t>, std::vector<float>, std::vector<bool>,
                 std::vector<std::string>, std::vector<GgufArray>, std::vector<uint64_t>,
                 std::vector<int64_t>, std::vector<double>>;

struct GgufArray {
  GgufArrayElements elements;

  GgufType element_type() const { return static_cast<GgufType>(elements.index()); }
  size_t size() const;
  bool operator==(const GgufArray& other) const;
};

// One metadata value; as with arrays, index() is the GgufType id.
using GgufValue = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, GgufArray, uint64_t, int64_t, double>;

inline GgufType TypeOf(const GgufValue& value) { return static_cast<GgufType>(value.index()); }

namespace gguf_internal {
// The GgufType that stores C++ type T (its index among GgufValue's alternatives).
template <class T, class Variant>
struct AlternativeIndex;
template <class T, class... Ts>
struct AlternativeIndex<T, std::variant<Ts...>> {
  static constexpr size_t kIndex = [] {
    constexpr bool kMatches[] = {std::is_same_v<T, Ts>...};
    size_t i = 0;
    while (i < sizeof...(Ts) && !kMatches[i]) ++i;
    return i;
  }();
  static_assert(kIndex < sizeof...(Ts), "not a GGUF value type");
};
}  // namespace gguf_internal

template <class T>
inline constexpr GgufType kGgufTypeOf =
    static_cast<GgufType>(gguf_internal::AlternativeIndex<T, GgufValue>::kIndex);

// Calls f(std::type_identity<T>{}) with T the C++ type that stores GGUF type `type` (GgufValue's
// alternative number `type`), for code that treats every type alike. `type` must be a valid id.
template <size_t I = 0, class F>
decltype(auto) VisitGgufType(GgufType type, F&& f) {
  if constexpr (I + 1 < std::variant_size_v<GgufValue>) {
    if (static_cast<size_t>(type) != I) return VisitGgufType<I + 1>(type, std::forward<F>(f));
  }
  return f(std::type_identity<std::variant_alternative_t<I, GgufValue>>{});
}

struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

// Reading ---------------------------------------------------------------------------------------

struct GgufTensor {
  std::string name;
  std::vector<int64_t> shape;  // ggml order, 1 to 4 dimensions, each positive
  GgmlType type;
  uint64_t offset;                // from the start of the data section, a multiple of the alignment
  std::span<const uint8_t> data;  // the tensor's bytes in the file: GgmlTensorBytes(shape, type)

  int64_t elements() const;
};

class MappedFile;

// A parsed GGUF file. Parsing checks everything the accessors rely on (every count and offset
// against the file's size, types, alignment, overlaps, duplicates) and throws tmac::Error naming
// the problem and where it is; a GgufFile that exists is consistent.
class GgufFile {
 public:
  // Maps `path` read-only and parses it; the mapping lives as long as the GgufFile.
  static GgufFile Open(const std::filesystem::path& path);
  // Parses a file image already in memory, which the caller keeps alive as long as the GgufFile;
  // `name` stands for the file in error messages.
  static GgufFile Parse(std::span<const uint8_t> bytes, std::string name);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint64_t file_size() const { return bytes_.size(); }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }                    // where the data section starts
  const std::vector<GgufKeyValue>& metadata() const { return metadata_; }  // in file order
  const std::vector<GgufTensor>& tensors() const { return tensors_; }      // in file order

  // The value of `key`, or nullptr when the file has no such key.
  const GgufValue* FindValue(std::string_view key) const;
  // The value of `key` as a T, or nullptr when absent; throws tmac::Error when `key` holds
  // another type.
  template <class T>
  const T* Find(std::string_view key) const;
  // The value of `key` as a T; throws tmac::Error naming the key when it is absent or of
  // another type.
  template <class T>
  const T& Get(std::string_view key) const;
  // The elements of array `key`, which must have element type T.
  template <class T>
  const std::vector<T>& GetArrayOf(std::string_view key) const;

  const std::string& GetString(std::string_view key) const { return Get<std::string>(key); }
  uint32_t GetU32(std::string_view key) const { return Get<uint32_t>(key); }
  float GetF32(std::string_view key) const { return Get<float>(key); }
  const GgufArray& GetArray(std::string_view key) const { return Get<GgufArray>(key); }

  // The tensor called `name`, or nullptr.
  const GgufTensor* FindTensor(std::string_view name) const;
  // The tensor called `name`; throws tmac::Error when there is none.
  const GgufTensor& GetTensor(std::string_view name) const;

  // Drops the pages of `tensor`'s data from memory, e.g. once a loader has repacked it: they leave
  // the process's resident set and are read from the file again if touched. The data stays valid.
  // A no-op for a file parsed from caller-owned bytes.
  void ReleasePages(const GgufTensor& tensor) const;

 private:
  GgufFile() = default;
  [[noreturn]] void ThrowMissingKey(std::string_view key) const;
  [[noreturn]] void ThrowWrongType(std::string_view key, std::string_view expected,
                                   std::string_view actual) const;

  std::unique_ptr<MappedFile> mapping_;  // null when parsed from caller-owned bytes
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 0;
  uint64_t data_offset_ = 0;
  std::vector<GgufKeyValue> metadata_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> key_index_;     // key -> metadata_ index
  std::map<std::string, size_t, std::less<>> tensor_index_;  // name -> tensors_ index
};

template <class T>
const T* GgufFile::Find(std::string_view key) const {
  const GgufValue* value = FindValue(key);
  if (value == nullptr) return nullptr;
  if (const T* typed = std::get_if<T>(value)) return typed;
  ThrowWrongType(key, GgufTypeName(kGgufTypeOf<T>), GgufTypeName(TypeOf(*value)));
}

template <class T>
const T& GgufFile::Get(std::string_view key) const {
  const T* value = Find<T>(key);
  if (value == nullptr) ThrowMissingKey(key);
  return *value;
}

template <class T>
const std::vector<T>& GgufFile::GetArrayOf(std::string_view key) const {
  const GgufArray& array = Get<GgufArray>(key);
  if (const auto* elements = std::get_if<std::vector<T>>(&array.elements)) return *elements;
  ThrowWrongType(key, "array of " + std::string(GgufTypeName(kGgufTypeOf<T>)),
                 "array of " + std::string(GgufTypeName(array.element_type())));
}

// Writing ---------------------------------------------------------------------------------------

// Collects metadata and tensors, then writes them as one GGUF v3 file.
class GgufWriter {
 public:
  // Adds a metadata entry, in order; keys are unique. `general.alignment` (u32, a power of two)
  // sets the data alignment, as in the file format.
  void Add(std::string key, GgufValue value);
  // Adds a tensor, in order; names are unique and at most 63 bytes. `data` must hold
  // GgmlTensorBytes(shape, type) bytes and stay valid until Write returns: the writer does not
  // copy tensor data, which may be a whole model.
  void AddTensor(std::string name, std::vector<int64_t> shape, GgmlType type, std::span<const uint8_t> data);

  // Takes a tensor's bytes in order, in pieces of any size.
  using TensorSink = std::function<void(std::span<const uint8_t> piece)>;
  // Computes a tensor's bytes and passes them to the sink.
  using TensorProducer = std::function<void(const TensorSink& sink)>;
  // Adds a tensor whose bytes are computed while Write writes the file: Write calls `produce`
  // once, when the tensor's turn comes, so that a model made on the fly (tmac synth) is never
  // whole in memory. Write fails unless exactly GgmlTensorBytes(shape, type) bytes arrive.
  void AddTensor(std::string name, std::vector<int64_t> shape, GgmlType type, TensorProducer produce);

  // Writes the file through a temporary file in the same directory, synced and then renamed
  // to `path`, so that `path` either does not change or holds the whole new file; on failure
  // the temporary file is removed. Throws tmac::Error when `path` exists, unless `overwrite`.
  void Write(const std::filesystem::path& path, bool overwrite = false) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    GgmlType type;
    uint64_t bytes;
    TensorProducer produce;
  };
  uint32_t Alignment() const;
  // Checks name and shape; returns the tensor's size in bytes.
  uint64_t CheckTensor(const std::string& name, const std::vector<int64_t>& shape, GgmlType type) const;

  std::vector<GgufKeyValue> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace tmac
